"""The fast path for column defaults: the plain ones every engine spells alike.

Most defaults are a literal, ``NULL``, a boolean or the current date/time. Reflection reduces
those to a *portable form* (see :class:`dmt.model.schema.Column`) with a small tokenizer that
knows each engine's string escapes and quotes, and each target renders the form itself: no SQL
parser is loaded for them. Anything else raises :class:`NotPortable` here and is translated by
:mod:`dmt.schema.transpile` (sqlglot) when the target is another engine. The tokenizer also
finds the CHECK clauses in SQLite's stored CREATE TABLE text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Spelling:
    """How an engine writes string literals and quoted names: what reading its expressions
    must know (each dialect declares its own)."""

    #: a backslash escapes the next character of a string literal (``'\n'`` is a newline)
    backslash_escapes: bool = False
    #: ``[name]`` quotes a name (where it does not, ``[`` indexes an array)
    bracket_names: bool = True


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
#: casts that can change a literal's meaning (PostgreSQL's ``'now'::date`` is today's date, not
#: a text): such a default is left to :mod:`dmt.schema.transpile`
_MEANINGFUL_CASTS = {"date", "timestamp", "time", "bytea"}
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
            if tokens[i].text.lower() not in _CAST_WORDS - _MEANINGFUL_CASTS:
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
            if i + 1 < len(tokens) and tokens[i].text == "[" and tokens[i + 1].text == "]":
                raise NotPortable("an array literal")  # '{}'::text[] is no text
            continue
        out.append(t)
        i += 1
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
