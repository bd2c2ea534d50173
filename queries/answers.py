"""The questions: one subject's state, a page of states, a page of a diff, from the read model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

import projections
from events.store import Acquire, Conn
from events.timeparse import format_time
from events.vocabulary import Recorded
from projections.facts import assemble, folded_event
from queries import model, question
from queries.question import PLURAL, PageCursor, Question, encode_cursor


async def states(conn: Conn, subjects: list[str], q: Question) -> dict[str, projections.State]:
    """The state of each of `subjects` that something counts for, in one query: the
    registers' values and the events to fold, as the read model holds them."""
    if not subjects:
        return {}
    selected = await _select(conn, subjects, q, [q.at])
    return {s: end for s, (end,) in _assembled(subjects, selected, [q.at]) if end is not None}


class _Selected(NamedTuple):
    """What the subjects of a page select for its ends (valid times at one sequence and
    confidence): each end's registers, and the events to fold up to the latest end.

    A diff's two ends select only the registers whose values differ between them (the
    others would compare equal), and `registered` names, at each end, the subjects that
    hold a register there: such a subject counts there even where none is selected."""

    registers: list[dict[str, model.Facts]]  # per end, by subject (no events to fold)
    latest: dict[str, model.Facts]  # the latest end's, by subject: its events to fold too
    registered: list[set[str]] | None = None  # per end, where only changed ones are selected

    def per_subject(self) -> dict[str, int]:
        """The facts of each subject: its registers at every end, its events to fold once."""
        per = {s: len(f.core) for s, f in self.latest.items()}
        for end in self.registers:
            for s, f in end.items():
                per[s] = per.get(s, 0) + len(f.keys)
        return per

    def only(self, subjects: set[str]) -> _Selected:
        return _Selected(
            [{s: f for s, f in end.items() if s in subjects} for end in self.registers],
            {s: f for s, f in self.latest.items() if s in subjects},
            None if self.registered is None else [end & subjects for end in self.registered],
        )


async def _select(conn: Conn, subjects: list[str], q: Question, ends: list[datetime]) -> _Selected:
    """One statement: a state's (one end), or a diff's (two ends, `model.changed`), which
    reads the events to fold once, for the later end: the earlier end folds those up to its
    time."""
    if not subjects:
        return _Selected([{} for _ in ends], {})
    if len(ends) == 1:
        facts = await model.facts(conn, subjects, q.known, ends[0], q.floor)
        return _Selected([facts], facts)
    earlier, later = sorted(ends)
    found = await model.changed(conn, subjects, q.known, earlier, later, q.floor)
    registers = [{s: c.earlier for s, c in found.items()}, {s: c.later for s, c in found.items()}]
    registered = [{s for s, c in found.items() if c.held[i]} for i in (0, 1)]
    if ends[0] > ends[1]:
        registers.reverse()
        registered.reverse()
    latest = {s: model.Facts([], [], c.core) for s, c in found.items()}
    return _Selected(registers, latest, registered)


def _assembled(
    subjects: list[str], selected: _Selected, ends: list[datetime]
) -> Iterator[tuple[str, list[projections.State | None]]]:
    """Each subject with its state at each of `ends` (in the order of `ends`, None where
    nothing counts), from what they selected, a subject at a time."""
    order = sorted(range(len(ends)), key=ends.__getitem__)
    for subject in subjects:
        mine = selected.latest.get(subject)
        folded = [] if mine is None else _folded(subject, mine.core)
        at_ends = [(ends[i], _values(subject, selected.registers[i].get(subject))) for i in order]
        try:
            found = assemble(subject, folded, at_ends)
        except msgspec.DecodeError as e:  # a stance the projector did not encode
            raise model.Damaged(subject, f"a register holds no stance ({e})") from e
        states: list[projections.State | None] = [None] * len(ends)
        for i, state in zip(order, found, strict=True):
            states[i] = state
            if state is None and selected.registered and subject in selected.registered[i]:
                states[i] = projections.initial(subject)  # registers alone, none changed
        yield subject, states


def _values(subject: str, facts: model.Facts | None) -> dict[str, bytes]:
    """A subject's registers at one end, by key."""
    if facts is None:
        return {}
    values = dict(zip(facts.keys, facts.registers, strict=True))
    if None in facts.registers:
        key = next(k for k, v in values.items() if v is None)
        raise model.Damaged(subject, f"the register {key} holds no stance")
    return values  # type: ignore[return-value]  # no None among them


