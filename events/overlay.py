"""What one group's requests are checked against: what the log holds (`Known`, read once
before them) and what the group has accepted so far (`Pending`), with the shapes both hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct

from events.envelope import Draft, StoredEvent
from events.timeparse import format_time


class Target(Struct, frozen=True):
    """An event a retraction or correction may name: where it is and what it concerns."""

    sequence: int | None
    id: str
    type: str
    subject: str | None
    concerns: list[str]


class Member:
    """A retraction or correction already accepted (in the log or the group's overlay),
    as one of the family of meta events naming the same target: its place, and the
    subjects its event_concerns rows name (grown when a later correction adds one)."""

    __slots__ = ("sequence", "subjects", "valid_from")

    def __init__(self, sequence: int, valid_from: datetime, subjects: set[str]) -> None:
        self.sequence = sequence
        self.valid_from = valid_from
        self.subjects = subjects


class Known:
    """What the log holds that one group's requests are checked against, read set-based
    before the first of them (one query per kind of question, not one per event): the
    events stored under the (source, id) keys the group gives, the events and the meta
    families under the ids its retractions and corrections name, and the newest sequence
    concerning each subject its preconditions name. The caller holds APPEND_LOCK, so the
    log cannot change meanwhile except through the group's own `Pending` overlay, which is
    consulted first."""

    def __init__(self) -> None:
        self.existing: dict[tuple[str, str], StoredEvent] = {}
        self.by_id: dict[str, list[Target]] = {}
        self.family: dict[str, list[Member]] = {}
        self.last: dict[str, int | None] = {}


class Made(Struct, frozen=True):
    """An event the group accepted: enough to answer a repeat of it, or to show it."""

    draft: Draft
    sequence: int
    recorded: str  # as the API shows it (format_time)
    hash: str
    prev: str

    def stored(self) -> StoredEvent:
        """The event as the API shows it."""
        d = self.draft
        return StoredEvent(
            specversion="1.0",
            id=d.id,
            source=d.source,
            type=d.type,
            subject=d.subject,
            time=format_time(d.valid.start),
            timeprecision=d.valid.precision,
            timequalifier=d.valid.qualifier,
            timegiven=d.time,
            confidence=d.confidence,
            data=d.data,
            sequence=self.sequence,
            recordedtime=self.recorded,
            hash=self.hash,
            predecessorhash=self.prev,
        )


class Pending:
    """What a group transaction has accepted but not yet written.

    Requests in one group are validated one after another against what the log held
    (`Known`, read once) *and* this overlay (a later request sees an earlier one's ids,
    targets, meta families and sequences), and their rows are written together: a group
    pays a handful of round trips, not a handful per request. `rows_e` are rows of
    `events`; their `event_concerns` rows are derived from them in SQL, so `rows_c` holds
    only the rows a correction adds to earlier events of its target's family.
    """

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Made] = {}
        self.targets: dict[str, list[Target]] = {}
        self.family: dict[str, list[Member]] = {}
        self.last: dict[str, int] = {}
        self.rows_e: list[tuple[Any, ...]] = []
        self.rows_c: list[tuple[Any, ...]] = []
        self.first: int | None = None  # the first sequence the group appends
