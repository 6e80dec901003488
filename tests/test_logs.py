"""Secrets never reach any output: the redactor and the logging filter."""

from __future__ import annotations

import io
import json
import logging

from dmt.logs import Redactor, redact, setup_logging


def test_redactor_masks_known_secrets_and_dsn_passwords() -> None:
    r = Redactor()
    r.add("hunter22", None, "")
    text = r(
        "login with hunter22 to postgresql://bob:other-pw@db:5432/x and sk-ant-api03-abcdefghijkl"
    )
    assert "hunter22" not in text
    assert "other-pw" not in text and "postgresql://bob:***@db" in text
    assert "sk-ant-api03" not in text


def test_log_lines_are_redacted_text_and_json() -> None:
    redact.add("pa55word!")
    try:
        for fmt in ("text", "json"):
            buf = io.StringIO()
            setup_logging("debug", fmt, stream=buf)
            log = logging.getLogger("dmt.test")
            log.info("connecting with %s", "pa55word!")
            try:
                raise RuntimeError("driver said password=pa55word! is wrong")
            except RuntimeError:
                log.exception("failed")
            out = buf.getvalue()
            assert "pa55word!" not in out
            assert "***" in out
            if fmt == "json":
                lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
                assert lines[0]["message"] == "connecting with ***"
                assert lines[0]["level"] == "info"
    finally:
        redact.clear()
        setup_logging("warn")
