"""Cross-origin access (SPEC §7): public reads from any origin, writes and credentials only
from the configured origins. The rule is pure (`Policy`); `CorsMiddleware` applies it.

Litestar's CORSConfig holds one policy for every origin (one list of methods and headers),
so it cannot say "reads for anyone, writes for these": hence this small middleware.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from service.problems import Problem, answering_problems

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_AGE: Final = "600"  # seconds a browser may keep a preflight's answer
# Headers a page on any origin may send with a read (beyond the CORS-safelisted ones).
READ_HEADERS: Final = "Accept, Cache-Control, If-None-Match, If-Modified-Since, Last-Event-ID"
# Response headers a cross-origin page may read (beyond the safelisted ones).
EXPOSE: Final = (
    "ETag, Location, Retry-After, Annals-Known-At, Content-Disposition, WWW-Authenticate, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy"
)
_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 header name

Headers = list[tuple[str, str]]


class Policy(msgspec.Struct, frozen=True):
    """Which origins may write and send credentials; every origin may read."""

    origins: frozenset[str] = frozenset()

    def trusted(self, origin: str, host: str | None) -> bool:
        """A configured origin, or the service's own (the viewer's, same host and port)."""
        if origin in self.origins:
            return True
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()

    def may(self, method: str, origin: str | None, host: str | None) -> bool:
        """Whether a request may go on: reads always, writes without Origin (not a
        browser page) or from a trusted one."""
        return method in SAFE_METHODS or origin is None or self.trusted(origin, host)

    def preflight(self, origin: str, host: str | None, requested_headers: str | None) -> Headers:
        """The answer to an OPTIONS preflight: a trusted origin may use every method and the
        headers it asks for (Authorization, ce-*); any other, GET with read headers. Only
        methods some route answers are offered."""
        headers = [("Access-Control-Max-Age", MAX_AGE), ("Vary", "Origin")]
        if not self.trusted(origin, host):
            return [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "GET"),
                ("Access-Control-Allow-Headers", READ_HEADERS),
                *headers,
            ]
        asked = [h.strip() for h in (requested_headers or "").split(",") if h.strip()]
        allowed = ", ".join(h for h in asked if _TOKEN.match(h)) or READ_HEADERS
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "GET, POST, DELETE"),
            ("Access-Control-Allow-Headers", allowed),
            *headers,
        ]

    def response(self, origin: str | None, host: str | None) -> Headers:
        """Headers for any other answer: `*` unless a trusted origin asks (then its own
        origin, with credentials); Vary: Origin whenever the answer depends on it."""
        exposed = ("Access-Control-Expose-Headers", EXPOSE)
        if origin is not None and self.origins and self.trusted(origin, host):
            return [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"),
                exposed,
                ("Vary", "Origin"),
            ]
        vary = [("Vary", "Origin")] if self.origins else []
        return [("Access-Control-Allow-Origin", "*"), exposed, *vary]


def _header(raw: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in raw:
        if k == name:
            return v.decode("latin-1")
    return None


def _merged(raw: list[tuple[bytes, bytes]], add: Headers) -> list[tuple[bytes, bytes]]:
    """The response's headers with `add` set; Vary values are added to any already there."""
    out = [(k, v) for k, v in raw if not k.lower().startswith(b"access-control-")]
    for name, value in add:
        key = name.lower().encode()
        if key == b"vary":
            for i, (k, v) in enumerate(out):
                if k.lower() == b"vary":
                    out[i] = (k, v + b", " + value.encode())
                    break
            else:
                out.append((key, value.encode()))
        else:
            out.append((key, value.encode("latin-1")))
    return out


class CorsMiddleware:
    """ASGI middleware applying a Policy: answers preflights itself, refuses writes from
    untrusted pages with 403, and adds the CORS headers to every other answer."""

    def __init__(self, app: Any, policy: Policy) -> None:
        self.app = app
        self.policy = policy
        # A problem raised inside (the write rate's 429) is answered here, with the CORS
        # headers: answered outside, it would reach a page as a network error.
        self._answering = answering_problems(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Apply the policy to an HTTP request; other scopes pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope["headers"]
        origin = _header(raw, b"origin")
        host = _header(raw, b"host")
        method = scope["method"]
        asked = _header(raw, b"access-control-request-method")
        if method == "OPTIONS" and origin is not None and asked is not None:
            requested = _header(raw, b"access-control-request-headers")
            headers = self.policy.preflight(origin, host, requested)
            await send({"type": "http.response.start", "status": 204,
                        "headers": _merged([], headers)})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        if not self.policy.may(method, origin, host):
            raise Problem(
                403,
                f"writes from a page on {origin} are not allowed: only origins listed in "
                "ANNALS_CORS_ORIGINS may write (see docs/SECURITY.md)",
                kind="forbidden-origin",
            )
        add = self.policy.response(origin, host)

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _merged(list(message.get("headers", [])), add)}
            await send(message)

        await self._answering(scope, receive, send_with_cors)
