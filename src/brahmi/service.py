"""The service layer: the operations every interface (CLI, REST, MCP) calls.

Interfaces parse their input, call one of these, and translate the result; the rules live
in :mod:`brahmi.domain`, the transactions in :mod:`brahmi.store`.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brahmi import errors
from brahmi.config import Settings
from brahmi.domain import triggers as planner_rules
from brahmi.domain.batch import (
    bind_ids,
    critiqued_task_ids,
    normalise_batch,
    normalise_subtask,
    referenced_task_ids,
)
from brahmi.domain.models import NormalisedBatch, TaskRecord, TaskStatus
from brahmi.domain.problems import Problem
from brahmi.engine.clock import SYSTEM_CLOCK, Clock
from brahmi.store.database import create_db_engine, ensure_schema, require_schema
from brahmi.store.projects import ProjectRecord
from brahmi.store.tasks import BoundTask, TaskStore

# The skill registry, the planner's store, tokens and usage are imported where used: a
# command that only reads tasks (``brahmi tasks list``) does not load them (~15 ms).
if TYPE_CHECKING:
    from brahmi.agents.registry import RuntimeRegistry
    from brahmi.engine.questions import Answer
    from brahmi.engine.transcripts import TranscriptChunk
    from brahmi.engine.worker import Worker
    from brahmi.registry import SkillHit, SkillRegistry
    from brahmi.skills.catalog import Skills
    from brahmi.store.planner import MessageRecord, PlannerStore, SessionRecord, TriggerRecord
    from brahmi.store.tokens import TokenStore
    from brahmi.store.usage import UsageStore


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """The reply to a person's message: the session it went to, the conversation entry and
    the trigger queued for the planner (DESIGN §7)."""

    session: SessionRecord
    message: MessageRecord
    trigger: TriggerRecord

    def to_dict(self) -> dict[str, Any]:
        """As returned over the wire."""
        return {
            "session_id": self.session.id,
            "planner": self.session.planner_skill_id,
            "message": self.message.to_dict(),
            "trigger_id": self.trigger.id,
        }


@dataclass(frozen=True, slots=True)
class BatchCreated:
    """The reply to ``create_tasks_batch``: each batch id mapped to its new task id."""

    batch_id: str
    task_ids: dict[str, str]
    warnings: list[Problem] = field(default_factory=list)
    #: True when an identical batch already existed and was returned instead.
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """As returned over the wire."""
        return {
            "batch_id": self.batch_id,
            "task_ids": self.task_ids,
            "warnings": [w.to_dict() for w in self.warnings],
        }


class Brahmi:
    """One Brahmi instance: settings, the store, the skills and the runtimes.

    Args:
        settings: From :func:`brahmi.config.load_settings`.
        catalog: The skills; default: the registry (built-ins, registered sources, and
            ``settings.skill_dirs`` for this instance).
        runtimes: The runtimes; default: every installed ``brahmi.executors`` plug-in.
        clock: Time source.

    Raises:
        StoreUnavailable: When the database cannot be opened or migrated.
        InvalidSkill: When a ``--skills`` value is malformed.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: Skills | None = None,
        runtimes: RuntimeRegistry | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self._store: TaskStore | None = None
        self._catalog = catalog
        self._registry: SkillRegistry | None = None
        #: Called after anything that may make a task ready (a worker's ``wake``).
        self.on_change: list[Callable[[], None]] = []
        #: Called after a planner trigger was queued here (a planner actor's ``wake``).
        self.on_trigger: list[Callable[[], None]] = []
        self._runtimes = runtimes
        self.clock = clock

    @property
    def runtimes(self) -> RuntimeRegistry:
        """The agent runtimes (the built-in ones and the installed plug-ins unless given),
        loaded on first use: commands that only read tasks never load them."""
        if self._runtimes is None:
            from brahmi.agents.registry import RuntimeRegistry

            self._runtimes = RuntimeRegistry()
        return self._runtimes

    @property
    def store(self) -> TaskStore:
        """The database, opened (and migrated if behind) on first use.

        Raises:
            StoreUnavailable: When it cannot be opened or migrated.
        """
        if self._store is None:
            if self.settings.database_url is None:
                self.settings.home.mkdir(parents=True, exist_ok=True)
            engine = create_db_engine(self.settings.url)
            try:
                # The embedded SQLite file is migrated on first use; a shared database only
                # by `brahmi db upgrade` (DESIGN §9).
                if engine.dialect.name == "sqlite":
                    ensure_schema(engine)
                else:
                    require_schema(engine)
            except errors.BrahmiError:
                engine.dispose()
                raise
            self._store = TaskStore(engine)
        return self._store

    @property
    def registry(self) -> SkillRegistry:
        """The skill registry in this instance's database (opened on first use)."""
        if self._registry is None:
            from brahmi.registry import SkillRegistry
            from brahmi.skills.catalog import SkillSource
            from brahmi.store.skills import SkillIndex

            self._registry = SkillRegistry(
                SkillIndex(self.store.engine),
                self.settings.home,
                [SkillSource.parse(spec) for spec in self.settings.skill_dirs],
            )
        return self._registry

    @property
    def catalog(self) -> Skills:
        """The skills tasks may name: the registry, unless another catalog was given."""
        return self._catalog if self._catalog is not None else self.registry

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    def close(self) -> None:
        """Release the database connections, if any were opened."""
        if self._store is not None:
            self._store.engine.dispose()

    # -- projects --------------------------------------------------------------------------

    def project_for(self, workspace: Path) -> ProjectRecord:
        """The project whose workspace is ``workspace``, created on first use.

        Raises:
            BrahmiError: When ``workspace`` is not a folder.
        """
        folder = workspace.expanduser().resolve()
        if not folder.is_dir():
            raise errors.BrahmiError(f"project folder {workspace} does not exist")
        project = self.store.ensure_project(str(folder), folder.name, self.clock.now())
        self.sync_project_skills(project)
        return project

    def sync_project_skills(self, project: ProjectRecord | str) -> None:
        """Index the skills the project's workspace ships (``.agents/skills``,
        ``.claude/skills``) if they changed; cheap when they did not (see
        :meth:`~brahmi.registry.SkillRegistry.sync_project`). Called when a project is
        opened and before a planner searches skills, never per task.

        Raises:
            ProjectNotFound: When ``project`` is an id no project has.
        """
        if isinstance(project, str):
            project = self.store.get_project(project)
        self.registry.sync_project(Path(project.workspace), project.name)

    def search_skills(
        self,
        project_id: str,
        category: str | None = None,
        tag: str | None = None,
        q: str | None = None,
    ) -> list[SkillHit]:
        """``search_skills`` for a project's planner or agent (DESIGN §8): the registry's
        search, best match first, after the project's own skills were re-read if its
        workspace changed them (:meth:`sync_project_skills`).

        Raises:
            ProjectNotFound: When no project has that id.
        """
        self.sync_project_skills(project_id)
        return self.registry.search(category=category, tag=tag, q=q)

    def list_projects(self) -> list[ProjectRecord]:
        """Every project, oldest first."""
        from brahmi.store.projects import list_projects

        return list_projects(self.store.engine)

    def get_project(self, project_id: str) -> ProjectRecord:
        """The project with this id. Raises :class:`~brahmi.errors.ProjectNotFound`."""
        return self.store.get_project(project_id)

    def configure_project(self, project_id: str, changes: dict[str, Any]) -> ProjectRecord:
        """Change a project's settings; a None value removes the key (issue 6).

        Keys: ``env`` (a dict of strings, the agents' environment), ``executor`` (the
        default runtime), ``runtime_options`` (e.g. ``permission_mode``, ``allowed_tools``,
        ``model``, ``max_turns`` for claude-code), ``budget`` (``{"usd", "tokens"}``, each
        optional, non-negative).

        Raises:
            ProjectNotFound: No such project.
            InvalidSetting: An unknown key or a value of the wrong shape.
        """
        from brahmi.store.projects import update_settings

        checked = {key: _setting(key, value) for key, value in changes.items()}
        return update_settings(self.store.engine, project_id, checked, self.clock.now())

    @property
    def usage(self) -> UsageStore:
        """Tokens and cost per task, planner session and project, and project budgets."""
        from brahmi.store.usage import UsageStore

        return UsageStore(self.store.engine)

    @property
    def tokens(self) -> TokenStore:
        """Bearer tokens in this instance's database."""
        from brahmi.store.tokens import TokenStore

        return TokenStore(self.store.engine)

    # -- planner sessions and conversation (DESIGN §7) --------------------------------------

    @property
    def planner_store(self) -> PlannerStore:
        """Planner sessions, triggers and conversations in this instance's database."""
        from brahmi.store.planner import PlannerStore

        return PlannerStore(self.store.engine)

    def resolve_planner(self, name: str | None, project_id: str | None = None) -> str:
        """The full_id of the planner skill ``name`` names (DESIGN §7).

        ``None`` picks the project's ``planner`` setting, else its most recently active
        session's planner, else ``brahmi/builtin/default-planner``; ``template`` is the
        built-in template planner; otherwise a full_id or the short name of one skill of
        category ``planner``.

        Raises:
            PlannerNotFound: No planner skill has that name (the known ones are listed).
        """
        if name is None and project_id is not None:
            project = self.store.get_project(project_id)
            name = project.settings.get("planner")
            if name is None:
                latest = self.planner_store.active_session(project_id)
                name = latest.planner_skill_id if latest is not None else None
        planners = [(h.full_id, h.name) for h in self.registry.search(category="planner")]
        return planner_rules.choose_planner(name, planners)

    def planner_session(self, project_id: str, planner: str | None = None) -> SessionRecord:
        """The session of ``project_id`` with the planner ``planner`` names, created on
        first use (see :meth:`resolve_planner`).

        Raises:
            ProjectNotFound, PlannerNotFound.
        """
        full_id = self.resolve_planner(planner, project_id)
        return self.planner_store.ensure_session(project_id, full_id, self.clock.now())

    def post_message(
        self, project_id: str, text: str, *, planner: str | None = None
    ) -> MessagePosted:
        """A person's message to the project's planner: appended to the conversation with
        its ``user_message`` trigger, in one transaction (DESIGN §7).

        Args:
            planner: Which planner (see :meth:`resolve_planner`); default the project's.

        Raises:
            InvalidMessage: Empty, or longer than ``MAX_MESSAGE_CHARS``; nothing stored.
            ProjectNotFound, PlannerNotFound.
        """
        text = planner_rules.check_message(text)
        session = self.planner_session(project_id, planner)
        message, trigger = self.planner_store.post_user_message(session, text, self.clock.now())
        self._triggered()
        return MessagePosted(session, message, trigger)

    def record_user_response(
        self, project_id: str, message: str, *, planner_session_id: str | None = None
    ) -> MessageRecord:
        """``user_response``: append a planner's reply to its conversation (DESIGN §7).

        Args:
            project_id: The project the caller acts on.
            message: The reply.
            planner_session_id: The session replying (the planner's tools pass it); default
                the project's session handling a trigger now, else its latest session,
                else a new session of the project's planner.

        Returns:
            The conversation entry (the earlier one when the same text was already given
            while handling the same trigger).

        Raises:
            InvalidMessage: Empty or too long. ProjectNotFound, SessionNotFound.
        """
        text = planner_rules.check_message(message)
        self.store.get_project(project_id)
        planners = self.planner_store
        if planner_session_id is not None:
            session = planners.get_session(planner_session_id)
            if session.project_id != project_id:
                raise errors.SessionNotFound(
                    f"planner session {planner_session_id} belongs to another project",
                    session_id=planner_session_id,
                )
        else:
            session = planners.active_session(project_id) or self.planner_session(project_id)
        return planners.append_reply(session, text, self.clock.now())

    def conversation(
        self, project_id: str, *, session_id: str | None = None, after_id: int = 0
    ) -> list[MessageRecord]:
        """The project's conversation (of one session), entries after ``after_id``.

        Raises:
            ProjectNotFound.
        """
        self.store.get_project(project_id)
        return self.planner_store.messages(
            project_id=project_id, session_id=session_id, after_id=after_id
        )

    def wake_up(self, project_id: str | None = None) -> list[TriggerRecord]:
        """Queue a ``wake_up`` trigger for every session with unfinished work (of one
        project): a top-level task of its batches not settled yet (DESIGN §7). A session
        that already has a ``wake_up`` waiting gets no second one.

        Returns:
            The triggers queued.
        """
        planners = self.planner_store
        queued = []
        for session in planners.sessions_with_open_tasks():
            if project_id is not None and session.project_id != project_id:
                continue
            trigger = planners.queue_wake_up(session, self.clock.now())
            if trigger is not None:
                queued.append(trigger)
        if queued:
            self._triggered()
        return queued

    def _triggered(self) -> None:
        for callback in self.on_trigger:
            callback()

    # -- batches ---------------------------------------------------------------------------

    def validate_batch(self, tasks: Any) -> NormalisedBatch:
        """Check a batch without storing it (DESIGN §2).

        Raises:
            InvalidBatch: With every problem found.
        """
        referenced = referenced_task_ids(tasks)
        existing = (
            self.store.existing_tasks(referenced, ancestors=bool(critiqued_task_ids(tasks)))
            if referenced
            else {}
        )
        return normalise_batch(tasks, skills=self.catalog.full_ids(), existing=existing)

    def create_tasks_batch(
        self,
        project_id: str,
        tasks: Any,
        *,
        user_id: str | None = None,
        source: str | None = None,
        reuse_identical: bool = False,
        planner_session_id: str | None = None,
    ) -> BatchCreated:
        """Validate and store a batch atomically: all tasks or none (DESIGN §2).

        Args:
            project_id: The project the tasks belong to.
            tasks: The list of task specs, in any one dialect.
            user_id: Who creates them (default: the local user).
            source: Where the batch came from, for people (``plan:PATH``, ``mcp``…).
            reuse_identical: Return the newest earlier batch of this project with the same
                content instead of creating a second one (``brahmi run --resume``).
            planner_session_id: The planner session creating it through its tools
                (DESIGN §7): its top-level tasks report back to the session as
                ``task_completed`` triggers, and the same content created again while
                handling the same trigger (a redelivery) returns the earlier batch.

        Raises:
            InvalidBatch: With every problem found; nothing was stored.
            SessionNotFound: ``planner_session_id`` names no session of this project.
        """
        batch = self.validate_batch(tasks)
        content_hash = hashlib.sha256(
            json.dumps(tasks, sort_keys=True, separators=(",", ":"), default=str).encode()
        ).hexdigest()
        planner: tuple[str, int | None] | None = None
        if planner_session_id is not None:
            session = self.planner_store.get_session(planner_session_id)
            if session.project_id != project_id:
                raise errors.SessionNotFound(
                    f"planner session {planner_session_id} belongs to another project",
                    session_id=planner_session_id,
                )
            planner = (session.id, session.current_trigger_id)
            if session.current_trigger_id is not None:
                earlier = self.planner_store.batch_for_trigger(
                    session.current_trigger_id, content_hash
                )
                if earlier is not None:
                    stored = self.store.list_tasks(batch_id=earlier)
                    ids = {t.batch_key or t.id: t.id for t in stored if t.parent_id is None}
                    return BatchCreated(earlier, ids, batch.warnings, reused=True)
        if reuse_identical:
            earlier = self.store.find_batch(project_id, content_hash)
            if earlier is not None:
                stored = self.store.list_tasks(batch_id=earlier)
                ids = {t.batch_key or t.id: t.id for t in stored}
                return BatchCreated(earlier, ids, batch.warnings, reused=True)
        ids = {task.key: str(uuid.uuid4()) for task in batch.tasks}
        runtime_of = self._runtime_chooser(project_id)
        bound = [
            BoundTask(ids[spec.key], spec, deps, critiques, runtime_of(spec.skill_id))
            for spec, deps, critiques in bind_ids(batch, ids)
        ]
        batch_id = str(uuid.uuid4())
        self.store.insert_batch(
            project_id=project_id,
            user_id=user_id or _local_user(),
            batch_id=batch_id,
            source=source,
            content_hash=content_hash,
            tasks=bound,
            now=self.clock.now(),
            planner=planner,
        )
        self._changed()
        return BatchCreated(batch_id, ids, batch.warnings)

    # -- tasks -----------------------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id. Raises :class:`~brahmi.errors.TaskNotFound`."""
        return self.store.get_task(task_id)

    def read_transcript(
        self, task_id: str, *, attempt_id: str | None = None, offset: int = 0
    ) -> TranscriptChunk | None:
        """A piece of a task's transcript from byte ``offset``: of ``attempt_id``, else of
        its newest attempt (the one running, if any); None when it has no attempt yet (an
        unknown ``task_id`` reads the same: the caller checks the task exists).

        Raises:
            TaskNotFound: ``attempt_id`` is not an attempt of that task.
        """
        attempts = self.store.attempts_for(task_id)
        if attempt_id is not None:
            attempts = [a for a in attempts if a.id == attempt_id]
            if not attempts:
                raise errors.TaskNotFound(
                    f"task {task_id} has no attempt {attempt_id!r}", task_id=task_id
                )
        if not attempts:
            return None
        from brahmi.engine.transcripts import read_chunk

        return read_chunk(self.settings.transcripts_dir, attempts[-1], offset)

    def list_tasks(
        self,
        *,
        project_id: str | None = None,
        batch_id: str | None = None,
        status: TaskStatus | None = None,
    ) -> list[TaskRecord]:
        """Tasks in (``task_order``, creation) order, filtered as asked."""
        return self.store.list_tasks(project_id=project_id, batch_id=batch_id, status=status)

    def create_task(
        self,
        project_id: str,
        spec: Any,
        *,
        user_id: str | None = None,
        source: str | None = None,
        planner_session_id: str | None = None,
    ) -> TaskRecord:
        """Create one task (the seeds' ``create_task``): its ``dependencies`` are ids of
        tasks that already exist (DESIGN §2). ``planner_session_id`` as for
        :meth:`create_tasks_batch`.

        Raises:
            InvalidTask: With every problem found; nothing was stored.
        """
        if not isinstance(spec, dict):
            raise errors.InvalidTask(
                [Problem("task", "invalid_type", "a task spec is a JSON object")]
            )
        batch_spec = {"unique_id": 1, "task_order": 1, **spec}
        try:
            created = self.create_tasks_batch(
                project_id,
                [batch_spec],
                user_id=user_id,
                source=source or "create_task",
                planner_session_id=planner_session_id,
            )
        except errors.InvalidBatch as exc:
            problems = [
                Problem(p.path.replace("tasks[0]", "task", 1), p.code, p.message)
                for p in exc.problems
            ]
            raise errors.InvalidTask(problems, exc.warnings) from None
        return self.store.get_task(created.task_ids["1"])

    def create_subtask(
        self,
        parent_task_id: str,
        spec: Any,
        *,
        position: int | None = None,
        after: str | None = None,
    ) -> TaskRecord:
        """Add a sub-task to a task (DESIGN §4): one level deep, no explicit dependencies,
        run in ``position`` order after its earlier siblings.

        Args:
            parent_task_id: The parent's id.
            spec: ``task_name``, ``description``, ``skill_id`` (default: the parent's),
                ``inputs``, ``validation_criteria``, ``timeout_seconds``…
            position: Insert at this position (1-based); default last.
            after: Insert right after this sibling (its id).

        Raises:
            TaskNotFound: No such parent.
            SubtaskNesting: The parent is itself a sub-task.
            SubtaskDependencies: The spec names dependencies.
            InsertionBeforeStarted: A sibling at or after the position already started.
            InvalidTask: The spec breaks another rule; nothing was stored.
        """
        parent = self.store.get_task(parent_task_id)
        if parent.parent_id is not None:
            raise errors.SubtaskNesting(
                f"task {parent_task_id} is a sub-task; sub-tasks are one level deep",
                parent_task_id=parent_task_id,
            )
        task = normalise_subtask(
            spec, skills=self.catalog.full_ids(), parent_skill_id=parent.skill_id
        )
        created = self.store.create_subtask(
            parent_task_id,
            task,
            now=self.clock.now(),
            position=position,
            after=after,
            runtime=self._runtime_chooser(parent.project_id)(task.skill_id),
        )
        self._changed()
        return created

    def retry_task(self, task_id: str) -> TaskRecord:
        """Run a failed, blocked or cancelled task again, with what it blocked (DESIGN §3).

        Raises:
            TaskNotFound: No such task.
            InvalidTransition: The task is not failed, blocked or cancelled.
        """
        retried = self.store.retry(task_id, now=self.clock.now())
        self._changed()
        return retried

    def resume_task(self, task_id: str, message: str, mode: str = "continue") -> TaskRecord:
        """``resume_task`` (DESIGN §6). ``continue`` runs a finished task again with
        ``message``; new outputs replace the old, which stay in its history. For ``qa``
        (a question, answered without changing anything) call :meth:`ask_task`.

        Raises:
            TaskNotFound: No such task.
            InvalidTransition: The task has not finished, or ``mode`` is not supported.
            NoSession: ``mode="qa"`` for a task without an agent session.
        """
        if mode == "qa":
            if self.store.get_task(task_id).session_ref is None:
                raise errors.NoSession(
                    f"task {task_id} has no agent session to ask", task_id=task_id
                )
            raise errors.InvalidTransition(
                "mode 'qa' answers a question and changes nothing: call ask_task",
                task_id=task_id,
            )
        if mode != "continue":
            raise errors.InvalidTransition(
                f"mode must be 'continue' or 'qa', not {mode!r}", task_id=task_id
            )
        if not message.strip():
            raise errors.InvalidTransition("resume_task needs a message", task_id=task_id)
        resumed = self.store.resume(task_id, message, mode, now=self.clock.now())
        self._changed()
        return resumed

    async def ask_task_async(
        self, task_id: str, question: str, *, timeout_s: float | None = None
    ) -> Answer:
        """``resume_task(mode="qa")`` (DESIGN §6): ask the task's agent session ``question``;
        no task state changes; the answer is returned and recorded as an event.

        Args:
            timeout_s: Longest wait in seconds (default ``settings.question_timeout_s``).

        Raises:
            TaskNotFound, NoSession, BudgetExceeded, RuntimeUnavailable, QuestionTimedOut,
            QuestionFailed: See :func:`brahmi.engine.questions.ask`.
        """
        from brahmi.engine.questions import ask

        return await ask(
            self.store.get_task(task_id),
            question,
            store=self.store,
            catalog=self.catalog,
            runtimes=self.runtimes,
            settings=self.settings,
            clock=self.clock,
            timeout_s=timeout_s,
        )

    def ask_task(self, task_id: str, question: str, *, timeout_s: float | None = None) -> Answer:
        """:meth:`ask_task_async` for callers without an event loop (CLI, REST threads)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="brahmi-question") as pool:
            return pool.submit(
                asyncio.run, self.ask_task_async(task_id, question, timeout_s=timeout_s)
            ).result()

    def cancel_task(self, task_id: str) -> TaskRecord:
        """Cancel a task that has not finished (DESIGN §3); its dependents become blocked.

        Raises:
            TaskNotFound: No such task.
            InvalidTransition: The task already finished.
        """
        return self.store.cancel(task_id, now=self.clock.now())

    # -- running ---------------------------------------------------------------------------

    def _runtime_chooser(self, project_id: str) -> Callable[[str], str | None]:
        """``skill_id → runtime`` for new tasks of a project (DESIGN §6): the forced
        executor, else the skill's runtime, else the project's, else the default. Stored
        on the task so that a ``brahmi worker`` claims only what it can run (DESIGN §9).
        None when the skill cannot be read now (the worker chooses when it runs)."""
        project_executor = self.store.get_project(project_id).settings.get("executor")
        chosen: dict[str, str | None] = {}

        def runtime_of(skill_id: str) -> str | None:
            if skill_id not in chosen:
                try:
                    skill_runtime = self.catalog.get(skill_id).runtime
                except errors.BrahmiError:
                    chosen[skill_id] = None
                    return None
                chosen[skill_id] = self._effective_runtime(skill_runtime, project_executor)
            return chosen[skill_id]

        return runtime_of

    def _effective_runtime(self, skill_runtime: str | None, project_executor: str | None) -> str:
        """The runtime a task of a skill runs on (DESIGN §6): the forced executor, else the
        skill's runtime, else the project's, else the default."""
        return (
            self.settings.forced_executor
            or skill_runtime
            or project_executor
            or self.settings.default_executor
        )

    def runtime_can_run(self, project_id: str, skill_runtime: str | None) -> bool:
        """Whether a skill whose frontmatter names ``skill_runtime`` (None: none) could run
        in ``project_id`` on this machine now: its effective runtime is installed and its
        ``check()`` finds nothing missing (e.g. the Claude Code CLI and a key)."""
        executor = self.store.get_project(project_id).settings.get("executor")
        name = self._effective_runtime(skill_runtime, executor)
        try:
            return self.runtimes.get(name).check() is None
        except errors.BrahmiError:
            return False

    def worker(self) -> Worker:
        """A worker over this instance's store, skills and runtimes."""
        from brahmi.engine.worker import Worker

        return Worker(self.store, self.catalog, self.runtimes, self.settings, clock=self.clock)


