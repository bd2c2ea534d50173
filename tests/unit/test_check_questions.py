"""The questions `annals readmodel verify` asks of a subject."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from queries.check import questions


def test_the_first_asks_everything_now_and_the_others_stay_within_what_is_held() -> None:
    history = [(s, datetime(2025, 11, s % 28 + 1, tzinfo=UTC)) for s in range(1, 40)]
    asked = questions(20, history, 50, random.Random(3))
    assert len(asked) == 50
    assert (asked[0].known, asked[0].min_confidence) == (20, "disputed")
    assert asked[0].at.year == 9999
    assert all(q.known <= 20 for q in asked)
    assert {q.at for q in asked[1:]} <= {t for s, t in history if s <= 20}
    assert len({q.min_confidence for q in asked}) > 1


def test_a_subject_without_events_held_gets_the_one_question() -> None:
    later = [(30, datetime(2025, 11, 1, tzinfo=UTC))]
    assert [q.known for q in questions(20, later, 4, random.Random(0))] == [20]
