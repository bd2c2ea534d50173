"""The fold runner: kinds, concerns, fold, fold_all, project and project_all."""

from __future__ import annotations

import gc

import pytest

from projections import (
    IssueState,
    MeetingState,
    PartyState,
    PlanState,
    concerns,
    effective,
    fold,
    fold_all,
    initial,
    kind_of,
    project,
    project_all,
)
from tests.unit._builders import Log, until


def story() -> Log:
    log = Log()
    log.add(
        "party.registered", "party/us", "2025-01-20", {"name": "United States", "kind": "state"}
    )
    log.add(
        "plan.proposed",
        "plan/p",
        "2025-11-19",
        {
            "title": "28-point plan",
            "sponsor": "party/us",
            "provisions": [{"id": "21", "text": "t", "issues": ["issue/donbas"]}],
        },
    )
    log.add(
        "meeting.scheduled",
        "meeting/geneva",
        "2025-11-21",
        {"title": "Geneva", "starts": "2025-11-23", "participants": ["party/us", "party/ukraine"]},
    )
    log.add(
        "position.stated", "party/ukraine", "2025-11-22", {"on": "plan/p", "stance": "considering"}
    )
    log.add("x-note", "party/us", "2025-11-22", {"text": "about plan/p"})
    return log


def test_kind_of_reads_the_prefix_of_a_subject_id() -> None:
    assert [kind_of(s) for s in ("party/a", "plan/b", "meeting/c", "issue/d")] == [
        "party",
        "plan",
        "meeting",
        "issue",
    ]
    with pytest.raises(ValueError):
        kind_of("treaty/x")


def test_initial_state_matches_the_kind() -> None:
    assert isinstance(initial("party/a"), PartyState)
    assert isinstance(initial("plan/a"), PlanState)
    assert isinstance(initial("meeting/a"), MeetingState)
    assert isinstance(initial("issue/a"), IssueState)


def test_an_event_concerns_its_subject_and_every_subject_in_its_data() -> None:
    log = story()

    assert concerns(log.events[1]) == {"plan/p", "party/us", "issue/donbas"}
    assert concerns(log.events[3]) == {"party/ukraine", "plan/p"}


def test_fold_returns_none_when_nothing_concerns_the_subject() -> None:
    assert fold("plan/nothing", story().events) is None


def test_fold_skips_events_not_concerning_the_subject_and_meta_or_custom_ones() -> None:
    log = story()
    log.retract(log.events[0])

    state = fold("party/us", log.events)

    assert isinstance(state, PartyState)
    assert state.name == "United States"  # the raw retraction is not applied by fold
    assert state.sponsored_plans == ["plan/p"]


def test_fold_continues_from_a_given_state() -> None:
    events = story().events
    head = fold("party/us", events[:2])

    assert fold("party/us", events[2:], head) == fold("party/us", events)
    assert fold("party/us", [], head) is head


def test_fold_all_gives_every_concerned_subject_sorted_by_id() -> None:
    states = fold_all(effective(story().events, at=None))

    assert list(states) == ["issue/donbas", "meeting/geneva", "party/ukraine", "party/us", "plan/p"]
    for subject, state in states.items():
        assert state == fold(subject, effective(story().events, at=None))


def test_project_applies_retractions_before_folding() -> None:
    log = story()
    log.retract(log.events[1])

    state = project("party/us", log.events, at=None)

    assert isinstance(state, PartyState)
    assert state.sponsored_plans == []
    assert project("issue/donbas", log.events, at=None) is None


def test_project_all_at_a_date_shows_only_what_had_happened() -> None:
    states = project_all(story().events, at=until("2025-11-20"))

    assert set(states) == {"party/us", "plan/p", "issue/donbas"}


def test_project_all_at_min_confidence() -> None:
    log = Log()
    log.add(
        "party.registered",
        "party/a",
        "2025-01-01",
        {"name": "A", "kind": "state"},
        confidence="unconfirmed",
    )

    assert project_all(log.events, at=None, min_confidence="reported") == {}
    assert list(project_all(log.events, at=None)) == ["party/a"]


def test_a_state_is_left_out_of_the_cyclic_garbage_collector() -> None:
    # A tree of values: nothing in it can be part of a cycle, and a page holds many.
    for state in fold_all(effective(story().events, at=None)).values():
        assert not gc.is_tracked(state)
        for entry in [*state.facts.values(), *getattr(state, "positions", {}).values()]:
            assert not gc.is_tracked(entry)
