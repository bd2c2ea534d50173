"""Provenance shared by every projection: the Fact behind a field, the Stance entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from msgspec import Struct

from events.timeparse import format_time
from events.vocabulary import PositionStated, Recorded


class Fact(Struct, frozen=True, kw_only=True):
    """The event that last set a field: its id, valid time (RFC 3339) and confidence."""

    event: str
    time: str
    confidence: str


class Stance(Struct, frozen=True, kw_only=True):
    """A party's position on a plan or an issue, carrying its own provenance."""

    stance: str
    summary: str | None
    conditions: list[str]
    speaker: str | None
    since: str
    event: str
    confidence: str


def fact_of(event: Recorded) -> Fact:
    """The provenance of a value set by `event`."""
    return Fact(event=event.id, time=format_time(event.time), confidence=event.confidence)


def stance_of(event: Recorded, data: PositionStated) -> Stance:
    """The stance entry a `position.stated` event records."""
    return Stance(
        stance=data.stance,
        summary=data.summary,
        conditions=list(data.conditions),
        speaker=data.speaker,
        since=format_time(event.time),
        event=event.id,
        confidence=event.confidence,
    )


def with_facts(
    facts: Mapping[str, Fact], event: Recorded, fields: Iterable[str]
) -> dict[str, Fact]:
    """A copy of `facts` where each of `fields` is now set by `event`."""
    fact = fact_of(event)
    return {**facts, **dict.fromkeys(fields, fact)}


def appended(items: list[str], *new: str) -> list[str]:
    """A copy of `items` with each of `new` appended unless already present (order kept)."""
    out = list(items)
    for item in new:
        if item not in out:
            out.append(item)
    return out
