"""Writing rows into MySQL/MariaDB: LOAD DATA LOCAL INFILE from a temporary file, or
multi-row INSERTs where the server or client refuses LOCAL INFILE.

LOAD DATA turns strict-mode errors into *warnings* and keeps going (a too-long value is
truncated, an invalid UTF-8 byte becomes ``?``, a duplicate key skips the row), and the server
drops extra fractional digits without even a Note. So every load checks the affected row count
and ``SHOW WARNINGS`` and rolls the batch back on either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from dmt.dialects.mysql.values import _field, _insert_value, _statement
from dmt.dialects.values import Row
from dmt.errors import TransferError
from dmt.model.schema import Table

if TYPE_CHECKING:
    from dmt.dialects.mysql.dialect import MySQLDialect

log = logging.getLogger("dmt")

_INFILE_REFUSED = {1148, 3948, 2068, 4166}  # LOCAL INFILE disabled on the server or client


def load_settings(d: MySQLDialect, conn: Any) -> tuple[bool, int]:
    """(LOCAL INFILE usable, max_allowed_packet), asked once per connection."""
    cached = getattr(conn, "_dmt_load", None)
    if cached is None:
        with conn.cursor() as cur:
            d.execute(cur, "SELECT @@local_infile, @@max_allowed_packet")
            infile, packet = cur.fetchone()
        conn.commit()
        if not infile:
            log.debug("MySQL local_infile is OFF on the target: using multi-row INSERT")
        cached = (bool(infile) and d.side == "target", int(packet))
        conn._dmt_load = cached
    return cached


def write_rows(d: MySQLDialect, conn: Any, table: Table, rows: Sequence[Row]) -> int:
    """LOAD DATA ``rows`` (multi-row INSERT without LOCAL INFILE) and commit."""
    import pymysql

    if not rows:
        return 0
    infile, packet = load_settings(d, conn)
    with committed(d, conn, table):
        if infile:
            try:
                n = _load_data(d, conn, table, rows)
            except pymysql.Error as exc:
                if exc.args and exc.args[0] in _INFILE_REFUSED:
                    conn.rollback()
                    log.debug("LOAD DATA LOCAL refused (%s): using INSERT", d.describe_error(exc))
                    conn._dmt_load = (False, packet)
                    n = _insert(d, conn, table, rows, packet)
                else:
                    raise
        else:
            n = _insert(d, conn, table, rows, packet)
    return n


@contextlib.contextmanager
def committed(d: MySQLDialect, conn: Any, table: Table) -> Iterator[None]:
    """Commit what the block loaded; on failure roll back and raise TransferError."""
    import pymysql

    try:
        yield
        conn.commit()
    except pymysql.Error as exc:
        with contextlib.suppress(pymysql.Error):
            conn.rollback()
        raise TransferError(f"load failed: {d.describe_error(exc)}", table.name) from exc
    except TransferError:
        with contextlib.suppress(pymysql.Error):
            conn.rollback()
        raise


def _load_data(d: MySQLDialect, conn: Any, table: Table, rows: Sequence[Row]) -> int:
    def write(f: BinaryIO) -> None:
        for row in rows:
            f.write(b"\t".join([_field(v) for v in row]) + b"\n")

    return load_file(d, conn, table, write, len(rows))


def load_file(
    d: MySQLDialect, conn: Any, table: Table, write: Callable[[BinaryIO], None], expected: int
) -> int:
    """LOAD DATA LOCAL the tab-separated lines ``write`` puts in a temporary file."""
    fd, path = tempfile.mkstemp(prefix="dmt-load-", suffix=".tsv")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        # CHARACTER SET binary: the server takes the bytes as they are, so blobs survive and
        # text is the UTF-8 we wrote (checked against each column's character set)
        sql = (
            f"LOAD DATA LOCAL INFILE {d.sql_text(conn.escape(path))} INTO TABLE "
            f"{d.qualified(table.name)} CHARACTER SET binary "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({d.column_list(table.column_names)})"
        )
        with conn.cursor() as cur:
            n = d.execute(cur, sql)
            _check_warnings(d, cur, table, n, expected)
        return expected
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _insert(d: MySQLDialect, conn: Any, table: Table, rows: Sequence[Row], packet: int) -> int:
    head = f"INSERT INTO {d.qualified(table.name)} ({d.column_list(table.column_names)}) VALUES "
    limit = max(64 * 1024, packet * 3 // 4)
    parts: list[str] = []
    size = len(head)
    done = 0
    with conn.cursor() as cur:
        for row in rows:
            lit = "(" + ",".join(conn.escape(_insert_value(v)) for v in row) + ")"
            lit = lit.replace("%", "%%")  # executed with a tuple: see Dialect.sql_text
            if parts and size + len(lit) + 1 > limit:
                n = cur.execute(_statement(head, parts), ())
                _check_warnings(d, cur, table, n, len(parts))
                done += len(parts)
                parts, size = [], len(head)
            parts.append(lit)
            size += len(lit) + 1
        if parts:
            n = cur.execute(_statement(head, parts), ())
            _check_warnings(d, cur, table, n, len(parts))
            done += len(parts)
    return done


def _check_warnings(d: MySQLDialect, cur: Any, table: Table, affected: int, expected: int) -> None:
    """A converted, truncated or skipped value is an error, never a silent change."""
    warnings: list[Row] = []
    if cur.warning_count:
        # Notes too: a decimal rounded to the column's scale is only a Note 1265
        d.execute(cur, "SHOW WARNINGS")
        warnings = list(cur.fetchall())
    if warnings:
        level, code, msg = warnings[0]
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise TransferError(f"MySQL {level.lower()} {code}: {msg}{more}", table.name)
    if affected != expected:
        raise TransferError(f"{affected} of {expected} rows were loaded", table.name)
