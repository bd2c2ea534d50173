"""A question's coordinates: valid time, knowledge (a sequence), confidence, and page cursors."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Final, Literal, TypeVar, get_args

import msgspec

from events import store
from events.envelope import BadParameter
from events.timeparse import TimeError, parse_at
from events.vocabulary import CONFIDENCE_RANK, KINDS, SUBJECT_RE
from queries import model, projector

Collection = Literal["parties", "plans", "meetings", "issues"]
PLURAL: Final = dict(zip(KINDS, get_args(Collection), strict=True))
KIND_OF_COLLECTION: Final = {v: k for k, v in PLURAL.items()}
MAX_PAGE: Final = 10_000
DEFAULT_PAGE: Final = 1_000
# The facts (registers and folded events) a state or diff page holds before it ends early:
# about 4 MB of JSON, and a bounded share of memory however wide the subjects grow.
PAGE_FACTS: Final = 20_000
_PREFIX: Final = re.compile(r"^[a-z0-9/-]{0,80}$")


class Question(msgspec.Struct, frozen=True):
    """A resolved question: valid time, knowledge, confidence; `pinned` = can never change."""

    at: datetime
    known: int
    min_confidence: str
    pinned: bool
    known_at_text: str | None = None

    @property
    def floor(self) -> int:
        """The confidence rank below which events are left out."""
        return CONFIDENCE_RANK[self.min_confidence]


def parse_at_param(name: str, text: str | None, default: datetime) -> datetime:
    """A query date parameter; BadParameter naming it when it is bad."""
    if text is None:
        return default
    try:
        return parse_at(text)
    except TimeError as e:
        raise BadParameter(name, str(e)) from None


async def ask(
    conn: store.Conn,
    at: str | None,
    known_at: str | None,
    min_confidence: str,
    *,
    known: int | None = None,
    now: datetime | None = None,
    at_name: str = "at",
) -> Question:
    """Resolve the parameters every answer takes, with the read model holding `known`.

    `known` (a cursor's sequence) overrides `known_at`; CursorError when the log does not
    reach it (the cursor was made for another log). An answer is immutable only when
    both times are fixed: `known_at` pinned to a recorded prefix of the log, and `at` given
    (a default `at` of now moves with the clock, and future-dated events start to count).
    `at_name` is the parameter a bad `at` is reported as (a diff's `to`).
    """
    when = parse_at_param(at_name, at, now or datetime.now(UTC))
    check_confidence(min_confidence)
    known, pinned, status = await known_as_of(conn, known_at, known)
    known = await projector.ensure(conn, known, status)
    return Question(when, known, min_confidence, pinned and at is not None, known_at)


async def known_as_of(
    conn: store.Conn, known_at: str | None, cursor: int | None
) -> tuple[int, bool, tuple[str, int]]:
    """The sequence a question or a walk is answered as known at: a cursor's, else
    `known_at` resolved (the head when None); whether that is pinned; and the read model's
    (rules, checkpoint), read with the log's head in one round trip. CursorError when the
    log does not reach the cursor's sequence (it was made for another log)."""
    head, rules, held = await model.head_and_status(conn)
    if cursor is None:
        resolved = await store.resolve_known_at(conn, known_at, head)
        return resolved.sequence, resolved.pinned, (rules, held)
    if not 0 <= cursor <= head.sequence:
        raise CursorError("made for a log this service does not hold")
    return cursor, True, (rules, held)


def page_prefix(kind: str | None, prefix: str | None) -> str:
    """The subject-id prefix a page walks: `kind` and `prefix` together."""
    if kind is not None and kind not in KINDS:
        raise BadParameter("kind", f"one of {', '.join(KINDS)}")
    if prefix is not None and not _PREFIX.match(prefix):
        raise BadParameter("prefix", "a subject-id prefix such as plan/us- (a-z, 0-9, / and -)")
    base = f"{kind}/" if kind is not None else ""
    text = prefix or ""
    if kind is not None and text and not (text.startswith(base) or base.startswith(text)):
        raise BadParameter("prefix", f"must start with {base} when kind={kind}")
    return text if len(text) > len(base) else base


def page_limit(limit: int | None) -> int:
    """A page size within bounds."""
    if limit is None:
        return DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise BadParameter("limit", f"from 1 to {MAX_PAGE}")
    return limit


def check_confidence(min_confidence: str) -> None:
    """BadParameter unless `min_confidence` names a confidence."""
    if min_confidence not in CONFIDENCE_RANK:
        raise BadParameter("min_confidence", f"one of {', '.join(CONFIDENCE_RANK)}")


class CursorError(ValueError):
    """A cursor that this service did not make (or made for another log)."""


S = TypeVar("S", bound=msgspec.Struct)


def encode_cursor(c: msgspec.Struct) -> str:
    """The opaque cursor text: base64url (no padding) of the cursor's JSON."""
    return base64.urlsafe_b64encode(msgspec.json.encode(c)).rstrip(b"=").decode()


def decode_cursor(text: str, type_: type[S]) -> S:
    """The cursor of `type_` behind `text`; CursorError when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return msgspec.json.decode(raw, type=type_)
    except (binascii.Error, msgspec.DecodeError, ValueError) as e:
        raise CursorError(f"not a cursor this service made ({e})") from None


class PageCursor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a walk over subjects stands: after subject `s`, as known at sequence `k`."""

    s: str
    k: int


def page_cursor(text: str | None) -> PageCursor | None:
    """A state or diff page cursor; CursorError when this service did not make it (`ask`
    checks that the log reaches its sequence)."""
    if text is None:
        return None
    cursor = decode_cursor(text, PageCursor)
    if not SUBJECT_RE.match(cursor.s):  # a page ends after a subject, named by its id
        raise CursorError("not a cursor this service made (it names no subject)")
    return cursor
