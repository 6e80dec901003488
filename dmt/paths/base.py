"""The protocol every fast data path implements, and the marker it yields for a key range the
exact row path must carry instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from dmt.model.job import TableJob
from dmt.model.ranges import Chunk

#: one batch as a path reads it: ``(payload, rows, bytes, read_seconds)``
Read = tuple[Any, int, int, float]


@dataclass(frozen=True)
class RowFallback:
    """Yielded by :meth:`DataPath.read`: the key range ``chunk`` (part of the range being
    read) must take the exact row path, because of ``reason``. The reader runs the row path
    for it, then goes on with the path's next batch."""

    chunk: Chunk
    reason: str


class DataPath(Protocol):
    """A way to move one key range other than Python rows (e.g. a COPY stream passed through).

    ``read`` yields a :data:`Read` per batch, each payload bounded by ``max_rows`` and
    ``max_bytes``, or a :class:`RowFallback` for a part of the range it cannot carry exactly;
    ``write`` loads one of its own payloads on the target and commits.
    """

    name: str

    @property
    def reader_batches(self) -> int:
        """Batches one reader holds at once, counting what its driver reads ahead of the batch
        it yields (1: only that batch); the pipeline shares the memory budget by it."""

    @property
    def min_range_rows(self) -> int:
        """The fewest rows one read should cover: the pipeline merges consecutive planned
        key ranges up to it (0: read ranges as planned)."""

    def read(
        self, conn: Any, job: TableJob, chunk: Chunk, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Iterator[Read | RowFallback]: ...  # fmt: skip

    def write(self, conn: Any, job: TableJob, payload: Any) -> int: ...

    def session_conn(self, conn: Any) -> Any:
        """The connection a ``write`` given ``conn`` is running its statement on right now
        (``conn`` itself unless the path writes on connections of its own): the one stall
        detection asks the server about and cancels."""

    def close(self) -> None:
        """Release what the path holds of its own (e.g. driver connections); once per run."""
