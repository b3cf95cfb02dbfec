"""Sub-task rules (DESIGN §4) as pure functions over a parent's list of sub-tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from brahmi import errors
from brahmi.domain.models import TaskStatus

#: Sibling statuses that count as "not started": a sub-task may be inserted before them.
NOT_STARTED = frozenset({TaskStatus.PLANNED, TaskStatus.READY})


@dataclass(frozen=True, slots=True)
class Sibling:
    """One sub-task of a parent, as the rules see it."""

    id: str
    position: int
    status: TaskStatus
    task_name: str = ""


def next_subtask(siblings: Sequence[Sibling]) -> Sibling | None:
    """The sub-task whose turn it is: the first, by position, that has not completed.

    Returns None when every sub-task completed (the parent then completes).
    """
    for sibling in sorted(siblings, key=lambda s: s.position):
        if sibling.status is not TaskStatus.COMPLETED:
            return sibling
    return None


def insertion_position(
    siblings: Sequence[Sibling], *, position: int | None = None, after: str | None = None
) -> int:
    """Where a new sub-task goes (1-based), checking the insertion rule of DESIGN §4.

    Args:
        siblings: The parent's sub-tasks now.
        position: Insert at this position (later siblings move down); past the end means last.
        after: Insert right after the sibling with this id.

    Raises:
        InvalidTransition: ``position`` below 1, both ``position`` and ``after``, or an
            ``after`` that names no sibling.
        InsertionBeforeStarted: A sibling at or after the position started or finished.
    """
    last = max((s.position for s in siblings), default=0)
    if position is not None and after is not None:
        raise errors.InvalidTransition("give position or after, not both")
    if after is not None:
        anchor = next((s for s in siblings if s.id == after), None)
        if anchor is None:
            raise errors.InvalidTransition(
                f"after={after!r} names no sub-task of this parent", after=after
            )
        position = anchor.position + 1
    if position is None or position > last:
        return last + 1
    if position < 1:
        raise errors.InvalidTransition(f"position must be ≥ 1, not {position}")
    started = [s for s in siblings if s.position >= position and s.status not in NOT_STARTED]
    if started:
        first = min(started, key=lambda s: s.position)
        raise errors.InsertionBeforeStarted(
            f"cannot insert at position {position}: sub-task {first.position} "
            f"({first.task_name or first.id}) is already {first.status.value}",
            position=position,
            sibling_id=first.id,
        )
    return position
