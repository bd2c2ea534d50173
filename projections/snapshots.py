"""As-of snapshots, the pure part: take one, decide whether it may be used, fold the tail.

A snapshot of subject S at (T, K, c) is the state a full replay gives for the question
(at = T, known_at = K, min_confidence = c): every event concerning S whose effective
(corrected) valid time is <= T, as known at sequence K, at confidence c or above. It is a
cache: an answer that starts from one is exactly the full replay's answer, or the
snapshot is refused and the caller replays in full.

The argument (the property test `tests/unit/test_snapshots_properties.py` checks it on
random logs). Write C(S) for the rows of `event_concerns` for S, M for the retractions and
corrections among them known by `known`, and G for the events whose id a member of M
names (loaded whatever their valid time). A full replay loads F = C(S) rows with sequence
<= known and (valid_from <= at or meta), plus G; `effective` then decides each non-meta
event on its own, from M alone (retracted? corrected into what time, data, confidence?).

A snapshot (T, K0, c) answers the question (at, known, c) when T <= at, K0 <= known and
no row loaded with K0 < sequence <= known is (1) a retraction or correction (it could
change anything, at any time), (2) an event whose valid_from <= T (a backdated event: it
belongs before the snapshot's edge), or (3) an event whose id a member of M names (an id
reused by another source: a correction recorded earlier applies to it too). Then M and G
are the same at K0 and at known, every event F adds to the snapshot's own load is
uncorrected with a valid time > T, so `effective(F)` restricted to time <= T is exactly
what the snapshot folded, and the answer is the snapshot's state folded further with
`effective(F)` restricted to time > T. Those events all lie in the tail load U = C(S)
rows with sequence <= known and (meta, or T < valid_from <= at, or K0 < sequence and
valid_from <= T -- so that (2) can be checked), plus G: F minus U holds only events that no
member of M names, with valid_from <= T, which stay at or before T.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

import msgspec
from msgspec import Struct

from events.vocabulary import (
    CONFIDENCE_RANK,
    META_TYPES,
    EventCorrected,
    EventRetracted,
    Recorded,
    is_custom,
)
from projections import (
    IssueState,
    MeetingState,
    PartyState,
    PlanState,
    State,
    concerns,
    effective,
    evolve,
    fold,
    initial,
    kind_of,
)

# Bump when the meaning of a stored snapshot changes (the service also fingerprints the
# fold code itself, so a change to any projection retires every stored snapshot).
FORMAT: Final = 1

_STATE_TYPES: Final[dict[str, type[State]]] = {
    "party": PartyState,
    "plan": PlanState,
    "meeting": MeetingState,
    "issue": IssueState,
}
_decoders: Final = {kind: msgspec.msgpack.Decoder(cls) for kind, cls in _STATE_TYPES.items()}
_encoder: Final = msgspec.msgpack.Encoder()


class Snapshot(Struct, frozen=True, kw_only=True):
    """One subject's state at valid time `valid_to`, as known at `known_seq`, at
    `min_confidence`; `events` is how many events it folded."""

    subject: str
    min_confidence: str
    valid_to: datetime
    known_seq: int
    state: State
    events: int


class Replayed(Struct, frozen=True, kw_only=True):
    """A fold's result: the state (None when nothing counts), how many events this fold
    applied, how many the state holds in all, and the valid time of the last one applied."""

    state: State | None
    folded: int
    total: int
    last: datetime | None


def encode(state: State) -> bytes:
    """A state as stored in `snapshots.state`."""
    return _encoder.encode(state)


def decode(subject: str, data: bytes) -> State:
    """A stored state back into its kind's Struct (msgspec.ValidationError when it does
    not fit, e.g. written by other code: the caller then ignores the snapshot)."""
    state: State = _decoders[kind_of(subject)].decode(data)
    if state.id != subject:
        raise msgspec.ValidationError(f"a snapshot of {state.id!r}, not {subject!r}")
    return state


Concerning = Callable[[Recorded], set[str]]


def _fold_counting(
    subject: str,
    ordered: Iterable[Recorded],
    state: State | None,
    before: int,
    concerning: Concerning = concerns,
) -> Replayed:
    """Fold effective, valid-time-ordered events, counting those that concern `subject`."""
    folding = [e for e in ordered if subject in concerning(e)]
    for e in folding:
        # `projections.fold` without asking `concerns` a second time: meta events act
        # through `effective` and custom events are for timelines only (as `fold`).
        if e.type not in META_TYPES and not is_custom(e.type):
            state = evolve(state if state is not None else initial(subject), e)
    return Replayed(
        state=state,
        folded=len(folding),
        total=before + len(folding),
        last=folding[-1].time if folding else None,
    )


def replay(
    subject: str,
    known_events: Iterable[Recorded],
    *,
    at: datetime | None,
    min_confidence: str,
    concerning: Concerning = concerns,
) -> Replayed:
    """The full replay: `projections.project`, counting what it folded. `concerning` may
    be a memo of `projections.concerns` (answers for many subjects share events)."""
    return _fold_counting(
        subject, effective(known_events, at=at, min_confidence=min_confidence), None, 0, concerning
    )


def taken(subject: str, replayed: Replayed, *, known: int, min_confidence: str) -> Snapshot | None:
    """The snapshot a fold's result makes: at the valid time of the last event it applied
    (every later effective event up to `at` left the state unchanged, so the state at
    `at` is the state at that time), as known at `known`. None when nothing was folded."""
    if replayed.state is None or replayed.last is None:
        return None
    return Snapshot(
        subject=subject,
        min_confidence=min_confidence,
        valid_to=replayed.last,
        known_seq=known,
        state=replayed.state,
        events=replayed.total,
    )


def checkpoints(
    subject: str,
    known_events: Iterable[Recorded],
    *,
    at: datetime | None,
    known: int,
    min_confidence: str,
    every: int,
) -> list[Snapshot]:
    """Snapshots along one full replay, about every `every` folded events, and at its end
    (when it folded at least `every`). A snapshot is taken only between events of distinct
    valid times: everything at its `valid_to` must be in it."""
    ordered = effective(known_events, at=at, min_confidence=min_confidence)
    folding = [e for e in ordered if subject in concerns(e)]
    out: list[Snapshot] = []
    state: State | None = None
    due = max(1, every)
    for n, event in enumerate(folding, start=1):
        state = fold(subject, [event], state)
        edge = n == len(folding) or folding[n].time > event.time
        if edge and n >= due and state is not None:
            out.append(
                Snapshot(
                    subject=subject,
                    min_confidence=min_confidence,
                    valid_to=event.time,
                    known_seq=known,
                    state=state,
                    events=n,
                )
            )
            due = n + max(1, every)
    return out


def usable(
    snapshot: Snapshot, *, subject: str, at: datetime | None, known: int, min_confidence: str
) -> str | None:
    """Why a snapshot cannot answer this question before looking at the log (None: it may)."""
    if snapshot.subject != subject:
        return "subject"
    if min_confidence not in CONFIDENCE_RANK or snapshot.min_confidence != min_confidence:
        return "confidence"
    if at is not None and snapshot.valid_to > at:
        return "later"
    if snapshot.known_seq > known:
        return "newer"
    return None


def refusal(
    snapshot: Snapshot,
    loaded: Iterable[Recorded],
    *,
    subject: str,
    at: datetime | None,
    known: int,
    min_confidence: str,
) -> str | None:
    """Why the snapshot cannot answer this question, given the tail load (None: it can).

    `loaded` must hold at least the tail load described in the module docstring (the
    events as stored: `time` is the uncorrected valid_from); a superset, such as the full
    replay's load, is fine.
    """
    why = usable(snapshot, subject=subject, at=at, known=known, min_confidence=min_confidence)
    if why is not None:
        return why
    rows = list(loaded)
    targets = {e.data.event for e in rows if isinstance(e.data, EventRetracted | EventCorrected)}
    for e in rows:
        if e.sequence > known:
            return "unknown"
        if e.sequence <= snapshot.known_seq:
            continue
        if e.type in META_TYPES:
            return "meta"
        if e.time <= snapshot.valid_to:
            return "backdated"
        if e.id in targets:
            return "reused-id"
    return None


def resume(
    snapshot: Snapshot,
    loaded: Iterable[Recorded],
    *,
    subject: str,
    at: datetime | None,
    known: int,
    min_confidence: str,
    concerning: Concerning = concerns,
) -> Replayed | None:
    """The answer from a snapshot and the tail load, or None when the snapshot is refused
    (then only a full replay answers). `concerning` as for `replay`."""
    rows = list(loaded)
    if refusal(snapshot, rows, subject=subject, at=at, known=known, min_confidence=min_confidence):
        return None
    tail = [
        e
        for e in effective(rows, at=at, min_confidence=min_confidence)
        if e.time > snapshot.valid_to
    ]
    done = _fold_counting(subject, tail, snapshot.state, snapshot.events, concerning)
    if done.last is None:
        return msgspec.structs.replace(done, last=snapshot.valid_to)
    return done
