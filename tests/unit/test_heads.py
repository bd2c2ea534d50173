"""Signed heads, the pure part: the signed bytes, signing, checking, the prefix decision.

Signatures are checked independently of events/heads.py too: with cryptography's own
Ed25519PublicKey.verify over bytes built here from the documented layout.
"""

from __future__ import annotations

import base64
import hashlib
import json

import msgspec
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.heads import (
    Divergence,
    HeadError,
    check_signature,
    key_id,
    parse,
    prefix_divergence,
    sign,
    signed_bytes,
)

H = "ab" * 32
WHEN = "2025-11-27T10:00:00.123456Z"


def test_signed_bytes_are_the_documented_five_lines() -> None:
    assert signed_bytes(7, H, WHEN, "k" * 64) == (
        f"annals-head-v1\n7\n{H}\n{WHEN}\n{'k' * 64}\n".encode()
    )
    assert signed_bytes(0, "0" * 64, None, "k") == f"annals-head-v1\n0\n{'0' * 64}\n\nk\n".encode()


def test_key_id_is_the_sha256_of_the_der_subject_public_key_info() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert key_id(key) == hashlib.sha256(der).hexdigest()


def test_a_signature_verifies_independently_over_the_documented_bytes() -> None:
    private = Ed25519PrivateKey.generate()
    head = sign(private, 42, H, WHEN)
    message = f"annals-head-v1\n42\n{H}\n{WHEN}\n{head.key_id}\n".encode()
    private.public_key().verify(base64.b64decode(head.signature), message)  # raises if not
    with pytest.raises(InvalidSignature):
        private.public_key().verify(base64.b64decode(head.signature), message.replace(b"42", b"41"))


def test_signing_is_deterministic() -> None:
    private = Ed25519PrivateKey.generate()
    assert sign(private, 3, H, WHEN) == sign(private, 3, H, WHEN)


def test_a_good_head_is_accepted_by_its_key_among_several() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = {key_id(k.public_key()): k.public_key() for k in (old, new)}
    check_signature(sign(old, 3, H, WHEN), keys)
    check_signature(sign(new, 3, H, WHEN), keys)


@pytest.mark.parametrize(
    "change",
    [
        {"sequence": 4},
        {"hash": "cd" * 32},
        {"recordedtime": "2025-11-27T10:00:00.123457Z"},
        {"signature": base64.b64encode(b"\0" * 64).decode()},
        {"signature": "not base64!"},
    ],
)
def test_a_changed_head_is_refused(change: dict[str, object]) -> None:
    private = Ed25519PrivateKey.generate()
    keys = {key_id(private.public_key()): private.public_key()}
    good = sign(private, 3, H, WHEN)
    bad = msgspec.structs.replace(good, **change)
    with pytest.raises(HeadError, match="does not verify"):
        check_signature(bad, keys)


def test_a_head_of_an_unknown_key_is_refused_naming_it() -> None:
    private, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    head = sign(private, 3, H, WHEN)
    with pytest.raises(HeadError, match=f"key_id {head.key_id} is not one of the accepted"):
        check_signature(head, {key_id(other.public_key()): other.public_key()})


def test_parse_names_the_bad_field() -> None:
    good = {"sequence": 1, "hash": H, "recordedtime": WHEN, "key_id": H, "signature": "AA=="}
    assert parse(json.dumps(good).encode()).sequence == 1
    for field, value, says in [
        ("hash", "XY", "hash"),
        ("sequence", -1, "sequence"),
        ("recordedtime", "yesterday", "recordedtime"),
        ("key_id", "short", "key_id"),
        ("sequence", "1", "sequence"),
    ]:
        with pytest.raises(HeadError, match=says):
            parse(json.dumps({**good, field: value}).encode())
    with pytest.raises(HeadError, match="not JSON"):
        parse(b"{")
    with pytest.raises(HeadError, match="extra"):
        parse(json.dumps({**good, "extra": 1}).encode())


def test_a_saved_head_still_at_its_place_is_a_prefix() -> None:
    assert prefix_divergence(5, H, None, 9, H) is None
    assert prefix_divergence(5, H, (7, "broken later"), 6, H) is None  # the break is after it
    assert prefix_divergence(0, "0" * 64, None, 0, None) is None


def test_a_truncated_log_names_the_first_removed_sequence() -> None:
    d = prefix_divergence(6, H, None, 4, None)
    assert d == Divergence(
        5, "the log ends at sequence 4, before the saved head's 6: events 5 to 6 were removed"
    )


def test_a_rewritten_log_names_the_saved_sequence() -> None:
    d = prefix_divergence(6, H, None, 8, "cd" * 32)
    assert d is not None and d.sequence == 6 and "rewritten" in d.reason


def test_a_break_before_the_saved_head_is_named_as_the_walk_found_it() -> None:
    assert prefix_divergence(6, H, (3, "content"), 2, None) == Divergence(3, "content")
