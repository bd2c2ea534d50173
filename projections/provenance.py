"""Provenance shared by every projection: the Fact behind a field, the Stance entry."""

from __future__ import annotations

from typing import Any, Final, Generic, Protocol, TypeVar, cast

import msgspec
from msgspec import Struct
from msgspec.structs import force_setattr

from events.timeparse import format_time
from events.vocabulary import PositionStated, Recorded

# A state is a tree of values, never a cycle, so its structs (here and in each projection)
# are left out of the cyclic garbage collector (gc=False): a page of 100 issues builds about
# 30,000 of them, and collections scanning them would cost a third of its assembly.


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

# A stance's JSON as the read model holds it (a register's value), checked to be one JSON
# value, not decoded: an answer holds it as it is (msgspec.DecodeError where it is not).
stance_json: Final = msgspec.json.Decoder(StanceJSON).decode


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


class StanceProvenance(Struct, frozen=True, gc=False):
    """The provenance fields of a Stance, read alone (the others are skipped)."""

    since: str
    event: str
    confidence: str


_provenance_decoder = msgspec.json.Decoder(list[StanceProvenance])


def stances_provenance(entries: list[StanceJSON]) -> list[StanceProvenance]:
    """The provenance each of these stance entries carries, read in one decode."""
    if not entries:
        return []
    return _provenance_decoder.decode(b"[" + b",".join(entries) + b"]")


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
    def facts(self) -> dict[str, Fact]: ...


S = TypeVar("S", bound=Struct)


class Draft(Generic[S]):
    """A state while one fold changes it, step by step, in place.

    A fold keeps only its last state, so a step that copied the state (and a list, to grow
    it by one item) would only make the fold slower, and quadratic in a list's length. The
    draft's state is a copy of the one it starts from, and a list or dict field is copied
    the first time the fold changes it: the state the fold started from, and any state the
    caller holds, never change. States are frozen structs, so the draft sets its own
    state's fields with `force_setattr`; `state` is the fold's result once it ends, and the
    draft is not used after.
    """

    __slots__ = ("_mine", "_seen", "facts", "state")

    def __init__(self, state: S) -> None:
        self.facts: dict[str, Fact] = dict(cast(_Provenanced, state).facts)
        self.state: S = msgspec.structs.replace(state, facts=self.facts)
        self._mine: set[str] = set()  # the list and dict fields copied by this draft
        self._seen: dict[str, set[Any]] = {}  # a distinct list's items, by field

    def set(self, fact: Fact, field: str, value: Any) -> None:
        """Set `field` to `value` (a list or dict the draft copies before changing it), set by
        the event of `fact`."""
        force_setattr(self.state, field, value)
        self.facts[field] = fact
        if field in self._mine:  # grown here before: `value` is the caller's
            self._mine.discard(field)
            self._seen.pop(field, None)

    def cite(self, fact: Fact, *fields: str) -> None:
        """Name the event of `fact` as the one that set `fields` (changed by `add`, `push` or
        `put`)."""
        for field in fields:
            self.facts[field] = fact

    def push(self, field: str, item: Any) -> None:
        """Append `item` to the list `field`."""
        self._own(field).append(item)
        seen = self._seen.get(field)
        if seen is not None:
            seen.add(item)

    def add(self, field: str, *items: Any) -> bool:
        """Append each of `items` to the list `field` unless already in it, in order; whether
        any was."""
        out = self._own(field)
        seen = self._seen.get(field)
        if seen is None:
            seen = self._seen[field] = set(out)
        had = len(out)
        for item in items:
            if item not in seen:
                seen.add(item)
                out.append(item)
        return len(out) > had

    def put(self, field: str, key: str, value: Any) -> None:
        """Set `key` of the dict `field` to `value`."""
        self._own(field)[key] = value

    def _own(self, field: str) -> Any:
        value = getattr(self.state, field)
        if field not in self._mine:
            value = value.copy()
            force_setattr(self.state, field, value)
            self._mine.add(field)
        return value
