"""The house rules of dmt's imports: no import cycle, and each layer imports only what lies
below it (DESIGN.md, "Import rules"). Unit tests: no database.

A cycle is looked for among module-level imports run at import time (imports inside a function
are lazy and may go anywhere; ``if TYPE_CHECKING:`` blocks never run). The layer rules hold for
every import in a file, lazy and type-only ones included.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dmt"


@dataclass(frozen=True)
class Rule:
    """Modules under ``layer`` may import of dmt only ``only`` (when given), never ``never``."""

    layer: str
    only: tuple[str, ...] = ()
    never: tuple[str, ...] = ()


#: the layer rules, one place: extend here
RULES = (
    Rule("dmt.settings", only=("dmt.settings",)),
    Rule("dmt.model", only=("dmt.model", "dmt.errors")),
    Rule("dmt.dialects", never=("dmt.pipeline", "dmt.paths", "dmt.tuning", "dmt.run", "dmt.cli")),
    Rule("dmt.schema", never=("dmt.pipeline", "dmt.paths", "dmt.tuning", "dmt.run", "dmt.cli")),
    Rule("dmt.paths", never=("dmt.pipeline", "dmt.tuning", "dmt.run", "dmt.cli")),
    Rule("dmt.pipeline", never=("dmt.tuning", "dmt.run", "dmt.cli", "dmt.cluster")),
    Rule("dmt.cluster", never=("dmt.run", "dmt.cli")),
    Rule(
        "dmt.tuning",
        only=(
            "dmt.tuning",
            "dmt.settings",
            "dmt.pipeline.updates",
            "dmt.pipeline.stats",
            "dmt.config",
            "dmt.errors",
        ),
    ),
)

#: third-party libraries only these modules may import (DESIGN.md: typer only in the CLI,
#: rich only in progress and logs, anthropic only in the Claude adviser; prometheus_client only
#: in the metrics exporter; ray only in the cluster session)
ONLY_IN = {
    "typer": ("dmt.cli", "dmt.typer_plain"),
    "rich": ("dmt.progress", "dmt.logs"),
    "anthropic": ("dmt.tuning.claude",),
    "prometheus_client": ("dmt.tuning.export",),
    # SQLAlchemy: only the generic dialect (a run between hand-tuned engines never loads it)
    "sqlalchemy": tuple(
        f"dmt.dialects.generic.{m}"
        for m in ("connection", "dialect", "ddl", "reflection", "types", "values")
    ),
    "ray": ("dmt.cluster.session",),
}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, name: str | None) -> str:
    """The dmt module ``from module import name`` (or ``import module``) loads."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    while module not in MODULES and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def _targets(node: ast.Import | ast.ImportFrom, here: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [_resolve(a.name, None) for a in node.names if a.name.startswith("dmt")]
    base = node.module or ""
    if node.level:
        parts = here.split(".")
        parts = parts if is_pkg else parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([base] if base else [])])
    if not base.startswith("dmt"):
        return []
    return [_resolve(base, a.name) for a in node.names]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: the top level, and inside top-level
    ``if`` / ``try`` / ``with`` blocks, but not ``if TYPE_CHECKING:``."""
    out: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                out += _module_level(node.body)
            out += _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                out += _module_level(block)
        elif isinstance(node, ast.With):
            out += _module_level(node.body)
    return out


def _graph(everywhere: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        if everywhere:
            nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        else:
            nodes = _module_level(tree.body)
        graph[name] = {t for n in nodes for t in _targets(n, name, is_pkg) if t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    modules = [m for m in MODULES if not m.endswith("__main__")]  # that one runs the CLI
    r = subprocess.run(
        [sys.executable, "-c", code, *modules], cwd=ROOT, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_no_import_cycle() -> None:
    cycle = _cycle(_graph(everywhere=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("rule", RULES, ids=[r.layer for r in RULES])
def test_layer_rules(rule: Rule) -> None:
    graph = _graph(everywhere=True)
    broken = []
    for module, imports in sorted(graph.items()):
        if not _within(module, rule.layer):
            continue
        for target in sorted(imports):
            if rule.only and not any(_within(target, p) for p in rule.only):
                broken.append(f"{module} imports {target} (allowed: {', '.join(rule.only)})")
            if any(_within(target, p) for p in rule.never):
                broken.append(f"{module} imports {target} (never: {', '.join(rule.never)})")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("library", sorted(ONLY_IN))
def test_libraries_stay_at_their_edge(library: str) -> None:
    users = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            else:
                continue
            if any(m == library or m.startswith(library + ".") for m in mods):
                users.append(name)
    assert users, f"nothing imports {library}: the rule is stale"
    assert set(users) <= set(ONLY_IN[library]), f"{library} imported by {sorted(set(users))}"
