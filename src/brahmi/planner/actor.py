"""The planner actor (DESIGN §7): takes triggers off the durable inbox, runs the planner.

One actor runs inside ``brahmi serve`` (next to the worker) and one inside ``brahmi ask``.
It claims a session's oldest unfinished trigger under a lease (so one trigger at a time
per session, in order, across processes), renders it, and runs the session's planner on
it:

- a planner whose skill says ``brahmi-runtime: template`` is Brahmi's own template planner,
  run in process through :class:`~brahmi.planner.tools.PlannerTools`;
- any other planner is one :meth:`~brahmi.agents.base.AgentRuntime.converse` call on the
  runtime its skill names (default ``claude-code``), with the skill's body as system
  prompt, the rendered trigger as prompt, and the session's agent session to resume
  (with what it cost so far, so the turn's usage is its own share). Its tools are Brahmi's
  MCP tools scoped to the session (see :func:`planner_environment`). A session that is not
  on this machine (``no_session``) is replaced by a new one, told the conversation so far.

Before an agent turn the project's budget is checked (DESIGN §6): a spent budget runs no
turn; the trigger fails with a ``brahmi`` notice and a ``budget_exceeded`` event. What is
left of a USD budget bounds the turn (``max_budget_usd``).

The trigger is then closed with the turn's usage (also a ``planner`` row of the usage
table) and the agent's new session in one transaction. An actor that dies mid-turn leaves
the trigger ``handling``: the next actor takes the session over (lease run out, or the
owner process gone) and delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brahmi import errors
from brahmi.agents.base import (
    PLANNER_TOOLS,
    AgentResult,
    ConversationRequest,
    RuntimeCrashed,
    RuntimeUnavailable,
    Transcript,
)
from brahmi.domain import triggers
from brahmi.engine.identity import dead_local_owners, new_worker_id
from brahmi.planner.template import TemplatePlanner
from brahmi.planner.tools import PlannerTools
from brahmi.store.planner import Delivery
from brahmi.store.tokens import TokenStore
from brahmi.store.usage import Budget, budget_of

if TYPE_CHECKING:
    from brahmi.service import Brahmi
    from brahmi.skills.skill import Skill
    from brahmi.store.projects import ProjectRecord

log = logging.getLogger(__name__)

#: The runtime of planner skills that name none (DESIGN §7: Claude Code first).
DEFAULT_PLANNER_RUNTIME = "claude-code"
#: Seconds a planner turn may take.
TURN_TIMEOUT_S = 3600.0
#: Seconds an actor's claim on a session lasts without being extended.
LEASE_S = 60.0
#: Deliveries of one trigger before it is given up (its handler kept dying or crashing).
MAX_DELIVERIES = 3
#: Seconds a turn under way may go on once the actor is told to stop; then it is cut
#: short (its process group ended) and the next actor delivers its trigger again.
STOP_GRACE_S = 10.0
#: Seconds a planner's token outlives its turn's time limit.
TOKEN_GRACE_S = 300.0
#: Keys of a turn's outputs that may hold the planner's final text, read when it never
#: called ``user_response`` while handling a person's message.
REPLY_KEYS = ("reply", "message", "text", "result")


class PlannerActor:
    """Handles planner triggers of every session, one at a time per session.

    Args:
        brahmi: The service whose store, skills and runtimes it uses.
        lease_s: How long a claim on a session lasts without being extended (seconds).
        poll_interval_s: How often an idle actor looks for triggers without being woken.
        turn_timeout_s: The wall-clock limit of one planner turn (seconds).
        session_id: Handle only this session's triggers (``brahmi ask``); default all.
        stop_grace_s: How long a turn under way may go on after the actor is told to stop
            (seconds); then it is cancelled and its trigger stays ``handling``, delivered
            again by the next actor, as after a crash.
    """

    def __init__(
        self,
        brahmi: Brahmi,
        *,
        lease_s: float = LEASE_S,
        poll_interval_s: float = 0.25,
        turn_timeout_s: float = TURN_TIMEOUT_S,
        session_id: str | None = None,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        self.brahmi = brahmi
        self.stop_grace_s = stop_grace_s
        self.owner = new_worker_id()
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.turn_timeout_s = turn_timeout_s
        self.session_id = session_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Look for triggers now (safe to call from any thread)."""
        with self._lock:
            loop, event = self._loop, self._wakeup
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(event.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Handle triggers until ``stop`` is set; a turn under way may finish within
        ``stop_grace_s``, else it is cut short (so ``brahmi serve`` stops on SIGTERM
        instead of waiting for a turn of up to ``turn_timeout_s``)."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._wakeup = asyncio.Event()
        wakeup = self._wakeup
        try:
            while not stop.is_set():
                try:
                    handled = await self._handle_next_or_stop(stop)
                except Exception:  # e.g. the database is unreachable: retry after a pause
                    log.exception("the planner actor could not take a trigger")
                    handled = None
                if handled is not None:
                    continue
                wakeup.clear()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wakeup.wait())]
                try:
                    await asyncio.wait(
                        waiters, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            with self._lock:
                self._loop = self._wakeup = None

    async def _handle_next_or_stop(self, stop: asyncio.Event) -> Delivery | None:
        """:meth:`handle_next`, cut short ``stop_grace_s`` after ``stop`` is set."""
        handling = asyncio.ensure_future(self.handle_next())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({handling, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not handling.done():
                await asyncio.wait({handling}, timeout=self.stop_grace_s)
            if not handling.done():
                log.warning(
                    "stopping: the planner turn under way is cut short; the next actor "
                    "delivers its trigger again"
                )
                handling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await handling
                return None
            return handling.result()
        except asyncio.CancelledError:
            handling.cancel()
            raise
        finally:
            stopping.cancel()

    async def handle_next(self) -> Delivery | None:
        """Claim and handle one trigger; None when no session has one for this actor."""
        store = self.brahmi.planner_store
        delivery = await asyncio.to_thread(
            store.claim,
            self.owner,
            self.brahmi.clock.now(),
            self.lease_s,
            dead_local_owners,
            self.session_id,
        )
        if delivery is None:
            return None
        extending: list[asyncio.Future[bool]] = []
        heartbeat = asyncio.create_task(self._heartbeat(delivery.session.id, extending))
        try:
            await self._handle(delivery)
        except asyncio.CancelledError:
            # Cut short (the actor is stopping): hand the session back at once; its trigger
            # stays ``handling`` and the next actor delivers it again. A lease extension
            # already running in its thread must land first, or it would undo the hand-back.
            await _stop_heartbeat(heartbeat, extending)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    store.extend_lease, delivery.session.id, self.owner, self.brahmi.clock.now()
                )
            raise
        finally:
            await _stop_heartbeat(heartbeat, extending)
        return delivery

    async def run_until_idle(self) -> int:
        """Handle triggers until none is left for this actor; how many were handled."""
        count = 0
        while await self.handle_next() is not None:
            count += 1
        return count

    # -- one trigger -----------------------------------------------------------------------

    async def _handle(self, delivery: Delivery) -> None:
        trigger = delivery.trigger
        if trigger.deliveries > MAX_DELIVERIES:
            self._finish(
                delivery,
                "failed",
                error=f"handling was interrupted {trigger.deliveries - 1} times",
                notice=f"The planner could not handle this {_what(trigger.kind)}: its handling "
                f"was interrupted {trigger.deliveries - 1} times. It is kept in the session; "
                "send the message again to retry.",
            )
            return
        try:
            skill = self.brahmi.registry.get(delivery.session.planner_skill_id)
        except errors.BrahmiError as exc:
            self._fail(delivery, f"the planner skill is not installed: {exc.message}")
            return
        runtime_name = skill.runtime or DEFAULT_PLANNER_RUNTIME
        try:
            if runtime_name == triggers.TEMPLATE_RUNTIME:
                await asyncio.to_thread(self._run_template, delivery)
                result = AgentResult(ok=True)
            else:
                project = self.brahmi.get_project(delivery.session.project_id)
                budget = self._budget(project)
                if budget is not None and budget.exceeded:
                    self._budget_spent(delivery, budget)
                    return
                result = await self._converse(delivery, skill, runtime_name, project, budget)
        except errors.ExecutorNotFound:
            self._fail(
                delivery,
                f"the planner's runtime {runtime_name!r} is not installed here; choose another "
                "planner, e.g. the built-in one that needs no runtime (--planner template)",
            )
            return
        except errors.BrahmiError as exc:
            self._fail(delivery, exc.message)
            return
        except RuntimeUnavailable as exc:
            self._fail(delivery, f"the {runtime_name} runtime cannot run here: {exc}")
            return
        except RuntimeCrashed as exc:
            if trigger.deliveries < MAX_DELIVERIES:
                log.warning("planner turn crashed (%s); trigger %s goes back", exc, trigger.id)
                self._finish(delivery, "pending", error=str(exc))
            else:
                self._fail(delivery, f"the {runtime_name} runtime crashed: {exc}")
            return
        except TimeoutError:
            self._fail(delivery, f"the planner's turn took over {self.turn_timeout_s:g} s")
            return
        except Exception as exc:  # a planner must never take the actor down
            log.exception("planner turn failed on trigger %s", trigger.id)
            self._fail(delivery, f"{type(exc).__name__}: {exc}")
            return
        if not result.ok:
            if result.error_code == "budget_exceeded":
                self._budget_event(delivery, self.brahmi.usage.budget(delivery.session.project_id))
            self._fail(
                delivery,
                result.error or "the planner's turn failed",
                result=result,
                executor=runtime_name,
            )
            return
        notice = None
        if trigger.kind == "user_message" and not self.brahmi.planner_store.replies_to(trigger.id):
            text = final_reply(result)
            if text:
                self._reply(delivery, text)
            else:
                notice = "The planner finished its turn without replying."
        self._finish(delivery, "done", result=result, notice=notice, executor=runtime_name)

    def _run_template(self, delivery: Delivery) -> None:
        session, trigger = delivery.session, delivery.trigger
        planner = TemplatePlanner(PlannerTools(self.brahmi, session.project_id, session.id))
        if trigger.kind == "user_message" and trigger.message_id is not None:
            planner.on_user_message(self.brahmi.planner_store.message(trigger.message_id).text)
        elif trigger.kind == "task_completed" and trigger.task_id is not None:
            planner.on_task_completed(trigger.task_id)
        elif trigger.kind == "wake_up":
            planner.on_wake_up()

    def _budget(self, project: ProjectRecord) -> Budget | None:
        """The project's budget; None (nothing read) when it sets none."""
        if all(limit is None for limit in budget_of(project.settings)):
            return None
        return self.brahmi.usage.budget(project.id)

    def _budget_event(self, delivery: Delivery, budget: Budget) -> None:
        self.brahmi.store.add_event(
            delivery.session.project_id,
            None,
            "budget_exceeded",
            {
                **budget.to_dict(),
                "session_id": delivery.session.id,
                "trigger_id": delivery.trigger.id,
            },
            self.brahmi.clock.now(),
        )

    def _budget_spent(self, delivery: Delivery, budget: Budget) -> None:
        """No turn: the budget is spent (DESIGN §6). An event, a failed trigger, a notice."""
        self._budget_event(delivery, budget)
        then = (
            "send the message again"
            if delivery.trigger.kind == "user_message"
            else "ask the planner to carry on"
        )
        self._fail(
            delivery,
            f"the project's budget is spent ({budget.describe()}), so no planner turn ran; "
            f"raise it with `brahmi projects configure --budget-usd/--budget-tokens`, then {then}",
        )

    async def _converse(
        self,
        delivery: Delivery,
        skill: Skill,
        runtime_name: str,
        project: ProjectRecord,
        budget: Budget | None,
    ) -> AgentResult:
        session, trigger = delivery.session, delivery.trigger
        runtime = self.brahmi.runtimes.get(runtime_name)
        prompt = self.render(delivery)
        path = (
            self.brahmi.settings.home
            / "transcripts"
            / "planner"
            / session.id
            / f"trigger-{trigger.id:06d}-{trigger.deliveries}.log"
        )
        transcript = Transcript(path)
        transcript.header(f"# planner {session.planner_skill_id}, trigger {trigger.id}\n")
        request = ConversationRequest(
            project_id=session.project_id,
            planner_session_id=session.id,
            system_prompt=skill.body,
            prompt=prompt,
            workdir=Path(project.workspace),
            transcript=transcript,
            timeout_s=self.turn_timeout_s,
            tools=PLANNER_TOOLS,
            session_ref=session.session_ref,
            session_cost_usd=(
                self.brahmi.usage.session_cost(session.session_ref) if session.session_ref else 0.0
            ),
            env=planner_environment(
                self.brahmi, session.project_id, session.id, project.settings, self.turn_timeout_s
            ),
            tool_env=self.brahmi.settings.tool_env(),
            runtime_options=dict(project.settings.get("runtime_options") or {}),
            max_budget_usd=budget.remaining_usd if budget is not None else None,
        )
        try:
            async with asyncio.timeout(self.turn_timeout_s):
                result = await runtime.converse(request)
                if request.session_ref and not result.ok and result.error_code == "no_session":
                    # The session lives on another machine (or was deleted): start a new one,
                    # told what was said so far, and run the turn again, once.
                    log.warning("planner session %s: %s; starting anew", session.id, result.error)
                    transcript.write(f"[brahmi] {result.error}; starting a new session\n")
                    history = self.brahmi.planner_store.messages(session_id=session.id)
                    request.prompt = (
                        triggers.new_session_note(
                            [(m.role, m.text) for m in history if m.trigger_id != trigger.id]
                        )
                        + prompt
                    )
                    request.session_ref = None
                    request.session_cost_usd = 0.0
                    result = await runtime.converse(request)
                return result
        finally:
            transcript.close()

    def render(self, delivery: Delivery) -> str:
        """The prompt of a delivered trigger (DESIGN §7)."""
        trigger = delivery.trigger
        store = self.brahmi.planner_store
        if trigger.kind == "user_message" and trigger.message_id is not None:
            text = triggers.render_user_message(store.message(trigger.message_id).text)
        elif trigger.kind == "task_completed" and trigger.task_id is not None:
            task = self.brahmi.get_task(trigger.task_id)
            text = triggers.render_task_completed(
                {
                    "task_id": task.id,
                    "task_name": task.task_name,
                    "status": trigger.task_status or task.status.value,
                    "outputs": task.outputs,
                    "error": task.error,
                    "error_code": task.error_code,
                }
            )
        else:
            ids = store.session_task_ids(delivery.session.id)
            open_tasks = sum(not self.brahmi.get_task(i).status.is_settled for i in ids)
            text = triggers.render_wake_up(open_tasks)
        if trigger.deliveries > 1:
            text = triggers.redelivery_note(trigger.deliveries) + text
        return text

    # -- closing a trigger -----------------------------------------------------------------

    def _reply(self, delivery: Delivery, text: str) -> None:
        self.brahmi.record_user_response(
            delivery.session.project_id, text, planner_session_id=delivery.session.id
        )

    def _fail(
        self,
        delivery: Delivery,
        error: str,
        *,
        result: AgentResult | None = None,
        executor: str | None = None,
    ) -> None:
        log.warning("planner trigger %s failed: %s", delivery.trigger.id, error)
        self._finish(
            delivery,
            "failed",
            error=error,
            result=result,
            notice=f"The planner could not handle this {_what(delivery.trigger.kind)}: {error}",
            executor=executor,
        )

    def _finish(
        self,
        delivery: Delivery,
        status: str,
        *,
        error: str | None = None,
        result: AgentResult | None = None,
        notice: str | None = None,
        executor: str | None = None,
    ) -> None:
        closed = self.brahmi.planner_store.finish(
            delivery,
            self.owner,
            self.brahmi.clock.now(),
            status=status,
            error=error,
            session_ref=result.session_ref if result is not None else None,
            usage=result.usage.to_dict() if result is not None else None,
            notice=notice,
            executor=executor,
        )
        if not closed:
            log.warning(
                "planner session %s was taken over; trigger %s is left to its new actor",
                delivery.session.id,
                delivery.trigger.id,
            )
        if status == "pending":
            self.wake()

    async def _heartbeat(self, session_id: str, extending: list[asyncio.Future[bool]]) -> None:
        """Extend the session's lease every third of it; the extension under way is kept in
        ``extending`` (a thread cannot be cancelled: whoever stops this waits for it)."""
        store = self.brahmi.planner_store
        while True:
            await asyncio.sleep(self.lease_s / 3)
            until = self.brahmi.clock.now() + self.lease_s
            extending[:] = [
                asyncio.ensure_future(
                    asyncio.to_thread(store.extend_lease, session_id, self.owner, until)
                )
            ]
            await asyncio.shield(extending[0])


async def _stop_heartbeat(
    heartbeat: asyncio.Task[None], extending: list[asyncio.Future[bool]]
) -> None:
    """Cancel ``heartbeat`` and wait until no lease extension of it is still running."""
    heartbeat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeat
    for running in extending:
        with contextlib.suppress(Exception):
            await running


def final_reply(result: AgentResult) -> str | None:
    """What to show the person when a turn handling their message never called
    ``user_response``: a ``reply``/``message``/``text``/``result`` string of the outputs,
    else, when there are no outputs, the agent's final message; None when neither has text.
    """
    for key in REPLY_KEYS:
        value = result.outputs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if not result.outputs and result.message and result.message.strip():
        return result.message.strip()
    return None


def planner_environment(
    brahmi: Brahmi,
    project_id: str,
    session_id: str,
    project_settings: dict[str, Any],
    turn_timeout_s: float,
) -> dict[str, str]:
    """The environment of a planner turn: the project's, plus how to reach the tools.

    ``BRAHMI_PROJECT_ID`` and ``BRAHMI_PLANNER_SESSION_ID`` always; while ``brahmi serve``
    runs, also ``BRAHMI_URL``, ``BRAHMI_MCP_URL`` (the session's MCP endpoint,
    ``/projects/{project_id}/sessions/{session_id}/mcp``) and ``BRAHMI_TOKEN`` (a token for
    this project that expires with the turn). Without a server, a runtime serves the tools
    over stdio with ``brahmi mcp --planner-session ID`` (the session names its project).
    """
    env = {str(k): str(v) for k, v in (project_settings.get("env") or {}).items()}
    env["BRAHMI_PROJECT_ID"] = project_id
    env["BRAHMI_PLANNER_SESSION_ID"] = session_id
    server = brahmi.settings.server_url
    if server:
        secret, _ = TokenStore(brahmi.store.engine).create(
            now=brahmi.clock.now(),
            project_id=project_id,
            planner_session_id=session_id,
            label=f"planner session {session_id}",
            ttl_s=turn_timeout_s + TOKEN_GRACE_S,
        )
        env["BRAHMI_URL"] = server
        env["BRAHMI_MCP_URL"] = f"{server}/projects/{project_id}/sessions/{session_id}/mcp"
        env["BRAHMI_TOKEN"] = secret
    return env


def _what(kind: str) -> str:
    return {
        "user_message": "message",
        "task_completed": "task report",
        "wake_up": "wake-up",
    }.get(kind, kind)
