"""``migration.executor`` and the ``ray:`` section: defaults, bad values, Ray missing, and Ray
never imported by a run that does not ask for it. Unit tests: no database, no cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def raw(**sections: Any) -> dict[str, Any]:
    return {"source": {"type": "sqlite", "path": "a.db"}, "target": {"type": "sqlite",
            "path": "b.db"}, **sections}  # fmt: skip


def test_threads_by_default_and_ray_when_asked() -> None:
    cfg = build_config(raw())
    assert (cfg.migration.executor, cfg.ray.address, cfg.ray.range_retries) == (
        "threads",
        "auto",
        3,
    )
    cfg = build_config(raw(migration={"executor": "ray"}, ray={"address": "ray://head:10001",
                                                                "range_retries": 0}))  # fmt: skip
    assert (cfg.migration.executor, cfg.ray.address, cfg.ray.range_retries) == (
        "ray", "ray://head:10001", 0)  # fmt: skip
    for address in ("local", "10.1.2.3:6379", "auto"):
        assert build_config(raw(migration={"executor": "ray"}, ray={"address": address}))


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"migration": {"executor": "spark"}}, "migration.executor: `spark`"),
        ({"migration": {"executor": "ray"}, "ray": {"address": "http://x"}},
         "ray.address: `http://x` is not `auto`, `local`"),
        ({"ray": {"adress": "auto"}}, "did you mean `address`"),
        ({"ray": {"range_retries": -1}}, "ray.range_retries"),
    ],
)  # fmt: skip
def test_bad_values_name_their_key(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        build_config(raw(**sections))
    assert info.value.exit_code == 1


def test_ray_missing_is_a_config_error_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # how Python sees a package not installed
    with pytest.raises(ConfigError) as info:
        build_config(raw(migration={"executor": "ray"}))
    assert str(info.value) == (
        'migration.executor: `ray` needs Ray installed: pip install "dmt[ray]"'
    )
    assert build_config(raw())  # the thread executor does not need it


def test_a_run_with_threads_never_imports_ray(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom dmt.config import build_config\nfrom dmt.run import Migration\n"
        "import dmt.cli\n"
        f"cfg = build_config({raw()!r})\nMigration(cfg)\n"
        "assert 'ray' not in sys.modules, 'ray imported'\n"
        f"cfg = build_config({raw(migration={'executor': 'ray'})!r})\n"
        "assert 'ray' not in sys.modules, 'ray imported by the config'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_plan_says_what_the_ray_tasks_read(tmp_path: Path) -> None:
    import sqlite3

    from dmt.plan import make_plan
    from dmt.report import plan_text

    src = tmp_path / "a.db"
    with sqlite3.connect(src) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    ends = {"source": {"type": "sqlite", "path": str(src)},
            "target": {"type": "sqlite", "path": str(tmp_path / "b.db")}}  # fmt: skip
    for migration, said in (
        ({"executor": "ray"}, "Executor: ray (the driver holds the copied tables still"),
        ({"executor": "ray", "consistency": "none"},
         "Executor: ray (each task reads what is committed when it runs)"),
    ):  # fmt: skip
        text = plan_text(make_plan(build_config({**ends, "migration": migration})).to_dict())
        assert said in text
    assert "Executor" not in plan_text(make_plan(build_config(ends)).to_dict())


def test_the_ai_sees_the_cluster_shape() -> None:
    from dmt.pipeline.stats import PipelineCounters
    from dmt.tuning.controller import Controller, ControllerSettings
    from dmt.tuning.metrics import HostSample, MetricsCollector
    from dmt.tuning.prompt import context

    def host() -> HostSample:
        return HostSample(100.0, 40.0, 40.0, 30.0, 1000.0, cpu_count=12, nodes=3)

    m = MetricsCollector(PipelineCounters().snapshot, host=host).collect()
    ctl = Controller(ControllerSettings.for_interval(30.0, 128, "table", 2, None))
    seen = context(m, ctl, [])
    assert seen["cluster"] == {"nodes": 3, "cpus": 12}
    assert m.to_dict()["nodes"] == 3
