"""Headlines: one line for every SPEC §3 type and any custom type, from the event alone."""

from __future__ import annotations

from typing import Any

import pytest

from events.headline import MAX_HEADLINE, headline, name_of
from events.vocabulary import VOCABULARY
from queries.question import CursorError, encode_cursor
from queries.timeline import Cursor, decode_timeline_cursor

CASES: list[tuple[str, str, Any, str]] = [
    ("party.registered", "party/donald-trump",
     {"name": "Donald Trump", "kind": "person", "role": "President of the United States"},
     "Donald Trump registered as a person (President of the United States)"),
    ("plan.proposed", "plan/us-28-point-plan",
     {"title": "US 28-point peace plan", "sponsor": "party/united-states", "points": 28},
     "United States proposes US 28-point peace plan (28 points)"),
    ("plan.revised", "plan/us-28-point-plan", {"by": "party/donald-trump", "points": 22},
     "Donald Trump revises US 28 Point Plan (now 22 points)"),
    ("plan.classified", "plan/us-28-point-plan",
     {"ordered_by": "party/donald-trump",
      "withheld_from": ["party/ukraine", "party/european-union"]},
     "Donald Trump orders US 28 Point Plan classified, withheld from Ukraine and European Union"),
    ("plan.declassified", "plan/x", {"by": "party/united-states"},
     "United States declassifies X"),
    ("plan.presented", "plan/peace", {"by": "party/united-states", "to": ["party/russia"],
                                      "meeting": "meeting/moscow-2025-12-02"},
     "United States presents Peace to Russia at Moscow 2025-12-02"),
    ("plan.superseded", "plan/us-28-point-plan", {"by_plan": "plan/geneva-19-point-plan"},
     "US 28 Point Plan superseded by Geneva 19 Point Plan"),
    ("position.stated", "party/russia",
     {"on": "issue/donbas", "stance": "demands", "speaker": "party/vladimir-putin"},
     "Russia (Vladimir Putin) makes demands on Donbas"),
    ("meeting.scheduled", "meeting/moscow-2025-12-02",
     {"title": "Talks in Moscow", "starts": "2025-12-02", "location": "Moscow",
      "participants": []},
     "Talks in Moscow scheduled for 2025-12-02 in Moscow"),
    ("meeting.rescheduled", "meeting/moscow-2025-12-02", {"starts": "2025-12-03"},
     "Moscow 2025-12-02 moved to 2025-12-03"),
    ("meeting.held", "meeting/geneva", {"outcome": "A  19-point\ntext"},
     "Geneva held: A 19-point text"),
    ("meeting.cancelled", "meeting/geneva", {}, "Geneva cancelled"),
    ("event.retracted", "party/russia", {"event": "pt25-038", "reason": "misattributed"},
     "Event pt25-038 retracted: misattributed"),
    ("event.corrected", "party/russia", {"event": "pt25-038", "data": {}},
     "Event pt25-038 corrected"),
    ("x-press-briefing", "party/russia", {"title": "Peskov briefs"},
     "Press briefing (Russia): Peskov briefs"),
    ("x-note", "", "plain text", "Note: plain text"),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "subject", "data", "want"), CASES)
def test_headline_of_each_type(type_: str, subject: str, data: Any, want: str) -> None:
    assert headline(type_, subject or None, data) == want


def test_every_vocabulary_type_has_a_case() -> None:
    assert set(VOCABULARY) <= {c[0] for c in CASES}


@pytest.mark.parametrize("data", [None, 3, [], "x" * 1000, {"title": None}, {"points": "many"}])
@pytest.mark.parametrize("type_", [*VOCABULARY, "x-", "x-a.b_c"])
def test_headline_is_total_and_one_line(type_: str, data: Any) -> None:
    text = headline(type_, None, data)
    assert text and "\n" not in text and len(text) <= MAX_HEADLINE


def test_names_come_from_slugs() -> None:
    assert name_of("party/european-union") == "European Union"
    assert name_of("issue/nato-membership") == "Nato Membership"
    assert name_of("plan/european-parliament-resolution-2025-11-27") == (
        "European Parliament Resolution 2025-11-27"
    )
    assert name_of("party/house-of-lords") == "House of Lords"
    assert name_of(None) == "unknown"


def test_a_cursor_round_trips_and_rejects_what_it_did_not_make() -> None:
    text = encode_cursor(Cursor("2025-11-20T00:00:00Z", 24, 44))
    assert "=" not in text
    v, s, k = decode_timeline_cursor(text)
    assert (v.isoformat(), s, k) == ("2025-11-20T00:00:00+00:00", 24, 44)
    for bad in ["", "%%%", text[:-3], encode_cursor(Cursor("2025-11-20", 24, 44))]:
        with pytest.raises(CursorError):
            decode_timeline_cursor(bad)
