"""Importing NDJSON events (the example timeline, exports, feeds): streamed, idempotent,
resumable, a batch a commit (docs/ARCHITECTURE.md, "Import")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from events import jsontext, store
from events.chain import canonical, link
from events.envelope import (
    MAX_EVENT_BYTES,
    Draft,
    EventTooLarge,
    FieldError,
    InvalidEvent,
    Restore,
    parse_event,
    split_msgspec_error,
)
from events.store import Conflict
from events.writer import Writer

BATCH: Final = 2_000  # events per writer request (one transaction, one COPY per table)
# A line holds one event (at most MAX_EVENT_BYTES as compact JSON) plus what an export adds
# (sequence, hashes, times) and any spacing: past this, a line is refused unread.
MAX_LINE_BYTES: Final = MAX_EVENT_BYTES + 64 * 1024
BULK: Final = 10_000  # events appended by one import: then the planner's statistics are refreshed
# Attributes an export adds (SPEC §2 output); an import derives them again.
_RESTORE_KEYS: Final = frozenset({"sequence", "recordedtime", "hash", "predecessorhash"})
OUTPUT_ONLY: Final = (
    "sequence", "recordedtime", "hash", "predecessorhash", "timeprecision", "timequalifier",
)  # fmt: skip


class ImportStats(msgspec.Struct):
    """What an import did: `lines` read (the last line number done), events `appended`
    and `already` stored, the log's `sequence` after the last commit, input `bytes` read."""

    lines: int = 0
    appended: int = 0
    already: int = 0
    sequence: int = 0
    bytes: int = 0


class Stopped(Exception):
    """An import stopped at a bad line. `stats` says what was committed before it (every
    batch before the one holding the line); `error` is the InvalidEvent or Conflict."""

    def __init__(self, error: InvalidEvent | Conflict, stats: ImportStats) -> None:
        super().__init__(str(error))
        self.error = error
        self.stats = stats


class LineTooLong(EventTooLarge):
    """A line past MAX_LINE_BYTES, refused before it is read whole (413): its event's size is
    not known, only that it is too large."""

    def __init__(self, number: int) -> None:
        super().__init__(f"line {number}", f"longer than {MAX_LINE_BYTES:,} bytes")


# What a line reader yields in place of a line past MAX_LINE_BYTES (and then stops).
TOO_LONG: Final = b"(a line past MAX_LINE_BYTES)"


def as_input(raw: Any) -> Any:
    """An exported event back into an input event: the time as originally given."""
    if isinstance(raw, dict) and "timegiven" in raw:
        raw = {k: v for k, v in raw.items() if k not in OUTPUT_ONLY}
        raw["time"] = raw.pop("timegiven")
    return raw


def _decode(number: int, line: bytes) -> Any:
    if line is TOO_LONG:
        raise LineTooLong(number)
    try:
        return jsontext.decode(line)
    except jsontext.DuplicateKey as e:
        raise InvalidEvent(
            [FieldError(f"line {number}{e.path[1:]}", jsontext.DUPLICATE_KEY)]
        ) from None
    except (msgspec.DecodeError, ValueError, RecursionError) as e:
        raise InvalidEvent([FieldError(f"line {number}", f"malformed JSON: {e}")]) from None


def parse_line(number: int, raw: Any, restore: bool = True) -> Draft:
    """Validate one decoded NDJSON line; an InvalidEvent names the line number.

    Lines of an Annals export carry their place in the log (sequence, recordedtime, hash,
    predecessorhash). With `restore`, they are appended at exactly that place, so an export
    imported into an empty database reproduces the same chain, hash for hash; without it
    (or for lines of other feeds) they are appended as new events.
    """
    draft = parse_event(as_input(raw), f"line {number}")
    if restore and isinstance(raw, dict) and raw.keys() >= _RESTORE_KEYS:
        try:
            place = msgspec.convert({k: raw[k] for k in _RESTORE_KEYS}, Restore, strict=False)
        except msgspec.ValidationError as e:
            raise InvalidEvent([split_msgspec_error(e, f"line {number}")]) from None
        draft = msgspec.structs.replace(draft, restore=place)
    if not draft.id_given:
        raise InvalidEvent(
            [
                FieldError(
                    f"line {number}.id", "imported events need an id (re-runs must not duplicate)"
                )
            ]
        )
    return draft


