"""What counts: retractions and corrections applied, then confidence and valid time filtered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

import msgspec

from events.timeparse import TimeError, parse_time
from events.vocabulary import (
    CONFIDENCE_RANK,
    META_TYPES,
    EventCorrected,
    EventRetracted,
    Recorded,
    decode_payload,
    is_custom,
)

# Parsing a reduced-precision date through `edtf` takes milliseconds, and every request
# re-reads the corrections it knows: remember the few distinct texts (a pure function).
_parse_time = lru_cache(maxsize=4096)(parse_time)


def effective(
    events: Iterable[Recorded], *, at: datetime | None, min_confidence: str = "disputed"
) -> list[Recorded]:
    """The events that count, corrected, in valid-time order (time, then sequence).

    `events` is everything already known (the caller filtered by `known_at`), in any
    order, meta events included. A retracted event counts nowhere; a corrected one counts
    with the replacement from its latest correction. Meta and custom `x-` events never
    come out. Then events below `min_confidence`, and (when `at` is given) events whose
    valid time starts after `at`, are left out.
    """
    if min_confidence not in CONFIDENCE_RANK:
        raise ValueError(f"unknown confidence {min_confidence!r}")
    known = list(events)
    retracted = _retracted(known)
    corrections: dict[str, list[tuple[int, EventCorrected]]] = defaultdict(list)
    for e in known:
        if isinstance(e.data, EventCorrected) and e.id not in retracted:
            corrections[e.data.event].append((e.sequence, e.data))

    floor = CONFIDENCE_RANK[min_confidence]
    out: list[Recorded] = []
    for e in known:
        if e.type in META_TYPES or is_custom(e.type) or e.id in retracted:
            continue
        current = _corrected(e, corrections.get(e.id, []))
        if CONFIDENCE_RANK[current.confidence] < floor:
            continue
        if at is not None and current.time > at:
            continue
        out.append(current)
    out.sort(key=lambda e: (e.time, e.sequence))
    return out


def _retracted(known: list[Recorded]) -> set[str]:
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


def _corrected(event: Recorded, corrections: list[tuple[int, EventCorrected]]) -> Recorded:
    """`event` as its latest applicable correction states it (itself when there is none).

    A correction whose replacement does not fit the event's type, or whose time does not
    parse, is skipped in favour of the one before it: the store validates corrections
    when they are appended, but a target recorded later under a reused id could not
    have been checked, and a projection must never fail on stored input.
    """
    for _sequence, c in sorted(corrections, key=lambda sc: sc[0], reverse=True):
        try:
            data = decode_payload(event.type, c.data)
            when = _parse_time(c.time) if c.time is not None else None
        except (msgspec.ValidationError, TimeError):
            continue
        changes: dict[str, object] = {"data": data}
        if when is not None:
            changes |= {
                "time": when.start,
                "timeprecision": when.precision,
                "timequalifier": when.qualifier,
            }
        if c.confidence is not None:
            changes["confidence"] = c.confidence
        return msgspec.structs.replace(event, **changes)
    return event
