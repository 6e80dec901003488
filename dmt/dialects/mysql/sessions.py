"""MySQL/MariaDB sessions: the connection id, ``information_schema.PROCESSLIST`` with InnoDB's
lock waits, ``KILL QUERY`` and the lock-wait and statement timeouts."""

from __future__ import annotations

import math
from typing import Any

from dmt.dialects.sessions import SessionHooks, statement_head

#: server codes of a statement interrupted (KILL QUERY), past max_statement_time / a lock wait
_TIMED_OUT = {1205, 1317, 1969, 3024}

_PROCESS = "SELECT COMMAND, STATE, TIME, INFO FROM information_schema.PROCESSLIST WHERE ID = %s"
#: the sessions whose InnoDB transactions hold a row lock the session waits for
_ROW_BLOCKERS = (
    "SELECT DISTINCT b.trx_mysql_thread_id FROM information_schema.INNODB_LOCK_WAITS w "
    "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id "
    "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id "
    "WHERE r.trx_mysql_thread_id = %s"
)


class MySQLSessions(SessionHooks):
    """The session hooks of :class:`~dmt.dialects.mysql.dialect.MySQLDialect`."""

    def session_id(self, conn: Any) -> int | None:
        thread_id = getattr(conn, "thread_id", None)
        if not callable(thread_id):
            return None
        tid = thread_id()
        return tid if isinstance(tid, int) else None

    def session_report(self, conn: Any, session: int) -> str:
        with conn.cursor() as cur:
            cur.execute(_PROCESS, (session,))
            row = cur.fetchone()
            blockers: list[int] = []
            if row is not None:
                try:
                    cur.execute(_ROW_BLOCKERS, (session,))
                    blockers = [int(r[0]) for r in cur.fetchall()]
                except Exception:  # MySQL 8 moved lock waits to performance_schema
                    blockers = []
        conn.commit()
        if row is None:
            return f"connection id {session} is gone"
        command, state, secs, info = row
        parts = [f"connection id {session}", f"command `{command}`", f"state `{state or ''}`"]
        if secs is not None:
            parts.append(f"for {secs}s")
        parts.append(f"running `{statement_head(info)}`")
        if blockers:
            parts.append("row locks held by connection id " + ", ".join(map(str, blockers)))
        return ", ".join(parts)

    def cancel_session(self, conn: Any, session: int) -> None:
        with conn.cursor() as cur:
            cur.execute(f"KILL QUERY {int(session)}")

    def set_statement_timeout(self, conn: Any, seconds: float) -> None:
        if seconds <= 0:
            return
        secs = max(1, math.ceil(seconds))
        with conn.cursor() as cur:
            # lock waits (table metadata, InnoDB rows) and, on MariaDB, any statement
            cur.execute(
                f"SET SESSION lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}"
            )
            if getattr(self, "mariadb", False):
                cur.execute(f"SET SESSION max_statement_time = {float(seconds)}")
        conn.commit()

    def timed_out(self, exc: BaseException) -> bool:
        import pymysql

        return isinstance(exc, pymysql.err.Error) and bool(exc.args) and exc.args[0] in _TIMED_OUT
