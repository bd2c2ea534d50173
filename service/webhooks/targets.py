"""Server-side request forgery: may a delivery go to this URL? (docs/SECURITY.md)"""

from __future__ import annotations

import asyncio
import socket
from typing import Final
from urllib.parse import urlsplit

from service.settings import Settings
from service.webhooks.rules import refused_address

RESOLVE_SECONDS: Final = 5.0


def private_allowed(settings: Settings) -> bool:
    """Private targets are refused once tokens are configured, unless the operator allows
    them; development mode (no tokens) allows them, so a local receiver just works."""
    return settings.webhook_allow_private or not settings.tokens


async def refusal(url: str, settings: Settings) -> str | None:
    """Why a delivery to `url` is refused, or None. Every address the host resolves to is
    checked: one private address among public ones is enough to refuse."""
    if private_allowed(settings):
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError, UnicodeError) as e:  # UnicodeError: no domain name (IDNA)
        return f"cannot resolve {host!r} ({type(e).__name__}), so cannot check it is public"
    addresses = sorted({str(info[4][0]) for info in found})
    bad = [a for a in addresses if refused_address(a)]
    if bad:
        return (
            f"{host!r} resolves to a loopback, link-local or private address ({', '.join(bad)}); "
            "refused while tokens are configured, unless ANNALS_WEBHOOK_ALLOW_PRIVATE=1"
        )
    return None
