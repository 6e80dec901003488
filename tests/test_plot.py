"""`dmt history --run ID --plot`: the monitor's time series, persisted, drawn with its decisions.

The run is synthetic but its samples and decisions come from the real monitor (collector,
controller, AIMonitor) closed over the simulated pipeline of ``tests/tuning/sim.py``, and are
stored by the function a run stores them with (:func:`dmt.runs.save_adjustments`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dmt.pipeline.updates import UpdateSlot
from dmt.plot import PlotError, render, write_plot
from dmt.runs import save_adjustments
from dmt.state import StateStore
from dmt.tuning.controller import Controller, ControllerSettings
from dmt.tuning.metrics import MetricsCollector
from dmt.tuning.monitor import AIMonitor

from .tuning.sim import SimPipeline, ThroughputModel

REPO = Path(__file__).resolve().parents[1]


def simulated_monitor(ticks: int = 40) -> AIMonitor:
    sim = SimPipeline(ThroughputModel(), writers=1, chunk_size=1_000, seed=7)
    slot = UpdateSlot()
    collector = MetricsCollector(sim.snapshot, clock=sim.clock, host=sim.host)
    monitor = AIMonitor(collector, Controller(ControllerSettings(max_memory_mb=1024)), slot)
    for _ in range(ticks):
        sim.advance(30.0)
        monitor.tick()
        sim.apply(slot.take())
    return monitor


@pytest.fixture(scope="module")
def monitor() -> AIMonitor:
    return simulated_monitor()


def store_run(state: Path, monitor: AIMonitor | None, run_id: str = "run-plot-1") -> str:
    store = StateStore(state)
    try:
        store.start_run(run_id, "postgres://src", "postgres://dst", "fp", {"ai_adjust": True})
        store.finish_run(run_id, "success", rows=1000, rows_per_second=10.0)
        save_adjustments(store, run_id, monitor, [])
    finally:
        store.close()
    return run_id


def dmt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dmt", *args], capture_output=True, text=True, cwd=REPO,
        env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_monitor_keeps_one_sample_per_tick_with_settings_and_decisions(monitor: AIMonitor) -> None:
    samples = monitor.to_dict()["samples"]
    assert isinstance(samples, list) and len(samples) == 40
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    assert samples[0]["writers"] == 1 and samples[0]["chunk_size"] == 1_000
    assert all(s["rows_per_sec"] > 0 and s["rss_mb"] > 0 for s in samples)
    decided = [s["decision"] for s in samples if s["decision"] is not None]
    assert decided == [r.id for r in monitor.records] and len(decided) >= 3
    # the settings a decision chose show up in the next sample
    idx = next(i for i, s in enumerate(samples) if s["decision"] == 1)
    first = monitor.records[0]
    after = samples[idx + 1]
    assert (after["writers"], after["chunk_size"]) == (first.writers_after, first.chunk_size_after)


@pytest.mark.parametrize("suffix", ["svg", "html"])
def test_history_plot_writes_a_chart_with_every_decision_marked(
    tmp_path: Path, monitor: AIMonitor, suffix: str
) -> None:
    run_id = store_run(tmp_path / "state", monitor)
    out = tmp_path / f"chart.{suffix}"
    p = dmt("history", "--state-dir", str(tmp_path / "state"), "--run", run_id, "--plot", str(out))
    assert p.returncode == 0, p.stderr
    assert f"chart written to {out}" in p.stdout
    text = out.read_text()
    assert "<svg" in text and "throughput (rows/s)" in text and "writers" in text
    assert "chunk size (rows)" in text
    # each panel's line follows its stored series: higher values are drawn higher (smaller y)
    samples = monitor.to_dict()["samples"]
    paths = re.findall(r'<path d="([^"]+)" fill="none"', text)
    assert len(paths) == 3
    for path, key in zip(paths, ("rows_per_sec", "writers", "chunk_size"), strict=True):
        ys = [float(y) for y in re.findall(r"L[\d.]+,([\d.]+)", path)][1::2]  # one per sample
        values = [float(smp[key] or 0) for smp in samples]  # type: ignore[index]
        assert len(ys) == len(values), key
        for a in range(len(values)):
            for b in range(len(values)):
                if values[a] > values[b]:  # drawn to 0.1 px: close values may share a height
                    assert ys[a] <= ys[b], (key, a, b)
        if max(values) > min(values):
            assert ys[values.index(max(values))] < ys[values.index(min(values))], key
    marked = re.findall(r'<g class="decision" data-id="(\d+)"', text)
    assert marked == [str(r.id) for r in monitor.records]
    assert text.count('class="decision-line"') == 3 * len(monitor.records)  # one per panel
    if suffix == "html":
        assert text.count('class="decision-row"') == len(monitor.records)
        assert text.startswith("<!doctype html>")


def test_history_json_carries_the_samples(tmp_path: Path, monitor: AIMonitor) -> None:
    run_id = store_run(tmp_path / "state", monitor)
    p = dmt("history", "--state-dir", str(tmp_path / "state"), "--run", run_id, "--output-json")
    assert p.returncode == 0, p.stderr
    assert '"samples"' in p.stdout and '"rows_per_sec"' in p.stdout


def test_plot_of_a_run_without_samples_fails_with_one_line(tmp_path: Path) -> None:
    run_id = store_run(tmp_path / "state", None)
    out = tmp_path / "chart.svg"
    p = dmt("history", "--state-dir", str(tmp_path / "state"), "--run", run_id, "--plot", str(out))
    assert p.returncode == 1
    assert "no monitor samples" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_plot_needs_a_run_and_a_known_format(tmp_path: Path, monitor: AIMonitor) -> None:
    p = dmt("history", "--state-dir", str(tmp_path / "state"), "--plot", str(tmp_path / "x.svg"))
    assert p.returncode == 1 and "needs --run" in p.stderr
    run_id = store_run(tmp_path / "state", monitor)
    p = dmt("history", "--state-dir", str(tmp_path / "state"), "--run", run_id, "--plot", "x.gif")
    assert p.returncode == 1 and "unknown format" in p.stderr


def test_render_is_deterministic_and_escapes_reasoning(monitor: AIMonitor) -> None:
    data = monitor.to_dict()
    samples, records = data["samples"], data["records"]
    assert isinstance(samples, list) and isinstance(records, list)
    records = [{**records[0], "reasoning": "<script>alert(1)</script> & more"}]
    a = render(samples, records, title="t", fmt="svg")
    assert a == render(samples, records, title="t", fmt="svg")
    assert "<script>" not in a and "&lt;script&gt;" in a
    with pytest.raises(PlotError):
        render([], [], fmt="svg")


def test_png_uses_matplotlib_when_installed(tmp_path: Path, monitor: AIMonitor) -> None:
    pytest.importorskip("matplotlib")
    data = monitor.to_dict()
    out = write_plot(tmp_path / "c.png", data["samples"], data["records"], "t")  # type: ignore[arg-type]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
