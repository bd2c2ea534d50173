"""HTTP caching of answers: a strong ETag on every JSON answer; pinned ones are immutable."""

from __future__ import annotations

import hashlib
from typing import Any, Final

import msgspec
from litestar import Request, Response

IMMUTABLE: Final = "public, max-age=31536000, immutable"


def cache_control(pinned: bool) -> str:
    """An answer pinned to a recorded prefix never changes; any other is asked again."""
    return IMMUTABLE if pinned else "no-cache"


def cached(request: Request[Any, Any, Any], body: Any, pinned: bool) -> Response[Any]:
    """JSON with a strong ETag; a body pinned to a recorded prefix is cacheable forever.

    `If-None-Match` naming the ETag answers 304 with the same headers.
    """
    raw = msgspec.json.encode(body)
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control(pinned)}
    inm = request.headers.get("if-none-match")
    if inm is not None and etag in [t.strip() for t in inm.split(",")]:
        return Response(b"", status_code=304, headers=headers)
    return Response(raw, media_type="application/json", headers=headers)
