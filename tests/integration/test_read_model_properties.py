"""The read model equals the full replay (Hypothesis, real PostgreSQL).

Each example writes a generated log into a fresh database, lets the projector follow it in
batches of a drawn size, then asks random (at, known_at, min_confidence) questions of the
read model — one subject, a state walked a page at a time, a diff page, the timeline of the
whole log and of a subject walked a page at a time — and compares every answer with
`projections` folding (or `knowledge.believed` applied to) everything known at that sequence.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import asyncpg
import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import projections
from events.timeparse import format_time
from events.vocabulary import CONFIDENCE_RANK, is_custom, references
from queries import answers, assembly, model, projector, replay
from queries import timeline as tl
from queries.question import PLURAL, PageCursor, Question, decode_cursor
from queries.replay import replayed_timeline
from tests._logs import EPOCH, Row, logs
from tests.conftest import fresh_database
from tests.unit.test_projections_properties import UNIVERSE

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SUBJECTS = sorted(UNIVERSE)
FAR = datetime(9999, 1, 1, tzinfo=UTC)


async def _write(conn: asyncpg.Connection, rows: list[Row]) -> None:
    """The log as the store keeps it (hashes are not what this test is about)."""
    records = []
    for r in rows:
        e = r.event
        data = e.data if is_custom(e.type) else msgspec.to_builtins(e.data)
        records.append(
            (
                e.sequence, e.id, e.source, e.type, e.subject, format_time(e.time), e.time,
                e.timeprecision, e.timequalifier, e.confidence, msgspec.json.encode(data).decode(),
                e.recordedtime, f"h{e.sequence}", f"h{e.sequence - 1}", r.target,
                sorted(r.concerns),
            )
        )  # fmt: skip
    await conn.copy_records_to_table(
        "events",
        records=records,
        columns=[
            "sequence", "id", "source", "type", "subject", "time_given", "valid_from",
            "time_precision", "time_qualifier", "confidence", "data", "recorded_at", "hash",
            "predecessor_hash", "target", "concerns",
        ],
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO event_concerns (subject, valid_from, sequence, meta)"
        " SELECT unnest(concerns), valid_from, sequence, target IS NOT NULL FROM events"
    )


async def _timeline(conn: asyncpg.Connection, f: tl.Filters, known: int) -> list[tl.Entry]:
    """The timeline walked three entries a page, every page at sequence `known`."""
    walked: list[tl.Entry] = []
    after = None
    while True:
        page = await tl.read_page(conn, f, known, after, 3)
        assert page.known == known
        walked += page.entries
        if page.next is None:
            return walked
        after = page.entries[-1].key


def _replay(rows: list[Row], q: Question) -> dict[str, projections.State]:
    known = [r.event for r in rows if r.event.sequence <= q.known]
    return projections.project_all(known, at=q.at, min_confidence=q.min_confidence)


def _classify(rows: list[Row]) -> None:
    """Hypothesis statistics: which hard cases the examples hold."""
    ids = {r.event.id: r for r in rows}
    for r in rows:
        if r.target is not None and r.target in ids and ids[r.target].meta:
            event("a retraction of a retraction")
        data = r.event.data
        if r.event.type == "event.corrected" and getattr(data, "time", None) is not None:
            event("a correction that moves time")
        if r.event.type == "event.corrected" and getattr(data, "confidence", None) is not None:
            event("a correction that re-grades confidence")
        if (
            r.event.type == "event.corrected"
            and r.target in ids
            and references(data.data) != references(ids[r.target].event.data)
        ):
            event("a correction that moves subjects")
        if r.event.timeprecision != "instant":
            event("reduced precision")
        if r.event.source != "urn:annals:test":
            event("an id reused by another source")
        if r.event.type.startswith("x-"):
            event("a custom event")
    times = [r.event.time for r in rows if not r.meta]
    keys = [
        (r.event.subject, r.event.data.on, r.event.time)
        for r in rows
        if r.event.type == "position.stated"
    ]
    if len(set(keys)) < len(keys):
        event("statements tied in valid time on one register")
    if any(b < a for a, b in itertools.pairwise(times)):
        event("backdated events")


questions = st.tuples(
    st.integers(0, 40).map(lambda d: EPOCH + timedelta(days=d)) | st.just(FAR),
    st.integers(0, 45),
    st.sampled_from(sorted(CONFIDENCE_RANK)),
)


@EXAMPLES
@given(
    # Few instants (ties in valid time) and many statements (busy registers) in some.
    rows=logs() | logs(days=2, statements=True),
    batch=st.sampled_from((1, 3, 7, 1000)),
    asked=st.lists(questions, min_size=4, max_size=8),
    before=st.integers(0, 40).map(lambda d: EPOCH + timedelta(days=d)),
    # Every subject's registers read as a busy subject's, the service's choice by counts, or
    # every subject's by a range scan: each way must give the same answers.
    rows_per_key=st.sampled_from((0, model.SCAN_ROWS_PER_KEY, 10**9)),
    # A busy subject's registers looked for among none of its latest rows (each by a descent
    # of its own), among as many as the service reads, or among all of them.
    recent_per_key=st.sampled_from((0, model.RECENT_ROWS_PER_KEY, 10**6)),
    # Pages of state and diff that end by facts after every subject, after some, or by count.
    budget=st.sampled_from((1, 4, 10**9)),
)
async def test_read_model_answers_equal_the_full_replay(
    pg_admin_url: str,
    template_db: str,
    rows: list[Row],
    batch: int,
    asked: list[tuple[datetime, int, str]],
    before: datetime,
    rows_per_key: int,
    recent_per_key: int,
    budget: int,
) -> None:
    _classify(rows)
    event(
        {0: "registers read as a busy subject's", 10**9: "registers by a scan per subject"}.get(
            rows_per_key, "registers as the counts choose"
        )
    )
    if rows_per_key != 10**9:
        event(
            {0: "busy registers by a descent per key", 10**6: "busy registers by recent rows"}.get(
                recent_per_key, "busy registers among recent rows, then a descent per key"
            )
        )
    with (
        mock.patch.object(model, "SCAN_ROWS_PER_KEY", rows_per_key),
        mock.patch.object(model, "RECENT_ROWS_PER_KEY", recent_per_key),
    ):
        async with fresh_database(pg_admin_url, template_db) as url:
            conn = await asyncpg.connect(url)
            try:
                await _write(conn, rows)
                assert await projector.catch_up(conn, batch=batch) == len(rows)
                for at, known, confidence in asked:
                    q = Question(at, min(known, len(rows)), confidence, True)
                    expected = _replay(rows, q)
                    # Every subject at once (a page's query) and each subject alone.
                    assert await assembly.states(conn, SUBJECTS, q) == expected
                    for subject in SUBJECTS[:3]:
                        assert await assembly.subject_state(conn, subject, q) == expected.get(
                            subject
                        )
                        # The replay of one subject (what `verify` compares with) too.
                        assert await replay.replayed_state(conn, subject, q) == expected.get(
                            subject
                        )
                    # A state walked at most three subjects a page, all pages at one sequence.
                    walked: dict[str, Any] = {}
                    cursor: PageCursor | None = None
                    while True:
                        doc = await answers.state_document(conn, q, "", cursor, 3, budget)
                        assert doc["sequence"] == q.known
                        held = [s for plural in PLURAL.values() for s in doc[plural]]
                        walked |= {s.id: s for s in held}
                        if doc["next"] is None:
                            break
                        if len(held) < 3:
                            event("a state page holding fewer states than its limit")
                        cursor = decode_cursor(doc["next"], PageCursor)
                    assert walked == expected
                    # A diff walked: what changed from `before` to `at` (either may be the
                    # later), as known at q.known.
                    q_from = msgspec.structs.replace(q, at=before)
                    changes: list[Any] = []
                    cursor = None
                    while True:
                        doc = await answers.diff_document(
                            conn, q_from.at, q, "", cursor, 100, budget
                        )
                        changes += doc["changes"]
                        if doc["next"] is None:
                            break
                        cursor = decode_cursor(doc["next"], PageCursor)
                    replayed = projections.diff(_replay(rows, q_from), expected)
                    assert projections.plain(changes) == projections.plain(replayed)
                    ends = (min(before, at), max(before, at))
                    n = len(SUBJECTS)
                    listed = await model.subjects(conn, q.known, "", "", n, ends, q.floor)
                    if any(not s.moved and s.subject in expected for s in listed):
                        event("a diff passing over a subject that did not move")
                    # The timeline of the whole log, and of a subject from `before` on.
                    for f in (
                        tl.Filters(min_confidence=confidence),
                        tl.Filters(subject=SUBJECTS[known % len(SUBJECTS)], start=before),
                    ):
                        expected_entries = await replayed_timeline(conn, f, q.known)
                        assert await _timeline(conn, f, q.known) == expected_entries
            finally:
                await conn.close()
