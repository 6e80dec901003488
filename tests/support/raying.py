"""Helpers of the Ray executor tests: a table to copy, a config for it, a run in a thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dmt.config import build_config
from dmt.pipeline.updates import UpdateSlot
from dmt.run import Migration
from dmt.settings import Update
from tests.conftest import PG, endpoint

PASSWORD = "canary-Ray-Secret-4711"  # PostgreSQL trusts the tests: any password logs in


def fill(db: str, rows: int) -> None:
    """Tables ``t`` (integer key, ``rows`` rows) and ``s`` (text key, rows/10) in ``db``."""
    import psycopg

    with psycopg.connect(dbname=db, **PG) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(12,2), ts timestamptz)")
        c.execute(
            "INSERT INTO t SELECT g, md5(g::text) || repeat('x', g %% 50), g / 7.0, "
            "'2020-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, %s) g",
            (rows,),
        )
        c.execute("CREATE TABLE s (k text PRIMARY KEY, x int)")
        c.execute("INSERT INTO s SELECT 'k' || g, g FROM generate_series(1, %s) g", (rows // 10,))


def config(
    src: str, dst: str, state: Path, address: str, password: str | None = None, **migration: Any
) -> Any:
    source = {**endpoint("postgres", src), **({"password": password} if password else {})}
    return build_config(
        {
            "source": source,
            "target": endpoint("postgres", dst),
            "migration": {
                "state_dir": str(state),
                "executor": "ray",
                "chunk_size": 1000,
                "validate": "checksum",
                **migration,
            },
            "ray": {"address": address},
            "ai": {"provider": "none"},
        }
    )


class Background:
    """A migration running in a thread of this process (the driver), to act on mid-copy."""

    def __init__(self, cfg: Any) -> None:
        self.migration = Migration(cfg, slot=UpdateSlot())
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-migration")

    def _run(self) -> None:
        try:
            self.result = self.migration.execute()
        except BaseException as exc:
            self.error = exc

    def start(self) -> Background:
        self.thread.start()
        return self

    def join(self, timeout: float = 240) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the migration did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    def pipeline(self) -> Any:
        return getattr(self.migration, "pipeline", None)

    def push(self, writers: int) -> None:
        assert self.migration.slot is not None
        self.migration.slot.put(Update(writers=writers))
