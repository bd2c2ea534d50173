"""Access (SPEC §7): bearer tokens from configuration, scopes checked by one Litestar guard."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from litestar.connection import ASGIConnection, Request
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from service.access_config import SECONDS, Rate, ScopeName, Token, check_unique
from service.problems import Problem

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger("annals.auth")


# What a route needs when its handler does not say (handler opt={"scope": ...} wins).
ADMIN_PATHS: Final = frozenset({"/v1/verify"})
PUBLIC_PREFIXES: Final = ("/healthz", "/readyz", "/schema")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
REALM: Final = 'Bearer realm="annals"'
# What a write costs against ANNALS_WRITE_RATE: one per event, and at least one per
# started BYTES_PER_EVENT of body, so that few large events cost like many small ones.
BYTES_PER_EVENT: Final = 16 * 1024
_WRITTEN: Final = "annals.events_written"  # the scope key a write handler reports into


def bearer(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer …` header, or None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


class Access:
    """The token table, built once at start-up, and the rules of who may do what."""

    def __init__(
        self, tokens: Sequence[Token], *, public_reads: bool = True, write_rate: Rate | None = None
    ) -> None:
        self._table = tuple((bytes.fromhex(t.sha256), t) for t in check_unique(tokens))
        self.public_reads = public_reads
        self.write_rate = write_rate

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        """The access rules of these settings; says once, loudly, when the service is open."""
        access = cls(
            settings.tokens, public_reads=settings.public_reads, write_rate=settings.write_rate
        )
        if access.open:
            log.warning(
                "no access tokens configured: the service is OPEN, anyone may write and run "
                "operations (development mode). Set ANNALS_TOKENS or ANNALS_TOKENS_FILE, "
                "see docs/OPERATIONS.md"
            )
        else:
            log.info(
                "access: %d tokens (%s); reads are %s",
                len(access._table),
                ", ".join(t.name for _, t in access._table),
                "public" if access.public_reads else "for tokens with scope read",
            )
        return access

    @property
    def open(self) -> bool:
        """No tokens configured: development mode, everything is allowed."""
        return not self._table

    def lookup(self, presented: str) -> Token | None:
        """The token whose hash matches, comparing against every entry in constant time."""
        digest = hashlib.sha256(presented.encode()).digest()
        found: Token | None = None
        for known, token in self._table:  # no early exit: time doesn't depend on the match
            if hmac.compare_digest(digest, known):
                found = token
        return found

    def required_scope(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> ScopeName | None:
        """The scope a request needs, or None for a public one."""
        declared = handler.opt.get("scope")
        if connection.scope.get("method") == "OPTIONS":
            return None  # a CORS preflight never carries a token, on any route
        if declared is not None:  # a misspelt scope is one no token holds: refused, not open
            return None if declared == "public" else declared
        method = connection.scope.get("method", "GET")
        # The matched route's template, so /v1/verify/ and /v1//verify are judged alike.
        template = connection.scope.get("path_template") or connection.scope["path"]
        if template in ADMIN_PATHS:
            return "admin"
        if method not in SAFE_METHODS:
            return "write"
        if any(template == p or template.startswith(p + "/") for p in PUBLIC_PREFIXES):
            return None
        return None if self.public_reads else "read"

    async def guard(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        """Litestar guard: 401 without a valid token where one is needed, 403 without scope.

        A coroutine on purpose: Litestar runs a plain function guard in a worker thread, a
        thread-pool hop on every request (docs/SCALING.md). Nothing here blocks: one SHA-256
        and a table scan."""
        if self.open:
            return
        needed = self.required_scope(connection, handler)
        if needed is None:
            return
        presented = bearer(connection.headers.get("authorization"))
        if presented is None:
            raise Problem(
                401,
                f"this request needs a token with scope {needed!r}: "
                "send Authorization: Bearer <token>",
                kind="unauthorized",
                headers={"WWW-Authenticate": REALM},
            )
        token = self.lookup(presented)
        if token is None:
            raise Problem(
                401,
                "the bearer token is not recognised",
                kind="unauthorized",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        if needed not in token.scopes:
            raise Problem(
                403,
                f"token {token.name!r} lacks scope {needed!r}",
                kind="forbidden",
                headers={
                    "WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'
                },
            )

    def rate_key(self, request: Request[Any, Any, Any]) -> str:
        """Whose bucket a write counts against: the token's name, else the client address."""
        presented = bearer(request.headers.get("authorization"))
        token = self.lookup(presented) if presented else None
        if token is not None:
            return f"token:{token.name}"
        return f"anonymous:{request.client.host if request.client else 'unknown'}"

    def middleware(self) -> list[DefineMiddleware]:
        """The per-token write rate limit, when ANNALS_WRITE_RATE is set."""
        if self.write_rate is None:
            return []
        return [
            DefineMiddleware(WriteRateLimit, budget=WriteBudget(self.write_rate), key=self.rate_key)
        ]


