"""What changed between two sets of states, field by field, with the event behind each change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from msgspec import Struct


class Change(Struct, frozen=True, kw_only=True):
    """One field of one subject that differs, and the provenance of its new value."""

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
        b, a = before.get(subject), after.get(subject)
        changes.extend(_subject_changes(subject, b, a))
    return changes


def _subject_changes(subject: str, b: Struct | None, a: Struct | None) -> list[Change]:
    old = _plain(b)
    new = _plain(a)
    # A subject absent on one side is compared with a blank state of its own kind (every
    # state class is built from an id alone), so that empty lists and a False flag do not
    # show up as changes from None.
    template = a if a is not None else b
    if template is None:
        return []
    blank = _plain(type(template)(id=subject))
    facts: dict[str, Any] = new.get("facts", {})
    out: list[Change] = []
    for name in blank:
        if name in _SKIP:
            continue
        was, now = old.get(name, blank[name]), new.get(name, blank[name])
        if isinstance(was, dict) or isinstance(now, dict):
            for key in sorted(was.keys() | now.keys()):
                entry_was, entry_now = was.get(key), now.get(key)
                if entry_was != entry_now:
                    prov = entry_now if isinstance(entry_now, dict) else None
                    out.append(_change(subject, f"{name}.{key}", entry_was, entry_now, prov))
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


def _plain(state: Struct | None) -> dict[str, Any]:
    return {} if state is None else dict(msgspec.to_builtins(state))


def _change(
    subject: str, field: str, before: Any, after: Any, prov: dict[str, Any] | None
) -> Change:
    prov = prov or {}
    return Change(
        subject=subject,
        field=field,
        before=before,
        after=after,
        event=prov.get("event"),
        # A Fact says `time`; a stance entry carries its own provenance as `since`.
        time=prov.get("time", prov.get("since")),
        confidence=prov.get("confidence"),
    )
