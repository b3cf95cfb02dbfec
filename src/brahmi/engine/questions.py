"""``resume_task(mode="qa")``: ask a finished task's agent session a question (DESIGN §6).

The question runs outside the worker: no claim, no attempt, no change to the task. The
runtime that ran the task's last attempt resumes its session read-only (the claude-code
runtime forks it, with only Read, Glob, Grep and Brahmi's read tools), the answer is
returned and recorded as a ``question_answered`` event, and what it cost is added to the
task's and project's usage. The wait is bounded (``settings.question_timeout_s``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brahmi import errors
from brahmi.agents.base import (
    AgentRequest,
    Resume,
    RuntimeCrashed,
    RuntimeUnavailable,
    Transcript,
)
from brahmi.agents.registry import RuntimeRegistry
from brahmi.config import Settings
from brahmi.domain.models import TaskRecord
from brahmi.engine.clock import Clock
from brahmi.skills.catalog import Skills
from brahmi.store.tasks import TaskStore
from brahmi.store.usage import UsageStore

#: Brahmi tools a question's agent may call: nothing that changes state.
QUESTION_TOOLS = ("search_skills", "get_task", "list_tasks")


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply of a task's agent session to a question."""

    task_id: str
    question: str
    answer: str
    #: The session the question ran in (a fork of the task's, for claude-code).
    session_ref: str | None
    #: ``Usage.to_dict()``: tokens and USD of this question.
    usage: dict[str, Any]
    duration_s: float
    transcript_path: str | None

    def to_dict(self) -> dict[str, Any]:
        """As returned by MCP, REST and ``brahmi tasks resume --mode qa --json``."""
        return {
            "task_id": self.task_id,
            "mode": "qa",
            "question": self.question,
            "answer": self.answer,
            "session_ref": self.session_ref,
            "usage": self.usage,
            "duration_s": round(self.duration_s, 3),
            "transcript": self.transcript_path,
        }


async def ask(
    task: TaskRecord,
    question: str,
    *,
    store: TaskStore,
    catalog: Skills,
    runtimes: RuntimeRegistry,
    settings: Settings,
    clock: Clock,
    timeout_s: float | None = None,
) -> Answer:
    """Ask ``task``'s agent session ``question`` and wait for the answer.

    Args:
        timeout_s: The longest wait in seconds (default ``settings.question_timeout_s``);
            at the limit the agent's process group is ended.

    Raises:
        NoSession: The task has no session, or the session is not on this machine.
        BudgetExceeded: The project's budget is spent.
        RuntimeUnavailable: The runtime cannot run here.
        QuestionTimedOut: No answer within ``timeout_s``.
        QuestionFailed: The agent ran but gave no answer.
    """
    if not question.strip():
        raise errors.InvalidTransition("a question needs some text", task_id=task.id)
    if task.session_ref is None:
        raise errors.NoSession(f"task {task.id} has no agent session to ask", task_id=task.id)
    usage_store = UsageStore(store.engine)
    budget = usage_store.budget(task.project_id)
    if budget.exceeded:
        raise errors.BudgetExceeded(
            f"the project's budget is spent ({budget.describe()})", project_id=task.project_id
        )
    executor = _executor_of(store, task)
    try:
        runtime = runtimes.get(executor)
    except errors.ExecutorNotFound as exc:
        raise errors.RuntimeUnavailable(exc.message, executor=executor) from exc
    skill = catalog.get(task.skill_id)
    project = store.get_project(task.project_id)
    limit = timeout_s if timeout_s is not None else settings.question_timeout_s
    question_id = uuid.uuid4().hex[:8]
    transcript = Transcript(settings.transcripts_dir / task.id / f"question-{question_id}.log")
    transcript.header(f"[brahmi] question to task {task.id} ({task.task_name}): {question}\n")
    env = {str(k): str(v) for k, v in (project.settings.get("env") or {}).items()}
    env["BRAHMI_TASK_ID"] = task.id
    env["BRAHMI_PROJECT_ID"] = task.project_id
    request = AgentRequest(
        task=task,
        skill=skill,
        system_prompt=skill.body,
        prompt_source=question,
        workdir=Path(project.workspace),
        transcript=transcript,
        attempt_id=f"{task.id}:question-{question_id}",
        attempt=0,
        timeout_s=limit,
        env=env,
        resume=Resume(
            message=question,
            mode="qa",
            session_ref=task.session_ref,
            session_cost_usd=usage_store.session_cost(task.session_ref),
        ),
        tools=QUESTION_TOOLS,
        runtime_options=dict(project.settings.get("runtime_options") or {}),
        max_budget_usd=budget.remaining_usd,
        tool_env=settings.tool_env(),
    )
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(runtime.run(request), limit)
    except TimeoutError:
        transcript.write(f"\n[brahmi] no answer within {limit:g} s\n")
        raise errors.QuestionTimedOut(
            f"task {task.id}'s agent gave no answer within {limit:g} s", task_id=task.id
        ) from None
    except RuntimeUnavailable as exc:
        raise errors.RuntimeUnavailable(f"runtime {executor}: {exc}", executor=executor) from exc
    except RuntimeCrashed as exc:
        raise errors.QuestionFailed(f"runtime {executor} crashed: {exc}", task_id=task.id) from exc
    finally:
        transcript.close()
    usage = result.usage.to_dict()
    usage_store.record(
        project_id=task.project_id,
        usage=usage,
        kind="question",
        now=clock.now(),
        task_id=task.id,
        executor=executor,
        session_ref=result.session_ref,
    )
    if not result.ok:
        if result.error_code == "no_session":
            raise errors.NoSession(result.error or "no session", task_id=task.id)
        raise errors.QuestionFailed(
            f"task {task.id}'s agent could not answer: {result.error}", task_id=task.id
        )
    answer = Answer(
        task_id=task.id,
        question=question,
        answer=(result.message or "").strip(),
        session_ref=result.session_ref,
        usage=usage,
        duration_s=time.monotonic() - started,
        transcript_path=str(transcript.path) if transcript.exists else None,
    )
    store.add_event(
        task.project_id,
        task.id,
        "question_answered",
        {"question": question, "answer": answer.answer, "usage": usage},
        clock.now(),
    )
    return answer


def _executor_of(store: TaskStore, task: TaskRecord) -> str:
    """The runtime of the task's last attempt that named one (it holds the session)."""
    for attempt in reversed(store.attempts_for(task.id)):
        if attempt.executor:
            return attempt.executor
    raise errors.NoSession(f"task {task.id} never ran on an agent runtime", task_id=task.id)
