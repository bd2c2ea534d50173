"""What the projector records for the timeline when retractions and corrections arrive."""

from __future__ import annotations

from events.timeparse import parse_time
from events.vocabulary import CONFIDENCE_RANK
from queries.model_writes import Hidden, Restated
from queries.projector import Changes
from tests.unit._builders import Log


def applied(log: Log) -> Changes:
    """One batch: each retraction or correction applied to everything recorded before it."""
    changes = Changes()
    for e in log.events:
        if e.type.startswith("event."):
            changes.believe(e, [f for f in log.events if f.sequence <= e.sequence])
    return changes


def test_a_retraction_hides_and_its_retraction_shows_again() -> None:
    log = Log()
    note = log.add("x-note", "party/russia", "2025-11-02")
    gone = log.retract(note)
    log.retract(gone)
    t = applied(log).timeline
    assert t.hidden == [Hidden(note.sequence, 2, 3)]  # closed in the batch that opened it
    assert t.restated == [] and t.unhidden == [] and t.unrestated == []


def test_a_correction_hides_the_stored_event_and_restates_it_for_each_subject() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-20", {"title": "P", "sponsor": "party/a"})
    fix = log.correct(
        plan, {"title": "P", "sponsor": "party/b"}, time="2025-11-19", confidence="reported"
    )
    t = applied(log).timeline
    assert t.hidden == [Hidden(plan.sequence, fix.sequence, None)]
    start = parse_time("2025-11-19").start
    rank = CONFIDENCE_RANK["reported"]
    assert t.restated == [
        Restated(s, start, plan.sequence, fix.sequence, fix.sequence, None, rank)
        for s in ("", "party/b", "plan/p")  # the corrected data decides: party/a is gone
    ]


def test_a_retracted_correction_shows_the_stored_event_again() -> None:
    log = Log()
    note = log.add("x-note", None, "2025-11-02", {"text": "a"})
    fix = log.correct(note, {"text": "b"})
    undo = log.retract(fix)
    t = applied(log).timeline
    assert t.hidden == [Hidden(note.sequence, fix.sequence, undo.sequence)]
    assert t.restated == [Restated("", note.time, 1, fix.sequence, 2, undo.sequence, 3)]


def test_an_event_recorded_under_a_retracted_id_is_hidden_from_its_own_sequence() -> None:
    log = Log()
    first = log.add("x-note", None, "2025-11-02", id_="n")
    log.retract(first)
    again = log.add("x-note", None, "2025-11-03", id_="n")  # another source reuses the id
    changes = Changes()
    changes.believe(log.events[1], log.events[:2])
    changes.believe(again, log.events)
    assert changes.timeline.hidden == [Hidden(1, 2, None), Hidden(again.sequence, 3, None)]
