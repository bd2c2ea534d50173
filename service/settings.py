"""Settings from the environment, read once at start-up (never at import time)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Final

import msgspec

from queries.question import PAGE_FACTS
from service.access_config import Rate, Token, parse_origins, parse_rate, tokens_from_env


def _default_data_dir() -> Path:
    return Path(os.environ.get("ANNALS_DATA_DIR", Path.cwd() / "var")).resolve()


# The fields read from ANNALS_<FIELD NAME IN CAPITALS>, each converted to its own type.
_READ_AS_TYPED: Final = (
    "read_wait", "host", "port", "max_body_bytes", "max_batch", "pool_max", "db_timeout",
    "header_timeout", "public_reads", "heavy_reads", "heavy_queue", "heavy_wait", "page_bytes",
    "page_facts", "webhook_allow_private", "webhook_backoff", "webhook_timeout",
)  # fmt: skip


def _variable(name: str) -> str:
    return "ANNALS_" + name.upper()


def _typed(name: str, text: str) -> object:
    """The value of the field `name` that `text` gives; ValueError naming its variable."""
    kind = _FIELD_TYPES[name]
    if kind is bool:
        return _flag(_variable(name), text)
    try:
        return msgspec.convert(text, kind, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"{_variable(name)}={text!r}: {e}") from None


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
    # Heavy reads (exports, verify, log pages): how many run at once per process, how many
    # more may wait, and how long (seconds); past that, 503 (service/budget.py).
    heavy_reads: int = 4
    heavy_queue: int = 16
    heavy_wait: float = 10.0
    page_bytes: int = 4 * 1024 * 1024  # about this many bytes of events per page or chunk
    page_facts: Annotated[int, msgspec.Meta(ge=1)] = (
        PAGE_FACTS  # registers and folded events per /v1/state or /v1/diff page
    )
    # Signed heads (service/signing.py): the Ed25519 key that signs, older public keys
    # still accepted; none: a development key kept in data_dir.
    signing_key_file: str | None = None
    verify_key_files: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()  # origins whose pages may write (docs/SECURITY.md)
    webhook_allow_private: bool = False  # deliveries to private addresses despite tokens
    # seconds before the first retry (doubling up to 10 min); seconds a receiver may take
    webhook_backoff: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    webhook_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read ANNALS_* variables; keyword overrides win (for tests and the CLI)."""
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("ANNALS_DATABASE_URL") or None,
            "read_database_url": env.get("ANNALS_READ_DATABASE_URL") or None,
            "data_dir": _default_data_dir(),
            "signing_key_file": env.get("ANNALS_SIGNING_KEY_FILE") or None,
            "verify_key_files": tuple(
                p.strip() for p in env.get("ANNALS_VERIFY_KEY_FILES", "").split(",") if p.strip()
            ),
            "cors_origins": parse_origins(env.get("ANNALS_CORS_ORIGINS", "")),
        }
        for name in _READ_AS_TYPED:  # an unset variable leaves the field's default
            if (text := env.get(_variable(name), "").strip()) != "":
                values[name] = _typed(name, text)
        if "tokens" not in overrides:  # an override must not need the file to exist
            values["tokens"] = tokens_from_env(env)
        if "write_rate" not in overrides and (rate := env.get("ANNALS_WRITE_RATE", "").strip()):
            values["write_rate"] = parse_rate(rate)
        values.update(overrides)
        values["data_dir"] = Path(str(values["data_dir"]))
        return msgspec.convert(values, cls, strict=False, from_attributes=True)


_FIELD_TYPES: Final = {f.name: f.type for f in msgspec.structs.fields(Settings)}
