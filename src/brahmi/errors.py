"""Brahmi's errors: one root, a small tree, a stable ``code`` on each.

Every surface maps these in one place (the CLI's exit codes, later HTTP statuses and MCP
tool errors). Callers test ``error.code``, never the message text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brahmi.domain.problems import Problem


class BrahmiError(Exception):
    """Something Brahmi could not do."""

    #: Stable machine-readable identifier, e.g. ``task_not_found``.
    code: str = "brahmi_error"

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        self.fields = fields
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: ``{"error": code, "message": ..., **fields}``."""
        return {"error": self.code, "message": self.message, **self.fields}


class InvalidBatch(BrahmiError):
    """The batch was rejected; nothing was stored."""

    code = "invalid_batch"

    def __init__(self, problems: Sequence[Problem], warnings: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)
        lines = [f"{p.path}: {p.message} [{p.code}]" for p in self.problems]
        what = "task" if self.code == "invalid_task" else "batch"
        super().__init__(
            f"the {what} was rejected with {len(self.problems)} problem(s); nothing was stored:\n"
            + "\n".join(f"  - {line}" for line in lines)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    @classmethod
    def too_large(cls, size: int, limit: int) -> InvalidBatch:
        """A batch over the size limit (checked before anything else)."""
        return cls(
            [Problem("tasks", "batch_too_large", f"{size} tasks; a batch holds at most {limit}")]
        )


class InvalidTask(InvalidBatch):
    """The task spec was rejected; nothing was stored."""

    code = "invalid_task"


class InvalidPlan(BrahmiError):
    """The plan file could not be read as a batch of task specs."""

    code = "invalid_plan"


class TaskNotFound(BrahmiError):
    """No task has that id."""

    code = "task_not_found"


class ProjectNotFound(BrahmiError):
    """No project has that id."""

    code = "project_not_found"


class SessionNotFound(BrahmiError):
    """No planner session has that id."""

    code = "session_not_found"


class PlannerNotFound(BrahmiError):
    """No planner skill (category ``planner``) has that name (DESIGN §7)."""

    code = "planner_not_found"


class InvalidMessage(BrahmiError):
    """A message to the planner must hold text, within the size limit (DESIGN §7)."""

    code = "invalid_message"


class InvalidTransition(BrahmiError):
    """The task is not in a state that allows this operation."""

    code = "invalid_transition"


class SubtaskNesting(BrahmiError):
    """Sub-tasks are one level deep: a sub-task cannot have sub-tasks (DESIGN §4)."""

    code = "subtask_nesting"


class SubtaskDependencies(BrahmiError):
    """A sub-task runs in its parent's sequence and takes no explicit dependencies (§4)."""

    code = "subtask_dependencies"


class InsertionBeforeStarted(BrahmiError):
    """A sub-task cannot be inserted before a sibling that already started or finished (§4)."""

    code = "insertion_before_started"


class NoSession(BrahmiError):
    """The task has no agent session to resume or question."""

    code = "no_session"


class SkillNotFound(BrahmiError):
    """No skill has that id."""

    code = "skill_not_found"


class InvalidSkill(BrahmiError):
    """A SKILL.md could not be read or breaks the skill rules."""

    code = "invalid_skill"


class MetadataNotToml(BrahmiError):
    """The aramb.toml is not valid TOML (DESIGN §11); nothing was written."""

    code = "not_toml"


class MetadataUnreadable(BrahmiError):
    """The aramb.toml or project folder could not be read (DESIGN §11)."""

    code = "metadata_unreadable"


class NoServicesFound(BrahmiError):
    """No service to describe was found in the project (DESIGN §11); nothing was written."""

    code = "no_services_found"


class ExecutorNotFound(BrahmiError):
    """No agent runtime is registered under that name."""

    code = "executor_not_found"


class Unauthorized(BrahmiError):
    """The request needs a valid bearer token."""

    code = "unauthorized"


class Forbidden(BrahmiError):
    """The caller's token does not allow this."""

    code = "forbidden"


class StoreUnavailable(BrahmiError):
    """The database could not be reached or is not migrated."""

    code = "store_unavailable"


class InvalidSetting(BrahmiError):
    """A project setting was rejected (issue 6: budgets, runtime options)."""

    code = "invalid_setting"


class InvalidCursor(BrahmiError):
    """A listing's ``cursor`` is not one a previous page returned."""

    code = "invalid_cursor"


class RuntimeUnavailable(BrahmiError):
    """The agent runtime cannot run here (no CLI, no credentials)."""

    code = "runtime_unavailable"


class BudgetExceeded(BrahmiError):
    """The project's token or cost budget is spent; no new agent run starts (DESIGN §6)."""

    code = "budget_exceeded"


class QuestionFailed(BrahmiError):
    """The task's agent session could not answer the question (``resume_task`` qa)."""

    code = "question_failed"


class QuestionTimedOut(BrahmiError):
    """The answer to a question did not come within the wait allowed (DESIGN §8)."""

    code = "question_timeout"


# Deployment (DESIGN §11): ``brahmi deploy`` and its targets.


class InvalidMetadata(BrahmiError):
    """The aramb.toml cannot be deployed as written; nothing was started."""

    code = "invalid_metadata"


class DeployTargetNotFound(BrahmiError):
    """No deployment target is registered under that name."""

    code = "deploy_target_not_found"


class DeploymentNotFound(BrahmiError):
    """This project has no recorded deployment."""

    code = "deployment_not_found"


class DeployFailed(BrahmiError):
    """The deployment failed; everything it started was stopped."""

    code = "deploy_failed"
    #: The failed deployment as the target left it (a ``brahmi.deploy.base.Deployment``),
    #: recorded so ``brahmi deploy logs`` shows what happened; None before anything ran.
    deployment: Any = None


class ServiceNotDeployable(DeployFailed):
    """A service cannot be brought up on this target."""

    code = "service_not_deployable"


class BuildFailed(DeployFailed):
    """A build service's install or build command failed."""

    code = "build_failed"


class PortInUse(DeployFailed):
    """A service could not listen: its port is taken."""

    code = "port_in_use"


class ServiceExited(DeployFailed):
    """A service's process exited while it should be serving."""

    code = "service_exited"


class HealthCheckFailed(DeployFailed):
    """A service did not answer its health probe in time."""

    code = "health_check_failed"
