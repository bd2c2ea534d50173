"""Issue projection: who stands where on it, and which plans' provisions address it."""

from __future__ import annotations

from msgspec import Struct

from events.vocabulary import PlanProposed, PlanRevised, PositionStated, Provision, Recorded
from projections.provenance import Draft, Fact, StanceJSON, fact_of, stance_of


class IssueState(Struct, frozen=True, kw_only=True, gc=False):
    """An issue (`issue/donbas`): issues need no registration, only mentions."""

    id: str
    stances: dict[str, StanceJSON] = {}
    plans: list[str] = []
    facts: dict[str, Fact] = {}


def initial(subject_id: str) -> IssueState:
    """An issue nothing is known about yet."""
    return IssueState(id=subject_id)


def step(draft: Draft[IssueState], event: Recorded) -> None:
    """Fold `event`, one of the events concerning the issue, into `draft`."""
    other = event.subject
    if other is None:
        return
    match event.data:
        case PositionStated() as d if d.on == draft.state.id:
            draft.put("stances", other, stance_of(event, d))
        case PlanProposed(provisions=provisions) | PlanRevised(provisions_added=provisions):
            # A plan stays listed once it addressed the issue, even if the provision is
            # later removed: the list answers "which plans took this issue up".
            if _addresses(provisions, draft.state.id) and draft.add("plans", other):
                draft.cite(fact_of(event), "plans")


def _addresses(provisions: list[Provision], issue: str) -> bool:
    return any(issue in p.issues for p in provisions)
