"""The command line (typer). The only module that knows exit codes.

stdout carries results only (the summary, or one JSON object with ``--output-json``);
logs and errors go to stderr, so a cron job can parse stdout without filtering.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

# typer >= 0.29 vendors click; its UsageError is what a bad command line raises
from typer._click.exceptions import UsageError

from dmt import __version__
from dmt.errors import ConfigError, DmtError, ValidationMismatch
from dmt.proc import exit_now, one_malloc_arena
from dmt.typer_plain import plain_coercion

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
MetricsOpt = Annotated[
    int | None,
    typer.Option("--metrics-port", min=1, max=65535, help="Serve live Prometheus metrics on "
                 "this port (default: migration.metrics_port; address: migration.metrics_host)."),
]  # fmt: skip


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


@contextmanager
def _command(
    output_json: bool, verbosity: Verbosity | None = None, log_format: LogFormat = LogFormat.text
) -> Iterator[None]:
    """Every command's preamble: logging set up on stderr, and a DmtError turned into one
    ``error:`` line, the JSON object (with ``--output-json``) and its exit code."""
    if verbosity is not None:
        from dmt.logs import setup_logging

        setup_logging(verbosity.value, log_format.value)
    try:
        yield
    except DmtError as exc:
        result: Any = exc.result if isinstance(exc, ValidationMismatch) else None
        _fail(exc, output_json, result.to_json() if result is not None else None)


def _load(config: Path) -> Any:
    from dmt.config import load_config
    from dmt.logs import redact

    cfg = load_config(config)
    redact.add(*cfg.secrets())
    return cfg


def _fail(exc: DmtError, output_json: bool, result: dict[str, Any] | None = None) -> NoReturn:
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


def _emit(out: dict[str, Any] | str) -> None:
    """A result on stdout (a JSON object, or text), secrets redacted."""
    from dmt.logs import redact

    text = out if isinstance(out, str) else json.dumps(out, default=str, ensure_ascii=False)
    typer.echo(redact(text))


@app.command()
def run(
    config: ConfigOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
    metrics_port: MetricsOpt = None,
) -> None:
    """Migrate schema and data as the config says."""
    if dry_run:
        return plan(config, output_json, verbosity, log_format)
    _migrate(config, output_json, verbosity, log_format, False, False, metrics_port)


@app.command()
def resume(
    config: ConfigOpt,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the config changed.")
    ] = False,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
    metrics_port: MetricsOpt = None,
) -> None:
    """Continue the latest unfinished run into this target, chunk by chunk."""
    _migrate(config, output_json, verbosity, log_format, True, force, metrics_port)


def _migrate(
    config: Path,
    output_json: bool,
    verbosity: Verbosity,
    log_format: LogFormat,
    resume: bool,
    force: bool,
    metrics_port: int | None,
) -> None:
    with _command(output_json, verbosity, log_format):
        from dataclasses import replace

        from dmt.progress import reporter_factory
        from dmt.run import execute
        from dmt.signals import signals_to

        abort = threading.Event()
        cfg = _load(config)
        if metrics_port is not None:  # the option wins over the config key
            cfg = replace(cfg, migration=replace(cfg.migration, metrics_port=metrics_port))
        with signals_to(abort):
            result = execute(
                cfg, reporter_factory=reporter_factory(quiet=output_json), abort=abort,
                resume=resume, force=force,
            )  # fmt: skip
    if output_json:
        _emit(result.to_json())
    else:
        typer.echo(result.text())


@app.command()
def plan(
    config: ConfigOpt,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Show what `run` would do: tables, row estimates, types, what is dropped or created."""
    with _command(output_json, verbosity, log_format):
        from dmt.learning import plan_data
        from dmt.report import plan_text

        data = plan_data(_load(config))
    if output_json:
        _emit(data)
    else:
        _emit(plan_text(data, verbose=verbosity == Verbosity.debug))


@app.command()
def status(
    config: ConfigOpt,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.warn,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Connect to source and target: engine, server version, latency, table count."""
    with _command(output_json, verbosity, log_format):
        from dmt.checks import probe

        cfg = _load(config)
        out = {
            side: probe(ep, side) for side, ep in (("source", cfg.source), ("target", cfg.target))
        }
        from dmt.report import status_text

    _emit(out if output_json else status_text(out))
    if not all(info["ok"] for info in out.values()):
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
    with _command(output_json, verbosity, log_format):
        from dmt.checks import validate_target
        from dmt.report import validate_text

        how, report = validate_target(_load(config), mode.value if mode else None)
    if output_json:
        seconds = round(report.seconds, 3)
        _emit({"status": "ok", "mode": how, "seconds": seconds, "tables": report.to_json()})
    else:
        _emit(validate_text(how, report.tables))


@app.command()
def init(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write.")] = Path(
        "config.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config template."""
    with _command(output_json=False):
        from dmt.config import write_template

        write_template(output, force)
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
    learned: Annotated[bool, typer.Option(help="List what was learned of tables' copies.")] = False,
    forget: Annotated[bool, typer.Option(help="Forget everything learned.")] = False,
    output_json: JsonOpt = False,
) -> None:
    """List past runs, or show one run's tables and runtime decisions."""
    with _command(output_json):
        from dmt.history import show
        from dmt.learning import learned_view

        if plot is not None and not run_id:
            raise ConfigError("--plot", "needs --run ID (see `dmt history` for the ids)")
        folder = state_dir or (_load(config).migration.state_dir if config else Path("~/.dmt"))
        if learned or forget:
            text, data = learned_view(folder, forget)
        else:
            text, data = show(folder, run_id, plot)
    if output_json:
        _emit(data)
    else:
        _emit(text)


@app.command()
def calibrate(
    config: ConfigOpt,
    budget: Annotated[str, typer.Option(help="Time to measure for: 30s, 2m, seconds.")] = "60s",
    plot: Annotated[Path | None, typer.Option(help="Chart it: .svg, .html or .png.")] = None,
    output_json: JsonOpt = False,
    verbosity: VerbosityOpt = Verbosity.info,
) -> None:
    """Measure writers × chunk sizes on samples of the largest tables (scratch tables on the
    target, dropped afterwards) and keep the best as learned starts."""
    with _command(output_json, verbosity):
        from dmt.calibrate import run_calibration

        data, text = run_calibration(_load(config), budget, plot)
    _emit(data if output_json else text)


def main() -> None:
    """Console-script entry: usage errors exit 1 with one line, never click's exit 2."""
    one_malloc_arena()
    command = typer.main.get_command(app)
    plain_coercion(command)
    try:
        rv = command(standalone_mode=False)
    except UsageError as exc:
        if not exc.format_message().strip():  # bare `dmt`: help was printed
            exit_now(0)
        hint = f" (see `dmt {exc.ctx.info_name} --help`)" if exc.ctx and exc.ctx.parent else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)
        exit_now(1)
    except typer.Abort:
        typer.echo("error: cancelled", err=True)
        exit_now(5)
    exit_now(rv if isinstance(rv, int) else 0)
