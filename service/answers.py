"""Answering "what was the state at date X, as known at K": load, then fold.

This is the query path's one seam: what can count is loaded, and `projections` folds it.
As-of snapshots plug in here: `subject_state` starts the fold from a stored state and loads
only the tail after it, and `all_states` does the same for every subject set-wise
(`service/snapshots.py`, docs/SNAPSHOTS.md). `replayed_state`/`replayed_states` are the
full replays they must equal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import msgspec

import projections
from events import store
from events.envelope import FieldError, InvalidEvent
from events.timeparse import TimeError, format_time, parse_at
from events.vocabulary import SUBJECT_RE
from service import snapshots

PLURAL: Final = {"party": "parties", "plan": "plans", "meeting": "meetings", "issue": "issues"}
KIND_OF_COLLECTION: Final = {v: k for k, v in PLURAL.items()}


class Question(msgspec.Struct, frozen=True):
    """A resolved question: valid time, knowledge, confidence; `pinned` = can never change."""

    at: datetime
    known: int
    min_confidence: str
    pinned: bool
    at_text: str | None = None
    known_at_text: str | None = None


def parse_at_param(name: str, text: str | None, default: datetime) -> datetime:
    """A query date parameter; a problem naming the parameter when it is bad."""
    if text is None:
        return default
    try:
        return parse_at(text)
    except TimeError as e:
        raise InvalidEvent([FieldError(name, str(e))]) from None


async def ask(
    conn: asyncpg.Connection,
    at: str | None,
    known_at: str | None,
    min_confidence: str,
    now: datetime | None = None,
) -> Question:
    """Resolve the parameters every answer takes.

    An answer is immutable only when both times are fixed: `known_at` pinned to a
    recorded prefix of the log, and `at` given (a default `at` of now moves with the clock,
    and future-dated events such as scheduled meetings start to count).
    """
    when = parse_at_param("at", at, now or datetime.now(UTC))
    known = await store.resolve_known_at(conn, known_at)
    return Question(
        when, known.sequence, min_confidence, known.pinned and at is not None, at, known_at
    )


def valid_subject(subject: str) -> bool:
    """A well-formed subject id (kind/slug)."""
    return SUBJECT_RE.match(subject) is not None


def shape(state: projections.State, sequence: int) -> dict[str, Any]:
    """One subject's state as JSON, plus the sequence it was computed at."""
    out: dict[str, Any] = msgspec.to_builtins(state)
    out["sequence"] = sequence
    return out


async def subject_state(
    conn: asyncpg.Connection, subject: str, q: Question
) -> projections.State | None:
    """One subject's state, or None when nothing concerning it counts yet.

    Starts from an as-of snapshot and folds only the tail when that provably gives the
    full replay's answer (`service/snapshots.py`); otherwise it is `replayed_state`.
    """
    return await snapshots.subject_state(
        conn, subject, q.at, q.known, q.min_confidence, save=q.known_at_text is None
    )


async def replayed_state(
    conn: asyncpg.Connection, subject: str, q: Question
) -> projections.State | None:
    """The reference: one subject's state by a full replay of what can count."""
    known = await store.load_subject(conn, subject, q.at, q.known)
    return projections.project(subject, known, at=q.at, min_confidence=q.min_confidence)


async def all_states(conn: asyncpg.Connection, q: Question) -> dict[str, projections.State]:
    """Every subject's state: each subject's `subject_state`, fetched set-wise (best
    snapshots in one query, their tails in another; `service/snapshots.py`)."""
    return await snapshots.all_states(
        conn, q.at, q.known, q.min_confidence, save=q.known_at_text is None
    )


async def replayed_states(conn: asyncpg.Connection, q: Question) -> dict[str, projections.State]:
    """The reference: every subject's state by one full replay of the known log."""
    known = await store.load_all(conn, q.at, q.known)
    return projections.project_all(known, at=q.at, min_confidence=q.min_confidence)


def state_document(states: dict[str, projections.State], q: Question) -> dict[str, Any]:
    """The /v1/state envelope: {at, sequence, parties, plans, meetings, issues}."""
    doc: dict[str, Any] = {
        "at": format_time(q.at),
        "known_at": q.known_at_text,
        "min_confidence": q.min_confidence,
        "sequence": q.known,
    }
    for plural in PLURAL.values():
        doc[plural] = []
    for sid in sorted(states):
        doc[PLURAL[projections.kind_of(sid)]].append(msgspec.to_builtins(states[sid]))
    return doc


async def diff_document(
    conn: asyncpg.Connection, q_from: Question, q_to: Question
) -> dict[str, Any]:
    """What changed between two valid times, as known at the same moment."""
    before = await all_states(conn, q_from)
    after = await all_states(conn, q_to)
    return {
        "from": format_time(q_from.at),
        "to": format_time(q_to.at),
        "known_at": q_to.known_at_text,
        "sequence": q_to.known,
        "changes": msgspec.to_builtins(projections.diff(before, after)),
    }
