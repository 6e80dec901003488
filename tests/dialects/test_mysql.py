"""MySQLDialect against the real MariaDB server (and PostgreSQL for mysql->postgres).

Every database made here is named ``dmt_mysql_<random>`` and dropped in ``finally``. A server
that cannot be reached skips the test, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dmt.config import Endpoint, build_config
from dmt.dialects.base import Dialect, ValueCounters
from dmt.dialects.mysql import MySQLDialect, _field, _format_timedelta, canonical_type
from dmt.errors import ConnectError, TransferError
from dmt.model.schema import Column, ColumnType, ForeignKey, Index, Table
from tests.conftest import MY, PG

# ---------------------------------------------------------------------------------- helpers
# (databases come from tests/conftest.py: my_db, my_dbs, pg_db)


def my_endpoint(db: str, password: str = "") -> Endpoint:
    return Endpoint(
        engine="mysql",
        host=str(MY["host"]),
        port=int(MY["port"]),  # type: ignore[call-overload]
        user=str(MY["user"]),
        password=password,
        database=db,
    )


def dialect(db: str, side: str = "target", **kw: Any) -> MySQLDialect:
    return MySQLDialect(my_endpoint(db), side, **kw)


@pytest.fixture
def conn(my_db: str) -> Iterator[Any]:
    c = dialect(my_db).connect()
    try:
        yield c
    finally:
        c.close()


def run_sql(conn: Any, *statements: str) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
    conn.commit()


def read_all(d: Dialect, conn: Any, table: Table, counters: ValueCounters | None = None) -> list:
    """Every row through stream() and decoders(), in key order."""
    decs = d.decoders(table, counters or ValueCounters())
    key = table.primary_key
    out = []
    with d.stream(conn, d.select_sql(table, key, False, False), []) as fetch:
        while rows := fetch(7):
            for r in rows:
                out.append(
                    tuple(f(v) if f and v is not None else v for f, v in zip(decs, r, strict=True))
                )
    return out


# ---------------------------------------------------------------------------------- unit


def test_capabilities_and_quoting() -> None:
    d = dialect("x")
    assert (d.name, d.placeholder, d.max_identifier_length) == ("mysql", "%s", 64)
    assert not d.supports_schemas
    assert d.quote("a`b") == "`a``b`"
    assert d.qualified("t") == "`t`"
    assert d.zero_dates == "null"


@pytest.mark.parametrize(
    ("data_type", "column_type", "expected"),
    [
        ("tinyint", "tinyint(1)", ColumnType("boolean")),
        ("tinyint", "tinyint(3) unsigned", ColumnType("int8", unsigned=True)),
        ("mediumint", "mediumint(8) unsigned", ColumnType("int32", unsigned=True)),
        ("bigint", "bigint(20) unsigned", ColumnType("int64", unsigned=True)),
        ("timestamp", "timestamp(3)", ColumnType("timestamptz", fsp=3)),
        ("datetime", "datetime", ColumnType("timestamp", fsp=0)),
        ("mediumblob", "mediumblob", ColumnType("blob")),
        ("enum", "enum('a','b''c','x\\\\y')", ColumnType("enum", values=("a", "b'c", "x\\y"))),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_canonical_type(data_type: str, column_type: str, expected: ColumnType) -> None:
    got = canonical_type(data_type, column_type, fsp=expected.fsp)
    assert got == expected.with_(source=column_type, engine="mysql")


@pytest.mark.parametrize(
    ("ctype", "sql", "warns"),
    [
        (ColumnType("boolean"), "tinyint(1)", False),
        (ColumnType("int64", unsigned=True), "bigint unsigned", False),
        (ColumnType("int32", source="mediumint(8)"), "mediumint", False),
        (ColumnType("decimal", precision=65, scale=30), "decimal(65,30)", False),
        (ColumnType("decimal"), "decimal(65,30)", True),
        (ColumnType("decimal", precision=100, scale=40), "decimal(65,30)", True),
        (ColumnType("float32"), "float", False),
        (ColumnType("float64"), "double", False),
        (ColumnType("varchar", length=16383), "varchar(16383)", False),
        (ColumnType("varchar", length=16384), "longtext", False),
        (ColumnType("char", length=300), "varchar(300)", False),
        (ColumnType("text"), "longtext", False),
        (ColumnType("blob"), "longblob", False),
        (ColumnType("time", fsp=3), "time(3)", False),
        (ColumnType("timestamp", fsp=6), "datetime(6)", False),
        (ColumnType("timestamptz", fsp=6), "datetime(6)", True),
        (ColumnType("interval"), "varchar(64)", True),
        (ColumnType("uuid"), "char(36)", False),
        (ColumnType("json"), "json", False),
        (ColumnType("array", item="int32"), "json", True),
        (ColumnType("enum", values=("a", "it's", "back\\slash")), None, False),
        (ColumnType("set", values=("x", "y")), "set('x','y')", False),
        (ColumnType("year"), "year", False),
        (ColumnType("bit", length=10), "bit(10)", False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_render_type(ctype: ColumnType, sql: str | None, warns: bool) -> None:
    choice = dialect("x").render_type(ctype, "t.c")
    if sql is None:  # enum: quotes doubled, backslashes escaped
        assert choice.sql == "enum('a','it''s','back\\\\slash')"
    else:
        assert choice.sql == sql
    assert bool(choice.warning) == warns
    if warns:
        assert choice.warning and choice.warning.startswith("t.c: ")


def test_field_escaping() -> None:
    assert _field(None) == b"\\N"
    assert _field("") == b""
    assert _field("\\N") == b"\\\\N"
    assert _field("a\tb\nc\rd\x00e\\") == b"a\\tb\\nc\\rd\\0e\\\\"
    assert _field(b"\x00\t\xff") == b"\\0\\t\xff"
    assert _field(True) == b"1" and _field(False) == b"0"
    assert _field(Decimal("1E+5")) == b"100000"
    assert (
        _field(dt.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)) == b"2020-01-02 03:04:05.000006"
    )
    assert _format_timedelta(dt.timedelta(hours=-12, microseconds=-500000)) == "-12:00:00.500000"
    assert _format_timedelta(dt.timedelta(hours=838, minutes=59, seconds=59)) == "838:59:59"


def test_create_table_sql_text_key_and_auto_increment() -> None:
    t = Table(
        "t",
        [
            Column("id", ColumnType("int64"), nullable=False, autoincrement=True),
            Column("k", ColumnType("text"), nullable=False),
        ],
        primary_key=("id", "k"),
    )
    (sql,) = dialect("x").create_table_sql(t, {"id": "bigint", "k": "longtext"})
    assert "`id` bigint NOT NULL AUTO_INCREMENT" in sql
    assert "`k` varchar(255) NOT NULL" in sql
    assert sql.endswith("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")


def test_text_keys_and_indexes_are_creatable(my_db: str, conn: Any) -> None:
    """A text key (PostgreSQL text, SQLite TEXT) becomes varchar(255); an index on a text or
    blob column gets a 255 prefix: MySQL cannot index a whole longtext."""
    d = dialect(my_db)
    t = Table(
        "text_keys",
        [
            Column("k", ColumnType("text"), nullable=False),
            Column("body", ColumnType("text")),
            Column("data", ColumnType("blob")),
        ],
        primary_key=("k",),
    )
    types = {c.name: d.render_type(c.type, f"text_keys.{c.name}").sql for c in t.columns}
    t.indexes.append(Index("text_keys_body_data", ("body", "data")))
    warnings = d.adapt_table(t, types)  # what `dmt plan` lists
    assert any("stored as varchar(255)" in w for w in warnings)
    assert any("first 255 characters of `data`" in w for w in warnings)
    run_sql(conn, d.drop_table_sql(t.name), *d.create_table_sql(t, types))
    run_sql(conn, d.index_sql(t, t.indexes[0]))
    back = d.reflect(conn, t.name.__eq__).tables[0]
    assert back.column("k").type.kind == "varchar" and back.primary_key == ("k",)
    assert back.indexes == [Index("text_keys_body_data", ("body", "data"), lengths=(255, 255))]


def test_connect_error_never_shows_the_password(my_db: str) -> None:
    secret = "sekret-Pw-123"
    d = MySQLDialect(my_endpoint(my_db, password=secret), "source")
    with pytest.raises(ConnectError) as err:
        d.connect()
    assert secret not in str(err.value)
    assert "1045" in str(err.value)


# ---------------------------------------------------------------------------------- reflection

ALL_TYPES = r"""
CREATE TABLE all_types (
  id_a int unsigned NOT NULL,
  id_b varchar(20) NOT NULL,
  b tinyint(1), i8 tinyint, u8 tinyint unsigned, i16 smallint, u16 smallint unsigned,
  i24 mediumint, u24 mediumint unsigned, i32 int, u32 int unsigned, i64 bigint,
  u64 bigint unsigned, dec_big decimal(65,30), dec_small decimal(10,2), f float, d double,
  c char(10), vc varchar(300), tt tinytext, t text, mt mediumtext, lt longtext,
  bn binary(16), vb varbinary(200), tb tinyblob, bl blob, mb mediumblob, lb longblob,
  dd date, tm time(3), tm0 time, dtm datetime(6), dtm0 datetime, ts timestamp(6) NULL,
  y year, j json, e enum('a','b''c','x\\y'), s set('p','q','r'), bt bit(10),
  PRIMARY KEY (id_a, id_b),
  UNIQUE KEY uq_c (c),
  KEY ix_prefix (lt(20), vc),
  CONSTRAINT ck_pos CHECK (i32 >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='every type'
"""
CHILD = """
CREATE TABLE child (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  pa int unsigned NOT NULL, pb varchar(20) NOT NULL, note varchar(10) COMMENT 'a note',
  CONSTRAINT fk_parent FOREIGN KEY (pa, pb) REFERENCES all_types (id_a, id_b) ON DELETE CASCADE
) ENGINE=InnoDB
"""
EXPECTED = {
    "id_a": ColumnType("int32", unsigned=True),
    "id_b": ColumnType("varchar", length=20),
    "b": ColumnType("boolean"),
    "i8": ColumnType("int8"),
    "u8": ColumnType("int8", unsigned=True),
    "i16": ColumnType("int16"),
    "u16": ColumnType("int16", unsigned=True),
    "i24": ColumnType("int32"),
    "u24": ColumnType("int32", unsigned=True),
    "i32": ColumnType("int32"),
    "u32": ColumnType("int32", unsigned=True),
    "i64": ColumnType("int64"),
    "u64": ColumnType("int64", unsigned=True),
    "dec_big": ColumnType("decimal", precision=65, scale=30),
    "dec_small": ColumnType("decimal", precision=10, scale=2),
    "f": ColumnType("float32"),
    "d": ColumnType("float64"),
    "c": ColumnType("char", length=10),
    "vc": ColumnType("varchar", length=300),
    "tt": ColumnType("text"),
    "t": ColumnType("text"),
    "mt": ColumnType("text"),
    "lt": ColumnType("text"),
    "bn": ColumnType("binary", length=16),
    "vb": ColumnType("varbinary", length=200),
    "tb": ColumnType("blob"),
    "bl": ColumnType("blob"),
    "mb": ColumnType("blob"),
    "lb": ColumnType("blob"),
    "dd": ColumnType("date"),
    "tm": ColumnType("time", fsp=3),
    "tm0": ColumnType("time", fsp=0),
    "dtm": ColumnType("timestamp", fsp=6),
    "dtm0": ColumnType("timestamp", fsp=0),
    "ts": ColumnType("timestamptz", fsp=6),
    "y": ColumnType("year"),
    "j": ColumnType("json"),
    "e": ColumnType("enum", values=("a", "b'c", "x\\y")),
    "s": ColumnType("set", values=("p", "q", "r")),
    "bt": ColumnType("bit", length=10),
}


def _shape(ct: ColumnType) -> ColumnType:
    return ct.with_(source="", engine="", note=None)


@pytest.fixture(scope="module")
def typed_db(my_dbs: Callable[[], str]) -> str:
    db = my_dbs()
    c = dialect(db).connect()
    try:
        run_sql(
            c,
            ALL_TYPES,
            CHILD,
            "CREATE VIEW v_child AS SELECT id, note FROM child",
            "CREATE TRIGGER trg_child BEFORE INSERT ON child FOR EACH ROW SET NEW.note = 'x'",
            "CREATE PROCEDURE p_noop() SELECT 1",
            "INSERT INTO all_types (id_a, id_b, u8, u16, u24, u32, u64, i8, i64) VALUES "
            "(4294967295, 'max', 255, 65535, 16777215, 4294967295, 18446744073709551615, "
            "-128, -9223372036854775808)",
        )
    finally:
        c.close()
    return db


def test_reflect_every_type(typed_db: str) -> None:
    d = dialect(typed_db, "source")
    c = d.connect()
    try:
        schema = d.reflect(c, lambda n: True)
    finally:
        c.close()
    assert [t.name for t in schema.tables] == ["all_types", "child"]
    assert schema.views == ["v_child"]
    assert schema.triggers == ["child.trg_child"]
    assert schema.routines == ["p_noop"]
    t = schema.table("all_types")
    got = {col.name: _shape(col.type) for col in t.columns}
    assert got == EXPECTED
    assert t.column("u64").type.source == "bigint(20) unsigned"
    assert t.primary_key == ("id_a", "id_b")
    assert t.uniques == [Index("uq_c", ("c",), unique=True)]
    assert t.indexes == [Index("ix_prefix", ("lt", "vc"), lengths=(20, None))]
    assert [ck.name for ck in t.checks] == ["ck_pos"]  # MariaDB's json_valid check is the type
    assert "i32" in t.checks[0].sqltext
    assert t.comment == "every type"
    child = schema.table("child")
    assert child.column("id").autoincrement and not child.column("id").nullable
    assert child.column("note").comment == "a note"
    assert child.foreign_keys == [
        ForeignKey("fk_parent", ("pa", "pb"), "all_types", ("id_a", "id_b"), on_delete="CASCADE")
    ]


def test_unsigned_max_values_read_exactly(typed_db: str) -> None:
    d = dialect(typed_db, "source")
    c = d.connect()
    try:
        t = d.reflect(c, "all_types".__eq__).tables[0]
        (row,) = read_all(d, c, t)
    finally:
        c.close()
    got = dict(zip(t.column_names, row, strict=True))
    assert got["u64"] == 2**64 - 1 and got["i64"] == -(2**63)
    assert (got["u8"], got["u16"], got["u24"], got["u32"]) == (255, 65535, 2**24 - 1, 2**32 - 1)
    assert got["id_a"] == 2**32 - 1 and got["i8"] == -128


def test_render_round_trip(typed_db: str) -> None:
    """reflect -> render -> create -> reflect keeps every canonical type: MySQL to MySQL
    keeps each declared type verbatim (a TIMESTAMP stays a TIMESTAMP)."""
    d = dialect(typed_db)
    c = d.connect()
    try:
        src = d.reflect(c, "all_types".__eq__).tables[0]
        types = {col.name: d.render_type(col.type, f"rt.{col.name}").sql for col in src.columns}
        rt = Table("rt_all_types", src.columns, primary_key=src.primary_key)
        run_sql(c, *d.create_table_sql(rt, types))
        for idx in [*src.uniques, *src.indexes]:
            run_sql(c, d.index_sql(rt, idx))
        back = d.reflect(c, "rt_all_types".__eq__).tables[0]
    finally:
        c.close()
    expected = EXPECTED
    assert {col.name: _shape(col.type) for col in back.columns} == expected
    assert [col.nullable for col in back.columns] == [col.nullable for col in src.columns]
    assert back.primary_key == src.primary_key
    assert back.indexes == src.indexes and back.uniques == src.uniques


# ---------------------------------------------------------------------------------- writing

EDGE = Table(
    "edge",
    [
        Column("id", ColumnType("int64"), nullable=False),
        Column("txt", ColumnType("text")),
        Column("vc", ColumnType("varchar", length=50)),
        Column("bl", ColumnType("blob")),
        Column("dc", ColumnType("decimal", precision=65, scale=30)),
        Column("ts", ColumnType("timestamp", fsp=6)),
        Column("tz", ColumnType("timestamptz", fsp=6)),
        Column("tm", ColumnType("time", fsp=6)),
        Column("b", ColumnType("boolean")),
        Column("j", ColumnType("json")),
        Column("bt", ColumnType("bit", length=10)),
        Column("u", ColumnType("int64", unsigned=True)),
        Column("e", ColumnType("enum", values=("a", "b'c", "x\\y"))),
        Column("st", ColumnType("set", values=("p", "q", "r"))),
        Column("dd", ColumnType("date")),
        Column("y", ColumnType("year")),
        Column("f", ColumnType("float64")),
    ],
    primary_key=("id",),
)
BIG = Decimal("12345678901234567890123456789012345.123456789012345678901234567890")
EDGE_ROWS = [
    (1, *([None] * 16)),
    (2, "", "", b"", Decimal(0), None, None, None, False, "{}", b"\x00\x00", 0, "a", "", None,
     None, 0.0),
    (3, "a\tb\nc\\d\x00e\rf\\N\x1a", "🚀 emoji 𝄞 東京", bytes(range(256)), BIG,
     dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
     dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC), dt.time(23, 59, 59, 999999),
     True, '{"k": "v\\t\\n", "n": [1, 2]}', b"\x03\xff", 2**64 - 1, "b'c", "p,r",
     dt.date(1000, 1, 1), 2155, 0.1),
    (4, "\\N", "\\", b"\\N\t\n\r\x00", -Decimal("0.000000000000000000000000000001"),
     dt.datetime(1000, 1, 1), dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
     dt.timedelta(hours=-12, microseconds=-500000), None, "[]", b"\x00\x01", 1, "x\\y", "p",
     dt.date(9999, 12, 31), 1901, -1.5e308),
    (5, "NULL", "N", b"\n", Decimal("-99999999999999999999999999999999999"), None, None,
     dt.timedelta(hours=838, minutes=59, seconds=59), None, None, None, None, None, "p,q,r",
     None, None, 5e-324),
]  # fmt: skip


@pytest.fixture
def edge_table(my_db: str, conn: Any) -> Table:
    d = dialect(my_db)
    types = {c.name: d.render_type(c.type, f"edge.{c.name}").sql for c in EDGE.columns}
    run_sql(conn, d.drop_table_sql("edge"), *d.create_table_sql(EDGE, types))
    return EDGE


def _encode(d: MySQLDialect, table: Table, rows: list) -> list:
    encs = d.encoders(table, ValueCounters())
    return [
        tuple(f(v) if f and v is not None else v for f, v in zip(encs, r, strict=True))
        for r in rows
    ]


@pytest.mark.parametrize("path", ["load_data", "insert"])
def test_write_rows_edge_values_read_back_exactly(
    my_db: str, conn: Any, edge_table: Table, path: str
) -> None:
    d = dialect(my_db)
    if path == "insert":  # as on a server with local_infile=OFF; a small packet splits batches
        conn._dmt_load = (False, 1024)
    assert d.write_rows(conn, edge_table, _encode(d, edge_table, EDGE_ROWS)) == len(EDGE_ROWS)
    assert read_all(d, conn, edge_table) == EDGE_ROWS
    assert d.count_rows(conn, "edge") == len(EDGE_ROWS)


def test_refused_local_infile_falls_back_to_insert(my_db: str, edge_table: Table) -> None:
    """A connection that does not offer LOCAL INFILE (as a server with local_infile=OFF
    refuses it) is answered with error 1148; the batch is then written with INSERT."""
    d = dialect(my_db)
    c = dialect(my_db, "source").connect()  # a source connection never offers LOCAL INFILE
    try:
        c._dmt_load = (True, 1 << 20)
        assert d.write_rows(c, edge_table, _encode(d, edge_table, EDGE_ROWS)) == len(EDGE_ROWS)
        assert c._dmt_load == (False, 1 << 20)
        assert read_all(d, c, edge_table) == EDGE_ROWS
    finally:
        c.close()


def test_local_infile_state(conn: Any) -> None:
    """Measured, not assumed: the test server has local_infile ON, so LOAD DATA is the path."""
    dialect("x").begin_load(conn)
    assert conn._dmt_load[0] is True
    assert conn._dmt_load[1] >= 1024 * 1024


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ((10, "x", "y" * 51, *([None] * 14)), "vc"),  # too long: truncated by LOAD DATA
        ((11, "x", "\udcff", *([None] * 14)), "vc"),  # invalid UTF-8 would become '?'
        ((12, None, None, None, Decimal("1e40"), *([None] * 12)), "dc"),  # out of range
        ((13, *([None] * 11), "zz", *([None] * 4)), "e"),  # not an enum member
        ((14, None, None, None, Decimal("0." + "1" * 31), *([None] * 12)), "dc"),  # rounded
        ((15, *([None] * 15), 1e39), "f"),  # fine for a double: must load
    ],
    ids=["too-long", "bad-utf8", "decimal-range", "bad-enum", "decimal-rounded", "control"],
)
@pytest.mark.parametrize("path", ["load_data", "insert"])
def test_lossy_value_is_an_error_not_a_silent_change(
    my_db: str, conn: Any, edge_table: Table, row: tuple, needle: str, path: str
) -> None:
    d = dialect(my_db)
    if path == "insert":
        conn._dmt_load = (False, 1 << 20)
    good = (1, *([None] * 16))
    if needle == "f":
        assert d.write_rows(conn, edge_table, [good, row]) == 2
        return
    with pytest.raises(TransferError) as err:
        d.write_rows(conn, edge_table, [good, row])
    assert str(err.value).startswith("table `edge`: ")
    assert f"'{needle}'" in str(err.value) or f"`{needle}`" in str(err.value)
    assert d.count_rows(conn, "edge") == 0  # the whole batch was rolled back


def test_fraction_beyond_the_column_is_an_error() -> None:
    t = Table("t", [Column("ts", ColumnType("timestamp", fsp=3))])
    (enc,) = dialect("x").encoders(t, ValueCounters())
    assert enc is not None
    assert enc(dt.datetime(2020, 1, 1, 0, 0, 0, 123000)) == dt.datetime(2020, 1, 1, 0, 0, 0, 123000)
    with pytest.raises(TransferError, match="fractional digits"):
        enc(dt.datetime(2020, 1, 1, 0, 0, 0, 123400))


def test_duplicate_key_is_an_error(my_db: str, conn: Any, edge_table: Table) -> None:
    d = dialect(my_db)
    row = (1, *([None] * 16))
    d.write_rows(conn, edge_table, [row])
    with pytest.raises(TransferError, match="Duplicate entry"):
        d.write_rows(conn, edge_table, [(2, *([None] * 16)), row])
    assert d.count_rows(conn, "edge") == 1


# ---------------------------------------------------------------------------------- reading


def test_zero_dates_become_null_and_are_counted(my_db: str, conn: Any) -> None:
    run_sql(
        conn,
        "DROP TABLE IF EXISTS zd",
        "CREATE TABLE zd (id int PRIMARY KEY, d date, dtm datetime(6), ts timestamp NULL, tm time)",
        "SET SESSION sql_mode = ''",
        "INSERT INTO zd VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', "
        "'-01:00:00'), (2, '2020-00-00', '2020-01-00 10:00:00', NULL, '25:00:00'), "
        "(3, '2020-01-02', '2020-01-02 03:04:05.5', '2020-01-02 03:04:05', '01:02:03')",
    )
    d = dialect(my_db, "source")
    src = d.connect()
    try:
        t = d.reflect(src, "zd".__eq__).tables[0]
        counters = ValueCounters()
        rows = read_all(d, src, t, counters)
        assert rows == [
            (1, None, None, None, -dt.timedelta(hours=1)),
            (2, None, None, None, dt.timedelta(hours=25)),
            (
                3,
                dt.date(2020, 1, 2),
                dt.datetime(2020, 1, 2, 3, 4, 5, 500000),
                dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                dt.time(1, 2, 3),
            ),
        ]
        assert counters.counts == {"zero_date->null": 5}
        strict = dialect(my_db, "source", zero_dates="error")
        with pytest.raises(TransferError, match="zero date `0000-00-00`"):
            read_all(strict, src, t)
        src.ping()  # the stream was drained on the error; the connection is still usable
        assert d.count_rows(src, "zd") == 3
    finally:
        src.close()


def test_stream_stopped_early_leaves_connection_usable(my_db: str, conn: Any) -> None:
    run_sql(
        conn,
        "DROP TABLE IF EXISTS many",
        "CREATE TABLE many (id int PRIMARY KEY, `pct%` varchar(5))",
        "INSERT INTO many SELECT seq, 'x' FROM seq_1_to_5000",
    )
    d = dialect(my_db, "source")
    t = Table(
        "many",
        [Column("id", ColumnType("int32")), Column("pct%", ColumnType("varchar", length=5))],
        ("id",),
    )
    with d.stream(conn, d.select_sql(t, ("id",), True, True), [10, 4000]) as fetch:
        first = fetch(3)
    assert [r[0] for r in first] == [11, 12, 13]
    assert d.count_rows(conn, "many") == 5000
    bounds = d.key_boundaries(conn, t, ("id",), 1000)
    assert bounds == [(1000,), (2000,), (3000,), (4000,), (5000,)]


def test_percent_in_identifiers_survives_parameter_merging(conn: Any) -> None:
    """Quoted names double ``%``; every statement is executed with a tuple, so PyMySQL's own
    ``%`` merging turns them back, with and without parameters."""
    d = dialect("x")
    assert d.quote("a%s") == "`a%%s`"
    with conn.cursor() as cur:
        d.execute(cur, f"CREATE TABLE {d.quote('p%s%')} ({d.quote('k%')} int PRIMARY KEY)")
        d.execute(cur, f"INSERT INTO {d.quote('p%s%')} VALUES (%s), (%s)", (1, 2))
        d.execute(
            cur, f"SELECT {d.quote('k%')} FROM {d.quote('p%s%')} WHERE {d.quote('k%')} > %s", (1,)
        )
        assert cur.fetchall() == ((2,),)
        d.execute(cur, f"DROP TABLE {d.quote('p%s%')}")
    conn.commit()


# ---------------------------------------------------------------------------------- end to end


def _sqlite_rows(path: Path, table: str) -> list[tuple]:
    from dmt.dialects.sqlite import SQLiteDialect

    d = SQLiteDialect(Endpoint(engine="sqlite", path=str(path)), "source")
    c = d.connect()
    try:
        t = d.reflect(c, table.__eq__).tables[0]
        decs = d.decoders(t, ValueCounters())
        rows = c.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()
        return [
            tuple(f(v) if f and v is not None else v for f, v in zip(decs, r, strict=True))
            for r in rows
        ]
    finally:
        c.close()


def _config(source: dict, target: dict, state: Path) -> Any:
    return build_config(
        {
            "source": source,
            "target": target,
            "migration": {"state_dir": str(state), "chunk_size": 1000, "workers": 2},
            "ai": {"provider": "none"},
        }
    )


@pytest.fixture(scope="module")
def migrated(my_dbs: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The sample SQLite database, copied to a fresh MariaDB database by ``dmt.run.execute``."""
    from dmt.run import execute
    from dmt.sample import build

    tmp = tmp_path_factory.mktemp("mysql-e2e")
    path = tmp / "sample.db"
    counts = build(path)
    db = my_dbs()
    cfg = _config(
        {"type": "sqlite", "path": str(path)}, {"type": "mysql", "database": db, **MY}, tmp
    )
    result = execute(cfg)
    return path, db, counts, result


def test_sqlite_to_mysql_every_row(migrated: tuple) -> None:
    path, db, counts, result = migrated
    assert result.status == "success"
    d = dialect(db, "source")
    c = d.connect()
    try:
        schema = d.reflect(c, lambda n: True)
        assert sorted(t.name for t in schema.tables) == sorted(counts)
        for t in schema.tables:
            assert read_all(d, c, t) == _sqlite_rows(path, t.name), t.name
        posts = schema.table("posts")
        assert posts.column("id").autoincrement
        # InnoDB adds an index for each foreign key without one, named after its column; names
        # used on two tables are made schema-unique for PostgreSQL and SQLite targets
        assert sorted(ix.name for ix in posts.indexes) == ["parent_id", "posts_owner_idx"]
        votes = schema.table("votes")
        assert sorted(ix.name for ix in votes.indexes) == ["votes_post_idx", "votes_user_id"]
        assert {fk.ref_table for fk in posts.foreign_keys} == {"users", "posts"}
        comments = schema.table("comments")
        assert [fk.on_delete for fk in comments.foreign_keys if fk.ref_table == "posts"] == [
            "CASCADE"
        ]
        # the AUTO_INCREMENT counter continues after the copied keys
        run_sql(c, "INSERT INTO tags (tag_name, count) VALUES ('new-tag', 0)")
        with c.cursor() as cur:
            cur.execute("SELECT id FROM tags WHERE tag_name = 'new-tag'")
            assert cur.fetchone()[0] == counts["tags"] + 1
        run_sql(c, "DELETE FROM tags WHERE tag_name = 'new-tag'")
    finally:
        c.close()


def test_sqlite_to_mysql_rerun_drops_tables_with_foreign_keys(
    migrated: tuple, tmp_path: Path
) -> None:
    from dmt.run import execute

    path, db, _, _ = migrated
    cfg = _config(
        {"type": "sqlite", "path": str(path)}, {"type": "mysql", "database": db, **MY}, tmp_path
    )
    assert execute(cfg).status == "success"


def test_mysql_to_postgres_every_row(migrated: tuple, pg_db: str, tmp_path: Path) -> None:
    import psycopg

    from dmt.run import execute

    _, db, counts, _ = migrated
    cfg = _config(
        {"type": "mysql", "database": db, **MY},
        {"type": "postgres", "database": pg_db, **PG},
        tmp_path,
    )
    assert execute(cfg).status == "success"
    d = dialect(db, "source")
    c = d.connect()
    pg = psycopg.connect(dbname=pg_db, **PG)
    try:
        for t in d.reflect(c, lambda n: True).tables:
            want = read_all(d, c, t)
            got = pg.execute(f'SELECT * FROM "{t.name}" ORDER BY id').fetchall()
            assert len(got) == counts[t.name]
            assert got == want, t.name
    finally:
        c.close()
        pg.close()
