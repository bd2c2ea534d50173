"""The keys that sign and check heads, from configuration (docs/SECURITY.md, "Signed heads").

ANNALS_SIGNING_KEY_FILE: a PEM (PKCS#8, unencrypted) Ed25519 private key; heads are signed
with it. ANNALS_VERIFY_KEY_FILES: comma-separated PEM files of keys also accepted when a
saved head is checked (keys retired by a rotation; a private key file gives its public key).
Neither set: development mode, a key generated once and kept in the data directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from events.heads import key_id
from service.settings import Settings

log = logging.getLogger("annals.signing")
DEV_KEY: Final = "head-signing-key.pem"  # in the data directory


class KeyConfigError(ValueError):
    """A configured key cannot be used; the message names the variable and file."""


@dataclass
class Keyring:
    """The signing key (None: this process only checks) and every accepted public key."""

    signer: Ed25519PrivateKey | None
    accepted: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @property
    def signing_id(self) -> str | None:
        """The key_id heads are signed with."""
        return key_id(self.signer.public_key()) if self.signer else None

    def public_pem(self) -> dict[str, str]:
        """key_id -> PEM of each accepted public key (for clients checking signatures)."""
        return {
            kid: k.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
            for kid, k in sorted(self.accepted.items())
        }


def _private(path: Path, variable: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise KeyConfigError(
            f"{variable}={path}: cannot read an unencrypted PEM key ({e})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigError(f"{variable}={path}: not an Ed25519 key")
    return key


def _public(path: Path, variable: str) -> Ed25519PublicKey:
    text = path.read_bytes() if path.is_file() else b""
    if b"PRIVATE KEY" in text:
        return _private(path, variable).public_key()
    try:
        key = load_pem_public_key(text)
    except (ValueError, TypeError) as e:
        raise KeyConfigError(f"{variable}={path}: cannot read a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyConfigError(f"{variable}={path}: not an Ed25519 key")
    return key


def _development_key(data_dir: Path, create: bool) -> Ed25519PrivateKey | None:
    """The data directory's key; made once (atomically: several workers may start at
    once) when `create`."""
    path = data_dir / DEV_KEY
    if not path.exists():
        if not create:
            return None
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        tmp = path.with_name(f".{DEV_KEY}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        with contextlib.suppress(FileExistsError):  # another worker was first: use its key
            os.link(tmp, path)
        tmp.unlink()
    key = _private(path, "the development key")
    log.warning(
        "heads are signed with a development key kept in %s (key_id %s): set "
        "ANNALS_SIGNING_KEY_FILE for a key of your own, see docs/SECURITY.md",
        path,
        key_id(key.public_key()),
    )
    return key


def load(settings: Settings, *, create: bool) -> Keyring:
    """The keyring the settings describe. `create`: generate the development key when no
    key is configured (the service); without it (the CLI checking a head) nothing is
    written."""
    if settings.signing_key_file:
        signer: Ed25519PrivateKey | None = _private(
            Path(settings.signing_key_file), "ANNALS_SIGNING_KEY_FILE"
        )
    else:
        signer = _development_key(settings.data_dir, create)
    ring = Keyring(signer)
    if signer is not None:
        ring.accepted[key_id(signer.public_key())] = signer.public_key()
    for name in settings.verify_key_files:
        public = _public(Path(name), "ANNALS_VERIFY_KEY_FILES")
        ring.accepted[key_id(public)] = public
    return ring
