"""dmt — migrate whole relational databases between PostgreSQL, MySQL/MariaDB and SQLite.

Data flow (rows never flow back)::

    source ─reflect─▶ schema model ─map types─▶ target DDL (tables + PK)
      └─ plan: tables → key-range chunks ─▶ readers (parallel_readers per table)
           ─▶ read-ahead queue (bounded) ─▶ DynamicWriterPool (COPY · LOAD DATA · batched tx)
           ─▶ target ─finalize─▶ indexes, FKs, sequences ─▶ validate ─▶ report

Control flow (runtime adjustment)::

    pipeline counters + psutil ─▶ MetricsCollector ─▶ AIAdjuster (Claude) / fallback rules
      ─▶ validate + clamp ─▶ one-slot UpdateSlot ─▶ pipeline applies at safe boundaries
"""

__version__ = "0.1.0"
