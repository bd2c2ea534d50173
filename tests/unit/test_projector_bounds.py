"""The keys, subject counts and bounds the projector derives from a batch of rows."""

from __future__ import annotations

from datetime import datetime

from events.vocabulary import Recorded
from projections import concerns
from projections.knowledge import Version
from queries.model_writes import Bound, Key, Subject
from queries.projector import Changes
from tests.unit._builders import Log


def opened(log: Log) -> Changes:
    """One batch: every event of the log opened at its own sequence."""
    changes = Changes()
    for e in log.events:
        changes.open(e.sequence, e.sequence, Version(e.sequence, e), concerns(e))
    return changes


def stated(log: Log, time: str, on: str) -> Recorded:
    return log.add("position.stated", "party/a", time, {"on": on, "stance": "supports"})


def test_a_subjects_bound_is_the_latest_valid_time_of_its_registers_known_so_far() -> None:
    log = Log()
    log.add("party.registered", "party/a", "2025-12-01", {"name": "A", "kind": "state"})
    s2 = stated(log, "2025-11-10", "issue/x")
    s3 = stated(log, "2025-11-05", "issue/y")  # backdated
    s4 = stated(log, "2025-11-20", "issue/x")
    keys, subjects, bounds = opened(log).bind(set(), {})
    # The registration is folded, not a register: its later valid time is no bound.
    # Written where it grows: the backdated statement leaves it, and writes none.
    assert [b for b in bounds if b.subject == "party/a"] == [
        Bound("party/a", s2.sequence, s2.time),
        Bound("party/a", s4.sequence, s4.time),
    ]
    assert [b for b in bounds if b.subject == "issue/y"] == [Bound("issue/y", 3, s3.time)]
    assert Subject("party/a", 1, 2, 3, 1) in subjects  # two keys, three stances, one folded
    assert Key("party/a", "positions/issue/x", 2, 4) in keys
    assert Key("party/a", "", 1, 1) in keys


def test_a_batch_goes_on_from_the_bound_and_keys_the_read_model_holds() -> None:
    log = Log()
    held = datetime.fromisoformat("2025-12-31T00:00:00+00:00")
    s1 = stated(log, "2025-11-10", "issue/x")
    stated(log, "2025-11-12", "issue/y")
    _, subjects, bounds = opened(log).bind({("party/a", "positions/issue/x")}, {"party/a": held})
    assert [b.subject for b in bounds] == ["issue/x", "issue/y"]  # party/a's held bound stays
    # One new register key (issue/y), two new register rows.
    assert Subject("party/a", 1, 1, 2, 0) in subjects
    assert Subject("issue/x", 1, 1, 1, 0) in subjects
    assert Bound("issue/x", s1.sequence, s1.time) in bounds


def test_a_subject_with_only_folded_rows_has_no_bound() -> None:
    log = Log()
    log.add("party.registered", "party/a", "2025-12-01", {"name": "A", "kind": "state"})
    _, subjects, bounds = opened(log).bind(set(), {})
    assert bounds == [] and subjects == [Subject("party/a", 1, 0, 0, 1)]
