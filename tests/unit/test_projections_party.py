"""Party folds: Given events, When folded, Then the party's state."""

from __future__ import annotations

from projections import Fact, PartyState, Stance, project, stance_fields
from tests.unit._builders import Log


def party(log: Log, subject: str) -> PartyState:
    state = project(subject, log.events, at=None)
    assert isinstance(state, PartyState)
    return state


def test_registration_sets_identity_with_provenance() -> None:
    log = Log()
    reg = log.add(
        "party.registered",
        "party/witkoff",
        "2025-11-01",
        {
            "name": "Steve Witkoff",
            "kind": "person",
            "member_of": "party/us",
            "role": "Special Envoy",
            "aliases": ["Witkoff"],
        },
        confidence="reported",
    )

    state = party(log, "party/witkoff")

    assert (state.name, state.kind, state.member_of, state.role, state.aliases) == (
        "Steve Witkoff",
        "person",
        "party/us",
        "Special Envoy",
        ["Witkoff"],
    )
    assert state.facts["name"] == Fact(
        event=reg.id, time="2025-11-01T00:00:00Z", confidence="reported"
    )
    assert set(state.facts) == {"name", "kind", "member_of", "role", "aliases"}


def test_reregistration_replaces_identity() -> None:
    log = Log()
    log.add(
        "party.registered", "party/a", "2025-11-01", {"name": "A", "kind": "other", "role": "x"}
    )
    again = log.add("party.registered", "party/a", "2025-11-02", {"name": "Alpha", "kind": "state"})

    state = party(log, "party/a")

    assert (state.name, state.kind, state.role) == ("Alpha", "state", None)
    assert state.facts["role"].event == again.id


def test_members_are_parties_registered_as_member_of_it_sorted() -> None:
    log = Log()
    log.add("party.registered", "party/eu", "2025-01-01", {"name": "EU", "kind": "organization"})
    log.add(
        "party.registered",
        "party/germany",
        "2025-01-02",
        {"name": "Germany", "kind": "state", "member_of": "party/eu"},
    )
    last = log.add(
        "party.registered",
        "party/france",
        "2025-01-03",
        {"name": "France", "kind": "state", "member_of": "party/eu"},
    )

    state = party(log, "party/eu")

    assert state.members == ["party/france", "party/germany"]
    assert state.facts["members"].event == last.id


def test_member_registration_does_not_touch_the_members_identity_fields_of_the_group() -> None:
    log = Log()
    log.add(
        "party.registered",
        "party/germany",
        "2025-01-02",
        {"name": "Germany", "kind": "state", "member_of": "party/eu"},
    )

    state = party(log, "party/eu")

    assert (state.name, state.kind, state.members) == (None, None, ["party/germany"])


def test_position_stated_records_a_stance_on_the_plan_or_issue() -> None:
    log = Log()
    said = log.add(
        "position.stated",
        "party/ukraine",
        "2025-11-21T18:00:00Z",
        {
            "on": "issue/donbas",
            "stance": "rejects",
            "summary": "No withdrawal",
            "conditions": ["ceasefire first"],
            "speaker": "party/zelensky",
        },
        confidence="reported",
    )

    state = party(log, "party/ukraine")

    assert {k: stance_fields(v) for k, v in state.positions.items()} == {
        "issue/donbas": Stance(
            stance="rejects",
            summary="No withdrawal",
            conditions=["ceasefire first"],
            speaker="party/zelensky",
            since="2025-11-21T18:00:00Z",
            event=said.id,
            confidence="reported",
        )
    }


def test_latest_position_in_valid_time_wins_whatever_the_recording_order() -> None:
    log = Log()
    log.add(
        "position.stated", "party/ukraine", "2025-11-25", {"on": "plan/p", "stance": "considering"}
    )
    log.add("position.stated", "party/ukraine", "2025-11-21", {"on": "plan/p", "stance": "rejects"})

    assert stance_fields(party(log, "party/ukraine").positions["plan/p"]).stance == "considering"


def test_speaker_gets_a_state_but_not_the_position() -> None:
    log = Log()
    log.add(
        "position.stated",
        "party/ukraine",
        "2025-11-21",
        {"on": "plan/p", "stance": "rejects", "speaker": "party/zelensky"},
    )

    state = party(log, "party/zelensky")

    assert state.positions == {}
    assert state.name is None


def test_sponsored_plans_in_valid_time_order() -> None:
    log = Log()
    log.add("plan.proposed", "plan/b", "2025-11-02", {"title": "B", "sponsor": "party/us"})
    log.add("plan.proposed", "plan/a", "2025-11-01", {"title": "A", "sponsor": "party/us"})
    log.add("plan.proposed", "plan/c", "2025-11-03", {"title": "C", "sponsor": "party/eu"})

    assert party(log, "party/us").sponsored_plans == ["plan/a", "plan/b"]


def test_meetings_listing_the_party_as_participant() -> None:
    log = Log()
    log.add(
        "meeting.scheduled",
        "meeting/geneva",
        "2025-11-20",
        {"title": "Geneva", "starts": "2025-11-23", "participants": ["party/us", "party/ukraine"]},
    )
    log.add(
        "meeting.held",
        "meeting/abu-dhabi",
        "2025-11-25",
        {"participants": ["party/us", "party/russia"]},
    )
    held = log.add("meeting.held", "meeting/geneva", "2025-11-23", {"participants": ["party/us"]})
    log.add("meeting.held", "meeting/other", "2025-11-26", {"outcome": "none"})

    state = party(log, "party/us")

    assert state.meetings == ["meeting/geneva", "meeting/abu-dhabi"]
    assert party(log, "party/russia").meetings == ["meeting/abu-dhabi"]
    assert state.facts["meetings"].event != held.id  # unchanged list, provenance kept


def test_unrelated_event_leaves_the_party_as_it_was() -> None:
    log = Log()
    log.add("plan.presented", "plan/p", "2025-11-20", {"by": "party/us", "to": ["party/ukraine"]})

    state = party(log, "party/ukraine")

    assert state == PartyState(id="party/ukraine")
