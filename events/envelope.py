"""The CloudEvents envelope of SPEC §2: validating what comes in, shaping what goes out."""

from __future__ import annotations

import functools
import os
import re
import time as _time
import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal, cast

import msgspec
from msgspec import Meta, Struct

from events import jsonscan
from events.jsontext import key_path
from events.timeparse import TimeError, ValidTime, parse_time
from events.vocabulary import (
    EVENT_CONFIDENCE,
    MAX_TYPE,
    META_TYPES,
    SUBJECT_RE,
    SUBJECT_RULE,
    VOCABULARY,
    Confidence,
    Precision,
    Qualifier,
    decode_payload,
    is_custom,
)

MAX_EVENT_BYTES: Final = 1024 * 1024  # one event, as compact JSON (SPEC §6)
MAX_SEQUENCE: Final = 2**63 - 1  # a PostgreSQL bigint: no sequence is larger
DEFAULT_SOURCE: Final = "urn:annals:api"
ALLOWED_TYPES: Final = (*VOCABULARY, "x-<custom>")
ENVELOPE_FIELDS: Final = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "confidence", "data",
     "datacontenttype"}
)  # fmt: skip
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_MSGSPEC_PATH: Final = re.compile(r"^(.*?)(?: - at `(\$[^`]*)`)?$", re.S)


class FieldError(Struct, frozen=True):
    """One bad field: a JSONPath-like `path` and what is wrong with it."""

    path: str
    message: str


class BadParameter(ValueError):
    """A query parameter that is well-formed but unusable (422, naming the parameter)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.errors = [FieldError(name, message)]


class InvalidBody(Exception):
    """A request body breaks the contract (422); carries every field error found."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


class InvalidEvent(InvalidBody):
    """An event breaks the envelope or its type's data (SPEC §3)."""


class EventTooLarge(InvalidEvent):
    """One event past MAX_EVENT_BYTES (SPEC §6): 413 wherever it enters."""

    def __init__(self, path: str, found: str) -> None:
        """`found`: how large the event was found to be, said to the client."""
        super().__init__(
            [FieldError(path, f"{found}; one event is at most {MAX_EVENT_BYTES:,} bytes")]
        )


class Draft(Struct, frozen=True, kw_only=True):
    """A validated event, not yet in the log (no sequence, no hash)."""

    id: str
    id_given: bool
    source: str
    type: str
    subject: str | None
    time: str
    valid: ValidTime
    confidence: Confidence
    data: Any  # the JSON value as given (validated against the type's Struct)
    payload: Any  # the typed payload Struct, or the raw value for x- types
    # Where the event sits in the request body (`$`, `$[2]`, `$.events[2]`), so that
    # errors found later (by the store) name the field as the client wrote it.
    path: str = "$"
    # Set when the event comes from an export of a log (restore/replication): it must land
    # at exactly this place of the chain, with its original recorded time and hash.
    restore: Restore | None = None


class Restore(Struct, frozen=True):
    """The place an exported event had in its log."""

    sequence: int
    recordedtime: datetime
    hash: str
    predecessorhash: str


class StoredEvent(Struct, frozen=True, kw_only=True, omit_defaults=False):
    """An event as the API returns it (SPEC §2, output attributes)."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str | None
    time: str
    timeprecision: Precision
    timequalifier: Qualifier | None
    timegiven: str
    confidence: Confidence
    data: Any
    sequence: int
    recordedtime: str
    hash: str
    predecessorhash: str


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits."""
    ms = _time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


SOURCE_RULE: Final = (
    "must be a URI-reference (RFC 3986), such as urn:annals:desk or https://example.org/feed: "
    'no spaces or <>"{}|\\^` characters, % only before two hex digits, at most one #'
)
_URI_CHARS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FIRST_SEGMENT: Final = re.compile(r"[^/?#]*")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_AUTHORITY: Final = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//[^/?#]*")


@functools.lru_cache(maxsize=1_024)  # sources repeat: a feed posts under one source
def is_uri_reference(text: str) -> bool:
    """RFC 3986 `URI-reference`: its characters, percent-encoding, one fragment, a scheme
    where the first segment has a colon, brackets only around an IP literal host."""
    if not _URI_CHARS.fullmatch(text) or text.count("#") > 1:
        return False
    if "%" in text and _BAD_PERCENT.search(text):
        return False
    colon, first = text.find(":"), _FIRST_SEGMENT.match(text)
    if first and 0 <= colon < first.end() and not _SCHEME.fullmatch(text, 0, colon):
        return False
    if "[" in text or "]" in text:
        rest = _AUTHORITY.sub("", text, count=1)
        return "[" not in rest and "]" not in rest
    return True


def could_be_id(text: str) -> bool:
    """Whether an event could have this id (SPEC §2 `id`, as checked on input)."""
    return 0 < len(text) <= MAX_ID and not _CONTROL.search(text)


