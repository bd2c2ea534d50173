"""What counts: retractions, corrections, confidence and valid time (projections.knowledge)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events.vocabulary import PartyRegistered, PlanProposed, Recorded
from projections.knowledge import effective
from tests.unit._builders import Log, until

PLAN = {"title": "28-point plan", "sponsor": "party/us", "points": 28}


def ids(events: list[Recorded]) -> list[str]:
    return [e.id for e in events]


def test_events_come_out_in_valid_time_order_then_sequence() -> None:
    log = Log()
    late = log.add("party.registered", "party/a", "2025-11-03", {"name": "A", "kind": "state"})
    tie_1 = log.add("party.registered", "party/b", "2025-11-01", {"name": "B", "kind": "state"})
    tie_2 = log.add("party.registered", "party/c", "2025-11-01", {"name": "C", "kind": "state"})

    result = effective(reversed(log.events), at=None)

    assert ids(result) == [tie_1.id, tie_2.id, late.id]


def test_reduced_precision_time_counts_at_the_start_of_its_interval() -> None:
    log = Log()
    day = log.add(
        "party.registered", "party/a", "2025-11-01T09:00:00Z", {"name": "A", "kind": "state"}
    )
    month = log.add("party.registered", "party/b", "2025-11~", {"name": "B", "kind": "state"})

    result = effective(log.events, at=None)

    assert ids(result) == [month.id, day.id]


def test_meta_and_custom_events_never_come_out() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.add("x-note", "plan/p", "2025-11-02", {"text": "aside"})
    log.correct(plan, {**PLAN, "points": 27})

    result = effective(log.events, at=None)

    assert ids(result) == [plan.id]


def test_retracted_event_counts_nowhere_whatever_the_at() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.retract(plan, time="2025-12-01")

    assert effective(log.events, at=until("2025-11-15")) == []
    assert effective(log.events, at=None) == []


def test_retraction_of_an_unknown_event_is_ignored() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.add("event.retracted", "plan/p", "2025-11-02", {"event": "nope", "reason": "?"})

    assert ids(effective(log.events, at=None)) == [plan.id]


def test_retraction_not_yet_known_does_not_apply() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.retract(plan)
    known_at_1 = [e for e in log.events if e.sequence <= 1]

    assert ids(effective(known_at_1, at=None)) == [plan.id]


def test_retracting_a_retraction_restores_its_target() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    mistake = log.retract(plan)
    log.retract(mistake)

    assert ids(effective(log.events, at=None)) == [plan.id]


def test_retracting_a_correction_undoes_it() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    fix = log.correct(plan, {**PLAN, "points": 19})
    log.retract(fix)

    (result,) = effective(log.events, at=None)

    assert isinstance(result.data, PlanProposed)
    assert result.data.points == 28


def test_correction_replaces_data_and_keeps_id_and_sequence() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.correct(plan, {**PLAN, "points": 19, "title": "19-point plan"})

    (result,) = effective(log.events, at=None)

    assert result.data == PlanProposed(title="19-point plan", sponsor="party/us", points=19)
    assert (result.id, result.sequence, result.time) == (plan.id, plan.sequence, plan.time)


def test_correction_replaces_time_with_its_precision_and_qualifier() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-20T10:00:00Z", PLAN)
    log.correct(plan, PLAN, time="2025-10~")

    (result,) = effective(log.events, at=None)

    assert result.time == datetime(2025, 10, 1, tzinfo=UTC)
    assert (result.timeprecision, result.timequalifier) == ("month", "approximate")


def test_correction_regrades_confidence() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN, confidence="reported")
    log.correct(plan, PLAN, confidence="disputed")

    assert effective(log.events, at=None, min_confidence="unconfirmed") == []
    assert effective(log.events, at=None)[0].confidence == "disputed"


def test_latest_recorded_correction_wins() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    # The later-recorded correction wins even though its own valid time is earlier.
    log.correct(plan, {**PLAN, "points": 20}, at="2025-12-05")
    log.correct(plan, {**PLAN, "points": 19}, at="2025-12-01")

    (result,) = effective(log.events, at=None)

    assert isinstance(result.data, PlanProposed)
    assert result.data.points == 19


def test_correction_of_a_retracted_event_leaves_it_retracted() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.retract(plan)
    log.correct(plan, {**PLAN, "points": 19})

    assert effective(log.events, at=None) == []


def test_correction_that_does_not_fit_the_type_is_skipped_for_the_one_before() -> None:
    log = Log()
    reg = log.add("party.registered", "party/a", "2025-11-01", {"name": "A", "kind": "state"})
    log.correct(reg, {"name": "Alpha", "kind": "state"})
    log.correct(reg, {"title": "not a party"})

    (result,) = effective(log.events, at=None)

    assert result.data == PartyRegistered(name="Alpha", kind="state")


def test_min_confidence_leaves_out_weaker_events() -> None:
    log = Log()
    graded = {
        c: log.add(
            "party.registered",
            f"party/{c}",
            "2025-11-01",
            {"name": c, "kind": "state"},
            confidence=c,
        )
        for c in ("confirmed", "reported", "unconfirmed", "disputed")
    }

    result = effective(log.events, at=None, min_confidence="reported")

    assert ids(result) == [graded["confirmed"].id, graded["reported"].id]


def test_unknown_min_confidence_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        effective([], at=None, min_confidence="rumoured")


def test_at_leaves_out_events_after_it_and_a_date_means_its_end() -> None:
    log = Log()
    same_day = log.add("plan.proposed", "plan/p", "2025-11-20T23:00:00Z", PLAN)
    log.add("plan.revised", "plan/p", "2025-11-21", {"points": 19})

    assert ids(effective(log.events, at=until("2025-11-20"))) == [same_day.id]


def test_correction_moving_an_event_after_at_takes_it_out() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-01", PLAN)
    log.correct(plan, PLAN, time="2025-11-25")

    assert effective(log.events, at=until("2025-11-10")) == []
    assert ids(effective(log.events, at=until("2025-11-25"))) == [plan.id]


def test_correction_moving_an_event_before_at_brings_it_in() -> None:
    log = Log()
    plan = log.add("plan.proposed", "plan/p", "2025-11-25", PLAN)
    log.correct(plan, PLAN, time="2025-11-01")

    assert ids(effective(log.events, at=until("2025-11-10"))) == [plan.id]
