"""Config: good examples, bad ones naming their key, expansion, durations, urls."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config, load_config, parse_duration
from dmt.errors import ConfigError

GOOD: dict[str, Any] = {
    "source": {"type": "postgres", "database": "app", "password": "pw"},
    "target": {"type": "sqlite", "path": "out.db"},
}


def cfg(**overrides: Any) -> dict[str, Any]:
    raw = {k: dict(v) for k, v in GOOD.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition("__")
        raw.setdefault(section, {})
        if key:
            raw[section][key] = value
        else:
            raw[section] = value
    return raw


def test_defaults(tmp_path: Path) -> None:
    c = build_config(cfg(), tmp_path)
    assert c.source.engine == "postgres"
    assert (c.source.host, c.source.port, c.source.schema, c.source.user) == (
        "127.0.0.1", 5432, "public", "postgres",
    )  # fmt: skip
    assert c.target.path == str(tmp_path / "out.db")
    m = c.migration
    assert (m.tables_in_flight, m.chunk_size) == (4, 50_000)
    assert (m.read_ahead_buffers, m.target_mode) == (8, "drop_recreate")
    assert m.write_ahead_writers == max(2, min(4, os.cpu_count() or 2))
    assert m.parallel_readers == m.write_ahead_writers // 2
    assert m.ai_adjust is False and m.ai_adjust_interval == 30.0
    assert 64 <= m.max_memory_mb <= 256
    assert m.state_dir == Path("~/.dmt").expanduser()
    assert c.ai.provider == "claude" and c.ai.timeout == 10.0


@pytest.mark.parametrize(
    ("alias", "engine"),
    [("postgresql", "postgres"), ("pg", "postgres"), ("mariadb", "mysql"), ("MySQL", "mysql"),
     ("sqlite3", "sqlite")],
)  # fmt: skip
def test_engine_aliases(alias: str, engine: str, tmp_path: Path) -> None:
    ep = {"type": alias, "database": "d", "path": "x.db"}
    c = build_config(cfg(source=ep), tmp_path)
    assert c.source.engine == engine
    if engine == "mysql":
        assert c.source.port == 3306 and c.source.user == "root"


def test_url_fills_fields_and_hides_password(tmp_path: Path) -> None:
    c = build_config(cfg(source={"url": "mysql://app:s%40cret@db.example:3307/shop"}), tmp_path)
    s = c.source
    assert (s.engine, s.host, s.port, s.user, s.database) == (
        "mysql", "db.example", 3307, "app", "shop",
    )  # fmt: skip
    assert s.password == "s@cret"
    assert "s@cret" not in repr(c) and "s@cret" not in s.describe()
    assert "s@cret" in c.secrets()


def test_sqlite_url(tmp_path: Path) -> None:
    c = build_config(cfg(target={"url": "sqlite:///rel/out.db"}), tmp_path)
    assert c.target.path == str(tmp_path / "rel" / "out.db")


def test_env_and_file_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMT_T_PW", "from-env")
    (tmp_path / "pw.txt").write_text("from-file\n")
    raw = cfg(source__password="${env:DMT_T_PW}", source__user="${file:pw.txt}")
    raw["migration"] = {"chunk_size": "${env:DMT_T_CHUNK}"}
    monkeypatch.setenv("DMT_T_CHUNK", "20000")
    with pytest.raises(ConfigError, match="not a whole number"):
        build_config(raw, tmp_path)  # env values are strings: a number must be written as one
    del raw["migration"]
    c = build_config(raw, tmp_path)
    assert c.source.password == "from-env"
    assert c.source.user == "from-file"


def test_expansion_is_per_scalar_not_textual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a value containing YAML syntax must stay a plain string, not restructure the document
    monkeypatch.setenv("DMT_T_EVIL", "x\ntarget: {type: postgres}")
    c = build_config(cfg(source__password="${env:DMT_T_EVIL}"), tmp_path)
    assert c.source.password == "x\ntarget: {type: postgres}"
    assert c.target.engine == "sqlite"


def test_ai_env_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMT_AI_PROVIDER", "none")
    monkeypatch.setenv("DMT_AI_API_KEY", "sk-ant-test-1234567890")
    c = build_config(cfg(), tmp_path)
    assert c.ai.provider == "none"
    assert c.ai.api_key == "sk-ant-test-1234567890"
    assert "sk-ant-test" not in repr(c)
    c2 = build_config(cfg(ai={"provider": "claude", "api_key": "k-file"}), tmp_path)
    assert (c2.ai.provider, c2.ai.api_key) == ("claude", "k-file")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30.0), (1.5, 1.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5)],
)
def test_durations(value: Any, seconds: float) -> None:
    assert parse_duration(value, "k") == seconds


BAD = [
    # (overrides, key that must be named, words in the message)
    ({"migration__chunk_size": 0}, "migration.chunk_size", "0 is below the minimum 1000"),
    ({"migration__chunk_size": 600_000}, "migration.chunk_size", "above the maximum 500000"),
    ({"migration__workers": 33}, "migration.workers", "above the maximum 32"),
    ({"migration__workers": "four"}, "migration.workers", "not a whole number"),
    ({"migration__parallel_readers": 0}, "migration.parallel_readers", "minimum 1"),
    ({"migration__read_ahead_buffers": 65}, "migration.read_ahead_buffers", "maximum 64"),
    ({"migration__write_ahead_writers": 17}, "migration.write_ahead_writers", "maximum 16"),
    ({"migration__target_mode": "replace"}, "migration.target_mode", "drop_recreate"),
    ({"migration__validate": "full"}, "migration.validate", "count, checksum, none"),
    ({"migration__ai_adjust": "yes"}, "migration.ai_adjust", "not a boolean"),
    ({"migration__ai_adjust_interval": "soon"}, "migration.ai_adjust_interval", "duration"),
    ({"migration__ai_adjust_interval": "0s"}, "migration.ai_adjust_interval", "minimum 1"),
    ({"migration__chunksize": 1000}, "migration.chunksize", "did you mean `chunk_size`"),
    ({"migration__data_path": "fast"}, "migration.data_path", "auto, no_columnar, rows"),
    ({"migration__include_tables": 5}, "migration.include_tables", "globs"),
    ({"migration__max_memory_mb": 10}, "migration.max_memory_mb", "minimum 64"),
    ({"source__type": "oracle"}, "source.type", "unknown engine `oracle`"),
    ({"source__type": "postgress"}, "source.type", "did you mean `postgres`"),
    ({"source__port": 70000}, "source.port", "not a port number"),
    ({"source__database": None}, "source.database", "needs a database"),
    ({"source__hostname": "x"}, "source.hostname", "did you mean `host`"),
    ({"target": None}, "target", "missing section"),
    ({"target__path": None}, "target.path", "needs the file path"),
    ({"ai__provider": "openai"}, "ai.provider", "claude, none"),
    ({"ai__timeout": -1}, "ai.timeout", "below the minimum 0.1"),
    ({"sourc": {"type": "pg"}}, "sourc", "did you mean `source`"),
    ({"source__password": "${env:DMT_T_SURELY_UNSET}"}, "source.password", "DMT_T_SURELY_UNSET"),
    ({"source__password": "${file:/nonexistent/pw}"}, "source.password", "/nonexistent/pw"),
    ({"type_overrides": {"columns": {"nodot": "text"}}}, "type_overrides.columns.nodot", "table.column"),
    ({"migration": ["a"]}, "migration", "must be a mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "key", "words"), BAD, ids=[b[1] for b in BAD])
def test_bad_config_names_the_key(
    overrides: dict[str, Any], key: str, words: str, tmp_path: Path
) -> None:
    raw = cfg()
    for dotted, value in overrides.items():
        section, _, k = dotted.partition("__")
        if k:
            if raw.get(section) is None:
                raw[section] = {}
            if value is None:
                raw[section].pop(k, None)
            else:
                raw[section][k] = value
        else:
            raw[section] = value
    with pytest.raises(ConfigError) as info:
        build_config(raw, tmp_path)
    message = str(info.value)
    assert message.startswith(key + ":"), message
    assert words in message
    assert "\n" not in message


def test_same_database_twice_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="same database"):
        build_config(cfg(target=GOOD["source"]), tmp_path)


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="YAML mapping"):
        load_config(scalar)


def test_shipped_configs_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DMT_AI_API_KEY", "DMT_SOURCE_PASSWORD", "DMT_TARGET_PASSWORD"):
        monkeypatch.setenv(var, "k")
    root = Path(__file__).resolve().parents[1]
    paths = sorted((root / "configs").glob("*.yaml"))
    assert paths
    for p in paths:
        load_config(p)
    template = yaml.safe_load((root / "dmt" / "data" / "config-template.yaml").read_text())
    monkeypatch.setenv("SOURCE_PASSWORD", "x")
    build_config(template, root)


def test_selects_globs(tmp_path: Path) -> None:
    c = build_config(
        cfg(migration={"include_tables": ["post*", "users"], "exclude_tables": "posts_old"}),
        tmp_path,
    )
    sel = c.migration.selects
    assert sel("posts") and sel("users") and sel("post_links")
    assert not sel("posts_old") and not sel("votes")
