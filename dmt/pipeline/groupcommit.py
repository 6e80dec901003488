"""Group commit: the batches one writer loads in one transaction, for targets where a commit
costs more than the rows it commits (a target dialect's ``commit_rows``).

While more batches wait in the queue, a held writer connection's commits are deferred until
``commit_rows`` rows are loaded; the queue running empty, the row count being reached or the
writer stopping commits them. A batch counts as written (its key range can become done in the
state store) only once its rows are committed, so a failure before the commit leaves every
held batch's range not done, to be cleaned and copied again by a retry or ``dmt resume``.
Only a target limited to one writer holds commits (its one writer takes every queued batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dmt.dialects.base import Dialect
from dmt.model.job import Batch


class GroupCommit:
    """The written but not yet committed batches of a target's one writer."""

    def __init__(
        self, target: Dialect, waiting: Callable[[], int], written: Callable[[Batch, int], None]
    ) -> None:
        self.rows = target.commit_rows if target.max_writers == 1 else 0
        self._target = target
        self._waiting = waiting  # batches in the queue now
        self._written = written  # a batch's rows are committed
        self._held: list[tuple[Batch, int]] = []
        self._held_rows = 0

    def begin(self, conn: Any) -> None:
        """A new writer connection: its write paths' commits wait for :meth:`commit`."""
        if self.rows:
            self._target.hold_commits(conn)

    def wrote(self, conn: Any, batch: Batch, n: int) -> None:
        """``batch`` (``n`` rows) was loaded on ``conn``: count it written now, or hold it
        until enough rows are loaded or no batch waits."""
        if not self.rows:
            self._written(batch, n)
            return
        self._held.append((batch, n))
        self._held_rows += n
        if self._held_rows < self.rows and self._waiting() > 0:
            return
        self.commit(conn)

    def commit(self, conn: Any) -> None:
        """Commit the held batches' rows, then count each written."""
        if not self._held:
            return
        try:
            self._target.commit_held(conn)
        except Exception as exc:
            self.discard()
            raise self._target.translate_error(exc, "the commit of the loaded batches") from exc
        held, self._held, self._held_rows = self._held, [], 0
        for batch, n in held:
            self._written(batch, n)

    def end(self, conn: Any, failed: bool, on_error: Callable[[BaseException], None]) -> None:
        """The writer stops: commit what it holds (a failure goes to ``on_error``), or
        forget it when the run ``failed``."""
        if failed:
            self.discard()
            return
        try:
            self.commit(conn)
        except Exception as exc:
            on_error(exc)

    def discard(self) -> None:
        """Forget the held batches (their transaction is rolled back with the connection)."""
        self._held, self._held_rows = [], 0
