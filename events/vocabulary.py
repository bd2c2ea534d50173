"""The vocabulary of SPEC §3: one msgspec Struct per event type's payload, one union."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import Meta, Struct

# --- limits (documented in docs/ARCHITECTURE.md#limits) -------------------------------
MAX_TEXT: Final = 10_000  # characters in a free-text field (summary, quote, note, ...)
MAX_NAME: Final = 500  # characters in a short field (name, title, location, outlet, ...)
MAX_LIST: Final = 1_000  # items in any list inside `data`

SLUG = r"[a-z0-9][a-z0-9-]{0,63}"
Kind = Literal["party", "plan", "meeting", "issue"]
KINDS: Final[tuple[str, ...]] = get_args(Kind)
# `\Z`, not `$`: `$` also matches before a trailing newline ("party/x\n" is no subject id).
SUBJECT_RE: Final = re.compile(rf"^({'|'.join(KINDS)})/{SLUG}\Z")
# What a bad subject id is told, wherever one is refused.
SUBJECT_RULE: Final = f"must be {{{','.join(KINDS)}}}/<slug>, slug = {SLUG}"
MAX_TYPE: Final = 128  # characters in an event type, or a type prefix that filters

Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
Url = Annotated[str, Meta(max_length=2_048)]
PartyRef = Annotated[str, Meta(pattern=rf"^party/{SLUG}\Z")]
PlanRef = Annotated[str, Meta(pattern=rf"^plan/{SLUG}\Z")]
MeetingRef = Annotated[str, Meta(pattern=rf"^meeting/{SLUG}\Z")]
IssueRef = Annotated[str, Meta(pattern=rf"^issue/{SLUG}\Z")]
PlanOrIssueRef = Annotated[str, Meta(pattern=rf"^(plan|issue)/{SLUG}\Z")]
EventRef = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
# A date or timestamp given inside `data` (meeting starts, source published): validated
# with the same rules as `time`, stored and returned exactly as given.
DateText = Annotated[str, Meta(min_length=1, max_length=64)]


PartyRefs = Annotated[list[PartyRef], Meta(max_length=MAX_LIST)]
TextList = Annotated[list[Text], Meta(max_length=MAX_LIST)]

Confidence = Literal["confirmed", "reported", "unconfirmed", "disputed"]
CONFIDENCE_RANK: Final[dict[str, int]] = {
    "disputed": 0,
    "unconfirmed": 1,
    "reported": 2,
    "confirmed": 3,
}
# The floor a question has unless it names one: every event counts.
DEFAULT_MIN_CONFIDENCE: Final = "disputed"
EVENT_CONFIDENCE: Final[Confidence] = "confirmed"  # an event's unless it gives one (SPEC §2)
PartyKind = Literal["state", "organization", "person", "media", "other"]
PlanKind = Literal["plan", "counterproposal", "resolution", "framework"]
Stance = Literal[
    "supports", "opposes", "demands", "rejects", "considering", "offers", "conditional", "neutral"
]


class Source(Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Where a fact comes from: an outlet, optionally a URL, a publication date, a note."""

    outlet: Name
    url: Url | None = None
    published: DateText | None = None
    note: Text | None = None


