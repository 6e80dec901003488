"""The README's config reference is the one in dmt/config.py."""

from __future__ import annotations

from pathlib import Path

from dmt.config import reference_rows

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_reference_matches_code() -> None:
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- config-reference:start")
    end = text.index("<!-- config-reference:end -->")
    table = [line for line in text[start:end].splitlines() if line.startswith("| `")]
    expected = [f"| `{k}` | {d} | {b} | {m} |" for k, d, b, m in reference_rows()]
    assert table == expected, (
        "README config reference is stale: regenerate it from reference_rows()"
    )