def split_msgspec_error(err: Exception, prefix: str) -> FieldError:
    """Turn msgspec's 'Expected `int`, got `str` - at `$.x`' into a FieldError under prefix."""
    m = _MSGSPEC_PATH.match(str(err))
    message, at = (m.group(1), m.group(2)) if m else (str(err), None)
    path = prefix + (at[1:] if at else "")
    field = re.search(r"(?:unknown|missing required) field `([^`]*)`", message)
    if field:
        path += f".{field.group(1)}"
    return FieldError(path or "$", message)


def scan(value: Any, path: str = "$") -> FieldError | None:
    """The first thing in `value` the log cannot hold (`events.jsonscan`), named."""
    found = jsonscan.first_hostile(value, path)
    return None if found is None else FieldError(*found)


MAX_ID: Final = 256
_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
_Source = Annotated[str, Meta(min_length=1, max_length=1_024)]
_Type = Annotated[str, Meta(min_length=1, max_length=MAX_TYPE)]
_Subject = Annotated[str, Meta(min_length=1, max_length=128)]
_Time = Annotated[str, Meta(max_length=64)]  # "" is refused by parse_time, saying why

_ATTRIBUTE_TYPES: Final[dict[str, Any]] = {
    "specversion": Literal["1.0"],
    "id": _Id,
    "source": _Source,
    "type": _Type,
    "subject": _Subject | None,
    "time": _Time,
    "confidence": Confidence,
    "datacontenttype": Literal["application/json"],
}


