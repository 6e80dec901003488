"""Migration options that change what lands on the target, on the real servers:
``nul_bytes`` (error by default, or strip), ``identifier_case: lower`` and
``create_indexes: false``."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from dmt.run import execute
from tests.support.compare import table_rows
from tests.support.killing import run_cli
from tests.test_fidelity import run_sql


def write_config(tmp: Path, src: dict[str, Any], dst: dict[str, Any], **migration: Any) -> Path:
    raw = {
        "source": src,
        "target": dst,
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, **migration},
        "ai": {"provider": "none"},
    }
    path = tmp / f"c-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def load(path: Path) -> Any:
    return build_config(yaml.safe_load(path.read_text()))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# ------------------------------------------------------------------------------ nul_bytes

NUL_SQL = [
    "CREATE TABLE notes (id int PRIMARY KEY, body varchar(40))",
    "INSERT INTO notes VALUES (1, 'clean'), (2, 'a\\0b')",  # MySQL's escape for NUL
]


def nul_source(engine: str, new_db: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    src = new_db(engine)
    if engine == "sqlite":
        c = sqlite3.connect(src["path"])
        c.execute(NUL_SQL[0])
        c.executemany("INSERT INTO notes VALUES (?, ?)", [(1, "clean"), (2, "a\x00b")])
        c.commit()
        c.close()
    else:
        run_sql(src, NUL_SQL)
    return src


@pytest.mark.parametrize("data_path", ["auto", "rows"])
@pytest.mark.parametrize("engine", ["sqlite", "mysql"])
def test_nul_byte_into_postgres_fails_naming_the_column(
    engine: str, data_path: str, new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = nul_source(engine, new_db)
    cfg = write_config(tmp_path, src, new_db("postgres"), data_path=data_path)
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 3, r.stderr  # TransferError (DESIGN.md: a table failed to copy)
    assert "Traceback" not in r.stderr
    (line,) = error_lines(r.stderr)
    assert line == (
        "error: table `notes` chunk 0 (-inf, +inf]: column `body` holds a NUL character, "
        "which PostgreSQL text cannot store; set migration.nul_bytes: strip to remove it"
    )


@pytest.mark.parametrize("engine", ["sqlite", "mysql"])
def test_nul_bytes_strip_removes_and_counts_them(
    engine: str, new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = nul_source(engine, new_db)
    dst = new_db("postgres")
    cfg = load(write_config(tmp_path, src, dst, nul_bytes="strip", validate="checksum"))
    result = execute(cfg)  # checksum validation expects the stripped value
    assert result.status == "success"
    assert result.value_conversions["nul_bytes_stripped"] == 1
    _, rows = table_rows(cfg.target, "notes")
    assert rows == [("1", "clean"), ("2", "ab")]


# ------------------------------------------------------------------------ identifier_case

MIXED = {
    "postgres": [
        'CREATE TABLE "Customer" ("CustomerId" int PRIMARY KEY, "FullName" varchar(40))',
        'CREATE TABLE "Invoice" ("InvoiceId" int PRIMARY KEY, "CustomerId" int '
        'REFERENCES "Customer" ("CustomerId"), "Total" numeric(10,2))',
        'CREATE INDEX "IX_Invoice_Customer" ON "Invoice" ("CustomerId")',
    ],
    "mysql": [
        "CREATE TABLE `Customer` (`CustomerId` int PRIMARY KEY, `FullName` varchar(40))",
        "CREATE TABLE `Invoice` (`InvoiceId` int PRIMARY KEY, `CustomerId` int, "
        "`Total` decimal(10,2), KEY `IX_Invoice_Customer` (`CustomerId`), "
        "FOREIGN KEY (`CustomerId`) REFERENCES `Customer` (`CustomerId`))",
    ],
    "sqlite": [
        'CREATE TABLE "Customer" ("CustomerId" INTEGER PRIMARY KEY, "FullName" VARCHAR(40))',
        'CREATE TABLE "Invoice" ("InvoiceId" INTEGER PRIMARY KEY, "CustomerId" INTEGER '
        'REFERENCES "Customer" ("CustomerId"), "Total" DECIMAL(10,2))',
        'CREATE INDEX "IX_Invoice_Customer" ON "Invoice" ("CustomerId")',
    ],
}
MIXED_ROWS = [
    "INSERT INTO {q}Customer{q} VALUES (1, 'Ann'), (2, 'Bo'), (3, NULL)",
    "INSERT INTO {q}Invoice{q} VALUES (10, 1, 9.99), (11, 1, 0.01), (12, 2, 100.00)",
]
# each source engine goes to each other engine once
LOWER = [("postgres", "mysql"), ("mysql", "sqlite"), ("sqlite", "postgres")]


@pytest.mark.parametrize(("src_engine", "dst_engine"), LOWER, ids=[f"{s}->{t}" for s, t in LOWER])
def test_identifier_case_lower(
    src_engine: str, dst_engine: str, new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = new_db(src_engine)
    q = "`" if src_engine == "mysql" else '"'
    run_sql(src, MIXED[src_engine] + [r.format(q=q) for r in MIXED_ROWS])
    config = load(write_config(tmp_path, src, new_db(dst_engine), identifier_case="lower"))
    assert execute(config).status == "success"
    d = get_dialect(config.target, "target")
    conn = d.connect()
    try:
        schema = d.reflect(conn, lambda n: True)
    finally:
        conn.close()
    tables = {t.name: t for t in schema.tables}
    assert sorted(tables) == ["customer", "invoice"]
    assert tables["customer"].column_names == ["customerid", "fullname"]
    assert tables["invoice"].column_names == ["invoiceid", "customerid", "total"]
    assert tables["invoice"].primary_key == ("invoiceid",)
    assert [fk.columns for fk in tables["invoice"].foreign_keys] == [("customerid",)]
    assert [fk.ref_table for fk in tables["invoice"].foreign_keys] == ["customer"]
    assert [ix.columns for ix in tables["invoice"].indexes] == [("customerid",)]
    for src_name, dst_name in (("Customer", "customer"), ("Invoice", "invoice")):
        _, want = table_rows(config.source, src_name)
        _, got = table_rows(config.target, dst_name)
        assert got == want and len(got) == 3


def test_identifier_case_lower_collision_is_a_config_error(
    new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = new_db("postgres")
    run_sql(
        src, ['CREATE TABLE "Foo" (id int PRIMARY KEY)', "CREATE TABLE foo (id int PRIMARY KEY)"]
    )
    dst = new_db("sqlite")
    cfg = write_config(tmp_path, src, dst, identifier_case="lower")
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    (line,) = error_lines(r.stderr)
    assert (
        "migration.identifier_case: tables `Foo` and `foo` would both become `foo` on the target"
        in line
    ), line
    if Path(dst["path"]).exists():  # nothing was created there
        c = sqlite3.connect(dst["path"])
        assert c.execute("SELECT name FROM sqlite_master").fetchall() == []
        c.close()


# ------------------------------------------------------------------------- create_indexes

INDEXED = [
    "CREATE TABLE item (id int PRIMARY KEY, code varchar(20), qty int, note varchar(40), "
    "sku varchar(20) UNIQUE)",
    "CREATE UNIQUE INDEX item_code ON item (code)",
    "CREATE INDEX item_qty ON item (qty, note)",
    "INSERT INTO item VALUES (1, 'a', 5, 'x', 's1'), (2, 'b', 5, NULL, NULL), (3, NULL, 1, 'y', 's3')",
]


@pytest.mark.parametrize("dst_engine", ["postgres", "mysql", "sqlite"])
def test_create_indexes_false_keeps_only_the_primary_key(
    dst_engine: str, new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = new_db("sqlite")
    run_sql(src, INDEXED)
    cfg = build_config(
        {
            "source": src,
            "target": new_db(dst_engine),
            "migration": {"state_dir": str(tmp_path / "state"), "create_indexes": False},
            "ai": {"provider": "none"},
        }
    )
    assert execute(cfg).status == "success"
    d = get_dialect(cfg.target, "target")
    conn = d.connect()
    try:
        (table,) = d.reflect(conn, "item".__eq__).tables
    finally:
        conn.close()
    assert table.primary_key == ("id",)
    assert table.indexes == [] and table.uniques == []
    _, want = table_rows(cfg.source, "item")
    _, got = table_rows(cfg.target, "item")
    assert got == want and len(got) == 3
