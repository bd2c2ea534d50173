"""Party projection: registration, members, positions, sponsored plans and meetings."""

from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from events.vocabulary import (
    MeetingHeld,
    MeetingScheduled,
    PartyRegistered,
    PlanProposed,
    PositionStated,
    Recorded,
)
from projections.provenance import Fact, StanceJSON, appended, fact_of, set_fields, stance_of


class PartyState(Struct, frozen=True, kw_only=True, gc=False):
    """A state, organisation, person or outlet as of some valid and transaction time."""

    id: str
    name: str | None = None
    kind: str | None = None
    member_of: str | None = None
    role: str | None = None
    aliases: list[str] = []
    members: list[str] = []
    positions: dict[str, StanceJSON] = {}
    sponsored_plans: list[str] = []
    meetings: list[str] = []
    facts: dict[str, Fact] = {}


def initial(subject_id: str) -> PartyState:
    """A party nothing is known about yet."""
    return PartyState(id=subject_id)


def evolve(state: PartyState, event: Recorded) -> PartyState:
    """The party after `event`, one of the events concerning it; `state` is left untouched
    (in a fold, a list the fold made grows in place: provenance.growing_in_place)."""
    me, other = state.id, event.subject
    if other is None:
        return state
    match event.data:
        case PartyRegistered() as d:
            if other == me:
                state = set_fields(
                    state,
                    fact_of(event),
                    {
                        "name": d.name,
                        "kind": d.kind,
                        "member_of": d.member_of,
                        "role": d.role,
                        "aliases": list(d.aliases),
                    },
                )
            if d.member_of == me and other != me and other not in state.members:
                state = set_fields(
                    state, fact_of(event), {"members": sorted(appended(state.members, other))}
                )
        case PositionStated() as d if other == me:
            # Events arrive in valid-time order, so the latest statement on a subject wins.
            return replace(state, positions={**state.positions, d.on: stance_of(event, d)})
        case PlanProposed(sponsor=sponsor) if sponsor == me:
            return set_fields(
                state, fact_of(event), {"sponsored_plans": appended(state.sponsored_plans, other)}
            )
        case MeetingScheduled(participants=people) | MeetingHeld(participants=people):
            if people and me in people:
                had = len(state.meetings)
                meetings = appended(state.meetings, other)
                if len(meetings) > had:
                    return set_fields(state, fact_of(event), {"meetings": meetings})
    return state