class _Place(msgspec.Struct):
    """A restored line's claim about its place, and the hash recomputed from its content."""

    sequence: int
    hash: str
    predecessorhash: str
    recomputed: str


def _claimed_place(raw: Any) -> _Place | None:
    """Where an exported line says it sits, if it says so completely and its content
    hashes to what it states; None sends the line down the ordinary path."""
    if not isinstance(raw, dict) or not raw.keys() >= _RESTORE_KEYS:
        return None
    try:
        seq, h, prev = raw["sequence"], raw["hash"], raw["predecessorhash"]
        if not (isinstance(seq, int) and isinstance(h, str) and isinstance(prev, str)):
            return None
        body = canonical(
            id=raw["id"],
            source=raw["source"],
            type=raw["type"],
            subject=raw.get("subject"),
            time=raw["timegiven"],
            confidence=raw["confidence"],
            data=raw.get("data"),
            sequence=seq,
            recordedtime=datetime.fromisoformat(raw["recordedtime"]),
        )
        return _Place(seq, h, prev, link(prev, body))
    except (KeyError, TypeError, ValueError):
        return None


class _Batch(msgspec.Struct):
    drafts: list[Draft]
    numbers: list[int]  # the line number of each draft
    skipped: int  # lines found already in the log by the cheap check
    last_line: int  # every line up to this one is in the batch (or blank, or skipped)
    bytes: int


async def _batches(
    lines: AsyncIterable[tuple[int, bytes]], restore: bool, pool: Any
) -> AsyncIterator[_Batch | InvalidEvent]:
    """Batches of parsed lines; a bad line ends the stream with its InvalidEvent, after a
    batch of the lines before it (so that they are still committed)."""
    head: int | None = None
    if restore:
        async with pool.acquire() as conn:
            head = (await store.read_head(conn)).sequence
    held: list[tuple[int, Any, _Place | None]] = []
    size = 0

    async def cut(last_line: int) -> tuple[_Batch, InvalidEvent | None]:
        nonlocal size
        stored: dict[int, tuple[str, str]] = {}
        wanted = [p.sequence for _, _, p in held if p is not None]
        if wanted:  # one query for the batch, not one per line
            async with pool.acquire() as conn:
                stored = await store.links(conn, wanted)
        batch = _Batch([], [], 0, last_line, size)
        size = 0
        error: InvalidEvent | None = None
        for number, raw, place in held:
            if (
                place is not None
                and place.hash == place.recomputed
                and stored.get(place.sequence) == (place.hash, place.predecessorhash)
            ):
                batch.skipped += 1
                continue
            try:
                batch.drafts.append(parse_line(number, raw, restore))
            except InvalidEvent as e:
                batch.last_line, error = number - 1, e
                break
            batch.numbers.append(number)
        held.clear()
        return batch, error

    last = 0
    async for number, line in lines:
        size += len(line)
        last = number
        if not line.strip():
            continue
        try:
            raw = _decode(number, line)
        except InvalidEvent as e:
            batch, error = await cut(number - 1)
            yield batch
            yield error or e
            return
        place = _claimed_place(raw) if head is not None else None
        if place is not None and head is not None and place.sequence > head:
            place = None  # beyond the head: not there yet, restored by the ordinary path
        held.append((number, raw, place))
        if len(held) >= BATCH:
            batch, error = await cut(number)
            yield batch
            if error:
                yield error
                return
            # Let the writer run between batches (this parsing is CPU on the same loop).
            await asyncio.sleep(0)
    batch, error = await cut(last)
    yield batch
    if error:
        yield error


