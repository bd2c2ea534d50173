"""The read model checked against the full replay: what `annals readmodel verify` asks."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Final, NamedTuple

from events import store
from events.store import Conn
from events.timeparse import LAST_INSTANT
from events.vocabulary import CONFIDENCE_RANK, DEFAULT_MIN_CONFIDENCE
from queries import assembly, model, replay
from queries.question import Question

_HISTORY: Final = 64  # a subject's events that its questions' coordinates are drawn from


class Mismatch(NamedTuple):
    """A question on which the read model's answer and the replay's differ, or on which the
    read model fails (`failure`: what it raised)."""

    subject: str
    at: datetime
    known: int
    min_confidence: str
    failure: str | None = None


def questions(
    head: int, history: list[tuple[int, datetime]], n: int, rng: random.Random
) -> list[Question]:
    """`n` questions about a subject whose events are `history` (sequence, valid time):
    everything as known at `head`, then questions at one of its own valid times, as known
    at one of its own sequences up to `head`, at a drawn confidence floor."""
    # "now" as a question's valid time: every event counts, future-dated ones too.
    out = [Question(LAST_INSTANT, head, DEFAULT_MIN_CONFIDENCE, True)]
    floors = sorted(CONFIDENCE_RANK)
    history = [h for h in history if h[0] <= head]  # the log may have grown since
    for _ in range(n - 1):
        if not history:
            break
        known = rng.choice(history)[0]
        at = rng.choice(history)[1]
        out.append(Question(at, known, rng.choice(floors), True))
    return out


async def mismatches(conn: Conn, subject: str, asked: list[Question]) -> list[Mismatch]:
    """The questions of `asked` on which the read model and the replay of `subject` differ
    (the read model must hold every question's sequence)."""
    out = []
    for q in asked:
        try:
            answer = await assembly.subject_state(conn, subject, q)
        except model.Damaged as e:  # the check goes on to name every other
            out.append(Mismatch(subject, q.at, q.known, q.min_confidence, repr(e)))
            continue
        if answer != await replay.replayed_state(conn, subject, q):
            out.append(Mismatch(subject, q.at, q.known, q.min_confidence))
    return out


async def verify(
    conn: Conn,
    held: int,
    subjects: int,
    per_subject: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, list[Mismatch]]:
    """Ask `per_subject` questions of each of `subjects` subjects drawn by `seed` (every
    subject when 0), of the read model (holding the log up to `held`) and of the replay;
    return how many subjects were checked and the questions where the two differ."""
    drawn = await model.sample_subjects(conn, subjects, seed)
    rng = random.Random(seed)
    found: list[Mismatch] = []
    for i, subject in enumerate(drawn, 1):
        history = await store.history(conn, subject, _HISTORY)
        found += await mismatches(conn, subject, questions(held, history, per_subject, rng))
        if progress is not None:
            progress(i, len(drawn))
    return len(drawn), found
