"""Importing NDJSON events (the example timeline, exports, feeds): idempotent, in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

import msgspec

from events.envelope import (
    Draft,
    FieldError,
    InvalidEvent,
    Restore,
    parse_event,
    split_msgspec_error,
)
from events.writer import Writer

BATCH: Final = 1_000
# Attributes an export adds (SPEC §2 output); an import derives them again.
_RESTORE_KEYS: Final = frozenset({"sequence", "recordedtime", "hash", "predecessorhash"})
OUTPUT_ONLY: Final = (
    "sequence", "recordedtime", "hash", "predecessorhash", "timeprecision", "timequalifier",
)  # fmt: skip


class ImportStats(msgspec.Struct):
    """What an import did."""

    lines: int = 0
    appended: int = 0
    already: int = 0


def as_input(raw: Any) -> Any:
    """An exported event back into an input event: the time as originally given."""
    if isinstance(raw, dict) and "timegiven" in raw:
        raw = {k: v for k, v in raw.items() if k not in OUTPUT_ONLY}
        raw["time"] = raw.pop("timegiven")
    return raw


def parse_lines(
    lines: Iterable[tuple[int, bytes]], restore: bool = True
) -> Iterable[tuple[int, Draft]]:
    """Validate NDJSON lines; an InvalidEvent names the line number.

    Lines of an Annals export carry their place in the log (sequence, recordedtime, hash,
    predecessorhash). With `restore`, they are appended at exactly that place, so an export
    imported into an empty database reproduces the same chain, hash for hash; without it
    (or for lines of other feeds) they are appended as new events.
    """
    decoder = msgspec.json.Decoder()
    for number, line in lines:
        if not line.strip():
            continue
        try:
            raw = decoder.decode(line)
        except (msgspec.DecodeError, ValueError, RecursionError) as e:
            raise InvalidEvent([FieldError(f"line {number}", f"malformed JSON: {e}")]) from None
        draft = parse_event(as_input(raw), f"line {number}")
        if restore and isinstance(raw, dict) and raw.keys() >= _RESTORE_KEYS:
            try:
                place = msgspec.convert({k: raw[k] for k in _RESTORE_KEYS}, Restore, strict=False)
            except msgspec.ValidationError as e:
                raise InvalidEvent([split_msgspec_error(e, f"line {number}")]) from None
            draft = msgspec.structs.replace(draft, restore=place)
        yield number, draft


async def import_lines(
    writer: Writer,
    lines: Iterable[tuple[int, bytes]],
    progress: Callable[[ImportStats], None] | None = None,
    restore: bool = True,
) -> ImportStats:
    """Append every event, BATCH at a time; already-stored events are skipped by the log's
    own idempotency (source + id), so re-running an import appends nothing twice."""
    stats = ImportStats()
    batch: list[Draft] = []

    async def flush() -> None:
        result = await writer.append(batch)
        stats.appended += result.new
        stats.already += len(batch) - result.new
        batch.clear()
        if progress:
            progress(stats)

    for number, draft in parse_lines(lines, restore):
        stats.lines = number
        if not draft.id_given:
            raise InvalidEvent(
                [
                    FieldError(
                        f"line {number}.id",
                        "imported events need an id (re-runs must not duplicate)",
                    )
                ]
            )
        batch.append(draft)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return stats


def file_lines(path: Path) -> Iterable[tuple[int, bytes]]:
    """Numbered lines of a file, read lazily (constant memory)."""
    with path.open("rb") as f:
        yield from enumerate(f, start=1)
