"""As-of snapshots on the query path: answer one subject from a stored state and a short tail.

`subject_state` looks for the best stored snapshot, loads only the tail after it, and lets
`projections.snapshots.resume` check that it provably gives the full replay's answer;
anything else (no snapshot, a refused one, a row that does not decode) falls back to the
full replay, which stays the reference (`service.answers.replayed_state`). A fold that
applied more than THRESHOLD events leaves a snapshot behind for the next question. Saving
is best effort: the answer never depends on it. See docs in projections/snapshots.py.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from importlib import resources
from typing import Final

import asyncpg
import msgspec

from events import snapshots as table
from events import store
from projections import State
from projections import snapshots as snap

log = logging.getLogger(__name__)

# A fold that applied more events than this leaves a snapshot behind.
THRESHOLD: Final = 200
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
    except asyncpg.PostgresError as e:
        log.warning("snapshot of %s not saved: %s", snapshots[0].subject, e)


async def _from_snapshot(
    conn: store.Conn, subject: str, at: datetime, known: int, min_confidence: str
) -> snap.Replayed | None:
    row = await table.best(conn, subject, FOLD, min_confidence, at, known)
    if row is None:
        return None
    try:
        state = snap.decode(subject, row.state)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    stored = snap.Snapshot(
        subject=subject,
        min_confidence=row.min_confidence,
        valid_to=row.valid_to,
        known_seq=row.known_seq,
        state=state,
        events=row.events,
    )
    tail = await table.load_tail(conn, subject, row.valid_to, row.known_seq, at, known)
    return snap.resume(
        stored, tail, subject=subject, at=at, known=known, min_confidence=min_confidence
    )


async def subject_state(
    conn: store.Conn, subject: str, at: datetime, known: int, min_confidence: str
) -> State | None:
    """One subject's state at `at` as known at `known`: the full replay's answer, from a
    snapshot and its tail when one may be used."""
    done: snap.Replayed | None = None
    if ENABLED:
        done = await _from_snapshot(conn, subject, at, known, min_confidence)
    if done is None:
        events = await store.load_subject(conn, subject, at, known)
        done = snap.replay(subject, events, at=at, min_confidence=min_confidence)
    if ENABLED and done.folded > threshold:
        taken = snap.taken(subject, done, known=known, min_confidence=min_confidence)
        if taken is not None:
            await _save(conn, [taken])
    return done.state


async def rebuild(
    conn: store.Conn,
    subject: str,
    at: datetime,
    known: int,
    *,
    every: int = THRESHOLD,
    min_confidence: str = "disputed",
) -> int:
    """Replay one subject in full and store snapshots along the way (about every `every`
    folded events, no more than half of what a subject keeps). Returns how many."""
    events = await store.load_subject(conn, subject, at, known)
    step = max(every, len(events) // (table.KEEP // 2) + 1)
    taken = snap.checkpoints(
        subject, events, at=at, known=known, min_confidence=min_confidence, every=step
    )
    # Not best effort here: whoever rebuilds wants to hear why nothing was stored.
    saved = await table.save(conn, FOLD, [_stored(s) for s in taken])
    return len(taken) if saved else 0
