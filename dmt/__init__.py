"""dmt — migrate whole relational databases between PostgreSQL, MySQL/MariaDB and SQLite.

Data flow (rows never flow back)::

    source ─reflect─▶ schema model ─map types─▶ target DDL (tables + PK)
      └─ plan: tables → key-range chunks ─▶ readers (parallel_readers per table)
           ─▶ read-ahead queue (bounded) ─▶ DynamicWriterPool (COPY · LOAD DATA · batched tx)
           ─▶ target ─finalize─▶ indexes, FKs, sequences ─▶ validate ─▶ report

Control flow (runtime adjustment)::

    pipeline counters + psutil ─▶ tuning.metrics ─▶ tuning.controller (rules) / tuning.claude
      ─▶ validate + clamp ─▶ one-slot UpdateSlot ─▶ pipeline applies at safe boundaries

The house, one layer per folder; a layer imports only the layers below it
(``tests/test_layers.py`` holds the rules)::

    cli.py proc.py              typer, the only module that knows exit codes; process start and exit
    run.py plan.py signals.py   the orchestrator: connect → plan → create → copy → finalize
    checkpoint.py checks.py     chunk checkpoints for the pipeline; status and validate commands
    tuning/                     metrics, the rules controller in parts, the Claude adviser
    pipeline/                   chunk planning, readers, queue, writer pool, executor seam
    validate/ state/            count and checksum validation; the state store
    paths/                      how one key range moves: row path, pass-through, columnar
    schema/                     type mapping, expressions and defaults, DDL planning
    dialects/                   one package per engine behind base.py; the engine registry
    config/ settings.py         the validated Config; the runtime knobs and their bounds
    model/ errors.py            plain values (schema, key ranges, jobs, batches); DmtError
"""

__version__ = "0.1.0"
