"""typer without pydantic: dmt's options converted plainly (see :func:`plain_coercion`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from typer._click.exceptions import BadParameter


def plain_coercion(command: Any) -> None:
    """typer coerces options (``--help`` included) through pydantic TypeAdapters, and importing
    pydantic and building those is ~80 ms of every start. dmt's options are paths, strings,
    flags, integers and choices: a plain conversion gives the same values and typer's own
    message for a bad choice. An option of another type, or another typer, keeps typer's
    coercion."""
    try:
        from typer._click import Context
        from typer._coercion import RuntimeParam
        from typer._param_types import coerce_cli_choice
    except ImportError:
        return

    class Plain(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = self.annotation
            if isinstance(value, kind):
                return value
            if kind is bool:  # a flag: only an environment variable could give it text
                return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "on")
            if kind is int:
                return _integer(value, self.parameter_info, ctx, param)
            if not issubclass(kind, Enum):
                return kind(value)
            try:
                sensitive = self.parameter_info.case_sensitive
                return coerce_cli_choice(value, choices=list(kind), case_sensitive=sensitive)
            except ValueError as exc:
                raise BadParameter(str(exc), ctx=ctx, param=param) from None

    for cmd in [command, *getattr(command, "commands", {}).values()]:
        helper = cmd.get_help_option(Context(cmd))  # made once per command, on first use
        for param in [*cmd.params, *([helper] if helper is not None else [])]:
            kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if kind in (Path, str, bool, int) or (
                isinstance(kind, type) and issubclass(kind, Enum)
            ):
                param._runtime_param = Plain(param.type_descriptor.parameter_info, kind)


def _integer(value: Any, info: Any, ctx: Any, param: Any) -> int:
    """``value`` as an integer within the option's ``min``/``max``."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadParameter(f"'{value}' is not a whole number", ctx=ctx, param=param) from None
    lo, hi = getattr(info, "min", None), getattr(info, "max", None)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise BadParameter(f"{n} is not between {lo} and {hi}", ctx=ctx, param=param)
    return n
