"""Worker states: the allowed transitions are written down and enforced."""

from __future__ import annotations

import pytest

from hub.errors import PoolError
from hub.pool.states import TRANSITIONS, WorkerState, check_transition

S = WorkerState


def test_every_state_has_a_row_and_dead_is_final() -> None:
    assert set(TRANSITIONS) == set(WorkerState)
    assert TRANSITIONS[S.DEAD] == frozenset()
    assert all(S.DEAD in targets for state, targets in TRANSITIONS.items() if state is not S.DEAD)


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.STARTING, S.READY), (S.READY, S.WORKING), (S.WORKING, S.READY), (S.WORKING, S.RECYCLING),
     (S.RECYCLING, S.STOPPING), (S.STOPPING, S.DEAD), (S.STARTING, S.DEAD)],
)  # fmt: skip
def test_allowed_transitions(current: WorkerState, new: WorkerState) -> None:
    assert check_transition(current, new) is new


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.DEAD, S.READY), (S.RECYCLING, S.READY), (S.STOPPING, S.WORKING), (S.STARTING, S.WORKING),
     (S.READY, S.STARTING), (S.READY, S.READY)],
)  # fmt: skip
def test_forbidden_transitions_raise(current: WorkerState, new: WorkerState) -> None:
    with pytest.raises(PoolError, match=f"from {current.value} to {new.value}"):
        check_transition(current, new)


def test_only_ready_and_working_take_calls() -> None:
    assert {s for s in WorkerState if s.serving} == {S.READY, S.WORKING}
