"""What changed between two sets of states, field by field, with the event behind each change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct

from projections.provenance import Fact, StanceJSON, stance_fields


class Change(Struct, frozen=True, kw_only=True):
    """One field of one subject that differs, and the provenance of its new value.

    `before` and `after` are the field's values as the states hold them (structs, lists,
    strings, a stance's JSON), for msgspec to encode.
    """

    subject: str
    field: str
    before: Any
    after: Any
    event: str | None
    time: str | None
    confidence: str | None


_SKIP = frozenset({"id", "facts"})


def diff(before: Mapping[str, Struct], after: Mapping[str, Struct]) -> list[Change]:
    """The changes from `before` to `after` (states keyed by subject id), by subject, field.

    Dict-valued fields (positions, stances) are compared entry by entry, as
    `"positions.issue/donbas"`. A subject missing on one side counts as None in each
    field set on the other side.
    """
    changes: list[Change] = []
    for subject in sorted(before.keys() | after.keys()):
        changes.extend(subject_changes(subject, before.get(subject), after.get(subject)))
    return changes


def subject_changes(subject: str, b: Struct | None, a: Struct | None) -> list[Change]:
    """The changes of one subject from `b` to `a` (its states, or None), by field."""
    # A subject absent on one side is compared with a blank state of its own kind (every
    # state class is built from an id alone), so that empty lists and a False flag do not
    # show up as changes from None. Values are compared as the states hold them: the two
    # ends of one fold share their unchanged structs, so equal values mostly compare by
    # identity, and only the values that changed are ever turned into plain data.
    template = a if a is not None else b
    if template is None:
        return []
    blank = type(template)(id=subject)
    old, new = b if b is not None else blank, a if a is not None else blank
    facts: dict[str, Fact] = getattr(a, "facts", {})
    out: list[Change] = []
    for name in template.__struct_fields__:
        if name in _SKIP:
            continue
        was, now = getattr(old, name), getattr(new, name)
        if was is now:
            continue
        if isinstance(was, dict):
            for key in sorted(was.keys() | now.keys()):
                entry_was, entry_now = was.get(key), now.get(key)
                if entry_was != entry_now:
                    out.append(_change(subject, f"{name}.{key}", entry_was, entry_now, entry_now))
        elif was != now:
            out.append(
                _change(
                    subject,
                    name,
                    was if b is not None else None,
                    now if a is not None else None,
                    facts.get(name),
                )
            )
    return sorted(out, key=lambda c: c.field)


def _change(
    subject: str, field: str, before: Any, after: Any, prov: Fact | StanceJSON | None
) -> Change:
    # A Fact says `time`; a stance entry carries its own provenance as `since`.
    event = time = confidence = None
    if isinstance(prov, Fact):
        event, time, confidence = prov.event, prov.time, prov.confidence
    elif isinstance(prov, StanceJSON):
        stance = stance_fields(prov)
        event, time, confidence = stance.event, stance.since, stance.confidence
    return Change(
        subject=subject,
        field=field,
        before=before,
        after=after,
        event=event,
        time=time,
        confidence=confidence,
    )
