"""The command line (typer). The only module that knows exit codes.

stdout carries results only (the summary, or one JSON object with ``--output-json``);
logs and errors go to stderr, so a cron job can parse stdout without filtering.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

# typer >= 0.29 vendors click; its UsageError is what a bad command line raises
from typer._click.exceptions import UsageError

from dmt import __version__
from dmt.errors import ConfigError, DmtError, DmtIOError, ValidationMismatch

app = typer.Typer(
    name="dmt",
    help="Migrate whole databases (schema and data) between PostgreSQL, MySQL/MariaDB and SQLite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Verbosity(StrEnum):
    debug = "debug"
    info = "info"
    warn = "warn"
    error = "error"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
VerbosityOpt = Annotated[Verbosity, typer.Option("--verbosity", "-v", help="Log detail on stderr.")]
LogFormatOpt = Annotated[LogFormat, typer.Option("--log-format", help="Log lines as text or JSON.")]
JsonOpt = Annotated[
    bool, typer.Option("--output-json", help="Print one JSON object on stdout, nothing else.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dmt {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """dmt: database migration tool. Start with `dmt init`, then `dmt plan -c config.yaml`."""


def _setup(verbosity: Verbosity, log_format: LogFormat, output_json: bool) -> None:
    from dmt.logs import setup_logging

    setup_logging(verbosity.value, log_format.value)


def _load(config: Path) -> Any:
    from dmt.config import load_config
    from dmt.logs import redact

    cfg = load_config(config)
    redact.add(*cfg.secrets())
    return cfg


def _fail(exc: DmtError, output_json: bool, result: dict[str, Any] | None = None) -> None:
    from dmt.logs import redact

    message = redact(str(exc))
    typer.echo(f"error: {message}", err=True)
    if output_json:
        out = result or {}
        out.update({"status": "failed", "error": message, "exit_code": exc.exit_code})
        if isinstance(exc, ValidationMismatch):
            out["status"] = "validation_mismatch"
            out["mismatches"] = [redact(m) for m in exc.mismatches]
        typer.echo(json.dumps(out, default=str))
    raise typer.Exit(exc.exit_code)


def _emit(obj: dict[str, Any]) -> None:
    from dmt.logs import redact

    typer.echo(redact(json.dumps(obj, default=str, ensure_ascii=False)))


@app.command()
def run(
    config: ConfigOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Migrate schema and data as the config says."""
    if dry_run:
        return plan(config, output_json, verbosity, log_format)
    _migrate(config, output_json, verbosity, log_format, resume=False, force=False)


@app.command()
def resume(
    config: ConfigOpt,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the config changed.")
    ] = False,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Continue the latest unfinished run into this target, chunk by chunk."""
    _migrate(config, output_json, verbosity, log_format, resume=True, force=force)


def _migrate(
    config: Path,
    output_json: bool,
    verbosity: Verbosity,
    log_format: LogFormat,
    resume: bool,
    force: bool,
) -> None:
    _setup(verbosity, log_format, output_json)
    from dmt.run import execute
    from dmt.signals import signals_to

    abort = threading.Event()
    try:
        cfg = _load(config)
        with signals_to(abort):
            result = execute(
                cfg,
                reporter_factory=_reporter_factory(output_json),
                abort=abort,
                resume=resume,
                force=force,
            )
    except ValidationMismatch as exc:
        res = exc.result.to_json() if exc.result is not None else None  # type: ignore[attr-defined]
        _fail(exc, output_json, res)
    except DmtError as exc:
        _fail(exc, output_json)
    if output_json:
        _emit(result.to_json())
    else:
        typer.echo(result.text())


def _reporter_factory(output_json: bool) -> Any:
    from dmt.progress import LogReporter, NullReporter, RichReporter

    def make(total: int) -> Any:
        if output_json:
            return NullReporter()
        if sys.stderr.isatty():
            return RichReporter(total)
        return LogReporter(total)

    return make


@app.command()
def plan(
    config: ConfigOpt,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Show what `run` would do: tables, row estimates, types, what is dropped or created."""
    _setup(verbosity, log_format, output_json)
    from dmt.plan import make_plan

    try:
        p = _load(config)
        the_plan = make_plan(p)
    except DmtError as exc:
        _fail(exc, output_json)
    data = the_plan.to_dict()
    if output_json:
        _emit(data)
        return
    lines = [f"Plan: {data['source']} -> {data['target']}"]
    for t in data["tables"]:
        lines.append(
            f"  {t['source']} -> {t['target']}  (~{t['rows_estimate']:,} rows, "
            f"{len(t['columns'])} columns, key: {', '.join(t['primary_key']) or 'none'})"
        )
    for label, key in (
        ("drop", "will_drop"),
        ("create", "will_create"),
        ("empty", "will_empty"),
        ("append to", "will_append"),
    ):
        if data[key]:
            lines.append(f"Will {label}: {', '.join(data[key])}")
    nm = data["not_migrated"]
    for kind in ("views", "triggers", "routines"):
        if nm[kind]:
            lines.append(f"Not migrated ({kind}): {', '.join(nm[kind])}")
    for w in data["warnings"]:
        lines.append(f"Warning: {w}")
    _emit_text("\n".join(lines))


