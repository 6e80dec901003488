"""The checkpoints the pipeline reports, as the state store (:mod:`dmt.checkpoint`) takes them."""

from __future__ import annotations

from typing import Any, Protocol

from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.pipeline.tracker import TableResult


class Checkpoints(Protocol):
    """Checkpointing seen from the pipeline; called from its threads.

        ``chunks_for`` decides which chunks of a table still need copying (and cleans the target
        of a chunk that was in flight when an earlier run died); ``chunk_started`` is called
        before the first batch of a chunk is queued, ``chunk_committed`` after its last batch is
        committed on the target, ``table_done`` once every chunk of the table is; ``clean`` makes a
    chunk whose copy failed part-way empty on the target again (``conn``: a source connection).
    """

    def chunks_for(self, job: TableJob, conn: Any, chunk_size: int) -> list[Chunk]: ...
    def chunk_started(self, job: TableJob, chunk: Chunk) -> None: ...
    def chunk_committed(self, job: TableJob, chunk: Chunk, rows: int) -> None: ...
    def table_done(self, job: TableJob, result: TableResult) -> None: ...
    def clean(self, job: TableJob, conn: Any, chunks: list[Chunk]) -> None:
        """Remove from the target whatever rows of ``chunks`` an attempt may have written."""
