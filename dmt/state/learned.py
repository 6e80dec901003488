"""What dmt has learned, in the state store: one row per copy of a table (its shape, where it
started, what it converged to and how fast), read back to choose later starts
(:mod:`dmt.tuning.learned`). Endpoints are kept only as a hash of engine, host, port and
database (or file): never a user name or a password."""

from __future__ import annotations

import json
import time
from typing import Any

from dmt.state.store import StateStore

#: the columns one outcome fills, in the order :func:`record` takes them
FIELDS = (
    "run_id", "pair", "versions", "endpoints", "tbl", "path", "shape", "start_writers",
    "start_chunk", "start_kind", "start_rate", "writers", "chunk_size", "steady_rate",
    "seconds_to_steady", "votes",
)  # fmt: skip


def record(store: StateStore, row: dict[str, Any]) -> int:
    """Keep one table's outcome (``row`` has every name of :data:`FIELDS`; ``shape`` a dict);
    returns its id."""
    values = [json.dumps(row[f]) if f == "shape" else row[f] for f in FIELDS]
    with store._tx() as c:
        cur = c.execute(
            f"INSERT INTO learned (created, {', '.join(FIELDS)}) "
            f"VALUES (?, {', '.join('?' for _ in FIELDS)})",
            (time.time(), *values),
        )
        return int(cur.lastrowid or 0)


def outcomes(store: StateStore, pair: str | None = None) -> list[dict[str, Any]]:
    """Every outcome kept (of one engine ``pair`` when given), newest first, ``shape`` as a
    dict."""
    where, params = ("WHERE pair = ?", (pair,)) if pair else ("", ())
    rows = store._query(f"SELECT * FROM learned {where} ORDER BY created DESC, id DESC", params)
    out = []
    for r in rows:
        d = dict(r)
        d["shape"] = json.loads(d["shape"])
        out.append(d)
    return out


def forget(store: StateStore, ids: list[int] | None = None) -> int:
    """Forget the outcomes ``ids`` (they stay listed, marked, and vote no more), or with no
    ids delete everything learned; returns how many."""
    with store._tx() as c:
        if ids is None:
            return int(c.execute("DELETE FROM learned").rowcount)
        c.executemany("UPDATE learned SET forgotten = 1 WHERE id = ?", [(i,) for i in ids])
        return len(ids)
