"""Where a state or diff page ends: as many subjects as fit in the facts budget, at least one."""

from __future__ import annotations

from queries.pages import fitting


def test_a_page_takes_the_subjects_whose_facts_fit_together() -> None:
    assert fitting([3, 4, 5], 7) == 2
    assert fitting([2, 2, 2], 6) == 3
    assert fitting([2, 2, 2], 5) == 2


def test_a_subject_larger_than_the_budget_comes_alone_and_first() -> None:
    assert fitting([10, 1], 5) == 1
    assert fitting([1, 10, 1], 5) == 1


def test_nothing_to_take() -> None:
    assert fitting([], 5) == 0
    assert fitting(iter([0, 0, 0]), 0) == 3
