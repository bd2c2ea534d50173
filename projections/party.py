"""Party projection: registration, members, positions, sponsored plans and meetings."""

from __future__ import annotations

from msgspec import Struct

from events.vocabulary import (
    MeetingHeld,
    MeetingScheduled,
    PartyRegistered,
    PlanProposed,
    PositionStated,
    Recorded,
)
from projections.provenance import Draft, Fact, StanceJSON, fact_of, stance_of


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


def step(draft: Draft[PartyState], event: Recorded) -> None:
    """Fold `event`, one of the events concerning the party, into `draft`."""
    me, other = draft.state.id, event.subject
    if other is None:
        return
    match event.data:
        case PartyRegistered() as d:
            if other == me:
                fact = fact_of(event)
                draft.set(fact, "name", d.name)
                draft.set(fact, "kind", d.kind)
                draft.set(fact, "member_of", d.member_of)
                draft.set(fact, "role", d.role)
                draft.set(fact, "aliases", list(d.aliases))
            if d.member_of == me and other != me and draft.add("members", other):
                draft.state.members.sort()
                draft.cite(fact_of(event), "members")
        case PositionStated() as d if other == me:
            # Events arrive in valid-time order, so the latest statement on a subject wins.
            draft.put("positions", d.on, stance_of(event, d))
        case PlanProposed(sponsor=sponsor) if sponsor == me:
            draft.add("sponsored_plans", other)
            draft.cite(fact_of(event), "sponsored_plans")
        case MeetingScheduled(participants=people) | MeetingHeld(participants=people):
            if people and me in people and draft.add("meetings", other):
                draft.cite(fact_of(event), "meetings")
