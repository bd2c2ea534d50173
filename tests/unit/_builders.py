"""Builders for projection tests: a fake log that makes `Recorded` events in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from events.timeparse import parse_at, parse_time
from events.vocabulary import Confidence, Recorded, decode_payload, is_custom

RECORDED_FROM = datetime(2026, 1, 1, tzinfo=UTC)


class Log:
    """An in-memory log: each event gets the next sequence and an id `e<sequence>`."""

    def __init__(self) -> None:
        self.events: list[Recorded] = []

    def add(
        self,
        type_: str,
        subject: str | None,
        time: str,
        data: dict[str, Any] | None = None,
        *,
        confidence: Confidence = "confirmed",
        id_: str | None = None,
    ) -> Recorded:
        """Record an event of `type_` about `subject` that happened at `time` (SPEC §2 text)."""
        sequence = len(self.events) + 1
        valid = parse_time(time)
        raw = data or {}
        event = Recorded(
            sequence=sequence,
            id=id_ or f"e{sequence}",
            source="urn:annals:test",
            type=type_,
            subject=subject,
            time=valid.start,
            timeprecision=valid.precision,
            timequalifier=valid.qualifier,
            confidence=confidence,
            recordedtime=RECORDED_FROM + timedelta(seconds=sequence),
            data=raw if is_custom(type_) else decode_payload(type_, raw),
        )
        self.events.append(event)
        return event

    def retract(
        self, target: Recorded, time: str = "2026-01-01", reason: str = "wrong"
    ) -> Recorded:
        """Record a retraction of `target`."""
        return self.add(
            "event.retracted", target.subject, time, {"event": target.id, "reason": reason}
        )

    def correct(
        self,
        target: Recorded,
        data: dict[str, Any],
        *,
        time: str | None = None,
        confidence: Confidence | None = None,
        at: str = "2026-01-01",
    ) -> Recorded:
        """Record a correction of `target` replacing its data (and its time, confidence)."""
        body: dict[str, Any] = {"event": target.id, "data": data}
        if time is not None:
            body["time"] = time
        if confidence is not None:
            body["confidence"] = confidence
        return self.add("event.corrected", target.subject, at, body)


def until(text: str) -> datetime:
    """A query `at` (a date means the end of that day), as the service parses it."""
    return parse_at(text)
