"""How uvicorn runs the app: a deadline for reading each request's headers.

uvicorn bounds idle keep-alive connections but not a request whose headers trickle in (a
slowloris client holds its socket for ever). The protocol below closes a connection whose
request headers are not complete `ANNALS_HEADER_TIMEOUT` seconds after the connection
opened or the previous response ended.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

_ENV = "ANNALS_HEADER_TIMEOUT"


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers.

    uvicorn makes the protocol itself (in every worker process), so the deadline comes from
    the environment `uvicorn_options` sets, read once per connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline = float(os.environ.get(_ENV, "10"))
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._header_deadline, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        """The headers are in: the request runs on its own time from here."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The clock starts again for the next request on this connection."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """No clock for a closed connection."""
        self._disarm()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings, header_timeout: float | None = None) -> dict[str, Any]:
    """The keyword arguments of uvicorn.run/Config that apply these settings. The deadline
    travels in the environment (set here), as worker processes build their own protocol."""
    os.environ[_ENV] = str(
        header_timeout if header_timeout is not None else settings.header_timeout
    )
    return {"http": HeaderTimeoutProtocol}
