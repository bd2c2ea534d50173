"""As-of snapshots on the query path: answer one subject from a stored state and a short tail.

`subject_state` looks for the best stored snapshot, loads only the tail after it, and lets
`projections.snapshots.resume` check that it provably gives the full replay's answer;
anything else (no snapshot, a refused one, a row that does not decode) falls back to the
full replay, which stays the reference (`service.answers.replayed_state`). A fold that
applied more than THRESHOLD events leaves a snapshot behind for the next question. Saving
is best effort: the answer never depends on it. See docs in projections/snapshots.py.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from typing import Final

import asyncpg
import msgspec

from events import snapshots as table
from events import store
from events.vocabulary import Recorded
from projections import State, concerns
from projections import snapshots as snap

log = logging.getLogger(__name__)

# A fold that applied more events than this leaves a snapshot behind.
THRESHOLD: Final = 200
# `annals snapshots rebuild`: a checkpoint about every EVERY folded events, at most about
# MOST a subject (so any answer from the grid folds a tail of about len/MOST events, and
# GET /v1/state folds a few events a subject however long the log grows).
EVERY: Final = 8
MOST: Final = 256
# Switches for tests and benchmarks (and an escape hatch): ENABLED = False is the full
# replay only; `threshold` is THRESHOLD unless a test lowers it.
ENABLED = True
threshold = THRESHOLD


def _fingerprint() -> str:
    """A digest of the code a stored state depends on: the folds, what counts, how rows
    become events, the vocabulary and time parsing. Any change to them retires every
    stored snapshot (they are then never read, and pruned as new ones are written)."""
    h = hashlib.sha256(f"format {snap.FORMAT}".encode())
    sources = [("projections", p.name) for p in resources.files("projections").iterdir()]
    sources += [("events", n) for n in ("store.py", "vocabulary.py", "timeparse.py")]
    for package, name in sorted(sources):
        if not name.endswith(".py"):
            continue
        h.update(f"\0{package}/{name}\0".encode())
        try:
            h.update(resources.files(package).joinpath(name).read_bytes())
        except OSError:  # no sources shipped: rely on FORMAT alone for that file
            h.update(b"?")
    return h.hexdigest()[:16]


FOLD: Final = _fingerprint()


def _stored(s: snap.Snapshot) -> table.Stored:
    return table.Stored(
        subject=s.subject,
        min_confidence=s.min_confidence,
        valid_to=s.valid_to,
        known_seq=s.known_seq,
        state=snap.encode(s.state),
        events=s.events,
    )


async def _save(conn: store.Conn, snapshots: list[snap.Snapshot]) -> None:
    """Best effort: a cache that cannot be written (read-only database, a lost race)
    costs speed, never an answer."""
    try:
        await table.save(conn, FOLD, [_stored(s) for s in snapshots])
    except asyncpg.ReadOnlySQLTransactionError:
        # A streaming replica answers reads (ANNALS_READ_DATABASE_URL) and cannot store
        # anything: expected, not worth a warning per answer. The primary saves its own.
        log.debug("snapshot of %s not saved: read-only connection", snapshots[0].subject)
    except asyncpg.PostgresError as e:
        log.warning("snapshot of %s not saved: %s", snapshots[0].subject, e)


async def subject_state(
    conn: store.Conn,
    subject: str,
    at: datetime,
    known: int,
    min_confidence: str,
    *,
    save: bool = True,
) -> State | None:
    """One subject's state at `at` as known at `known`: the full replay's answer, from a
    snapshot and its tail when one may be used. `all_states` for this one subject, its
    best snapshot found by a query of its own. A long fold leaves a snapshot behind when
    `save` (the caller passes False for a question pinned to an older `known_at`: another
    question is unlikely to land in the few sequences such a snapshot serves, and writing
    a large state would only slow this answer down)."""
    row = await table.best(conn, subject, FOLD, min_confidence, at, known) if ENABLED else None
    best = [table.Best(subject=subject, snapshot=row)]
    with _gc_paused():
        states = await _all_states(conn, best, at, known, min_confidence, save)
    return states.get(subject)


async def all_states(
    conn: store.Conn, at: datetime, known: int, min_confidence: str, *, save: bool = True
) -> dict[str, State]:
    """Every subject's state (GET /v1/state, /v1/diff): per subject the answer
    `subject_state` gives, fetched set-wise. One query picks every subject's best
    snapshot, one loads all their tails (or, for a subject without one, what a full replay
    of it loads); the few subjects whose snapshot the pure check refuses are loaded again
    from nothing in one more query."""
    best = await table.best_all(conn, FOLD, min_confidence, at, known)
    with _gc_paused():
        return await _all_states(conn, best, at, known, min_confidence, save)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding many states and events allocates millions of objects and no cycles: the
    cyclic collector would run over and over for nothing (about half the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Memo:
    """`projections.concerns` remembered per event object: the subjects of one answer
    share most events (a statement concerns its party and what it is on)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Recorded, set[str]]] = {}

    def __call__(self, event: Recorded) -> set[str]:
        hit = self._seen.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        found = concerns(event)
        self._seen[id(event)] = (event, found)  # holding `event` keeps its id unique
        return found


