"""As-of snapshots (Hypothesis): a snapshot plus its tail always equals a full replay.

The log is modelled in memory as the store keeps it: each event's `concerns` (its subject
and every subject id in its data; a retraction or correction concerns what its target
concerns, a correction also what its replacement data names), the `event_concerns` rows,
and the two loads as their SQL selects them (`store.load_subject`, `snapshots.load_tails`).
Logs mix backdated events, ties, reduced precision, retractions, corrections that move a
time or re-grade a confidence or change what an event concerns, custom events, and ids
reused by another source after a correction named them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from events.timeparse import format_time, parse_time
from events.vocabulary import (
    META_TYPES,
    EventCorrected,
    Recorded,
    decode_payload,
    is_custom,
    references,
)
from projections import project, project_all
from projections import snapshots as snap
from tests.unit.test_projections_properties import CONFIDENCES, SHAPES, UNIVERSE

EPOCH = datetime(2025, 11, 1, tzinfo=UTC)
RECORDED = datetime(2026, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Row(msgspec.Struct, frozen=True):
    """An event as stored: the folded form, its `concerns` and whether it is meta."""

    event: Recorded
    concerns: frozenset[str]
    meta: bool
    target: str | None


valid_time = lru_cache(maxsize=None)(parse_time)


def _recorded(
    sequence: int,
    id_: str,
    source: str,
    type_: str,
    subject: str | None,
    when: str,
    confidence: str,
    data: Any,
) -> Recorded:
    valid = valid_time(when)
    return msgspec.convert(
        {
            "sequence": sequence,
            "id": id_,
            "source": source,
            "type": type_,
            "subject": subject,
            "time": valid.start,
            "timeprecision": valid.precision,
            "timequalifier": valid.qualifier,
            "confidence": confidence,
            "recordedtime": RECORDED + timedelta(seconds=sequence),
            "data": data if is_custom(type_) else decode_payload(type_, data),
        },
        Recorded,
        from_attributes=True,
    )


@st.composite
def logs(draw: st.DrawFn) -> list[Row]:
    """A log as the store would accept it, in sequence order."""
    size = draw(st.integers(3, 30) | st.sampled_from(range(10, 41)))
    reuse = ("reuse",) if draw(st.integers(0, 3)) == 0 else ()
    rows: list[Row] = []
    for n in range(1, size + 1):
        # Few distinct instants: ties, and events recorded late for early times.
        stamp = EPOCH + timedelta(
            days=draw(st.integers(0, 40)), hours=draw(st.sampled_from((0, 12)))
        )
        when = draw(
            st.sampled_from(
                (format_time(stamp), stamp.date().isoformat(), stamp.strftime("%Y-%m~"))
            )
        )
        confidence = draw(st.sampled_from(CONFIDENCES))
        # The store refuses a retraction or correction naming an ambiguous or meta id.
        ids = [r.event.id for r in rows]
        targets = [r for r in rows if not r.meta and ids.count(r.event.id) == 1]
        kind = draw(
            st.sampled_from(
                ("base",) * 6 + ("custom",) + (("retract", "correct", *reuse) if targets else ())
            )
        )
        if kind in ("base", "reuse"):
            type_ = draw(st.sampled_from(sorted(SHAPES)))
            subjects, strategy = SHAPES[type_]
            subject, data = draw(st.sampled_from(subjects)), draw(strategy)
            id_, source = f"e{n}", "urn:annals:test"
            if kind == "reuse":  # another source reuses an id (one a correction may name)
                named = sorted({r.target for r in rows if r.target is not None})
                id_ = draw(st.sampled_from(named or [r.event.id for r in targets]))
                source = f"urn:annals:other{n}"
            e = _recorded(n, id_, source, type_, subject, when, confidence, data)
            rows.append(Row(e, frozenset(references(data) | {subject}), False, None))
            continue
        if kind == "custom":
            data = {"about": draw(st.sampled_from(UNIVERSE))}
            subject = draw(st.sampled_from(UNIVERSE))
            e = _recorded(n, f"e{n}", "urn:annals:test", "x-note", subject, when, confidence, data)
            rows.append(Row(e, frozenset(references(data) | {subject}), False, None))
            continue
        target = draw(st.sampled_from(targets))
        t = target.event
        if kind == "retract":
            body: dict[str, Any] = {"event": t.id, "reason": "wrong"}
            e = _recorded(
                n, f"e{n}", "urn:annals:test", "event.retracted", t.subject, when, confidence, body
            )
            rows.append(Row(e, target.concerns, True, t.id))
            continue
        if is_custom(t.type):
            replacement: dict[str, Any] = {"about": draw(st.sampled_from(UNIVERSE))}
        else:
            replacement = draw(SHAPES[t.type][1])
        body = {"event": t.id, "data": replacement}
        if draw(st.booleans()):
            moved = EPOCH + timedelta(days=draw(st.integers(0, 40)))
            body["time"] = draw(st.sampled_from((format_time(moved), moved.strftime("%Y-%m"))))
        if draw(st.booleans()):
            body["confidence"] = draw(st.sampled_from(CONFIDENCES))
        e = _recorded(
            n, f"e{n}", "urn:annals:test", "event.corrected", t.subject, when, confidence, body
        )
        rows.append(Row(e, target.concerns | references(replacement), True, t.id))
    return rows


def _with_targets(rows: list[Row], chosen: list[Row], known: int) -> list[Recorded]:
    """`chosen` plus the events its retractions and corrections name (as the SQL `t`)."""
    named = {r.target for r in chosen if r.target is not None}
    seqs = {r.event.sequence for r in chosen}
    seqs |= {r.event.sequence for r in rows if r.event.sequence <= known and r.event.id in named}
    return [r.event for r in rows if r.event.sequence in seqs]


def load_subject(rows: list[Row], subject: str, at: datetime | None, known: int) -> list[Recorded]:
    """`store.load_subject`: events concerning it up to `at`, meta events, their targets."""
    chosen = [
        r
        for r in rows
        if subject in r.concerns
        and r.event.sequence <= known
        and (r.meta or at is None or r.event.time <= at)
    ]
    return _with_targets(rows, chosen, known)


def load_tails(
    rows: list[Row], subject: str, start: snap.Snapshot | None, at: datetime | None, known: int
) -> list[Recorded]:
    """`events.snapshots.load_tails` for one subject, after snapshot `start` (or from
    nothing): the candidates, and the retractions and corrections acting on them."""
    t = start.valid_to if start is not None else None
    k0 = start.known_seq if start is not None else 0

    def in_range(when: datetime) -> bool:
        return (t is None or when > t) and (at is None or when <= at)

    known_rows = [r for r in rows if r.event.sequence <= known]
    m = [r for r in known_rows if r.meta and subject in r.concerns]
    named = {r.target for r in m}
    moving = {
        r.target
        for r in m
        if isinstance(r.event.data, EventCorrected) and r.event.data.time is not None
    }
    g = [r for r in known_rows if r.event.id in named]
    cand = [
        r
        for r in known_rows
        if subject in r.concerns
        and not r.meta
        and (
            in_range(r.event.time)
            or (t is not None and r.event.sequence > k0 and r.event.time <= t)
        )
    ]
    cand += [
        r
        for r in g
        if r.event.id in moving
        or r.event.type in META_TYPES
        or in_range(r.event.time)
        or (t is not None and r.event.sequence > k0)  # an id reused since: rule 3
    ]
    ids = {r.event.id for r in cand} | {r.event.id for r in m}
    ids |= {r.event.id for r in g if r.event.type in META_TYPES}
    acting = [r for r in m if r.target in ids or (t is not None and r.event.sequence > k0)]
    acting += [r for r in g if r.event.type in META_TYPES]
    seqs = {r.event.sequence for r in cand} | {r.event.sequence for r in acting}
    return [r.event for r in rows if r.event.sequence in seqs]


def load_tail(
    rows: list[Row], subject: str, s: snap.Snapshot, at: datetime | None, known: int
) -> list[Recorded]:
    """`events.snapshots.load_tails` for one subject, from snapshot `s`."""
    return load_tails(rows, subject, s, at, known)


def best_allows(rows: list[Row], subject: str, s: snap.Snapshot, known: int) -> bool:
    """The SQL pre-check of `events.snapshots.best` (_VIOLATION) for rows known by
    `known`. (It also refuses a snapshot when a retraction or correction concerning the
    subject was recorded after `known`: a stricter rule, for the store's back-filled rows,
    that the pure check cannot see and this model leaves out.)"""
    return not any(
        subject in r.concerns
        and s.known_seq < r.event.sequence <= known
        and (r.meta or r.event.time <= s.valid_to)
        for r in rows
    )


def reference(
    rows: list[Row], subject: str, at: datetime | None, known: int, min_confidence: str
) -> Any:
    """The full replay, as the service answers today."""
    return project(
        subject, load_subject(rows, subject, at, known), at=at, min_confidence=min_confidence
    )


def stored(s: snap.Snapshot) -> snap.Snapshot:
    """`s` after a trip through the table's bytes."""
    return msgspec.structs.replace(s, state=snap.decode(s.subject, snap.encode(s.state)))


