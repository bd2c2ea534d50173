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
    parts = Unplaced.of(
        id=id, source=source, type=type, subject=subject, time=time, confidence=confidence,
        data=data,
    )  # fmt: skip
    return parts.place(sequence, recorded_text(recordedtime))


class Unplaced(msgspec.Struct, frozen=True):
    """An event's canonical bytes before it has a place in the log: everything but
    `recordedtime` and `sequence`, encoded once (outside the writer's lock). The sorted
    keys put those two between `id` and `source`, so the bytes are a head and a tail."""

    head: bytes  # {"confidence":…,"data":…,"id":…
    tail: bytes  # "source":…,"specversion":"1.0","subject":…,"time":…,"type":…}

    @classmethod
    def of(
        cls,
        *,
        id: str,
        source: str,
        type: str,
        subject: str | None,
        time: str,
        confidence: str,
        data: Any,
    ) -> Unplaced:
        """Encode the parts of the canonical form that do not depend on the place."""
        head = _encoder.encode({"confidence": confidence, "data": data, "id": id})
        tail = _encoder.encode(
            {"source": source, "specversion": "1.0", "subject": subject, "time": time, "type": type}
        )
        return cls(head[:-1], tail[1:])

    def place(self, sequence: int, recorded: str) -> bytes:
        """The canonical bytes at `sequence`, recorded at `recorded` (see recorded_text)."""
        return b"".join(
            (self.head, b',"recordedtime":"', recorded.encode(), b'","sequence":',
             str(sequence).encode(), b",", self.tail)
        )  # fmt: skip


def recorded_text(recordedtime: datetime) -> str:
    """A recorded time as the hash (and a signed head) covers it: UTC, microseconds."""
    return recordedtime.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(predecessor: str, body: bytes) -> str:
    """hash = SHA-256(predecessor bytes ‖ canonical bytes), as hex."""
    return hashlib.sha256(bytes.fromhex(predecessor) + body).hexdigest()
