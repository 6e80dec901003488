"""One consistent snapshot for every reader of a run, on a source written to during the copy.

A writer thread, with its own connection, moves money between accounts on the source in small
transactions for the whole run: the total of the balances never changes, every transfer is
logged in a ledger whose rows reference both accounts (foreign keys), and now and then money
goes to an account the transfer opens. dmt copies the source with several readers, small
chunks and two tables in flight, so the writer commits between the readers' reads. The target
must then hold one moment of the source: the total is the invariant, every ledger row's
accounts exist, and every balance is what the ledger says it is. Checksum validation runs too:
its source side reads the same moment, so it finds the target equal although the source moved
on.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from dmt.run import execute
from tests.conftest import endpoint

ACCOUNTS = 60_000
START = 1_000  # every first account's opening balance
TOTAL = ACCOUNTS * START  # the invariant
SCHEMA = {
    "postgres": [
        "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)",
        "CREATE TABLE ledger (id serial PRIMARY KEY, src integer NOT NULL REFERENCES "
        "accounts(id), dst integer NOT NULL REFERENCES accounts(id), amount integer NOT NULL)",
    ],
    "mysql": [
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE ledger (id int AUTO_INCREMENT PRIMARY KEY, src int NOT NULL, dst int "
        "NOT NULL, amount int NOT NULL, FOREIGN KEY (src) REFERENCES accounts(id), "
        "FOREIGN KEY (dst) REFERENCES accounts(id)) ENGINE=InnoDB",
    ],
    "sqlite": [
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)",
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, src INTEGER NOT NULL "
        "REFERENCES accounts(id), dst INTEGER NOT NULL REFERENCES accounts(id), "
        "amount INTEGER NOT NULL)",
    ],
}
#: source -> target, and the data path expected to carry both tables (``migration.data_path:
#: auto``): every way a source is read. The columnar readers of MySQL and SQLite (connectorx)
#: open connections of their own, so a snapshot run reads those sources by the row path.
#: (source, target, the path the table takes, data_path, whether the source's writers wait):
#: PostgreSQL's readers all import one exported snapshot; MySQL and SQLite hold the copied
#: tables still while their columnar reader (connectorx, which opens connections of its own)
#: reads; MySQL on the row path reads from the lent consistent-snapshot connections instead
PAIRS = [
    ("postgres", "mysql", "pg-text-load-data", "auto", False),
    ("postgres", "postgres", "pg-binary-copy", "auto", False),
    ("postgres", "sqlite", "arrow (adbc", "auto", False),
    ("mysql", "postgres", "arrow (connectorx", "auto", True),
    ("mysql", "postgres", "rows", "rows", False),
    ("sqlite", "postgres", "arrow (connectorx", "auto", True),
]


# ---------------------------------------------------------------------------------- source
def connect(kind: str, db: str | Path) -> Any:
    """A plain driver connection to a test database, autocommit off."""
    ep = endpoint(kind, db)
    if kind == "sqlite":
        conn = sqlite3.connect(str(db), timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn
    if kind == "postgres":
        import psycopg

        return psycopg.connect(host=ep["host"], port=ep["port"], user=ep["user"], dbname=db)
    import pymysql

    return pymysql.connect(
        host=ep["host"], port=ep["port"], user=ep["user"], password="", database=str(db)
    )


def run_sql(kind: str, conn: Any, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Run the statements as one transaction."""
    mark = "?" if kind == "sqlite" else "%s"
    cur = conn.cursor()
    if kind == "sqlite":
        cur.execute("BEGIN IMMEDIATE")
    for sql, params in statements:
        cur.execute(sql.replace("?", mark), params)
    conn.commit() if kind != "sqlite" else cur.execute("COMMIT")
    cur.close()


def fill(kind: str, db: str | Path) -> None:
    conn = connect(kind, db)
    cur = conn.cursor()
    for sql in SCHEMA[kind]:
        cur.execute(sql)
    if kind == "sqlite":
        cur.execute("BEGIN")
    mark = "?" if kind == "sqlite" else "%s"
    cur.executemany(
        f"INSERT INTO accounts (id, balance) VALUES ({mark}, {mark})",
        [(i, START) for i in range(1, ACCOUNTS + 1)],
    )
    conn.commit() if kind != "sqlite" else cur.execute("COMMIT")
    if kind == "mysql":
        cur.execute("ANALYZE TABLE accounts")
        cur.fetchall()
    conn.close()


