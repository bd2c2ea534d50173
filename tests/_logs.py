"""Hypothesis logs: backdating, ties, reduced precision, retractions (of retractions too),
corrections that move time, confidence or subjects, reused ids, custom events.

Each event carries its `concerns` as the store keeps them (a retraction or correction
concerns what its target concerns, a correction also what its replacement data names).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from events.timeparse import format_time, parse_time
from events.vocabulary import (
    Recorded,
    decode_payload,
    is_custom,
    references,
)
from tests.unit.test_projections_properties import CONFIDENCES, SHAPES, UNIVERSE

EPOCH = datetime(2025, 11, 1, tzinfo=UTC)
RECORDED = datetime(2026, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Row(msgspec.Struct, frozen=True):
    """An event as stored: the folded form, its `concerns` and whether it is meta."""

    event: Recorded
    concerns: frozenset[str]
    meta: bool
    target: str | None


valid_time = lru_cache(maxsize=None)(parse_time)


def _recorded(
    sequence: int,
    id_: str,
    source: str,
    type_: str,
    subject: str | None,
    when: str,
    confidence: str,
    data: Any,
) -> Recorded:
    valid = valid_time(when)
    return msgspec.convert(
        {
            "sequence": sequence,
            "id": id_,
            "source": source,
            "type": type_,
            "subject": subject,
            "time": valid.start,
            "timeprecision": valid.precision,
            "timequalifier": valid.qualifier,
            "confidence": confidence,
            "recordedtime": RECORDED + timedelta(seconds=sequence),
            "data": data if is_custom(type_) else decode_payload(type_, data),
        },
        Recorded,
        from_attributes=True,
    )


@st.composite
def logs(draw: st.DrawFn, days: int = 40, statements: bool = False) -> list[Row]:
    """A log as the store would accept it, in sequence order (over `days` days; with
    `statements`, half its events are `position.stated`: busy registers)."""
    size = draw(st.integers(3, 30) | st.sampled_from(range(10, 41)))
    reuse = ("reuse",) if draw(st.booleans()) else ()
    rows: list[Row] = []
    for n in range(1, size + 1):
        # Few distinct instants: ties, and events recorded late for early times.
        stamp = EPOCH + timedelta(
            days=draw(st.integers(0, days)), hours=draw(st.sampled_from((0, 12)))
        )
        when = draw(
            st.sampled_from(
                (format_time(stamp), stamp.date().isoformat(), stamp.strftime("%Y-%m~"))
            )
        )
        confidence = draw(st.sampled_from(CONFIDENCES))
        # The store refuses a retraction or correction naming an ambiguous or meta id; a
        # retraction of a retraction still follows the rules (the fold undoes it), so the
        # read model must agree on it too.
        ids = [r.event.id for r in rows]
        targets = [r for r in rows if not r.meta and ids.count(r.event.id) == 1]
        retractions = [
            r for r in rows if r.event.type == "event.retracted" and ids.count(r.event.id) == 1
        ]
        kind = draw(
            st.sampled_from(
                ("base",) * 6
                + ("custom",)
                + (("retract", "correct", *reuse) if targets else ())
                + (("unretract",) if retractions else ())
            )
        )
        if kind in ("base", "reuse"):
            type_ = draw(st.sampled_from(sorted(SHAPES)))
            if statements and draw(st.booleans()):
                type_ = "position.stated"
            subjects, strategy = SHAPES[type_]
            subject, data = draw(st.sampled_from(subjects)), draw(strategy)
            id_, source = f"e{n}", "urn:annals:test"
            if kind == "reuse":  # another source reuses an id (one a correction may name)
                named = sorted({r.target for r in rows if r.target is not None})
                id_ = draw(st.sampled_from(named or [r.event.id for r in targets]))
                source = f"urn:annals:other{n}"
            e = _recorded(n, id_, source, type_, subject, when, confidence, data)
            rows.append(Row(e, frozenset(references(data) | {subject}), False, None))
            continue
        if kind == "custom":
            data = {"about": draw(st.sampled_from(UNIVERSE))}
            subject = draw(st.sampled_from(UNIVERSE))
            e = _recorded(n, f"e{n}", "urn:annals:test", "x-note", subject, when, confidence, data)
            rows.append(Row(e, frozenset(references(data) | {subject}), False, None))
            continue
        if kind == "unretract":
            r = draw(st.sampled_from(retractions))
            body: dict[str, Any] = {"event": r.event.id, "reason": "the retraction was wrong"}
            e = _recorded(
                n, f"e{n}", "urn:annals:test", "event.retracted", r.event.subject, when,
                confidence, body,
            )  # fmt: skip
            rows.append(Row(e, r.concerns, True, r.event.id))
            continue
        target = draw(st.sampled_from(targets))
        t = target.event
        if kind == "retract":
            body = {"event": t.id, "reason": "wrong"}
            e = _recorded(
                n, f"e{n}", "urn:annals:test", "event.retracted", t.subject, when, confidence, body
            )
            rows.append(Row(e, target.concerns, True, t.id))
            continue
        if is_custom(t.type):
            replacement: dict[str, Any] = {"about": draw(st.sampled_from(UNIVERSE))}
        else:
            replacement = draw(SHAPES[t.type][1])
        body = {"event": t.id, "data": replacement}
        if draw(st.booleans()):
            moved = EPOCH + timedelta(days=draw(st.integers(0, 40)))
            body["time"] = draw(st.sampled_from((format_time(moved), moved.strftime("%Y-%m"))))
        if draw(st.booleans()):
            body["confidence"] = draw(st.sampled_from(CONFIDENCES))
        e = _recorded(
            n, f"e{n}", "urn:annals:test", "event.corrected", t.subject, when, confidence, body
        )
        rows.append(Row(e, target.concerns | references(replacement), True, t.id))
    return rows
