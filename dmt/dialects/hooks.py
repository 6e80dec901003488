"""What the data paths (:mod:`dmt.paths`) ask of a dialect: the capabilities
:func:`dmt.paths.choose.choose` reads to pick a table's path, and the hooks the paths call.

Default: not capable. The columnar hooks are implemented per engine in
``dmt/dialects/<engine>/columnar.py``; every flag here is read by :mod:`dmt.paths`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from dmt.dialects.sql import SqlDialect
from dmt.model.schema import Column, Table

if TYPE_CHECKING:
    import pyarrow as pa


class DataPathHooks(SqlDialect):
    """The data-path part of :class:`dmt.dialects.base.Dialect` (one base class of it)."""

    #: rows a one-writer target loads in one transaction while more batches wait (its write
    #: paths' commits wait on a held connection: :meth:`hold_commits`); 0: each batch commits
    commit_rows: ClassVar[int] = 0
    #: reads and writes PostgreSQL's binary COPY format (a pass-through needs it on both sides)
    copy_binary_passthrough: ClassVar[bool] = False
    #: streams PostgreSQL's text COPY format out (``COPY (SELECT …) TO STDOUT``)
    text_copy_out: ClassVar[bool] = False
    #: loads tab-separated text with backslash escapes and ``\N`` for NULL (:meth:`load_tsv`)
    tsv_load: ClassVar[bool] = False
    #: the library that reads this engine into Arrow batches: "connectorx", "adbc" (or
    #: "native": the engine's own driver returns Arrow, :meth:`columnar_fetch`) or None
    columnar_reader: ClassVar[str | None] = None
    #: the library that loads Arrow batches into this engine: "adbc", "tsv" (LOAD DATA of
    #: :meth:`columnar_encode`'s text), "native" (:meth:`columnar_write`) or None
    columnar_writer: ClassVar[str | None] = None

    def type_base(self, sql_type: str) -> str:
        """A type's name in one spelling, parameters stripped (``varchar(20)`` -> ``varchar``)."""
        return sql_type.strip().lower().split("(")[0].split(" ")[0]

    def same_type(self, a: str, b: str) -> bool:
        """Whether two spellings name the same type, parameters included."""
        return a.strip().lower() == b.strip().lower()

    def binary_copy_safe(self, sql_type: str) -> bool:
        """Whether a column of this type has the same binary COPY form on both sides of a
        pass-through between two engines with :attr:`copy_binary_passthrough`."""
        return False

    def copy_statement(self, sql: str) -> str:
        """``sql`` for a COPY run without parameters (with :attr:`copy_binary_passthrough`)."""
        raise NotImplementedError

    def local_infile_usable(self, conn: Any) -> bool:
        """Whether :meth:`load_tsv` works on this (target) connection."""
        return False

    def load_tsv(self, conn: Any, table: Table, write: Callable[[Any], None], expected: int) -> int:
        """Load the tab-separated rows ``write`` puts in a file and commit (:attr:`tsv_load`)."""
        raise NotImplementedError

    #: the columnar reader can read inside the run's snapshot (:meth:`columnar_begin`);
    #: else, while a snapshot is open, the columnar path is not chosen for this source
    columnar_in_snapshot: bool = False
    #: a snapshot of this source holds the copied tables still: writers to them wait
    snapshot_holds_writers: ClassVar[bool] = False

    def columnar_begin(self, conn: Any) -> None:
        """Start a transaction of a columnar reader connection inside the run's snapshot."""

    #: the modules :attr:`columnar_reader` / :attr:`columnar_writer` need
    columnar_modules: ClassVar[tuple[str, ...]] = ()

    def columnar_available(self) -> bool:
        """Whether every module in :attr:`columnar_modules` imports (none declared: no)."""
        if not self.columnar_modules:
            return False
        try:
            for name in self.columnar_modules:
                importlib.import_module(name)
        except ImportError:
            return False
        return True

    def columnar_url(self) -> str | None:
        """The endpoint as the columnar libraries take it; None when it cannot be spelled."""
        return None

    def columnar_connect(self) -> Any:
        """A new ADBC connection (``columnar_reader`` or ``columnar_writer`` "adbc")."""
        raise NotImplementedError

    def columnar_fetch(self, conn: Any, sql: str) -> pa.Table:
        """The whole result of ``sql`` as an Arrow table, on a :meth:`columnar_connect`
        connection (ADBC's cursor; a "native" reader overrides it)."""
        with conn.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        conn.commit()
        return table

    def columnar_write(self, conn: Any, table: Table, payload: pa.Table) -> int:
        """Load an Arrow batch on the pipeline's own (target) connection and commit; return
        the rows written (a "native" :attr:`columnar_writer`)."""
        raise NotImplementedError

    def columnar_kind(self, sql_type: str) -> str | None:
        """The canonical kind an Arrow column takes to be ingested into a column of this
        (target) type; None when the columnar writer does not carry it."""
        return None

    def columnar_carries(self, col: Column) -> bool:
        """Whether the columnar reader delivers this source column as the row path would."""
        return True

    def columnar_select_expr(self, col: Column) -> str:
        """How the columnar reader selects a column (the reader must not fail on a value)."""
        return self.quote(col.name)

    def exclusive_writes(self) -> AbstractContextManager[object]:
        """Held around every write to this target that may overlap another in the process
        (a columnar batch, a resume's cleanup); a no-op where the server arbitrates."""
        return contextlib.nullcontext()

    def columnar_encode(self, table: pa.Table) -> tuple[pa.Table | None, str | None]:
        """A batch as this (target) engine's ingest must receive it, or ``(None, why)`` when
        a value in it needs the row path (which would convert it)."""
        return table, None

    def columnar_guard(self, col: Column) -> str | None:
        """A condition true where a non-NULL value of this column is read as the row path
        reads it; None when every value qualifies by its type alone."""
        return None

    def columnar_query(self, sql: str) -> str:
        """The columnar reader's SELECT as this engine's reader must receive it."""
        return sql

    def chunk_digest(self, select: str) -> tuple[tuple[str, ...], str] | None:
        """``(session settings, query)``: the query sums up the rows of ``select`` in one row —
        their count and a digest — that two databases of this engine return equal when the
        rows' values are, for columns of the same type on both (the settings fix every output
        format the digest depends on); None when the engine cannot."""
        return None

    def _endpoint_url(self, scheme: str, default_port: int) -> str:
        """``scheme://user:password@host:port/database``, each part URL-quoted."""
        from urllib.parse import quote

        ep = self.endpoint
        user = quote(ep.user or "", safe="")
        password = quote(ep.password, safe="") if ep.password else ""
        auth = f"{user}:{password}@" if ep.password else (f"{user}@" if user else "")
        host = ep.host or ""
        port = f":{ep.port or default_port}" if host else ""
        return f"{scheme}://{auth}{host}{port}/{quote(ep.database or '', safe='')}"

    def hold_commits(self, conn: Any) -> None:
        """Make the write paths' commits on ``conn`` wait for :meth:`commit_held`."""
        raise NotImplementedError

    def commit_held(self, conn: Any) -> None:
        """Commit what the write paths loaded on a held connection since its last commit."""
        conn.commit()
