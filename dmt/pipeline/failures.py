"""How the pipeline names a failure: the table and key range it hit, the side that was lost."""

from __future__ import annotations

from dmt.dialects.base import Dialect
from dmt.errors import (
    Cancelled,
    ConnectionLost,
    DmtError,
    TransferError,
    connection_lost,
    first_line,
)
from dmt.model.job import Batch, TableJob


def planning_failed(source: Dialect, job: TableJob, exc: Exception) -> DmtError:
    """A driver error while planning a table's key ranges, naming the table."""
    if connection_lost(exc):
        where = f"planning table `{job.source.name}`"
        return ConnectionLost("source", f"{where}: {first_line(exc)}")
    msg = f"planning failed: {source.translate_error(exc)}"
    return TransferError(msg, job.source.name)


def write_failed(batch: Batch, exc: Exception) -> DmtError | None:
    """A lost target connection while writing ``batch``, naming its table and key range;
    None for any other error (it goes on up as it is)."""
    if connection_lost(exc) and not isinstance(exc, ConnectionLost):
        where = f"writing table `{batch.job.source.name}` {batch.chunk.describe()}"
        return ConnectionLost("target", f"{where}: {first_line(_root(exc))}")
    return None


def with_key_range(exc: BaseException, batch: Batch | None) -> BaseException:
    """The error a writer hit, naming the batch's table and key range when it does not yet."""
    if batch is not None and isinstance(exc, DmtError) and not isinstance(exc, Cancelled):
        if isinstance(exc, TransferError) and exc.key_range is None:
            wrapped = TransferError(
                str(exc).split(": ", 1)[-1], batch.job.source.name, batch.chunk.describe()
            )
            wrapped.__cause__ = exc.__cause__ or exc
            return wrapped
    elif batch is not None and not isinstance(exc, DmtError):
        wrapped = TransferError(
            f"{type(exc).__name__}: {exc}", batch.job.source.name, batch.chunk.describe()
        )
        wrapped.__cause__ = exc
        return wrapped
    return exc


def _root(exc: BaseException) -> BaseException:
    """The driver error at the bottom of a translated error's cause chain."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc
