"""How the pipeline names a failure: the table and key range it hit, the side that was lost."""

from __future__ import annotations

from dmt.dialects.base import Dialect
from dmt.errors import (
    Cancelled,
    ConnectionLost,
    DiskFull,
    DmtError,
    TransferError,
)
from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk


def planning_failed(source: Dialect, target: Dialect, job: TableJob, exc: Exception) -> DmtError:
    """A driver error while planning a table's key ranges (which may clean the target of a
    resumed table's chunks in flight), naming the table: a lost target connection as such."""
    err = target.translate_error(exc, "planning failed", job.source.name)
    if isinstance(err, ConnectionLost | DiskFull) and err is not exc:
        return err
    return source.translate_error(exc, "planning failed", job.source.name)


def read_failed(source: Dialect, job: TableJob, chunk: Chunk, exc: Exception) -> DmtError:
    """A failure while reading ``chunk``: the source's translation of a driver error, or our
    own error named with the table and key range."""
    err = source.translate_error(exc, "read failed", job.source.name, chunk.describe())
    if err is exc and not isinstance(exc, ConnectionLost):
        message = exc.message if isinstance(exc, TransferError) else str(exc)
        err = TransferError(message, job.source.name, chunk.describe())
    return err


def write_failed(target: Dialect, batch: Batch, exc: Exception) -> DmtError | None:
    """A lost target connection or a full local disk while writing ``batch``, naming its table
    and key range; None for any other error (it goes on up as it is)."""
    err = target.translate_error(exc, "write failed", batch.job.source.name, batch.chunk.describe())
    if isinstance(err, ConnectionLost | DiskFull) and err is not exc:
        return err
    return None


def with_key_range(exc: BaseException, batch: Batch | None) -> BaseException:
    """The error a writer hit, naming the batch's table and key range when it does not yet."""
    if batch is not None and isinstance(exc, DmtError) and not isinstance(exc, Cancelled):
        if isinstance(exc, TransferError) and exc.key_range is None:
            wrapped = TransferError(exc.message, batch.job.source.name, batch.chunk.describe())
            wrapped.__cause__ = exc.__cause__ or exc
            return wrapped
    elif batch is not None and not isinstance(exc, DmtError):
        wrapped = TransferError(
            f"{type(exc).__name__}: {exc}", batch.job.source.name, batch.chunk.describe()
        )
        wrapped.__cause__ = exc
        return wrapped
    return exc