def _emit_text(text: str) -> None:
    from dmt.logs import redact

    typer.echo(redact(text))


@app.command()
def status(
    config: ConfigOpt,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.warn,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Connect to source and target: engine, server version, latency, table count."""
    _setup(verbosity, log_format, output_json)
    from dmt.dialects.base import get_dialect

    try:
        cfg = _load(config)
    except DmtError as exc:
        _fail(exc, output_json)
    out: dict[str, Any] = {}
    failed = False
    for side, ep in (("source", cfg.source), ("target", cfg.target)):
        info: dict[str, Any] = {"endpoint": ep.describe(), "engine": ep.engine}
        try:
            d = get_dialect(ep, side)
            conn = d.connect()
            try:
                t0 = time.perf_counter()
                d.ping(conn)
                info["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
                info["server_version"] = d.server_version(conn)
                info["tables"] = len(d.existing_tables(conn))
                info["ok"] = True
            finally:
                conn.close()
        except DmtError as exc:
            from dmt.logs import redact

            info.update(ok=False, error=redact(str(exc)))
            failed = True
        out[side] = info
    if output_json:
        _emit(out)
    else:
        for side, info in out.items():
            if info["ok"]:
                typer.echo(
                    f"{side}: {info['endpoint']}  {info['server_version']}  "
                    f"latency {info['latency_ms']} ms  {info['tables']} table(s)"
                )
            else:
                typer.echo(f"{side}: {info['endpoint']}  FAILED: {info['error']}")
    if failed:
        raise typer.Exit(2)


class ValidateMode(StrEnum):
    count = "count"  # type: ignore[assignment]  # str.count; the value is what counts
    checksum = "checksum"


@app.command()
def validate(
    config: ConfigOpt,
    mode: Annotated[
        ValidateMode | None,
        typer.Option(
            "--mode",
            help="count: exact row counts; checksum: content hashes per key-range chunk. "
            "Default: migration.validate from the config (count when it is `none`).",
        ),
    ] = None,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Compare source and target table by table; exit 4 on a mismatch."""
    _setup(verbosity, log_format, output_json)
    from dmt.plan import make_plan
    from dmt.signals import signals_to
    from dmt.validate import validate as run_validation

    abort = threading.Event()
    try:
        cfg = _load(config)
        m = cfg.migration
        how = mode.value if mode else (m.validate if m.validate != "none" else "count")
        p = make_plan(cfg)
        existing = set(p.target_actions.dropped) | set(p.target_actions.emptied)
        existing |= set(p.target_actions.kept)
        missing = [t.target.name for t in p.tables if t.target.name not in existing]
        if missing:
            raise ValidationMismatch([f"table `{m}` does not exist on the target" for m in missing])
        with signals_to(abort):
            report = run_validation(
                p.source, p.target, p.tables, how,
                chunk_size=m.chunk_size, tables_in_flight=m.tables_in_flight, abort=abort,
            )  # fmt: skip
        if report.mismatches:
            raise ValidationMismatch(report.mismatches, result=_ValidationResult(report))
    except ValidationMismatch as exc:
        res = exc.result.to_json() if isinstance(exc.result, _ValidationResult) else None
        _fail(exc, output_json, res)
    except DmtError as exc:
        _fail(exc, output_json)
    if output_json:
        _emit({"status": "ok", "mode": how, "tables": report.to_json()})
    else:
        for t in report.tables:
            what = "rows" if how == "count" else f"rows, {t.chunks} chunk(s) with equal checksums"
            typer.echo(f"{t.table}: {t.source_rows} {what} on both sides")


class _ValidationResult:
    """A validation report where ``ValidationMismatch.result`` expects a run result."""

    def __init__(self, report: Any) -> None:
        self.report = report

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.report.mode, "tables": self.report.to_json()}


