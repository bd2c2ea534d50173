"""What the OpenAPI document says beyond the handlers' signatures: every RFC 9457 problem an
operation can answer, `304 Not Modified` of cached answers, and the POST /v1/events body
(read raw by the handler, so Litestar cannot infer it).

Documentation only: nothing here changes what a request gets. The schemathesis test
(tests/e2e/test_fuzz_schema.py) holds the service to this document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, get_args

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from events.envelope import MAX_SEQUENCE, FieldError
from events.vocabulary import SLUG, VOCABULARY, Confidence

PROBLEM_JSON: Final = "application/problem+json"

_WHY: Final[dict[int, str]] = {
    400: "Malformed request: bad JSON, or a parameter of the wrong type or range",
    401: "Authentication required: no token, or an unknown one (when tokens are configured)",
    403: "The token lacks the scope this request needs",
    404: "Not found",
    409: "Conflict: an id reused with other content, a failed precondition, or an id that "
    "several sources use",
    413: "The body is past the size limit, or a batch past the event limit",
    415: "Unsupported media type or a non-UTF-8 charset",
    422: "A value that breaks the contract; `errors` names each bad field",
    429: "Too many writes (when a write rate is configured); see Retry-After",
    503: "The database is unreachable, or too many heavy reads run at once; see Retry-After",
}


class ProblemDetails(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | msgspec.UnsetType = msgspec.UNSET


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The `responses=` of a route handler: these statuses, each a problem+json."""
    return {
        status: ResponseSpec(
            ProblemDetails,
            description=_WHY[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }


NOT_MODIFIED: Final = {
    304: ResponseSpec(None, description="Not modified: If-None-Match named the current ETag")
}

# The problems a read can answer: a bad parameter (400, 422), auth when reads are not
# public (401, 403), the database gone (503).
READ: Final = (400, 401, 403, 422, 503)


def read_responses(*more: int, cached: bool = False) -> dict[int, ResponseSpec]:
    """The `responses=` of a read: READ, `more`, and 304 when the answer is cached."""
    docs = problems(*sorted({*READ, *more}))
    return {**docs, **NOT_MODIFIED} if cached else docs


# --- the POST /v1/events body -------------------------------------------------------------

_STRING = OpenAPIType.STRING
# ECMA-262 regular expressions, as JSON Schema reads them.
_SUBJECT: Final = rf"^(party|plan|meeting|issue)/{SLUG}$"
_CUSTOM_TYPE: Final = r"^x-[^\u0000-\u001f\u007f]{1,126}$"
# The forms of SPEC §2 (events/timeparse.py reads them, and checks the calendar too).
_TIME: Final = (
    r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?[~?]?$"
    r"|^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _text(most: int) -> Schema:
    """A string of 1 to `most` characters, no control characters."""
    return Schema(type=_STRING, pattern=rf"^[^\u0000-\u001f\u007f]{{1,{most}}}$")


_EVENT: Final = Schema(
    type=OpenAPIType.OBJECT,
    description="A CloudEvents 1.0 event (structured JSON), SPEC §2",
    required=["type", "time"],
    properties={
        "specversion": Schema(type=_STRING, enum=["1.0"]),
        "id": _text(256),  # unique together with source; default a UUIDv7
        "source": _text(1024),  # a URI-reference; default urn:annals:api
        "type": Schema(
            any_of=[
                Schema(type=_STRING, enum=list(VOCABULARY)),
                Schema(type=_STRING, pattern=_CUSTOM_TYPE),
            ],
            description="a type of SPEC §3, or a custom type starting x-",
        ),
        "subject": Schema(
            one_of=[Schema(type=_STRING, pattern=_SUBJECT), Schema(type=OpenAPIType.NULL)],
            description="required for SPEC §3 types, of the kind the type names",
        ),
        "time": Schema(
            type=_STRING,
            pattern=_TIME,
            max_length=64,
            description="RFC 3339 timestamp, or 2025-11-27, 2025-11, 2025, optionally ending in "
            "~ (approximate) or ? (uncertain)",
        ),
        "confidence": Schema(type=_STRING, enum=list(get_args(Confidence))),
        "datacontenttype": Schema(type=_STRING, enum=["application/json"]),
        "data": Schema(description="the payload of its type (SPEC §3); any JSON for x- types"),
    },
    additional_properties=False,
)

_PRECONDITION: Final = Schema(
    type=OpenAPIType.OBJECT,
    required=["subject", "last_sequence"],
    properties={
        "subject": Schema(type=_STRING, pattern=_SUBJECT),
        "last_sequence": Schema(
            one_of=[Schema(type=OpenAPIType.INTEGER, minimum=0), Schema(type=OpenAPIType.NULL)]
        ),
    },
    additional_properties=False,
)

_EVENTS: Final = Schema(type=OpenAPIType.ARRAY, items=_EVENT, min_items=1, max_items=10_000)

_BODY: Final = Schema(
    one_of=[
        _EVENT,
        _EVENTS,
        Schema(
            type=OpenAPIType.OBJECT,
            required=["events"],
            properties={
                "events": _EVENTS,
                "preconditions": Schema(
                    one_of=[
                        Schema(type=OpenAPIType.ARRAY, items=_PRECONDITION),
                        Schema(type=OpenAPIType.NULL),  # null: none
                    ]
                ),
            },
            additional_properties=False,
        ),
    ]
)

_ONE: Final = {
    "type": "party.registered",
    "subject": "party/ukraine",
    "time": "2025-11-27",
    "data": {"name": "Ukraine", "kind": "state"},
}
_ANOTHER: Final = {
    "type": "position.stated",
    "subject": "party/ukraine",
    "time": "2025-11~",
    "confidence": "reported",
    "data": {"on": "issue/donbas", "stance": "rejects", "summary": "No withdrawal."},
}
_EXAMPLES: Final = {
    "one": Example(summary="One event", value=_ONE),
    "batch": Example(summary="A batch, all or nothing", value=[_ONE, _ANOTHER]),
    "preconditions": Example(
        summary="A batch that needs issue/donbas untouched since sequence 41",
        value={
            "events": [_ANOTHER],
            "preconditions": [{"subject": "issue/donbas", "last_sequence": 41}],
        },
    ),
}

APPEND_BODY: Final = RequestBody(
    required=True,
    description="One event, an array of events, or {events, preconditions}; a batch is all "
    "or nothing",
    content={
        "application/json": OpenAPIMediaType(schema=_BODY, examples=dict(_EXAMPLES)),
        "application/cloudevents+json": OpenAPIMediaType(
            schema=_EVENT, examples={"one": _EXAMPLES["one"]}
        ),
        "application/cloudevents-batch+json": OpenAPIMediaType(
            schema=_EVENTS, examples={"batch": _EXAMPLES["batch"]}
        ),
    },
)


@dataclass
class AppendOperation(Operation):
    """The POST /v1/events operation, with the body the handler reads itself."""

    def __post_init__(self) -> None:
        self.request_body = APPEND_BODY


def answer_responses(shape: type, *more: int) -> dict[int, ResponseSpec]:
    """The `responses=` of a cached answer whose handler returns a raw Response: its 200
    body `shape`, then what `read_responses` says."""
    ok = ResponseSpec(shape, description="The answer", generate_examples=False)
    return {200: ok, **read_responses(*more, cached=True)}


# --- the POST /v1/subscriptions body --------------------------------------------------------

# As loose as service/webhooks/rules.py or looser: whatever this forbids, the service refuses.
_SUBSCRIBE: Final = Schema(
    type=OpenAPIType.OBJECT,
    required=["url"],
    properties={
        "url": Schema(
            type=_STRING, max_length=2048, description="http(s) URL that receives the events"
        ),
        "types": Schema(
            one_of=[
                Schema(type=OpenAPIType.ARRAY, items=Schema(type=_STRING), max_items=100),
                Schema(type=OpenAPIType.NULL),
            ],
            description="types, exact or a prefix ending in '.' (plan.); null: every type",
        ),
        "subject": Schema(
            one_of=[Schema(type=_STRING), Schema(type=OpenAPIType.NULL)],
            description="only events concerning this subject; null: every event",
        ),
        "after": Schema(
            one_of=[
                Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=MAX_SEQUENCE),
                Schema(type=OpenAPIType.NULL),
            ],
            description="start after this sequence; null: after the head of the log",
        ),
    },
    additional_properties=False,
)

SUBSCRIBE_BODY: Final = RequestBody(
    required=True,
    description="The receiver's URL and, optionally, which events it wants",
    content={
        "application/json": OpenAPIMediaType(
            schema=_SUBSCRIBE,
            examples={
                "plans": Example(
                    summary="Plan events concerning Ukraine",
                    value={
                        "url": "https://cms.example.org/hooks/annals",
                        "types": ["plan."],
                        "subject": "party/ukraine",
                    },
                )
            },
        )
    },
)


@dataclass
class SubscribeOperation(Operation):
    """The POST /v1/subscriptions operation, with the body the handler reads itself."""

    def __post_init__(self) -> None:
        self.request_body = SUBSCRIBE_BODY
