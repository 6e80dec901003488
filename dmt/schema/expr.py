"""Portable SQL expressions: column defaults and check constraints, moved between engines.

Each engine spells the same default or check differently (PostgreSQL ``'a'::text`` and
``x = ANY (ARRAY[...])``, MySQL ``current_timestamp()`` and backslash escapes, SQLite as
written). Expressions are tokenized in the source's spelling and re-emitted in the target's
from a deliberately small vocabulary: literals, column names, comparison and arithmetic
operators, ``AND``/``OR``/``NOT``/``IN``/``IS [NOT] NULL``/``BETWEEN``/``LIKE``, and a few
functions with the same meaning everywhere. Anything else is *not portable*: the caller warns
and leaves the object out rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class Spelling:
    """How an engine writes string literals and quoted names: what reading its expressions
    must know (each dialect declares its own)."""

    #: a backslash escapes the next character of a string literal (``'\n'`` is a newline)
    backslash_escapes: bool = False
    #: ``[name]`` quotes a name (where it does not, ``[`` indexes an array)
    bracket_names: bool = True


class Speller(Protocol):
    """What a target dialect provides to spell an expression."""

    #: the function counting the characters of a text
    char_length_function: ClassVar[str]

    def quote(self, ident: str) -> str: ...
    def literal(self, value: str) -> str: ...
    def sql_text(self, text: str) -> str: ...
    def bool_literal(self, value: bool) -> str: ...


@dataclass(frozen=True)
class Token:
    """One lexical token of an expression."""

    kind: str  # str, num, qident, word, op
    text: str  # for str / qident: the unescaped value


_NUM = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[^\W\d]\w*|\$\w+", re.UNICODE)
_OPS = ("::", "<=", ">=", "<>", "!=", "||", "==")
_CLOSE = {'"': '"', "`": "`", "[": "]"}


class NotPortable(ValueError):
    """The expression uses something outside the portable vocabulary."""


def tokenize(text: str, spelling: Spelling) -> list[Token]:
    """Tokens of ``text`` written with ``spelling`` (whitespace dropped)."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "'":
            buf, i = [], i + 1
            while True:
                if i >= n:
                    raise NotPortable("unterminated string")
                ch = text[i]
                if ch == "\\" and spelling.backslash_escapes and i + 1 < n:
                    nxt = text[i + 1]
                    buf.append({"n": "\n", "t": "\t", "r": "\r", "0": "\x00"}.get(nxt, nxt))
                    i += 2
                elif ch == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        buf.append("'")
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    buf.append(ch)
                    i += 1
            out.append(Token("str", "".join(buf)))
            continue
        if c in _CLOSE and (c != "[" or spelling.bracket_names):
            end = _CLOSE[c]
            buf, i = [], i + 1
            while True:
                if i >= n:
                    raise NotPortable("unterminated identifier")
                if text[i] == end:
                    if end != "]" and i + 1 < n and text[i + 1] == end:
                        buf.append(end)
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            out.append(Token("qident", "".join(buf)))
            continue
        m = _NUM.match(text, i)
        if m:
            out.append(Token("num", m.group()))
            i = m.end()
            continue
        m = _WORD.match(text, i)
        if m:
            out.append(Token("word", m.group()))
            i = m.end()
            continue
        two = text[i : i + 2]
        if two in _OPS:
            out.append(Token("op", two))
            i += 2
            continue
        out.append(Token("op", c))
        i += 1
    return out


#: PostgreSQL casts that only restate a literal's or column's type, dropped on the way
_CAST_WORDS = {
    "text", "character", "varying", "varchar", "bpchar", "numeric", "integer", "bigint",
    "smallint", "int", "double", "precision", "real", "date", "timestamp", "time", "with",
    "without", "zone", "boolean", "json", "jsonb", "uuid", "bytea",
}  # fmt: skip
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE"}
#: portable functions: same meaning everywhere; the length of text is in characters
_FUNCS = {"length", "char_length", "character_length", "lower", "upper", "abs", "coalesce"}
_NOW = {
    "now": "CURRENT_TIMESTAMP",
    "current_timestamp": "CURRENT_TIMESTAMP",
    "localtimestamp": "CURRENT_TIMESTAMP",
    "sysdate": "CURRENT_TIMESTAMP",
    "current_date": "CURRENT_DATE",
    "curdate": "CURRENT_DATE",
    "current_time": "CURRENT_TIME",
    "curtime": "CURRENT_TIME",
}