def _folded(subject: str, values: list[bytes | None]) -> list[Recorded]:
    """The events the CORE facts of `subject` hold."""
    try:
        return [folded_event(v) for v in values]  # type: ignore[arg-type]  # None: a TypeError
    except (msgspec.DecodeError, TypeError) as e:  # ValidationError is a DecodeError too
        raise model.Damaged(subject, f"a folded fact holds no event ({e})") from e


async def subject_state(conn: Conn, subject: str, q: Question) -> projections.State | None:
    """One subject's state, or None when nothing concerning it counts yet."""
    return (await states(conn, [subject], q)).get(subject)


# A page's facts are read in pieces of about budget / PIECES facts, each piece's statement
# running in the database while the piece before it is assembled. Nothing is assembled
# while the first piece is read, so it is FIRST_PIECE times smaller, and the pieces after it
# double up to that size: the database reads a fact in about a third of the time Python
# takes to assemble it, so a piece twice the one before is read before that one is done.
PIECES = 4
FIRST_PIECE = 4
# PostgreSQL sends a statement's rows only as fast as the service reads them, and a piece's
# rows (about a megabyte) fill the socket's buffer many times over: assembled without a
# pause, a piece would leave the next piece's statement waiting on the socket, not running.
# So a piece is assembled a subject at a time, and the event loop runs (reading the rows
# that arrived) once the subjects since it last ran hold YIELD_FACTS facts: after each
# busy subject, after a few small ones.
YIELD_FACTS = 100


class Page(msgspec.Struct, frozen=True):
    """The subjects of one page and the cursor of the next."""

    subjects: list[str]
    next: str | None


def fitting(facts: Iterable[int], budget: int) -> int:
    """How many subjects, in walk order, a page of these facts per subject holds: those that
    fit in `budget` together, and always the first (a subject is never split)."""
    taken = total = 0
    for n in facts:
        if taken and total + n > budget:
            break
        taken, total = taken + 1, total + n
    return taken


# What a page does with each subject's states at its ends, as the subject is assembled.
OnAssembled = Callable[[str, list[projections.State | None]], None]