def _setting(key: str, value: Any) -> Any:
    """A project setting checked for its shape (see :meth:`Brahmi.configure_project`)."""
    if value is None:
        return None
    if key == "env":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise errors.InvalidSetting("env must map names to strings", key=key)
        return {str(k): v for k, v in value.items()}
    if key == "executor":
        if not isinstance(value, str) or not value:
            raise errors.InvalidSetting("executor must be a runtime name", key=key)
        return value
    if key == "runtime_options":
        if not isinstance(value, dict):
            raise errors.InvalidSetting("runtime_options must be an object", key=key)
        return value
    if key == "budget":
        if not isinstance(value, dict) or set(value) - {"usd", "tokens"}:
            raise errors.InvalidSetting('budget is {"usd": number, "tokens": integer}', key=key)
        budget: dict[str, Any] = {}
        for name, kind in (("usd", float), ("tokens", int)):
            raw = value.get(name)
            if raw is None:
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
                raise errors.InvalidSetting(f"budget.{name} must be a number >= 0", key=key)
            budget[name] = kind(raw)
        return budget or None
    raise errors.InvalidSetting(
        f"unknown project setting {key!r} (env, executor, runtime_options, budget)", key=key
    )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def load_plan(path: Path) -> list[Any]:
    """Read a plan file: a JSON list of task specs, or an object with ``tasks``.

    The oldest planner's plan object (seed 001) carries ``status``, ``category`` and
    ``architecture`` beside ``tasks``; only ``tasks`` is read.

    Raises:
        InvalidPlan: When the file cannot be read, is not JSON (with line and column), or
            holds no list of tasks.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.InvalidPlan(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise errors.InvalidPlan(f"{path}: not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.InvalidPlan(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from exc
    if isinstance(data, dict):
        if "tasks" not in data:
            raise errors.InvalidPlan(f'{path}: a plan object needs a "tasks" list')
        data = data["tasks"]
    if not isinstance(data, list):
        raise errors.InvalidPlan(f'{path}: "tasks" must be a JSON list of task specs')
    return data