def written(request: Request[Any, Any, Any], events: int) -> None:
    """A write handler reports how many events the request carried (WriteRateLimit
    charges them once the handler is done)."""
    cast(dict[str, Any], request.scope)[_WRITTEN] = events


def write_cost(events: int, body_bytes: int) -> int:
    """What one write costs against the rate: its events, at least one per started
    BYTES_PER_EVENT of body, at least 1."""
    return max(1, events, math.ceil(body_bytes / BYTES_PER_EVENT))


class WriteBudget:
    """A token bucket per key: `rate` events per unit, spent by write_cost. A write is let
    in while its key has one event left; it is then charged in full, so a large batch
    leaves a debt that later writes wait out. Memory: one entry per recent writer."""

    MAX_KEYS: Final = 10_000

    def __init__(self, rate: Rate) -> None:
        self.unit, self.limit = rate
        self.per_second = self.limit / SECONDS[self.unit]
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.limit), now))
        return min(float(self.limit), tokens + (now - at) * self.per_second)

    def retry_after(self, key: str, now: float) -> int | None:
        """Seconds until `key` may write again, or None when it may write now."""
        tokens = self._tokens(key, now)
        if tokens >= 1:
            return None
        return max(1, math.ceil((1 - tokens) / self.per_second))

    def charge(self, key: str, cost: int, now: float) -> None:
        """Spend `cost` from key's bucket (it may go below zero)."""
        if len(self._buckets) >= self.MAX_KEYS:  # forget the writers whose bucket is full
            self._buckets = {
                k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.limit
            }
        self._buckets[key] = (self._tokens(key, now) - cost, now)


class WriteRateLimit:
    """ASGI middleware: refuses a write while its key's budget is spent (429 with
    Retry-After, before the body is read), counts the body's bytes as they are read and
    charges the events the handler reports once it is done."""

    def __init__(
        self,
        app: ASGIApp,
        budget: WriteBudget,
        key: Callable[[Request[Any, Any, Any]], str],
    ) -> None:
        self.app = app
        self.budget = budget
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let a write in, or refuse it; charge what it carried."""
        if scope["type"] != ScopeType.HTTP or scope.get("method") in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        key = self.key(Request(scope))
        wait = self.budget.retry_after(key, time.monotonic())
        if wait is not None:
            b = self.budget
            raise Problem(
                429,
                f"this token may write {b.limit} events per {b.unit} (a write counts one per "
                f"event, and at least one per {BYTES_PER_EVENT // 1024} KiB); retry after "
                f"{wait}s",
                kind="rate-limited",
                headers={
                    "Retry-After": str(wait),
                    "RateLimit-Limit": str(b.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(wait),
                },
            )
        received = 0

        async def counting() -> ReceiveMessage:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting, send)
        finally:
            events = int(cast(dict[str, Any], scope).get(_WRITTEN, 0))
            self.budget.charge(key, write_cost(events, received), time.monotonic())
