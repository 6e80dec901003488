"""Reading a config: YAML, ``${env:NAME}`` / ``${file:path}`` expansion per scalar (never by
text substitution), and the sections validated into one :class:`~dmt.config.Config`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dmt.config.endpoints import read_endpoint
from dmt.config.options import check_keys, read_section, reference
from dmt.config.sections import AIConfig, Config, MigrationConfig, RayConfig, TypeOverrides
from dmt.errors import ConfigError, DmtIOError

TOP_KEYS = ("source", "target", "migration", "ai", "type_overrides", "ray")

_REF = re.compile(r"\$\{(env|file):([^}]*)\}")


def _expand(value: Any, key: str, base_dir: Path) -> Any:
    """Expand ``${env:X}`` and ``${file:path}`` in every scalar string, recursively."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else str(k), base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]", base_dir) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2).strip()
        if kind == "env":
            if name not in os.environ:
                raise ConfigError(key, f"environment variable `{name}` is not set")
            return os.environ[name]
        path = (base_dir / os.path.expanduser(name)).resolve()
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(key, f"cannot read file `{name}` ({exc.strerror})") from None

    return _REF.sub(sub, value)


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(name, f"must be a mapping of keys, not `{value}`")
    return value


def _type_overrides(raw: Mapping[str, Any]) -> TypeOverrides:
    sec = _section(raw, "type_overrides")
    check_keys(sec, ("columns", "types"), "type_overrides")
    out: dict[str, dict[str, str]] = {}
    for part in ("columns", "types"):
        m = sec.get(part) or {}
        if not isinstance(m, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in m.items()
        ):
            raise ConfigError(f"type_overrides.{part}", "must map names to target type strings")
        if part == "columns":
            for k in m:
                if "." not in k:
                    raise ConfigError(
                        f"type_overrides.columns.{k}", "must be written `table.column`"
                    )
        out[part] = {k.lower() if part == "types" else k: v for k, v in m.items()}
    return TypeOverrides(columns=out["columns"], types=out["types"])


def build_config(raw: Any, base_dir: Path | None = None) -> Config:
    """Validate a parsed YAML document into a :class:`Config`."""
    base_dir = base_dir or Path.cwd()
    if not isinstance(raw, dict):
        raise ConfigError("", "the config file must be a YAML mapping with `source` and `target`")
    check_keys(raw, TOP_KEYS, "")
    raw = _expand(raw, "", base_dir)
    migration = read_section(_section(raw, "migration"), MigrationConfig, "migration")
    ai_raw = dict(_section(raw, "ai"))
    if ai_raw.get("provider") is None and os.environ.get("DMT_AI_PROVIDER"):
        ai_raw["provider"] = os.environ["DMT_AI_PROVIDER"].strip().lower()
    if ai_raw.get("api_key") is None and os.environ.get("DMT_AI_API_KEY"):
        ai_raw["api_key"] = os.environ["DMT_AI_API_KEY"]
    ai = read_section(ai_raw, AIConfig, "ai")
    ray = read_section(_section(raw, "ray"), RayConfig, "ray")
    if migration.get("executor") == "ray":
        _check_ray(ray.get("address", "auto"))
    source = read_endpoint(raw, "source", base_dir)
    target = read_endpoint(raw, "target", base_dir)
    if source == target:
        raise ConfigError("target", "is the same database as the source")
    return Config(
        source=source,
        target=target,
        migration=MigrationConfig(**migration),
        ai=AIConfig(**ai),
        type_overrides=_type_overrides(raw),
        ray=RayConfig(**ray),
    )


_RAY_ADDRESS = re.compile(r"^(auto|local|ray://[^\s:/]+:\d{1,5}|[^\s:/]+:\d{1,5})$")


def _check_ray(address: str) -> None:
    """``executor: ray`` needs the Ray extra (looked for, not imported) and an address."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("migration.executor", '`ray` needs Ray installed: pip install "dmt[ray]"')
    if not _RAY_ADDRESS.match(str(address)):
        raise ConfigError(
            "ray.address", f"`{address}` is not `auto`, `local`, `ray://host:port` or `host:port`"
        )


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "", f"config file `{p}` does not exist (create one with `dmt init`)"
        ) from None
    except OSError as exc:
        raise DmtIOError(f"cannot read config file `{p}`: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"`{p}` is not valid YAML{where}: {problem}") from None
    return build_config(raw, p.parent.resolve())


def reference_rows() -> list[tuple[str, str, str, str]]:
    """(key, default, bounds, meaning) for every option: the README's config reference."""
    return (
        reference("migration", MigrationConfig)
        + reference("ai", AIConfig)
        + reference("ray", RayConfig)
    )


def write_template(output: Path, force: bool) -> None:
    """``dmt init``: the commented config template written to ``output``."""
    if output.exists() and not force:
        raise ConfigError("", f"`{output}` exists; use --force to overwrite it")
    from importlib import resources

    text = resources.files("dmt").joinpath("data/config-template.yaml").read_text("utf-8")
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DmtIOError(f"cannot write `{output}`: {exc.strerror}") from None
