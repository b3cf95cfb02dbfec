"""What the claude-code runtime costs besides the model: wall time per run, and the size
of what Claude Code sends per model call.

Runs the real Claude Code CLI (bundled with ``claude-agent-sdk``) against the local fake
Messages API of the tests, which answers at once, so the time is Brahmi's and the CLI's
own: starting the CLI, starting ``brahmi mcp --task`` for Brahmi's tools, one model call
(or two, with a tool call between), recording the result.

    python -m benchmarks.claude_code_overhead [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from tests.fakes.anthropic_api import FakeAnthropicAPI, text, tool_use

from brahmi.agents.claude_cli import find_cli
from brahmi.config import Settings
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled

SKILL = (
    "---\nname: bench\ndescription: A benchmark skill.\n"
    "metadata:\n  brahmi-runtime: claude-code\n---\n\nWork.\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument(
        "--tool-search",
        action="store_true",
        help="leave Claude Code's tool search on (its default; the tests turn it off)",
    )
    args = parser.parse_args()
    if find_cli() is None:
        raise SystemExit("no Claude Code CLI: pip install 'brahmi[claude]'")
    api = FakeAnthropicAPI().start()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "skills" / "bench").mkdir(parents=True)
        (root / "skills" / "bench" / "SKILL.md").write_text(SKILL, encoding="utf-8")
        (root / "ws").mkdir()
        brahmi = Brahmi(
            Settings(
                home=root / "home",
                skill_dirs=(f"{root / 'skills'}=bench/skills",),
                poll_interval_s=0.02,
            )
        )
        project = brahmi.project_for(root / "ws")
        env = api.env(root / "agent-home")
        if args.tool_search:
            env.pop("ENABLE_TOOL_SEARCH")
        brahmi.configure_project(project.id, {"env": env})

        def one(with_tool: bool) -> float:
            if with_tool:
                api.reply(tool_use("mcp__brahmi__search_skills", {"q": "bench"}))
            api.reply(text('```json\n{"ok": true}\n```'))
            spec = {"unique_id": 1, "task_name": "Bench", "skill_id": "bench/skills/bench"}
            batch = brahmi.create_tasks_batch(project.id, [spec])
            started = time.perf_counter()
            [task] = asyncio.run(run_until_settled(brahmi, batch.batch_id, timeout_s=120))
            took = time.perf_counter() - started
            assert task.status.value == "completed", task.error
            return took

        one(False)  # warm the page cache
        plain = [one(False) for _ in range(args.repeat)]
        tooled = [one(True) for _ in range(args.repeat)]
        first = api.requests[1]
        system = json.dumps(first.get("system"))
        tools = json.dumps(first.get("tools"))
        brahmi.close()
    api.stop()
    print(f"claude-code run, one model call:             median {statistics.median(plain):.2f} s")
    print(f"claude-code run, MCP search_skills + 2 calls: median {statistics.median(tooled):.2f} s")
    print(
        f"per model call Claude Code sends: system prompt {len(system):,} chars, "
        f"{len(first.get('tools') or [])} tool definitions {len(tools):,} chars "
        f"(~{(len(system) + len(tools)) // 4:,} tokens at 4 chars/token)"
    )


if __name__ == "__main__":
    main()
