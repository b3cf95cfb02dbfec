"""The Claude Code CLI: where it is, how it is started, how its stream reads (DESIGN §6).

Brahmi runs the CLI headless (``claude -p --output-format stream-json --verbose``) and reads
its JSON lines itself. The ``claude-agent-sdk`` wheel (``pip install 'brahmi[claude]'``)
is where the CLI usually comes from: it bundles the native binary. Brahmi starts that
binary directly rather than through the SDK's client because it needs the process in its
own process group (so a timeout or cancellation can end the agent and every tool it
started) and its pid (so a worker that takes over can stop an orphan); see
docs/decisions.md.

The stream is one JSON object per line: ``system``/``init`` (the session id, tools, MCP
servers), ``assistant`` and ``user`` messages (text, ``tool_use``, ``tool_result``
blocks), and a last ``result`` (``subtype``, ``is_error``, ``num_turns``, ``usage``,
``total_cost_usd`` for the whole session, ``result``: the final text).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brahmi.agents.base import Transcript, Usage

#: Environment variable naming a ``claude`` binary to use instead of the bundled one.
CLI_ENV = "BRAHMI_CLAUDE_CLI"
#: Keys that authenticate the CLI; one of them (or a login under ``~/.claude``) is needed.
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
#: What to run to get the CLI.
INSTALL_HINT = "pip install 'brahmi[claude]' (the claude-agent-sdk wheel bundles the CLI)"
#: Environment defaults for every run: nothing leaves the machine but the model calls
#: (DESIGN §9: no telemetry by default). A project's env or the worker's may override them.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
#: Longest piece of a tool call or result written to the transcript, in characters.
TRANSCRIPT_CLIP_CHARS = 4000


def find_cli() -> Path | None:
    """The ``claude`` binary to run: ``$BRAHMI_CLAUDE_CLI``, else the one bundled in
    ``claude-agent-sdk``, else ``claude`` on ``PATH``; None when there is none."""
    configured = os.environ.get(CLI_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() else None
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "_bundled" / "claude"
        if bundled.is_file():
            return bundled
    found = shutil.which("claude")
    return Path(found) if found else None


def cli_version(cli: Path) -> str | None:
    """What ``claude --version`` prints (e.g. ``2.1.330 (Claude Code)``), or None."""
    version_file = cli.parent / "claude.version"
    if version_file.is_file():
        return version_file.read_text(encoding="utf-8").strip() + ", bundled"
    try:
        done = subprocess.run(
            [str(cli), "--version"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def sdk_version() -> str | None:
    """The installed ``claude-agent-sdk`` version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("claude-agent-sdk")
    except PackageNotFoundError:
        return None


def has_credentials(env: dict[str, str]) -> bool:
    """Whether the CLI will find a key: one of :data:`KEY_VARIABLES`, or a login file."""
    if any(env.get(key) for key in KEY_VARIABLES):
        return True
    home = Path(env.get("HOME") or Path.home())
    return (home / ".claude" / ".credentials.json").is_file()


@dataclass(slots=True)
class StreamState:
    """What the stream said so far."""

    session_id: str | None = None
    #: The ``result`` line, once it came.
    result: dict[str, Any] | None = None
    #: The text of the last assistant message (the final message, if no result came).
    last_text: str = ""
    #: Brahmi MCP tools the agent called, by name, in order.
    tool_calls: list[str] = field(default_factory=list)

    def feed(self, line: str, transcript: Transcript) -> None:
        """Read one stream line and write a readable account of it to ``transcript``."""
        line = line.strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            transcript.write(f"{line}\n")
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if event.get("session_id"):
            self.session_id = str(event["session_id"])
        if kind == "system" and event.get("subtype") == "init":
            servers = ", ".join(
                f"{s.get('name')}={s.get('status')}" for s in event.get("mcp_servers") or []
            )
            transcript.write(
                f"[claude] session {self.session_id} model {event.get('model')} "
                f"permission {event.get('permissionMode')} mcp [{servers}]\n"
            )
        elif kind == "assistant":
            self._assistant(event.get("message") or {}, transcript)
        elif kind == "user":
            for block in _blocks(event.get("message")):
                if block.get("type") == "tool_result":
                    text = _clip(_text_of(block.get("content")))
                    mark = "error" if block.get("is_error") else "result"
                    transcript.write(f"  <- {mark}: {text}\n")
        elif kind == "result":
            self.result = event
            transcript.write(
                f"[claude] {event.get('subtype')}: {event.get('num_turns')} turn(s), "
                f"session cost ${float(event.get('total_cost_usd') or 0.0):.4f}\n"
            )
        else:
            transcript.touch()

    def _assistant(self, message: dict[str, Any], transcript: Transcript) -> None:
        texts: list[str] = []
        for block in _blocks(message):
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
                transcript.write(f"assistant: {block.get('text', '')}\n")
            elif block.get("type") == "tool_use":
                name = str(block.get("name", ""))
                self.tool_calls.append(name)
                arguments = _clip(json.dumps(block.get("input"), ensure_ascii=False))
                transcript.write(f"  -> {name} {arguments}\n")
            else:
                transcript.touch()
        if texts:
            self.last_text = "\n".join(texts)

    @property
    def final_text(self) -> str:
        """The agent's final message: the result's text, else the last assistant text."""
        if self.result is not None and isinstance(self.result.get("result"), str):
            return str(self.result["result"])
        return self.last_text

    def usage(self, prior_session_cost_usd: float) -> Usage:
        """Tokens of this run and its cost: the session's total minus ``prior_session_cost_usd``
        (the CLI reports the cost of the whole session, resumes included)."""
        if self.result is None:
            return Usage()
        raw = self.result.get("usage") or {}
        input_tokens = sum(
            int(raw.get(key) or 0)
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        session_cost = float(self.result.get("total_cost_usd") or 0.0)
        return Usage(
            input_tokens=input_tokens,
            output_tokens=int(raw.get("output_tokens") or 0),
            cost_usd=max(0.0, round(session_cost - prior_session_cost_usd, 10)),
            turns=int(self.result.get("num_turns") or 0),
            session_cost_usd=session_cost,
        )


def _blocks(message: Any) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in value
        )
    return json.dumps(value, ensure_ascii=False, default=str)


def _clip(text: str) -> str:
    if len(text) <= TRANSCRIPT_CLIP_CHARS:
        return text
    return text[:TRANSCRIPT_CLIP_CHARS] + f"… [{len(text) - TRANSCRIPT_CLIP_CHARS} more chars]"
