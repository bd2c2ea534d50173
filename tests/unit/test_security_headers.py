"""The security headers hook: every response start carries them, once, with our values."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from service.web import SECURITY_HEADERS, security_headers


def _started(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    message: Any = {"type": "http.response.start", "status": 200, "headers": headers}
    asyncio.run(security_headers(message, cast(Any, {})))
    return list(message["headers"])


def test_a_response_gets_every_security_header_and_keeps_its_own() -> None:
    out = _started([(b"content-type", b"application/json"), (b"etag", b'"x"')])
    assert out[:2] == [(b"content-type", b"application/json"), (b"etag", b'"x"')]
    assert dict(out[2:]) == {k.encode(): v.encode() for k, v in SECURITY_HEADERS}


def test_a_security_header_the_response_set_is_replaced_not_doubled() -> None:
    out = _started([(b"X-Frame-Options", b"SAMEORIGIN"), (b"x-content-type-options", b"no")])
    names = [k.lower() for k, _ in out]
    assert names.count(b"x-frame-options") == 1
    assert names.count(b"x-content-type-options") == 1
    assert dict(out)[b"x-frame-options"] == b"DENY"


def test_a_body_message_is_left_alone() -> None:
    message: Any = {"type": "http.response.body", "body": b"{}"}
    asyncio.run(security_headers(message, cast(Any, {})))
    assert message == {"type": "http.response.body", "body": b"{}"}
