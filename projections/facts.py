"""The facts an event asserts about each subject, and a subject's state assembled from facts.

A fact has a key. A register key (`positions/issue/crimea` of a party, `stances/party/x` of
a plan or an issue) holds one value, and the fact latest in valid time wins: the read model
finds it by an index lookup, its value (the stance) held in the index entry. Every
other fact has the key CORE and holds the event itself, as believed: those events are
folded in valid-time order by the subject's own projection, as the reference replay folds
them, without reading the log again.
"""

from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, Final, Union, get_args, get_origin, get_type_hints

import msgspec

from events.vocabulary import SUBJECT_RE, VOCABULARY, PositionStated, Recorded
from projections import State, fold_concerning, initial
from projections.knowledge import valid_order
from projections.provenance import StanceJSON, stance_json, stance_of

# The version of the read model's rules (this module, `projections.knowledge`, and what
# queries/projector.py derives with them): a read model built under another version is
# rebuilt from the log (docs/READ_MODEL.md).
RULES: Final = "facts-6"
CORE: Final = ""


# A CORE fact's value is the event as believed, in MessagePack: `Recorded` as an array of
# its fields in order, its payload an array tagged by its type. A page decodes thousands of
# them, and arrays are decoded in half the time of maps (no field name is stored, nor
# matched), and one decode types the payload by its type's Struct. The payload is decoded
# as a subclass of that Struct whose fields keep their types but not their constraints
# (lengths, patterns), its lists as tuples, outside the cyclic collector (gc=False): the
# event was checked when it was appended, and matching a page's thousands of references
# against their patterns again costs a third of its decoding; an empty tuple is no new
# object, and a busy plan's 14,000 folded events, each with its lists, would have the
# collector walk them several times while a page is assembled.


def _unchecked(tp: Any) -> Any:
    """`tp` without its constraints (`Annotated` metadata), its lists as tuples, in the
    structs it holds too."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _unchecked(args[0])
    if origin is list:
        return tuple[_unchecked(args[0]), ...]  # type: ignore[misc]
    if origin is Union or origin is UnionType:
        return functools.reduce(operator.or_, map(_unchecked, args))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _unchecked_struct(tp)
    return tp


@functools.cache
def _unchecked_struct(cls: type[msgspec.Struct], tag: str | None = None) -> type[msgspec.Struct]:
    """A subclass of `cls` with its fields unchecked (read as an array when tagged)."""
    hints = get_type_hints(cls, include_extras=True)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in msgspec.structs.fields(cls):
        tp = _unchecked(hints[f.name])
        if f.default_factory is list:  # a tuple here: the empty one, made once
            fields.append((f.name, tp, ()))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
        elif f.default is not msgspec.NODEFAULT:
            fields.append((f.name, tp, f.default))
        else:
            fields.append((f.name, tp))
    return msgspec.defstruct(
        f"_Unchecked_{tag or cls.__name__}",
        fields,
        bases=(cls,),
        tag=tag,
        array_like=tag is not None,
        frozen=True,
        kw_only=True,
        gc=False,
    )


_FOLDED_PAYLOADS: Final = tuple(
    _unchecked_struct(cls, type_) for type_, (cls, _) in VOCABULARY.items()
)


class _Folded(Recorded, array_like=True, frozen=True, kw_only=True, gc=False):
    """A folded event as decoded: a `Recorded`, its payload a subclass of its type's Struct."""

    data: Union[_FOLDED_PAYLOADS]  # type: ignore[valid-type]  # noqa: UP007 (made at run time)


_folded_encoder: Final = msgspec.msgpack.Encoder()
_folded_decoder: Final = msgspec.msgpack.Decoder(_Folded)


def folded_value(event: Recorded) -> bytes:
    """The value of a CORE fact of `event` (believed: corrected, if a correction applies)."""
    *fields, data = msgspec.structs.astuple(event)
    return _folded_encoder.encode((*fields, (event.type, *msgspec.structs.astuple(data))))


# The event a CORE fact's value holds (msgspec.DecodeError if it holds none): the decoder's
# own method, called once for each folded event of a page.
folded_event: Final[Callable[[bytes], Recorded]] = _folded_decoder.decode


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
    keys = sorted(registers)
    entries: dict[str, dict[str, StanceJSON]] = {}
    start = 0
    while start < len(keys):  # one run of keys a field: a party's positions, a plan's stances
        field = keys[start].partition("/")[0]
        cut = len(field) + 1
        end = bisect.bisect_left(keys, field + "0", lo=start)  # '/' sorts just before '0'
        run = keys[start:end]
        values = map(stance_json, map(registers.__getitem__, run))
        entries[field] = {key[cut:]: value for key, value in zip(run, values, strict=True)}
        start = end
    return msgspec.structs.replace(state, **entries)
