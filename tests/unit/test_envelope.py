"""Validating one event (SPEC §2, §3, §6): what passes, and the path each error names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from events.envelope import (
    ALLOWED_TYPES,
    DEFAULT_SOURCE,
    ENVELOPE_FIELDS,
    Draft,
    FieldError,
    InvalidEvent,
    _fast,
    _walk,
    parse_event,
    scan,
)
from events.jsonscan import MAX_DEPTH
from events.vocabulary import MAX_LIST, MAX_NAME, MAX_TEXT, VOCABULARY, PlanProposed


def plan(**over: Any) -> dict[str, Any]:
    """A valid plan.proposed event; keyword arguments override attributes."""
    base: dict[str, Any] = {
        "type": "plan.proposed",
        "subject": "plan/peace",
        "time": "2025-11-20",
        "data": {"title": "Peace plan", "sponsor": "party/us"},
    }
    base.update(over)
    return base


def plan_data(**over: Any) -> dict[str, Any]:
    return plan(data={"title": "Peace plan", "sponsor": "party/us", **over})


def errors_of(raw: Any, path: str = "$") -> list[FieldError]:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw, path)
    return info.value.errors


def paths_of(raw: Any, path: str = "$") -> list[str]:
    return [e.path for e in errors_of(raw, path)]


# --- what passes ----------------------------------------------------------------------


def test_valid_event_gets_defaults_and_a_typed_payload() -> None:
    d = parse_event(plan())
    assert d.type == "plan.proposed"
    assert d.subject == "plan/peace"
    assert d.source == DEFAULT_SOURCE
    assert d.confidence == "confirmed"
    assert not d.id_given and d.id[14] == "7"
    assert d.valid.start == datetime(2025, 11, 20, tzinfo=UTC)
    assert d.valid.precision == "day"
    assert isinstance(d.payload, PlanProposed)
    assert d.payload.sponsor == "party/us"
    assert d.data == {"title": "Peace plan", "sponsor": "party/us"}


def test_every_optional_attribute_is_taken_as_given() -> None:
    d = parse_event(
        plan(specversion="1.0", id="e-1", source="urn:desk:kyiv", confidence="reported",
             datacontenttype="application/json", time="2025-11~")
    )  # fmt: skip
    assert (d.id, d.id_given, d.source, d.confidence) == ("e-1", True, "urn:desk:kyiv", "reported")
    assert (d.valid.precision, d.valid.qualifier) == ("month", "approximate")


def test_custom_type_takes_any_json_data_and_no_subject() -> None:
    d = parse_event({"type": "x-note", "time": "2025", "data": [1, "two", {"3": None}]})
    assert d.type == "x-note" and d.subject is None
    assert d.payload == [1, "two", {"3": None}]


def test_custom_type_keeps_huge_integers_and_floats_exactly() -> None:
    data = {"big": 10**30, "neg": -(10**30), "f": 1.5e308, "tiny": 5e-324}
    assert parse_event({"type": "x-n", "time": "2025", "data": data}).data == data


def test_retraction_needs_no_subject() -> None:
    d = parse_event({"type": "event.retracted", "time": "2025",
                     "data": {"event": "e-1", "reason": "wrong"}})  # fmt: skip
    assert d.subject is None


def test_the_given_path_prefixes_every_error() -> None:
    assert paths_of(plan(time="soon"), "$.events[3]") == ["$.events[3].time"]


# --- the envelope -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [[], "event", 5, None, True])
def test_an_event_that_is_not_an_object_names_the_root(raw: Any) -> None:
    assert paths_of(raw) == ["$"]


def test_type_and_time_are_required() -> None:
    errs = errors_of({"subject": "plan/x", "data": {}})
    assert {(e.path, e.message) for e in errs} == {("$.type", "required"), ("$.time", "required")}


def test_vocabulary_type_needs_subject_and_data() -> None:
    assert sorted(paths_of({"type": "plan.proposed", "time": "2025"})) == ["$.data", "$.subject"]


def test_unknown_type_is_refused_listing_the_allowed_ones() -> None:
    [err] = errors_of(plan(type="plan.invented"))
    assert err.path == "$.type"
    assert "plan.invented" in err.message
    for allowed in (*VOCABULARY, "x-"):
        assert allowed in err.message
    assert set(VOCABULARY) < set(ALLOWED_TYPES)


@pytest.mark.parametrize("type_", ["x-", "x-\n", "x-a\x7f", "X-note", "x"])
def test_custom_type_needs_a_name_without_control_characters(type_: str) -> None:
    assert paths_of({"type": type_, "time": "2025"}) == ["$.type"]


def test_unknown_attributes_are_each_named_with_the_allowed_ones() -> None:
    errs = errors_of(plan(colour="red", **{"a b": 1}))
    assert [e.path for e in errs] == ["$.colour", '$["a b"]']
    assert all("allowed" in e.message and "subject" in e.message for e in errs)


WRONG_TYPES: list[tuple[str, Any]] = [
    ("specversion", 1.0),
    ("specversion", "0.3"),
    ("specversion", None),
    ("id", 7),
    ("id", ""),
    ("id", "x" * 257),
    ("source", {}),
    ("source", ""),
    ("type", 3),
    ("type", ["plan.proposed"]),
    ("subject", 5),
    ("subject", ["plan/x"]),
    ("time", 20251127),
    ("time", None),
    ("time", "x" * 65),
    ("confidence", "maybe"),
    ("confidence", True),
    ("datacontenttype", "text/plain"),
]


@pytest.mark.parametrize(("name", "value"), WRONG_TYPES)
def test_ill_typed_attribute_is_named(name: str, value: Any) -> None:
    assert f"$.{name}" in paths_of(plan(**{name: value}))


def test_every_ill_typed_attribute_is_named_in_one_answer() -> None:
    raw = {"specversion": 1, "id": [], "source": {}, "type": 3, "subject": 5, "time": 5,
           "confidence": "maybe", "data": "x"}  # fmt: skip
    assert sorted(paths_of(raw)) == sorted(
        f"$.{n}" for n in ("specversion", "id", "source", "type", "subject", "time", "confidence")
    )


@pytest.mark.parametrize("name", ["id", "source"])
def test_control_characters_in_id_and_source_are_refused(name: str) -> None:
    assert paths_of(plan(**{name: "a\nb"})) == [f"$.{name}"]


def test_subject_of_the_wrong_kind_is_named() -> None:
    [err] = errors_of(plan(subject="party/peace"))
    assert err.path == "$.subject"
    assert "plan" in err.message


@pytest.mark.parametrize(
    "subject",
    ["plan/Peace", "plan/", "plan/-peace", "plan/" + "a" * 65, "plan/a_b", "treaty/x", "plan"],
)
def test_bad_slug_is_named(subject: str) -> None:
    assert paths_of(plan(subject=subject)) == ["$.subject"]


def test_longest_slug_is_accepted() -> None:
    assert parse_event(plan(subject="plan/" + "a" * 64)).subject == "plan/" + "a" * 64


def test_null_subject_on_a_vocabulary_type_is_required() -> None:
    [err] = errors_of(plan(subject=None))
    assert (err.path, err.message) == ("$.subject", "required for this type")


@pytest.mark.parametrize("time", ["2025-11-27T14:00:00", "2025-02-30", "2025-13", "", "yesterday"])
def test_bad_time_is_named(time: str) -> None:
    assert paths_of(plan(time=time)) == ["$.time"]


def test_time_past_year_9999_is_a_field_error_not_a_crash() -> None:
    assert paths_of(plan(time="9999-12-31T23:59:59-01:00")) == ["$.time"]


# --- the payload -----------------------------------------------------------------------


def test_missing_payload_field_is_named() -> None:
    [err] = errors_of(plan(data={"title": "T"}))
    assert err.path == "$.data.sponsor"
    assert "missing" in err.message


def test_ill_typed_reference_in_the_payload_is_named() -> None:
    assert paths_of(plan_data(sponsor="Party A")) == ["$.data.sponsor"]


def test_unknown_payload_field_is_named() -> None:
    assert paths_of(plan_data(colour="red")) == ["$.data.colour"]


def test_nested_payload_field_is_named_with_its_index() -> None:
    provisions = [{"id": "1", "text": "ok"}, {"id": "2", "text": 5}]
    assert paths_of(plan_data(provisions=provisions)) == ["$.data.provisions[1].text"]


def test_payload_that_is_not_an_object_is_named() -> None:
    assert paths_of(plan(data="a plan")) == ["$.data"]


def test_string_past_its_limit_is_named() -> None:
    provisions = [{"id": "1", "text": "x" * (MAX_TEXT + 1)}]
    [err] = errors_of(plan_data(provisions=provisions))
    assert err.path == "$.data.provisions[0].text"
    assert str(MAX_TEXT) in err.message


def test_strings_at_their_limit_are_accepted() -> None:
    d = parse_event(plan_data(title="t" * MAX_NAME, summary="s" * MAX_TEXT))
    assert d.payload.title == "t" * MAX_NAME


def test_short_field_past_its_limit_is_named() -> None:
    assert paths_of(plan_data(title="t" * (MAX_NAME + 1))) == ["$.data.title"]


def test_list_past_its_limit_is_named() -> None:
    provisions = [{"id": "1", "text": "x", "issues": ["issue/a"] * (MAX_LIST + 1)}]
    [err] = errors_of(plan_data(provisions=provisions))
    assert err.path == "$.data.provisions[0].issues"
    assert str(MAX_LIST) in err.message


def test_bad_date_inside_data_is_named() -> None:
    raw = {"type": "meeting.scheduled", "subject": "meeting/m", "time": "2025",
           "data": {"title": "Talks", "starts": "soon", "participants": []}}  # fmt: skip
    assert paths_of(raw) == ["$.data.starts"]


def test_bad_published_date_of_a_source_is_named() -> None:
    sources = [{"outlet": "Reuters"}, {"outlet": "AP", "published": "2025-02-30"}]
    assert paths_of(plan_data(sources=sources)) == ["$.data.sources[1].published"]


def test_bad_replacement_time_of_a_correction_is_named() -> None:
    raw = {"type": "event.corrected", "time": "2025",
           "data": {"event": "e-1", "data": {}, "time": "later"}}  # fmt: skip
    assert paths_of(raw) == ["$.data.time"]


# --- hostile input -----------------------------------------------------------------------


def test_nul_in_an_attribute_is_named() -> None:
    [err] = errors_of(plan(id="e\x001"))
    assert err.path == "$.id"
    assert "NUL" in err.message


def test_nul_in_a_nested_value_is_named() -> None:
    provisions = [{"id": "1", "text": "a\x00b"}]
    assert paths_of(plan_data(provisions=provisions)) == ["$.data.provisions[0].text"]


def test_nul_in_an_envelope_key_is_named() -> None:
    [err] = errors_of(plan(**{"a\x00b": 1}))
    assert err.path == '$["a\\u0000b"]'
    assert "key" in err.message and "NUL" in err.message


def test_nul_in_a_nested_data_key_is_named() -> None:
    raw = {"type": "x-note", "time": "2025", "data": {"a b": [{"\x00": 1}]}}
    [err] = errors_of(raw)
    assert err.path == '$.data["a b"][0]["\\u0000"]'
    assert "key" in err.message


def test_lone_surrogate_in_a_value_is_named() -> None:
    raw = {"type": "x-note", "time": "2025", "data": {"a": ["ok", "\ud800"]}}
    [err] = errors_of(raw)
    assert err.path == "$.data.a[1]"
    assert "surrogate" in err.message


def test_lone_surrogate_in_a_key_is_named_without_crashing() -> None:
    raw = {"type": "x-note", "time": "2025", "data": {"\ud800": 1}}
    [err] = errors_of(raw)
    assert err.path.startswith("$.data[")
    err.path.encode("utf-8")  # the path itself must be sendable
    assert "surrogate" in err.message


def test_nesting_deeper_than_the_limit_is_named() -> None:
    data: Any = "leaf"
    for _ in range(40):
        data = {"a": data}
    [err] = errors_of({"type": "x-deep", "time": "2025", "data": data})
    assert err.path.startswith("$.data.a.a")
    assert str(MAX_DEPTH) in err.message


def test_nesting_at_the_limit_is_accepted() -> None:
    data: Any = 1
    for _ in range(MAX_DEPTH - 1):  # the event object itself is one level
        data = [data]
    assert parse_event({"type": "x-deep", "time": "2025", "data": data}).data == data


def test_scan_finds_nothing_in_clean_values() -> None:
    assert scan({"a": [1, 2.5, None, True, "ok", {"b": "é"}]}) is None


# --- the fast path (one msgspec step) accepts and refuses exactly as the walk ---------

# One valid event of every vocabulary type, plus custom ones.
VALID_EVENTS: list[dict[str, Any]] = [
    {"type": "party.registered", "subject": "party/us", "time": "2025",
     "data": {"name": "US", "kind": "state", "aliases": ["USA"], "member_of": "party/un"}},
    plan(),
    plan_data(provisions=[{"id": "1", "text": "ceasefire", "issues": ["issue/a"]}], points=1),
    {"type": "plan.revised", "subject": "plan/peace", "time": "2025-11-21T10:00:00Z",
     "data": {"by": "party/us", "provisions_removed": ["1"]}},
    {"type": "plan.classified", "subject": "plan/peace", "time": "2025-11",
     "data": {"ordered_by": "party/us", "withheld_from": ["party/eu"]}},
    {"type": "plan.declassified", "subject": "plan/peace", "time": "2025~",
     "data": {"by": "party/us"}},
    {"type": "plan.presented", "subject": "plan/peace", "time": "2025-11-22?",
     "data": {"by": "party/us", "to": ["party/ua"], "meeting": "meeting/m"}},
    {"type": "plan.superseded", "subject": "plan/peace", "time": "2025",
     "data": {"by_plan": "plan/other"}},
    {"type": "position.stated", "subject": "party/ua", "time": "2025-11-23",
     "confidence": "reported", "id": "e-1", "source": "urn:feed",
     "data": {"on": "plan/peace", "stance": "supports", "conditions": ["x"],
              "sources": [{"outlet": "Wire", "published": "2025-11-23T08:00:00+02:00"}]}},
    {"type": "meeting.scheduled", "subject": "meeting/m", "time": "2025",
     "data": {"title": "Talks", "starts": "2025-12-01", "participants": ["party/us"]}},
    {"type": "meeting.rescheduled", "subject": "meeting/m", "time": "2025",
     "data": {"starts": "2025-12-02"}},
    {"type": "meeting.held", "subject": "meeting/m", "time": "2025", "data": {}},
    {"type": "meeting.cancelled", "subject": "meeting/m", "time": "2025", "data": {"reason": "r"}},
    {"type": "event.retracted", "time": "2025", "data": {"event": "e-1", "reason": "wrong"}},
    {"type": "event.corrected", "subject": "party/ua", "time": "2025",
     "data": {"event": "e-1", "data": {"on": "plan/peace", "stance": "opposes"},
              "time": "2025-11", "confidence": "disputed"}},
    {"type": "x-note", "time": "2025", "data": [1, {"a": None}]},
    {"type": "x-bare", "time": "2025", "specversion": "1.0", "subject": None,
     "datacontenttype": "application/json"},
]  # fmt: skip

# Values every attribute is tried with: wrong JSON types, empty, too long, control
# characters, null, and texts that are valid for some attributes and not others.
ODD_VALUES: list[Any] = [
    None, 0, 1.5, True, [], {}, "", "x", "x-", "x-\n", "a\x01b", "1.0", "2.0", "2025",
    "2025-13-01", "2025-11-20T10:00:00", "2025-11-20T10:00:60Z", "party/us", "plan/peace",
    "party/Bad", "party/us\n", "meeting/m", "reported", "Confirmed", "application/json",
    "text/plain", "plan.proposed", "event.retracted", "unknown.type", "y" * 129, "y" * 257,
    "2025-11-20T10:00:00.1234567Z", "  ",
]  # fmt: skip
ATTRIBUTES = sorted(ENVELOPE_FIELDS | {"extra", "Type"})


def _same(raw: dict[str, Any]) -> None:
    """parse_event (fast path first) and the walk alone agree on raw."""
    try:
        walked: Draft | list[FieldError] = _walk(raw, "line 3")
    except InvalidEvent as e:
        walked = e.errors
    try:
        parsed: Draft | list[FieldError] = parse_event(raw, "line 3")
    except InvalidEvent as e:
        parsed = e.errors
    if isinstance(walked, Draft) and isinstance(parsed, Draft) and not walked.id_given:
        parsed = msgspec.structs.replace(parsed, id=walked.id)  # a fresh UUIDv7 each
    assert parsed == walked, raw


@pytest.mark.parametrize("raw", VALID_EVENTS, ids=lambda r: r["type"])
def test_fast_path_takes_valid_events_as_the_walk_does(raw: dict[str, Any]) -> None:
    assert _fast(raw, "$") is not None  # the fast path did take it
    _same(raw)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_fast_path_refuses_odd_attributes_as_the_walk_does(attribute: str) -> None:
    for base in VALID_EVENTS:
        _same({k: v for k, v in base.items() if k != attribute})  # missing
        for value in ODD_VALUES:
            _same({**base, attribute: value})


def test_fast_path_refuses_odd_payload_fields_as_the_walk_does() -> None:
    for base in VALID_EVENTS:
        data = base.get("data")
        if not isinstance(data, dict):
            continue
        for key in [*data, "extra", "sources", "quote", "starts", "time", "published"]:
            _same({**base, "data": {k: v for k, v in data.items() if k != key}})
            for value in ODD_VALUES:
                _same({**base, "data": {**data, key: value}})


def test_fast_path_names_the_same_fields_as_before() -> None:
    # (regression: the error paths of a bad line are the walk's, word for word)
    raw = {**plan_data(points=-1), "time": "2025-02-30", "id": ""}
    assert paths_of(raw, "line 3") == ["line 3.id", "line 3.time", "line 3.data.points"]
