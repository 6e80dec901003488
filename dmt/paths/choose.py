"""The one place that picks the data path of a table, from the two dialects' capabilities.

In order, the first that carries every column of the table exactly:

1. the binary COPY pass-through (:mod:`~dmt.paths.pg_binary`): no decoding at all, and none of
   the columnar libraries to load (0.3 s);
2. the text pass-through (:mod:`~dmt.paths.pg_text`): PostgreSQL's own text COPY is already
   what LOAD DATA reads;
3. the columnar path (:mod:`~dmt.paths.columnar`);
4. else the exact row path (:mod:`~dmt.paths.rows`): ``None`` here.

``mode`` is ``migration.data_path``: ``auto`` as above, ``no_columnar`` without the columnar
path, ``rows`` every table on the exact row path (troubleshooting).
"""

from __future__ import annotations

from dmt.dialects.base import Dialect
from dmt.paths.base import DataPath
from dmt.paths.pg_binary import choose_binary
from dmt.paths.pg_text import choose_text
from dmt.schema.translate import TablePlan

#: the values of ``migration.data_path``
MODES = ("auto", "no_columnar", "rows")


def choose(
    source: Dialect, target: Dialect, plan: TablePlan, mode: str = "auto"
) -> DataPath | None:
    """The fast data path for this table, or None for the exact row path."""
    if mode not in MODES:
        raise ValueError(f"unknown data path mode `{mode}` (known: {', '.join(MODES)})")
    if mode == "rows":
        return None
    passthrough = choose_binary(source, target, plan) or choose_text(source, target, plan)
    if passthrough is not None or mode == "no_columnar":
        return passthrough
    from dmt.paths.columnar import choose_columnar  # pyarrow's users, loaded only here

    return choose_columnar(source, target, plan)
