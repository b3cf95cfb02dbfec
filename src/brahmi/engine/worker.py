"""The worker: claims ready tasks, runs each as one agent attempt, records the result.

One asyncio loop per worker. Agent runs proceed concurrently up to ``concurrency``; every
state change goes through :class:`~brahmi.store.tasks.TaskStore` in its own transaction.
A background heartbeat extends the leases of running attempts, notices cancelled ones
(and stops them), and takes back expired leases of any worker (DESIGN §3, §9).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brahmi import errors
from brahmi.agents.base import (
    AgentRequest,
    AgentResult,
    AgentRuntime,
    Resume,
    RuntimeCrashed,
    RuntimeUnavailable,
    Transcript,
)
from brahmi.agents.prompt import render_prompt
from brahmi.agents.registry import RuntimeRegistry
from brahmi.config import Settings
from brahmi.domain import lifecycle
from brahmi.domain.lifecycle import FailureKind, Outcome
from brahmi.domain.models import Claim, TaskRecord
from brahmi.engine.clock import SYSTEM_CLOCK, Clock
from brahmi.engine.identity import dead_local_owners, new_worker_id
from brahmi.engine.orphans import stop_orphan
from brahmi.engine.transcripts import transcript_path
from brahmi.skills.catalog import Skills
from brahmi.skills.skill import Skill
from brahmi.store import outages
from brahmi.store.claims import AttemptResult, Recorder
from brahmi.store.database import OUTAGE_ERRORS
from brahmi.store.notify import ReadyListener
from brahmi.store.projects import ProjectRecord
from brahmi.store.sqlite_watch import DataVersionWatcher
from brahmi.store.tasks import TaskStore
from brahmi.store.tokens import TokenStore
from brahmi.store.usage import UsageStore, budget_of
from brahmi.store.wal_writeback import WalWriteback

log = logging.getLogger(__name__)

#: Seconds an agent's token outlives its run's time limit.
TOKEN_GRACE_S = 300.0
#: Seconds a worker waits before retrying a database that is down: the first, and the most.
OUTAGE_BACKOFF_S = (0.2, 5.0)
_HEARTBEAT_ERRORS: tuple[type[Exception], ...] = (errors.BrahmiError, *OUTAGE_ERRORS)


@dataclass(frozen=True, slots=True)
class _Finished:
    outcome: Outcome
    result: AgentResult | None = None
    executor: str | None = None
    #: The version of the skill the attempt ran with (None when it never started).
    skill_version: str | None = None


class Worker:
    """Runs ready tasks from one store until told to stop.

    Args:
        store: Where tasks are claimed and results recorded.
        catalog: The skills tasks name.
        runtimes: The agent runtimes this worker may use.
        settings: Concurrency, limits, default and forced executors.
        clock: Time source (tests inject their own).
    """

    def __init__(
        self,
        store: TaskStore,
        catalog: Skills,
        runtimes: RuntimeRegistry,
        settings: Settings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.runtimes = runtimes
        self.settings = settings
        self.clock = clock
        self.id = worker_id or new_worker_id()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._pending: list[AttemptResult] = []
        self._flush_scheduled = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._projects: dict[str, ProjectRecord] = {}
        self._workdirs: dict[str, Path] = {}
        #: False while this worker knows of no ready task it could claim (its last claim
        #: found fewer than asked, and nothing woke it since): its next results then claim
        #: the dependents they make ready directly (see TaskStore.record_and_claim).
        self._more_ready = True
        #: Counts wake-ups, so one that comes during a claim is not lost (see _flush).
        self._wakes = 0
        #: Called when the worker has no run left (e.g. ``brahmi run`` looks at once
        #: whether its tasks are settled, instead of at its next refresh).
        self.on_idle: list[Callable[[], None]] = []
        #: Records results on a connection kept open while the worker runs.
        self._recorder: Recorder = store.recorder()
        #: Watches every run's time limits (made in the worker's event loop).
        self._watchdog: _Watchdog | None = None

    # -- the loop --------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for work now (e.g. after a batch was stored by this process).

        Safe from any thread: REST routes and MCP tools run in worker threads.
        """
        self._more_ready = True
        self._wakes += 1
        if self._wake is None or self._loop is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run tasks until ``stop`` is set, then hand back what still runs."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._watchdog = _Watchdog(self.settings.idle_timeout_s)  # timers of this loop
        # The background threads start first: each opens its own connection while this
        # one registers the worker (the driver lets go of the GIL meanwhile), instead of
        # after it.
        listener = self.store.ready_listener(
            self.wake, self.settings.worker_runtimes, busy=lambda: bool(self._running)
        )
        listener.start()
        writeback = self.store.wal_writeback(self.settings.wal_writeback_s)
        if writeback is not None:
            writeback.start()
        started = False
        try:
            started = await self._start_up(stop)
        finally:
            if not started:  # told to stop first, or failed
                await self._stop_threads(listener, writeback)
        if not started:
            return
        _freeze_start_up_objects()
        self.on_idle.append(listener.nudge)  # a worker with no run left waits for work
        heartbeat = asyncio.create_task(self._heartbeat_loop(stop), name="brahmi-heartbeat")
        backoff = OUTAGE_BACKOFF_S[0]
        try:
            while not stop.is_set():
                try:
                    free = self.settings.concurrency - len(self._running)
                    wakes = self._wakes
                    claims = self._claim(free) if free > 0 else []
                    if free > 0:
                        self._more_ready = len(claims) == free or self._wakes != wakes
                    for claim in claims:
                        self._start(claim)
                    backoff = OUTAGE_BACKOFF_S[0]
                    if claims and len(claims) == free:
                        await asyncio.sleep(0)  # let finished runs record before claiming
                        continue
                    await self._idle(stop, free - len(claims))
                except OUTAGE_ERRORS as exc:
                    backoff = await self._outage(stop, exc, backoff)
        finally:
            self._stopping = True
            self._flush()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self.on_idle.remove(listener.nudge)
            await self._stop_threads(listener, writeback)
            try:
                await self._hand_back()
                self._recorder.on_connection(
                    self.store.worker_stopped, self.id, now=self.clock.now()
                )
            except OUTAGE_ERRORS:
                # Unreachable database: the leases run out and the tasks are claimed again.
                log.warning(
                    "could not hand back the tasks of worker %s; their leases run out", self.id
                )
            finally:
                self._recorder.close()

    @staticmethod
    async def _stop_threads(
        listener: ReadyListener | DataVersionWatcher, writeback: WalWriteback | None
    ) -> None:
        """Stop the ready listener's and the WAL writeback's threads."""
        if writeback is not None:
            writeback.stop()
        if isinstance(listener, DataVersionWatcher):
            listener.stop()  # at once: its thread waits on the event stop() sets
        else:
            await asyncio.to_thread(listener.stop)  # LISTEN wakes up to a second later

    async def _start_up(self, stop: asyncio.Event) -> bool:
        """Register this worker and take back dead workers' tasks, retrying while the
        database is down; False when told to stop first."""
        backoff = OUTAGE_BACKOFF_S[0]
        while not stop.is_set():
            try:
                self._recorder.on_connection(
                    self.store.register_worker,
                    self.id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    runtimes=self.settings.worker_runtimes,
                    concurrency=self.settings.concurrency,
                    now=self.clock.now(),
                )
                self.recover()
                return True
            except OUTAGE_ERRORS as exc:
                backoff = await self._outage(stop, exc, backoff)
        return False

    async def _outage(self, stop: asyncio.Event, exc: Exception, backoff: float) -> float:
        """Wait ``backoff`` seconds (or until stopped) after a database error; the next."""
        outages.count("worker")
        log.warning("the database is unavailable (%s); retrying in %.1f s", exc, backoff)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        return min(backoff * 2, OUTAGE_BACKOFF_S[1])

    def recover(self) -> int:
        """Take back tasks held by dead workers of this host and by expired leases.

        Returns:
            How many tasks were taken back.
        """
        owners = self._recorder.on_connection(self.store.running_lease_owners)
        if not owners:  # no task is running: no lease to take back (the usual start)
            return 0
        dead = dead_local_owners(owners)
        for attempt_id, process_id in self.store.running_processes(dead):
            stop_orphan(process_id, attempt_id)
        taken = self.store.expire_leases(now=self.clock.now(), owners=dead)
        if taken:
            log.info("took back %d task(s) from stopped workers", taken)
        return taken

    def _claim(self, limit: int) -> list[Claim]:
        return self._recorder.claim(
            self.id,
            limit,
            now=self.clock.now(),
            lease_s=self.settings.lease_s,
            runtimes=self.settings.worker_runtimes,
        )

    def _start(self, claim: Claim) -> None:
        task = asyncio.create_task(self._execute(claim), name=f"brahmi-task-{claim.task.id}")
        self._running[claim.attempt_id] = task
        task.add_done_callback(functools.partial(self._done, claim.attempt_id))

    def _done(self, attempt_id: str, task: asyncio.Task[None]) -> None:
        # A recorded result already claimed this worker's next tasks in its transaction
        # (_flush runs first and removes it); only a run that ended otherwise, cancelled
        # or lost, frees a slot here.
        if self._running.pop(attempt_id, None) is not None:
            self.wake()
            self._idle_now()

    def _idle_now(self) -> None:
        if not self._running:
            for callback in self.on_idle:
                callback()

    async def _idle(self, stop: asyncio.Event, free: int) -> None:
        """Wait to be woken, stopped, or for the next poll; with ``free`` slots, no longer
        than until the first ready task's backoff ends (``run_after``). With every slot
        taken there is nothing to claim: a finished run frees one and wakes the loop (or
        claims its successor itself), so no query runs while the runs go on."""
        assert self._wake is not None
        timeout = self.settings.poll_interval_s
        if free > 0:
            now = self.clock.now()
            upcoming = self._recorder.next_run_after(after=now)
            if upcoming is not None:
                timeout = max(0.0, min(timeout, upcoming - now))
        self._wake.clear()
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.heartbeat_interval_s)
            if stop.is_set():  # a stopping worker hands its tasks back instead
                return
            try:
                self.heartbeat()
            except _HEARTBEAT_ERRORS as exc:
                if isinstance(exc, OUTAGE_ERRORS):
                    outages.count("worker")
                log.exception("heartbeat failed; retrying")

    def heartbeat(self) -> None:
        """Extend leases, stop attempts that lost their task, take back expired leases.

        Projects are read again after each heartbeat, so a changed setting (a budget, the
        executor) reaches a running worker within ``heartbeat_interval_s``.
        """
        self._projects.clear()
        self.store.touch_worker(self.id, now=self.clock.now())
        lost = self.store.heartbeat(
            self.id, list(self._running), now=self.clock.now(), lease_s=self.settings.lease_s
        )
        for attempt_id in lost:
            task = self._running.get(attempt_id)
            if task is not None:
                log.info("attempt %s no longer holds its task; stopping it", attempt_id)
                task.cancel()
        if self.store.expire_leases(now=self.clock.now()):
            self.wake()

    async def _hand_back(self) -> None:
        """Stop runs still going and hand their tasks back as ready."""
        if not self._running:
            return
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self.store.release(self.id, now=self.clock.now())

    # -- one attempt -----------------------------------------------------------------------

    async def _execute(self, claim: Claim) -> None:
        task = claim.task
        # The path is built only if the run writes something (a silent run leaves no file).
        transcript = Transcript(functools.partial(self._transcript_path, claim))
        try:
            finished = await self._attempt(claim, transcript)
        except asyncio.CancelledError:
            transcript.write(
                "\n[brahmi] attempt stopped (cancelled, timed out elsewhere or lost its lease)\n"
            )
            transcript.close()
            raise
        except Exception as exc:  # a bug or broken plug-in must not take the engine down
            log.exception("attempt %s of task %s crashed", claim.attempt_id, task.id)
            finished = _Finished(
                lifecycle.after_failure(
                    FailureKind.INFRASTRUCTURE,
                    f"the runtime raised {type(exc).__name__}: {exc}",
                    attempts=claim.task.attempts_since_reset,
                    max_attempts=task.max_attempts,
                )
            )
        if finished.outcome.error:
            transcript.write(
                f"\n[brahmi] {finished.outcome.status.value}: {finished.outcome.error}\n"
            )
        transcript.close()
        result = finished.result
        self._pending.append(
            AttemptResult(
                task=task,
                attempt_id=claim.attempt_id,
                outcome=finished.outcome,
                transcript_path=str(transcript.path) if transcript.exists else None,
                usage=result.usage.to_dict() if result else None,
                skill_version=finished.skill_version,
                session_ref=result.session_ref if result else None,
                executor=finished.executor,
            )
        )
        if len(self._running) == 1 and not self._flush_scheduled:
            # The only run in flight: no other result can join its transaction.
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Record every finished attempt waiting, in one transaction, and claim more.

        Results that finish in the same turn of the event loop share a transaction (group
        commit); the slots they free are filled by claims in that same transaction.
        """
        self._flush_scheduled = False
        results, self._pending = self._pending, []
        if not results:
            return
        free = self.settings.concurrency - len(self._running) + len(results)
        claims: list[Claim] = []
        wakes = self._wakes
        try:
            done = self._recorder.record_and_claim(
                results,
                now=self.clock.now(),
                claim_next=0 if self._stopping else free,
                worker_id=self.id,
                lease_s=self.settings.lease_s,
                runtimes=self.settings.worker_runtimes,
                others_ready=self._more_ready,
            )
            claims = done.claims
            self._more_ready = done.more_ready or self._wakes != wakes
        except Exception:
            log.exception("could not record %d result(s) together; one at a time", len(results))
            for one in results:
                try:
                    self.store.finish_attempt(one, now=self.clock.now())
                except Exception:
                    # The store is unreachable: the lease runs out, another attempt follows.
                    log.exception("could not record attempt %s", one.attempt_id)
            self.wake()
        for one in results:
            self._running.pop(one.attempt_id, None)
        for next_claim in claims:
            self._start(next_claim)
        self._idle_now()

    async def _attempt(self, claim: Claim, transcript: Transcript) -> _Finished:
        task = claim.task

        def failed(kind: FailureKind, error: str, code: str | None = None) -> _Finished:
            return _Finished(
                lifecycle.after_failure(
                    kind,
                    error,
                    attempts=claim.task.attempts_since_reset,
                    max_attempts=task.max_attempts,
                    code=code,
                )
            )

        try:
            skill = self.catalog.get(task.skill_id)
        except errors.SkillNotFound as exc:
            return failed(FailureKind.UNAVAILABLE, exc.message, "skill_not_found")
        project = self._project(task.project_id)
        # Spending is read only for a project with a budget: the others pay nothing for it.
        budget = (
            UsageStore(self.store.engine).budget(task.project_id)
            if any(limit is not None for limit in budget_of(project.settings))
            else None
        )
        if budget is not None and budget.exceeded:
            # DESIGN §6: past its budget a project starts no new agent run.
            self.store.add_event(
                task.project_id,
                task.id,
                "budget_exceeded",
                budget.to_dict(),
                self.clock.now(),
            )
            return failed(
                FailureKind.UNAVAILABLE,
                f"the project's budget is spent ({budget.describe()}); raise it with "
                "`brahmi projects configure --budget-usd/--budget-tokens`, then retry",
                "budget_exceeded",
            )
        executor = self._executor_name(skill, project, task)
        try:
            runtime = self.runtimes.get(executor)
        except errors.ExecutorNotFound as exc:
            return failed(FailureKind.UNAVAILABLE, exc.message, "runtime_unavailable")
        parent = self.store.get_task(task.parent_id) if task.parent_id else None
        request = AgentRequest(
            task=task,
            skill=skill,
            system_prompt=skill.body,
            prompt_source=functools.partial(
                render_prompt, task, parent, resume_message=_message_of(task)
            ),
            workdir=self._workdir(project.workspace),
            transcript=transcript,
            attempt_id=claim.attempt_id,
            attempt=claim.attempt_number,
            timeout_s=float(task.timeout_seconds),
            env=self._environment(task, project),
            parent=parent,
            resume=self._resume_of(task),
            on_process=functools.partial(self.store.record_process, claim.attempt_id),
            max_turns=_max_turns(skill, project),
            runtime_options=dict(project.settings.get("runtime_options") or {}),
            max_budget_usd=budget.remaining_usd if budget else None,
            tool_env=self.settings.tool_env(),
        )
        transcript.header(
            f"[brahmi] task {task.id} ({task.task_name}) attempt {claim.attempt_number} "
            f"with runtime {executor}, skill {skill.full_id} {skill.version}\n"
        )
        try:
            result = await self._supervise(runtime, request)
        except RuntimeUnavailable as exc:
            finished = failed(FailureKind.UNAVAILABLE, f"runtime {executor}: {exc}")
        except RuntimeCrashed as exc:
            finished = failed(FailureKind.INFRASTRUCTURE, f"runtime {executor} crashed: {exc}")
        except _RunTimedOut as exc:
            finished = failed(FailureKind.TIMEOUT, str(exc), exc.code)
        else:
            if result.ok:
                outcome = lifecycle.after_success(result.outputs, is_qa=task.is_qa)
            else:
                outcome = lifecycle.after_failure(
                    FailureKind.AGENT,
                    result.error or "the run failed",
                    attempts=claim.task.attempts_since_reset,
                    max_attempts=task.max_attempts,
                    code=result.error_code,
                    outputs=result.outputs or None,
                )
            return _Finished(outcome, result, executor, skill.version)
        return _Finished(finished.outcome, None, executor, skill.version)

    async def _supervise(self, runtime: AgentRuntime, request: AgentRequest) -> AgentResult:
        """Run ``runtime`` under the task's timeout and the idle limit (DESIGN §3).

        The worker's :class:`_Watchdog`, not a task or a timer of this run's own, watches
        the limits: when one is reached it cancels this task, the runtime stops its
        process group, and the run ends as timed out.
        """
        current = asyncio.current_task()
        assert current is not None
        if self._watchdog is None:
            self._watchdog = _Watchdog(self.settings.idle_timeout_s)
        watched = self._watchdog.watch(current, request)
        try:
            return await runtime.run(request)
        except asyncio.CancelledError:
            if watched.expired is None:
                raise
            current.uncancel()
            raise watched.expired from None
        finally:
            self._watchdog.unwatch(current)

    # -- helpers ---------------------------------------------------------------------------

    def _project(self, project_id: str) -> ProjectRecord:
        if project_id not in self._projects:
            self._projects[project_id] = self._recorder.on_connection(
                self.store.get_project, project_id
            )
        return self._projects[project_id]

    def _workdir(self, workspace: str) -> Path:
        found = self._workdirs.get(workspace)
        if found is None:
            found = self._workdirs[workspace] = Path(workspace)
        return found

    def _executor_name(self, skill: Skill, project: ProjectRecord, task: TaskRecord) -> str:
        """Forced executor, else the one chosen at creation, else the skill's, else the
        project's, else the default (§6)."""
        return (
            self.settings.forced_executor
            or task.runtime
            or skill.runtime
            or project.settings.get("executor")
            or self.settings.default_executor
        )

    def _environment(self, task: TaskRecord, project: ProjectRecord) -> dict[str, str]:
        env = {str(k): str(v) for k, v in (project.settings.get("env") or {}).items()}
        env["BRAHMI_TASK_ID"] = task.id
        env["BRAHMI_PROJECT_ID"] = task.project_id
        if self.settings.server_url:
            # A token for this run only: read its project, search skills, add sub-tasks
            # under its own task (issue 5); it expires with the run's time limit.
            secret, _ = TokenStore(self.store.engine).create(
                now=self.clock.now(),
                project_id=task.project_id,
                task_id=task.id,
                label=f"agent run of task {task.id}",
                ttl_s=task.timeout_seconds + TOKEN_GRACE_S,
            )
            env["BRAHMI_URL"] = self.settings.server_url
            env["BRAHMI_MCP_URL"] = f"{self.settings.server_url}/projects/{task.project_id}/mcp"
            env["BRAHMI_TOKEN"] = secret
        return env

    def _resume_of(self, task: TaskRecord) -> Resume | None:
        """The ``resume_task`` message waiting for this run, if any (DESIGN §6)."""
        pending = task.pending_resume
        if not pending:
            return None
        return Resume(
            message=str(pending.get("message", "")),
            mode=str(pending.get("mode", "continue")),
            session_ref=task.session_ref,
            session_cost_usd=UsageStore(self.store.engine).session_cost(task.session_ref)
            if task.session_ref
            else 0.0,
        )

    def _transcript_path(self, claim: Claim) -> Path:
        return transcript_path(
            self.settings.transcripts_dir, claim.task.id, claim.attempt_number, claim.attempt_id
        )