def _strip_casts(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == "op" and t.text == "::":
            i += 1
            if i >= len(tokens) or tokens[i].kind not in ("word", "qident"):
                raise NotPortable("cast")
            if tokens[i].text.lower() not in _CAST_WORDS:
                raise NotPortable(f"cast to {tokens[i].text}")
            while (
                i < len(tokens)
                and tokens[i].kind == "word"
                and tokens[i].text.lower() in (_CAST_WORDS)
            ):
                i += 1
            if i < len(tokens) and tokens[i].text == "(":  # a length: ::character varying(5)
                while i < len(tokens) and tokens[i].text != ")":
                    i += 1
                i += 1
            while i + 1 < len(tokens) and tokens[i].text == "[" and tokens[i + 1].text == "]":
                i += 2
            continue
        out.append(t)
        i += 1
    return out


def _array_membership(tokens: list[Token]) -> list[Token]:
    """``x = ANY (ARRAY[a, b])`` -> ``x IN (a, b)``; ``x <> ALL (ARRAY[...])`` -> NOT IN."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        ahead = [x.text.upper() for x in tokens[i : i + 5]]
        if (
            len(ahead) == 5
            and ahead[2:] == ["(", "ARRAY", "["]
            and (ahead[:2] in (["=", "ANY"], ["<>", "ALL"], ["!=", "ALL"]))
        ):
            depth, j = 0, i + 4
            while j < len(tokens):
                if tokens[j].text == "[":
                    depth += 1
                elif tokens[j].text == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j + 1 >= len(tokens) or tokens[j + 1].text != ")":
                raise NotPortable("array")
            if ahead[0] != "=":
                out.append(Token("word", "NOT"))
            out += [Token("word", "IN"), Token("op", "(")]
            out += tokens[i + 5 : j]
            out.append(Token("op", ")"))
            i = j + 2
            continue
        out.append(t)
        i += 1
    return out


def translate_check(
    text: str,
    spelling: Spelling,
    target: Speller,
    columns: dict[str, str],
) -> str:
    """The check expression ``text`` (written with ``spelling``) in ``target``'s spelling.

    ``columns`` maps source column names to target names. Raises :class:`NotPortable`.
    """
    tokens = _array_membership(_strip_casts(tokenize(text, spelling)))
    folded = {k.lower(): v for k, v in columns.items()}
    parts: list[str] = []
    for i, t in enumerate(tokens):
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if t.kind == "str":
            parts.append(target.literal(t.text))
        elif t.kind == "num":
            parts.append(t.text)
        elif t.kind == "qident":
            if t.text not in columns:
                raise NotPortable(f"unknown name {t.text}")
            parts.append(target.quote(columns[t.text]))
        elif t.kind == "word":
            up, low = t.text.upper(), t.text.lower()
            if nxt == "(" and low in _FUNCS:
                parts.append(target.char_length_function if "length" in low else low)
            elif up in _KEYWORDS:
                parts.append(up)
            elif up in ("TRUE", "FALSE"):
                parts.append(target.bool_literal(up == "TRUE"))
            elif low in folded and nxt != "(":
                parts.append(target.quote(folded[low]))
            else:
                raise NotPortable(f"`{t.text}`")
        else:
            if t.text in ("||", "::", "[", "]", ";", "$"):  # || is OR on MySQL
                raise NotPortable(f"operator {t.text}")
            parts.append("<>" if t.text == "!=" else "=" if t.text == "==" else t.text)
    return target.sql_text(_join(parts))


def _join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if out and not (out.endswith("(") or p in (")", ",")):
            out += " "
        out += p
    return out


# ---------------------------------------------------------------------------------- defaults


def portable_default(native: str | None, spelling: Spelling) -> str | None:
    """The portable form of a source default (see :class:`dmt.model.schema.Column`).

    Returns ``None`` for no default or ``NULL``; raises :class:`NotPortable` otherwise.
    """
    if native is None:
        return None
    tokens = [t for t in _strip_casts(tokenize(native, spelling)) if t.text not in ("(", ")")]
    if not tokens:
        raise NotPortable("empty default")
    words = [t.text.lower() for t in tokens]
    if len(tokens) == 1:
        t = tokens[0]
        if t.kind == "str":
            return "'" + t.text.replace("'", "''") + "'"
        if t.kind == "num":
            return t.text
        if t.kind == "word":
            if words[0] == "null":
                return None
            if words[0] in ("true", "false"):
                return words[0].upper()
            if words[0] in _NOW:
                return _NOW[words[0]]
    if len(tokens) == 2 and tokens[0].text in ("-", "+") and tokens[1].kind == "num":
        return tokens[0].text.replace("+", "") + tokens[1].text
    if len(tokens) == 2 and tokens[1].kind == "num" and words[0] in _NOW:
        return _NOW[words[0]]  # current_timestamp(6): the precision follows the column
    raise NotPortable(native)


def unquote(portable: str) -> str:
    """The value of a portable string literal ``'...'``."""
    return portable[1:-1].replace("''", "'")


def is_string(portable: str) -> bool:
    return portable.startswith("'")
