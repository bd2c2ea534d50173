"""How the HTTP server runs the app: uvicorn's options."""

from __future__ import annotations

from typing import Any

from service.settings import Settings


def uvicorn_options(settings: Settings, **_: Any) -> dict[str, Any]:
    """uvicorn's protocol options for these settings."""
    return {}