async def _all_states(
    conn: store.Conn,
    best: list[table.Best],
    at: datetime,
    known: int,
    min_confidence: str,
    save: bool,
) -> dict[str, State]:
    memo = _Memo()
    snapshots: dict[str, snap.Snapshot] = {}
    starts: list[table.From] = []
    for b in best:
        row = b.snapshot
        stored = _decoded(b.subject, row) if ENABLED and row is not None else None
        if stored is None:
            # The replay from nothing: only what can count (store.load_subject's load
            # less the retractions and corrections that act on nothing that can; the
            # property test checks that it replays to the same answer).
            starts.append(table.From(b.subject, None, 0))
        else:
            snapshots[b.subject] = stored
            starts.append(table.From(b.subject, stored.valid_to, stored.known_seq))
    loads = await table.load_tails(conn, starts, at, known)
    done: dict[str, snap.Replayed] = {}
    refused: list[table.From] = []
    for subject, loaded in loads.items():
        start = snapshots.get(subject)
        if start is None:
            done[subject] = snap.replay(
                subject, loaded, at=at, min_confidence=min_confidence, concerning=memo
            )
            continue
        resumed = snap.resume(
            start,
            loaded,
            subject=subject,
            at=at,
            known=known,
            min_confidence=min_confidence,
            concerning=memo,
        )
        if resumed is None:
            refused.append(table.From(subject, None, 0))
        else:
            done[subject] = resumed
    for subject, loaded in (await table.load_tails(conn, refused, at, known)).items():
        done[subject] = snap.replay(
            subject, loaded, at=at, min_confidence=min_confidence, concerning=memo
        )
    if ENABLED and save:  # as subject_state: not for a question pinned to an older known_at
        for subject, d in done.items():
            if d.folded > threshold:
                taken = snap.taken(subject, d, known=known, min_confidence=min_confidence)
                if taken is not None:
                    await _save(conn, [taken])
    return {s: d.state for s, d in sorted(done.items()) if d.state is not None}


def _decoded(subject: str, row: table.Stored) -> snap.Snapshot | None:
    try:
        state = snap.decode(subject, row.state)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return snap.Snapshot(
        subject=subject,
        min_confidence=row.min_confidence,
        valid_to=row.valid_to,
        known_seq=row.known_seq,
        state=state,
        events=row.events,
    )


def grid(
    subject: str,
    events: list[Recorded],
    at: datetime,
    known: int,
    *,
    every: int = EVERY,
    most: int = MOST,
    min_confidence: str = "disputed",
) -> list[snap.Snapshot]:
    """The checkpoints `rebuild` stores for one subject: along one full replay, about
    every `every` folded events, no more than about `most` (a long history gets them
    spread evenly instead)."""
    step = max(every, -(-len(events) // max(1, most)))
    return snap.checkpoints(
        subject, events, at=at, known=known, min_confidence=min_confidence, every=step
    )


async def rebuild(
    conn: store.Conn,
    subjects: list[str],
    at: datetime,
    known: int,
    *,
    every: int = EVERY,
    most: int = MOST,
    min_confidence: str = "disputed",
) -> int:
    """Replace the snapshots of these subjects by a fresh grid each (one load for all of
    them, one transaction to store). Returns how many were stored."""
    loads = await table.load_tails(conn, [table.From(s, None, 0) for s in subjects], at, known)
    taken: list[snap.Snapshot] = []
    for subject, events in loads.items():
        taken += grid(
            subject, events, at, known, every=every, most=most, min_confidence=min_confidence
        )
    await table.replace_grid(conn, FOLD, subjects, [_stored(s) for s in taken])
    return len(taken)
