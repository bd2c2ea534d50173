"""Provenance shared by every projection: the Fact behind a field, the Stance entry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, cast

import msgspec
from msgspec import Struct

from events.timeparse import format_time
from events.vocabulary import PositionStated, Recorded

# A state is a tree of values, never a cycle, so its structs (here and in each projection)
# are left out of the cyclic garbage collector (gc=False): a page of 100 issues builds about
# 30,000 of them, and the collections that scanned them cost a third of its assembly.


class Fact(Struct, frozen=True, kw_only=True, gc=False):
    """The event that last set a field: its id, valid time (RFC 3339) and confidence."""

    event: str
    time: str
    confidence: str


class Stance(Struct, frozen=True, kw_only=True, gc=False):
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


# A state holds each stance as its JSON, `StanceJSON` (a Stance encoded): answers are JSON,
# the read model stores a stance so, and Python reads a stance's fields only where a diff
# names the provenance of a changed one (`stance_fields`), so a page's stances (16,000 in
# a page of 100 plans) are never decoded only to be encoded again (docs/READ_MODEL.md).
StanceJSON = msgspec.Raw

_stance_encoder = msgspec.json.Encoder()
_stance_decoder = msgspec.json.Decoder(Stance)


def stance_of(event: Recorded, data: PositionStated) -> StanceJSON:
    """The stance entry a `position.stated` event records."""
    stance = Stance(
        stance=data.stance,
        summary=data.summary,
        conditions=list(data.conditions),
        speaker=data.speaker,
        since=format_time(event.time),
        event=event.id,
        confidence=event.confidence,
    )
    return msgspec.Raw(_stance_encoder.encode(stance))


def stance_fields(entry: StanceJSON | bytes) -> Stance:
    """The fields of a stance entry (msgspec.DecodeError if it holds no stance)."""
    return _stance_decoder.decode(entry)


def plain(value: Any) -> Any:
    """A state, or anything holding states, as plain data (dicts, lists, strings...), its
    stances' JSON decoded."""
    return msgspec.to_builtins(value, enc_hook=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, StanceJSON):
        return msgspec.json.decode(value)
    raise NotImplementedError(f"{type(value).__name__} is not plain data")


class _Provenanced(Protocol):
    """A state: its fields, and the Fact behind each field set so far."""

    @property
    def facts(self) -> Mapping[str, Fact]: ...


S = TypeVar("S", bound=Struct)


def set_fields(state: S, fact: Fact, changes: dict[str, Any]) -> S:
    """`state` (a state: it has `facts`) with `changes` made, each changed field now set by
    the event of `fact`. `changes` comes as one dict: as keyword arguments it would be
    copied once more."""
    facts = dict(cast(_Provenanced, state).facts)  # set field by field: cheaper than merging
    for field in changes:
        facts[field] = fact
    return msgspec.structs.replace(state, facts=facts, **changes)


T = TypeVar("T")

# The lists the running fold made, by id: each with its items as a set (None for a list that
# may hold an item twice). Held here, so no id is reused while the fold runs.
_grown: ContextVar[dict[int, tuple[list[Any], set[Any] | None]] | None] = ContextVar(
    "grown", default=None
)


@contextmanager
def growing_in_place() -> Iterator[None]:
    """Within a fold: a list the fold itself made grows in place.

    A fold keeps only its last state, so copying a list to grow it by one item (what a pure
    step does) only makes a fold quadratic: 10,000 revisions of one plan cost seconds. A
    list the fold did not make (the initial state's, a caller's state's) is copied the
    first time it grows, so nothing outside the fold ever changes.
    """
    token = _grown.set({})
    try:
        yield
    finally:
        _grown.reset(token)


def _own(items: list[T], distinct: bool) -> tuple[list[T], set[T] | None]:
    grown = _grown.get()
    if grown is not None:
        held = grown.get(id(items))
        if held is not None and held[0] is items:
            if distinct and held[1] is None:  # grown by `pushed` so far
                held = grown[id(items)] = (items, set(items))
            return held
    out = list(items)
    seen = set(out) if distinct else None
    if grown is not None:
        grown[id(out)] = (out, seen)
    return out, seen


def pushed(items: list[T], *new: T) -> list[T]:
    """`items` with `new` appended (a copy, but for a list the running fold made)."""
    out, seen = _own(items, distinct=False)
    out.extend(new)
    if seen is not None:  # grown by `appended` too
        seen.update(new)
    return out


def appended(items: list[str], *new: str) -> list[str]:
    """`items` with each of `new` appended unless already present, order kept (a copy, but
    for a list the running fold made)."""
    out, seen = _own(items, distinct=True)
    assert seen is not None
    for item in new:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
