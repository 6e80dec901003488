"""What stall detection and statement timeouts ask of a dialect: a connection's server session,
what the server says about it, and how to cancel its statement from another connection.

Default: no server session (SQLite): nothing to report, nothing to cancel, no timeout.
"""

from __future__ import annotations

from typing import Any

#: the longest head of a statement a report quotes
STATEMENT_HEAD = 100


class SessionHooks:
    """The server-session part of :class:`dmt.dialects.base.Dialect` (one base class of it)."""

    def session_id(self, conn: Any) -> int | None:
        """The server's id of ``conn``'s session (a backend pid, a connection id), or None
        when ``conn`` is not one of this dialect's driver connections."""
        return None

    def session_report(self, conn: Any, session: int) -> str:
        """What the server says about ``session``, asked on ``conn`` (another connection): its
        state, what it waits for and who blocks it, in one line without row data."""
        return ""

    def cancel_session(self, conn: Any, session: int) -> None:
        """Cancel the statement ``session`` is running, from ``conn``; the session stays open."""

    def set_statement_timeout(self, conn: Any, seconds: float) -> None:
        """Make every later statement on ``conn`` fail after ``seconds`` (or waiting that long
        for a lock); 0 leaves the server's default."""

    def timed_out(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a statement was cancelled or hit its timeout."""
        return False


def statement_head(sql: str | None) -> str:
    """The start of a statement, up to its values or conditions: what it does, never row data."""
    text = " ".join((sql or "").split())
    upper = text.upper()
    for word in (" VALUES", " WHERE ", " SET "):
        at = upper.find(word)
        if at > 0:
            text = text[:at] + " …"
            break
    return text if len(text) <= STATEMENT_HEAD else text[: STATEMENT_HEAD - 1] + "…"
