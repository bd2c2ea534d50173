"""The projector: follows the log with a checkpoint and keeps the read model exact."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Final

from events import store
from events.vocabulary import CONFIDENCE_RANK, META_TYPES, Recorded, is_custom
from projections import concerns
from projections.facts import RULES, fact_keys, facts_of
from projections.knowledge import Version, believed
from queries import model_writes
from queries.model_writes import Bound, Close, Hidden, Key, Restated, Row, Subject, split_value

log = logging.getLogger("annals.projector")
BATCH: Final = 5_000
GATHER: Final = 0.2  # seconds the background projector lets appends gather


class Changes:
    """What one batch of the log does to the read model, worked out before it is written.

    Beliefs only ever change at the sequence of the event being applied (the log below it
    is fixed), so rows are opened in known_from order and a close names an open row.
    """

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.closes: list[Close] = []
        self._open: dict[tuple[int, int], list[int]] = {}  # (sequence, version) -> row indexes
        self.timeline = TimelineChanges()

    def open(self, at: int, sequence: int, v: Version, concerned: Iterable[str]) -> None:
        """Version `v` of event `sequence` is believed from sequence `at` on."""
        e = v.event
        if is_custom(e.type):
            return
        placed = self._open.setdefault((sequence, v.version), [])
        rank = CONFIDENCE_RANK[e.confidence]
        for subject, key, value in facts_of(e, concerned):
            placed.append(len(self.rows))
            short, long = split_value(value)
            self.rows.append(
                Row(subject, key, e.time, sequence, v.version, at, None, rank, short, long)
            )

    def close(self, at: int, sequence: int, v: Version) -> None:
        """Version `v` of event `sequence` stops being believed at sequence `at`."""
        placed = self._open.pop((sequence, v.version), None)
        if placed is not None:  # opened in this batch: not in the table yet
            for i in placed:
                self.rows[i] = self.rows[i]._replace(known_to=at)
            return
        if is_custom(v.event.type):
            return
        for subject, key in fact_keys(v.event, concerns(v.event)):
            self.closes.append(Close(subject, key, v.event.time, sequence, v.version, at))

    def believe(self, e: Recorded, family: list[Recorded]) -> None:
        """Apply `e` (a retraction, a correction, or an event under an id one of them
        names) to `family`, the events up to `e` whose belief can depend on it: close what
        stops being believed at its sequence, open what starts."""
        before = believed(f for f in family if f.sequence < e.sequence)
        after = believed(family)
        # An event recorded under an id already retracted is hidden from its own sequence.
        recorded = set() if e.type in META_TYPES else {e.sequence}
        for sequence in sorted(before.keys() | after.keys() | recorded):
            b, a = before.get(sequence), after.get(sequence)
            if b is not None and (a is None or a.version != b.version):
                self.close(e.sequence, sequence, b)
            if a is not None and (b is None or a.version != b.version):
                self.open(e.sequence, sequence, a, concerns(a.event))
            self.timeline.change(e.sequence, sequence, b, a)

    def bind(
        self, known: set[tuple[str, str]], bounds: dict[str, datetime]
    ) -> tuple[list[Key], list[Subject], list[Bound]]:
        """The keys, the subjects' counts and the bounds that this batch's rows make.

        `known` are the (subject, key) pairs and `bounds` the subjects' bounds the read
        model already holds. A subject's bound at sequence S is the greatest valid_from of
        its register rows known by S. It is written only where it grows: a question reads
        the latest bound written at or before its sequence, which is the bound then.
        """
        # Per key its first sequence, per subject [first_known, registers, register rows,
        # folded rows], kept as plain values while the rows stream past (a batch holds
        # thousands of rows).
        first_known: dict[tuple[str, str], int] = {}
        last: dict[tuple[str, str], int] = {}
        bounds = dict(bounds)
        at: dict[tuple[str, int], datetime] = {}
        counts: dict[str, list[int]] = {}
        for r in self.rows:
            pair = (r.subject, r.key)
            c = counts.get(r.subject)
            if c is None:
                c = counts[r.subject] = [r.known_from, 0, 0, 0]
            if pair not in first_known:
                first_known[pair] = r.known_from
                c[1] += bool(r.key) and pair not in known
            last[pair] = r.known_from
            if not r.key:
                c[3] += 1
                continue
            c[2] += 1
            bound = bounds.get(r.subject)
            if bound is None or r.valid_from > bound:
                bounds[r.subject] = at[(r.subject, r.known_from)] = r.valid_from
        return (
            [Key(*pair, first_known[pair], last[pair]) for pair in sorted(last)],
            [Subject(s, *counts[s]) for s in sorted(counts)],
            [Bound(s, k, b) for (s, k), b in sorted(at.items())],
        )


class TimelineChanges:
    """What one batch does to the timeline's tables: when a stored event stops or starts
    being shown as stored, and when a correction's version of it is believed. Like
    `Changes`, an interval opened in this batch is closed in memory, any other by UPDATE.
    """

    def __init__(self) -> None:
        self.hidden: list[Hidden] = []
        self.unhidden: list[tuple[int, int]] = []  # (sequence, at) of intervals in the table
        self.restated: list[Restated] = []
        self.unrestated: list[tuple[int, int, int]] = []  # (sequence, version, at) likewise
        self._hidden: dict[int, int] = {}  # sequence -> index in self.hidden
        self._restated: dict[tuple[int, int], list[int]] = {}

    def change(self, at: int, sequence: int, before: Version | None, after: Version | None) -> None:
        """Event `sequence` was believed as `before` and is believed as `after` from `at`
        (None: not believed). An event being recorded at `at` was shown as nothing before."""
        shown = before is not None and before.version == sequence
        if (sequence == at or shown) and (after is None or after.version != sequence):
            self._hide(at, sequence)
        elif sequence < at and not shown and after is not None and after.version == sequence:
            self._show(at, sequence)
        was = before.version if before is not None and before.version != sequence else None
        now = after.version if after is not None and after.version != sequence else None
        if was is not None and was != now:
            self._unrestate(at, sequence, was)
        if now is not None and now != was:
            assert after is not None
            self._restate(at, sequence, after)

    def _hide(self, at: int, sequence: int) -> None:
        self._hidden[sequence] = len(self.hidden)
        self.hidden.append(Hidden(sequence, at, None))

    def _show(self, at: int, sequence: int) -> None:
        i = self._hidden.pop(sequence, None)
        if i is None:
            self.unhidden.append((sequence, at))
        else:
            self.hidden[i] = self.hidden[i]._replace(known_to=at)

    def _restate(self, at: int, sequence: int, v: Version) -> None:
        e = v.event
        placed = self._restated.setdefault((sequence, v.version), [])
        rank = CONFIDENCE_RANK[e.confidence]
        for subject in ["", *sorted(concerns(e))]:
            placed.append(len(self.restated))
            self.restated.append(Restated(subject, e.time, sequence, v.version, at, None, rank))

    def _unrestate(self, at: int, sequence: int, version: int) -> None:
        placed = self._restated.pop((sequence, version), None)
        if placed is None:
            self.unrestated.append((sequence, version, at))
            return
        for i in placed:
            self.restated[i] = self.restated[i]._replace(known_to=at)


async def _apply(conn: store.Conn, batch: list[tuple[Recorded, list[str]]]) -> None:
    """Apply a batch of the log (in sequence order) to the read model."""
    upto = batch[-1][0].sequence
    plain = [e.id for e, _ in batch if e.type not in META_TYPES]
    targeted = await store.first_targeting(conn, plain, upto) if plain else {}
    changes = Changes()
    for e, concerned in batch:
        if e.type in META_TYPES:
            root = e.data.event
        elif targeted.get(e.id, e.sequence) < e.sequence:
            root = e.id  # a reused id that a retraction or correction already names
        else:
            changes.open(e.sequence, e.sequence, Version(e.sequence, e), concerned)
            continue
        changes.believe(e, await store.family(conn, [root], e.sequence))
    known = await model_writes.keys(conn, {(r.subject, r.key) for r in changes.rows})
    so_far = await model_writes.standing(conn, {r.subject for r in changes.rows})
    keys, subjects, bounds_ = changes.bind(known, so_far.bounds)
    await model_writes.write(
        conn, changes.rows, changes.closes, keys, subjects, bounds_, so_far.busy
    )
    t = changes.timeline
    await model_writes.write_timeline(conn, t.hidden, t.unhidden, t.restated, t.unrestated)


Progress = Callable[[int, int], None]


async def catch_up(
    conn: store.Conn,
    upto: int | None = None,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> int:
    """Apply the log to the read model up to `upto` (default: the head); return the checkpoint.

    One transaction per batch, each holding the read model's row lock: any number of
    processes may call this at once, and each batch is applied exactly once. A read model
    built under other rules is emptied and built again from the start of the log.
    """
    while True:
        async with conn.transaction():
            rules, done = await model_writes.lock(conn)
            if rules != RULES:
                await model_writes.reset(conn, RULES)
                done = 0
            target = upto if upto is not None else (await store.read_head(conn)).sequence
            if done >= target:
                return done
            events = await store.log_after(conn, done, target, batch)
            if not events:
                return done
            await _apply(conn, events)
            done = events[-1][0].sequence
            await model_writes.advance(conn, done)
        if progress is not None:
            progress(done, target)


async def rebuild(conn: store.Conn, *, progress: Progress | None = None) -> int:
    """Empty the read model, build it again from the whole log and settle it in subject
    order; return its checkpoint."""
    async with conn.transaction():
        await model_writes.lock(conn)
        await model_writes.reset(conn, RULES)
    held = await catch_up(conn, progress=progress)
    await model_writes.settle(conn, ordered=True)
    return held


async def ensure(conn: store.Conn, known: int, status: tuple[str, int]) -> int:
    """Bring the read model up to `known` before a question is answered; return `known`.

    `status` is the read model's (rules, checkpoint), read by the caller together with the
    log's head (`model.head_and_status`). A read model built under other rules is rebuilt
    first. A streaming replica cannot write: there the read model is what the primary's
    projector wrote, and the answer is as known at its checkpoint when that is older
    (the caller chose the replica only when it holds every pinned question's sequence).
    """
    rules, held = status
    if held >= known and rules == RULES:
        return known
    if await store.in_recovery(conn):
        return min(known, held)
    await catch_up(conn, known)
    return known


async def follow(
    acquire: Callable[[], Any], wait: Callable[[int, float], Awaitable[None]], generation: Any
) -> None:
    """Keep the read model up with the log for as long as the service runs.

    Wakes when the log grows (or every few seconds) and lets appends gather for a moment,
    so that busy writers cost it one batch, not one transaction each; a question finding
    the read model behind catches it up itself (`ensure`), so nothing waits on this task
    for correctness.
    """
    while True:
        seen = generation()
        try:
            async with acquire() as conn:
                await catch_up(conn)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the database may be down: try again on the next wake
            log.warning("read model projector: %s; retrying", type(e).__name__)
            with contextlib.suppress(Exception):
                await asyncio.sleep(1.0)
        await wait(seen, 5.0)
        await asyncio.sleep(GATHER)