class _Envelope(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The whole envelope in one msgspec step (the fast path of parse_event): the same
    types as _ATTRIBUTE_TYPES, UNSET where an attribute is absent. `data` stays the JSON
    value; _typed_envelope builds one per vocabulary type with the payload Struct there.

    gc=False: an envelope lives for one call and holds no cycle (JSON values cannot)."""

    type: _Type
    time: _Time
    specversion: Literal["1.0"] | msgspec.UnsetType = msgspec.UNSET
    id: _Id | msgspec.UnsetType = msgspec.UNSET
    source: _Source = DEFAULT_SOURCE
    subject: _Subject | None = None
    confidence: Confidence = EVENT_CONFIDENCE
    datacontenttype: Literal["application/json"] | msgspec.UnsetType = msgspec.UNSET
    data: Any = msgspec.UNSET


def _typed_envelope(payload: type[Any]) -> type[_Envelope]:
    # `data` required and typed: one msgspec.convert checks envelope and payload at once.
    return cast(
        "type[_Envelope]",
        msgspec.defstruct(
            f"_Envelope_{payload.__name__}",
            [("data", payload)],
            bases=(_Envelope,),
            frozen=True,
            kw_only=True,
            forbid_unknown_fields=True,
            gc=False,
        ),
    )


_ENVELOPES: Final[dict[str, type[_Envelope]]] = {
    name: _typed_envelope(cls) for name, (cls, _kind) in VOCABULARY.items()
}
# Valid times repeat (a log's events share days): parse each text once. Only successful
# parses are cached (an exception is not), and ValidTime is frozen, so sharing is safe.
_cached_time: Final = functools.lru_cache(maxsize=8_192)(parse_time)


def _fast(raw: dict[str, Any], path: str) -> Draft | None:
    """The event when it is valid, checked in one msgspec step; None on any doubt, and
    parse_event's field-by-field walk then finds (and names) every error exactly as
    before. Costs a fraction of the walk, which converts each attribute on its own."""
    type_ = raw.get("type")
    cls = _ENVELOPES.get(type_) if isinstance(type_, str) else None
    try:
        env = msgspec.convert(raw, cls or _Envelope)
    except msgspec.ValidationError:
        return None
    type_ = env.type
    if cls is None and (type_ == "x-" or not is_custom(type_)):
        return None
    if _CONTROL.search(type_) or not is_uri_reference(env.source):
        return None
    id_ = env.id
    if isinstance(id_, str) and _CONTROL.search(id_):
        return None
    if _check_subject(type_, env.subject, "subject" in raw, path):
        return None
    try:
        valid = _cached_time(env.time)
    except TimeError:
        return None
    if cls is not None and check_dates(env.data, f"{path}.data"):
        return None
    return Draft(
        id=id_ if isinstance(id_, str) else uuid7(),
        id_given=isinstance(id_, str),
        source=env.source,
        type=type_,
        subject=env.subject,
        time=env.time,
        valid=valid,
        confidence=env.confidence,
        data=raw.get("data"),
        payload=env.data if cls is not None else raw.get("data"),
        path=path,
    )


def parse_event(raw: Any, path: str = "$") -> Draft:
    """Validate one decoded JSON event against SPEC §2 and §3; raise InvalidEvent.

    Checks every envelope attribute independently so that one response names every bad
    field, then the payload against its type's Struct (msgspec stops at its first error).
    A valid event takes _fast instead; only one that fails there is walked.
    """
    if not isinstance(raw, dict):
        raise InvalidEvent([FieldError(path, "an event must be a JSON object")])
    # The one event-size rule (SPEC §6): every way in (POST, import, a correction's
    # replacement data, x- data) passes here with the event as decoded JSON.
    text = jsonscan.encoded(raw)
    if text is not None and len(text) > MAX_EVENT_BYTES:
        raise EventTooLarge(path, f"the event is {len(text):,} bytes as JSON")
    hostile = jsonscan.hostile_in(raw, text, path)
    if hostile:
        raise InvalidEvent([FieldError(*hostile)])
    return _fast(raw, path) or _walk(raw, path)


def _walk(raw: dict[str, Any], path: str) -> Draft:
    """parse_event's slow path: every attribute on its own, every error named."""
    errors: list[FieldError] = []
    for key in raw:
        if key not in ENVELOPE_FIELDS:
            allowed = ", ".join(sorted(ENVELOPE_FIELDS))
            errors.append(FieldError(key_path(path, key), f"unknown attribute; allowed: {allowed}"))
    attrs: dict[str, Any] = {}
    for name, typ in _ATTRIBUTE_TYPES.items():
        if name not in raw:
            continue
        try:
            attrs[name] = msgspec.convert(raw[name], typ)
        except msgspec.ValidationError as e:
            errors.append(split_msgspec_error(e, f"{path}.{name}"))
    for name in ("id", "source", "type"):
        if isinstance(attrs.get(name), str) and _CONTROL.search(attrs[name]):
            errors.append(FieldError(f"{path}.{name}", "must not contain control characters"))
        elif name == "source" and name in attrs and not is_uri_reference(attrs[name]):
            errors.append(FieldError(f"{path}.source", SOURCE_RULE))
    for name in ("type", "time"):
        if name not in raw:
            errors.append(FieldError(f"{path}.{name}", "required"))
    type_ = attrs.get("type")
    if isinstance(type_, str) and _CONTROL.search(type_):
        type_ = None
    elif type_ == "x-":
        errors.append(FieldError(f"{path}.type", "a custom type needs a name after x-"))
        type_ = None
    elif isinstance(type_, str) and type_ not in VOCABULARY and not is_custom(type_):
        errors.append(
            FieldError(
                f"{path}.type", f"unknown type {type_!r}; allowed: {', '.join(ALLOWED_TYPES)}"
            )
        )
        type_ = None
    subject = attrs.get("subject")
    if type_ is not None and ("subject" not in raw or "subject" in attrs):
        # (a subject that failed its type check above is already named)
        errors.extend(_check_subject(type_, subject, "subject" in raw, path))
    valid: ValidTime | None = None
    if isinstance(attrs.get("time"), str):
        try:
            valid = parse_time(attrs["time"])
        except TimeError as e:
            errors.append(FieldError(f"{path}.time", str(e)))
    payload: Any = raw.get("data")
    if type_ in VOCABULARY:
        if "data" not in raw:
            errors.append(FieldError(f"{path}.data", "required"))
        else:
            try:
                payload = decode_payload(type_, raw["data"])
            except msgspec.ValidationError as e:
                errors.append(split_msgspec_error(e, f"{path}.data"))
            else:
                errors.extend(check_dates(payload, f"{path}.data"))
    if errors:
        raise InvalidEvent(errors)
    assert isinstance(type_, str) and valid is not None
    return Draft(
        id=attrs.get("id") or uuid7(),
        id_given="id" in attrs,
        source=attrs.get("source", DEFAULT_SOURCE),
        type=type_,
        subject=subject,
        time=attrs["time"],
        valid=valid,
        confidence=attrs.get("confidence", EVENT_CONFIDENCE),
        data=raw.get("data"),
        payload=payload,
        path=path,
    )


def _check_subject(type_: str, subject: Any, given: bool, path: str) -> list[FieldError]:
    where = f"{path}.subject"
    if subject is None:
        if type_ in VOCABULARY and type_ not in META_TYPES:
            return [FieldError(where, "required for this type")]
        return []
    if not SUBJECT_RE.match(subject):
        return [FieldError(where, SUBJECT_RULE)]
    want = VOCABULARY.get(type_, (None, "any"))[1]
    if want != "any" and not subject.startswith(want + "/"):
        return [FieldError(where, f"{type_} takes a {want} subject, got {subject!r}")]
    return []


def check_dates(payload: Any, path: str) -> list[FieldError]:
    """Dates inside data (meeting starts, source published, correction time) must parse too;
    a correction's replacement data is checked the same way against its target's type."""
    errors = []
    for field in ("starts", "time"):
        value = getattr(payload, field, None)
        if isinstance(value, str):
            try:
                _cached_time(value)
            except TimeError as e:
                errors.append(FieldError(f"{path}.{field}", str(e)))
    for i, src in enumerate(getattr(payload, "sources", [])):
        if src.published is not None:
            try:
                _cached_time(src.published)
            except TimeError as e:
                errors.append(FieldError(f"{path}.sources[{i}].published", str(e)))
    return errors
