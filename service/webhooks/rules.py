"""The pure rules of webhooks: a valid subscription, the backoff, the request to send, and
which addresses a delivery must not reach. No I/O and no clock (callers pass `now`)."""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import uuid
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from msgspec import Struct
from standardwebhooks.webhooks import Webhook

from events.envelope import MAX_SEQUENCE, FieldError, InvalidBody
from events.vocabulary import MAX_TYPE, SUBJECT_RE, SUBJECT_RULE, VOCABULARY, is_custom

MAX_SUBSCRIPTIONS: Final = 100  # bounds the metrics' label sets and the worker's tasks
MAX_URL: Final = 2048
MAX_TYPES: Final = 100
BACKOFF_CAP_SECONDS: Final = 600.0  # SPEC §8: retries back off up to 10 minutes
CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
USER_AGENT: Final = "Annals-Webhooks/0.1"
FIELDS: Final = ("url", "types", "subject", "after")
_CONTROL: Final = re.compile(r"[\x00-\x20\x7f]")  # URLs carry no spaces or control characters
_ID: Final = re.compile(r"\A[0-9a-f]{32}\Z")


class NewSubscription(Struct, frozen=True):
    """A valid POST /v1/subscriptions body."""

    url: str
    types: list[str] | None = None
    subject: str | None = None
    after: int | None = None


def _type_error(i: int, t: Any) -> FieldError | None:
    path = f"$.types[{i}]"
    if not isinstance(t, str):
        return FieldError(path, "must be a string")
    if not 0 < len(t) <= MAX_TYPE:
        return FieldError(path, f"must be 1 to {MAX_TYPE} characters")
    if t in VOCABULARY or (is_custom(t) and t != "x-" and not _CONTROL.search(t)):
        return None
    if t.endswith(".") and any(v.startswith(t) for v in VOCABULARY):
        return None  # a prefix, as in GET /v1/stream?type=plan.
    return FieldError(
        path, "must be a type of SPEC §3, a custom x- type, or a prefix ending in '.' (plan.)"
    )


def _url_error(url: Any) -> FieldError | None:
    if not isinstance(url, str):
        return FieldError("$.url", "required, a string")
    if not 0 < len(url) <= MAX_URL or _CONTROL.search(url):
        return FieldError("$.url", f"must be 1 to {MAX_URL} characters, no spaces or controls")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as e:
        return FieldError("$.url", f"not a URL: {e}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return FieldError("$.url", "must be an absolute http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        return FieldError("$.url", "must not carry credentials (user:password@)")
    try:  # what the resolver is given: an empty label or one over 63 characters is no name
        parts.hostname.encode("idna")
    except UnicodeError:
        return FieldError("$.url", "the host must be a domain name or an address")
    return None


class InvalidSubscription(InvalidBody):
    """A subscription body breaks SPEC §8, or names a target the service refuses."""


def parse_subscription(value: Any) -> NewSubscription:
    """A decoded JSON body as a subscription, or InvalidSubscription naming every bad field."""
    if not isinstance(value, dict):
        raise InvalidSubscription(
            [FieldError("$", "must be an object {url, types?, subject?, after?}")]
        )
    errors = [FieldError(f"$.{k}", "unknown field") for k in value if k not in FIELDS]
    if (e := _url_error(value.get("url"))) is not None:
        errors.append(e)
    types = value.get("types")
    if types is not None:
        if not isinstance(types, list) or not 0 < len(types) <= MAX_TYPES:
            errors.append(FieldError("$.types", f"a list of 1 to {MAX_TYPES} types, or null"))
        else:
            errors += [e for i, t in enumerate(types) if (e := _type_error(i, t)) is not None]
    subject = value.get("subject")
    if subject is not None and not (isinstance(subject, str) and SUBJECT_RE.match(subject)):
        errors.append(FieldError("$.subject", f"{SUBJECT_RULE}, or null"))
    after = value.get("after")
    if after is not None and (
        isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_SEQUENCE
    ):
        errors.append(FieldError("$.after", "a sequence number (0 or more), or null"))
    if errors:
        raise InvalidSubscription(errors)
    return NewSubscription(
        value["url"], sorted(set(types)) if types is not None else None, subject, after
    )


def new_id() -> str:
    """A subscription id: 32 hex digits (part of every `webhook-id`)."""
    return uuid.uuid4().hex


def is_id(text: str) -> bool:
    """Whether `text` can be a subscription id (anything else is not found, unqueried)."""
    return bool(_ID.match(text))


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def backoff(failures: int, base: float) -> float:
    """Seconds to wait after the `failures`-th failed attempt of one event: base, 2 base,
    4 base, … capped at 10 minutes."""
    if failures < 1:
        return 0.0
    return min(BACKOFF_CAP_SECONDS, base * 2.0 ** min(failures - 1, 64))


def acknowledged(status: int) -> bool:
    """SPEC §8: a 2xx acknowledges; anything else is retried."""
    return 200 <= status < 300


def headers(sub_id: str, secret: str, sequence: int, body: bytes, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: `webhook-id` names the event for this
    subscription (the same on every retry, so receivers can drop duplicates), the
    timestamp is the attempt's, the signature is made by the `standardwebhooks` library."""
    msg_id = f"{sub_id}:{sequence}"
    return {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode("utf-8")),
    }


def refused_address(text: str) -> bool:
    """Whether a delivery must not reach this IP address when private targets are not
    allowed: loopback, link-local, private networks, and anything else not globally
    routable (unspecified, reserved, shared address space, multicast)."""
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone index is no address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
        or ip.is_reserved
        or ip.is_multicast
        or not ip.is_global
    )
