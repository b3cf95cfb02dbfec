"""The planner's tools in process, bound to one planner session (DESIGN §7, §8).

Planners Brahmi hosts itself (the template planner) act through this object; an agent
planner reaches the same service functions through the MCP tools with the session in its
scope. Either way a batch is recorded for the session and the trigger being handled, and
``user_response`` appends to the session's conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brahmi.domain.models import TaskRecord

if TYPE_CHECKING:
    from brahmi.registry import SkillHit
    from brahmi.service import BatchCreated, Brahmi
    from brahmi.store.planner import MessageRecord


class PlannerTools:
    """``search_skills``, ``create_tasks_batch``, ``get_task``, ``list_tasks`` and
    ``user_response`` for one session, calling :class:`~brahmi.service.Brahmi` directly.

    Args:
        brahmi: The service.
        project_id: The session's project.
        session_id: The planner session acting.
    """

    def __init__(self, brahmi: Brahmi, project_id: str, session_id: str) -> None:
        self.brahmi = brahmi
        self.project_id = project_id
        self.session_id = session_id
        #: Whether this turn re-read the project's own skills already.
        self._synced = False

    def search_skills(
        self, category: str | None = None, tag: str | None = None, q: str | None = None
    ) -> list[SkillHit]:
        """The registry's ``search_skills``: best match first (the project's own skills
        re-read first, once per turn, if its workspace changed them)."""
        if self._synced:
            return self.brahmi.registry.search(category=category, tag=tag, q=q)
        self._synced = True
        return self.brahmi.search_skills(self.project_id, category, tag, q)

    def can_run(self, hit: SkillHit) -> bool:
        """Whether the skill of a search hit could run in this project on this machine now
        (its runtime is installed and has what it needs, see ``brahmi agents check``)."""
        return self.brahmi.runtime_can_run(self.project_id, hit.runtime)

    def create_tasks_batch(self, tasks: list[dict[str, Any]]) -> BatchCreated:
        """Create a batch for this session (idempotent per trigger and content).

        Raises:
            InvalidBatch: With every problem; nothing stored.
        """
        return self.brahmi.create_tasks_batch(
            self.project_id, tasks, source="planner", planner_session_id=self.session_id
        )

    def get_task(self, task_id: str) -> TaskRecord:
        """One task. Raises :class:`~brahmi.errors.TaskNotFound`."""
        return self.brahmi.get_task(task_id)

    def list_tasks(self) -> list[TaskRecord]:
        """The top-level tasks this session created, oldest first."""
        ids = self.brahmi.planner_store.session_task_ids(self.session_id)
        found = {t.id: t for t in self.brahmi.list_tasks(project_id=self.project_id)}
        return [found[i] for i in ids if i in found]

    def project_tasks(self) -> list[TaskRecord]:
        """Every top-level task of the project, whoever created it, oldest first: what an
        inquiry about the project is answered from."""
        tasks = self.brahmi.list_tasks(project_id=self.project_id)
        return [t for t in tasks if t.parent_id is None]

    def user_response(self, message: str) -> MessageRecord:
        """Reply to the person: appended to this session's conversation."""
        return self.brahmi.record_user_response(
            self.project_id, message, planner_session_id=self.session_id
        )