_FROZEN: list[bool] = []


def _freeze_start_up_objects() -> None:
    """Move every object alive now (modules, table metadata, compiled statements) out of
    the garbage collector's reach, once per process: they live as long as it does, and a
    full collection walked all of them (tens of milliseconds, every few hundred tasks)."""
    if not _FROZEN:
        _FROZEN.append(True)
        gc.freeze()


def _message_of(task: TaskRecord) -> str | None:
    pending = task.pending_resume
    return str(pending.get("message")) if pending and pending.get("message") else None


def _max_turns(skill: Skill, project: ProjectRecord) -> int | None:
    """``metadata.brahmi-max-turns`` of the skill, else the project's ``max_turns`` option."""
    for raw in (
        skill.metadata.get("brahmi-max-turns"),
        (project.settings.get("runtime_options") or {}).get("max_turns"),
    ):
        try:
            value = int(raw) if raw is not None else 0
        except (TypeError, ValueError):
            value = 0
        if value > 0:
            return value
    return None


@dataclass(slots=True)
class _Watched:
    """One run under the watchdog: its deadline (``time.monotonic`` seconds), what tells
    its last output, and why it was stopped (None while it runs)."""

    deadline: float
    timeout_s: float
    transcript: Transcript
    expired: _RunTimedOut | None = None


