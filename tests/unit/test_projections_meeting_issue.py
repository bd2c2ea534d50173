"""Meeting and issue folds: Given events, When folded, Then the state."""

from __future__ import annotations

from typing import Any

from projections import IssueState, MeetingState, Reschedule, project, stance_fields
from tests.unit._builders import Log

GENEVA: dict[str, Any] = {
    "title": "Geneva talks",
    "starts": "2025-11-23",
    "location": "Geneva",
    "participants": ["party/us", "party/ukraine"],
    "agenda": ["plan/p", "issue/donbas"],
}


def meeting(log: Log, subject: str = "meeting/geneva") -> MeetingState:
    state = project(subject, log.events, at=None)
    assert isinstance(state, MeetingState)
    return state


def issue(log: Log, subject: str = "issue/donbas") -> IssueState:
    state = project(subject, log.events, at=None)
    assert isinstance(state, IssueState)
    return state


def test_scheduling_sets_title_start_as_given_place_people_agenda() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)

    state = meeting(log)

    assert (state.title, state.starts, state.location, state.status) == (
        "Geneva talks",
        "2025-11-23",
        "Geneva",
        "scheduled",
    )
    assert state.participants == ["party/us", "party/ukraine"]
    assert state.agenda == ["plan/p", "issue/donbas"]
    assert state.facts["starts"].event == "e1"


def test_rescheduling_moves_the_start_and_keeps_the_place_unless_given() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)
    log.add(
        "meeting.rescheduled",
        "meeting/geneva",
        "2025-11-22",
        {"starts": "2025-11-24T10:00:00+01:00"},
    )
    log.add(
        "meeting.rescheduled",
        "meeting/geneva",
        "2025-11-23",
        {"starts": "2025-11-30", "location": "Abu Dhabi"},
    )

    state = meeting(log)

    assert (state.starts, state.location, state.status) == ("2025-11-30", "Abu Dhabi", "scheduled")
    assert state.reschedules == [
        Reschedule(
            starts="2025-11-24T10:00:00+01:00",
            location=None,
            event="e2",
            time="2025-11-22T00:00:00Z",
        ),
        Reschedule(
            starts="2025-11-30", location="Abu Dhabi", event="e3", time="2025-11-23T00:00:00Z"
        ),
    ]


def test_holding_sets_outcome_and_replaces_participants() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)
    log.add(
        "meeting.held",
        "meeting/geneva",
        "2025-11-23",
        {"outcome": "Updated framework", "participants": ["party/us", "party/ukraine", "party/eu"]},
    )

    state = meeting(log)

    assert (state.status, state.outcome) == ("held", "Updated framework")
    assert state.participants == ["party/us", "party/ukraine", "party/eu"]


def test_holding_without_participants_keeps_the_scheduled_ones() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)
    log.add("meeting.held", "meeting/geneva", "2025-11-23", {})

    state = meeting(log)

    assert (state.status, state.outcome, state.participants) == (
        "held",
        None,
        ["party/us", "party/ukraine"],
    )


def test_cancellation_records_the_reason() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)
    log.add("meeting.cancelled", "meeting/geneva", "2025-11-22", {"reason": "Talks collapsed"})

    state = meeting(log)

    assert (state.status, state.cancel_reason) == ("cancelled", "Talks collapsed")


def test_plans_presented_at_the_meeting_are_listed_once() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)
    for day, plan in (("2025-11-23", "plan/p"), ("2025-11-23", "plan/q"), ("2025-11-24", "plan/p")):
        log.add(
            "plan.presented",
            plan,
            day,
            {"by": "party/us", "to": ["party/ukraine"], "meeting": "meeting/geneva"},
        )
    log.add("plan.presented", "plan/r", "2025-11-24", {"by": "party/us", "to": ["party/ukraine"]})

    assert meeting(log).plans_presented == ["plan/p", "plan/q"]


def test_meeting_only_rescheduled_counts_as_scheduled() -> None:
    log = Log()
    log.add("meeting.rescheduled", "meeting/geneva", "2025-11-22", {"starts": "2025-11-24"})

    assert (meeting(log).status, meeting(log).title) == ("scheduled", None)


def test_issue_collects_stances_of_parties() -> None:
    log = Log()
    log.add(
        "position.stated", "party/russia", "2025-11-20", {"on": "issue/donbas", "stance": "demands"}
    )
    log.add(
        "position.stated",
        "party/ukraine",
        "2025-11-21",
        {"on": "issue/donbas", "stance": "rejects"},
    )
    log.add(
        "position.stated", "party/ukraine", "2025-11-22", {"on": "issue/nato", "stance": "demands"}
    )

    state = issue(log)

    assert {k: stance_fields(s).stance for k, s in state.stances.items()} == {
        "party/russia": "demands",
        "party/ukraine": "rejects",
    }
    assert stance_fields(state.stances["party/ukraine"]).since == "2025-11-21T00:00:00Z"


def test_issue_lists_plans_whose_provisions_address_it() -> None:
    log = Log()
    log.add(
        "plan.proposed",
        "plan/p",
        "2025-11-19",
        {
            "title": "P",
            "sponsor": "party/us",
            "provisions": [{"id": "1", "text": "t", "issues": ["issue/donbas"]}],
        },
    )
    log.add(
        "plan.proposed",
        "plan/q",
        "2025-11-20",
        {"title": "Q", "sponsor": "party/eu", "summary": "mentions issue/donbas in passing"},
    )
    log.add(
        "plan.revised",
        "plan/q",
        "2025-11-21",
        {"provisions_added": [{"id": "9", "text": "t", "issues": ["issue/donbas"]}]},
    )
    log.add("plan.revised", "plan/p", "2025-11-22", {"provisions_removed": ["1"]})

    state = issue(log)

    assert state.plans == ["plan/p", "plan/q"]
    assert state.facts["plans"].event == "e3"


def test_issue_on_an_agenda_only_exists_with_nothing_known() -> None:
    log = Log()
    log.add("meeting.scheduled", "meeting/geneva", "2025-11-21", GENEVA)

    assert issue(log) == IssueState(id="issue/donbas")
