"""What a person reads while and after a run: the progress bars' rows/s, MB/s and ETA, the cron
progress line, and the summary's numbers with thousands separators (JSON keeps plain numbers).
Unit tests: no database."""

from __future__ import annotations

import io
import json

from rich.console import Console

from dmt.progress import LogReporter, RichReporter, eta_text, rate_text
from dmt.report import RunResult, TableSummary


def _render(
    advances: list[tuple[float, int, int]],
    total: int = 2_000_000,
    width: int = 140,
    table: str = "orders",
) -> str:
    """The bars after ``advances`` of (clock, rows, bytes) of one table, as a terminal sees them."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=None)
    now = [0.0]
    reporter = RichReporter(total, console=console, get_time=lambda: now[0])
    reporter.start_table(table, total)
    for at, rows, nbytes in advances:
        now[0] = at
        reporter.advance(table, rows, nbytes)
    reporter.close()  # the final refresh draws the last state
    return out.getvalue()


def test_bars_show_rows_per_second_not_bytes() -> None:
    # 90,800 rows in the second after the first batch, 50 bytes a row
    text = _render([(0.0, 1_000, 50_000), (1.0, 90_800, 4_540_000)])
    last = text.rsplit("\x1b[?25l", 1)[-1]
    assert "91,800/2,000,000 rows" in last
    assert "90,800 rows/s, 4.3 MB/s" in last
    assert "ETA 0:22" in last  # 1,908,200 rows left at 90,800 rows/s: 21.02 s, rounded up
    assert "kB/s" not in text  # rich's byte-formatted speed column is gone


def test_on_a_narrow_terminal_the_name_and_bar_give_way_never_the_numbers() -> None:
    text = _render([(0.0, 1_000, 50_000), (1.0, 90_800, 4_540_000)], width=80,
                   table="a_rather_long_table_name_indeed")  # fmt: skip
    last = text.rsplit("\x1b[?25l", 1)[-1].split("\x1b[2K")[-1].replace("\x1b[?25h", "")
    lines = last.splitlines()
    assert len(lines) == 2  # one line per bar, nothing wrapped
    for line in lines:
        assert line.endswith("91,800/2,000,000 rows 90,800 rows/s, 4.3 MB/s ETA 0:22")


def test_bars_without_bytes_show_rows_only_and_unknown_rate_as_dash() -> None:
    text = _render([(0.0, 500, 0), (2.0, 3_000, 0)], total=0)
    assert "3,500 rows 1,500 rows/s" in text and "MB/s" not in text
    assert "- rows/s ETA -" in text  # before two samples exist nothing is measured


def test_finished_table_says_done() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    now = [0.0]
    reporter = RichReporter(1_000, console=console, get_time=lambda: now[0])
    reporter.start_table("t", 900)
    reporter.advance("t", 500, 0)
    now[0] = 0.5
    reporter.advance("t", 500, 0)
    reporter.finish_table("t", 1_000)
    reporter.close()
    assert "1,000/1,000 rows 1,000 rows/s done" in out.getvalue()


def test_log_reporter_line_for_cron() -> None:
    line = LogReporter(2_000_000).line(1_234_567, 61_728_350, 13.6)
    assert line == "progress: 1,234,567 of 2,000,000 rows (61%), 90,777 rows/s, 4.3 MB/s, ETA 0:08"
    assert LogReporter(0).line(5_000, 0, 2.0) == "progress: 5,000 rows, 2,500 rows/s"


def test_rate_and_eta_text() -> None:
    assert rate_text(1_234_567.4, 0) == "1,234,567 rows/s"
    assert rate_text(None, 10) == "- rows/s"
    assert eta_text(3_723) == "ETA 1:02:03"
    assert eta_text(59.6) == "ETA 1:00"
    assert eta_text(None) == "ETA -"


def test_summary_numbers_have_separators_and_json_does_not() -> None:
    result = RunResult(
        run_id="r1",
        status="success",
        source="sqlite:///a.db",
        target="sqlite:///b.db",
        tables=[TableSummary("accounts", 2_000_000, 20.0)],
        duration_seconds=22.5,
        copy_seconds=20.0,
        value_conversions={"zero_date": 12_345},
        monitor={
            "ai": {"calls": 3, "input_tokens": 12_000, "output_tokens": 1_500, "cost_usd": 0.0195}
        },
    )
    text = result.text()
    assert text.startswith("Migrated 1 table(s), 2,000,000 rows in 22.50s (100,000 rows/s")
    assert "accounts     2,000,000 rows" in text
    assert "zero_date=12,345" in text and "12,000+1,500 tokens" in text
    assert "$0.0195 ($3.12/hour at this run's rate)" in text  # 0.0195 in 22.5 s
    out = json.loads(json.dumps(result.to_json()))
    assert out["rows_transferred"] == 2_000_000 and out["tables"][0]["rows"] == 2_000_000
    assert out["ai_cost_per_hour_usd"] == 3.12
    assert "2,000,000" not in json.dumps(out)
