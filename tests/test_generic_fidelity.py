"""The fidelity matrix through the generic (SQLAlchemy) dialect: the same tables as
tests/test_fidelity.py, migrated in all nine directions with the generic dialect as the
source, as the target, and as both, against the real PostgreSQL, MariaDB and SQLite.

Both sides are read back through the hand-tuned dialects, so what the generic dialect wrote
is compared with what the hand-tuned dialects would have: every value equals the source's,
except the hand-tuned dialects' documented lossy steps (``LOSSY``) and the generic
dialect's own documented differences (``GENERIC_LOSSY``, docs/type-mapping.md "The generic
dialect"). The run's own checksum validation must pass and must see a changed value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dmt.checks import validate_target
from dmt.config import build_config
from dmt.errors import ValidationMismatch
from dmt.run import execute
from tests.conftest import MY, PG
from tests.test_fidelity import CHANGED, ENGINES, LOSSY, SOURCES, Databases, dbs, read, run_sql

__all__ = ["dbs"]

SIDES = ("source", "target", "both")
CASES = [(s, t, side) for side in SIDES for s in ENGINES for t in ENGINES]

#: the generic dialect's documented differences from the hand-tuned ones:
#: (generic side, source engine, target engine, column) -> source canonical value -> target's
GENERIC_LOSSY: dict[tuple[str, str, str, str], dict[str | None, str | None]] = {
    # SQLAlchemy's SQLite DATETIME binds datetimes only: ±infinity is clamped as for MySQL
    ("target", "postgres", "sqlite", "ts"): LOSSY[("postgres", "mysql", "ts")],
}


def documented(side: str, src: str, dst: str, column: str) -> dict[str | None, str | None]:
    """The documented lossy results of one column in one case."""
    out = dict(LOSSY.get((src, dst, column), {}))
    for s in ("source", "target") if side == "both" else (side,):
        out.update(GENERIC_LOSSY.get((s, src, dst, column), {}))
    return out


def sqlalchemy_url(ep: dict[str, Any]) -> str:
    """The SQLAlchemy URL of a test endpoint."""
    if ep["type"] == "sqlite":
        return f"sqlite:///{ep['path']}"
    if ep["type"] == "postgres":
        return f"postgresql+psycopg://{PG['user']}@{PG['host']}:{PG['port']}/{ep['database']}"
    return (
        f"mysql+pymysql://{MY['user']}@{MY['host']}:{MY['port']}/{ep['database']}?charset=utf8mb4"
    )


def generic(ep: dict[str, Any]) -> dict[str, Any]:
    return {"type": "generic", "url": sqlalchemy_url(ep)}


@pytest.fixture(scope="module")
def sources(dbs: Databases) -> dict[str, dict[str, Any]]:
    out = {}
    for engine, (ddl, rows) in SOURCES.items():
        ep = dbs.new(engine)
        run_sql(ep, [ddl, *(f"INSERT INTO fidelity VALUES {r}" for r in rows)])
        out[engine] = ep
    return out


@pytest.mark.parametrize(
    ("src", "dst", "side"), CASES, ids=[f"{s}->{t}[generic {side}]" for s, t, side in CASES]
)
def test_generic_values_survive(
    src: str,
    dst: str,
    side: str,
    sources: dict[str, dict[str, Any]],
    dbs: Databases,
    tmp_path: Path,
) -> None:
    source, target = sources[src], dbs.new(dst)
    raw = {"source": source, "target": target}
    plain = build_config({**raw, "ai": {"provider": "none"}})
    cfg = build_config(
        {
            "source": generic(source) if side in ("source", "both") else source,
            "target": generic(target) if side in ("target", "both") else target,
            "migration": {"state_dir": str(tmp_path), "chunk_size": 1000, "validate": "checksum"},
            "ai": {"provider": "none"},
        }
    )
    result = execute(cfg)
    assert result.status == "success"  # the run's checksum validation passed
    names, kinds, want = read(plain.source, "fidelity")
    got_names, _, got = read(plain.target, "fidelity", kinds)
    assert got_names == names
    assert len(got) == len(want) == len(SOURCES[src][1])
    for row_w, row_g in zip(want, got, strict=True):
        for name, w, g in zip(names, row_w, row_g, strict=True):
            expected = documented(side, src, dst, name).get(w, w)
            assert g == expected, f"{src}->{dst} id={row_w[0]} column {name}: {w!r} became {g!r}"
    run_sql(target, [f"UPDATE fidelity SET {CHANGED[src]} = 7 WHERE id = 2"])
    with pytest.raises(ValidationMismatch, match=r"table `fidelity`: .*first key \(2\)"):
        validate_target(cfg, "checksum")


@pytest.mark.parametrize(("src", "dst"), [(s, t) for s in ENGINES for t in ENGINES if s != t])
def test_generic_warns_where_the_hand_tuned_dialect_does(
    src: str, dst: str, sources: dict[str, dict[str, Any]], dbs: Databases
) -> None:
    """Every column the hand-tuned target warns about (a lossy step) is warned about by the
    generic target too (each warning names its ``table.column``)."""
    from dmt.plan import make_plan

    target = dbs.new(dst)

    def warned(tgt: dict[str, Any]) -> set[str]:
        cfg = build_config({"source": sources[src], "target": tgt, "ai": {"provider": "none"}})
        plan = make_plan(cfg)
        return {w.split(":", 1)[0] for p in plan.tables for w in p.warnings}

    hand, gen = warned(target), warned(generic(target))
    assert hand <= gen, f"not warned by the generic dialect: {sorted(hand - gen)}"
