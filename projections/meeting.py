"""Meeting projection: scheduling, rescheduling, holding or cancelling, plans presented."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from events.vocabulary import (
    MeetingCancelled,
    MeetingHeld,
    MeetingRescheduled,
    MeetingScheduled,
    PlanPresented,
    Recorded,
)
from projections.provenance import Fact, appended, fact_of, pushed, set_fields


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


def evolve(state: MeetingState, event: Recorded) -> MeetingState:
    """The meeting after `event`, one of the events concerning it; `state` is left untouched
    (in a fold, a list the fold made grows in place: provenance.growing_in_place)."""
    mine = event.subject == state.id
    match event.data:
        case MeetingScheduled() as d if mine:
            return set_fields(
                state,
                fact_of(event),
                {
                    "title": d.title,
                    "starts": d.starts,
                    "location": d.location,
                    "participants": list(d.participants),
                    "agenda": list(d.agenda),
                    "status": "scheduled",
                },
            )
        case MeetingRescheduled() as d if mine:
            fact = fact_of(event)
            moved = Reschedule(starts=d.starts, location=d.location, event=event.id, time=fact.time)
            changes: dict[str, Any] = {
                "starts": d.starts,
                "reschedules": pushed(state.reschedules, moved),
            }
            # No location given means the meeting moves in time only.
            if d.location is not None:
                changes["location"] = d.location
            if state.status is None:
                changes["status"] = "scheduled"
            return set_fields(state, fact, changes)
        case MeetingHeld() as d if mine:
            changes = {"status": "held"}
            if d.outcome is not None:
                changes["outcome"] = d.outcome
            if d.participants is not None:
                changes["participants"] = list(d.participants)
            return set_fields(state, fact_of(event), changes)
        case MeetingCancelled() as d if mine:
            return set_fields(
                state, fact_of(event), {"status": "cancelled", "cancel_reason": d.reason}
            )
        case PlanPresented(meeting=meeting) if meeting == state.id and event.subject:
            had = len(state.plans_presented)
            presented = appended(state.plans_presented, event.subject)
            if len(presented) > had:
                return set_fields(state, fact_of(event), {"plans_presented": presented})
    return state
