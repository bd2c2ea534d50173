"""What browsers get besides the API: the viewer's files, and the headers every answer
carries (a content security policy, no sniffing, no framing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar.file_system import BaseLocalFileSystem
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope

STATIC: Final = Path(__file__).parent / "static"  # the viewer at / (index.html, app.js, …)

# The viewer loads its own script, style and data only; nothing may frame it. API answers
# carry the same policy: JSON is never meant to run or be framed either. Style attributes
# are allowed: vis-timeline positions every item with one (scripts stay this origin's only).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


class _ViewerFiles(BaseLocalFileSystem):
    """The local file system, where a path no file can have is simply not found: a NUL
    (`/%00`) or a file used as a directory (`/app.js/x`) is a 404, not an OSError."""

    async def info(self, path: Any, **kwargs: Any) -> Any:
        """File info, or FileNotFoundError for any path that cannot name a file."""
        try:
            return await super().info(path, **kwargs)
        except (ValueError, NotADirectoryError, FileNotFoundError, OSError) as e:
            raise FileNotFoundError(str(path)) from e


def viewer() -> Router:
    """The viewer's static files at /, public whatever the read setting (its data is not)."""
    return create_static_files_router(
        path="/",
        directories=[STATIC],
        file_system=_ViewerFiles(),
        html_mode=True,
        name="viewer",
        opt={"scope": "public"},
    )


_SECURITY_RAW: Final = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS]
_SECURITY_NAMES: Final = frozenset(name for name, _ in _SECURITY_RAW)


async def security_headers(message: Message, scope: Scope) -> None:
    """Litestar before_send hook: the security headers on every response, errors included,
    in place of any the response set itself.

    A coroutine: Litestar runs a plain function hook in a worker thread, a thread hop for
    each message of every response."""
    if message["type"] == "http.response.start":
        kept = [h for h in message.get("headers", ()) if h[0].lower() not in _SECURITY_NAMES]
        message["headers"] = kept + _SECURITY_RAW
