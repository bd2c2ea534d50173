"""The append decisions, pure: which events of a request a group transaction accepts, their
place in the chain, and the rows they become. No I/O: events/append.py reads what the log
holds (`Known`) and writes what was accepted (`Pending`); events/writer.py runs the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeAlias

import msgspec
from msgspec import Struct

from events.chain import Unplaced, link, recorded_text
from events.envelope import (
    Draft,
    FieldError,
    InvalidEvent,
    StoredEvent,
    check_dates,
    split_msgspec_error,
)
from events.overlay import Known, Made, Member, Pending, Target
from events.timeparse import TimeError, format_time, parse_time
from events.vocabulary import (
    META_TYPES,
    VOCABULARY,
    EventCorrected,
    concerns_of,
    decode_payload,
    references,
)

_encoder: Final = msgspec.json.Encoder()


class Conflict(Exception):
    """409: an id reused with other content, or a failed precondition."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class Precondition(Struct, frozen=True, forbid_unknown_fields=True):
    """Optimistic concurrency: the newest event concerning `subject` has `last_sequence`."""

    subject: str
    last_sequence: int | None


class Appended(Struct, frozen=True):
    """What an append answered: the stored events, in order, and whether any was new.
    `events` is empty when the caller asked for no echo (an import counts, not shows)."""

    events: list[StoredEvent]
    created: bool
    new: int = 0  # how many of them this append stored (the rest were already there)
    last: int = 0  # the sequence of the request's newest event


class Head(Struct):
    """The newest event of the log: where the next append links in."""

    sequence: int
    hash: str
    recorded_at: datetime | None


class Ready(Struct, frozen=True):
    """A draft with the work that does not depend on its place done (before the lock):
    its data as stored text, its canonical bytes but for place, and what it concerns.
    A retraction or correction concerns what its target's family does, known only under
    the lock (`concerns` None); one without a subject takes its target's, so its canonical
    bytes wait too (`unplaced` None)."""

    draft: Draft
    data_text: str | None
    unplaced: Unplaced | None
    concerns: frozenset[str] | None


def prepare(d: Draft) -> Ready:
    """The per-event work of an append that can run before the writer's lock."""
    meta = d.type in META_TYPES
    unplaced = None if meta and d.subject is None else _unplaced(d)
    return Ready(
        d,
        None if d.data is None else _encoder.encode(d.data).decode(),
        unplaced,
        None if meta else frozenset(concerns_of(d.subject, d.data)),
    )


def _unplaced(d: Draft) -> Unplaced:
    return Unplaced.of(
        id=d.id, source=d.source, type=d.type, subject=d.subject, time=d.time,
        confidence=d.confidence, data=d.data,
    )  # fmt: skip


def same_content(d: Draft, stored: StoredEvent | Made) -> bool:
    """Whether a repeated (source, id) carries the content already stored under it."""
    if isinstance(stored, Made):
        s = stored.draft
        subject, given, confidence, data = s.subject, s.time, s.confidence, s.data
        kind = s.type
    else:
        subject, given, confidence = stored.subject, stored.timegiven, stored.confidence
        data, kind = stored.data, stored.type
    # A retraction or correction posted without a subject was stored with its target's:
    # posting it again the same way is the same content (its target is named in data).
    return (
        d.type == kind
        and (d.subject == subject or (d.subject is None and d.type in META_TYPES))
        and d.time == given
        and d.confidence == confidence
        and d.data == data
    )


# Subjects a correction adds to the meta events already accepted for the same target.
_Backfill: TypeAlias = list[tuple[Member, set[str]]]


