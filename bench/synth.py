"""A synthetic log for the benchmark: valid SPEC §3 events, deterministic for a seed.

Shape (issues 5 and 10): `n` events over `subjects` subjects (60 % parties, 20 % plans,
10 % meetings, 10 % issues); HOT subjects (the first party, plan, meeting and issue, plus a
second party) are picked for `hot_share` of the other events: the first party is the WIDE
hot subject (positions on thousands of topics). REALISTIC, a party of its own, states
`realistic_share` of all events as positions on at most 200 issues (100,000 statements in
a 1M-event log), backdated like the rest; `backdated` of events get a valid
time earlier than the log's running clock (anywhere in the past, not just the day before);
1 % retract and 1 % correct an earlier `position.stated`. Confidence is mixed. Every event
has an id, so `annals import` accepts it and re-running an import appends nothing twice.

The same generator builds the rows of the raw COPY baseline (`raw_row`), so both sides
load the same events.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import msgspec

START: Final = date(2005, 1, 1)
SPAN_DAYS: Final = 7_300  # twenty years of valid time
REALISTIC: Final = "party/r0"  # the realistic hot party: many statements, few issues
REALISTIC_ISSUES: Final = 200
STANCES: Final = ("supports", "opposes", "demands", "rejects", "considering", "offers")
CONFIDENCE: Final = (("confirmed", 0.80), ("reported", 0.10), ("unconfirmed", 0.05))


@dataclass
class Shape:
    """What the generated log looks like (and how it actually came out)."""

    events: int
    subjects: int
    hot_share: float = 0.10
    realistic_share: float = 0.102  # of all events: retractions and corrections take 2 %
    backdated: float = 0.20
    retracted: float = 0.01
    corrected: float = 0.01
    seed: int = 5
    counts: dict[str, int] = field(default_factory=dict)  # filled while generating


class Synth:
    """Generates the events of one log, in recording order."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        s = shape.subjects
        n_party, n_plan, n_meeting = s * 6 // 10, s * 2 // 10, s // 10
        n_issue = s - n_party - n_plan - n_meeting
        self.parties = [f"party/p{i}" for i in range(n_party)]
        self.plans = [f"plan/l{i}" for i in range(n_plan)]
        self.meetings = [f"meeting/m{i}" for i in range(n_meeting)]
        self.issues = [f"issue/i{i}" for i in range(n_issue)]
        self.hot = [self.parties[0], self.parties[1], self.plans[0], self.meetings[0]]
        self.hot.append(self.issues[0])
        hot = set(self.hot)
        self.cold_parties = [p for p in self.parties if p not in hot]
        self.realistic_issues = self.issues[:REALISTIC_ISSUES]
        self.cold_topics = [x for x in self.plans + self.issues if x not in hot]
        self.cold = [x for x in self.parties + self.plans + self.meetings + self.issues]
        self.cold = [x for x in self.cold if x not in hot]
        self.introduced: set[str] = set()
        self.reservoir: list[tuple[str, str, str]] = []  # position.stated: (id, subject, on)

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _day(self, i: int) -> str:
        base = i * SPAN_DAYS // self.shape.events
        if base > 30 and self.rng.random() < self.shape.backdated:
            base = self.rng.randrange(0, base - 30)
            self.shape.counts["backdated"] = self.shape.counts.get("backdated", 0) + 1
        return (START + timedelta(days=base)).isoformat()

    def _confidence(self) -> str:
        r = self.rng.random()
        for name, p in CONFIDENCE:
            if r < p:
                return name
            r -= p
        return "disputed"

    def _party(self) -> str:
        return self.rng.choice(self.cold_parties)

    def _position(self, party: str, on: str) -> tuple[str, str, dict[str, Any]]:
        data = {"on": on, "stance": self.rng.choice(STANCES), "summary": f"{party} on {on}"}
        return "position.stated", party, data

    def _realistic(self) -> tuple[str, str, dict[str, Any]]:
        """The realistic hot party: registered once, then statements on its few issues."""
        if REALISTIC not in self.introduced:
            self.introduced.add(REALISTIC)
            return "party.registered", REALISTIC, {"name": "R0", "kind": "organization"}
        return self._position(REALISTIC, self.rng.choice(self.realistic_issues))

    def _about(self, subject: str) -> tuple[str, str, dict[str, Any]]:
        """A plausible event about `subject` (its registration first)."""
        rng = self.rng
        kind = subject.split("/", 1)[0]
        first = subject not in self.introduced
        self.introduced.add(subject)
        if kind == "issue":  # issues need no registration: someone takes a position on it
            return self._position(self._party(), subject)
        if kind == "party":
            if first:
                name = subject.split("/", 1)[1].upper()
                kinds = ("state", "organization", "person", "media")
                return "party.registered", subject, {"name": name, "kind": rng.choice(kinds)}
            return self._position(subject, rng.choice(self.cold_topics))
        if kind == "plan":
            if first:
                data = {"title": f"Plan {subject}", "sponsor": self._party(), "points": 12}
                return "plan.proposed", subject, data
            r = rng.random()
            if r < 0.6:
                return "plan.revised", subject, {"points": rng.randrange(1, 40), "summary": "rev"}
            if r < 0.8:
                to = [self._party(), self._party()]
                return "plan.presented", subject, {"by": self._party(), "to": to}
            return self._position(self._party(), subject)
        if first:
            data = {
                "title": f"Meeting {subject}",
                "starts": (START + timedelta(days=rng.randrange(SPAN_DAYS))).isoformat(),
                "participants": [self._party(), self._party()],
            }
            return "meeting.scheduled", subject, data
        r = rng.random()
        if r < 0.6:
            starts = (START + timedelta(days=rng.randrange(SPAN_DAYS))).isoformat()
            return "meeting.rescheduled", subject, {"starts": starts, "location": "Geneva"}
        return "meeting.held", subject, {"outcome": "talks continued"}

    def events(self) -> Iterator[dict[str, Any]]:
        """The log, one CloudEvent (as posted) at a time."""
        shape, rng, counts = self.shape, self.rng, self.shape.counts
        hot = set(self.hot)
        for i in range(shape.events):
            r = rng.random()
            data: dict[str, Any]
            if self.reservoir and r < shape.retracted + shape.corrected:
                j = rng.randrange(len(self.reservoir))
                target, subject, on = self.reservoir[j]
                self.reservoir[j] = self.reservoir[-1]
                self.reservoir.pop()
                if r < shape.retracted:
                    type_, data = "event.retracted", {"event": target, "reason": "misreported"}
                else:
                    replacement = {"on": on, "stance": rng.choice(STANCES), "summary": "fixed"}
                    type_, data = "event.corrected", {"event": target, "data": replacement}
            elif rng.random() < shape.realistic_share:
                type_, subject, data = self._realistic()
                counts["realistic"] = counts.get("realistic", 0) + 1
            else:
                pick = rng.choice(self.hot) if rng.random() < shape.hot_share else None
                type_, subject, data = self._about(pick or rng.choice(self.cold))
            ev: dict[str, Any] = {
                "id": self._id(),
                "type": type_,
                "subject": subject,
                "time": self._day(i),
                "confidence": self._confidence(),
                "data": data,
            }
            if type_ == "position.stated" and len(self.reservoir) < 20_000:
                self.reservoir.append((ev["id"], subject, data["on"]))
            counts[type_] = counts.get(type_, 0) + 1
            if subject in hot or data.get("on") in hot:
                counts["hot"] = counts.get("hot", 0) + 1
            yield ev


