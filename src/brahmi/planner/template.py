"""The built-in template planner ``brahmi/builtin/template-planner`` (DESIGN §7).

Deterministic, no LLM: it follows the seeds' standard pattern so the whole loop runs
offline. Its decisions are pure functions over text and task views:

- :func:`classify`: an inquiry (a question about existing work) or an instruction;
- :func:`detect_domain`: ``backend``, ``frontend`` or ``both``;
- :func:`skill_searches`: the ``search_skills`` calls of each role (development,
  testing-or-critique, metadata, deployment);
- :func:`build_batch`: build → QA (``critiques_tasks`` naming the build) → metadata →
  deployment, with ``original_prompt``, requirements and ``user_expectations`` from the
  request;
- :func:`answer_inquiry`: an answer from task outputs (a URL from the deployment's, the
  framework from the build's), creating nothing;
- :func:`summary` and :func:`failure_message`: what the person is told when all tasks are
  done, or when one failed.

:class:`TemplatePlanner` applies them to one trigger through the planner's tools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from brahmi.domain.models import TaskRecord, TaskStatus

Domain = Literal["backend", "frontend", "both"]
Kind = Literal["inquiry", "instruction"]
#: The roles of the standard pattern, in batch order.
ROLES = ("development", "qa", "metadata", "deployment")
#: Roles a deterministic skill can fill when no LLM runtime can run here: the
#: template planner then takes the best hit whose runtime runs (DESIGN §11), e.g.
#: ``brahmi/builtin/aramb-metadata-generate`` and ``brahmi/builtin/local-deployment``.
RUNNABLE_FIRST = frozenset({"metadata", "deployment"})


def _words(text: str) -> frozenset[str]:
    """The blank-separated words of ``text``."""
    return frozenset(text.split())


_WORD = re.compile(r"[a-z0-9][a-z0-9.+#-]*")
_FRONTEND = _words(
    """
    frontend front-end ui ux page pages component components react vue svelte angular css
    html website site web webapp landing dashboard form forms button buttons layout style
    styling tailwind next.js nextjs browser screen screens spa client-side
    """
)
_BACKEND = _words(
    """
    backend back-end api apis endpoint endpoints server database db postgres postgresql
    mysql sql sqlite rest graphql service services microservice auth authentication webhook
    webhooks migration migrations crud model models queue fastapi django flask express
    worker cron redis mongodb grpc
    """
)
_BOTH = ("full-stack", "fullstack", "full stack")
_INSTRUCTION_VERBS = _words(
    """
    build create add make implement write fix deploy setup set develop refactor update
    change remove delete generate design migrate rename replace support enable integrate
    improve convert port rewrite scaffold start ship
    """
)
_QUESTION_WORDS = _words(
    """
    what what's whats where where's which who whom whose when why how is are was were does
    do did can could would should will has have tell show list explain
    """
)
_POLITE = (
    "please",
    "can you",
    "could you",
    "would you",
    "will you",
    "i want you to",
    "i'd like you to",
)

#: The keys in task outputs that answer each topic of a question, best first.
_TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "url",
        ("url", "link", "address", "endpoint", "deployed", "where", "live", "access", "open"),
        ("public_url", "PUBLIC_URL", "url", "endpoint", "api_url", "base_url"),
    ),
    (
        "framework",
        ("framework", "stack", "technology", "technologies", "language", "library", "built"),
        ("framework", "language", "stack", "runtime", "libraries"),
    ),
    (
        "files",
        ("file", "files", "changed", "created", "modified"),
        ("files_created", "files_modified", "files_changed", "files"),
    ),
    (
        "tests",
        ("test", "tests", "qa", "verdict", "score", "pass", "passed", "quality"),
        ("verdict", "score", "tests_passed", "tests_written", "summary"),
    ),
)


@dataclass(frozen=True, slots=True)
class Search:
    """One ``search_skills`` call of a role."""

    category: str
    tag: str


def classify(text: str) -> Kind:
    """Whether ``text`` asks about existing work (``inquiry``) or asks for work.

    An opening instruction verb ("build…", "please add…", "can you fix…?") makes an
    instruction even when it ends with a question mark; otherwise a question mark or an
    opening question word makes an inquiry; anything else is an instruction.
    """
    lowered = " ".join(text.lower().split())
    for polite in _POLITE:
        if lowered.startswith(polite + " "):
            lowered = lowered[len(polite) + 1 :]
            break
    words = _WORD.findall(lowered)
    first = words[0] if words else ""
    if first in _INSTRUCTION_VERBS:
        return "instruction"
    if lowered.rstrip().endswith("?") or first in _QUESTION_WORDS:
        return "inquiry"
    return "instruction"


def detect_domain(text: str) -> Domain:
    """``frontend``, ``backend`` or ``both`` from the words of a request.

    "full-stack", or words of both sides, make ``both``; no word of either side means
    ``backend`` (the seeds' default planner side).
    """
    lowered = text.lower()
    if any(marker in lowered for marker in _BOTH):
        return "both"
    words = set(_WORD.findall(lowered)) | {w.strip(".") for w in _WORD.findall(lowered)}
    if "web" in words and "app" in words:
        words.add("webapp")
    front = bool(words & _FRONTEND)
    back = bool(words & _BACKEND)
    if front and back:
        return "both"
    return "frontend" if front else "backend"


def sides(domain: Domain) -> tuple[str, ...]:
    """The sides a domain builds, backend first (the frontend calls it)."""
    return ("backend", "frontend") if domain == "both" else (domain,)


def skill_searches(side: str) -> dict[str, list[Search]]:
    """The seeds' ``search_skills`` calls for one side, per role, in the order to try.

    The QA role tries ``testing`` first, then ``critique`` (seed 003, "Skill Discovery").
    """
    return {
        "development": [Search("development", side)],
        "qa": [Search("testing", side), Search("critique", side)],
        "metadata": [Search("development", "metadata")],
        "deployment": [Search("deployment", side)],
    }


def short_title(request: str, limit: int = 60) -> str:
    """The request's first sentence, cut to ``limit`` characters at a word boundary."""
    first = re.split(r"(?<=[.!?])\s|\n", request.strip(), maxsplit=1)[0].strip().rstrip(".!?")
    lowered = first.lower()
    for polite in _POLITE:
        if lowered.startswith(polite + " "):
            first = first[len(polite) + 1 :]
            break
    if len(first) <= limit:
        return first or "the request"
    cut = first[:limit].rsplit(" ", 1)[0]
    return f"{cut}…"


def user_expectations(request: str, side: str) -> list[str]:
    """What the person expects, from the request: each sentence or listed item, then the
    side's baseline (the API answers; the pages render)."""
    parts = [p.strip(" -*•\t") for p in re.split(r"(?<=[.!?;])\s+|\n+", request.strip())]
    found = [p.rstrip(".;") for p in parts if len(p.strip()) >= 3]
    baseline = (
        "The API starts and answers the requested endpoints with correct status codes"
        if side == "backend"
        else "The pages render without errors and work in a browser"
    )
    return [*found, baseline]


def build_batch(
    request: str, domain: Domain, skills: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The standard pattern's batch for ``request`` (snake_case dialect, seed 003).

    Args:
        request: The person's message.
        domain: From :func:`detect_domain`.
        skills: For each side of the domain, the full_id chosen for each role of
            :data:`ROLES` (``skills["backend"]["qa"]``).

    Returns:
        Task specs: per side a build and its QA (``critiques_tasks`` naming the build),
        then one metadata task after every QA, then one deployment task (the frontend's
        when the domain has one: it brings up every service the site relies on).
    """
    title = short_title(request)
    tasks: list[dict[str, Any]] = []
    qa_ids: list[int] = []
    for side in sides(domain):
        chosen = skills[side]
        build_id = len(tasks) + 1
        build_name = _build_name(title, side if domain == "both" else None)
        build_description = (
            f"Implement the {side} part of the request in the project workspace, following "
            "its conventions, and check it builds and runs."
        )
        tasks.append(
            {
                "unique_id": build_id,
                "skill_id": chosen["development"],
                "task_name": _name(build_name),
                "description": build_description,
                "task_order": build_id,
                "logical_dependencies": [],
                "inputs": {
                    "requirements": request,
                    "original_prompt": request,
                    "side": side,
                },
                "validation_criteria": _BUILD_CRITERIA[side],
                "timeout_seconds": 3600,
            }
        )
        qa_id = build_id + 1
        tasks.append(
            {
                "unique_id": qa_id,
                "skill_id": chosen["qa"],
                "task_name": _name(f"QA: {side + ' of ' if domain == 'both' else ''}{title}"),
                "description": "Write and run tests validating the person's request. If the "
                "implementation has issues, fail with detailed feedback_for_rebuild.",
                "task_order": qa_id,
                "logical_dependencies": [build_id],
                "inputs": {
                    "critiques_tasks": [build_id],
                    "original_prompt": request,
                    "preceding_task": {
                        "task_order": build_id,
                        "skill_id": chosen["development"],
                        "task_name": _name(build_name),
                        "description": build_description,
                    },
                    "user_expectations": user_expectations(request, side),
                },
                "validation_criteria": _QA_CRITERIA,
                "timeout_seconds": 3600,
            }
        )
        qa_ids.append(qa_id)
    last_side = sides(domain)[-1]
    metadata_id = len(tasks) + 1
    tasks.append(
        {
            "unique_id": metadata_id,
            "skill_id": skills[last_side]["metadata"],
            "task_name": "Create/update aramb.toml",
            "description": "Generate or update aramb.toml by analysing the project structure, "
            "compose files and codebase.",
            "task_order": metadata_id,
            "logical_dependencies": qa_ids,
            "inputs": {
                "requirements": "Analyse the project and create/update aramb.toml with its "
                "service configurations",
                "project_path": ".",
            },
            "validation_criteria": _METADATA_CRITERIA,
            "timeout_seconds": 1800,
        }
    )
    deploy_id = metadata_id + 1
    tasks.append(
        {
            "unique_id": deploy_id,
            "skill_id": skills[last_side]["deployment"],
            "task_name": "Deploy the frontend"
            if last_side == "frontend"
            else "Deploy backend services",
            "description": "Deploy the services of aramb.toml and return the PUBLIC_URL.",
            "task_order": deploy_id,
            "logical_dependencies": [metadata_id],
            "inputs": {"project_path": ".", "skip_build": False, "push_registry": False},
            "validation_criteria": _DEPLOY_CRITERIA,
            "timeout_seconds": 3600,
        }
    )
    return tasks


def _build_name(title: str, side: str | None) -> str:
    """ "Build a todo API" stays as it is; "a todo API" becomes "Build: a todo API"."""
    words = _WORD.findall(title.lower())
    name = title if words and words[0] in _INSTRUCTION_VERBS else f"Build: {title}"
    name = name[:1].upper() + name[1:]
    return _name(f"{name} ({side})" if side else name)


def _name(text: str) -> str:
    """A task name within 3–255 characters, single-spaced."""
    name = " ".join(text.split())
    return name[:255] if len(name) >= 3 else f"{name} task"


_BUILD_CRITERIA: dict[str, dict[str, list[str]]] = {
    "backend": {
        "critical": ["Code compiles", "Migrations run successfully", "Endpoints respond correctly"],
        "expected": ["Auth enforced", "Input validation", "Error handling"],
        "nice_to_have": ["Logging", "Metrics"],
    },
    "frontend": {
        "critical": ["The app builds", "Pages render without errors", "Type check passes"],
        "expected": ["Loading and error states", "Responsive layout", "Accessible markup"],
        "nice_to_have": ["Component tests", "Consistent styling"],
    },
}
_QA_CRITERIA = {
    "critical": ["Tests pass", "User requirements validated", "No broken functionality found"],
    "expected": ["Error cases tested", "Security tested"],
    "nice_to_have": ["High coverage"],
}
_METADATA_CRITERIA = {
    "critical": ["TOML syntax valid", "Services detected", "Service types valid"],
    "expected": ["Dependencies mapped", "Environment vars extracted"],
    "nice_to_have": ["Service references configured"],
}
_DEPLOY_CRITERIA = {
    "critical": ["APPLICATION_ID set", "Services deployed", "PUBLIC_URL returned"],
    "expected": ["Services healthy"],
    "nice_to_have": ["Fast deployment"],
}


# -- answering and reporting --------------------------------------------------------------


def answer_inquiry(question: str, tasks: Sequence[TaskRecord]) -> str:
    """An answer to ``question`` from the outputs of ``tasks`` (newest first wins).

    The question's topic (a URL, the framework, files, tests) picks the output keys to
    read; a question about no known topic gets the state of every task.
    """
    if not tasks:
        return (
            "I have not created any tasks in this project yet, so there is nothing to report. "
            "Tell me what to build."
        )
    words = set(_WORD.findall(question.lower()))
    newest_first = sorted(tasks, key=lambda t: (t.finished_at or 0.0, t.created_at), reverse=True)
    for topic, cues, keys in _TOPICS:
        if not words & set(cues):
            continue
        for task in newest_first:
            outputs = task.outputs or {}
            for key in keys:
                value = outputs.get(key)
                if value not in (None, "", [], {}):
                    return f"{_topic_label(topic, key)}: {_show(value)} (from “{task.task_name}”)."
        unfinished = [t for t in tasks if not t.status.is_settled]
        waiting = (
            f" {len(unfinished)} task(s) are still running or waiting, so it may come later."
            if unfinished
            else ""
        )
        return f"None of the tasks reported {_topic_label(topic, keys[0]).lower()} yet.{waiting}"
    return "Here is where the work stands:\n" + _status_lines(tasks)


def _topic_label(topic: str, key: str) -> str:
    return {
        "url": "The public URL",
        "framework": "The framework" if key == "framework" else f"The {key}",
        "files": "The files",
        "tests": "The QA result" if key in ("verdict", "score") else f"The {key}",
    }.get(topic, key)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:20]) + (" …" if len(value) > 20 else "")
    return str(value)


def _status_lines(tasks: Sequence[TaskRecord]) -> str:
    lines = []
    for task in tasks:
        detail = ""
        outputs = task.outputs or {}
        if task.status is TaskStatus.COMPLETED:
            if "verdict" in outputs:
                score = f", score {outputs['score']}" if outputs.get("score") is not None else ""
                detail = f" (verdict {outputs['verdict']}{score})"
            elif outputs.get("public_url"):
                detail = f" ({outputs['public_url']})"
            elif outputs.get("framework"):
                detail = f" ({outputs['framework']})"
        elif task.error:
            detail = f" ({task.error})"
        lines.append(f"- {task.task_name}: {task.status.value}{detail}")
    return "\n".join(lines)


def summary(tasks: Sequence[TaskRecord]) -> str:
    """The message sent when every task of a batch completed."""
    request = next(
        (str(t.inputs.get("original_prompt")) for t in tasks if t.inputs.get("original_prompt")),
        None,
    )
    head = f"All {len(tasks)} tasks are done" + (
        f" for “{short_title(request)}”" if request else ""
    )
    lines = [f"{head}:", _status_lines(tasks)]
    url = next(
        (
            str((t.outputs or {}).get(k))
            for t in sorted(tasks, key=lambda t: t.task_order, reverse=True)
            for k in ("public_url", "PUBLIC_URL")
            if (t.outputs or {}).get(k)
        ),
        None,
    )
    if url:
        lines.append(f"It is live at {url}.")
    return "\n".join(lines)


def failure_message(task: TaskRecord, batch: Sequence[TaskRecord]) -> str:
    """The message sent when a task of a batch failed or was cancelled."""
    waiting = [t for t in batch if t.status is TaskStatus.BLOCKED]
    what = "was cancelled" if task.status is TaskStatus.CANCELLED else "failed"
    reason = f": {task.error}" if task.error else ""
    lines = [f"Task “{task.task_name}” {what}{reason}."]
    if waiting:
        lines.append(
            f"{len(waiting)} task(s) after it are blocked: "
            + ", ".join(f"“{t.task_name}”" for t in waiting)
            + "."
        )
    lines.append(
        f"Retry it with `brahmi tasks retry {task.id}` (what it blocked runs again), "
        "or tell me what to change."
    )
    return "\n".join(lines)


def last_to_settle(task_id: str, batch: Sequence[TaskRecord]) -> bool:
    """Whether ``task_id`` is the batch's last task to finish, every task having settled.

    A batch's summary is sent once, on the trigger of the task that finished last, however
    late its triggers are handled.
    """
    if not batch or any(not t.status.is_settled for t in batch):
        return False
    finished = [t for t in batch if t.finished_at is not None]
    if not finished:
        return False
    last = max(finished, key=lambda t: (t.finished_at or 0.0, t.task_order, t.id))
    return last.id == task_id


# -- applying the decisions -----------------------------------------------------------------


class TemplatePlanner:
    """The template planner acting on one trigger through ``tools``.

    Args:
        tools: A :class:`~brahmi.planner.tools.PlannerTools` (or anything with its methods).
    """

    def __init__(self, tools: Any) -> None:
        self.tools = tools

    def on_user_message(self, text: str) -> None:
        """Answer an inquiry from the project's task outputs, or plan an instruction as one
        batch."""
        if classify(text) == "inquiry":
            # A person asks about the project: its plans run with `brahmi run` count too.
            self.tools.user_response(answer_inquiry(text, self.tools.project_tasks()))
            return
        domain = detect_domain(text)
        skills: dict[str, dict[str, str]] = {}
        missing: list[str] = []
        for side in sides(domain):
            skills[side] = {}
            for role, searches in skill_searches(side).items():
                found = self._first_hit(searches, prefer_runnable=role in RUNNABLE_FIRST)
                if found is None:
                    missing.append(
                        f"{role} ({', '.join(f'{s.category}/{s.tag}' for s in searches)})"
                    )
                else:
                    skills[side][role] = found
        if missing:
            self.tools.user_response(
                "I could not plan this: no skill was found for "
                + "; ".join(missing)
                + ". Add one with `brahmi skills add`, then ask again."
            )
            return
        batch = build_batch(text, domain, skills)
        created = self.tools.create_tasks_batch(batch)
        names = "\n".join(
            f"{spec['unique_id']}. {spec['task_name']} — {spec['skill_id']}" for spec in batch
        )
        self.tools.user_response(
            f"Planned {len(batch)} tasks for this {domain} request:\n{names}\n"
            "QA checks the build and sends it back with feedback until it passes. "
            f"I will report when they are done (batch {created.batch_id})."
        )

    def on_task_completed(self, task_id: str) -> None:
        """Report a failure at once; when the batch is all done, send its summary."""
        task = self.tools.get_task(task_id)
        batch = [t for t in self.tools.list_tasks() if t.batch_id == task.batch_id]
        if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            self.tools.user_response(failure_message(task, batch))
            return
        if (
            task.status is TaskStatus.COMPLETED
            and all(t.status is TaskStatus.COMPLETED for t in batch)
            and last_to_settle(task.id, batch)
        ):
            self.tools.user_response(summary(batch))

    def on_wake_up(self) -> None:
        """Say where the work stands when there is any left."""
        tasks = self.tools.list_tasks()
        open_tasks = [t for t in tasks if not t.status.is_settled]
        if open_tasks:
            done = sum(t.status is TaskStatus.COMPLETED for t in tasks)
            self.tools.user_response(
                f"I am back: {done} of {len(tasks)} tasks are done; still open: "
                + ", ".join(f"“{t.task_name}” ({t.status.value})" for t in open_tasks)
                + "."
            )

    def _first_hit(self, searches: Sequence[Search], *, prefer_runnable: bool) -> str | None:
        """The best hit of the first search that finds any; with ``prefer_runnable``, the
        best hit whose runtime can run here, when the best cannot (no LLM runtime: the
        deterministic metadata and deployment skills do the job)."""
        for search in searches:
            hits = self.tools.search_skills(category=search.category, tag=search.tag)
            if not hits:
                continue
            if prefer_runnable and not self.tools.can_run(hits[0]):
                runnable = next((hit for hit in hits[1:] if self.tools.can_run(hit)), None)
                if runnable is not None:
                    return str(runnable.full_id)
            return str(hits[0].full_id)
        return None