def resolve_target(
    d: Draft,
    earlier: dict[str, list[tuple[Draft, AbstractSet[str]]]],
    siblings_of: dict[str, list[set[str]]],
    pending: Pending,
    known: Known,
) -> tuple[Draft, set[str], _Backfill]:
    """Check a retraction or correction against the event it names; return what it
    concerns, and the rows the earlier meta events of that target need (a correction
    naming a new subject in its replacement data).

    Every retraction and correction of one target concerns every subject the target or
    any of them concerns: each of them can change what that target says to each of those
    subjects (a retraction recorded after a correction that named party/b must reach
    party/b's answer; so must one recorded before it).

    Errors name fields by the event's place in the request body (`$.data.event` for a
    single event, `$[i].data.event` or `$.events[i].data.event` in a batch).
    """
    path = f"{d.path}.data"
    target_id = d.payload.event
    # `earlier`: this request's accepted events by id; `siblings_of`: the concerns of its
    # retractions and corrections by target (maps, not scans: a batch may hold thousands).
    found = [
        Target(None, e.id, e.type, e.subject, sorted(c)) for e, c in earlier.get(target_id, [])
    ]
    found += pending.targets.get(target_id, [])
    found += known.by_id.get(target_id, [])
    if not found:
        raise InvalidEvent([FieldError(f"{path}.event", f"no event with id {target_id!r}")])
    if len(found) > 1:
        raise InvalidEvent(
            [FieldError(f"{path}.event", f"id {target_id!r} is ambiguous: several sources use it")]
        )
    target = found[0]
    if target.type in META_TYPES:
        raise InvalidEvent(
            [FieldError(f"{path}.event", "a retraction or correction cannot itself be the target")]
        )
    if d.subject is not None and d.subject != target.subject:
        raise InvalidEvent(
            [FieldError(f"{d.path}.subject", f"must be the target's subject {target.subject!r}")]
        )
    members = known.family.get(target_id, []) + pending.family.get(target_id, [])
    # earlier in this request: not numbered yet, their rows are still to be made
    siblings = siblings_of.get(target_id, [])
    family = set(target.concerns)
    for m in members:
        family |= m.subjects
    for c in siblings:
        family |= c
    concerns = set(family)
    backfill: _Backfill = []
    if isinstance(d.payload, EventCorrected):
        if target.type in VOCABULARY:
            try:
                replacement = decode_payload(target.type, d.payload.data)
            except msgspec.ValidationError as e:
                raise InvalidEvent([split_msgspec_error(e, f"{path}.data")]) from None
            errors = check_dates(replacement, f"{path}.data")
            if errors:
                raise InvalidEvent(errors)
        if d.payload.time is not None:
            try:
                parse_time(d.payload.time)
            except TimeError as e:
                raise InvalidEvent([FieldError(f"{path}.time", str(e))]) from None
        concerns |= references(d.payload.data)
        new = concerns - family
        if new:
            for c in siblings:
                c |= new  # this request's own: dropped with it should it fail
            backfill = [(m, new - m.subjects) for m in members]
    return msgspec.structs.replace(d, subject=target.subject), concerns, backfill


def check_place(d: Draft, seq: int, prev: str) -> None:
    """A restored event must extend the chain exactly where it stood in its own log."""
    assert d.restore is not None
    if d.restore.sequence != seq or d.restore.predecessorhash != prev:
        raise Conflict(
            f"{d.path}: exported as sequence {d.restore.sequence}, but this log's next is "
            f"{seq}{'' if d.restore.predecessorhash == prev else ' with another predecessor'};"
            " restore into an empty database, or import with --as-new",
            [FieldError(f"{d.path}.sequence", "does not extend this log's chain")],
        )


def _check_preconditions(
    preconditions: Sequence[Precondition], pending: Pending, known: Known
) -> None:
    for j, p in enumerate(preconditions):
        last = pending.last.get(p.subject) or known.last.get(p.subject)
        if last != p.last_sequence:
            newest = last if last is not None else "none"
            raise Conflict(
                f"precondition failed: the newest event concerning {p.subject} is "
                f"{newest}, not {p.last_sequence}",
                [
                    FieldError(
                        f"$.preconditions[{j}].last_sequence",
                        f"{p.subject}: the newest event concerning it is {newest}",
                    )
                ],
            )


_Fresh: TypeAlias = list[tuple[Ready, AbstractSet[str]]]  # a new event, the subjects it concerns


class _Sorted(NamedTuple):
    """A request's events sorted out before numbering: `out`, per event, the stored event it
    repeats or None (new, or a repeat of one earlier in the request); the new ones in order;
    the concerns rows retractions and corrections add to their families; the newest
    sequence repeated."""

    out: list[StoredEvent | Made | None]
    fresh: _Fresh
    backfill: _Backfill
    last: int


def _sort_out(readies: Sequence[Ready], pending: Pending, known: Known) -> _Sorted:
    """Each event of a request: a repeat of a stored one (Conflict if its content differs),
    a repeat within the request, or new, with the subjects it concerns (a retraction or
    correction resolved against its target)."""
    existing = known.existing
    by_key = pending.by_key
    out: list[StoredEvent | Made | None] = []
    fresh: _Fresh = []
    backfill: _Backfill = []
    seen: dict[tuple[str, str], Draft] = {}
    earlier: dict[str, list[tuple[Draft, AbstractSet[str]]]] = {}
    siblings_of: dict[str, list[set[str]]] = {}
    last = 0
    for i, r in enumerate(readies):
        d = r.draft
        key = (d.source, d.id)
        stored = (by_key.get(key) or existing.get(key)) if d.id_given else None
        if stored is not None:
            if not same_content(d, stored):
                raise Conflict(
                    f"event {i} reuses source+id {d.source} {d.id} with different content",
                    [FieldError(f"{d.path}.id", "already stored with different content")],
                )
            out.append(stored)
            last = max(last, stored.sequence)
            continue
        out.append(None)  # new, or filled from its first occurrence in the request
        if key in seen:
            # the same event twice in one request: compare content, not place in the body
            if msgspec.structs.replace(seen[key], path=d.path) != d:
                raise Conflict(
                    f"event {i} repeats source+id {d.source} {d.id} with different content",
                    [FieldError(f"{d.path}.id", "repeated in this request with different content")],
                )
            continue
        seen[key] = d
        concerns: AbstractSet[str]
        if r.concerns is None:  # a retraction or correction
            d, found, more = resolve_target(d, earlier, siblings_of, pending, known)
            concerns = found
            backfill += more
            siblings_of.setdefault(d.payload.event, []).append(found)
            if r.unplaced is None:  # it takes its target's subject: encode it now
                r = Ready(d, r.data_text, _unplaced(d), None)
            else:
                r = Ready(d, r.data_text, r.unplaced, None)
        else:
            concerns = r.concerns
        earlier.setdefault(d.id, []).append((d, concerns))
        fresh.append((r, concerns))
    return _Sorted(out, fresh, backfill, last)


