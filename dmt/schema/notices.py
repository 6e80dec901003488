"""Plan warnings grouped by kind: one line per kind with the objects counted, the ones that
change what the target holds first.

Every warning of the plan is one line ``<object>: <what happens>`` (``film.last_update: ...``,
``film: check `x` not created (...)``). :func:`group` gives each a kind and a severity, and
folds the warnings of one kind into one :class:`WarningGroup`. Severities, in the order shown:

* ``dropped``: a default the target will not have;
* ``not_migrated``: an object left out (a check, a foreign key, an index, a generated column);
* ``lossy``: a type the target holds less exactly (values may change or fail the load);
* ``note``: how the copy runs, nothing lost.

A lossy kind whose values are counted while copying names the counters
(:class:`dmt.dialects.values.ValueCounters`) that show whether it actually happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("dropped", "not_migrated", "lossy", "note")

#: (pattern on the text after the object, kind, severity, what the objects are)
_RULES: tuple[tuple[re.Pattern[str], str, str, str], ...] = tuple(
    (re.compile(p), kind, sev, noun)
    for p, kind, sev, noun in (
        (r"^default `.*` not created", "default not created", "dropped", "columns"),
        (r"^check `.*` not created", "check not created", "not_migrated", "checks"),
        (r"^foreign key `.*` references `.*`, which is not copied",
         "foreign key to a table not copied", "not_migrated", "foreign keys"),
        (r"generated column not copied", "generated column not copied", "not_migrated",
         "columns"),
        (r"^index `.*` .*is not copied", "index not copied", "not_migrated", "indexes"),
        (r"^index `.*` covered column prefixes", "index on column prefixes covers whole columns",
         "lossy", "indexes"),
        (r"^binary collation `.*` chosen for a unique text key",
         "binary collation chosen for a unique text key (its values differ only in case, "
         "accents or trailing spaces on the source)", "note", "columns"),
        (r"no primary key; copied as one ordered stream",
         "no primary key: copied as one ordered stream", "note", "tables"),
    )
)  # fmt: skip
#: value-conversion counters (substrings of their names) showing a lossy kind happened
_COUNTERS = (
    ("infinity dates", ("infinity->max_date", "infinity->min_date")),
    ("infinity timestamps", ("infinity->max_timestamp", "infinity->min_timestamp")),
    ("NaN", ("nan->", "nonfinite_float->", "nonfinite_decimal->")),
)

_SINGULAR = {"indexes": "index", "columns": "column", "checks": "check", "tables": "table"}
_SINGULAR["foreign keys"] = "foreign key"


@dataclass
class WarningGroup:
    """The warnings of one kind."""

    kind: str
    severity: str
    noun: str  # what ``objects`` are: columns, checks, tables, ...
    objects: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    counters: tuple[str, ...] = ()

    @property
    def tables(self) -> int:
        return len({o.split(".", 1)[0] for o in self.objects})

    def line(self) -> str:
        """``<kind>: 31 columns in 20 tables (a.x, b.y, c.z, ...)``."""
        n, t = len(self.objects), self.tables
        noun = self.noun if n != 1 else _SINGULAR.get(self.noun, self.noun)
        where = "" if self.noun == "tables" else f" in {t} table{'s' if t != 1 else ''}"
        shown = ", ".join(self.objects[:3]) + (", ..." if n > 3 else "")
        return f"{self.kind}: {n} {noun}{where} ({shown})"

    def happened(self, conversions: dict[str, int]) -> int | None:
        """Values converted of this kind in a run; None when the kind is not counted."""
        if not self.counters:
            return None
        return sum(v for k, v in conversions.items() if any(c in k for c in self.counters))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.line(),
            "count": len(self.objects),
            "tables": self.tables,
            "objects": list(self.objects),
            "messages": list(self.messages),
        }


def _classify(message: str) -> tuple[str, str, str, str]:
    """(object, kind, severity, noun) of one warning line."""
    obj, _, text = message.partition(": ")
    for pattern, kind, severity, noun in _RULES:
        if pattern.search(text):
            name = re.match(r"^(?:index|check|foreign key) `([^`]*)`", text)
            if name and noun != "columns":
                obj = f"{obj}.{name.group(1)}"
            return obj, kind, severity, noun
    # a type the target holds less exactly: the kind is the rule's text, its specifics out
    kind = re.sub(r"`[^`]*`", "`…`", text)
    kind = re.sub(r"\b(numeric|decimal)\(\d+,\d+\)", r"\1(…)", kind)
    return obj, kind, "lossy", "columns" if "." in obj else "tables"


def group(warnings: list[str]) -> list[WarningGroup]:
    """The warnings grouped by kind, most severe first, then by how many objects they hit."""
    groups: dict[str, WarningGroup] = {}
    for message in warnings:
        obj, kind, severity, noun = _classify(message)
        g = groups.get(kind)
        if g is None:
            counters = next((c for word, c in _COUNTERS if word in kind), ())
            g = groups[kind] = WarningGroup(kind, severity, noun, counters=counters)
        g.objects.append(obj)
        g.messages.append(message)
    return sorted(
        groups.values(), key=lambda g: (SEVERITIES.index(g.severity), -len(g.objects), g.kind)
    )
