"""The pure append decisions (events/accept.py) and the canonical bytes they hash."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.accept import (
    Conflict,
    Head,
    Precondition,
    accept,
    prepare,
)
from events.chain import GENESIS, canonical
from events.envelope import InvalidEvent, parse_event
from events.overlay import Known, Pending

AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(
    id_=st.text(min_size=1, max_size=10),
    subject=st.none() | st.text(max_size=10),
    data=json_values,
    sequence=st.integers(1, 2**62),
)
def test_canonical_bytes_are_sorted_compact_utf8_json(
    id_: str, subject: str | None, data: Any, sequence: int
) -> None:
    """The head/tail assembly gives what any JSON library that sorts keys gives."""
    fields = {
        "id": id_, "source": "urn:s", "type": "x-t", "subject": subject, "time": "2025",
        "confidence": "reported", "data": data, "sequence": sequence,
    }  # fmt: skip
    expected = json.dumps(
        {**fields, "specversion": "1.0", "recordedtime": "2026-03-01T12:00:00.123456Z"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert canonical(**fields, recordedtime=AT) == expected


def ready(raw: dict[str, Any], path: str = "$") -> Any:
    return prepare(parse_event(raw, path))


def registered(slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "party.registered",
        "subject": f"party/{slug}",
        "time": "2025-11-27",
        "data": {"name": slug.title(), "kind": "state"},
        **extra,
    }


def test_requests_of_a_group_are_numbered_and_chained_in_order() -> None:
    pending, known = Pending(), Known()
    head = Head(7, "ab" * 32, None)
    first, head = accept(
        head, AT, [ready(registered("a")), ready(registered("b"))], (), pending, known
    )
    second, head = accept(head, AT, [ready(registered("c"))], (), pending, known)
    seqs = [e.sequence for e in first.events + second.events]
    assert seqs == [8, 9, 10] and head.sequence == 10
    events = first.events + second.events
    assert events[0].predecessorhash == "ab" * 32
    for before, after in itertools.pairwise(events):
        assert after.predecessorhash == before.hash
    # each hash covers its predecessor and its canonical bytes
    e = events[1]
    body = canonical(
        id=e.id, source=e.source, type=e.type, subject=e.subject, time=e.timegiven,
        confidence=e.confidence, data=e.data, sequence=e.sequence, recordedtime=AT,
    )  # fmt: skip
    assert e.hash == hashlib.sha256(bytes.fromhex(e.predecessorhash) + body).hexdigest()
    assert [r[0] for r in pending.rows_e] == [8, 9, 10] and pending.first == 8
    assert pending.rows_c == []  # event_concerns rows are derived in SQL from rows_e


def test_a_refused_request_leaves_the_overlay_untouched() -> None:
    pending, known = Pending(), Known()
    _, head = accept(
        Head(0, GENESIS, None), AT, [ready(registered("a", id="x"))], (), pending, known
    )
    before = (list(pending.rows_e), dict(pending.last), dict(pending.by_key))
    changed = ready(registered("other", id="x"))
    with pytest.raises(Conflict):
        accept(head, AT, [ready(registered("b")), changed], (), pending, known)
    with pytest.raises(Conflict, match="precondition failed"):
        accept(head, AT, [ready(registered("b"))], [Precondition("party/a", 5)], pending, known)
    assert (pending.rows_e, pending.last, pending.by_key) == before


def test_a_repeat_in_the_same_group_is_answered_with_the_stored_event() -> None:
    pending, known = Pending(), Known()
    first, head = accept(
        Head(0, GENESIS, None), AT, [ready(registered("a", id="x"))], (), pending, known
    )
    again, head2 = accept(head, AT, [ready(registered("a", id="x"))], (), pending, known)
    assert not again.created and again.events == first.events and head2 == head
    assert len(pending.rows_e) == 1


def test_without_echo_an_append_counts_but_shows_nothing() -> None:
    pending, known = Pending(), Known()
    readies = [ready(registered(s, id=s)) for s in ("a", "b", "c")]
    result, head = accept(Head(3, "cd" * 32, None), AT, readies, (), pending, known, echo=False)
    assert result.events == [] and result.new == 3 and result.last == 6 == head.sequence


def retract(target: str) -> dict[str, Any]:
    return {
        "type": "event.retracted",
        "time": "2025-11-28",
        "data": {"event": target, "reason": "wrong"},
    }


def test_a_retraction_takes_its_targets_subject_and_concerns() -> None:
    pending, known = Pending(), Known()
    target = registered("a", id="t", data={"name": "A", "kind": "state"})
    retraction = retract("t")
    result, _ = accept(
        Head(0, GENESIS, None), AT, [ready(target), ready(retraction, "$[1]")], (), pending, known
    )
    assert result.events[1].subject == "party/a"
    assert pending.rows_e[1][-2] == "t" and pending.rows_e[1][-1] == ["party/a"]
    missing = retract("nope")
    with pytest.raises(InvalidEvent):
        accept(Head(2, "00" * 32, None), AT, [ready(missing)], (), Pending(), Known())
