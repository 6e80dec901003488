"""Every module of dmt stays small enough to hold one idea (issue 17's house rule)."""

from __future__ import annotations

from pathlib import Path

import dmt

#: lines a module may have; past this it is split along one idea per module
MAX_LINES = 350


def test_no_module_over_the_limit() -> None:
    root = Path(dmt.__file__).parent
    sizes = {
        str(p.relative_to(root.parent)): len(p.read_text(encoding="utf-8").splitlines())
        for p in root.rglob("*.py")
    }
    assert sizes, "no dmt modules found"
    too_big = {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not too_big, f"modules over {MAX_LINES} lines: {too_big}"
