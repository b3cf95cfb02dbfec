"""Who may read and change what (DESIGN §8, issue 5): the scope of a caller.

A scope comes from a bearer token, or is :data:`LOCAL` for a caller on the loopback
interface when no tokens are configured. Pure rules, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    """What a caller may do.

    Attributes:
        project_id: The one project it may touch; None for every project.
        read_only: It may read but change nothing.
        task_id: An agent's scope: besides reading its project and searching skills, it may
            only add sub-tasks under this task.
    """

    project_id: str | None = None
    read_only: bool = False
    task_id: str | None = None
    #: A planner's scope (DESIGN §7): it acts as this planner session of its project.
    planner_session_id: str | None = None

    def can_read(self, project_id: str) -> bool:
        """Whether the caller may read ``project_id``'s tasks and events."""
        return self.project_id is None or self.project_id == project_id

    def can_write(self, project_id: str) -> bool:
        """Whether the caller may create, retry, cancel or resume ``project_id``'s tasks."""
        return self.can_read(project_id) and not self.read_only and self.task_id is None

    def can_act_as_person(self, project_id: str) -> bool:
        """Whether the caller may do what only people do in ``project_id``: change its
        settings (budget, env, runtime) or post a message to its planner. An agent's or a
        planner's token may not, so an agent cannot raise the budget that bounds it, nor
        speak for the person (issue 17)."""
        return self.can_write(project_id) and self.planner_session_id is None

    def can_add_subtask(self, project_id: str, parent_task_id: str) -> bool:
        """Whether the caller may add a sub-task under ``parent_task_id`` (DESIGN §4)."""
        if not self.can_read(project_id) or self.read_only:
            return False
        return self.task_id is None or self.task_id == parent_task_id


#: A caller on the loopback interface while no tokens are configured: everything.
LOCAL = Scope()
