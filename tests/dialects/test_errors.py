"""Each dialect translates its own driver's exceptions: a broken connection is a
ConnectionLost (exit 2, safe to retry), anything else the DmtError it means, with one line of
text. No server needed: the driver exceptions are built by hand."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors
import pymysql
import pytest

from dmt.config import Endpoint
from dmt.dialects.base import Dialect, get_dialect
from dmt.errors import ConnectError, ConnectionLost, DmtError, TransferError, causes, located


def dialect(engine: str, side: str = "target") -> Dialect:
    return get_dialect(Endpoint(engine=engine, path="x.db", database="x"), side)


def chained(exc: BaseException) -> TransferError:
    """A dialect's own TransferError raised from ``exc``, as write_rows raises it."""
    try:
        raise TransferError("COPY failed: x", "t") from exc
    except TransferError as err:
        return err


LOST = [
    ("postgres", psycopg.OperationalError("server closed the connection unexpectedly")),
    ("postgres", psycopg.errors.AdminShutdown("terminating connection due to administrator")),
    ("postgres", psycopg.errors.ConnectionFailure("connection failure")),
    ("mysql", pymysql.err.OperationalError(2013, "Lost connection to server during query")),
    ("mysql", pymysql.err.OperationalError(2006, "Server has gone away")),
    ("mysql", pymysql.err.InterfaceError(0, "")),
    ("sqlite", ConnectionResetError("reset by peer")),
    ("postgres", ConnectError("target", "refused")),
]
NOT_LOST = [
    ("postgres", psycopg.errors.UniqueViolation("duplicate key value\nDETAIL: Key (id)=(1)")),
    ("postgres", psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
    ("mysql", pymysql.err.IntegrityError(1062, "Duplicate entry '1' for key 'PRIMARY'")),
    ("mysql", pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")),
    ("sqlite", sqlite3.OperationalError("database is locked")),
    # another engine's driver: only the dialect that raised it knows its codes
    ("mysql", psycopg.OperationalError("server closed the connection unexpectedly")),
]


@pytest.mark.parametrize(("engine", "exc"), LOST, ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_broken_connection_is_connection_lost(engine: str, exc: Exception) -> None:
    d = dialect(engine)
    err = d.translate_error(exc, "write failed", "t", "(1, 10]")
    assert isinstance(err, ConnectionLost) and err.exit_code == 2
    assert str(err).startswith("lost the connection to the target: table `t` (1, 10]: write failed")
    # found through a translated error's cause chain as well
    assert isinstance(d.translate_error(chained(exc)), ConnectionLost)


@pytest.mark.parametrize(("engine", "exc"), NOT_LOST, ids=lambda v: getattr(v, "__name__", str(v)))
def test_other_driver_errors_are_transfer_errors(engine: str, exc: Exception) -> None:
    err = dialect(engine, "source").translate_error(exc, "read failed", "t")
    assert type(err) is TransferError and err.exit_code == 3
    assert str(err).startswith("table `t`: read failed: ") and "\n" not in str(err)
    translated = chained(exc)
    assert dialect(engine).translate_error(translated) is translated


def test_a_closed_mysql_connection_says_so() -> None:
    err = dialect("mysql", "source").translate_error(pymysql.err.InterfaceError(0, ""), "read")
    assert str(err) == (
        "lost the connection to the source: read: the connection is closed (killed, or dropped "
        "by the server)"
    )


def test_mysql_errors_name_their_code() -> None:
    exc = pymysql.err.IntegrityError(1062, "Duplicate entry '1' for key 'PRIMARY'")
    assert dialect("mysql").describe_error(exc) == (
        "MySQL error 1062: Duplicate entry '1' for key 'PRIMARY'"
    )
    err = dialect("mysql").translate_error(exc, "load failed")
    assert str(err) == "load failed: MySQL error 1062: Duplicate entry '1' for key 'PRIMARY'"


def test_a_connection_lost_stays_itself_and_a_bare_error_names_its_class() -> None:
    lost = ConnectionLost("source", "gone")
    assert dialect("postgres").translate_error(lost, "read failed") is lost
    err = dialect("sqlite").translate_error(ValueError("bad\nvalue"))
    assert isinstance(err, DmtError) and str(err) == "bad"


def test_engine_neutral_helpers() -> None:
    assert located(None) == "" and located("t") == "table `t`: "
    assert located("t", "(1, 2]") == "table `t` (1, 2]: "
    inner = ValueError("inner")
    outer = chained(inner)
    assert list(causes(outer)) == [outer, inner]
    assert list(causes(None)) == []
