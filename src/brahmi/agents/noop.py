"""The ``noop`` runtime: completes at once with empty outputs (dry runs, benchmarks).

For a QA task it answers ``{"verdict": "pass"}``, so a dry run of a plan with QA tasks
completes the way a passing run would.
"""

from __future__ import annotations

from brahmi.agents.base import AgentRequest, AgentResult, AgentRuntime


class NoopRuntime(AgentRuntime):
    """Does nothing, successfully."""

    name = "noop"

    async def run(self, request: AgentRequest) -> AgentResult:
        """Return empty outputs (a passing verdict for a QA task)."""
        outputs = {"verdict": "pass"} if request.task.is_qa else {}
        return AgentResult(ok=True, outputs=outputs)