class _Numbered(NamedTuple):
    """The new events numbered after the head and chained: their `events` rows, what each
    became by (source, id), each one's concerns in order, and the new head."""

    rows: list[tuple[Any, ...]]
    made: dict[tuple[str, str], Made]
    concerns: list[list[str]]
    head: Head


def _number(head: Head, recorded_at: datetime, fresh: _Fresh) -> _Numbered:
    """Number the new events head+1, head+2, ... and link each to the one before; a restored
    event keeps its recorded time, and must take its exported place and hash (Conflict)."""
    seq, prev = head.sequence, head.hash
    rows: list[tuple[Any, ...]] = []
    made: dict[tuple[str, str], Made] = {}
    ordered_concerns: list[list[str]] = []
    shown = format_time(recorded_at)
    canonical_time = recorded_text(recorded_at)
    recorded = recorded_at
    for r, concerns in fresh:
        d = r.draft
        seq += 1
        restore = d.restore
        if restore is not None:
            check_place(d, seq, prev)
            recorded = restore.recordedtime
        assert r.unplaced is not None  # set by _sort_out for every meta event
        h = link(
            prev,
            r.unplaced.place(seq, canonical_time if restore is None else recorded_text(recorded)),
        )
        if restore is not None and h != restore.hash:
            raise Conflict(
                f"{d.path}: the recomputed hash differs from the exported one: the line was "
                "changed after export",
                [FieldError(f"{d.path}.hash", "does not match the event's content")],
            )
        target = d.payload.event if r.concerns is None else None
        ordered = sorted(concerns)
        ordered_concerns.append(ordered)
        valid = d.valid
        rows.append(
            (seq, d.id, d.source, d.type, d.subject, d.time, valid.start, valid.precision,
             valid.qualifier, d.confidence, r.data_text, recorded, h, prev, target, ordered)
        )  # fmt: skip
        made[(d.source, d.id)] = Made(
            d, seq, shown if restore is None else format_time(recorded), h, prev
        )
        prev = h
    return _Numbered(rows, made, ordered_concerns, Head(seq, prev, recorded))


def _into_overlay(pending: Pending, head: Head, s: _Sorted, n: _Numbered) -> None:
    """What a request's accepted events add to the group's overlay: their rows, the
    concerns rows their families gain, and what later requests of the group look up."""
    for member, subjects in s.backfill:
        pending.rows_c.extend(
            (subject, member.valid_from, member.sequence, True) for subject in sorted(subjects)
        )
        member.subjects |= subjects
    if pending.first is None:
        pending.first = head.sequence + 1
    pending.rows_e.extend(n.rows)
    pending.by_key.update(n.made)
    first = head.sequence + 1
    for i, ((r, concerns), ordered) in enumerate(zip(s.fresh, n.concerns, strict=True)):
        d = r.draft
        pending.targets.setdefault(d.id, []).append(Target(None, d.id, d.type, d.subject, ordered))
        if r.concerns is None:
            pending.family.setdefault(d.payload.event, []).append(
                Member(first + i, d.valid.start, set(concerns))
            )
        for subject in ordered:
            # (backfilled rows carry older sequences: they never make a subject's newest)
            pending.last[subject] = first + i


def accept(
    head: Head,
    recorded_at: datetime,
    readies: Sequence[Ready],
    preconditions: Sequence[Precondition],
    pending: Pending,
    known: Known,
    echo: bool = True,
) -> tuple[Appended, Head]:
    """Accept one request's events into the group's `pending` overlay, numbered after
    `head` and recorded at `recorded_at` (the caller holds APPEND_LOCK, and writes the
    overlay before it commits). `known` is what the log held for the whole group.

    All or nothing: raises InvalidEvent or Conflict having changed nothing. Returns what
    will be stored (shown only with `echo`) and the new head.
    """
    s = _sort_out(readies, pending, known)
    if not s.fresh:  # a retry: answered as when it was appended, its preconditions held then
        kept = [e if isinstance(e, StoredEvent) else e.stored() for e in s.out if e] if echo else []
        return Appended(kept, created=False, last=s.last), head
    _check_preconditions(preconditions, pending, known)
    n = _number(head, recorded_at, s.fresh)
    # Accepted: only now does anything reach the overlay (or the shared `known`).
    _into_overlay(pending, head, s, n)
    events: list[StoredEvent] = []
    if echo:
        for e, r in zip(s.out, readies, strict=True):
            d = r.draft
            shown = e if e is not None else n.made[(d.source, d.id)]
            events.append(shown if isinstance(shown, StoredEvent) else shown.stored())
    last = max(s.last, n.head.sequence)
    return Appended(events, created=True, new=len(s.fresh), last=last), n.head
