"""A plan's family as of a question: each member's state, walked down `derived` links."""

from __future__ import annotations

import asyncpg
import msgspec

from events.timeparse import format_time
from projections.family import MAX_VERSIONS, Family, Version, assemble, next_generation
from projections.plan import PlanState
from service import answers


async def plan_family(conn: asyncpg.Connection, plan: str, q: answers.Question) -> Family | None:
    """The family of `plan` (None when nothing concerning it counts yet).

    One state per member, generation by generation, at most MAX_VERSIONS of them: each is
    `answers.subject_state` of that plan under the same question, so a member's fields are
    exactly what its own answer says.
    """
    root = await answers.subject_state(conn, plan, q)
    if not isinstance(root, PlanState):
        return None
    states: dict[str, PlanState] = {plan: root}
    parents, truncated = [plan], False
    while parents:
        children = next_generation(states, parents)
        if len(states) + len(children) > MAX_VERSIONS:
            children, truncated = children[: MAX_VERSIONS - len(states)], True
        for child in children:
            state = await answers.subject_state(conn, child, q)
            if isinstance(state, PlanState):
                states[child] = state
        parents = [c for c in children if c in states]
    return assemble(plan, states, truncated)


class FamilyDocument(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of GET /v1/plans/{slug}/family."""

    plan: str
    at: str
    known_at: str | None
    min_confidence: str
    sequence: int
    versions: list[Version]
    truncated: bool


def family_document(family: Family, q: answers.Question) -> FamilyDocument:
    """The family as answered: the question it answers, then the versions."""
    return FamilyDocument(
        plan=family.plan,
        at=format_time(q.at),
        known_at=q.known_at_text,
        min_confidence=q.min_confidence,
        sequence=q.known,
        versions=family.versions,
        truncated=family.truncated,
    )
