"""Diffs between two sets of states: which field of which subject changed, and why."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from projections import Change, diff, project_all, stance_fields, subject_changes
from tests.unit._builders import Log, until


def story() -> Log:
    log = Log()
    log.add(
        "plan.proposed",
        "plan/p",
        "2025-11-19",
        {"title": "28-point plan", "sponsor": "party/us", "points": 28},
    )
    log.add("position.stated", "party/ukraine", "2025-11-20", {"on": "plan/p", "stance": "rejects"})
    log.add("plan.revised", "plan/p", "2025-11-23", {"points": 19}, confidence="reported")
    log.add(
        "position.stated", "party/ukraine", "2025-11-24", {"on": "plan/p", "stance": "considering"}
    )
    log.add("position.stated", "party/eu", "2025-11-24", {"on": "plan/p", "stance": "supports"})
    return log


def between(log: Log, start: str, end: str) -> list[Change]:
    return diff(project_all(log.events, at=until(start)), project_all(log.events, at=until(end)))


def test_identical_states_have_no_changes() -> None:
    log = story()

    assert between(log, "2025-11-30", "2025-11-30") == []


def test_changed_field_names_before_after_and_the_event_that_set_it() -> None:
    changes = between(story(), "2025-11-20", "2025-11-23")

    points = next(c for c in changes if (c.subject, c.field) == ("plan/p", "points"))
    assert points == Change(
        subject="plan/p",
        field="points",
        before=28,
        after=19,
        event="e3",
        time="2025-11-23T00:00:00Z",
        confidence="reported",
    )
    assert [c.field for c in changes if c.subject == "plan/p"] == ["history", "points", "revision"]


def test_dict_fields_are_compared_per_entry() -> None:
    changes = between(story(), "2025-11-23", "2025-11-24")

    plan = [c for c in changes if c.subject == "plan/p"]
    assert [c.field for c in plan] == ["stances.party/eu", "stances.party/ukraine"]
    eu, ukraine = plan
    assert eu.before is None
    assert stance_fields(eu.after).stance == "supports"
    assert (stance_fields(ukraine.before).stance, stance_fields(ukraine.after).stance) == (
        "rejects",
        "considering",
    )
    assert (ukraine.event, ukraine.time, ukraine.confidence) == (
        "e4",
        "2025-11-24T00:00:00Z",
        "confirmed",
    )


def test_changes_are_ordered_by_subject_then_field() -> None:
    changes = between(story(), "2025-11-01", "2025-11-30")

    keys = [(c.subject, c.field) for c in changes]
    assert keys == sorted(keys)
    assert {c.subject for c in changes} == {"party/eu", "party/ukraine", "party/us", "plan/p"}


def test_new_subject_shows_only_the_fields_it_has_set() -> None:
    changes = between(story(), "2025-11-01", "2025-11-19")

    assert [(c.subject, c.field) for c in changes] == [
        ("party/us", "sponsored_plans"),
        ("plan/p", "history"),
        ("plan/p", "kind"),
        ("plan/p", "points"),
        ("plan/p", "sponsor"),
        ("plan/p", "status"),
        ("plan/p", "title"),
    ]
    assert all(c.before is None and c.event == "e1" for c in changes)
    assert changes[3].after == 28


def test_vanished_subject_has_none_after_and_no_provenance() -> None:
    log = story()

    changes = diff(project_all(log.events, at=None), {})

    assert changes
    assert all(c.after is None and c.event is None and c.time is None for c in changes)
    assert all(c.before not in (None, [], {}) for c in changes if "." not in c.field)


def _apart(state: Any) -> tuple[Any, dict[str, bytes]]:
    """A state without its dict fields, and their entries as the read model holds them:
    register values (a stance's JSON) by key, `field/entry`."""
    if state is None:
        return None, {}
    fields = {n: getattr(state, n) for n in state.__struct_fields__ if n != "facts"}
    dicts = {n: v for n, v in fields.items() if isinstance(v, dict)}
    registers = {f"{n}/{k}": bytes(v) for n, d in dicts.items() for k, v in d.items()}
    return msgspec.structs.replace(state, **{n: {} for n in dicts}), registers


def test_registers_compared_as_read_change_as_the_dict_fields_they_fill() -> None:
    """A diff compares a subject's registers as the read model holds them, without
    building the dict fields they fill: the same changes, in the same order, as from the
    states holding them (entries added, changed, unchanged, and removed when the diff runs
    backwards in time), each value checked to be JSON."""
    log = story()
    log.add(
        "position.stated", "party/eu", "2025-11-25", {"on": "issue/crimea", "stance": "rejects"}
    )
    log.add("position.stated", "party/eu", "2025-11-26", {"on": "plan/p", "stance": "supports"})
    dates = ["2025-11-01", "2025-11-20", "2025-11-24", "2025-11-30"]
    seen = 0
    for start, end in itertools.permutations(dates, 2):
        old, new = (project_all(log.events, at=until(d)) for d in (start, end))
        for subject in sorted(old.keys() | new.keys()):
            b, a = old.get(subject), new.get(subject)
            (b_, was), (a_, now) = _apart(b), _apart(a)
            expected = subject_changes(subject, b, a)
            assert subject_changes(subject, b_, a_, (was, now)) == expected, (start, end)
            seen += sum("." in c.field for c in expected)
    assert seen > 10  # entries among the changes, in both directions
    b, _ = _apart(project_all(log.events, at=until("2025-11-20"))["plan/p"])
    with pytest.raises(msgspec.DecodeError):
        subject_changes("plan/p", b, b, ({"stances/party/eu": b"{"}, {"stances/party/eu": b"1"}))
