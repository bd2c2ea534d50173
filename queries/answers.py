"""The questions: one subject's state, a page of states, a page of a diff, as documents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

import projections
from events.store import Acquire, Conn
from events.timeparse import format_time
from queries import assembly, pages, question
from queries.question import PLURAL, PageCursor, Question


def shape(state: projections.State, sequence: int) -> dict[str, Any]:
    """One subject's state plus the sequence it was computed at, for JSON: its fields at the
    top, their values as they are (msgspec encodes structs directly, and a 200-issue party
    costs a millisecond to turn into dicts first)."""
    out = msgspec.structs.asdict(state)
    out["sequence"] = sequence
    return out


async def _state_page(
    conn: Conn,
    q: Question,
    prefix: str,
    after: PageCursor | None,
    limit: int,
    budget: int,
    spare: Conn | None = None,
) -> tuple[pages.Page, list[projections.State]]:
    """A page of the walk and the states at `q.at` of its subjects that something counts
    for, in walk order."""
    found: list[projections.State] = []

    def keep(subjects: list[str], selected: assembly.Selected, at: list[datetime]) -> Iterator[str]:
        for subject, (state,) in assembly.assembled(subjects, selected, at):
            if state is not None:
                found.append(state)
            yield subject

    page = await pages.page_subjects(conn, q, [q.at], prefix, after, limit, budget, keep, spare)
    return page, found


async def state_document(
    conn: Conn,
    q: Question,
    prefix: str,
    after: PageCursor | None,
    limit: int,
    budget: int = question.PAGE_FACTS,
    spare: Conn | None = None,
) -> dict[str, Any]:
    """A /v1/state page: {at, known_at, min_confidence, sequence, parties, plans, meetings,
    issues, next}; the states are left as structs, for JSON (as in `shape`). Its pieces are
    read on `conn` and on `spare` too, given one (`pages.page_subjects`)."""
    p, found = await _state_page(conn, q, prefix, after, limit, budget, spare)
    doc: dict[str, Any] = {
        "at": format_time(q.at),
        "known_at": q.known_at_text,
        "min_confidence": q.min_confidence,
        "sequence": q.known,
    }
    for plural in PLURAL.values():
        doc[plural] = []
    for state in found:
        doc[PLURAL[projections.kind_of(state.id)]].append(state)
    doc["next"] = p.next
    return doc


async def diff_document(
    conn: Conn,
    from_at: datetime,
    q_to: Question,
    prefix: str,
    after: PageCursor | None,
    limit: int,
    budget: int = question.PAGE_FACTS,
    spare: Conn | None = None,
) -> dict[str, Any]:
    """A /v1/diff page: what changed from valid time `from_at` to `q_to.at`, both ends as
    known at `q_to.known` (one prefix of the log), with `q_to`'s confidence; the changes
    are left as structs, for JSON (as in `shape`)."""
    changes: list[projections.Change] = []

    def compare(
        subjects: list[str], selected: assembly.Selected, ends: list[datetime]
    ) -> Iterator[str]:
        for subject, found in assembly.compared(subjects, selected, ends):
            changes.extend(found)
            yield subject

    # Each subject's changes are found as it is assembled, while the database reads the
    # next piece, and in walk order: the order of `projections.diff`.
    ends = [from_at, q_to.at]
    p = await pages.page_subjects(conn, q_to, ends, prefix, after, limit, budget, compare, spare)
    return {
        "from": format_time(from_at),
        "to": format_time(q_to.at),
        "known_at": q_to.known_at_text,
        "min_confidence": q_to.min_confidence,
        "sequence": q_to.known,
        "changes": changes,
        "next": p.next,
    }


async def walk(
    acquire: Acquire, q: Question, prefix: str, budget: int
) -> AsyncIterator[list[projections.State]]:
    """Every state of the subjects under `prefix`, a page (a list of states) at a time, each
    page of at most `budget` facts (the service's ANNALS_PAGE_FACTS) read on a connection
    of its own from `acquire`: for exports."""
    after: PageCursor | None = None
    while True:
        async with acquire(q.known) as conn:
            p, found = await _state_page(conn, q, prefix, after, question.DEFAULT_PAGE, budget)
        yield found
        if p.next is None:
            return
        after = PageCursor(p.subjects[-1], q.known)


def not_counted(subject: str, at: str) -> str:
    """What a question of one subject is told when nothing concerning it counts yet."""
    return f"nothing concerning {subject} counts at {at}"


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
    state = await assembly.subject_state(conn, subject, q)
    body = None if state is None else shape(state, q.known)
    return Answer(body, q.pinned, format_time(q.at))


def read_pin(known_at: str | None, cursor: str | None) -> str | int | None:
    """What a state or diff page is computed as of, to choose a connection that holds it:
    its cursor's sequence, else `known_at` (a cursor this service did not make: None, and
    the question names the problem)."""
    try:
        after = question.page_cursor(cursor)
    except question.CursorError:
        return None
    return known_at if after is None else after.k


class PageQuestion(NamedTuple):
    """A /v1/state or /v1/diff page's question, resolved: its document is a function of
    `key` (and of the code that writes it) alone, so `key` names the document before it is
    read."""

    q: Question
    earlier: datetime | None  # a diff's `from`; None for a state page
    start: str  # the subject-id prefix walked
    after: PageCursor | None
    limit: int
    budget: int

    @property
    def key(self) -> tuple[Any, ...]:
        """Every parameter the document depends on, resolved: its kind, times, sequence,
        confidence, `known_at` as given (the document repeats it), walk and budget."""
        q, after = self.q, self.after
        times = [format_time(t) for t in (self.earlier, q.at) if t is not None]
        where = None if after is None else [after.s, after.k]
        return ("state" if self.earlier is None else "diff", *times, q.known, q.min_confidence,
                q.known_at_text, self.start, where, self.limit, self.budget)  # fmt: skip

    async def document(self, conn: Conn, spare: Conn | None = None) -> dict[str, Any]:
        """The page's document, read on `conn` (one holding `q.known`) and on `spare` too,
        given one (another that holds it)."""
        args = (self.q, self.start, self.after, self.limit, self.budget, spare)
        if self.earlier is None:
            return await state_document(conn, *args)
        return await diff_document(conn, self.earlier, *args)


def _page_params(
    kind: str | None, prefix: str | None, limit: int | None, cursor: str | None
) -> tuple[str, int, PageCursor | None, int | None]:
    """A page's parameters: the id prefix walked, the page size, where the walk stands and
    the sequence it is pinned to (None on its first page)."""
    after = question.page_cursor(cursor)
    known = after.k if after is not None else None
    return question.page_prefix(kind, prefix), question.page_limit(limit), after, known


async def state_question(
    conn: Conn,
    at: str | None,
    known_at: str | None,
    min_confidence: str,
    *,
    kind: str | None = None,
    prefix: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    budget: int = question.PAGE_FACTS,
) -> PageQuestion:
    """GET /v1/state: one page of the walk `cursor` continues (or starts)."""
    start, size, after, known = _page_params(kind, prefix, limit, cursor)
    q = await question.ask(conn, at, known_at, min_confidence, known=known)
    return PageQuestion(q, None, start, after, size, budget)


async def diff_question(
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
    budget: int = question.PAGE_FACTS,
) -> PageQuestion:
    """GET /v1/diff: one page of the walk, both ends as known at one sequence."""
    start, size, after, known = _page_params(kind, prefix, limit, cursor)
    q_to = await question.ask(conn, to, known_at, min_confidence, known=known, at_name="to")
    from_at = question.parse_at_param("from", from_, q_to.at)
    return PageQuestion(q_to, from_at, start, after, size, budget)
