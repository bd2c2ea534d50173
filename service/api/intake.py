"""Reading a POST body into validated drafts: content type, JSON, the three batch forms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from events import jsontext
from events.envelope import (
    MAX_SEQUENCE,
    Draft,
    EventTooLarge,
    FieldError,
    InvalidEvent,
    parse_event,
    scan,
    split_msgspec_error,
)
from events.jsonscan import MAX_DEPTH
from events.jsontext import key_path
from events.store import Precondition
from events.vocabulary import MAX_LIST, SUBJECT_RE, SUBJECT_RULE
from service.api import binary
from service.problems import Problem, invalid

SINGLE_TYPES: Final = ("application/json", "application/cloudevents+json")
BATCH_TYPE: Final = "application/cloudevents-batch+json"
MAX_ERRORS: Final = 100  # field errors named in one answer
_Preconditions = Annotated[list[Precondition], Meta(max_length=MAX_LIST)]


class Batch(msgspec.Struct, frozen=True):
    """A parsed POST body."""

    drafts: list[Draft]
    preconditions: list[Precondition]
    is_batch: bool
    binary: bool = False  # CloudEvents binary content mode: errors name `ce-` headers


def decode_json(body: bytes, expected: str) -> Any:
    """JSON bytes to Python values; an empty body is a 400 that says what to send
    (`expected`, "a JSON event"), malformed input a 400 that says where, a key given twice
    a 422 naming it."""
    if not body.strip():
        raise Problem(400, f"the request body is empty; send {expected}", kind="malformed")
    try:
        return jsontext.decode(body)
    except jsontext.DuplicateKey as e:
        raise invalid([FieldError(e.path, jsontext.DUPLICATE_KEY)]) from None
    except RecursionError:
        raise invalid([FieldError("$", f"nested deeper than {MAX_DEPTH} levels")]) from None
    except msgspec.ValidationError as e:
        # Well-formed JSON holding a number no float or integer can hold (1e400).
        err = split_msgspec_error(e, "")
        path = err.path if err.path.startswith("$") and "..." not in err.path else "$"
        raise invalid([FieldError(path, err.message)]) from None
    except (msgspec.DecodeError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        raise Problem(400, f"malformed JSON: {e}", kind="malformed") from None


def media_type(content_type: str) -> str:
    """The bare media type of a Content-Type header; a non-UTF-8 charset is refused."""
    mt, *params = content_type.split(";")
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise Problem(
                415, f"JSON bodies must be UTF-8, not charset={charset!r}", kind="media-type"
            )
    return mt.strip().lower()


def _preconditions(value: Any) -> list[Precondition]:
    """Validate `preconditions` here, so that the store only ever sees sound ones."""
    if value is None:
        return []
    hostile = scan(value, "$.preconditions")
    if hostile:
        raise invalid([hostile])
    try:
        found = msgspec.convert(value, _Preconditions)
    except msgspec.ValidationError as e:
        raise invalid([split_msgspec_error(e, "$.preconditions")]) from None
    errors: list[FieldError] = []
    for i, p in enumerate(found):
        if not SUBJECT_RE.match(p.subject):
            errors.append(FieldError(f"$.preconditions[{i}].subject", SUBJECT_RULE))
        if p.last_sequence is not None and not 0 <= p.last_sequence <= MAX_SEQUENCE:
            errors.append(
                FieldError(f"$.preconditions[{i}].last_sequence", "a sequence number or null")
            )
    if errors:
        raise invalid(errors)
    return found


def parse_body(
    content_type: str,
    body: bytes,
    max_batch: int,
    raw_headers: Iterable[tuple[bytes, bytes]] = (),
) -> Batch:
    """Validate a POST /v1/events body in any of the SPEC §2 forms; with `ce-` headers
    among `raw_headers` (the ASGI scope's), one event in binary content mode."""
    if binary.is_binary(raw_headers):
        return _binary_mode(content_type, body, raw_headers)
    mt = media_type(content_type)
    if mt not in (*SINGLE_TYPES, BATCH_TYPE):
        raise Problem(
            415,
            f"unsupported Content-Type {mt or '(none)'!r}; use application/json, "
            "application/cloudevents+json or application/cloudevents-batch+json",
            kind="media-type",
        )
    value = decode_json(body, "a JSON event")
    preconditions: list[Precondition] = []
    prefix = "$"
    if mt == BATCH_TYPE and not isinstance(value, list):
        raise invalid([FieldError("$", f"{BATCH_TYPE} takes a JSON array of events")])
    if isinstance(value, dict) and "events" in value:
        extra = set(value) - {"events", "preconditions"}
        if extra:
            raise invalid(
                [
                    FieldError(key_path("$", k), "allowed: events, preconditions")
                    for k in sorted(extra)
                ]
            )
        preconditions = _preconditions(value.get("preconditions"))
        value, prefix = value["events"], "$.events"
        if not isinstance(value, list):
            raise invalid([FieldError("$.events", "must be an array of events")])
    if isinstance(value, list):
        if not value:
            raise invalid([FieldError(prefix, "an empty batch; send at least one event")])
        if len(value) > max_batch:
            raise Problem(
                413, f"{len(value)} events in one batch; the limit is {max_batch}", kind="too-large"
            )
        return Batch(_parse_all(value, prefix), preconditions, True)
    return Batch(_parse_all([value], None), preconditions, False)


def _parse_all(raws: list[Any], prefix: str | None) -> list[Draft]:
    drafts: list[Draft] = []
    errors: list[FieldError] = []
    for i, raw in enumerate(raws):
        try:
            drafts.append(parse_event(raw, "$" if prefix is None else f"{prefix}[{i}]"))
        except EventTooLarge:
            raise  # 413 on its own: nothing else in the batch matters then
        except InvalidEvent as e:
            errors.extend(e.errors[: MAX_ERRORS - len(errors)])
            if len(errors) >= MAX_ERRORS:  # enough to act on; don't build a huge answer
                break
    if errors:
        raise invalid(errors)
    return drafts


def _binary_mode(
    content_type: str, body: bytes, raw_headers: Iterable[tuple[bytes, bytes]]
) -> Batch:
    """One event from `ce-` headers and a JSON data body (see service/api/binary.py)."""
    has_data = bool(body.strip())
    # No Content-Type is JSON too: the SDKs send none when an event sets no datacontenttype.
    if has_data and media_type(content_type) not in ("application/json", ""):
        raise Problem(
            415,
            f"binary mode (ce- headers) takes its data as application/json, not "
            f"{content_type or '(no Content-Type)'!r}; a structured event goes without ce- headers",
            kind="media-type",
        )
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
    try:
        data = decode_json(body, "the event's data") if has_data else None
        raw = binary.envelope(headers, data, has_data)
        return Batch([parse_event(raw)], [], False, binary=True)
    except EventTooLarge:
        raise  # 413 as in structured mode; it names the whole event, `$`, which path_of keeps
    except InvalidEvent as e:
        raise invalid([FieldError(binary.path_of(f.path), f.message) for f in e.errors]) from None
