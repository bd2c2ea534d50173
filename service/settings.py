"""Settings from the environment, read once at start-up (never at import time)."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec


def _default_data_dir() -> Path:
    return Path(os.environ.get("ANNALS_DATA_DIR", Path.cwd() / "var")).resolve()


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service can be told; see docs/OPERATIONS.md for each variable."""

    database_url: str | None = None
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024
    max_batch: int = 10_000
    pool_min: int = 2
    pool_max: int = 10
    db_timeout: float = 5.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read ANNALS_* variables; keyword overrides win (for tests and the CLI)."""
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("ANNALS_DATABASE_URL") or None,
            "data_dir": _default_data_dir(),
            "host": env.get("ANNALS_HOST", "127.0.0.1"),
            "port": int(env.get("ANNALS_PORT", "8000")),
            "max_body_bytes": int(env.get("ANNALS_MAX_BODY_BYTES", str(1024 * 1024))),
            "max_batch": int(env.get("ANNALS_MAX_BATCH", "10000")),
            "pool_max": int(env.get("ANNALS_POOL_MAX", "10")),
            "db_timeout": float(env.get("ANNALS_DB_TIMEOUT", "5")),
        }
        values.update(overrides)
        values["data_dir"] = Path(str(values["data_dir"]))
        return msgspec.convert(values, cls, strict=False, from_attributes=True)
