"""What is believed: retractions and corrections applied (the one place of the belief rules)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

import msgspec

from events.timeparse import TimeError, ValidTime, parse_time
from events.vocabulary import (
    CONFIDENCE_RANK,
    DEFAULT_MIN_CONFIDENCE,
    META_TYPES,
    VOCABULARY,
    EventCorrected,
    EventRetracted,
    Recorded,
    decode_payload,
    is_custom,
)

# Every question re-reads the corrections it knows: remember the few distinct time texts.
_parse_time = lru_cache(maxsize=4096)(parse_time)


class Correction(msgspec.Struct, frozen=True):
    """The correction that states an event as it is believed: its sequence, id and content."""

    sequence: int
    id: str
    data: EventCorrected
    time: ValidTime | None

    def changes(self) -> dict[str, object]:
        """What it restates of its target, by the event's field names: the data (as sent),
        and the time and the confidence when it gives them."""
        out: dict[str, object] = {"data": self.data.data}
        if self.time is not None:
            out |= {
                "time": self.time.start,
                "timeprecision": self.time.precision,
                "timequalifier": self.time.qualifier,
            }
        if self.data.confidence is not None:
            out["confidence"] = self.data.confidence
        return out


def retracted_ids(known: Iterable[Recorded]) -> set[str]:
    """Ids of the events that a retraction still in force targets.

    A retraction may itself be retracted, which restores its target. A retraction names
    an event recorded before it, so walking the retractions newest first settles each
    one before anything it could affect: no recursion, no loop, whatever the input.
    """
    retractions = sorted(
        (e.sequence, e.id, e.data.event) for e in known if isinstance(e.data, EventRetracted)
    )
    gone: set[str] = set()
    for _sequence, rid, target in reversed(retractions):
        if rid not in gone:
            gone.add(target)
    return gone


def corrections_by_target(known: Iterable[Recorded], gone: set[str]) -> dict[str, list[Recorded]]:
    """The corrections in force (not retracted), by the id they correct, oldest first."""
    found: dict[str, list[Recorded]] = defaultdict(list)
    for e in sorted(known, key=lambda e: e.sequence):
        if isinstance(e.data, EventCorrected) and e.id not in gone:
            found[e.data.event].append(e)
    return found


def applicable(type_: str, corrections: list[Recorded]) -> Correction | None:
    """The newest correction that applies to an event of `type_`, if any.

    A correction whose replacement does not fit the event's type, or whose time does not
    parse, gives way to the one before it: the store validates corrections when they are
    appended, but a target recorded later under a reused id could not have been checked,
    and a question must never fail on stored input. Custom `x-` data is any JSON.
    """
    for c in sorted(corrections, key=lambda c: c.sequence, reverse=True):
        assert isinstance(c.data, EventCorrected)
        try:
            if type_ in VOCABULARY:
                decode_payload(type_, c.data.data)
            when = _parse_time(c.data.time) if c.data.time is not None else None
        except (msgspec.ValidationError, TimeError):
            continue
        return Correction(c.sequence, c.id, c.data, when)
    return None


def restated(event: Recorded, c: Correction | None) -> Recorded:
    """`event` as correction `c` states it (itself when there is none)."""
    if c is None:
        return event
    changes = c.changes()
    if event.type in VOCABULARY:
        changes["data"] = decode_payload(event.type, c.data.data)
    return msgspec.structs.replace(event, **changes)


class Version(msgspec.Struct, frozen=True):
    """An event as believed: the sequence of the version (its own, or its correction's)."""

    version: int
    event: Recorded


def believed(known: Iterable[Recorded]) -> dict[int, Version]:
    """Every non-meta event of `known` that is believed, by sequence, as it is believed.

    `known` is everything already known (the caller filtered by `known_at`), in any order.
    A retracted event is not believed; a corrected one is believed as its latest applicable
    correction states it. Custom `x-` events are included (timelines show them).
    """
    known = list(known)
    gone = retracted_ids(known)
    corrections = corrections_by_target(known, gone)
    out: dict[int, Version] = {}
    for e in known:
        if e.type in META_TYPES or e.id in gone:
            continue
        c = applicable(e.type, corrections.get(e.id, []))
        out[e.sequence] = Version(e.sequence if c is None else c.sequence, restated(e, c))
    return out


def counts(event: Recorded, *, at: datetime | None, floor: int) -> bool:
    """Whether a believed event counts for a projection at valid time `at` and `floor`."""
    return (
        not is_custom(event.type)
        and CONFIDENCE_RANK[event.confidence] >= floor
        and (at is None or event.time <= at)
    )


def valid_order(event: Recorded) -> tuple[datetime, int]:
    """The order of a fold: valid time, then sequence (of events recorded for one instant,
    the later-recorded comes later)."""
    return event.time, event.sequence


def effective(
    events: Iterable[Recorded],
    *,
    at: datetime | None,
    min_confidence: str = DEFAULT_MIN_CONFIDENCE,
) -> list[Recorded]:
    """The events that count, corrected, in valid-time order (time, then sequence).

    The reference replay: `believed`, then custom events, events below `min_confidence`
    and (when `at` is given) events whose valid time starts after `at` are left out.
    """
    if min_confidence not in CONFIDENCE_RANK:
        raise ValueError(f"unknown confidence {min_confidence!r}")
    floor = CONFIDENCE_RANK[min_confidence]
    out = [v.event for v in believed(events).values() if counts(v.event, at=at, floor=floor)]
    out.sort(key=valid_order)
    return out
