"""The projector: follows the log with a checkpoint and keeps the read model exact."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from events import store
from events.vocabulary import CONFIDENCE_RANK, META_TYPES, SUBJECT_RE, Recorded, is_custom
from projections import concerns
from projections.facts import RULES, facts_of
from projections.knowledge import Version, believed
from queries import model
from queries.model import Close, Key, Row

log = logging.getLogger("annals.projector")
BATCH: Final = 5_000


class Changes:
    """What one batch of the log does to the read model, worked out before it is written.

    Beliefs only ever change at the sequence of the event being applied (the log below it
    is fixed), so rows are opened in known_from order and a close names an open row.
    """

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.closes: list[Close] = []
        self._open: dict[tuple[int, int], list[int]] = {}  # (sequence, version) -> row indexes

    def open(self, at: int, sequence: int, v: Version) -> None:
        """Version `v` of event `sequence` is believed from sequence `at` on."""
        e = v.event
        if is_custom(e.type):
            return
        placed = self._open.setdefault((sequence, v.version), [])
        for subject in sorted(concerns(e)):
            if not SUBJECT_RE.match(subject):
                continue
            for key, value in facts_of(e, subject):
                placed.append(len(self.rows))
                rank = CONFIDENCE_RANK[e.confidence]
                self.rows.append(
                    Row(subject, key, e.time, sequence, v.version, at, None, rank, e.time, value)
                )

    def close(self, at: int, sequence: int, version: int) -> None:
        """Version `version` of event `sequence` stops being believed at sequence `at`."""
        placed = self._open.pop((sequence, version), None)
        if placed is None:
            self.closes.append(Close(sequence, version, at))
            return
        for i in placed:
            self.rows[i] = self.rows[i]._replace(known_to=at)

    def bind(self, known: dict[tuple[str, str], Key]) -> tuple[list[Key], dict[str, int]]:
        """Give each row its bound; return the keys and new subjects to write."""
        running: dict[tuple[str, str], Key] = dict(known)
        final: dict[tuple[str, str, int], Any] = {}
        for r in self.rows:
            pair = (r.subject, r.key)
            k = running.get(pair)
            if k is None:
                k = Key(r.subject, r.key, r.known_from, r.known_from, r.valid_from)
            k = k._replace(last_known=r.known_from, bound=max(k.bound, r.valid_from))
            running[pair] = k
            final[(r.subject, r.key, r.known_from)] = k.bound
        self.rows = [r._replace(bound=final[(r.subject, r.key, r.known_from)]) for r in self.rows]
        subjects: dict[str, int] = {}
        for r in self.rows:
            subjects.setdefault(r.subject, r.known_from)
        changed = {(r.subject, r.key) for r in self.rows}
        return [running[p] for p in sorted(changed)], subjects


async def _apply(conn: store.Conn, batch: list[Recorded]) -> None:
    """Apply a batch of the log (in sequence order) to the read model."""
    upto = batch[-1].sequence
    plain = [e.id for e in batch if e.type not in META_TYPES]
    targeted = await model.first_targeting(conn, plain, upto) if plain else {}
    changes = Changes()
    for e in batch:
        if e.type in META_TYPES:
            root = e.data.event
        elif targeted.get(e.id, e.sequence) < e.sequence:
            root = e.id  # a reused id that a retraction or correction already names
        else:
            changes.open(e.sequence, e.sequence, Version(e.sequence, e))
            continue
        events = await model.family(conn, root, e.sequence)
        before = believed(f for f in events if f.sequence < e.sequence)
        after = believed(events)
        for sequence in sorted(before.keys() | after.keys()):
            b, a = before.get(sequence), after.get(sequence)
            if b is not None and (a is None or a.version != b.version):
                changes.close(e.sequence, sequence, b.version)
            if a is not None and (b is None or a.version != b.version):
                changes.open(e.sequence, sequence, a)
    known = await model.keys(conn, {(r.subject, r.key) for r in changes.rows})
    keys, subjects = changes.bind(known)
    await model.write(conn, changes.rows, changes.closes, keys, subjects)


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
            rules, done = await model.lock(conn)
            if rules != RULES:
                await model.reset(conn, RULES)
                done = 0
            target = upto if upto is not None else (await store.read_head(conn)).sequence
            if done >= target:
                return done
            events = await model.log_after(conn, done, target, batch)
            if not events:
                return done
            await _apply(conn, events)
            done = events[-1].sequence
            await model.advance(conn, done)
        if progress is not None:
            progress(done, target)


async def ensure(conn: store.Conn, known: int) -> int:
    """Bring the read model up to `known` before a question is answered; return `known`.

    A read model built under other rules is rebuilt first. A streaming replica cannot
    write: there the read model is what the primary's
    projector wrote, and the answer is as known at its checkpoint when that is older
    (the caller chose the replica only when it holds every pinned question's sequence).
    """
    rules, held = await model.status(conn)
    if held >= known and rules == RULES:
        return known
    if await conn.fetchval("SELECT pg_is_in_recovery()"):
        return min(known, held)
    await catch_up(conn, known)
    return known


async def follow(
    acquire: Callable[[], Any], wait: Callable[[int, float], Awaitable[None]], generation: Any
) -> None:
    """Keep the read model up with the log for as long as the service runs.

    Wakes when the log grows (or every few seconds), so that a question rarely finds the
    read model behind; questions also catch up themselves (`ensure`), so nothing waits on
    this task for correctness.
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