class Writer(threading.Thread):
    """Moves money between random accounts in small transactions until stopped; one in ten
    transfers opens a new account and pays into it. Records each commit's time."""

    def __init__(self, kind: str, db: str | Path) -> None:
        super().__init__(name="live-writer", daemon=True)
        self.kind, self.db = kind, db
        self.stop = threading.Event()
        self.commits: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        if self.kind == "sqlite":
            self._run_apart()
            return
        rnd = random.Random(20)
        conn = connect(self.kind, self.db)
        top = ACCOUNTS
        try:
            while not self.stop.is_set():
                src = rnd.randint(1, top)
                steps: list[tuple[str, tuple[Any, ...]]] = []
                if rnd.random() < 0.1:
                    top += 1
                    dst = top
                    steps.append(("INSERT INTO accounts (id, balance) VALUES (?, 0)", (dst,)))
                else:
                    dst = rnd.randint(1, top)
                amount = rnd.randint(1, 50)
                steps += [
                    ("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, src)),
                    ("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, dst)),
                    ("INSERT INTO ledger (src, dst, amount) VALUES (?, ?, ?)", (src, dst, amount)),
                ]
                run_sql(self.kind, conn, steps)
                self.commits.append(time.monotonic())
        except BaseException as exc:  # the test reports it
            self.error = exc
        finally:
            conn.close()

    def _run_apart(self) -> None:
        """SQLite: the same transfers from a process of their own, as an application's would
        be (file locks are per process: a writer inside dmt's process would share its locks)."""
        child = subprocess.Popen(
            [sys.executable, "-c", _SQLITE_WRITER, str(self.db), str(ACCOUNTS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        reading = threading.Thread(
            target=lambda: self.commits.extend(float(x) for x in child.stdout), daemon=True
        )  # type: ignore[union-attr]
        reading.start()
        self.stop.wait()
        child.stdin.close()
        child.wait(60)
        reading.join(10)
        assert child.stderr is not None
        problem = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
        if child.returncode:
            self.error = RuntimeError(problem or "the writer failed")


#: the SQLite writer's process: transfers until its stdin closes, a commit time per line
_SQLITE_WRITER = """
import random, select, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
rnd, top = random.Random(20), int(sys.argv[2])
while not select.select([sys.stdin], [], [], 0)[0]:
    src = rnd.randint(1, top)
    conn.execute("BEGIN IMMEDIATE")
    if rnd.random() < 0.1:
        top += 1
        dst = top
        conn.execute("INSERT INTO accounts (id, balance) VALUES (?, 0)", (dst,))
    else:
        dst = rnd.randint(1, top)
    amount = rnd.randint(1, 50)
    conn.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, src))
    conn.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, dst))
    conn.execute("INSERT INTO ledger (src, dst, amount) VALUES (?, ?, ?)", (src, dst, amount))
    conn.execute("COMMIT")
    print(time.monotonic(), flush=True)
"""


# ---------------------------------------------------------------------------------- target
def inconsistencies(kind: str, db: str | Path) -> tuple[int, int, int]:
    """On the target: (total - invariant, ledger rows naming a missing account, accounts whose
    balance is not what the ledger says)."""
    conn = connect(kind, db)
    cur = conn.cursor()
    cur.execute("SELECT id, balance FROM accounts")
    balances = {int(i): int(b) for i, b in cur.fetchall()}
    cur.execute("SELECT src, dst, amount FROM ledger")
    expected = {i: (START if i <= ACCOUNTS else 0) for i in balances}
    dangling = 0
    for src, dst, amount in cur.fetchall():
        if src not in balances or dst not in balances:
            dangling += 1
            continue
        expected[src] -= amount
        expected[dst] += amount
    conn.close()
    wrong = sum(1 for i, b in balances.items() if expected[i] != b)
    return sum(balances.values()) - TOTAL, dangling, wrong


# ---------------------------------------------------------------------------------- run
class Steps(logging.Handler):
    """When the copy step began and ended, from dmt's step lines."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[int, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Step "):
            self.at[int(msg[5])] = time.monotonic()


@pytest.fixture
def steps() -> Iterator[Steps]:
    handler = Steps()
    logger = logging.getLogger("dmt")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def make_db(kind: str, pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp: Path) -> Any:
    if kind == "sqlite":
        return tmp / f"{len(list(tmp.glob('*.db')))}.db"
    return pg_dbs() if kind == "postgres" else my_dbs()


def copy_live(
    src_kind: str, dst_kind: str, consistency: str, validate: str, steps: Steps,
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp: Path,
    prepare: Callable[[Any], dict[str, Any]] | None = None, data_path: str = "auto",
) -> tuple[tuple[int, int, int], int, Any]:  # fmt: skip
    """Copy a source being written to; return the target's inconsistencies, the writer's
    commits during the copy step, and the run's result. ``prepare(source db)`` may return
    changes to the source endpoint."""
    src, dst = make_db(src_kind, pg_dbs, my_dbs, tmp), make_db(dst_kind, pg_dbs, my_dbs, tmp)
    fill(src_kind, src)
    cfg = build_config({
        "source": {**endpoint(src_kind, src), **(prepare(src) if prepare else {})},
        "target": endpoint(dst_kind, dst),
        "migration": {
            "chunk_size": 1000, "parallel_readers": 3, "workers": 2, "read_ahead_buffers": 2,
            "write_ahead_writers": 2, "validate": validate, "consistency": consistency,
            "create_foreign_keys": False, "state_dir": str(tmp / "state"),
            "data_path": data_path,
        },
    })  # fmt: skip
    writer = Writer(src_kind, src)
    writer.start()
    try:
        while len(writer.commits) < 50 and writer.error is None:  # the writer is going
            time.sleep(0.01)
        result = execute(cfg)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    begin, end = steps.at[4], steps.at[5]
    during = sum(1 for t in writer.commits if begin <= t <= end)
    return inconsistencies(dst_kind, dst), during, result


@pytest.mark.parametrize(
    "src_kind,dst_kind,path,data_path,held", PAIRS,
    ids=[f"{a}->{b}-{p}" for a, b, _, p, _ in PAIRS],
)  # fmt: skip
def test_live_source_copies_one_moment(
    src_kind: str, dst_kind: str, path: str, data_path: str, held: bool, steps: Steps,
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path: Path,
) -> None:  # fmt: skip
    (off, dangling, wrong), during, result = copy_live(
        src_kind, dst_kind, "snapshot", "checksum", steps, pg_dbs, my_dbs, tmp_path,
        data_path=data_path,
    )  # fmt: skip
    if held:  # the writer waited for the copy: at most the transfer the lock waited for
        assert during <= 1, f"{during} transfer(s) committed while the tables were held"
    else:
        assert during >= 20, f"the writer committed only {during} transfer(s) during the copy"
    assert (off, dangling, wrong) == (0, 0, 0), (
        f"target total off by {off}, {dangling} ledger row(s) naming a missing account, "
        f"{wrong} balance(s) disagreeing with the ledger ({during} transfers during the copy)"
    )
    assert result.status == "success"  # checksum validation read the same moment
    assert all(t.path.startswith(path) for t in result.tables), result.tables


def test_without_the_snapshot_the_copy_is_not_one_moment(
    steps: Steps, pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path: Path
) -> None:
    """The same copy with ``consistency: none`` (on the row path, whose readers each read
    chunk by chunk): the readers read different moments, and the checks above see it, so
    their passing with the snapshot means something."""
    (_off, _dangling, wrong), during, _ = copy_live(
        "sqlite", "postgres", "none", "none", steps, pg_dbs, my_dbs, tmp_path, data_path="rows"
    )
    assert during >= 20, f"the writer committed only {during} transfer(s) during the copy"
    assert wrong > 0, f"{during} transfers during the copy, yet every balance agrees"


def test_plan_shows_consistency_and_non_transactional_tables(my_db: str) -> None:
    """``dmt plan`` names the consistency, and a MyISAM table as outside the snapshot."""
    conn = connect("mysql", my_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE counters (id int PRIMARY KEY, n int) ENGINE=MyISAM")
        cur.execute("CREATE TABLE kept (id int PRIMARY KEY) ENGINE=InnoDB")
    conn.close()
    from dmt.plan import make_plan
    from dmt.report import plan_text

    cfg = build_config(
        {"source": endpoint("mysql", my_db), "target": endpoint("sqlite", ":memory:")}
    )
    text = plan_text(make_plan(cfg).to_dict())
    assert "Consistency: snapshot" in text
    (line,) = [w for w in text.splitlines() if "MyISAM is not transactional" in w]
    assert "counters" in line and "kept" not in line
    cfg = build_config({
        "source": endpoint("mysql", my_db), "target": endpoint("sqlite", ":memory:"),
        "migration": {"consistency": "none"},
    })  # fmt: skip
    text = plan_text(make_plan(cfg).to_dict())
    assert "Consistency: none" in text and "MyISAM" not in text


def count(conn: Any, table: str) -> int:
    """Rows in ``table`` as ``conn`` sees them; the transaction is committed after."""
    (n,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    conn.commit()
    return int(n)


def test_source_connections_read_inside_the_snapshot(pg_db: str) -> None:
    """Every connection the PostgreSQL dialect hands out while the snapshot is open — a new
    one, and one whose transaction committed — reads the moment the snapshot was opened."""
    conn = connect("postgres", pg_db)
    conn.execute("CREATE TABLE moments (id int PRIMARY KEY)")
    conn.execute("INSERT INTO moments VALUES (1)")
    conn.commit()
    cfg = build_config(
        {"source": endpoint("postgres", pg_db), "target": endpoint("sqlite", ":memory:")}
    )
    source = get_dialect(cfg.source, "source")
    source.open_snapshot(2)
    try:
        conn.execute("INSERT INTO moments VALUES (2)")
        conn.commit()
        reader = source.connect()
        assert count(reader, "moments") == 1
        assert count(reader, "moments") == 1  # after a commit: still the snapshot's moment
        reader.close()
    finally:
        source.close_snapshot()
    reader = source.connect()
    assert count(reader, "moments") == 2
    reader.close()
    conn.close()


@pytest.mark.parametrize("consistency", ["snapshot", "none"])
def test_resume_says_it_reads_a_new_snapshot(
    consistency: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A resumed run cannot read the dead run's snapshot, and its resume line says so."""
    import threading as th

    from dmt.errors import Cancelled
    from dmt.run import Migration

    src = tmp_path / "src.db"
    fill("sqlite", src)
    cfg = build_config({
        "source": endpoint("sqlite", src), "target": endpoint("sqlite", tmp_path / "dst.db"),
        "migration": {"consistency": consistency, "state_dir": str(tmp_path / "state")},
    })  # fmt: skip
    stopped = th.Event()
    stopped.set()  # the copy stops at once: the run is left to resume
    with pytest.raises(Cancelled):
        Migration(cfg, abort=stopped).execute()
    with caplog.at_level(logging.INFO, logger="dmt"):
        result = execute(cfg, resume=True)
    assert result.rows_transferred == ACCOUNTS
    resumed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Resuming")]
    assert len(resumed) == 1
    said = "resumed from a new snapshot: rows changed since the first run may differ"
    assert (said in resumed[0]) == (consistency == "snapshot"), resumed[0]


def test_mysql_without_the_lock_privilege_still_copies_one_moment(
    steps: Steps, pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A MySQL user without RELOAD cannot take BACKUP STAGE / FLUSH TABLES WITH READ LOCK:
    dmt starts the snapshot without the lock, and with no binary log position to compare
    (this server logs none) one connection reads every table."""
    import uuid

    user = f"dmt_nolock_{uuid.uuid4().hex[:8]}"
    admin = connect("mysql", "mysql")

    def grant(db: Any) -> dict[str, Any]:
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
            cur.execute(f"GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{user}'@'%'")
        return {"user": user, "password": "pw"}

    try:
        (off, dangling, wrong), during, result = copy_live(
            "mysql", "postgres", "snapshot", "count", steps, pg_dbs, my_dbs, tmp_path, grant
        )
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("no global lock for the snapshot (MySQL error 1227") for m in said)
    assert any("one connection reads every table" in m for m in said), said
    assert during >= 20, f"the writer committed only {during} transfer(s) during the copy"
    assert (off, dangling, wrong) == (0, 0, 0)
    assert result.status == "success"


def test_a_lost_exporting_session_is_a_lost_connection(pg_db: str) -> None:
    """When the session that exported the snapshot is gone, a reader's next transaction cannot
    import it: a ConnectionLost (exit 2, retried from a new snapshot), not a transfer error."""
    from dmt.errors import ConnectionLost

    conn = connect("postgres", pg_db)
    conn.execute("CREATE TABLE IF NOT EXISTS moments2 (id int PRIMARY KEY)")
    conn.commit()
    cfg = build_config(
        {"source": endpoint("postgres", pg_db), "target": endpoint("sqlite", ":memory:")}
    )
    source = get_dialect(cfg.source, "source")
    source.open_snapshot(1)
    try:
        reader = source.connect()
        assert count(reader, "moments2") == 0
        pid = source._coordinator.info.backend_pid  # type: ignore[attr-defined]
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        conn.commit()
        with pytest.raises(ConnectionLost, match=r"the run's snapshot `.*` ended"):
            for _ in range(50):  # the backend ends a moment after it is told to
                count(reader, "moments2")
                time.sleep(0.1)
        reader.close()
    finally:
        source.close_snapshot()
        conn.close()


def test_snapshot_pool_lends_a_fixed_set() -> None:
    """The pool lends each connection to one reader at a time: an extra reader gets None at
    once, a table driver waits for one to come back; closing closes every one, lent or not."""
    from dmt.dialects.snapshot import SnapshotPool

    closed: list[str] = []
    pool = SnapshotPool(["a"], closed.append)
    first = pool.take()
    assert pool.take(wait=False) is None
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.take(wait=True)))
    waiter.start()
    time.sleep(0.05)
    assert got == []  # still waiting
    pool.give(first)
    waiter.join(5)
    assert got == ["a"]
    pool.close()
    assert closed == ["a"] and pool.take(wait=True) is None
    pool.give("a")  # given back after the close: closed again, never lent
    assert closed == ["a", "a"]
