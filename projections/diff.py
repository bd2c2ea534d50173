"""What changed between two sets of states, field by field, with the event behind each change."""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import msgspec
from msgspec import Struct

from projections.provenance import Fact, StanceJSON, stance_json, stances_provenance

V = TypeVar("V", StanceJSON, bytes)


class Change(Struct, frozen=True, gc=False):
    """One field of one subject that differs, and the provenance of its new value.

    `before` and `after` are the field's values as the states hold them (structs, lists,
    strings, a stance's JSON), for msgspec to encode: a tree, never a cycle, so left out
    of the cyclic garbage collector (a diff page makes tens of thousands).
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


def subject_changes(
    subject: str,
    b: Struct | None,
    a: Struct | None,
    registers: tuple[Mapping[str, bytes], Mapping[str, bytes]] | None = None,
) -> list[Change]:
    """The changes of one subject from `b` to `a` (its states, or None), by field.

    `registers`, where given, are the subject's registers at each end as the read model
    holds them (values by key, `positions/issue/crimea`: `facts.fact_keys`), which `b` and
    `a` leave out: their changes are those of the dict fields they fill, found without
    building those fields (a diff page compares thousands of stances), each value checked
    to be one JSON value (msgspec.DecodeError where it is not)."""
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
            if was or now:
                fields.append((name + ".", _entry_changes(subject, name, was, now)))
        elif was != now:
            before = was if b is not None else None
            after = now if a is not None else None
            fields.append((name, [_change(subject, name, before, after, facts.get(name))]))
    if registers is not None:
        found = _changed(subject, _REGISTER_FIELD, *registers, stance_json, msgspec.Raw)
        start = 0
        while start < len(found):  # one run of changes a field, in the order of their keys
            field = found[start].field.partition(".")[0]
            end = bisect.bisect_left(found, field + "/", lo=start, key=_field)  # '.' < '/'
            fields.append((field + ".", found[start:end]))
            start = end
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
    """The changed entries of a dict field (a party's positions, a plan's stances)."""
    return _changed(subject, (name + ".").__add__, was, now, _same, _same)


def _changed(
    subject: str,
    field_of: Callable[[str], str],
    was: Mapping[str, V],
    now: Mapping[str, V],
    before_of: Callable[[V], StanceJSON],
    after_of: Callable[[V], StanceJSON],
) -> list[Change]:
    """The entries of `was` and `now` (stances by key) that differ, in key order, as changes
    of the fields `field_of` names, their values made stances' JSON by `before_of` and
    `after_of`, each with the provenance its new stance carries (a stance says `since`)."""
    if was:
        keys = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))
        before = [None if (v := was.get(k)) is None else before_of(v) for k in keys]
    else:  # all new: most often so on a diff page, which holds thousands
        keys = sorted(now)
        before = [None] * len(keys)
    read = iter(stances_provenance([now[k] for k in keys if k in now]))  # type: ignore[misc]
    out: list[Change] = []
    for key, b in zip(keys, before, strict=True):
        entry = now.get(key)
        if entry is None:
            out.append(Change(subject, field_of(key), b, None, None, None, None))
        else:
            p = next(read)
            out.append(
                Change(subject, field_of(key), b, after_of(entry), p.event, p.since, p.confidence)
            )
    return out


# The change's field of a register's key: `positions/issue/crimea` is the entry
# `issue/crimea` of the field `positions`, `positions.issue/crimea` (`facts.fact_keys`).
_REGISTER_FIELD: Final = operator.methodcaller("replace", "/", ".", 1)
_field: Final = operator.attrgetter("field")


def _same(value: StanceJSON) -> StanceJSON:
    return value


def _first(item: tuple[str, list[Change]]) -> str:
    return item[0]
