"""Plan projection: proposal, revisions, classification, presentation, supersession, stances."""

from __future__ import annotations

from msgspec import Struct

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
from projections.provenance import Draft, Fact, StanceJSON, fact_of, stance_of


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


def step(draft: Draft[PlanState], event: Recorded) -> None:
    """Fold `event`, one of the events concerning the plan, into `draft`."""
    state = draft.state
    me, other = state.id, event.subject
    if other is None:
        return
    mine = other == me
    match event.data:
        case PlanProposed() as d:
            if mine:
                _proposed(draft, event, d)
            if d.based_on == me and not mine:
                draft.add("derived", other)
                draft.cite(fact_of(event), "derived")
        case PlanRevised() as d if mine:
            _revised(draft, event, d)
        case PlanClassified() as d if mine:
            fact = fact_of(event)
            draft.set(fact, "classified", True)
            draft.set(fact, "classified_by", d.ordered_by)
            draft.set(fact, "withheld_from", list(d.withheld_from))
        case PlanDeclassified() if mine:
            # classified_by stays: it still names who ordered the last classification.
            fact = fact_of(event)
            draft.set(fact, "classified", False)
            draft.set(fact, "withheld_from", [])
        case PlanPresented() as d if mine:
            _presented(draft, event, d)
        case PlanSuperseded(by_plan=by_plan):
            if mine:
                fact = fact_of(event)
                draft.set(fact, "status", "superseded")
                draft.set(fact, "superseded_by", by_plan)
            if by_plan == me and not mine:
                draft.add("supersedes", other)
                draft.cite(fact_of(event), "supersedes")
        case PositionStated() as d if d.on == me:
            draft.put("stances", other, stance_of(event, d))


def _proposed(draft: Draft[PlanState], event: Recorded, d: PlanProposed) -> None:
    # A second proposal of the same plan restates it: its fields replace the earlier
    # ones and it joins the history at the current revision number; a plan already
    # presented or superseded keeps that status.
    state = draft.state
    provisions = [_entry(p) for p in d.provisions]
    fact = fact_of(event)
    draft.set(fact, "title", d.title)
    draft.set(fact, "kind", d.kind)
    draft.set(fact, "sponsor", d.sponsor)
    draft.set(fact, "status", state.status or "proposed")
    draft.set(fact, "points", d.points)
    draft.set(fact, "summary", d.summary)
    draft.set(fact, "based_on", d.based_on)
    draft.set(fact, "provisions", list(provisions))
    _history(draft, event, fact, d.sponsor, provisions, [])


def _revised(draft: Draft[PlanState], event: Recorded, d: PlanRevised) -> None:
    state = draft.state
    fact = fact_of(event)
    draft.set(fact, "revision", state.revision + 1)
    if d.points is not None:
        draft.set(fact, "points", d.points)
    if d.title is not None:
        draft.set(fact, "title", d.title)
    if d.summary is not None:
        draft.set(fact, "summary", d.summary)
    added: list[ProvisionEntry] = []
    if d.provisions_added or d.provisions_removed:
        # An added provision reusing an id replaces the old one in place.
        added = [_entry(p) for p in d.provisions_added]
        replacing = {p.id: p for p in added}
        removed = set(d.provisions_removed)
        kept = [replacing.pop(p.id, p) for p in state.provisions if p.id not in removed]
        draft.set(fact, "provisions", [*kept, *replacing.values()])
    _history(draft, event, fact, d.by, added, list(d.provisions_removed))


def _history(
    draft: Draft[PlanState],
    event: Recorded,
    fact: Fact,
    by: str | None,
    added: list[ProvisionEntry],
    removed: list[str],
) -> None:
    """The history one step longer: the plan's values once the step applied, and what the
    step changed."""
    state = draft.state
    draft.push(
        "history",
        Revision(
            revision=state.revision,
            event=event.id,
            time=fact.time,
            confidence=event.confidence,
            points=state.points,
            title=state.title,
            summary=state.summary,
            by=by,
            provisions_added=added,
            provisions_removed=removed,
        ),
    )
    draft.cite(fact, "history")


def _presented(draft: Draft[PlanState], event: Recorded, d: PlanPresented) -> None:
    fact = fact_of(event)
    draft.add("presented_to", *d.to)
    draft.add("presented_by", d.by)
    draft.cite(fact, "presented_to", "presented_by")
    if d.meeting is not None:
        draft.add("presented_at", d.meeting)
        draft.cite(fact, "presented_at")
    if draft.state.status != "superseded":
        draft.set(fact, "status", "presented")


def _entry(p: Provision) -> ProvisionEntry:
    return ProvisionEntry(id=p.id, text=p.text, issues=list(p.issues))