class Payload(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Fields any payload may carry."""

    sources: Annotated[list[Source], Meta(max_length=MAX_LIST)] = []
    quote: Text | None = None


class Provision(Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One numbered point of a plan."""

    id: Name
    text: Text
    issues: Annotated[list[IssueRef], Meta(max_length=MAX_LIST)] = []


Provisions = Annotated[list[Provision], Meta(max_length=MAX_LIST)]
Points = Annotated[int, Meta(ge=0, le=100_000)]


class PartyRegistered(Payload, frozen=True, kw_only=True):
    name: Name
    kind: PartyKind
    member_of: PartyRef | None = None
    role: Name | None = None
    aliases: Annotated[list[Name], Meta(max_length=MAX_LIST)] = []


class PlanProposed(Payload, frozen=True, kw_only=True):
    title: Name
    sponsor: PartyRef
    kind: PlanKind = "plan"
    points: Points | None = None
    based_on: PlanRef | None = None
    summary: Text | None = None
    provisions: Provisions = []


class PlanRevised(Payload, frozen=True, kw_only=True):
    by: PartyRef | None = None
    points: Points | None = None
    title: Name | None = None
    summary: Text | None = None
    provisions_added: Provisions = []
    provisions_removed: Annotated[list[Name], Meta(max_length=MAX_LIST)] = []


class PlanClassified(Payload, frozen=True, kw_only=True):
    ordered_by: PartyRef
    withheld_from: PartyRefs
    summary: Text | None = None


class PlanDeclassified(Payload, frozen=True, kw_only=True):
    by: PartyRef


class PlanPresented(Payload, frozen=True, kw_only=True):
    by: PartyRef
    to: PartyRefs
    meeting: MeetingRef | None = None


class PlanSuperseded(Payload, frozen=True, kw_only=True):
    by_plan: PlanRef


class PositionStated(Payload, frozen=True, kw_only=True):
    on: PlanOrIssueRef
    stance: Stance
    summary: Text | None = None
    conditions: TextList = []
    speaker: PartyRef | None = None


class MeetingScheduled(Payload, frozen=True, kw_only=True):
    title: Name
    starts: DateText
    location: Name | None = None
    participants: PartyRefs
    agenda: Annotated[list[PlanOrIssueRef], Meta(max_length=MAX_LIST)] = []


class MeetingRescheduled(Payload, frozen=True, kw_only=True):
    starts: DateText
    location: Name | None = None


class MeetingHeld(Payload, frozen=True, kw_only=True):
    outcome: Text | None = None
    participants: PartyRefs | None = None


class MeetingCancelled(Payload, frozen=True, kw_only=True):
    reason: Text | None = None


class EventRetracted(Payload, frozen=True, kw_only=True):
    event: EventRef
    reason: Text


class EventCorrected(Payload, frozen=True, kw_only=True):
    """A full replacement of another event's data (and optionally its time and confidence).

    `data` is validated against the corrected event's own type when it is appended.
    `confidence` is an Annals extension: a correction may also re-grade a fact.
    """

    event: EventRef
    data: dict[str, Any]
    time: DateText | None = None
    confidence: Confidence | None = None


Data = (
    PartyRegistered
    | PlanProposed
    | PlanRevised
    | PlanClassified
    | PlanDeclassified
    | PlanPresented
    | PlanSuperseded
    | PositionStated
    | MeetingScheduled
    | MeetingRescheduled
    | MeetingHeld
    | MeetingCancelled
    | EventRetracted
    | EventCorrected
)

# type -> (payload Struct, the kind of subject it must have)
VOCABULARY: Final[dict[str, tuple[type[Payload], str]]] = {
    "party.registered": (PartyRegistered, "party"),
    "plan.proposed": (PlanProposed, "plan"),
    "plan.revised": (PlanRevised, "plan"),
    "plan.classified": (PlanClassified, "plan"),
    "plan.declassified": (PlanDeclassified, "plan"),
    "plan.presented": (PlanPresented, "plan"),
    "plan.superseded": (PlanSuperseded, "plan"),
    "position.stated": (PositionStated, "party"),
    "meeting.scheduled": (MeetingScheduled, "meeting"),
    "meeting.rescheduled": (MeetingRescheduled, "meeting"),
    "meeting.held": (MeetingHeld, "meeting"),
    "meeting.cancelled": (MeetingCancelled, "meeting"),
    "event.retracted": (EventRetracted, "any"),
    "event.corrected": (EventCorrected, "any"),
}
META_TYPES: Final = frozenset({"event.retracted", "event.corrected"})


def type_matches(wanted: str | None, type_: str) -> bool:
    """The `type` filter of timelines, exports and streams: none, an exact type, or a prefix
    ending in a dot (`plan.` matches `plan.proposed`)."""
    if not wanted:
        return True
    return type_.startswith(wanted) if wanted.endswith(".") else type_ == wanted


def type_matches_sql(column: str, wanted: str) -> str:
    """`type_matches` as a SQL condition: the type in `column` is matched by the text
    `wanted` (both SQL expressions; `wanted` not null)."""
    prefix = f"right({wanted}, 1) = '.' AND starts_with({column}, {wanted})"
    return f"({column} = {wanted} OR ({prefix}))"


def is_custom(type_: str) -> bool:
    """Custom types start with `x-`: stored and shown, ignored by projections."""
    return type_.startswith("x-")


def decode_payload(type_: str, data: Any) -> Payload:
    """Convert a JSON-like `data` into the payload Struct of `type_` (raises ValidationError)."""
    cls, _kind = VOCABULARY[type_]
    return msgspec.convert(data, cls)


def concerns_of(subject: str | None, data: Any) -> set[str]:
    """The subjects an event concerns (SPEC §1): its subject and every subject id in its
    data. A retraction or correction concerns its target's as well (`events.accept`)."""
    found = references(data)
    if subject is not None:
        found.add(subject)
    return found


def references(value: Any) -> set[str]:
    """Every subject id that appears as a string anywhere inside `value` (SPEC §1 concerns)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if SUBJECT_RE.match(v):
                found.add(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, Struct):
            stack.extend(msgspec.structs.asdict(v).values())
    return found


Precision = Literal["instant", "day", "month", "year"]
Qualifier = Literal["approximate", "uncertain"]


class Recorded(Struct, frozen=True, kw_only=True, gc=False):
    """An event as the log holds it: what projections fold.

    `time` is the start of the valid-time interval (UTC); `data` is the typed payload for
    SPEC §3 types and the raw JSON value for custom `x-` types.
    """

    sequence: int
    id: str
    source: str
    type: str
    subject: str | None
    time: datetime
    timeprecision: Precision
    timequalifier: Qualifier | None
    confidence: Confidence
    recordedtime: datetime
    data: Any
