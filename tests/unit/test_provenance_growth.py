"""Lists a fold grows: copied when another may hold them, in place when the fold made them."""

from __future__ import annotations

from projections.provenance import appended, growing_in_place, pushed


def test_outside_a_fold_a_list_is_never_changed() -> None:
    mine = ["party/a"]
    assert appended(mine, "party/b", "party/a") == ["party/a", "party/b"]
    assert pushed(mine, "party/c") == ["party/a", "party/c"]
    assert mine == ["party/a"]


def test_in_a_fold_a_given_list_is_copied_once_then_grown_in_place() -> None:
    given = ["party/a"]
    with growing_in_place():
        first = appended(given, "party/b")
        second = appended(first, "party/c", "party/b")
        third = appended(second, "party/a")
    assert given == ["party/a"]
    assert first is second is third
    assert third == ["party/a", "party/b", "party/c"]


def test_a_list_the_fold_made_is_not_grown_in_place_by_the_next_fold() -> None:
    with growing_in_place():
        history = pushed([], 1, 2)
        assert pushed(history, 3) is history
    with growing_in_place():
        later = pushed(history, 4)
    assert history == [1, 2, 3]
    assert later == [1, 2, 3, 4]


def test_each_item_is_appended_once_even_when_given_twice() -> None:
    with growing_in_place():
        grown = appended([], "party/a", "party/a")
        assert appended(grown, "party/a") == ["party/a"]


def test_a_list_grown_both_ways_still_appends_each_item_once() -> None:
    with growing_in_place():
        grown = pushed([], "party/a")
        grown = appended(grown, "party/a", "party/b")
        grown = pushed(grown, "party/c")
        grown = appended(grown, "party/c", "party/d")
    assert grown == ["party/a", "party/b", "party/c", "party/d"]
