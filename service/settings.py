"""Settings from the environment, read once at start-up (never at import time)."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from service.auth import Rate, Token, parse_rate, tokens_from_env


def _default_data_dir() -> Path:
    return Path(os.environ.get("ANNALS_DATA_DIR", Path.cwd() / "var")).resolve()


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={text!r}: expected 1 or 0 (true/false, yes/no, on/off)")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service can be told; see docs/OPERATIONS.md for each variable."""

    database_url: str | None = None
    # A streaming replica for queries (docs/SCALING.md); None: everything on database_url.
    read_database_url: str | None = None
    read_wait: float = 0.2  # seconds a pinned query waits for the replica, then the primary
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024
    max_batch: int = 10_000
    pool_min: int = 2
    pool_max: int = 10
    db_timeout: float = 5.0
    tokens: tuple[Token, ...] = ()  # none: open, development mode (see docs/OPERATIONS.md)
    public_reads: bool = True
    write_rate: Rate | None = None  # events per token, e.g. ("second", 100); None: unlimited
    header_timeout: float = 10.0  # seconds a client has to send a request's headers

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read ANNALS_* variables; keyword overrides win (for tests and the CLI)."""
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("ANNALS_DATABASE_URL") or None,
            "read_database_url": env.get("ANNALS_READ_DATABASE_URL") or None,
            "read_wait": float(env.get("ANNALS_READ_WAIT", "0.2")),
            "data_dir": _default_data_dir(),
            "host": env.get("ANNALS_HOST", "127.0.0.1"),
            "port": int(env.get("ANNALS_PORT", "8000")),
            "max_body_bytes": int(env.get("ANNALS_MAX_BODY_BYTES", str(1024 * 1024))),
            "max_batch": int(env.get("ANNALS_MAX_BATCH", "10000")),
            "pool_max": int(env.get("ANNALS_POOL_MAX", "10")),
            "db_timeout": float(env.get("ANNALS_DB_TIMEOUT", "5")),
            "header_timeout": float(env.get("ANNALS_HEADER_TIMEOUT", "10")),
            "public_reads": _flag("ANNALS_PUBLIC_READS", env.get("ANNALS_PUBLIC_READS", "1")),
        }
        if "tokens" not in overrides:  # an override must not need the file to exist
            values["tokens"] = tokens_from_env(env)
        if "write_rate" not in overrides and (rate := env.get("ANNALS_WRITE_RATE", "").strip()):
            values["write_rate"] = parse_rate(rate)
        values.update(overrides)
        values["data_dir"] = Path(str(values["data_dir"]))
        return msgspec.convert(values, cls, strict=False, from_attributes=True)
