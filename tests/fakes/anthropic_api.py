"""A local fake of the Anthropic Messages API, for driving the real Claude Code CLI.

Only the model is faked: the CLI, Brahmi's MCP server and the workspace are real. The fake
listens on 127.0.0.1 (a stdlib HTTP server in a thread), answers ``POST /v1/messages`` with
the streaming SSE format (``message_start``, ``content_block_start/delta/stop`` for text and
``tool_use`` blocks, ``message_delta`` with usage, ``message_stop``), and plays a queue of
scripted replies, one per request. Every request body is recorded for assertions.

Use it through the ``anthropic_api`` fixture (tests/conftest.py)::

    anthropic_api.reply(tool_use("mcp__brahmi__search_skills", {"q": "pytest"}))
    anthropic_api.reply(text('Done.\\n```json\\n{"ok": true}\\n```'))
    env = anthropic_api.env(home)   # ANTHROPIC_BASE_URL, a dummy key, HOME…

A reply may also be a callable taking the request body and returning blocks, for replies
that depend on what the CLI sent (e.g. echo a tool result). With the queue empty the fake
answers ``FAKE: no scripted reply left`` so a test fails on its assertions, not on a hang.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: The model name the fake reports (a real one, so the CLI's price table applies).
MODEL = "claude-sonnet-4-5"


@dataclass(frozen=True, slots=True)
class Block:
    """One content block of a scripted reply: text, or a tool_use call."""

    kind: str
    text: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    """One scripted answer to one request."""

    blocks: list[Block]
    input_tokens: int = 100
    output_tokens: int = 20
    #: Seconds to wait before answering (a slow or hung model).
    delay_s: float = 0.0
    #: Answer with this HTTP error status instead (e.g. 401 for a bad key).
    error_status: int | None = None


def text(value: str) -> Block:
    """A text block."""
    return Block("text", text=value)


def tool_use(name: str, arguments: dict[str, Any] | None = None) -> Block:
    """A tool_use block calling ``name`` (an MCP tool is ``mcp__<server>__<tool>``)."""
    return Block("tool_use", name=name, input=arguments or {})


Script = Reply | Callable[[dict[str, Any]], Reply]


class FakeAnthropicAPI:
    """The fake server; see the module docstring."""

    def __init__(self) -> None:
        self._script: deque[Script] = deque()
        self._lock = threading.Lock()
        #: Every ``/v1/messages`` request body, in arrival order.
        self.requests: list[dict[str, Any]] = []
        #: Paths of requests the fake does not implement (answered 404).
        self.unknown: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL for ``ANTHROPIC_BASE_URL``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeAnthropicAPI:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def reply(
        self,
        *blocks: Block,
        input_tokens: int = 100,
        output_tokens: int = 20,
        delay_s: float = 0.0,
    ) -> None:
        """Queue a reply made of ``blocks`` with the usage it reports."""
        self._script.append(Reply(list(blocks), input_tokens, output_tokens, delay_s))

    def reply_error(self, status: int, message: str = "scripted error") -> None:
        """Queue an HTTP error answer (401 ``authentication_error``, 500 ``api_error``…)."""
        self._script.append(Reply([text(message)], error_status=status))

    def reply_with(self, make: Callable[[dict[str, Any]], Reply]) -> None:
        """Queue a reply computed from the request body when it arrives."""
        self._script.append(make)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    def env(self, home: Path) -> dict[str, str]:
        """Environment for a CLI that talks to this fake, with ``HOME`` at ``home``."""
        home.mkdir(parents=True, exist_ok=True)
        return {
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": "sk-ant-fake-key",
            "ANTHROPIC_MODEL": MODEL,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "ENABLE_TOOL_SEARCH": "false",
        }

    # -- what the handler calls ------------------------------------------------------------

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            script = self._script.popleft() if self._script else None
        if script is None:
            return Reply([text("FAKE: no scripted reply left")])
        return script(body) if callable(script) else script

    # -- assertions helpers ----------------------------------------------------------------

    def tool_results(self) -> list[str]:
        """The text of every tool_result the CLI sent back, in order (deduplicated)."""
        seen: dict[str, str] = {}
        for body in self.requests:
            for message in body.get("messages", []):
                content = message.get("content")
                if not isinstance(content, list):
                    continue
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        seen[block.get("tool_use_id", "")] = _text_of(block.get("content"))
        return list(seen.values())

    def system_text(self, index: int = -1) -> str:
        """The system prompt of request ``index``, as one string."""
        return _text_of(self.requests[index].get("system"))

    def tool_names(self, index: int = -1) -> list[str]:
        """The names of the tools offered in request ``index``."""
        return [t.get("name", "") for t in self.requests[index].get("tools", [])]


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in value
        )
    return ""


def _events(reply: Reply, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The SSE events of one streamed reply."""
    stop = "tool_use" if any(b.kind == "tool_use" for b in reply.blocks) else "end_turn"
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
            },
        },
    )
    for index, block in enumerate(reply.blocks):
        if block.kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block.text}
        else:
            start = {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": block.name,
                "input": {},
            }
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        yield (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta},
        )
        yield ("content_block_stop", {"type": "content_block_stop", "index": index})
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
    )
    yield ("message_stop", {"type": "message_stop"})


def _handler(api: FakeAnthropicAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if path == "/v1/messages/count_tokens":
                self._json({"input_tokens": 100})
                return
            if path != "/v1/messages":
                api.unknown.append(self.path)
                self._json({"type": "error", "error": {"type": "not_found_error"}}, 404)
                return
            body = json.loads(raw or b"{}")
            reply = api._next(body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.error_status is not None:
                kind = _ERROR_TYPES.get(reply.error_status, "api_error")
                message = reply.blocks[0].text if reply.blocks else kind
                self._json(
                    {"type": "error", "error": {"type": kind, "message": message}},
                    reply.error_status,
                )
                return
            model = str(body.get("model") or MODEL)
            if not body.get("stream"):
                self._json(_whole(reply, model))
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            try:
                for name, data in _events(reply, model):
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def do_GET(self) -> None:
            api.unknown.append(self.path)
            self._json({"type": "error", "error": {"type": "not_found_error"}}, 404)

        def _json(self, data: dict[str, Any], status: int = 200) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _whole(reply: Reply, model: str) -> dict[str, Any]:
    """A non-streamed reply (the CLI streams; kept for completeness)."""
    content: list[dict[str, Any]] = []
    for block in reply.blocks:
        if block.kind == "text":
            content.append({"type": "text", "text": block.text})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": block.name,
                    "input": block.input,
                }
            )
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use"
        if any(b.kind == "tool_use" for b in reply.blocks)
        else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }
