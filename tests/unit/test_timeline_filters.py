"""The timeline's filters: each bad one is named (a 400/422 problem, never a KeyError)."""

from __future__ import annotations

import pytest

from events.envelope import BadParameter
from queries.timeline import parse_filters


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("junk", None, None, None, "disputed"), "from"),
        ((None, "junk", None, None, "disputed"), "to"),
        (("2025-12-01", "2025-11-01", None, None, "disputed"), "from"),
        ((None, None, "nation/x", None, "disputed"), "subject"),
        ((None, None, None, "", "disputed"), "type"),
        ((None, None, None, None, "maybe"), "min_confidence"),
    ],
)
def test_a_bad_filter_is_named(args: tuple[str | None, ...], named: str) -> None:
    with pytest.raises(BadParameter) as raised:
        parse_filters(*args)  # type: ignore[arg-type]
    assert [e.path for e in raised.value.errors] == [named]


def test_good_filters_are_kept() -> None:
    f = parse_filters("2025-11-01", "2025-11-30", "party/russia", "plan.", "reported")
    assert (f.subject, f.type, f.min_confidence) == ("party/russia", "plan.", "reported")
