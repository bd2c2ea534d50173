"""A plan's family: the plan and every version derived from it (`based_on`, transitively)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from msgspec import Struct

from projections.plan import PlanState, Revision
from projections.provenance import Fact, Stance, stance_fields

MAX_VERSIONS: Final = 200  # plans in one family answer; past it the answer says `truncated`


class Version(Struct, frozen=True, kw_only=True):
    """One plan of a family as of the question: what a side-by-side view shows of it.

    `generation` is 0 for the plan asked about, 1 for a plan based on it, and so on.
    """

    id: str
    generation: int
    based_on: str | None
    derived: list[str]
    title: str | None
    kind: str | None
    sponsor: str | None
    status: str | None
    points: int | None
    revision: int
    history: list[Revision]
    summary: str | None
    classified: bool
    classified_by: str | None
    withheld_from: list[str]
    presented_to: list[str]
    superseded_by: str | None
    stances: dict[str, Stance]
    facts: dict[str, Fact]


class Family(Struct, frozen=True, kw_only=True):
    """The plan asked about first, then its descendants generation by generation."""

    plan: str
    versions: list[Version]
    truncated: bool


def next_generation(states: Mapping[str, PlanState], parents: Iterable[str]) -> list[str]:
    """The plans derived from `parents` that are not in `states` yet, in the order they were
    proposed (the parents' `derived` lists are in valid-time order), none twice.

    A cycle of `based_on` (a plan restated on a descendant) ends here: a plan already in the
    family is not visited again.
    """
    found: list[str] = []
    for parent in parents:
        for child in states[parent].derived:
            if child not in states and child not in found:
                found.append(child)
    return found


def assemble(plan: str, states: Mapping[str, PlanState], truncated: bool = False) -> Family:
    """The family of `plan` from the states of its members (`plan` must be among them).

    Versions come generation by generation, each generation in the order its plans were
    proposed; a member not reachable from `plan` through `derived` is left out.
    """
    versions: list[Version] = []
    generation, parents = 0, [plan]
    seen = {plan}
    while parents:
        versions.extend(_version(states[p], generation) for p in parents)
        children = [c for p in parents for c in states[p].derived if c in states and c not in seen]
        children = list(dict.fromkeys(children))
        seen.update(children)
        generation, parents = generation + 1, children
    return Family(plan=plan, versions=versions, truncated=truncated)


def _version(s: PlanState, generation: int) -> Version:
    return Version(
        id=s.id,
        generation=generation,
        based_on=s.based_on,
        derived=list(s.derived),
        title=s.title,
        kind=s.kind,
        sponsor=s.sponsor,
        status=s.status,
        points=s.points,
        revision=s.revision,
        history=list(s.history),
        summary=s.summary,
        classified=s.classified,
        classified_by=s.classified_by,
        withheld_from=list(s.withheld_from),
        presented_to=list(s.presented_to),
        superseded_by=s.superseded_by,
        stances={party: stance_fields(v) for party, v in s.stances.items()},
        facts=dict(s.facts),
    )
