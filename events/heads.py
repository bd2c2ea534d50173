"""Signed heads: the exact bytes an Ed25519 signature of the log's head covers, signing,
checking a signature, and deciding whether a saved head is still a prefix of the log.

The signed bytes (docs/SECURITY.md, "Signed heads") are UTF-8 text, five lines, each ended
by a line feed:

    annals-head-v1
    <sequence: decimal, no leading zeros; 0 for an empty log>
    <hash: the event's chain hash, 64 lowercase hex; 64 zeros for an empty log>
    <recordedtime: YYYY-MM-DDTHH:MM:SS.ffffffZ; empty for an empty log>
    <key_id: lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo>

`signature` is the standard base64 of the 64-byte Ed25519 signature of those bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.envelope import MAX_SEQUENCE

DOMAIN: Final = "annals-head-v1"
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class SignedHead(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """GET /v1/head: the newest event of the log, signed by the service."""

    sequence: int
    hash: str
    recordedtime: str | None
    key_id: str
    signature: str


class HeadError(ValueError):
    """A saved head that cannot be used: malformed, of an unknown key, or badly signed."""


def key_id(public: Ed25519PublicKey) -> str:
    """The key's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo, as CT's LogID."""
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def signed_bytes(sequence: int, hash: str, recordedtime: str | None, key: str) -> bytes:
    """Exactly what the signature covers (see the module docstring)."""
    return f"{DOMAIN}\n{sequence}\n{hash}\n{recordedtime or ''}\n{key}\n".encode()


def sign(
    private: Ed25519PrivateKey, sequence: int, hash: str, recordedtime: str | None
) -> SignedHead:
    """Sign a head with `private`; Ed25519 is deterministic, so the same head gives the same
    signature (cacheable, comparable)."""
    kid = key_id(private.public_key())
    raw = private.sign(signed_bytes(sequence, hash, recordedtime, kid))
    return SignedHead(sequence, hash, recordedtime, kid, base64.b64encode(raw).decode())


def parse(raw: bytes) -> SignedHead:
    """A saved head from its JSON (as GET /v1/head answered it); HeadError naming the field."""
    try:
        head = msgspec.json.decode(raw, type=SignedHead)
    except msgspec.ValidationError as e:
        raise HeadError(f"not a signed head: {e}") from None
    except msgspec.DecodeError as e:
        raise HeadError(f"not JSON: {e}") from None
    check_shape(head.sequence, head.hash)
    if head.recordedtime is not None and not _TIME.match(head.recordedtime):
        raise HeadError("recordedtime: expected YYYY-MM-DDTHH:MM:SS.ffffffZ")
    if not _HEX64.match(head.key_id):
        raise HeadError("key_id: expected 64 lowercase hex digits")
    return head


def check_shape(sequence: int, hash: str) -> None:
    """A head's sequence and hash as the log writes them; HeadError naming the field."""
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise HeadError("sequence: expected an integer from 0 to 2^63-1")
    if not _HEX64.match(hash):
        raise HeadError("hash: expected 64 lowercase hex digits")


def check_signature(head: SignedHead, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise HeadError unless one of `keys` (by key_id) signed exactly this head."""
    public = keys.get(head.key_id)
    if public is None:
        raise HeadError(
            f"key_id {head.key_id} is not one of the accepted keys ({', '.join(sorted(keys))})"
        )
    try:
        raw = base64.b64decode(head.signature, validate=True)
        public.verify(raw, signed_bytes(head.sequence, head.hash, head.recordedtime, head.key_id))
    except (InvalidSignature, binascii.Error, ValueError):
        raise HeadError(f"the signature does not verify under key {head.key_id}") from None


class Divergence(msgspec.Struct, frozen=True):
    """Where the log stops being an extension of a saved head."""

    sequence: int
    reason: str


def prefix_divergence(
    saved_sequence: int,
    saved_hash: str,
    first_broken: tuple[int, str] | None,
    log_head: int,
    hash_at_saved: str | None,
) -> Divergence | None:
    """Whether the log still begins with the saved head, given what the walk of the chain
    found: its first broken sequence and why (None: intact), the last sequence it reached
    intact, and the stored hash at the saved head's sequence (None: no such event).

    The chain is intact up to the saved sequence and holds there the saved hash: then,
    every hash covering its predecessor's, the first `saved_sequence` events are the ones
    that were signed. Otherwise the first place it fails is named.
    """
    if saved_sequence == 0:
        return None  # the empty log is a prefix of every log
    if first_broken is not None and first_broken[0] <= saved_sequence:
        return Divergence(*first_broken)
    if log_head < saved_sequence or hash_at_saved is None:
        return Divergence(
            log_head + 1,
            f"the log ends at sequence {log_head}, before the saved head's {saved_sequence}: "
            f"events {log_head + 1} to {saved_sequence} were removed",
        )
    if hash_at_saved != saved_hash:
        return Divergence(
            saved_sequence,
            f"sequence {saved_sequence} has another hash than the saved head: the log up to "
            "it was rewritten and its hashes recomputed",
        )
    return None
