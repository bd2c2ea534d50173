"""Subjects' states from the read model: what a question selects, and its assembly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

import msgspec

import projections
from events.store import Conn
from events.vocabulary import Recorded
from projections.facts import assemble, folded_event
from queries import model
from queries.question import Question


async def states(conn: Conn, subjects: list[str], q: Question) -> dict[str, projections.State]:
    """The state of each of `subjects` that something counts for, in one query: the
    registers' values and the events to fold, as the read model holds them."""
    if not subjects:
        return {}
    selected = await select(conn, subjects, q, [q.at])
    return {s: end for s, (end,) in assembled(subjects, selected, [q.at]) if end is not None}


class Selected(NamedTuple):
    """What the subjects of a page select for its ends (valid times at one sequence and
    confidence): each end's registers, and the events to fold up to the latest end.

    A diff's two ends select only the registers whose values differ between them (the
    others would compare equal), and `registered` names, at each end, the subjects that
    hold a register there: such a subject counts there even where none is selected."""

    registers: list[dict[str, model.Facts]]  # per end, by subject (no events to fold)
    latest: dict[str, model.Facts]  # the latest end's, by subject: its events to fold too
    registered: list[set[str]] | None = None  # per end, where only changed ones are selected

    def per_subject(self) -> dict[str, int]:
        """The facts of each subject: its registers at every end, its events to fold once."""
        per = {s: len(f.core) for s, f in self.latest.items()}
        for end in self.registers:
            for s, f in end.items():
                per[s] = per.get(s, 0) + len(f.keys)
        return per

    def only(self, subjects: set[str]) -> Selected:
        return Selected(
            [{s: f for s, f in end.items() if s in subjects} for end in self.registers],
            {s: f for s, f in self.latest.items() if s in subjects},
            None if self.registered is None else [end & subjects for end in self.registered],
        )


async def select(conn: Conn, subjects: list[str], q: Question, ends: list[datetime]) -> Selected:
    """One statement: a state's (one end), or a diff's (two ends, `model.changed`), which
    reads the events to fold once, for the later end: the earlier end folds those up to its
    time."""
    if not subjects:
        return Selected([{} for _ in ends], {})
    if len(ends) == 1:
        facts = await model.facts(conn, subjects, q.known, ends[0], q.floor)
        return Selected([facts], facts)
    earlier, later = sorted(ends)
    found = await model.changed(conn, subjects, q.known, earlier, later, q.floor)
    registers = [{s: c.earlier for s, c in found.items()}, {s: c.later for s, c in found.items()}]
    registered = [{s for s, c in found.items() if c.held[i]} for i in (0, 1)]
    if ends[0] > ends[1]:
        registers.reverse()
        registered.reverse()
    latest = {s: model.Facts([], [], c.core) for s, c in found.items()}
    return Selected(registers, latest, registered)


def assembled(
    subjects: list[str], selected: Selected, ends: list[datetime]
) -> Iterator[tuple[str, list[projections.State | None]]]:
    """Each subject with its state at each of `ends` (in the order of `ends`, None where
    nothing counts), from what they selected, a subject at a time."""
    order = sorted(range(len(ends)), key=ends.__getitem__)
    for subject in subjects:
        registers = [_values(subject, end.get(subject)) for end in selected.registers]
        yield subject, _states(subject, selected, ends, order, registers)


def compared(
    subjects: list[str], selected: Selected, ends: list[datetime]
) -> Iterator[tuple[str, list[projections.Change]]]:
    """Each subject with what changed from `ends[0]` to `ends[1]` (a diff's), from what they
    selected, a subject at a time: the fields its folded events make, compared as states,
    and its registers compared as read (`projections.subject_changes`)."""
    order = sorted(range(len(ends)), key=ends.__getitem__)
    for subject in subjects:
        was, now = (_values(subject, end.get(subject)) for end in selected.registers)
        before, after = _states(subject, selected, ends, order, [{}, {}])
        with _stances_of(subject):
            changes = projections.subject_changes(subject, before, after, (was, now))
        yield subject, changes


def _states(
    subject: str,
    selected: Selected,
    ends: list[datetime],
    order: list[int],
    registers: list[dict[str, bytes]],
) -> list[projections.State | None]:
    """A subject's state at each of `ends` (`order`: their indexes in ascending time), with
    `registers` (by end); one it holds a register at (`selected.registered`) counts there."""
    mine = selected.latest.get(subject)
    folded = [] if mine is None else _folded(subject, mine.core)
    with _stances_of(subject):
        found = assemble(subject, folded, [(ends[i], registers[i]) for i in order])
    states: list[projections.State | None] = [None] * len(ends)
    for i, state in zip(order, found, strict=True):
        states[i] = state
        if state is None and selected.registered and subject in selected.registered[i]:
            states[i] = projections.initial(subject)  # counted by its registers alone
    return states


@contextlib.contextmanager
def _stances_of(subject: str) -> Iterator[None]:
    """A register value that is not a stance the projector encoded (msgspec.DecodeError,
    ValidationError among them) is damage to `subject`'s rows."""
    try:
        yield
    except msgspec.DecodeError as e:
        raise model.Damaged(subject, f"a register holds no stance ({e})") from e


def _values(subject: str, facts: model.Facts | None) -> dict[str, bytes]:
    """A subject's registers at one end, by key."""
    if facts is None:
        return {}
    values = dict(zip(facts.keys, facts.registers, strict=True))
    if None in facts.registers:
        key = next(k for k, v in values.items() if v is None)
        raise model.Damaged(subject, f"the register {key} holds no stance")
    return values  # type: ignore[return-value]  # no None among them


def _folded(subject: str, values: list[bytes | None]) -> list[Recorded]:
    """The events the CORE facts of `subject` hold."""
    try:
        return [folded_event(v) for v in values]  # type: ignore[arg-type]  # None: a TypeError
    except (msgspec.DecodeError, TypeError) as e:  # ValidationError is a DecodeError too
        raise model.Damaged(subject, f"a folded fact holds no event ({e})") from e


async def subject_state(conn: Conn, subject: str, q: Question) -> projections.State | None:
    """One subject's state, or None when nothing concerning it counts yet."""
    return (await states(conn, [subject], q)).get(subject)