def _by_line(e: InvalidEvent | Conflict, numbers: list[int]) -> InvalidEvent | Conflict:
    """The store names a batch's events `$[i]` in some errors: name the input line."""

    def rename(path: str) -> str:
        if path.startswith("$["):
            index, _, rest = path[2:].partition("]")
            if index.isdigit() and int(index) < len(numbers):
                return f"line {numbers[int(index)]}{rest}"
        return path

    errors = [FieldError(rename(f.path), f.message) for f in e.errors]
    if isinstance(e, Conflict):
        where = errors[0].path if errors else "a line"
        return Conflict(f"{where}: {e.detail}", errors)
    return InvalidEvent(errors)


async def import_stream(
    writer: Writer,
    lines: AsyncIterable[tuple[int, bytes]],
    progress: Callable[[ImportStats], None] | None = None,
    restore: bool = True,
) -> ImportStats:
    """Append every event, a batch per writer request; raise Stopped at a bad line, after
    committing every batch before it. The next batch is parsed while one commits."""
    stats = ImportStats()
    queue: asyncio.Queue[_Batch | InvalidEvent | None] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        async for item in _batches(lines, restore, writer.pool):
            await queue.put(item)
        await queue.put(None)

    producer = asyncio.create_task(produce(), name="annals-import-parse")
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():  # the producer died (a database error reading the head)
                getter.cancel()
                producer.result()
            item = getter.result()
            if item is None:
                break
            if isinstance(item, InvalidEvent):
                raise Stopped(item, stats)
            if item.drafts:
                try:
                    # No echo: an import counts its events, it does not show them.
                    result = await writer.append(item.drafts, echo=False)
                except (InvalidEvent, Conflict) as e:
                    raise Stopped(_by_line(e, item.numbers), stats) from None
                stats.appended += result.new
                stats.already += len(item.drafts) - result.new
                stats.sequence = max(stats.sequence, result.last)
            stats.already += item.skipped
            stats.lines = item.last_line
            stats.bytes += item.bytes
            if progress:
                progress(stats)
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer
    async with writer.pool.acquire() as conn:
        stats.sequence = (await store.read_head(conn)).sequence
        if stats.appended >= BULK:
            await store.refresh_statistics(conn)
    return stats


async def _aiter(lines: Iterable[tuple[int, bytes]]) -> AsyncIterator[tuple[int, bytes]]:
    for item in lines:
        yield item


async def import_lines(
    writer: Writer,
    lines: Iterable[tuple[int, bytes]],
    progress: Callable[[ImportStats], None] | None = None,
    restore: bool = True,
) -> ImportStats:
    """`import_stream` over numbered lines of a file or a list."""
    return await import_stream(writer, _aiter(lines), progress, restore)


async def numbered(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Numbered NDJSON lines of a byte stream (a request body), split as they arrive:
    memory holds one line (at most MAX_LINE_BYTES) and one chunk, never the whole body.
    A longer line is TOO_LONG, and nothing after it is read."""
    parts: list[bytes] = []  # the line being received, in pieces (no quadratic joining)
    held = 0  # bytes in parts
    number = 0
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if held + end + 1 - start > MAX_LINE_BYTES:
                yield number + 1, TOO_LONG
                return
            parts.append(chunk[start : end + 1])
            number += 1
            yield number, b"".join(parts)
            parts.clear()
            held = 0
            start = end + 1
        if start < len(chunk):
            held += len(chunk) - start
            if held > MAX_LINE_BYTES:
                yield number + 1, TOO_LONG
                return
            parts.append(chunk[start:])
    if parts:
        yield number + 1, b"".join(parts)


def file_lines(path: Path) -> Iterable[tuple[int, bytes]]:
    """Numbered lines of a file, read lazily (at most MAX_LINE_BYTES at a time); a longer
    line is TOO_LONG, and nothing after it is read."""
    with path.open("rb") as f:
        number = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                yield number, TOO_LONG
                return
            yield number, line
