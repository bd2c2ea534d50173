"""A fold's draft: changed in place, while the state it started from never changes."""

from __future__ import annotations

from projections.meeting import MeetingState, Reschedule
from projections.party import PartyState
from projections.provenance import Draft, Fact, StanceJSON

FACT = Fact(event="e1", time="2025-01-01T00:00:00Z", confidence="confirmed")
ONE, TWO = StanceJSON(b"1"), StanceJSON(b"2")
LATER = Fact(event="e2", time="2025-02-01T00:00:00Z", confidence="reported")


def test_the_state_a_draft_starts_from_never_changes() -> None:
    given = PartyState(id="party/a", meetings=["meeting/m"], positions={"issue/x": ONE})
    draft = Draft(given)
    draft.add("meetings", "meeting/n")
    draft.put("positions", "issue/y", TWO)
    draft.set(FACT, "name", "A")
    draft.cite(FACT, "meetings")
    assert given == PartyState(id="party/a", meetings=["meeting/m"], positions={"issue/x": ONE})
    assert draft.state.meetings == ["meeting/m", "meeting/n"]
    assert draft.state.positions == {"issue/x": ONE, "issue/y": TWO}
    assert draft.state.facts == {"name": FACT, "meetings": FACT}


def test_a_list_is_copied_once_then_grown_in_place() -> None:
    draft = Draft(PartyState(id="party/a", meetings=["meeting/m"]))
    draft.add("meetings", "meeting/n")
    grown = draft.state.meetings
    draft.add("meetings", "meeting/o")
    assert draft.state.meetings is grown == ["meeting/m", "meeting/n", "meeting/o"]


def test_a_state_a_fold_left_is_copied_by_the_next_fold() -> None:
    first = Draft(MeetingState(id="meeting/m"))
    first.push("reschedules", Reschedule(starts="a", location=None, event="e1", time="t"))
    earlier = first.state
    second = Draft(earlier)
    second.push("reschedules", Reschedule(starts="b", location=None, event="e2", time="t"))
    second.cite(LATER, "reschedules")
    assert [r.starts for r in earlier.reschedules] == ["a"]
    assert [r.starts for r in second.state.reschedules] == ["a", "b"]
    assert earlier.facts == {}


def test_each_item_is_added_once_even_when_given_twice() -> None:
    draft = Draft(PartyState(id="party/a"))
    assert draft.add("meetings", "meeting/m", "meeting/m")
    assert not draft.add("meetings", "meeting/m")
    assert draft.state.meetings == ["meeting/m"]


def test_a_list_pushed_to_and_added_to_still_holds_each_added_item_once() -> None:
    draft = Draft(PartyState(id="party/a"))
    draft.push("meetings", "meeting/a")
    draft.add("meetings", "meeting/a", "meeting/b")
    draft.push("meetings", "meeting/c")
    draft.add("meetings", "meeting/c", "meeting/d")
    assert draft.state.meetings == ["meeting/a", "meeting/b", "meeting/c", "meeting/d"]


def test_a_list_set_anew_is_the_one_later_items_are_added_to() -> None:
    draft = Draft(PartyState(id="party/a"))
    draft.add("aliases", "A")
    given = ["B"]
    draft.set(FACT, "aliases", given)
    draft.add("aliases", "A", "B")
    assert draft.state.aliases == ["B", "A"]
    assert given == ["B"]
