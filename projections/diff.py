"""What changed between two sets of states, field by field, with the event behind each change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct

from projections.provenance import Fact, StanceJSON, stances_provenance


class Change(Struct, frozen=True):
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
    # The changes come by field name: a dict field's entries, named `field.key`, in key
    # order, sort together under `field.` (no field name holds a dot).
    fields: list[tuple[str, list[Change]]] = []
    for name in template.__struct_fields__:
        if name in _SKIP:
            continue
        was, now = getattr(old, name), getattr(new, name)
        if was is now:
            continue
        if isinstance(was, dict):
            fields.append((name + ".", _entry_changes(subject, name, was, now)))
        elif was != now:
            before = was if b is not None else None
            after = now if a is not None else None
            fields.append((name, [_change(subject, name, before, after, facts.get(name))]))
    fields.sort(key=_first)
    return [change for _, changes in fields for change in changes]


def _change(subject: str, field: str, before: Any, after: Any, fact: Fact | None) -> Change:
    """A change of a field, with the provenance its Fact names."""
    if fact is None:
        return Change(subject, field, before, after, None, None, None)
    return Change(subject, field, before, after, fact.event, fact.time, fact.confidence)


def _entry_changes(
    subject: str, name: str, was: dict[str, StanceJSON], now: dict[str, StanceJSON]
) -> list[Change]:
    """The changed entries of a dict field (a party's positions, a plan's stances), in key
    order, each with the provenance its new stance carries (a stance says `since`)."""
    keys = [key for key in sorted(was.keys() | now.keys()) if was.get(key) != now.get(key)]
    read = iter(stances_provenance([now[key] for key in keys if key in now]))
    out: list[Change] = []
    for key in keys:
        field, entry = f"{name}.{key}", now.get(key)
        if entry is None:
            out.append(_change(subject, field, was.get(key), None, None))
        else:
            p = next(read)
            out.append(Change(subject, field, was.get(key), entry, p.event, p.since, p.confidence))
    return out


def _first(item: tuple[str, list[Change]]) -> str:
    return item[0]
