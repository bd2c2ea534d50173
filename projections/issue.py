"""Issue projection: who stands where on it, and which plans' provisions address it."""

from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from events.vocabulary import PlanProposed, PlanRevised, PositionStated, Provision, Recorded
from projections.provenance import Fact, StanceJSON, appended, fact_of, set_fields, stance_of


class IssueState(Struct, frozen=True, kw_only=True, gc=False):
    """An issue (`issue/donbas`): issues need no registration, only mentions."""

    id: str
    stances: dict[str, StanceJSON] = {}
    plans: list[str] = []
    facts: dict[str, Fact] = {}


def initial(subject_id: str) -> IssueState:
    """An issue nothing is known about yet."""
    return IssueState(id=subject_id)


def evolve(state: IssueState, event: Recorded) -> IssueState:
    """The issue after `event`, one of the events concerning it; `state` is left untouched
    (in a fold, a list the fold made grows in place: provenance.growing_in_place)."""
    other = event.subject
    if other is None:
        return state
    match event.data:
        case PositionStated() as d if d.on == state.id:
            return replace(state, stances={**state.stances, other: stance_of(event, d)})
        case PlanProposed(provisions=provisions) | PlanRevised(provisions_added=provisions):
            # A plan stays listed once it addressed the issue, even if the provision is
            # later removed: the list answers "which plans took this issue up".
            if _addresses(provisions, state.id):
                had = len(state.plans)
                plans = appended(state.plans, other)
                if len(plans) > had:
                    return set_fields(state, fact_of(event), {"plans": plans})
    return state


def _addresses(provisions: list[Provision], issue: str) -> bool:
    return any(issue in p.issues for p in provisions)
