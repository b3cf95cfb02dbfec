"""Sub-task rules as pure functions (DESIGN §4): whose turn it is, and where an inserted
sub-task goes."""

from __future__ import annotations

import pytest

from brahmi import errors
from brahmi.domain.models import TaskStatus
from brahmi.domain.subtasks import Sibling, insertion_position, next_subtask

S = TaskStatus


def siblings(*statuses: TaskStatus) -> list[Sibling]:
    """Sub-tasks ``s1``, ``s2``… at positions 1, 2… with these statuses."""
    return [
        Sibling(f"s{n}", n, status, f"Sub-task {n}") for n, status in enumerate(statuses, start=1)
    ]


# -- next_subtask ------------------------------------------------------------------------


def test_the_next_subtask_is_the_first_by_position_that_has_not_completed() -> None:
    subs = siblings(S.COMPLETED, S.COMPLETED, S.PLANNED, S.PLANNED)

    upcoming = next_subtask(subs)

    assert upcoming is not None
    assert upcoming.id == "s3"


def test_the_next_subtask_follows_position_not_list_order() -> None:
    subs = [
        Sibling("late", 3, S.PLANNED),
        Sibling("first", 1, S.COMPLETED),
        Sibling("second", 2, S.PLANNED),
    ]

    upcoming = next_subtask(subs)

    assert upcoming is not None
    assert upcoming.id == "second"


def test_a_failed_subtask_stays_the_next_one_so_a_retry_resumes_there() -> None:
    upcoming = next_subtask(siblings(S.COMPLETED, S.FAILED, S.PLANNED))

    assert upcoming is not None
    assert upcoming.id == "s2"


def test_there_is_no_next_subtask_when_all_completed() -> None:
    assert next_subtask(siblings(S.COMPLETED, S.COMPLETED)) is None


def test_a_parent_without_subtasks_has_no_next_subtask() -> None:
    assert next_subtask([]) is None


# -- insertion_position ------------------------------------------------------------------


def test_a_subtask_goes_last_by_default() -> None:
    assert insertion_position(siblings(S.COMPLETED, S.RUNNING, S.PLANNED)) == 4


def test_the_first_subtask_of_a_parent_goes_to_position_one() -> None:
    assert insertion_position([]) == 1


@pytest.mark.parametrize("position", [2, 3])
def test_a_position_in_range_is_kept(position: int) -> None:
    subs = siblings(S.COMPLETED, S.PLANNED, S.PLANNED)

    assert insertion_position(subs, position=position) == position


@pytest.mark.parametrize("position", [4, 5, 99])
def test_a_position_past_the_end_means_last(position: int) -> None:
    subs = siblings(S.COMPLETED, S.RUNNING, S.PLANNED)

    assert insertion_position(subs, position=position) == 4


def test_after_a_sibling_means_the_position_right_behind_it() -> None:
    subs = siblings(S.COMPLETED, S.PLANNED, S.PLANNED)

    assert insertion_position(subs, after="s1") == 2
    assert insertion_position(subs, after="s3") == 4


def test_giving_both_position_and_after_is_an_invalid_transition() -> None:
    with pytest.raises(errors.BrahmiError) as caught:
        insertion_position(siblings(S.PLANNED, S.PLANNED), position=2, after="s1")

    assert caught.value.code == "invalid_transition"


def test_after_a_task_that_is_not_a_sibling_is_an_invalid_transition() -> None:
    with pytest.raises(errors.BrahmiError) as caught:
        insertion_position(siblings(S.PLANNED), after="somebody-else")

    assert caught.value.code == "invalid_transition"


@pytest.mark.parametrize("position", [0, -1])
def test_a_position_below_one_is_an_invalid_transition(position: int) -> None:
    with pytest.raises(errors.BrahmiError) as caught:
        insertion_position(siblings(S.PLANNED, S.PLANNED), position=position)

    assert caught.value.code == "invalid_transition"


@pytest.mark.parametrize("status", [S.RUNNING, S.COMPLETED, S.FAILED])
def test_inserting_before_a_sibling_that_started_or_finished_is_rejected(
    status: TaskStatus,
) -> None:
    subs = siblings(status, S.PLANNED)

    with pytest.raises(errors.BrahmiError) as caught:
        insertion_position(subs, position=1)

    assert caught.value.code == "insertion_before_started"
    assert caught.value.fields["sibling_id"] == "s1"


def test_inserting_before_a_later_started_sibling_is_rejected_too() -> None:
    # Position 2 is still planned, but position 3 already ran: inserting at 2 would put the
    # new sub-task before work that is done.
    subs = [Sibling("s1", 1, S.COMPLETED), Sibling("s2", 2, S.PLANNED), Sibling("s3", 3, S.RUNNING)]

    with pytest.raises(errors.BrahmiError) as caught:
        insertion_position(subs, position=2)

    assert caught.value.code == "insertion_before_started"
    assert caught.value.fields["sibling_id"] == "s3"


def test_inserting_after_a_running_sibling_is_allowed() -> None:
    assert insertion_position(siblings(S.RUNNING, S.PLANNED), after="s1") == 2


def test_inserting_before_a_ready_sibling_is_allowed() -> None:
    subs = siblings(S.COMPLETED, S.READY, S.PLANNED)

    assert insertion_position(subs, position=2) == 2
    assert insertion_position(subs, after="s1") == 2
