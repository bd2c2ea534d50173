"""Access configuration: tokens (ANNALS_TOKENS, ANNALS_TOKENS_FILE), the write rate and the
origins that may write (ANNALS_CORS_ORIGINS), read without loading the HTTP layer."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args
from urllib.parse import urlsplit

import msgspec

ScopeName = Literal["read", "write", "admin"]
SCOPES: Final[tuple[str, ...]] = get_args(ScopeName)
DurationUnit = Literal["second", "minute", "hour", "day"]
SECONDS: Final[dict[str, int]] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
Rate = tuple[DurationUnit, int]
_ORIGIN: Final = re.compile(r"^https?://[^/?#@\s]+$")


class Token(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One configured token: a name, the SHA-256 of the secret, and what it may do."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")]
    scopes: frozenset[ScopeName]


class TokenConfigError(ValueError):
    """The token configuration cannot be used; the message never repeats a secret."""


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: the only form in which it is configured or stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_compact(text: str, source: str = "ANNALS_TOKENS") -> list[Token]:
    """`name:sha256hex:scope+scope,…` — the one-line form for an environment variable."""
    tokens: list[Token] = []
    for i, entry in enumerate(e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3:  # don't echo the entry: it may be a pasted raw token
            raise TokenConfigError(
                f"{source} entry {i + 1}: expected name:sha256hex:scope+scope "
                "(scopes read, write, admin)"
            )
        name, digest, scopes = (p.strip() for p in parts)
        raw = {"name": name, "sha256": digest, "scopes": [s.strip() for s in scopes.split("+")]}
        tokens.append(_convert_one(raw, f"{source} entry {i + 1}"))
    return tokens


def parse_file(path: Path) -> list[Token]:
    """A JSON list (or `{"tokens": [...]}`) or a TOML `[[tokens]]` array of tables."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TokenConfigError(f"ANNALS_TOKENS_FILE {path}: {e.strerror or e}") from None
    try:
        doc: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        # Positions only: the decoders' messages can quote the offending text.
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise TokenConfigError(f"ANNALS_TOKENS_FILE {path}: not valid {kind}{where}") from None
    if isinstance(doc, Mapping):
        doc = doc.get("tokens", None)
    if not isinstance(doc, list):
        raise TokenConfigError(
            f"ANNALS_TOKENS_FILE {path}: expected a list of tokens "
            '(JSON [{"name", "sha256", "scopes"}, …] or TOML [[tokens]])'
        )
    return [
        _convert_one(raw, f"ANNALS_TOKENS_FILE {path} entry {i + 1}") for i, raw in enumerate(doc)
    ]


def _convert_one(raw: object, where: str) -> Token:
    try:
        token = msgspec.convert(raw, Token)
    except msgspec.ValidationError as e:
        # Name the field, never its value: a raw token pasted in the wrong place stays unsaid.
        reason, at, path = str(e).rpartition(" - at ")
        if not at:
            reason, path = str(e), "`$`"
        if not reason.startswith(("Object missing", "Object contains unknown", "Expected `obj")):
            reason = (
                "invalid value (name: 1-64 of A-Z a-z 0-9 _ . @ -; sha256: 64 hex digits; "
                "scopes: read, write, admin)"
            )
        raise TokenConfigError(f"{where}: {reason} at {path}") from None
    if not token.scopes:
        raise TokenConfigError(f"{where}: give at least one scope of read, write, admin")
    return token


def tokens_from_env(env: Mapping[str, str]) -> tuple[Token, ...]:
    """Tokens from ANNALS_TOKENS_FILE and ANNALS_TOKENS together; names and hashes unique."""
    tokens: list[Token] = []
    if path := env.get("ANNALS_TOKENS_FILE", "").strip():
        tokens.extend(parse_file(Path(path)))
    if compact := env.get("ANNALS_TOKENS", "").strip():
        tokens.extend(parse_compact(compact))
    return check_unique(tokens)


def check_unique(tokens: Sequence[Token]) -> tuple[Token, ...]:
    """Refuse two tokens with one name (the rate-limit key) or one hash (ambiguous)."""
    names: set[str] = set()
    digests: set[str] = set()
    for t in tokens:
        if t.name in names:
            raise TokenConfigError(f"token name {t.name!r} is configured twice")
        if t.sha256.lower() in digests:
            raise TokenConfigError(f"token {t.name!r} has the same hash as another token")
        names.add(t.name)
        digests.add(t.sha256.lower())
    return tuple(tokens)


def parse_rate(text: str) -> Rate:
    """`N/unit` (unit: second, minute, hour or day), e.g. `100/second` or `3/minute`."""
    count, _, unit = (part.strip() for part in text.strip().partition("/"))
    unit = unit.lower().removesuffix("s")
    for name in get_args(DurationUnit):
        if unit == name and count.isdigit() and int(count) > 0:
            return (name, int(count))
    raise ValueError(
        f"ANNALS_WRITE_RATE={text!r}: expected N/unit with unit second, minute, hour or day"
    )


class CorsConfigError(ValueError):
    """ANNALS_CORS_ORIGINS holds something that is not an origin."""


def parse_origins(text: str) -> tuple[str, ...]:
    """`https://desk.example, http://localhost:5173` -> the origins, normalised (lower case,
    no default port); refuses `*`, `null`, paths and anything else that is not an origin."""
    found: list[str] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        if not _ORIGIN.match(entry):
            raise CorsConfigError(
                f"ANNALS_CORS_ORIGINS: {entry!r} is not an origin (scheme://host[:port], "
                "no path; `*` is not allowed: writes from any page would be CSRF)"
            )
        found.append(origin_of(entry))
    return tuple(found)


def origin_of(text: str) -> str:
    """An origin in the form browsers send: lower-case scheme and host, default port left out."""
    parts = urlsplit(text.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
