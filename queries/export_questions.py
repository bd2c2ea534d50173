"""What the exports hold, a page at a time, for the HTTP exports and `annals export`: the
log, the timeline with the names of its subjects, and the meetings with the calendar's
stamp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import NamedTuple

from events import store
from events.envelope import StoredEvent
from events.store import Acquire
from events.timeparse import LAST_INSTANT
from events.vocabulary import DEFAULT_MIN_CONFIDENCE
from projections import State
from queries import answers, question
from queries import timeline as tl
from queries.names import names_believed
from queries.question import Question


class TimelinePage(NamedTuple):
    """A page of the timeline, the display names of the subjects the walk has shown so far
    (and of its `subject` filter), and the ids of its entries that other events known then
    share."""

    entries: list[tl.Entry]
    names: dict[str, str]
    shared: set[str]


async def log(
    acquire: Acquire, known_at: str | None, batch: int, max_bytes: int
) -> tuple[int, bool, AsyncIterator[list[StoredEvent]]]:
    """The sequence `known_at` resolves to, whether that is pinned, and the log up to it
    in pages (`store.log_pages`): the NDJSON export."""
    async with acquire(known_at) as conn:
        resolved = await store.resolve_known_at(conn, known_at)
    return (
        resolved.sequence,
        resolved.pinned,
        store.log_pages(acquire, resolved.sequence, batch, max_bytes),
    )


async def timeline_entries(
    acquire: Acquire, f: tl.Filters, known_at: str | None, max_bytes: int, rows: int
) -> tuple[tl.Walk, AsyncIterator[tl.Page]]:
    """The timeline through `f` pinned to `known_at`, and its pages (`tl.pages`): the CSV."""
    w = await _pinned(acquire, f, known_at)
    return w, tl.pages(acquire, w.filters, w.known, rows, max_bytes)


async def timeline(
    acquire: Acquire, f: tl.Filters, known_at: str | None, max_bytes: int
) -> tuple[tl.Walk, AsyncIterator[TimelinePage]]:
    """The timeline through `f` pinned to `known_at`, and its pages with the names and
    shared ids their slides need (`timeline_pages`): the TimelineJS document."""
    w = await _pinned(acquire, f, known_at)
    return w, timeline_pages(acquire, w.filters, w.known, max_bytes)


async def _pinned(acquire: Acquire, f: tl.Filters, known_at: str | None) -> tl.Walk:
    async with acquire(known_at) as conn:
        return await tl.pin(conn, f, known_at, None)


async def timeline_pages(
    acquire: Acquire, f: tl.Filters, known: int, max_bytes: int, rows: int = tl.MAX_LIMIT
) -> AsyncIterator[TimelinePage]:
    """The timeline through `f` as known at `known` (`tl.pages`), with the names and shared
    ids its slides need. A subject's name is asked once a walk (a name is its state's, and
    a busy plan's state folds thousands of events): the names held grow with the subjects
    shown, not with the events; the question they answer is asked once a walk, so that
    every page's names are believed as of one sequence and one valid time: the last instant,
    so that a name is the latest known (a renaming dated in the future included) and a
    pinned document does not change as the clock moves."""
    names: dict[str, str] = {}
    asked: set[str] = set()
    q: Question | None = None
    async for page in tl.pages(acquire, f, known, rows, max_bytes):
        subjects = {e.event.subject for e in page.entries if e.event.subject is not None}
        if f.subject is not None:
            subjects.add(f.subject)
        async with acquire(known) as conn:
            if subjects - asked:
                if q is None:
                    q = await question.ask(
                        conn, None, None, DEFAULT_MIN_CONFIDENCE, known=known, now=LAST_INSTANT
                    )
                names |= await names_believed(conn, subjects - asked, q)
                asked |= subjects
            shared = await store.shared_ids(conn, [e.event.id for e in page.entries], known)
        yield TimelinePage(page.entries, names, shared)


class Calendar(NamedTuple):
    """The question a calendar of meetings answers, its stamp (when the newest event it
    knows was recorded, the epoch for an empty log, so the same question always gives the
    same calendar), and the meetings' states, a page at a time (`answers.walk`)."""

    q: Question
    stamp: datetime
    meetings: AsyncIterator[list[State]]


async def calendar(
    acquire: Acquire, at: str | None, known_at: str | None, min_confidence: str, page_facts: int
) -> Calendar:
    """The meetings at `at` as known at `known_at`, in pages of at most `page_facts` facts."""
    async with acquire(known_at) as conn:
        q = await question.ask(conn, at, known_at, min_confidence)
        newest = await store.read_log(conn, q.known - 1, 1) if q.known > 0 else []
    stamp = (
        datetime.fromisoformat(newest[0].recordedtime)
        if newest
        else datetime(1970, 1, 1, tzinfo=UTC)
    )
    return Calendar(q, stamp, answers.walk(acquire, q, "meeting/", page_facts))
