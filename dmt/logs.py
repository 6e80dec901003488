"""Logging setup: text or JSON lines on stderr, and redaction of every known secret.

Secrets (passwords, API keys, and passwords inside DSNs) are removed by a filter on the handler,
so no logger anywhere in dmt or its libraries can print one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from typing import Any, TextIO

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR}  # fmt: skip
_DSN_PASSWORD = re.compile(r"(?P<pre>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)", re.I)
_KEY_LIKE = re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}")
MASK = "***"


class Redactor:
    """Knows the secrets of this run and masks them in any text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            for s in secrets:
                if s and len(s) >= 3 and s not in self._secrets:
                    self._secrets.append(s)
            self._secrets.sort(key=len, reverse=True)

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = list(self._secrets)
        for s in secrets:
            if s in text:
                text = text.replace(s, MASK)
        text = _DSN_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)
        return _KEY_LIKE.sub(MASK, text)


redact = Redactor()


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(out, ensure_ascii=False)


def setup_logging(verbosity: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the ``dmt`` logger tree (and third-party warnings) to write to stderr."""
    level = LEVELS[verbosity]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RedactingFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_dmt", False):
            root.removeHandler(h)
    handler._dmt = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("dmt").setLevel(level)
    # the SDK and drivers are noisy at debug; keep them at warning unless debugging dmt itself
    for name in ("httpx", "httpcore", "anthropic", "psycopg", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
