"""PostgreSQL sessions: the backend pid, ``pg_stat_activity`` with ``pg_blocking_pids()``,
``pg_cancel_backend`` and ``statement_timeout``."""

from __future__ import annotations

from typing import Any

from dmt.dialects.sessions import SessionHooks, statement_head

#: SQLSTATE of a statement cancelled (pg_cancel_backend) or past statement_timeout
QUERY_CANCELED = "57014"
#: SQLSTATE of lock_timeout
LOCK_NOT_AVAILABLE = "55P03"

_ACTIVITY = (
    "SELECT state, wait_event_type, wait_event, pg_blocking_pids(pid), "
    "EXTRACT(EPOCH FROM clock_timestamp() - query_start), query "
    "FROM pg_stat_activity WHERE pid = %s"
)
_BLOCKER = (
    "SELECT pid, application_name, state, wait_event_type, wait_event "
    "FROM pg_stat_activity WHERE pid = ANY(%s) ORDER BY pid"
)


class PostgresSessions(SessionHooks):
    """The session hooks of :class:`~dmt.dialects.postgres.dialect.PostgresDialect`."""

    def session_id(self, conn: Any) -> int | None:
        known = getattr(conn, "dmt_session", None)  # an ADBC connection's, noted at connect
        if isinstance(known, int):
            return known
        info = getattr(conn, "info", None)
        pid = getattr(info, "backend_pid", None)
        return pid if isinstance(pid, int) else None

    def session_report(self, conn: Any, session: int) -> str:
        row = conn.execute(_ACTIVITY, (session,)).fetchone()
        if row is None:
            conn.commit()
            return f"backend pid {session} is gone"
        state, wtype, wevent, blockers, secs, query = row
        parts = [f"backend pid {session}", f"state `{state}`"]
        if wevent:
            parts.append(f"waiting on {wtype} `{wevent}`")
        if secs is not None:
            parts.append(f"for {float(secs):.1f}s")
        parts.append(f"running `{statement_head(query)}`")
        if blockers:
            found = conn.execute(_BLOCKER, (list(blockers),)).fetchall()
            parts.append(
                "blocked by "
                + ", ".join(
                    f"pid {pid} (application `{app or ''}`, state `{st}`"
                    + (f", waiting on {wt} `{we}`" if we else "")
                    + ")"
                    for pid, app, st, wt, we in found
                )
            )
        conn.commit()
        return ", ".join(parts)

    def cancel_session(self, conn: Any, session: int) -> None:
        conn.execute("SELECT pg_cancel_backend(%s)", (session,))
        conn.commit()

    def set_statement_timeout(self, conn: Any, seconds: float) -> None:
        if seconds > 0:
            # a session setting, committed so that no later rollback undoes it
            conn.execute(f"SET statement_timeout = {int(seconds * 1000)}")
            conn.commit()

    def timed_out(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlstate", None) in (QUERY_CANCELED, LOCK_NOT_AVAILABLE)