@app.command()
def init(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write.")] = Path(
        "config.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config template."""
    if output.exists() and not force:
        typer.echo(f"error: `{output}` exists; use --force to overwrite it", err=True)
        raise typer.Exit(ConfigError.exit_code)
    text = resources.files("dmt").joinpath("data/config-template.yaml").read_text("utf-8")
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write `{output}`: {exc.strerror}", err=True)
        raise typer.Exit(DmtIOError.exit_code) from None
    typer.echo(f"wrote {output}; edit it, then run `dmt plan -c {output}`")


@app.command()
def history(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config whose state_dir to read.")
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Show one run in detail.")] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="State folder (default ~/.dmt).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="With --run: chart throughput, writers and chunk size over time with each "
            "decision marked; .svg, .html (no dependency) or .png (needs matplotlib).",
        ),
    ] = None,
    output_json: JsonOpt = False,
) -> None:
    """List past runs, or show one run's tables and runtime decisions."""
    from dmt.history import plot_run, render_run, render_runs
    from dmt.state import StateStore

    try:
        if plot is not None and not run_id:
            raise ConfigError("--plot", "needs --run ID (see `dmt history` for the ids)")
        folder = state_dir or (_load(config).migration.state_dir if config else Path("~/.dmt"))
        store = StateStore(folder)
        try:
            text, data = render_run(store, run_id) if run_id else render_runs(store)
            if plot is not None and run_id:
                written = plot_run(store, run_id, plot)
                text += f"\nchart written to {written}"
                data["plot"] = str(written)
        finally:
            store.close()
    except DmtError as exc:
        _fail(exc, output_json)
    if output_json:
        _emit(data)
    else:
        _emit_text(text)


def _one_malloc_arena() -> None:
    """glibc gives every thread that allocates its own malloc arena and keeps what each frees;
    with the columnar readers' and writers' threads that was 190 MB of peak RSS on the wide
    benchmark table (462 MB vs 270 MB, same speed). One arena keeps memory near the budget."""
    if sys.platform != "linux":
        return
    import contextlib
    import ctypes

    # the process's own symbols (no find_library: it runs ldconfig at every start)
    with contextlib.suppress(OSError, AttributeError):  # not glibc: no mallopt
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX


def main() -> None:
    """Console-script entry: usage errors exit 1 with one line, never click's exit 2."""
    _one_malloc_arena()
    try:
        rv = app(standalone_mode=False)
    except UsageError as exc:
        if not exc.format_message().strip():  # bare `dmt`: help was printed
            sys.exit(0)
        hint = f" (see `dmt {exc.ctx.info_name} --help`)" if exc.ctx and exc.ctx.parent else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(1)
    except typer.Abort:
        typer.echo("error: cancelled", err=True)
        sys.exit(5)
    sys.exit(rv if isinstance(rv, int) else 0)
