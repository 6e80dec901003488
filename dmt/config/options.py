"""How one config key is declared, read and documented.

A section is a frozen dataclass whose fields are declared with :func:`option`: the field's
name, type and default, and in its metadata the key's kind, bounds and the sentence the
README's reference prints. :func:`read_section` validates a YAML mapping against those
fields, and :func:`reference` lists them, so every key is written down once.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmt.errors import ConfigError

KINDS = ("int", "bool", "str", "choice", "duration", "globs", "path", "mb")


@dataclass(frozen=True)
class Opt:
    """One config key: default (as a config would write it), kind and bounds, and the
    sentence the reference prints. ``key`` is the YAML name when it differs from the field's."""

    default: Any
    kind: str  # one of KINDS
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    key: str | None = None


def option(
    default: Any,
    kind: str,
    doc: str,
    low: float | None = None,
    high: float | None = None,
    *,
    choices: tuple[str, ...] = (),
    key: str | None = None,
    factory: Callable[[], Any] | None = None,
    repr: bool = True,
) -> Any:
    """A dataclass field declaring one key. ``factory`` computes the default when the config
    leaves the key out (the reference then shows no default)."""
    assert kind in KINDS, kind
    opt = Opt(default, kind, doc, low, high, choices, key)
    meta = {"opt": opt}
    if factory is None:
        if kind == "path":
            return dataclasses.field(
                default_factory=lambda: _path(default), metadata=meta, repr=repr
            )
        return dataclasses.field(default=default, metadata=meta, repr=repr)
    return dataclasses.field(default_factory=factory, metadata=meta, repr=repr)


def options(section: type) -> list[tuple[str, Opt]]:
    """(field name, declaration) of every key of a section class, in declaration order."""
    return [(f.name, f.metadata["opt"]) for f in dataclasses.fields(section) if "opt" in f.metadata]


def key_of(name: str, opt: Opt) -> str:
    return opt.key or name


def read_section(section: Mapping[str, Any], cls: type, path: str) -> dict[str, Any]:
    """The keyword arguments of ``cls`` for a YAML mapping: unknown keys and bad values fail
    naming their key path; keys left out (or null) keep the field's default."""
    declared = options(cls)
    check_keys(section, [key_of(n, o) for n, o in declared], path)
    out = {}
    for name, opt in declared:
        key = key_of(name, opt)
        if section.get(key) is not None:
            out[name] = coerce(opt, section[key], f"{path}.{key}")
    return out


def did_you_mean(key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown key `{key}`{hint} (known: {', '.join(known)})"


def check_keys(section: Mapping[str, Any], known: tuple[str, ...] | list[str], path: str) -> None:
    """Fail on the first key of ``section`` not in ``known``, suggesting the closest."""
    for k in section:
        if k not in known:
            raise ConfigError(f"{path}.{k}" if path else str(k), did_you_mean(str(k), known))


def parse_duration(value: Any, key: str) -> float:
    """``30s``, ``2m``, ``1h``, ``500ms`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(key, f"`{value}` is not a duration (use 30s, 2m, 1h or seconds)")
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not m:
        raise ConfigError(key, f"`{value}` is not a duration (use 30s, 2m, 1h or seconds)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


def coerce(opt: Opt, value: Any, key: str) -> Any:
    """``value`` as the key's kind, inside its bounds; else a ConfigError naming ``key``."""
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, f"`{value}` is not a boolean (use true or false)")
        return value
    if opt.kind in ("int", "mb"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"`{value}` is not a whole number")
        out: Any = value
    elif opt.kind == "duration":
        out = parse_duration(value, key)
    elif opt.kind == "choice":
        if value not in opt.choices:
            raise ConfigError(key, f"`{value}` is not one of {', '.join(opt.choices)}")
        return value
    elif opt.kind == "globs":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"`{value}` is not a list of table-name globs")
        return tuple(value)
    elif opt.kind == "path":
        if not isinstance(value, str) or not value:
            raise ConfigError(key, f"`{value}` is not a folder path")
        return _path(value)
    else:
        if value is not None and not isinstance(value, str):
            raise ConfigError(key, f"`{value}` is not a string")
        return value
    if opt.min is not None and out < opt.min:
        raise ConfigError(key, f"{value} is below the minimum {_num(opt.min)}")
    if opt.max is not None and out > opt.max:
        raise ConfigError(key, f"{value} is above the maximum {_num(opt.max)}")
    return out


def _path(value: str) -> Path:
    return Path(os.path.expanduser(value))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def reference(section: str, cls: type) -> list[tuple[str, str, str, str]]:
    """(key, default, bounds, meaning) of every key of a section, as the README prints them."""
    rows = []
    for name, opt in options(cls):
        bounds = (
            " / ".join(opt.choices)
            if opt.choices
            else f"{_num(opt.min)}–{_num(opt.max)}"
            if opt.min is not None and opt.max is not None
            else ""
        )
        default = "" if opt.default is None else str(opt.default)
        if isinstance(opt.default, bool):
            default = str(opt.default).lower()
        elif isinstance(opt.default, tuple):
            default = "[]"
        elif opt.kind == "duration":
            default = f"{_num(opt.default)}s"
        rows.append((f"{section}.{key_of(name, opt)}", default, bounds, opt.doc))
    return rows
