"""HTTP caching of answers: a strong ETag on every answer; pinned ones are immutable."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask

IMMUTABLE: Final = "public, max-age=31536000, immutable"


def cache_control(pinned: bool) -> str:
    """An answer pinned to a recorded prefix never changes; any other is asked again."""
    return IMMUTABLE if pinned else "no-cache"


def cached(request: Request[Any, Any, Any], body: Any, pinned: bool) -> Response[Any]:
    """JSON with a strong ETag; a body pinned to a recorded prefix is cacheable forever.

    `If-None-Match` naming the ETag answers 304 with the same headers.
    """
    raw = msgspec.json.encode(body)
    headers = validators(_etag(raw), pinned)
    return unless_matched(request, headers) or encoded(raw, headers)


def validators(etag: str, pinned: bool, more: Mapping[str, str] | None = None) -> dict[str, str]:
    """An answer's headers: its strong ETag, its caching, and `more`."""
    return {**(more or {}), "ETag": etag, "Cache-Control": cache_control(pinned)}


def unless_matched(
    request: Request[Any, Any, Any], headers: dict[str, str]
) -> Response[Any] | None:
    """The 304 answer, with `headers` (`validators`), when the request's `If-None-Match`
    names their ETag; else None."""
    if not_modified(request, headers["ETag"]):
        return Response(b"", status_code=304, headers=headers)
    return None


def encoded(raw: bytes, headers: dict[str, str], document: Any = None) -> Response[Any]:
    """JSON already encoded, with `headers` (`validators`). `document`, the value `raw`
    encodes, is freed once the bytes are sent: freeing a page of megabytes (a million
    objects) takes milliseconds, which the answer need not wait for."""
    after = None if document is None else BackgroundTask(_Held(document).drop)
    return Response(raw, media_type="application/json", headers=headers, background=after)


class _Held:
    """A value kept until `drop` (a response's background task, run after its body)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def drop(self) -> None:
        self.value = None


def question_etag(*question: Any) -> str:
    """The strong ETag of an answer streamed before its bytes are known: a function of the
    question (its parameters resolved, pinned to a sequence) and of the code that writes
    the answer, so the same tag always names the same bytes."""
    return _etag(msgspec.json.encode([_build(), *question]))


def not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    """Whether the request's `If-None-Match` names `etag`."""
    inm = request.headers.get("if-none-match")
    return inm is not None and etag in [t.strip() for t in inm.split(",")]


def _etag(raw: bytes) -> str:
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def source_digest() -> str:
    """SHA-256 over the service's source: the Python and SQL of its packages."""
    h = hashlib.sha256()
    for package in ("events", "projections", "queries", "service"):
        for path in sorted((_ROOT / package).rglob("*")):
            if path.suffix in (".py", ".sql") and path.is_file():
                h.update(path.relative_to(_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@functools.cache
def _build() -> str:
    """What writes the answers: the service's source and the versions of the libraries that
    encode its documents (read once, on the first export asked)."""
    libraries = [f"{name}=={metadata.version(name)}" for name in ("msgspec", "icalendar")]
    return hashlib.sha256("\n".join([source_digest(), *libraries]).encode()).hexdigest()


_ROOT: Final = Path(__file__).resolve().parent.parent