def dates(rng: random.Random, n: int, covered: float = 1.0) -> list[str]:
    """`n` random valid dates (query `at` values) over the part of the span the log covers
    so far (`covered`: its share of the full log's events), plus a month."""
    days = int(SPAN_DAYS * covered) + 30
    return [(START + timedelta(days=rng.randrange(days))).isoformat() for _ in range(n)]


def position(i: int, party: str, topic: str) -> dict[str, Any]:
    """A fresh, valid event for the append phases (no id: the service assigns one)."""
    return {
        "type": "position.stated",
        "subject": party,
        "time": (START + timedelta(days=SPAN_DAYS + i % 365)).isoformat(),
        "data": {"on": topic, "stance": STANCES[i % len(STANCES)], "summary": f"bench {i}"},
    }


def raw_row(seq: int, ev: dict[str, Any], prev: bytes, now: datetime) -> tuple[Any, ...]:
    """The row of `ev` in a table shaped like `events` (the raw COPY baseline).

    Hashes are chained (SHA-256 of the previous hash and the event), so the raw side also
    pays for one; what it skips is validation, the concerns index and the service itself.
    """
    data = msgspec.json.encode(ev["data"])
    h = hashlib.sha256(prev + data).digest()
    d = date.fromisoformat(ev["time"])
    values = [v for x in ev["data"].values() for v in (x if isinstance(x, list) else [x])]
    concerns = sorted({ev["subject"], *(v for v in values if _is_ref(v))})
    target = ev["data"].get("event") if ev["type"].startswith("event.") else None
    return (
        seq, ev["id"], "urn:annals:api", ev["type"], ev["subject"], ev["time"],
        datetime(d.year, d.month, d.day, tzinfo=UTC), "day", None, ev["confidence"],
        data.decode(), now, h.hex(), prev.hex(), target, concerns,
    )  # fmt: skip


def _is_ref(v: Any) -> bool:
    return isinstance(v, str) and v.split("/", 1)[0] in ("party", "plan", "meeting", "issue")