async def page_subjects(
    conn: Conn,
    q: Question,
    ends: list[datetime],
    prefix: str,
    after: PageCursor | None,
    limit: int,
    budget: int,
    each: OnAssembled,
) -> Page:
    """The next subjects of a walk, each handed to `each` with its states at each of `ends`
    (valid times: one, or a diff's two; all at `q`'s sequence and confidence; None where
    nothing counts) as soon as it is assembled: at most `limit`, and only as many as fit
    in `budget` facts (registers at every end, events to fold once) unless the first alone
    is larger. Where there are several ends, a subject no fact of which lies between them
    has the same state at each: it is passed over, neither read nor handed to `each`, and
    holds no fact of the budget.

    Where a page ends depends on the answer alone, so a pinned page never changes. The
    facts are read a piece of subjects at a time, each piece as many as their
    read_subjects counts (`model.Listed`: never fewer than the facts a question selects)
    fit in at most budget / PIECES (the first fewer), and the next piece's statement runs
    in the database while the piece before is assembled: a page holds at most about twice
    the budget's facts in memory."""
    between = (min(ends), max(ends)) if len(ends) > 1 else None
    start = after.s if after else ""
    found = await model.subjects(conn, q.known, prefix, start, limit + 1, between, q.floor)
    rest, more = found[:limit], len(found) > limit
    same = {s.subject for s in rest if not s.moved}  # the same state at every end: not read
    taken: list[str] = []
    used = 0  # the facts of the subjects taken

    share = max(1, budget // (PIECES * FIRST_PIECE))

    def piece() -> list[str]:
        nonlocal rest, share
        n = fitting((s.registers * len(ends) + s.folded if s.moved else 0 for s in rest), share)
        taking, rest = [s.subject for s in rest[:n]], rest[n:]
        share = min(share * 2, budget // PIECES)
        return taking

    def read(chunk: list[str]) -> asyncio.Future[_Selected]:
        return asyncio.ensure_future(_select(conn, [s for s in chunk if s not in same], q, ends))

    chunk = piece()
    pending = read(chunk) if chunk else None
    try:
        while pending is not None:
            selected = await pending
            pending = None
            per = selected.per_subject()
            counts = [per.get(s, 0) for s in chunk]
            # What the page holds already comes first, and always stays.
            fit = fitting([used, *counts], budget) - 1 if taken else fitting(counts, budget)
            if fit < len(chunk):
                chunk, counts, rest, more = chunk[:fit], counts[:fit], [], True
                selected = selected.only(set(chunk))
            if not chunk:
                break
            if rest:  # the next piece's statement runs while this one is assembled
                following = piece()
                pending = read(following)
                await asyncio.sleep(0)
            held = 0  # the facts assembled since the event loop last ran
            moving = [s for s in chunk if s not in same]
            for subject, states in _assembled(moving, selected, ends):
                each(subject, states)
                held += per.get(subject, 0)
                if held >= YIELD_FACTS and pending is not None:
                    held = 0
                    await asyncio.sleep(0)  # the next piece's rows keep arriving meanwhile
            taken += chunk
            used += sum(counts)
            if pending is not None:
                chunk = following
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
    nxt = encode_cursor(PageCursor(taken[-1], q.known)) if more and taken else None
    return Page(taken, nxt)


def shape(state: projections.State, sequence: int) -> dict[str, Any]:
    """One subject's state plus the sequence it was computed at, for JSON: its fields at the
    top, their values as they are (msgspec encodes structs directly, and a 200-issue party
    costs a millisecond to turn into dicts first)."""
    out = msgspec.structs.asdict(state)
    out["sequence"] = sequence
    return out


async def _states(
    conn: Conn, q: Question, prefix: str, after: PageCursor | None, limit: int, budget: int
) -> tuple[Page, list[projections.State]]:
    """A page of the walk and the states at `q.at` of its subjects that something counts
    for, in walk order."""
    found: list[projections.State] = []

    def keep(subject: str, states: list[projections.State | None]) -> None:
        (state,) = states
        if state is not None:
            found.append(state)

    return await page_subjects(conn, q, [q.at], prefix, after, limit, budget, keep), found


async def state_document(
    conn: Conn,
    q: Question,
    prefix: str,
    after: PageCursor | None,
    limit: int,
    budget: int = question.PAGE_FACTS,
) -> dict[str, Any]:
    """A /v1/state page: {at, known_at, min_confidence, sequence, parties, plans, meetings,
    issues, next}; the states are left as structs, for JSON (as in `shape`)."""
    p, found = await _states(conn, q, prefix, after, limit, budget)
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
) -> dict[str, Any]:
    """A /v1/diff page: what changed from valid time `from_at` to `q_to.at`, both ends as
    known at `q_to.known` (one prefix of the log), with `q_to`'s confidence; the changes
    are left as structs, for JSON (as in `shape`)."""
    changes: list[projections.Change] = []

    def compare(subject: str, states: list[projections.State | None]) -> None:
        changes.extend(projections.subject_changes(subject, *states))

    # Each subject's changes are found as it is assembled, while the database reads the
    # next piece, and in walk order: the order of `projections.diff`.
    ends = [from_at, q_to.at]
    p = await page_subjects(conn, q_to, ends, prefix, after, limit, budget, compare)
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
            p, found = await _states(conn, q, prefix, after, question.DEFAULT_PAGE, budget)
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
    state = await subject_state(conn, subject, q)
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


def _walk(
    kind: str | None, prefix: str | None, limit: int | None, cursor: str | None
) -> tuple[str, int, PageCursor | None, int | None]:
    """A page's parameters: the id prefix walked, the page size, where the walk stands and
    the sequence it is pinned to (None on its first page)."""
    after = question.page_cursor(cursor)
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
    budget: int = question.PAGE_FACTS,
) -> Answer:
    """GET /v1/state: one page of the walk `cursor` continues (or starts)."""
    walk, size, after, known = _walk(kind, prefix, limit, cursor)
    q = await question.ask(conn, at, known_at, min_confidence, known=known)
    doc = await state_document(conn, q, walk, after, size, budget)
    return Answer(doc, q.pinned, format_time(q.at))


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
    budget: int = question.PAGE_FACTS,
) -> Answer:
    """GET /v1/diff: one page of the walk, both ends as known at one sequence."""
    walk, size, after, known = _walk(kind, prefix, limit, cursor)
    q_to = await question.ask(conn, to, known_at, min_confidence, known=known, at_name="to")
    from_at = question.parse_at_param("from", from_, q_to.at)
    doc = await diff_document(conn, from_at, q_to, walk, after, size, budget)
    return Answer(doc, q_to.pinned, format_time(q_to.at))
