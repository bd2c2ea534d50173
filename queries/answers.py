"""The questions: one subject's state, a page of states, a page of a diff, from the read model."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import msgspec

import projections
from events.store import Conn
from events.timeparse import format_time
from events.vocabulary import Recorded
from projections.facts import assemble
from projections.knowledge import applicable, restated
from queries import model, question
from queries.question import PLURAL, PageCursor, Question, encode_cursor


async def states(conn: Conn, subjects: list[str], q: Question) -> dict[str, projections.State]:
    """The state of each of `subjects` that something counts for, in two queries: the
    registers and the events to fold, then those events from the log."""
    return (await states_at(conn, subjects, [q]))[0]


async def states_at(
    conn: Conn, subjects: list[str], questions: list[Question]
) -> list[dict[str, projections.State]]:
    """`states` for each question (a diff's two ends), the log's events read once for all."""
    if not subjects:
        return [{} for _ in questions]
    selected = [await model.facts(conn, subjects, q.known, q.at, q.floor) for q in questions]
    logged = await model.events(conn, {n for f in selected for _, s, v in f.core for n in (s, v)})
    return [_assembled(subjects, f, logged) for f in selected]


def _assembled(
    subjects: list[str], selected: model.Facts, logged: dict[int, Recorded]
) -> dict[str, projections.State]:
    folded: dict[str, list[Recorded]] = defaultdict(list)
    for subject, sequence, version in selected.core:
        folded[subject].append(_as_believed(logged, sequence, version))
    values: dict[str, dict[str, bytes]] = defaultdict(dict)
    for subject, key, value in selected.registers:
        values[subject][key] = value
    out: dict[str, projections.State] = {}
    for subject in subjects:
        state = assemble(subject, folded.get(subject, ()), values.get(subject, {}))
        if state is not None:
            out[subject] = state
    return out


def _as_believed(logged: dict[int, Recorded], sequence: int, version: int) -> Recorded:
    """Event `sequence` as its version states it (the event itself, or its correction)."""
    event = logged[sequence]
    if version == sequence:
        return event
    c = applicable(event.type, [logged[version]])
    assert c is not None, "the projector chose this correction because it applies"
    return restated(event, c)


async def subject_state(conn: Conn, subject: str, q: Question) -> projections.State | None:
    """One subject's state, or None when nothing concerning it counts yet."""
    return (await states(conn, [subject], q)).get(subject)


class Page(msgspec.Struct, frozen=True):
    """The subjects of one page and the cursor of the next."""

    subjects: list[str]
    next: str | None


async def page(conn: Conn, q: Question, prefix: str, after: PageCursor | None, limit: int) -> Page:
    """The next `limit` subject ids of a walk; the cursor pins the walk to `q.known`."""
    start = after.s if after is not None else ""
    found = await model.subjects(conn, q.known, prefix, start, limit + 1)
    nxt = None
    if len(found) > limit:
        found = found[:limit]
        nxt = encode_cursor(PageCursor(found[-1], q.known))
    return Page(found, nxt)


def shape(state: projections.State, sequence: int) -> dict[str, Any]:
    """One subject's state plus the sequence it was computed at, for JSON: its fields at the
    top, their values as they are (msgspec encodes structs directly, and a 200-issue party
    costs a millisecond to turn into dicts first)."""
    out = msgspec.structs.asdict(state)
    out["sequence"] = sequence
    return out


async def state_document(
    conn: Conn, q: Question, prefix: str, after: PageCursor | None, limit: int
) -> dict[str, Any]:
    """A /v1/state page: {at, sequence, parties, plans, meetings, issues, next}; the states
    are left as structs, for JSON (as in `shape`)."""
    p = await page(conn, q, prefix, after, limit)
    found = await states(conn, p.subjects, q)
    doc: dict[str, Any] = {
        "at": format_time(q.at),
        "known_at": q.known_at_text,
        "min_confidence": q.min_confidence,
        "sequence": q.known,
    }
    for plural in PLURAL.values():
        doc[plural] = []
    for sid in p.subjects:
        if sid in found:
            doc[PLURAL[projections.kind_of(sid)]].append(found[sid])
    doc["next"] = p.next
    return doc


async def diff_document(
    conn: Conn,
    from_at: datetime,
    q_to: Question,
    prefix: str,
    after: PageCursor | None,
    limit: int,
) -> dict[str, Any]:
    """A /v1/diff page: what changed from valid time `from_at` to `q_to.at`, both ends as
    known at `q_to.known` (one prefix of the log), with `q_to`'s confidence."""
    q_from = msgspec.structs.replace(q_to, at=from_at)
    p = await page(conn, q_to, prefix, after, limit)
    before, now = await states_at(conn, p.subjects, [q_from, q_to])
    return {
        "from": format_time(q_from.at),
        "to": format_time(q_to.at),
        "known_at": q_to.known_at_text,
        "sequence": q_to.known,
        "changes": msgspec.to_builtins(projections.diff(before, now)),
        "next": p.next,
    }


async def walk(conn: Conn, q: Question, prefix: str = "") -> Any:
    """Every subject's state, a page at a time (for exports and the CLI)."""
    after: PageCursor | None = None
    while True:
        p = await page(conn, q, prefix, after, question.DEFAULT_PAGE)
        for sid, state in (await states(conn, p.subjects, q)).items():
            yield sid, state
        if p.next is None:
            return
        after = PageCursor(p.subjects[-1], q.known)


class Answer(msgspec.Struct, frozen=True):
    """A question's answer document, and whether it can never change (pinned)."""

    body: dict[str, Any] | None
    pinned: bool
    at: str


async def subject_answer(
    conn: Conn, subject: str, at: str | None, known_at: str | None, min_confidence: str
) -> Answer:
    """GET /v1/{kind}/{slug}: the subject's state document (body None: nothing counts yet)."""
    q = await question.ask(conn, at, known_at, min_confidence)
    state = await subject_state(conn, subject, q)
    body = None if state is None else shape(state, q.known)
    return Answer(body, q.pinned, format_time(q.at))


async def _walk(
    conn: Conn, kind: str | None, prefix: str | None, limit: int | None, cursor: str | None
) -> tuple[str, int, PageCursor | None, int | None]:
    """A page's parameters: the id prefix walked, the page size, where the walk stands and
    the sequence it is pinned to (None on its first page)."""
    after = await question.page_cursor(conn, cursor)
    known = after.k if after is not None else None
    return question.page_prefix(kind, prefix), question.page_limit(limit), after, known


async def state_answer(
    conn: Conn,
    at: str | None,
    known_at: str | None,
    min_confidence: str,
    *,
    kind: str | None = None,
    prefix: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Answer:
    """GET /v1/state: one page of the walk `cursor` continues (or starts)."""
    walk, size, after, known = await _walk(conn, kind, prefix, limit, cursor)
    q = await question.ask(conn, at, known_at, min_confidence, known=known)
    return Answer(await state_document(conn, q, walk, after, size), q.pinned, format_time(q.at))


async def diff_answer(
    conn: Conn,
    from_: str,
    to: str,
    known_at: str | None,
    min_confidence: str,
    *,
    kind: str | None = None,
    prefix: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Answer:
    """GET /v1/diff: one page of the walk, both ends as known at one sequence."""
    walk, size, after, known = await _walk(conn, kind, prefix, limit, cursor)
    q_to = await question.ask(conn, to, known_at, min_confidence, known=known, at_name="to")
    from_at = question.parse_at_param("from", from_, q_to.at)
    doc = await diff_document(conn, from_at, q_to, walk, after, size)
    return Answer(doc, q_to.pinned, format_time(q_to.at))
