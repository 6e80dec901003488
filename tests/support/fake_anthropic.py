"""A scriptable fake of the Anthropic Messages API on 127.0.0.1, for the real SDK to talk to.

Queue replies with :meth:`FakeAnthropic.script` (one per request, in order); when the queue is
empty :attr:`FakeAnthropic.default` answers. Every request is recorded (path, headers, JSON
body) so tests can check what the SDK sent and count calls.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer. ``body`` is JSON unless it is a str (sent verbatim)."""

    status: int = 200
    body: dict[str, Any] | str = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: str


def context_of(request: Request) -> dict[str, Any]:
    """The JSON context dmt sent as the user message."""
    content = request.body["messages"][0]["content"]
    text = content if isinstance(content, str) else content[0]["text"]
    return dict(json.loads(text))


def message(content: list[dict[str, Any]], stop_reason: str = "tool_use") -> Reply:
    return Reply(
        200,
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 1200, "output_tokens": 80},
        },
    )


def tool_answer(
    action: str = "continue",
    writers: int | None = 4,
    chunk_size: int | None = 50_000,
    confidence: str | None = "high",
    reasoning: str = "throughput is steady",
    name: str = "submit_adjustment",
) -> Reply:
    """A tool_use answer; pass None to leave a field out (a partial answer)."""
    adjustments = {
        k: v for k, v in (("writers", writers), ("chunk_size", chunk_size)) if v is not None
    }
    data: dict[str, Any] = {"action": action, "adjustments": adjustments, "reasoning": reasoning}
    if confidence is not None:
        data["confidence"] = confidence
    return message([{"type": "tool_use", "id": "toolu_fake", "name": name, "input": data}])


def text_answer(text: str, stop_reason: str = "end_turn") -> Reply:
    return message([{"type": "text", "text": text}], stop_reason)


def refusal() -> Reply:
    return text_answer("I can't help with that.", stop_reason="refusal")


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error(status: int, message: str = "scripted failure") -> Reply:
    kind = ERROR_TYPES.get(status, "api_error")
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})


def slow(reply: Reply, seconds: float) -> Reply:
    return Reply(reply.status, reply.body, seconds)


class FakeAnthropic:
    """The server. Use as a context manager, or call :meth:`start` and :meth:`close`."""

    def __init__(self, port: int = 0) -> None:
        # a Reply, or a function of the request (to answer from the settings it reports)
        self.default: Reply | Callable[[Request], Reply] = tool_answer()
        self.requests: list[Request] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def start(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
            default = self.default
        return default(request) if callable(default) else default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._next(Request(self.path, headers, body, raw))
                if reply.delay and fake._closing.wait(reply.delay):
                    return
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.send_header("request-id", "req_fake")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    pass

        return Handler


def demo_policy(fake: FakeAnthropic) -> Callable[[Request], Reply]:
    """For trying dmt by hand: +2 writers, then half the chunk size, then `continue`."""

    def answer(request: Request) -> Reply:
        current = context_of(request)["current"]
        n = fake.calls
        if n == 1:
            return tool_answer(
                "scale_up", writers=min(16, current["writers"] + 2),
                chunk_size=current["chunk_size"], reasoning="(fake) writers look like the bottleneck",
            )  # fmt: skip
        if n == 2:
            return tool_answer(
                "reduce_chunk", writers=current["writers"],
                chunk_size=max(1000, current["chunk_size"] // 2), reasoning="(fake) smaller batches",
            )  # fmt: skip
        return tool_answer(
            "continue", writers=current["writers"], chunk_size=current["chunk_size"],
            reasoning="(fake) steady",
        )  # fmt: skip

    return answer


def main() -> None:
    """``python -m tests.support.fake_anthropic [--port 8642]``: serve until Ctrl-C."""
    import argparse
    import time

    ap = argparse.ArgumentParser(description="A fake Anthropic Messages API for trying dmt.")
    ap.add_argument("--port", type=int, default=8642)
    args = ap.parse_args()
    fake = FakeAnthropic(port=args.port)
    fake.default = demo_policy(fake)
    with fake:
        print(f"fake Messages API on {fake.url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    for i, r in enumerate(fake.requests, 1):
        print(f"request {i}: {r.path}")


if __name__ == "__main__":
    main()
