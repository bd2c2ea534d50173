"""Pure folds from events to the state of parties, plans, meetings and issues (SPEC §1, §4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from events.vocabulary import (
    DEFAULT_MIN_CONFIDENCE,
    META_TYPES,
    SUBJECT_RE,
    Recorded,
    concerns_of,
    is_custom,
)
from projections import issue, meeting, party, plan
from projections.diff import Change, diff, subject_changes
from projections.issue import IssueState
from projections.knowledge import effective
from projections.meeting import MeetingState, Reschedule
from projections.party import PartyState
from projections.plan import PlanState, ProvisionEntry, Revision
from projections.provenance import Draft, Fact, Stance, StanceJSON, plain, stance_fields

__all__ = [
    "Change",
    "Fact",
    "IssueState",
    "MeetingState",
    "PartyState",
    "PlanState",
    "ProvisionEntry",
    "Reschedule",
    "Revision",
    "Stance",
    "StanceJSON",
    "State",
    "concerns",
    "diff",
    "effective",
    "evolve",
    "fold",
    "fold_all",
    "fold_concerning",
    "initial",
    "kind_of",
    "plain",
    "project",
    "project_all",
    "stance_fields",
    "subject_changes",
]

State = PartyState | PlanState | MeetingState | IssueState


def kind_of(subject_id: str) -> str:
    """The kind of a subject id: "party", "plan", "meeting" or "issue" (ValueError otherwise)."""
    if not SUBJECT_RE.match(subject_id):
        raise ValueError(f"not a subject id: {subject_id!r}")
    return subject_id.split("/", 1)[0]


def initial(subject_id: str) -> State:
    """The state of a subject nothing is known about yet."""
    match kind_of(subject_id):
        case "party":
            return party.initial(subject_id)
        case "plan":
            return plan.initial(subject_id)
        case "meeting":
            return meeting.initial(subject_id)
        case _:
            return issue.initial(subject_id)


# Each kind's step, by the type of its state.
_STEP: Final[dict[type[State], Callable[[Any, Recorded], None]]] = {
    PartyState: party.step,
    PlanState: plan.step,
    MeetingState: meeting.step,
    IssueState: issue.step,
}


def evolve(state: State, event: Recorded) -> State:
    """One step of the fold: the subject's state after an event concerning it (`state` is
    left as it is)."""
    draft = Draft(state)
    _STEP[type(state)](draft, event)
    return draft.state


def concerns(event: Recorded) -> set[str]:
    """The subjects an event concerns: its subject and every subject id in its data."""
    return concerns_of(event.subject, event.data)


def _folds(event: Recorded) -> bool:
    # Meta events act through `effective`, custom events are for timelines only.
    return event.type not in META_TYPES and not is_custom(event.type)


def fold(subject_id: str, events: Iterable[Recorded], state: State | None = None) -> State | None:
    """Fold effective, valid-time-ordered events into one subject's state.

    Starts from `state` (one already folded, such as an earlier end's) or the initial
    state; events that do not concern the subject are skipped. None when no state was given
    and no event was folded.
    """
    return fold_concerning(subject_id, (e for e in events if subject_id in concerns(e)), state)


def fold_concerning(
    subject_id: str, events: Iterable[Recorded], state: State | None = None
) -> State | None:
    """`fold` of events already known to concern the subject (the read model selected them
    by subject), without finding each one's subjects again."""
    folded = [event for event in events if _folds(event)]
    if not folded:
        return state
    draft = Draft(state if state is not None else initial(subject_id))
    step = _STEP[type(draft.state)]  # one subject, one kind: its step, looked up once
    for event in folded:
        step(draft, event)
    return draft.state


def fold_all(events: Iterable[Recorded]) -> dict[str, State]:
    """Fold effective, valid-time-ordered events into every subject they concern, in one pass."""
    drafts: dict[str, Draft[Any]] = {}
    for event in events:
        if not _folds(event):
            continue
        for subject_id in concerns(event):
            if not SUBJECT_RE.match(subject_id):
                continue
            draft = drafts.get(subject_id)
            if draft is None:
                draft = drafts[subject_id] = Draft(initial(subject_id))
            _STEP[type(draft.state)](draft, event)
    return {subject_id: drafts[subject_id].state for subject_id in sorted(drafts)}


def project(
    subject_id: str,
    known_events: Iterable[Recorded],
    *,
    at: datetime | None,
    min_confidence: str = DEFAULT_MIN_CONFIDENCE,
) -> State | None:
    """One subject's state at valid time `at` from everything known (meta events included)."""
    return fold(subject_id, effective(known_events, at=at, min_confidence=min_confidence))


def project_all(
    known_events: Iterable[Recorded],
    *,
    at: datetime | None,
    min_confidence: str = DEFAULT_MIN_CONFIDENCE,
) -> dict[str, State]:
    """Every subject's state at valid time `at` from everything known, keyed by subject id."""
    return fold_all(effective(known_events, at=at, min_confidence=min_confidence))
