"""A plan's family as of a question: each member's state, walked down `derived` links."""

from __future__ import annotations

import msgspec

from events.store import Conn
from events.timeparse import format_time
from projections.family import MAX_VERSIONS, Family, Version, assemble, next_generation
from projections.plan import PlanState
from queries import answers, assembly, question
from queries.question import Question


async def plan_family(conn: Conn, plan: str, q: Question) -> Family | None:
    """The family of `plan` (None when nothing concerning it counts yet).

    Generation by generation, one read-model question per generation, at most
    MAX_VERSIONS members: each member's state is exactly what its own answer says.
    """
    root = await assembly.subject_state(conn, plan, q)
    if not isinstance(root, PlanState):
        return None
    states: dict[str, PlanState] = {plan: root}
    parents, truncated = [plan], False
    while parents:
        children = next_generation(states, parents)
        if len(states) + len(children) > MAX_VERSIONS:
            children, truncated = children[: MAX_VERSIONS - len(states)], True
        found = await assembly.states(conn, children, q)
        states |= {c: s for c, s in found.items() if isinstance(s, PlanState)}
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


def family_document(family: Family, q: Question) -> FamilyDocument:
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


async def family_answer(
    conn: Conn, plan: str, at: str | None, known_at: str | None, min_confidence: str
) -> answers.Answer:
    """GET /v1/plans/{slug}/family: the family document (body None: nothing counts yet)."""
    q = await question.ask(conn, at, known_at, min_confidence)
    found = await plan_family(conn, plan, q)
    body = None if found is None else msgspec.to_builtins(family_document(found, q))
    return answers.Answer(body, q.pinned, format_time(q.at))
