"""Meeting projection: scheduling, rescheduling, holding or cancelling, plans presented."""

from __future__ import annotations

from msgspec import Struct

from events.vocabulary import (
    MeetingCancelled,
    MeetingHeld,
    MeetingRescheduled,
    MeetingScheduled,
    PlanPresented,
    Recorded,
)
from projections.provenance import Draft, Fact, fact_of


class Reschedule(Struct, frozen=True, kw_only=True, gc=False):
    """One move of a meeting: its new start (as given) and place, and the event saying so."""

    starts: str
    location: str | None
    event: str
    time: str


class MeetingState(Struct, frozen=True, kw_only=True, gc=False):
    """A meeting as of some valid and transaction time."""

    id: str
    title: str | None = None
    starts: str | None = None
    location: str | None = None
    participants: list[str] = []
    agenda: list[str] = []
    status: str | None = None
    outcome: str | None = None
    cancel_reason: str | None = None
    reschedules: list[Reschedule] = []
    plans_presented: list[str] = []
    facts: dict[str, Fact] = {}


def initial(subject_id: str) -> MeetingState:
    """A meeting nothing is known about yet."""
    return MeetingState(id=subject_id)


def step(draft: Draft[MeetingState], event: Recorded) -> None:
    """Fold `event`, one of the events concerning the meeting, into `draft`."""
    state = draft.state
    mine = event.subject == state.id
    match event.data:
        case MeetingScheduled() as d if mine:
            fact = fact_of(event)
            draft.set(fact, "title", d.title)
            draft.set(fact, "starts", d.starts)
            draft.set(fact, "location", d.location)
            draft.set(fact, "participants", list(d.participants))
            draft.set(fact, "agenda", list(d.agenda))
            draft.set(fact, "status", "scheduled")
        case MeetingRescheduled() as d if mine:
            fact = fact_of(event)
            draft.set(fact, "starts", d.starts)
            draft.push(
                "reschedules",
                Reschedule(starts=d.starts, location=d.location, event=event.id, time=fact.time),
            )
            draft.cite(fact, "reschedules")
            # No location given means the meeting moves in time only.
            if d.location is not None:
                draft.set(fact, "location", d.location)
            if state.status is None:
                draft.set(fact, "status", "scheduled")
        case MeetingHeld() as d if mine:
            fact = fact_of(event)
            draft.set(fact, "status", "held")
            if d.outcome is not None:
                draft.set(fact, "outcome", d.outcome)
            if d.participants is not None:
                draft.set(fact, "participants", list(d.participants))
        case MeetingCancelled() as d if mine:
            fact = fact_of(event)
            draft.set(fact, "status", "cancelled")
            draft.set(fact, "cancel_reason", d.reason)
        case PlanPresented(meeting=meeting) if meeting == state.id and event.subject:
            if draft.add("plans_presented", event.subject):
                draft.cite(fact_of(event), "plans_presented")
