"""docs/type-mapping.md's table is what the mapping code does."""

from __future__ import annotations

from pathlib import Path

from dmt.schema.typemap import markdown

ROOT = Path(__file__).resolve().parents[2]


def test_type_mapping_doc_matches_code() -> None:
    text = (ROOT / "docs" / "type-mapping.md").read_text()
    start = text.index("<!-- type-mapping:start -->") + len("<!-- type-mapping:start -->")
    end = text.index("<!-- type-mapping:end -->")
    assert text[start:end].strip() == markdown(), (
        "docs/type-mapping.md is stale: regenerate its table with dmt.schema.typemap.markdown()"
    )
