"""The HTTP status of each Brahmi error code: the one mapping for REST (STYLE "Errors")."""

from __future__ import annotations

from brahmi import errors

#: Error code → HTTP status. Codes not listed are 400.
STATUS: dict[str, int] = {
    errors.InvalidBatch.code: 400,
    errors.InvalidTask.code: 400,
    errors.InvalidPlan.code: 400,
    errors.InvalidSkill.code: 400,
    errors.SubtaskNesting.code: 400,
    errors.SubtaskDependencies.code: 400,
    errors.ExecutorNotFound.code: 400,
    errors.InvalidMessage.code: 400,
    errors.PlannerNotFound.code: 404,
    errors.SessionNotFound.code: 404,
    errors.Unauthorized.code: 401,
    errors.Forbidden.code: 403,
    errors.TaskNotFound.code: 404,
    errors.ProjectNotFound.code: 404,
    errors.SkillNotFound.code: 404,
    errors.InvalidTransition.code: 409,
    errors.InsertionBeforeStarted.code: 409,
    errors.NoSession.code: 409,
    errors.StoreUnavailable.code: 503,
    errors.InvalidSetting.code: 400,
    errors.InvalidCursor.code: 400,
    errors.RuntimeUnavailable.code: 503,
    errors.BudgetExceeded.code: 402,
    errors.QuestionFailed.code: 502,
    errors.QuestionTimedOut.code: 504,
}


def status_for(error: errors.BrahmiError) -> int:
    """The HTTP status for ``error``."""
    return STATUS.get(error.code, 400)
