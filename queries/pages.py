"""A walk's pages: which subjects a page holds, read and assembled a piece at a time."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import msgspec

from events.store import Conn
from queries import assembly, model
from queries.question import PageCursor, Question, encode_cursor

# A page's facts are read in pieces of about budget / PIECES facts, each piece's statement
# running in the database while the piece before it is assembled. Nothing is assembled
# while the first piece is read, so it is FIRST_PIECE times smaller, and the pieces after it
# double up to that size: the database reads a fact in about a third of the time Python
# takes to assemble it, so a piece twice the one before is read before that one is done.
# Given a spare connection, a page reads two pieces at once, one on each, while it waits for
# the database (for a piece after the first): a page whose subjects the database scans long
# for the few facts they select (a diff of 100 issues as known long ago) is its work, not
# Python's. Where Python is behind, the next piece is ready before it is needed, and a
# second statement would only take a core from the assembly: one runs.
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


# What a page makes of a piece's subjects from what they selected at its ends (their states,
# their changes): it takes each in turn (`assembly.assembled`, `assembly.compared`),
# yielding the subject's id once it is done with it.
Assemble = Callable[[list[str], assembly.Selected, list[datetime]], Iterator[str]]


async def page_subjects(
    conn: Conn,
    q: Question,
    ends: list[datetime],
    prefix: str,
    after: PageCursor | None,
    limit: int,
    budget: int,
    each: Assemble,
    spare: Conn | None = None,
) -> Page:
    """The next subjects of a walk, each piece's handed to `each` with what they selected at
    `ends` (valid times: one, or a diff's two; all at `q`'s sequence and confidence) as
    soon as it is read: at most `limit`, and only as many as fit in `budget` facts
    (registers at every end, events to fold once) unless the first alone is larger. Where
    there are several ends, a subject no fact of which lies between them has the same state
    at each: it is passed over, neither read nor handed to `each`, and holds no fact of the
    budget.

    Where a page ends depends on the answer alone, so a pinned page never changes. The
    facts are read a piece of subjects at a time, each piece as many as their
    read_subjects counts (`model.Listed`: never fewer than the facts a question selects)
    fit in at most budget / PIECES (the first fewer), and the next piece's statement runs
    in the database while the piece before is assembled, on `conn` and, given one and while
    the page waits for the database, on `spare` too (a connection that also holds
    `q.known`): a page holds at most about twice the budget's facts in memory."""
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

    readers = [conn] if spare is None else [conn, spare]
    reading: Reading = collections.deque()  # in walk order, at most one on each reader

    def read_next(at_once: int) -> None:
        """Start the next pieces' statements, one on each reader that runs none, until
        `at_once` run."""
        running = [reader for _, _, reader in reading]
        for reader in readers:
            if rest and reader not in running and len(reading) < at_once:
                chunk = piece()
                moving = [s for s in chunk if s not in same]
                future = asyncio.ensure_future(assembly.select(reader, moving, q, ends))
                reading.append((chunk, future, reader))

    read_next(1)
    try:
        while reading:
            chunk, future, _ = reading[0]
            # Waiting for a piece after the first, the page waits for the database: it reads
            # two pieces at once until it no longer waits.
            waited = bool(taken) and not future.done()
            selected = await future
            reading.popleft()
            per = selected.per_subject()
            counts = [per.get(s, 0) for s in chunk]
            # What the page holds already comes first, and always stays.
            fit = fitting([used, *counts], budget) - 1 if taken else fitting(counts, budget)
            if fit < len(chunk):
                chunk, counts, rest, more = chunk[:fit], counts[:fit], [], True
                selected = selected.only(set(chunk))
                await _stop(reading)  # the pieces after it lie past the page's end
            if not chunk:
                break
            read_next(len(readers) if waited else 1)  # the next piece is read meanwhile
            if reading:
                await asyncio.sleep(0)
            held = 0  # the facts assembled since the event loop last ran
            moving = [s for s in chunk if s not in same]
            for subject in each(moving, selected, ends):
                held += per.get(subject, 0)
                if held >= YIELD_FACTS and reading:
                    held = 0
                    await asyncio.sleep(0)  # the next pieces' rows keep arriving meanwhile
            taken += chunk
            used += sum(counts)
    finally:
        await _stop(reading)
    nxt = encode_cursor(PageCursor(taken[-1], q.known)) if more and taken else None
    return Page(taken, nxt)


# The pieces whose statements run: each piece's subjects, its statement, the connection.
Reading = collections.deque[tuple[list[str], "asyncio.Future[assembly.Selected]", Conn]]


async def _stop(reading: Reading) -> None:
    """Cancel the statements still running (the page ended or failed before their pieces),
    each connection usable once its statement is cancelled."""
    while reading:
        _, future, _ = reading.popleft()
        future.cancel()
        with contextlib.suppress(BaseException):
            await future
