"""No engine name is tested outside ``dmt/dialects/``: what differs between engines is a
capability or a method of the dialect (DESIGN.md, import rules).

The check walks every module of ``dmt`` outside ``dmt/dialects/`` with :mod:`ast` and fails on
a comparison (``==``, ``!=``, ``in``, ``not in``, ``is``, a ``match`` case) against an engine
name, and on ``isinstance`` / ``issubclass`` / a comparison against a dialect class.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dmt.dialects.base import DIALECTS, Dialect, dialect_class

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dmt"
ENGINE_NAMES = {"postgres", "postgresql", "pg", "mysql", "mariadb", "sqlite", "sqlite3"}


def _dialect_classes() -> set[str]:
    found: set[str] = set()
    todo: list[type[Dialect]] = [dialect_class(e) for e in DIALECTS]
    todo.append(Dialect)
    while todo:
        cls = todo.pop()
        if cls.__name__ not in found:
            found.add(cls.__name__)
            todo += cls.__subclasses__()
    return found - {"Dialect", "SqlDialect"}


def _names_engine(node: ast.AST) -> bool:
    """A literal engine name, or a tuple, list or set of literals holding one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.lower() in ENGINE_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_engine(e) for e in node.elts)
    return False


def _names_class(node: ast.AST, classes: set[str]) -> bool:
    """A reference to a dialect class (``PostgresDialect``, ``mysql.MySQLDialect``, a tuple)."""
    if isinstance(node, ast.Name):
        return node.id in classes
    if isinstance(node, ast.Attribute):
        return node.attr in classes
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_class(e, classes) for e in node.elts)
    return False


def _pattern_names_engine(pattern: ast.pattern, classes: set[str]) -> bool:
    for node in ast.walk(pattern):
        if isinstance(node, ast.MatchValue) and _names_engine(node.value):
            return True
        if isinstance(node, ast.MatchClass) and _names_class(node.cls, classes):
            return True
    return False


def _is_class_check(node: ast.AST, classes: set[str]) -> bool:
    """``isinstance(x, SomeDialect)`` or ``issubclass(x, SomeDialect)``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("isinstance", "issubclass")
        and len(node.args) == 2
        and _names_class(node.args[1], classes)
    )


def engine_tests(source: str, classes: set[str]) -> list[int]:
    """Line numbers where ``source`` tests an engine name or a dialect class."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names_engine(o) or _names_class(o, classes) for o in operands):
                lines.append(node.lineno)
        elif _is_class_check(node, classes):
            lines.append(node.lineno)
        elif isinstance(node, ast.match_case) and _pattern_names_engine(node.pattern, classes):
            lines.append(node.pattern.lineno)
    return sorted(lines)


def _modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "dialects" not in p.relative_to(PACKAGE).parts
    )


def test_the_check_finds_each_kind_of_engine_test() -> None:
    source = """
if d.name == "postgres": pass
if engine in ("mysql", "sqlite"): pass
if "MariaDB" != name: pass
if isinstance(d, (PostgresDialect, X)): pass
if type(d) is SQLiteDialect: pass
match engine:
    case "pg": pass
    case MySQLDialect(): pass
    case _: pass
"""
    classes = {"PostgresDialect", "MySQLDialect", "SQLiteDialect"}
    assert engine_tests(source, classes) == [2, 3, 4, 5, 6, 8, 9]
    assert engine_tests("if a.name == b.name: pass\nTAGS = ['mysql']\n", classes) == []


def test_every_dialect_class_is_known() -> None:
    assert {"PostgresDialect", "MySQLDialect", "SQLiteDialect"} <= _dialect_classes()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_engine_name_is_tested_outside_the_dialects(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    found = engine_tests(path.read_text(encoding="utf-8"), _dialect_classes())
    assert not found, f"{rel} tests an engine name on line(s) {found}: use a dialect capability"
