"""The facts an event asserts about each subject, and a subject's state assembled from facts.

A fact has a key. A register key (`positions/issue/crimea` of a party, `stances/party/x` of
a plan or an issue) holds one value, and the fact latest in valid time wins: the read model
finds it by an index lookup, with its value (the stance) stored beside it. Every
other fact has the key CORE: those events are folded in valid-time order by the subject's
own projection, as the reference replay folds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from events.vocabulary import SUBJECT_RE, PositionStated, Recorded
from projections import State, fold_concerning, initial
from projections.provenance import Stance, stance_of

# The version of the read model's rules (this module, `projections.knowledge`, and what
# queries/projector.py derives with them): a read model built under another version is
# rebuilt from the log (docs/READ_MODEL.md).
RULES: Final = "facts-4"
CORE: Final = ""


_stance_encoder: Final = msgspec.json.Encoder()
_stance_decoder: Final = msgspec.json.Decoder(Stance)


def facts_of(event: Recorded, subjects: Iterable[str]) -> list[tuple[str, str, bytes | None]]:
    """The (subject, key, value) facts `event` (believed, counting) asserts about each of
    `subjects` (those it concerns; anything not shaped like a subject id is left out): a
    register's value is the stance the event states (JSON, encoded once for both of its
    subjects), a CORE fact has none. Each subject gets one fact: a subject exists as soon
    as one event concerning it counts.
    """
    d = event.data
    stance: bytes | None = None
    out: list[tuple[str, str, bytes | None]] = []
    for subject in sorted(subjects):
        if not SUBJECT_RE.match(subject):
            continue
        key = CORE
        if isinstance(d, PositionStated) and event.subject is not None:
            if subject == event.subject:
                key = f"positions/{d.on}"
            elif subject == d.on:
                key = f"stances/{event.subject}"
        if key == CORE:
            out.append((subject, CORE, None))
            continue
        if stance is None:
            stance = _stance_encoder.encode(stance_of(event, d))
        out.append((subject, key, stance))
    return out


def assemble(
    subject: str, core: Iterable[Recorded], registers: Mapping[str, bytes]
) -> State | None:
    """A subject's state from its CORE events (in valid-time order, each concerning it) and
    its registers' values. None when there is neither: nothing concerning the subject counts.
    """
    state = fold_concerning(subject, core)
    if not registers:
        return state
    if state is None:
        state = initial(subject)
    entries: dict[str, dict[str, Stance]] = {}
    for key in sorted(registers):
        field, _, name = key.partition("/")
        entries.setdefault(field, {})[name] = _stance_decoder.decode(registers[key])
    return msgspec.structs.replace(state, **entries)
