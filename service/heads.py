"""Signed heads over the log: sign the current head; check a saved head against the log
(the walk of the chain, then the pure decision of events/heads.py). Used by GET /v1/head,
GET /v1/verify and `annals verify --head`."""

from __future__ import annotations

from typing import Any

import msgspec

from events import integrity, store
from events.chain import recorded_text
from events.heads import Divergence, SignedHead, prefix_divergence, sign
from service.signing import Keyring


async def current(conn: store.Conn, keys: Keyring) -> SignedHead:
    """The log's head, signed with the signing key."""
    assert keys.signer is not None  # the service always has one (service/signing.py)
    head = await store.read_head(conn)
    when = recorded_text(head.recorded_at) if head.recorded_at is not None else None
    return sign(keys.signer, head.sequence, head.hash, when)


class SavedCheck(msgspec.Struct, frozen=True):
    """A saved head against the log: still a prefix, or where it stops being one."""

    sequence: int
    hash: str
    prefix: bool
    diverges: Divergence | None


class Verification(msgspec.Struct, frozen=True, omit_defaults=True):
    """GET /v1/verify: the walk of the chain (integrity.Verified's fields) and, when a saved
    head was given, whether the log still begins with it. `ok` holds both."""

    ok: bool
    checked: int
    head: int
    first_broken: integrity.Broken | None
    saved: SavedCheck | None = None


async def verify(
    conn: store.Conn, saved: tuple[int, str] | None = None, progress: Any = None
) -> Verification:
    """Walk the chain; with `saved` (sequence, hash), also check the log begins with it."""
    walk = await integrity.verify(conn, progress)
    if saved is None:
        return Verification(walk.ok, walk.checked, walk.head, walk.first_broken)
    sequence, hash_ = saved
    broken = walk.first_broken
    found = await store.hash_at(conn, sequence) if sequence > 0 else None
    diverges = prefix_divergence(
        sequence,
        hash_,
        (broken.sequence, broken.reason) if broken else None,
        walk.head,
        found,
    )
    check = SavedCheck(sequence, hash_, diverges is None, diverges)
    return Verification(
        walk.ok and diverges is None, walk.checked, walk.head, walk.first_broken, check
    )