class _Watchdog:
    """One timer for the limits of every run of a worker (DESIGN §3): each task's
    ``timeout_seconds`` and the idle limit (seconds without output).

    The timer is set for the earliest moment a run could reach a limit; when it fires,
    every run is checked, those past a limit are cancelled (with the reason kept), and the
    timer is set again. Starting a run sets no timer of its own unless it could expire
    before every other run.
    """

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._watched: dict[asyncio.Task[object], _Watched] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    def watch(self, task: asyncio.Task[Any], request: AgentRequest) -> _Watched:
        """Watch ``task``, which runs ``request``, from now on."""
        now = time.monotonic()
        watched = _Watched(now + request.timeout_s, request.timeout_s, request.transcript)
        self._watched[task] = watched
        due = min(watched.deadline, request.transcript.last_activity + self.idle_s)
        if due < self._due:
            self._set(due, now)
        return watched

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        """Stop watching ``task`` (its run ended)."""
        self._watched.pop(task, None)

    def _set(self, due: float, now: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._due = due
        self._handle = asyncio.get_running_loop().call_later(max(0.0, due - now), self._check)

    def _check(self) -> None:
        self._handle, self._due = None, math.inf
        now = time.monotonic()
        upcoming = math.inf
        for task, watched in list(self._watched.items()):
            idle_deadline = watched.transcript.last_activity + self.idle_s
            if now >= watched.deadline:
                watched.expired = _RunTimedOut(f"timeout after {watched.timeout_s:g} s", "timeout")
            elif now >= idle_deadline:
                watched.expired = _RunTimedOut(
                    f"idle for {self.idle_s:g} s without output", "idle_timeout"
                )
            else:
                upcoming = min(upcoming, watched.deadline, idle_deadline)
                continue
            del self._watched[task]
            task.cancel()
        if upcoming < math.inf:
            self._set(upcoming, now)


class _RunTimedOut(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