def ats(rows: list[Row]) -> st.SearchStrategy[datetime | None]:
    times = sorted({r.event.time for r in rows})
    return st.sampled_from([*times, None]) | st.builds(
        lambda d, h: EPOCH + timedelta(days=d, hours=h),
        st.sampled_from(range(-1, 43)),
        st.sampled_from(range(24)),
    )


@FAST
@given(logs(), st.data())
def test_a_snapshot_and_its_tail_equal_a_full_replay(rows: list[Row], data: st.DataObject) -> None:
    n = len(rows)
    folding = sorted({r.event.subject or "" for r in rows if not r.meta} - {""})
    concerned = sorted(set().union(*(r.concerns for r in rows)))
    # Two thirds of the examples aim at the fast path (a snapshot in the middle of valid
    # time, a later question, the same confidence); the others ask anything.
    aim = data.draw(st.sampled_from((True, True, False)), "aim at the fast path")
    subject = data.draw(st.sampled_from(folding or concerned) | st.sampled_from(concerned))
    confidence = data.draw(
        st.just("disputed") | st.sampled_from(CONFIDENCES), "min_confidence of the snapshot"
    )
    # The snapshot: what an earlier answer (at0, k0) leaves behind.
    times = sorted({r.event.time for r in rows})
    if aim:
        k0 = data.draw(st.sampled_from(range(n, n // 3, -1)), "k0")
        own = sorted(
            {
                r.event.time
                for r in rows[:k0]
                if subject in r.concerns and not r.meta and not is_custom(r.event.type)
            }
        )
        at0: datetime | None = data.draw(
            st.sampled_from(own[: max(1, len(own) * 2 // 3)] or times), "at0"
        )
    else:
        k0 = data.draw(st.sampled_from(range(n + 1)), "k0")
        at0 = data.draw(ats(rows), "at0")
    before = snap.replay(
        subject, load_subject(rows, subject, at0, k0), at=at0, min_confidence=confidence
    )
    assert before.state == reference(rows, subject, at0, k0, confidence)
    taken = snap.taken(subject, before, known=k0, min_confidence=confidence)
    if taken is None:
        event("no snapshot: nothing folded")
        return
    taken = stored(taken)
    # It is the answer at its own edge.
    assert taken.state == reference(rows, subject, taken.valid_to, k0, confidence)

    # A later question.
    if aim:
        known = data.draw(st.sampled_from(range(k0, n + 1)), "known")
        later = sorted(
            {r.event.time for r in rows if subject in r.concerns and r.event.time > taken.valid_to}
        )
        at: datetime | None = data.draw(st.sampled_from([*later, None]), "at")
        min_confidence = confidence
    else:
        known = data.draw(st.sampled_from(range(n + 1)), "known")
        at = data.draw(ats(rows), "at")
        min_confidence = data.draw(st.sampled_from(CONFIDENCES), "confidence")
    expected = reference(rows, subject, at, known, min_confidence)

    tail = load_tail(rows, subject, taken, at, known)
    why = snap.refusal(
        taken, tail, subject=subject, at=at, known=known, min_confidence=min_confidence
    )
    got = snap.resume(
        taken, tail, subject=subject, at=at, known=known, min_confidence=min_confidence
    )
    assert (got is None) == (why is not None)
    if why is None and not best_allows(rows, subject, taken, known):
        raise AssertionError("the SQL pre-check refuses what the pure check allows")
    if got is None:
        event(f"fallback: {why}")
        return
    event("snapshot used, tail folded nothing" if got.folded == 0 else "snapshot used, tail folded")
    assert got.state == expected
    assert msgspec.to_builtins(got.state) == msgspec.to_builtins(expected)
    assert (
        got.total
        == snap.replay(
            subject, load_subject(rows, subject, at, known), at=at, min_confidence=min_confidence
        ).total
    )
    # The full load is a superset of the tail load: the same answer from it.
    full = load_subject(rows, subject, at, known)
    again = snap.resume(
        taken, full, subject=subject, at=at, known=known, min_confidence=min_confidence
    )
    assert again is not None and again.state == expected
    # And the snapshot this answer leaves behind answers its own edge.
    follow = snap.taken(subject, got, known=known, min_confidence=min_confidence)
    assert follow is not None
    assert follow.state == reference(rows, subject, follow.valid_to, known, min_confidence)


@SOME
@given(logs(), st.data())
def test_the_subject_load_is_what_every_subject_replay_sees(
    rows: list[Row], data: st.DataObject
) -> None:
    """The model of `load_subject` is faithful: one subject's replay is its state in a
    replay of the whole known log -- when no id is reused and no correction makes its
    target concern a new subject. (When one does, a later retraction or correction of that
    target concerns only what the target concerned as stored, so `load_subject` of the new
    subject misses it: a known gap of the store's `concerns`, reported, not the snapshots'
    concern -- they equal `load_subject`'s replay whatever it is.)"""
    if len({r.event.id for r in rows}) < len(rows):
        event("reused ids: skipped")
        return
    stored = {r.event.id: r.concerns for r in rows if not r.meta}
    if any(r.target is not None and r.concerns != stored[r.target] for r in rows):
        event("a correction adds concerns: skipped")
        return
    known = data.draw(st.integers(0, len(rows)))
    at = data.draw(ats(rows))
    confidence = data.draw(st.sampled_from(CONFIDENCES))
    everything = project_all(
        [r.event for r in rows if r.event.sequence <= known], at=at, min_confidence=confidence
    )
    for subject in UNIVERSE:
        assert reference(rows, subject, at, known, confidence) == everything.get(subject)


@FAST
@given(logs(), st.data())
def test_the_reduced_load_from_nothing_replays_to_the_full_answer(
    rows: list[Row], data: st.DataObject
) -> None:
    """GET /v1/state loads a subject without a usable snapshot by `load_tails` from
    nothing: only the retractions and corrections that act on what can count. Its replay
    is the full replay's answer."""
    concerned = sorted(set().union(*(r.concerns for r in rows)))
    subject = data.draw(st.sampled_from(concerned))
    known = data.draw(st.integers(0, len(rows)))
    at = data.draw(ats(rows))
    confidence = data.draw(st.sampled_from(CONFIDENCES))
    reduced = load_tails(rows, subject, None, at, known)
    full = load_subject(rows, subject, at, known)
    assert {e.sequence for e in reduced} <= {e.sequence for e in full}
    event("reduced" if len(reduced) < len(full) else "the whole load")
    got = snap.replay(subject, reduced, at=at, min_confidence=confidence)
    assert got.state == reference(rows, subject, at, known, confidence)


@SOME
@given(logs(), st.data())
def test_checkpoints_along_a_replay_are_answers_and_resume_to_the_end(
    rows: list[Row], data: st.DataObject
) -> None:
    folding = sorted({r.event.subject or "" for r in rows if not r.meta} - {""})
    subject = data.draw(st.sampled_from(folding))
    confidence = data.draw(st.just("disputed") | st.sampled_from(CONFIDENCES))
    n = len(rows)
    known = data.draw(st.just(n) | st.sampled_from(range(n + 1)))
    at = data.draw(st.none() | ats(rows))
    every = data.draw(st.sampled_from((1, 2, 3)))
    points = snap.checkpoints(
        subject,
        load_subject(rows, subject, at, known),
        at=at,
        known=known,
        min_confidence=confidence,
        every=every,
    )
    event(f"{min(len(points), 3)}{'+' if len(points) >= 3 else ''} checkpoints")
    expected = reference(rows, subject, at, known, confidence)
    for p in points:
        p = stored(p)
        assert p.state == reference(rows, subject, p.valid_to, known, confidence)
        got = snap.resume(
            p,
            load_tail(rows, subject, p, at, known),
            subject=subject,
            at=at,
            known=known,
            min_confidence=confidence,
        )
        assert got is not None and got.state == expected
    assert [p.valid_to for p in points] == sorted({p.valid_to for p in points})


@SOME
@given(logs(), st.sampled_from(UNIVERSE))
def test_a_stored_state_decodes_to_itself(rows: list[Row], subject: str) -> None:
    state = snap.replay(subject, [r.event for r in rows], at=None, min_confidence="disputed").state
    if state is not None:
        assert snap.decode(subject, snap.encode(state)) == state
        assert msgspec.to_builtins(snap.decode(subject, snap.encode(state))) == (
            msgspec.to_builtins(state)
        )


def test_meta_types_are_the_ones_the_refusal_knows() -> None:
    assert frozenset({"event.retracted", "event.corrected"}) == META_TYPES
