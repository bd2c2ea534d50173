"""The facts an event asserts about each subject, and a subject's state assembled from facts.

A fact has a key. A register key (`positions/issue/crimea` of a party, `stances/party/x` of
a plan or an issue) holds one value, and the fact latest in valid time wins: the read model
finds it by an index lookup, with its value (the stance) stored beside it. Every
other fact has the key CORE and holds the event itself, as believed: those events are
folded in valid-time order by the subject's own projection, as the reference replay folds
them, without reading the log again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Union

import msgspec

from events.vocabulary import SUBJECT_RE, VOCABULARY, PositionStated, Recorded
from projections import State, fold_concerning, initial
from projections.knowledge import valid_order
from projections.provenance import StanceJSON, stance_of

# The version of the read model's rules (this module, `projections.knowledge`, and what
# queries/projector.py derives with them): a read model built under another version is
# rebuilt from the log (docs/READ_MODEL.md).
RULES: Final = "facts-5"
CORE: Final = ""


# A register's value is checked to be one JSON value, not decoded: a state holds it as it is.
_stance_json: Final = msgspec.json.Decoder(StanceJSON)


# A CORE fact's value is the event as believed, in MessagePack: `Recorded` with its payload
# in an extension of this code holding [type, payload], so that one decode gives the event
# with its payload typed by its type's Struct.
_PAYLOAD: Final = 1
_folded_encoder: Final = msgspec.msgpack.Encoder()


class _TypedPayload(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The extension's [type, payload]: one subclass a type, the type its tag."""

    data: Any


# Each type's subclass types the payload by the type's Struct: one decode of their union
# reads the type, then the payload as that Struct (not a decode for each of the two).
_TYPED_PAYLOADS: Final = tuple(
    msgspec.defstruct(f"_Typed_{type_}", [("data", cls)], bases=(_TypedPayload,), tag=type_)
    for type_, (cls, _) in VOCABULARY.items()
)
_typed_payload: Final[msgspec.msgpack.Decoder[_TypedPayload]] = msgspec.msgpack.Decoder(
    Union[_TYPED_PAYLOADS]  # noqa: UP007 (a union of types made at run time has no `|` spelling)
)


def _payload(code: int, raw: memoryview) -> Any:
    if code != _PAYLOAD:
        raise msgspec.DecodeError(f"an extension of code {code}, not a folded event's payload")
    try:
        return _typed_payload.decode(raw).data
    except msgspec.ValidationError:
        # Name the type when no projection folds it; any other fault speaks for itself.
        type_, _ = msgspec.msgpack.decode(raw, type=tuple[str, msgspec.Raw])
        if type_ not in VOCABULARY:
            raise msgspec.DecodeError(
                f"a folded event of type {type_!r}, which no projection folds"
            ) from None
        raise


_folded_decoder: Final = msgspec.msgpack.Decoder(Recorded, ext_hook=_payload)


def folded_value(event: Recorded) -> bytes:
    """The value of a CORE fact of `event` (believed: corrected, if a correction applies)."""
    typed = _folded_encoder.encode((event.type, msgspec.Raw(_folded_encoder.encode(event.data))))
    payload = msgspec.msgpack.Ext(_PAYLOAD, typed)
    return _folded_encoder.encode(msgspec.structs.replace(event, data=payload))


# The event a CORE fact's value holds (msgspec.DecodeError if it holds none): the decoder's
# own method, called once for each folded event of a page.
folded_event: Final = _folded_decoder.decode


def facts_of(event: Recorded, subjects: Iterable[str]) -> list[tuple[str, str, bytes]]:
    """The (subject, key, value) facts `event` (believed, not custom) asserts about each of
    `subjects` (those it concerns; anything not shaped like a subject id is left out): a
    register's value is the stance the event states (JSON), a CORE fact's the event itself
    (`folded_value`), each encoded once for all its subjects. Each subject gets one fact: a
    subject exists as soon as one event concerning it counts.
    """
    stance: bytes | None = None
    folded: bytes | None = None
    out: list[tuple[str, str, bytes]] = []
    for subject, key in fact_keys(event, subjects):
        if key == CORE:
            if folded is None:
                folded = folded_value(event)
            out.append((subject, CORE, folded))
            continue
        if stance is None:
            assert isinstance(event.data, PositionStated)  # only a stance makes a register
            stance = bytes(stance_of(event, event.data))
        out.append((subject, key, stance))
    return out


def fact_keys(event: Recorded, subjects: Iterable[str]) -> list[tuple[str, str]]:
    """The (subject, key) of each fact `facts_of` makes of `event`, without their values."""
    d = event.data
    out: list[tuple[str, str]] = []
    for subject in sorted(subjects):
        if not SUBJECT_RE.match(subject):
            continue
        key = CORE
        if isinstance(d, PositionStated) and event.subject is not None:
            if subject == event.subject:
                key = f"positions/{d.on}"
            elif subject == d.on:
                key = f"stances/{event.subject}"
        out.append((subject, key))
    return out


def assemble(
    subject: str,
    core: Iterable[Recorded],
    ends: Sequence[tuple[datetime, Mapping[str, bytes]]],
) -> list[State | None]:
    """A subject's state at each of `ends` (valid times in ascending order, each with its
    registers' values), from its CORE events (each concerning it, none after the last end,
    in any order: they are folded in `valid_order`). One fold serves every end: the events
    at or before an end's time make its state, and the fold goes on from there to the next
    end. None where there is neither event nor register: nothing concerning the subject
    counts then.
    """
    core = sorted(core, key=valid_order)
    out: list[State | None] = []
    state: State | None = None
    done = 0
    for at, registers in ends:
        upto = bisect.bisect_right(core, at, lo=done, key=_valid_time)
        state = fold_concerning(subject, core[done:upto], state)
        done = upto
        out.append(_with_registers(subject, state, registers))
    return out


def _valid_time(event: Recorded) -> datetime:
    return event.time


def _with_registers(
    subject: str, state: State | None, registers: Mapping[str, bytes]
) -> State | None:
    if not registers:
        return state
    if state is None:
        state = initial(subject)
    entries: dict[str, dict[str, StanceJSON]] = {}
    for key in sorted(registers):
        field, _, name = key.partition("/")
        entries.setdefault(field, {})[name] = _stance_json.decode(registers[key])
    return msgspec.structs.replace(state, **entries)
