"""A CORE fact holds its event: what `facts_of` stores decodes to the event it was made of,
and `assemble` folds those events into a state at each end of a question."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.vocabulary import PartyRegistered, Recorded
from projections import MeetingState, PartyState, concerns, fold
from projections.facts import CORE, assemble, fact_keys, facts_of, folded_event
from tests.unit._builders import Log, until
from tests.unit.test_projections_properties import CONFIDENCES, PROPERTY, SHAPES

TIMES = ("0001-01-01", "1969-12-31T23:59:59.999999Z", "2025-11", "2025", "9999-12-31T23:59:59Z")


@st.composite
def events(draw: st.DrawFn) -> Recorded:
    type_ = draw(st.sampled_from(sorted(SHAPES)))
    subjects, data = SHAPES[type_]
    log = Log()
    return log.add(
        type_,
        draw(st.sampled_from(subjects)),
        draw(st.sampled_from(TIMES)),
        draw(data),
        confidence=draw(st.sampled_from(CONFIDENCES)),
    )


@PROPERTY
@given(events())
def test_every_core_fact_holds_its_event_as_recorded(event: Recorded) -> None:
    core = [value for _, key, value in facts_of(event, concerns(event)) if key == CORE]
    for value in core:
        assert _same(folded_event(value), event)
    if event.type != "position.stated":  # whose facts about its two subjects are registers
        assert core, event


@PROPERTY
@given(events())
def test_the_keys_of_the_facts_are_known_without_their_values(event: Recorded) -> None:
    subjects = [*concerns(event), "not a subject"]
    made = facts_of(event, subjects)
    assert fact_keys(event, subjects) == [(s, k) for s, k, _ in made]


def test_a_corrected_event_is_held_as_its_correction_states_it() -> None:
    log = Log()
    event = log.add("party.registered", "party/a", "2025-11-01", {"name": "A", "kind": "state"})
    restated = msgspec.structs.replace(
        event, data=msgspec.structs.replace(event.data, name="B"), confidence="disputed"
    )
    [(_, _, value)] = facts_of(restated, ["party/a"])
    assert _same(folded_event(value), restated)


def _same(folded: Recorded, event: Recorded) -> bool:
    """Whether a decoded folded event holds `event`: its fields, and a payload of its type's
    Struct with the same fields (as decoded, a subclass of it read as an array, its lists
    tuples and the structs it holds subclasses of theirs)."""
    fields = [f for f in Recorded.__struct_fields__ if f != "data"]
    return (
        isinstance(folded, Recorded)
        and [getattr(folded, f) for f in fields] == [getattr(event, f) for f in fields]
        and isinstance(folded.data, type(event.data))
        and _payload(folded.data) == _payload(event.data)
    )


def _payload(data: msgspec.Struct) -> object:
    """A payload's fields as JSON reads them (a decoded list field is a tuple)."""
    return msgspec.json.decode(msgspec.json.encode(msgspec.structs.asdict(data)))


def _with_payload(type_: str, *payload: object) -> bytes:
    """A folded party.registered whose payload is this array, tagged by this type."""
    event = Log().add("party.registered", "party/a", "2025-11-01", {"name": "A", "kind": "state"})
    fields = msgspec.structs.astuple(event)[:-1]
    return msgspec.msgpack.encode((*fields, (type_, *payload)))


# party.registered's fields, in order
REGISTERED: tuple[object, ...] = ([], None, "A", "state", None, None, [])


def test_the_payload_is_decoded_by_the_type_it_names() -> None:
    data = folded_event(_with_payload("party.registered", *REGISTERED)).data
    assert isinstance(data, PartyRegistered)
    assert data.name == "A"


@pytest.mark.parametrize(
    "value",
    [
        b"\x93",  # cut short
        b"\xc0",  # nil
        b"",
        _with_payload("x-note", *REGISTERED),  # a type no projection folds
        _with_payload("plan.proposed", *REGISTERED),  # a payload that is not that type's
        _with_payload("party.registered", *REGISTERED, 1),  # more fields than the type's
        msgspec.msgpack.encode({"type": "party.registered"}),  # a map, not the event's array
    ],
)
def test_a_value_that_holds_no_event_is_a_decode_error(value: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        folded_event(value)


def test_one_fold_gives_each_end_the_state_of_its_own_prefix() -> None:
    """The fold goes on from an earlier end's state and leaves it as it was: a list the
    earlier fold made is copied, not grown in place, by the fold that goes on."""
    log = Log()
    log.add(
        "meeting.scheduled",
        "meeting/m",
        "2025-11-01",
        {"title": "M", "starts": "2025-12", "participants": []},
    )
    log.add("meeting.rescheduled", "meeting/m", "2025-11-02", {"starts": "2025-12-02"})
    log.add("meeting.rescheduled", "meeting/m", "2025-11-05", {"starts": "2025-12-05"})
    log.add("meeting.held", "meeting/m", "2025-11-09", {"outcome": "talks"})
    events = log.events
    ends = [until(day) for day in ("2025-10-30", "2025-11-02", "2025-11-06", "2025-11-30")]
    got = assemble("meeting/m", events, [(at, {}) for at in ends])
    assert got == [fold("meeting/m", [e for e in events if e.time <= at]) for at in ends]
    assert got[0] is None
    assert [len(s.reschedules) for s in got[1:] if isinstance(s, MeetingState)] == [1, 2, 2]


def test_a_register_is_held_as_the_json_it_is_stored_as() -> None:
    """A state holds a register's stance as the projector stored it, the JSON of the stance
    the replay holds (one value at each end of a diff); a value that is not JSON is named,
    never passed on to an answer."""
    log = Log()
    kept = log.add(
        "position.stated", "party/a", "2025-11-01", {"on": "issue/x", "stance": "supports"}
    )
    was = log.add(
        "position.stated", "party/a", "2025-11-02", {"on": "issue/y", "stance": "opposes"}
    )
    now = log.add(
        "position.stated", "party/a", "2025-11-20", {"on": "issue/y", "stance": "supports"}
    )

    def registers(*events: Recorded) -> dict[str, bytes]:
        return {k: v for e in events for _, k, v in facts_of(e, ["party/a"])}

    ends = [
        (until("2025-11-10"), registers(kept, was)),
        (until("2025-11-30"), registers(kept, now)),
    ]
    before, after = assemble("party/a", [], ends)
    assert isinstance(before, PartyState) and isinstance(after, PartyState)
    assert after.positions == fold("party/a", [kept, was, now]).positions  # type: ignore[union-attr]
    assert before.positions == fold("party/a", [kept, was]).positions  # type: ignore[union-attr]
    assert after.positions["issue/x"] == before.positions["issue/x"]
    assert msgspec.json.decode(msgspec.json.encode(after))["positions"]["issue/y"] == (
        msgspec.json.decode(ends[1][1]["positions/issue/y"])
    )
    for damaged in (b"\x93", b'{"stance": "supp'):
        with pytest.raises(msgspec.DecodeError):
            assemble("party/a", [], [(until("2025-11-30"), {"positions/issue/y": damaged})])
