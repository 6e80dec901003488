"""Column defaults and check constraints moved between engines through sqlglot's parser.

sqlglot parses the expression in the source's spelling and writes it in the target's; around
it, two rules of our own:

* **normalize**: casts that only restate a type are dropped (``(email)::text``, ``'0'::numeric``,
  ``ARRAY[...]::text[]``), PostgreSQL's special date strings become the functions they mean
  (``'now'::date`` is ``CURRENT_DATE``, never the text ``'now'``), ``x = ANY (ARRAY[...])``
  becomes ``x IN (...)`` and ``LOCALTIMESTAMP`` becomes ``CURRENT_TIMESTAMP``;
* **validate**: the result may use only a small vocabulary that means the same on every engine
  (:data:`PORTABLE`), minus what the target lacks (its ``missing_expressions``).
  sqlglot writes *something* for nearly any input (``strftime('%s', 'now')`` becomes MySQL
  ``DATE_FORMAT('now', '%s')``); the vocabulary is what keeps a wrong translation out.

Anything else raises :class:`NotPortable` with the reason; the caller leaves the object out
with one warning. sqlglot is imported on the first expression that needs it, so a migration
whose defaults are all plain literals never pays for the import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dmt.schema.expr import NotPortable

if TYPE_CHECKING:
    from dmt.dialects.base import Dialect
    from dmt.model.schema import ColumnType

#: sqlglot expression classes that mean the same on every engine (string lengths in
#: characters; ``/`` is left out: integer division differs)
PORTABLE = frozenset(
    {
        "Column", "Identifier", "Literal", "Boolean", "Null", "Paren", "Neg", "Not", "And",
        "Or", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "Is", "In", "Between", "Like", "Add",
        "Sub", "Mul", "Mod", "Lower", "Upper", "Length", "Trim", "Substring", "Abs",
        "Coalesce", "DPipe", "CurrentTimestamp", "CurrentDate", "CurrentTime", "Uuid",
        "RegexpLike",
    }
)  # fmt: skip
_NOW = ("CurrentTimestamp", "CurrentDate", "CurrentTime")
_TEXT_TYPES = {"TEXT", "VARCHAR", "CHAR", "BPCHAR", "NCHAR", "NVARCHAR", "NAME"}
_NUMBER_TYPES = {"DECIMAL", "INT", "BIGINT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT"}
_TEMPORAL_TYPES = {"DATE", "TIMESTAMP", "TIMESTAMPTZ", "TIME", "TIMETZ", "DATETIME"}
#: PostgreSQL's special input strings of a date/time type that name "the current moment"
_SPECIAL_NOW = {
    ("now", "DATE"): "CurrentDate",
    ("today", "DATE"): "CurrentDate",
    ("now", "TIME"): "CurrentTime",
    ("now", "TIMETZ"): "CurrentTime",
}


def translate_default(
    native: str, source: type[Dialect], target: Dialect, ctype: ColumnType
) -> str:
    """The default ``native`` (as ``source`` spells it) as ``target`` declares it for a column
    of ``ctype``: a literal as is, the current date or time through the target's own rule,
    any other expression in parentheses (the form all three engines accept)."""
    from sqlglot import exp

    tree = _normalize(_parse(native, source), source, ctype.source)
    if any(isinstance(n, exp.Column) for n in tree.walk()):
        raise NotPortable("it refers to a column")
    _validate(tree, target)
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.Literal) and tree.is_string:
        return target.literal(tree.this)
    if isinstance(tree, exp.Boolean):
        return target.bool_literal(bool(tree.this))
    if type(tree).__name__ in _NOW:
        return target.now_default(_sql_now(tree), ctype)
    sql = _generate(tree, target)
    if isinstance(tree, exp.Literal) or (
        isinstance(tree, exp.Neg) and isinstance(tree.this, exp.Literal)
    ):
        return sql
    return f"({sql})"


def translate_check(
    text: str, source: type[Dialect], target: Dialect, columns: dict[str, str]
) -> str:
    """The check condition ``text`` in ``target``'s spelling; ``columns`` maps source column
    names to target names."""
    from sqlglot import exp

    tree = _normalize(_parse(text, source), source)
    folded = {k.lower(): v for k, v in columns.items()}
    for col in list(tree.find_all(exp.Column)):
        name = col.name
        new = columns.get(name) or folded.get(name.lower())
        if new is None or col.table:
            raise NotPortable(f"unknown name `{col.sql()}`")
        col.replace(exp.column(new, quoted=True))
    _validate(tree, target)
    return _generate(tree, target)


def _parse(text: str, source: type[Dialect]) -> Any:
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        return sqlglot.parse_one(text, read=source.transpiler())
    except SqlglotError as exc:
        raise NotPortable(f"cannot parse it: {str(exc).splitlines()[0]}") from None


def _generate(tree: Any, target: Dialect) -> str:
    from sqlglot.errors import ErrorLevel, SqlglotError

    try:
        sql = tree.sql(
            dialect=target.transpiler(), identify=True, unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as exc:
        raise NotPortable(str(exc).splitlines()[0]) from None
    return target.sql_text(sql)


def _sql_now(node: Any) -> str:
    return {
        "CurrentTimestamp": "CURRENT_TIMESTAMP",
        "CurrentDate": "CURRENT_DATE",
        "CurrentTime": "CURRENT_TIME",
    }[type(node).__name__]


def _normalize(tree: Any, source: type[Dialect], own_type: str = "") -> Any:
    """``tree`` in the portable vocabulary where it can be (see the module's docstring);
    ``own_type`` is the column's declared type: a literal cast to it is the literal."""
    from sqlglot import exp

    own = own_type.lower().rsplit(".", 1)[-1]

    def cast(node: Any) -> Any:
        if not isinstance(node, exp.Cast):
            return node
        inner, to = node.this, node.to.this.name
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if to in _TEXT_TYPES or (isinstance(inner, exp.Array) and to == "ARRAY"):
            return inner
        if isinstance(inner, exp.Literal) and inner.is_string:
            value = inner.this.strip().lower()
            if (
                own
                and node.to.this.name == "USERDEFINED"
                and node.to.sql(dialect=source.transpiler()).lower().endswith(own)
            ):
                return inner  # 'G'::mpaa_rating on a column of that type: the label
            if to in _TEMPORAL_TYPES:
                if value == "now" and to in ("TIMESTAMP", "TIMESTAMPTZ", "DATETIME"):
                    return exp.CurrentTimestamp()
                special = _SPECIAL_NOW.get((value, to))
                if special:
                    return getattr(exp, special)()
                if not value[:1].isdigit():  # infinity, epoch, tomorrow, ...
                    raise NotPortable(f"`{inner.this}` is a {source.title}-only {to.lower()}")
                return inner
            if to in _NUMBER_TYPES and _is_number(value):
                return exp.Literal.number(value)
            if to == "BOOLEAN" and value in ("t", "f", "true", "false"):
                return exp.Boolean(this=value.startswith("t"))
        if isinstance(inner, exp.Literal) and not inner.is_string and to in _NUMBER_TYPES:
            return inner
        raise NotPortable(f"cast to {node.to.sql(dialect=source.transpiler())}")

    def arrays(node: Any) -> Any:
        """``x = ANY (ARRAY[...])`` -> ``x IN (...)``; ``x <> ALL (ARRAY[...])`` -> NOT IN."""
        if isinstance(node, exp.EQ | exp.NEQ):
            right = node.expression
            wrapped = right.this if isinstance(right, exp.Any) else None
            if isinstance(right, exp.Anonymous) and right.name.upper() == "ALL":
                wrapped = right.expressions[0] if len(right.expressions) == 1 else None
            while isinstance(wrapped, exp.Paren):
                wrapped = wrapped.this
            if isinstance(wrapped, exp.Array):
                member = exp.In(this=node.this, expressions=list(wrapped.expressions))
                if isinstance(node, exp.EQ) == isinstance(right, exp.Any):
                    if isinstance(node, exp.EQ):
                        return member
                    return exp.Not(this=exp.Paren(this=member))
        return node

    def now(node: Any) -> Any:
        return exp.CurrentTimestamp() if isinstance(node, exp.Localtimestamp) else node

    steps: list[Callable[[Any], Any]] = [cast, arrays, now]
    for step in steps:
        tree = _bottom_up(tree, step)
    return tree


def _bottom_up(tree: Any, step: Callable[[Any], Any]) -> Any:
    """``tree`` with ``step`` applied to every node, children before their parent (sqlglot's
    own ``transform`` does not visit inside a node a step returned)."""
    for node in reversed(list(tree.walk(bfs=False))):
        new = step(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _validate(tree: Any, target: Dialect) -> None:
    from sqlglot import exp

    allowed = PORTABLE - target.missing_expressions
    for node in tree.walk():
        kind = type(node).__name__
        if kind not in allowed:
            if isinstance(node, exp.Cast):
                what = f"a cast to {node.to.sql(dialect=target.transpiler())}"
            elif isinstance(node, exp.Anonymous):
                what = f"function {node.name.lower()}"
            elif isinstance(node, exp.Func):
                what = f"function {node.sql_name().lower()}"
            else:
                what = f"`{node.sql(dialect=target.transpiler())}`"
            raise NotPortable(f"{what} has no {target.title} equivalent")
        if isinstance(node, exp.Add | exp.Sub) and any(
            type(n).__name__ in _NOW for n in node.walk()
        ):
            raise NotPortable("date arithmetic differs between engines")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text not in ("nan", "inf", "-inf", "infinity", "-infinity")
