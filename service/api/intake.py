"""Reading a POST body into validated drafts: content type, JSON, the three batch forms."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from events.envelope import Draft, FieldError, InvalidEvent, parse_event, split_msgspec_error
from events.store import Precondition
from service.problems import Problem, invalid

SINGLE_TYPES: Final = ("application/json", "application/cloudevents+json")
BATCH_TYPE: Final = "application/cloudevents-batch+json"


class Batch(msgspec.Struct, frozen=True):
    """A parsed POST body."""

    drafts: list[Draft]
    preconditions: list[Precondition]
    is_batch: bool


def decode_json(body: bytes) -> Any:
    """JSON bytes to Python values; malformed input is a 400 that says where."""
    if not body.strip():
        raise Problem(400, "the request body is empty; send a JSON event", kind="malformed")
    try:
        return msgspec.json.decode(body)
    except RecursionError:
        raise invalid([FieldError("$", "nested too deeply")]) from None
    except (msgspec.DecodeError, ValueError) as e:
        raise Problem(400, f"malformed JSON: {e}", kind="malformed") from None


def media_type(content_type: str) -> str:
    """The bare media type of a Content-Type header; a non-UTF-8 charset is refused."""
    mt, _, params = content_type.partition(";")
    charset = params.strip().lower()
    if charset.startswith("charset=") and charset[8:].strip('"') not in ("utf-8", "utf8"):
        raise Problem(415, "JSON bodies must be UTF-8", kind="media-type")
    return mt.strip().lower()


def parse_body(content_type: str, body: bytes, max_batch: int) -> Batch:
    """Validate a POST /v1/events body in any of the SPEC §2 forms."""
    mt = media_type(content_type)
    if mt not in (*SINGLE_TYPES, BATCH_TYPE):
        raise Problem(
            415,
            f"unsupported Content-Type {mt or '(none)'!r}; use application/json, "
            "application/cloudevents+json or application/cloudevents-batch+json",
            kind="media-type",
        )
    value = decode_json(body)
    preconditions: list[Precondition] = []
    prefix = "$"
    if mt == BATCH_TYPE and not isinstance(value, list):
        raise invalid([FieldError("$", f"{BATCH_TYPE} takes a JSON array of events")])
    if isinstance(value, dict) and "events" in value:
        extra = set(value) - {"events", "preconditions"}
        if extra:
            raise invalid([FieldError(f"$.{sorted(extra)[0]}", "allowed: events, preconditions")])
        try:
            preconditions = msgspec.convert(value.get("preconditions") or [], list[Precondition])
        except msgspec.ValidationError as e:
            raise invalid([split_msgspec_error(e, "$.preconditions")]) from None
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
        except InvalidEvent as e:
            errors.extend(e.errors)
            if len(errors) >= 100:  # enough to act on; don't build a huge answer
                break
    if errors:
        raise invalid(errors)
    return drafts
