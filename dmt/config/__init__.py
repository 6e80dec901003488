"""YAML -> one frozen, validated :class:`Config`, built once and passed down in pieces.

Every key, its default, bounds and meaning is declared once, as a field of its section
(:mod:`.sections`, with :func:`.options.option`); the same declarations validate a config and
print the README's reference. Every error is one :class:`~dmt.errors.ConfigError` line naming
the key path, the value and what is allowed.

- :mod:`.options`: how one key is declared, coerced and documented
- :mod:`.sections`: the ``migration:`` and ``ai:`` sections and the whole :class:`Config`
- :mod:`.endpoints`: ``source:`` / ``target:``, urls, engine defaults from the registry
- :mod:`.load`: YAML, ``${env:X}`` / ``${file:path}`` expansion, :func:`build_config`
"""

from dmt.config.endpoints import Endpoint
from dmt.config.load import build_config, load_config, reference_rows, write_template
from dmt.config.options import parse_duration
from dmt.config.sections import AIConfig, Config, MigrationConfig, RayConfig, TypeOverrides

__all__ = [
    "AIConfig",
    "Config",
    "Endpoint",
    "MigrationConfig",
    "RayConfig",
    "TypeOverrides",
    "build_config",
    "load_config",
    "parse_duration",
    "reference_rows",
    "write_template",
]
