"""Plan projection: proposal, revisions, classification, presentation, supersession, stances."""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from events.vocabulary import (
    PlanClassified,
    PlanDeclassified,
    PlanPresented,
    PlanProposed,
    PlanRevised,
    PlanSuperseded,
    PositionStated,
    Provision,
    Recorded,
)
from projections.provenance import (
    Fact,
    StanceJSON,
    appended,
    fact_of,
    pushed,
    set_fields,
    stance_of,
)


class ProvisionEntry(Struct, frozen=True, kw_only=True, gc=False):
    """One point of a plan as it stands."""

    id: str
    text: str
    issues: list[str]


class Revision(Struct, frozen=True, kw_only=True, gc=False):
    """One step of a plan's history: the proposal (revision 0) or a revision.

    `points`, `title` and `summary` are the plan's values once this step applied;
    `provisions_added` and `provisions_removed` are what this step changed.
    """

    revision: int
    event: str
    time: str
    confidence: str
    points: int | None
    title: str | None
    summary: str | None
    by: str | None
    provisions_added: list[ProvisionEntry]
    provisions_removed: list[str]


class PlanState(Struct, frozen=True, kw_only=True, gc=False):
    """A plan as of some valid and transaction time."""

    id: str
    title: str | None = None
    kind: str | None = None
    sponsor: str | None = None
    status: str | None = None
    points: int | None = None
    summary: str | None = None
    revision: int = 0
    history: list[Revision] = []
    provisions: list[ProvisionEntry] = []
    based_on: str | None = None
    derived: list[str] = []
    classified: bool = False
    classified_by: str | None = None
    withheld_from: list[str] = []
    presented_to: list[str] = []
    presented_by: list[str] = []
    presented_at: list[str] = []
    stances: dict[str, StanceJSON] = {}
    superseded_by: str | None = None
    supersedes: list[str] = []
    facts: dict[str, Fact] = {}


def initial(subject_id: str) -> PlanState:
    """A plan nothing is known about yet (status None until it is proposed)."""
    return PlanState(id=subject_id)


def evolve(state: PlanState, event: Recorded) -> PlanState:
    """The plan after `event`, one of the events concerning it; `state` is left untouched
    (in a fold, a list the fold made grows in place: provenance.growing_in_place)."""
    me, other = state.id, event.subject
    if other is None:
        return state
    mine = other == me
    match event.data:
        case PlanProposed() as d:
            if mine:
                state = _proposed(state, event, d)
            if d.based_on == me and not mine:
                state = set_fields(
                    state, fact_of(event), {"derived": appended(state.derived, other)}
                )
        case PlanRevised() as d if mine:
            return _revised(state, event, d)
        case PlanClassified() as d if mine:
            return set_fields(
                state,
                fact_of(event),
                {
                    "classified": True,
                    "classified_by": d.ordered_by,
                    "withheld_from": list(d.withheld_from),
                },
            )
        case PlanDeclassified() if mine:
            # classified_by stays: it still names who ordered the last classification.
            return set_fields(state, fact_of(event), {"classified": False, "withheld_from": []})
        case PlanPresented() as d if mine:
            return _presented(state, event, d)
        case PlanSuperseded(by_plan=by_plan):
            if mine:
                state = set_fields(
                    state, fact_of(event), {"status": "superseded", "superseded_by": by_plan}
                )
            if by_plan == me and not mine:
                state = set_fields(
                    state, fact_of(event), {"supersedes": appended(state.supersedes, other)}
                )
        case PositionStated() as d if d.on == me:
            return replace(state, stances={**state.stances, other: stance_of(event, d)})
    return state


def _proposed(state: PlanState, event: Recorded, d: PlanProposed) -> PlanState:
    # A second proposal of the same plan restates it: its fields replace the earlier
    # ones and it joins the history at the current revision number; a plan already
    # presented or superseded keeps that status.
    provisions = [_entry(p) for p in d.provisions]
    fact = fact_of(event)
    step = Revision(
        revision=state.revision,
        event=event.id,
        time=fact.time,
        confidence=event.confidence,
        points=d.points,
        title=d.title,
        summary=d.summary,
        by=d.sponsor,
        provisions_added=provisions,
        provisions_removed=[],
    )
    return set_fields(
        state,
        fact,
        {
            "title": d.title,
            "kind": d.kind,
            "sponsor": d.sponsor,
            "status": state.status or "proposed",
            "points": d.points,
            "summary": d.summary,
            "based_on": d.based_on,
            "provisions": list(provisions),
            "history": pushed(state.history, step),
        },
    )


def _revised(state: PlanState, event: Recorded, d: PlanRevised) -> PlanState:
    changes: dict[str, Any] = {"revision": state.revision + 1}
    if d.points is not None:
        changes["points"] = d.points
    if d.title is not None:
        changes["title"] = d.title
    if d.summary is not None:
        changes["summary"] = d.summary
    added: list[ProvisionEntry] = []
    if d.provisions_added or d.provisions_removed:
        # An added provision reusing an id replaces the old one in place.
        added = [_entry(p) for p in d.provisions_added]
        replacing = {p.id: p for p in added}
        removed = set(d.provisions_removed)
        kept = [replacing.pop(p.id, p) for p in state.provisions if p.id not in removed]
        changes["provisions"] = [*kept, *replacing.values()]
    fact = fact_of(event)
    step = Revision(
        revision=state.revision + 1,
        event=event.id,
        time=fact.time,
        confidence=event.confidence,
        points=changes.get("points", state.points),
        title=changes.get("title", state.title),
        summary=changes.get("summary", state.summary),
        by=d.by,
        provisions_added=added,
        provisions_removed=list(d.provisions_removed),
    )
    changes["history"] = pushed(state.history, step)
    return set_fields(state, fact, changes)


def _presented(state: PlanState, event: Recorded, d: PlanPresented) -> PlanState:
    changes: dict[str, Any] = {
        "presented_to": appended(state.presented_to, *d.to),
        "presented_by": appended(state.presented_by, d.by),
    }
    if d.meeting is not None:
        changes["presented_at"] = appended(state.presented_at, d.meeting)
    if state.status != "superseded":
        changes["status"] = "presented"
    return set_fields(state, fact_of(event), changes)


def _entry(p: Provision) -> ProvisionEntry:
    return ProvisionEntry(id=p.id, text=p.text, issues=list(p.issues))
