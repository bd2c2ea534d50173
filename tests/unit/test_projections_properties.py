"""Properties of the folds (Hypothesis): replay is stable, order-free and never mutates."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.timeparse import format_time, parse_time
from events.vocabulary import META_TYPES, Recorded, decode_payload
from projections import (
    State,
    diff,
    effective,
    evolve,
    fold,
    fold_all,
    initial,
    plain,
    project_all,
)

PARTIES = ("party/a", "party/b", "party/c")
PLANS = ("plan/x", "plan/y")
ISSUES = ("issue/i", "issue/j")
MEETINGS = ("meeting/m",)
UNIVERSE = PARTIES + PLANS + ISSUES + MEETINGS
CONFIDENCES = ("confirmed", "reported", "unconfirmed", "disputed")
EPOCH = datetime(2025, 11, 1, tzinfo=UTC)
RECORDED = datetime(2026, 1, 1, tzinfo=UTC)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

party = st.sampled_from(PARTIES)
plan = st.sampled_from(PLANS)
parties = st.lists(party, max_size=3, unique=True)
text = st.sampled_from(("alpha", "beta", "gamma"))
# Letters at random, nothing to compress: a stance holding it is too long for an index entry
# of the read model (queries/model_writes.py, INDEXED_VALUE_BYTES), which keeps it beside the index.
LONG_TEXT = "".join(random.Random(1).choice(string.ascii_letters) for _ in range(3_000))
maybe_text = st.none() | text
provisions = st.lists(
    st.fixed_dictionaries(
        {"id": st.sampled_from(("1", "2", "3")), "text": text},
        optional={"issues": st.lists(st.sampled_from(ISSUES), max_size=2, unique=True)},
    ),
    max_size=3,
)

# type -> (subjects it may have, strategy for its data)
SHAPES: dict[str, tuple[tuple[str, ...], st.SearchStrategy[dict[str, Any]]]] = {
    "party.registered": (
        PARTIES,
        st.fixed_dictionaries(
            {"name": text, "kind": st.sampled_from(("state", "person"))},
            optional={"member_of": party, "role": text, "aliases": st.lists(text, max_size=2)},
        ),
    ),
    "plan.proposed": (
        PLANS,
        st.fixed_dictionaries(
            {"title": text, "sponsor": party},
            optional={
                "points": st.integers(0, 30),
                "based_on": plan,
                "summary": text,
                "provisions": provisions,
                "kind": st.sampled_from(("plan", "counterproposal")),
            },
        ),
    ),
    "plan.revised": (
        PLANS,
        st.fixed_dictionaries(
            {},
            optional={
                "by": party,
                "points": st.integers(0, 30),
                "title": text,
                "provisions_added": provisions,
                "provisions_removed": st.lists(st.sampled_from(("1", "2", "3")), max_size=2),
            },
        ),
    ),
    "plan.classified": (
        PLANS,
        st.fixed_dictionaries({"ordered_by": party, "withheld_from": parties}),
    ),
    "plan.declassified": (PLANS, st.fixed_dictionaries({"by": party})),
    "plan.presented": (
        PLANS,
        st.fixed_dictionaries(
            {"by": party, "to": parties}, optional={"meeting": st.sampled_from(MEETINGS)}
        ),
    ),
    "plan.superseded": (PLANS, st.fixed_dictionaries({"by_plan": plan})),
    "position.stated": (
        PARTIES,
        st.fixed_dictionaries(
            {
                "on": st.sampled_from(PLANS + ISSUES),
                "stance": st.sampled_from(("supports", "rejects")),
            },
            optional={
                "summary": text | st.just(LONG_TEXT),
                "speaker": party,
                "conditions": st.lists(text, max_size=2),
            },
        ),
    ),
    "meeting.scheduled": (
        MEETINGS,
        st.fixed_dictionaries(
            {"title": text, "starts": st.sampled_from(("2025-12-01", "2025-12"))},
            optional={"agenda": st.lists(st.sampled_from(PLANS + ISSUES), max_size=2)},
        ).flatmap(lambda d: parties.map(lambda ps: {**d, "participants": ps})),
    ),
    "meeting.rescheduled": (
        MEETINGS,
        st.fixed_dictionaries({"starts": st.just("2025-12-05")}, optional={"location": text}),
    ),
    "meeting.held": (
        MEETINGS,
        st.fixed_dictionaries({}, optional={"outcome": text, "participants": parties}),
    ),
    "meeting.cancelled": (MEETINGS, st.fixed_dictionaries({}, optional={"reason": text})),
}


class Spec(msgspec.Struct, frozen=True):
    """An event before it is recorded: everything but its place in the log."""

    id: str
    type: str
    subject: str | None
    time: str
    confidence: str
    data: dict[str, Any]


# edtf parses a date in milliseconds; the generated times come from a small set.
valid_time = lru_cache(maxsize=None)(parse_time)


def record(spec: Spec, sequence: int) -> Recorded:
    """The event `spec` as the log would hold it at `sequence`."""
    valid = valid_time(spec.time)
    return msgspec.convert(
        {
            "sequence": sequence,
            "id": spec.id,
            "source": "urn:annals:test",
            "type": spec.type,
            "subject": spec.subject,
            "time": valid.start,
            "timeprecision": valid.precision,
            "timequalifier": valid.qualifier,
            "confidence": spec.confidence,
            "recordedtime": RECORDED + timedelta(seconds=sequence),
            "data": decode_payload(spec.type, spec.data),
        },
        Recorded,
        from_attributes=True,
    )


@st.composite
def histories(draw: st.DrawFn, *, order_free: bool = False) -> list[Spec]:
    """Events over a small universe; meta events target earlier ids.

    With `order_free`, every event (and every corrected time) has its own valid time,
    corrections target distinct events and retractions target no meta event, so that no
    outcome can depend on the recording order.
    """
    size = draw(st.integers(1, 25))
    hours = draw(
        st.lists(st.integers(0, 24 * 60), min_size=2 * size, max_size=2 * size, unique=True)
    )
    specs: list[Spec] = []
    corrected: set[str] = set()
    for n in range(size):
        hour = hours[n]
        stamp = EPOCH + timedelta(hours=hour)
        when = (
            format_time(stamp)
            if order_free
            else draw(
                st.sampled_from(
                    (format_time(stamp), stamp.date().isoformat(), stamp.strftime("%Y-%m~"))
                )
            )
        )
        confidence = draw(st.sampled_from(CONFIDENCES))
        targets = [s for s in specs if not (order_free and s.type in META_TYPES)]
        kind = draw(st.sampled_from(("base",) * 4 + (("retract", "correct") if targets else ())))
        if kind == "base":
            type_ = draw(st.sampled_from(sorted(SHAPES)))
            subjects, data = SHAPES[type_]
            specs.append(
                Spec(f"e{n}", type_, draw(st.sampled_from(subjects)), when, confidence, draw(data))
            )
            continue
        target = draw(st.sampled_from(targets))
        if kind == "retract":
            body: dict[str, Any] = {"event": target.id, "reason": "wrong"}
            specs.append(Spec(f"e{n}", "event.retracted", target.subject, when, confidence, body))
            continue
        if target.type in META_TYPES or (order_free and target.id in corrected):
            continue
        corrected.add(target.id)
        body = {"event": target.id, "data": draw(SHAPES[target.type][1])}
        if draw(st.booleans()):
            body["time"] = format_time(EPOCH + timedelta(hours=hours[size + n]))
        if draw(st.booleans()):
            body["confidence"] = draw(st.sampled_from(CONFIDENCES))
        specs.append(Spec(f"e{n}", "event.corrected", target.subject, when, confidence, body))
    return specs


def in_order(specs: list[Spec]) -> list[Recorded]:
    return [record(s, n + 1) for n, s in enumerate(specs)]


@PROPERTY
@given(histories(), st.data())
def test_folding_a_prefix_then_the_rest_equals_folding_everything(
    specs: list[Spec], data: st.DataObject
) -> None:
    events = effective(in_order(specs), at=None)
    cut = data.draw(st.integers(0, len(events)))
    everything = fold_all(events)

    for subject in UNIVERSE:
        head = fold(subject, events[:cut])
        assert fold(subject, events[cut:], head) == fold(subject, events)
        assert fold(subject, events) == everything.get(subject)
        # The fold grew its own lists in place, never the given state's.
        assert head == fold(subject, events[:cut])


@PROPERTY
@given(histories(order_free=True), st.randoms(use_true_random=False), st.sampled_from(CONFIDENCES))
def test_state_does_not_depend_on_recording_order_of_distinct_times(
    specs: list[Spec], random: Any, min_confidence: str
) -> None:
    shuffled = list(specs)
    random.shuffle(shuffled)

    assert project_all(in_order(shuffled), at=None, min_confidence=min_confidence) == project_all(
        in_order(specs), at=None, min_confidence=min_confidence
    )


@PROPERTY
@given(histories(), st.data(), st.randoms(use_true_random=False))
def test_state_known_at_k_ignores_everything_recorded_after_k(
    specs: list[Spec], data: st.DataObject, random: Any
) -> None:
    log = in_order(specs)
    k = data.draw(st.integers(0, len(log)))
    at = data.draw(st.sampled_from([None, *(EPOCH + timedelta(days=d) for d in (5, 30, 90))]))
    # The whole log, later retractions and corrections included, handed over in any order.
    everything = list(log)
    random.shuffle(everything)

    known_at_k = [e for e in everything if e.sequence <= k]
    assert project_all(known_at_k, at=at) == project_all(log[:k], at=at)


@PROPERTY
@given(histories())
def test_evolve_never_mutates_its_input_state(specs: list[Spec]) -> None:
    events = effective(in_order(specs), at=None)
    seen: list[tuple[State, Any]] = []
    states: dict[str, State] = {}
    for event in events:
        for subject in UNIVERSE:
            state = states.get(subject) or initial(subject)
            before = plain(state)
            states[subject] = evolve(state, event)
            assert plain(state) == before
            seen.append((state, before))
    # Nor does any later step reach back into an earlier state through a shared list.
    assert all(plain(state) == before for state, before in seen)


@PROPERTY
@given(histories(), st.data())
def test_a_diff_names_exactly_the_fields_whose_plain_values_differ(
    specs: list[Spec], data: st.DataObject
) -> None:
    log = in_order(specs)
    ends = [data.draw(st.sampled_from([None, *(EPOCH + timedelta(days=d) for d in (5, 30, 90))]))]
    ends.append(data.draw(st.sampled_from([*ends, EPOCH + timedelta(days=10)])))
    before, after = (project_all(log, at=at) for at in ends)
    # Sometimes a subject is on one side only, or on neither.
    for subject in data.draw(st.lists(st.sampled_from(UNIVERSE), max_size=3)):
        data.draw(st.sampled_from((before, after))).pop(subject, None)

    changes = plain(diff(before, after))

    expected = []
    for subject in sorted(before.keys() | after.keys()):
        b, a = before.get(subject), after.get(subject)
        template = a if a is not None else b
        assert template is not None
        blank = plain(type(template)(id=subject))
        old = plain(b) if b is not None else blank
        new = plain(a) if a is not None else blank
        facts = new["facts"] if a is not None else {}
        for name in sorted(set(blank) - {"id", "facts"}):
            if isinstance(blank[name], dict):
                for key in sorted(old[name].keys() | new[name].keys()):
                    w, n = old[name].get(key), new[name].get(key)
                    if w != n:
                        prov = n or {}
                        expected.append((subject, f"{name}.{key}", w, n, prov.get("event"),
                                         prov.get("since"), prov.get("confidence")))  # fmt: skip
            elif old[name] != new[name]:
                prov = facts.get(name) or {}
                expected.append((subject, name, old[name] if b is not None else None,
                                 new[name] if a is not None else None, prov.get("event"),
                                 prov.get("time"), prov.get("confidence")))  # fmt: skip
    got = [tuple(c.values()) for c in changes]
    assert sorted(got, key=lambda c: (c[0], c[1])) == got
    assert sorted(got, key=lambda c: (c[0], c[1])) == sorted(expected, key=lambda c: (c[0], c[1]))
