"""Query parameters and headers several routes share, validated one way everywhere."""

from __future__ import annotations

from typing import Annotated, Final

from litestar.params import QueryParameter

from events.envelope import MAX_SEQUENCE, FieldError
from events.vocabulary import SUBJECT_RE, Confidence
from service.problems import Problem

AtParam = Annotated[
    str | None,
    QueryParameter(description="valid time: RFC 3339 timestamp or date (end of that day, UTC)"),
]
KnownAtParam = Annotated[
    str | None,
    QueryParameter(description="transaction time: a sequence number or an RFC 3339 timestamp"),
]
MinConfidence = Annotated[Confidence, QueryParameter(description="leave out events below this")]

FromParam = Annotated[
    str | None,
    QueryParameter(name="from", description="valid time: a date (start of that day) or RFC 3339"),
]
ToParam = Annotated[
    str | None, QueryParameter(description="valid time: a date (end of that day) or RFC 3339")
]
SubjectParam = Annotated[
    str | None, QueryParameter(description="every event concerning this subject (party/russia)")
]
TypeParam = Annotated[
    str | None,
    QueryParameter(name="type", description="an exact type, or a prefix ending in '.' (plan.)"),
]

_AFTER: Final = QueryParameter(ge=0, le=MAX_SEQUENCE, description="the sequence to start after")
After = Annotated[int, _AFTER]
AfterOrHead = Annotated[int | None, _AFTER]  # absent: start at the head of the log


def last_event_id(value: str | None) -> int | None:
    """The sequence of a `Last-Event-ID` header (SSE resumption), checked like `after`."""
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_SEQUENCE):
        raise Problem(
            400,
            "Last-Event-ID must be a sequence number (0 to 2^63-1)",
            errors=[FieldError("Last-Event-ID", "a sequence number, 0 to 2^63-1")],
            kind="bad-parameter",
        )
    return int(text)


def path_subject(kind: str, slug: str) -> str:
    """The subject a `/v1/{collection}/{slug}` path names; 404 when the slug cannot be one."""
    subject = f"{kind}/{slug}"
    if not SUBJECT_RE.match(subject):
        raise Problem(404, f"{subject!r} is not a subject id", kind="not-found")
    return subject
