"""The hash chain: canonical bytes of an event and hash = SHA-256(predecessor ‖ canonical).

Canonical form (docs/ARCHITECTURE.md#hash-chain): a JSON object with exactly the keys
confidence, data, id, recordedtime, sequence, source, specversion, subject, time, type;
keys sorted, no insignificant whitespace, UTF-8, non-ASCII characters written as
themselves; `time` as given by the client, `recordedtime` RFC 3339 UTC with microseconds
(`2025-11-27T10:00:00.000000Z`). The hash is the lowercase hex SHA-256 of the 32 raw bytes
of the predecessor hash (all zero for sequence 1) followed by the canonical bytes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

GENESIS: Final = "0" * 64
_encoder = msgspec.json.Encoder(order="sorted")


def canonical(
    *,
    id: str,
    source: str,
    type: str,
    subject: str | None,
    time: str,
    confidence: str,
    data: Any,
    sequence: int,
    recordedtime: datetime,
) -> bytes:
    """The bytes the hash covers."""
    return _encoder.encode(
        {
            "confidence": confidence,
            "data": data,
            "id": id,
            "recordedtime": recorded_text(recordedtime),
            "sequence": sequence,
            "source": source,
            "specversion": "1.0",
            "subject": subject,
            "time": time,
            "type": type,
        }
    )


def recorded_text(recordedtime: datetime) -> str:
    """A recorded time as the hash (and a signed head) covers it: UTC, microseconds."""
    return recordedtime.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(predecessor: str, body: bytes) -> str:
    """hash = SHA-256(predecessor bytes ‖ canonical bytes), as hex."""
    return hashlib.sha256(bytes.fromhex(predecessor) + body).hexdigest()
