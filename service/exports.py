"""Export builders: CloudEvents NDJSON, CSV, TimelineJS3 JSON, iCalendar of meetings; the
last two built a page at a time from the pages they are given, never whole in memory."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Set
from datetime import datetime
from typing import Any, Final

import icalendar
import msgspec
from msgspec import Struct

from events.envelope import StoredEvent
from events.headline import headline, name_of
from events.timeparse import TimeError, ValidTime, parse_time
from events.vocabulary import concerns_of
from projections import MeetingState
from queries.export_questions import TimelinePage
from queries.timeline import Entry, Filters

MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_ndjson: Final = msgspec.json.Encoder()


def ndjson(events: Iterable[StoredEvent]) -> bytes:
    """Events as CloudEvents NDJSON lines, exactly as the log serves them.

    Every line carries `timegiven`, so `annals import` (service.importer.as_input) turns it
    back into the input event it was, and the import appends the same event.
    """
    return b"".join(_ndjson.encode(e) + b"\n" for e in events)


# --- CSV ------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "sequence", "id", "source", "type", "subject", "time", "timeprecision", "timequalifier",
    "confidence", "recordedtime", "concerns", "headline", "summary",
)  # fmt: skip
# A cell a spreadsheet would take for a formula (CWE-1236), and the apostrophe that
# neutralises one, so that a cell beginning with an apostrophe is always one we added.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "'")
TEXT_KEYS: Final = ("summary", "text", "outcome", "reason")  # a slide's or row's prose


def summary_of(data: Any) -> str | None:
    """The event's own prose: its data's `summary`, else `text`, `outcome` or `reason`."""
    if not isinstance(data, dict):
        return None
    return next((data[k] for k in TEXT_KEYS if isinstance(data.get(k), str) and data[k]), None)


def cell(value: str) -> str:
    """A text cell safe to open in a spreadsheet: one leading apostrophe added when the
    text starts like a formula or with an apostrophe; strip one to get the text back."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_row(entry: Entry) -> list[str | int]:
    """One timeline entry as a row of CSV_COLUMNS; `concerns` is space-separated."""
    e = entry.event
    first = [e.subject] if e.subject else []
    concerns = " ".join(first + sorted(concerns_of(e.subject, e.data) - set(first)))
    return [
        e.sequence, cell(e.id), cell(e.source), cell(e.type), e.subject or "", e.time,
        e.timeprecision, e.timequalifier or "", e.confidence, e.recordedtime, concerns,
        cell(headline(e.type, e.subject, e.data)), cell(summary_of(e.data) or ""),
    ]  # fmt: skip


def csv_text(entries: Iterable[Entry], *, header: bool = False) -> str:
    """Rows of RFC 4180 CSV (CRLF line ends, quotes where needed), the header first if asked."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(e) for e in entries)
    return out.getvalue()


# --- TimelineJS3 ----------------------------------------------------------------------
#
# The one escaping rule: every text the export carries is shown literally, never run,
# wherever TimelineJS 3 (or any page putting the field into HTML) inserts it. Text is
# escaped once for each time it is parsed as HTML on its way to the screen: `headline`,
# `text`, media `caption` and `credit` are HTML (parsed once); `group` and `display_date`
# are reduced to text by TimelineJS, which parses them as HTML and takes their textContent
# (decoding entities), and then inserted with innerHTML: parsed twice, escaped twice.


def escaped(text: str, parses: int = 1) -> str:
    """`text` as HTML that shows it literally after `parses` HTML parses."""
    for _ in range(parses):
        text = html.escape(text, quote=True)
    return text


def plain(text: str) -> str:
    """A field TimelineJS reduces to text before inserting it as HTML (group, dates)."""
    return escaped(text, parses=2)


class TjsDate(Struct, frozen=True, omit_defaults=True):
    """A TimelineJS3 date: fields finer than the event's precision are left out."""

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    display_date: str | None = None


class TjsText(Struct, frozen=True):
    """TimelineJS3 text: a headline and a body, both HTML."""

    headline: str
    text: str


class TjsEvent(Struct, frozen=True, omit_defaults=True):
    """A TimelineJS3 slide."""

    start_date: TjsDate
    text: TjsText
    unique_id: str
    display_date: str
    group: str | None = None


class TjsTitle(Struct, frozen=True):
    """The TimelineJS3 title slide."""

    text: TjsText


def display_date(vt: ValidTime) -> str:
    """`27 November 2025`, `c. November 2025` (approximate), `2025?` (uncertain)."""
    s = vt.start
    match vt.precision:
        case "year":
            text = f"{s.year}"
        case "month":
            text = f"{MONTHS[s.month - 1]} {s.year}"
        case "day":
            text = f"{s.day} {MONTHS[s.month - 1]} {s.year}"
        case _:
            clock = f"{s:%H:%M}" + (f":{s:%S}" if s.second else "")
            text = f"{s.day} {MONTHS[s.month - 1]} {s.year}, {clock} UTC"
    if vt.qualifier == "approximate":
        return "c. " + text
    return text + "?" if vt.qualifier == "uncertain" else text


def tjs_date(vt: ValidTime) -> TjsDate:
    """The start of the event's interval, down to its precision and no further."""
    s, p = vt.start, vt.precision
    return TjsDate(
        year=s.year,
        month=s.month if p != "year" else None,
        day=s.day if p in ("day", "instant") else None,
        hour=s.hour if p == "instant" else None,
        minute=s.minute if p == "instant" else None,
        second=s.second if p == "instant" else None,
        display_date=plain(display_date(vt)),
    )


def _body(e: StoredEvent, corrected_by: str | None) -> str:
    """The slide's body: what the data says, how sure it is and where it comes from."""
    d: dict[str, Any] = e.data if isinstance(e.data, dict) else {}
    parts = [
        f"<p>{escaped(d[k])}</p>" for k in TEXT_KEYS if isinstance(d.get(k), str) and d[k].strip()
    ]
    conditions = [c for c in d.get("conditions") or [] if isinstance(c, str)]
    if conditions:
        parts.append("<ul>" + "".join(f"<li>{escaped(c)}</li>" for c in conditions) + "</ul>")
    if isinstance(d.get("quote"), str):
        parts.append(f"<blockquote>{escaped(d['quote'])}</blockquote>")
    if e.confidence != "confirmed":
        parts.append(f"<p><em>Confidence: {escaped(e.confidence)}</em></p>")
    if corrected_by is not None:
        parts.append(f"<p><em>Corrected by event {escaped(corrected_by)}</em></p>")
    parts.append(f'<p class="annals-sources">{_credits(e.source, d.get("sources"))}</p>')
    return "".join(parts)


def _credits(source: str, sources: Any) -> str:
    """`Sources: <outlet, linked>; …`, or, when the data names none, who recorded it."""
    credits = [_credit(s) for s in sources or [] if isinstance(s, dict)]
    credits = [c for c in credits if c]
    if not credits:
        return f"Recorded by {escaped(source)}"
    return ("Source: " if len(credits) == 1 else "Sources: ") + "; ".join(credits)


def _credit(s: dict[str, Any]) -> str:
    outlet = escaped(str(s.get("outlet") or "")) or "link"
    url = s.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return f'<a href="{escaped(url)}" rel="noopener noreferrer">{outlet}</a>'
    return outlet if s.get("outlet") else ""


_tjs: Final = msgspec.json.Encoder()


def slide(entry: Entry, names: Mapping[str, str], shared: Set[str]) -> TjsEvent:
    """A timeline entry as a TimelineJS3 slide.

    `unique_id` is the event id, or `id~sequence` for an id that several events share (two
    sources may pick the same), so a slide's id is the same in every export that holds it;
    `group` the display name of the event's subject (`names`, else one made from its slug),
    so TimelineJS lays out one row per subject. Every text follows the escaping rule above.
    """
    e = entry.event
    vt = ValidTime(entry.start, e.timeprecision, e.timequalifier)
    return TjsEvent(
        start_date=tjs_date(vt),
        text=TjsText(escaped(headline(e.type, e.subject, e.data)), _body(e, entry.corrected_by)),
        unique_id=f"{e.id}~{e.sequence}" if e.id in shared else e.id,
        display_date=plain(display_date(vt)),
        group=plain(names.get(e.subject) or name_of(e.subject)) if e.subject else None,
    )


async def timelinejs(
    pages: AsyncIterator[TimelinePage],
    f: Filters,
    known: int,
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """A TimelineJS3 document (https://timeline.knightlab.com/docs/json-format.html) of the
    timeline's pages, a chunk a page: `{"events": [slides], "title": slide}`, the title
    last because it counts the slides. `progress` hears the count after each page."""
    count = 0
    about = None
    yield b'{"events":['
    async for page in pages:
        slides = [_tjs.encode(slide(e, page.names, page.shared)) for e in page.entries]
        if slides:
            yield (b"," if count else b"") + b",".join(slides)
        count += len(slides)
        if f.subject is not None:
            about = page.names.get(f.subject)
        if progress is not None:
            progress(count)
    name = (about or name_of(f.subject)) if f.subject else "Annals"
    text = f"{count} events, as known at sequence {known}."
    title = TjsTitle(TjsText(escaped(f"{name}: timeline"), escaped(text)))
    yield b'],"title":' + _tjs.encode(title) + b"}"


# --- iCalendar ------------------------------------------------------------------------


def _when(m: MeetingState) -> ValidTime | None:
    if m.starts is None:
        return None
    try:
        return parse_time(m.starts)
    except TimeError:
        return None


def _shown(states: Iterable[Any], f: Filters) -> list[tuple[MeetingState, ValidTime]]:
    """The meetings with a start that pass the filters, each with its start: `subject` (the
    meeting, a participant or an agenda item), and `from`/`to` (the meeting's date interval
    overlaps them)."""
    out = []
    for m in states:
        vt = _when(m) if isinstance(m, MeetingState) else None
        if vt is None:
            continue
        if f.subject is not None and f.subject not in (m.id, *m.participants, *m.agenda):
            continue
        if (f.start is not None and max(vt.start, vt.end) < f.start) or (
            f.end is not None and vt.start > f.end
        ):
            continue
        out.append((m, vt))
    return out


def _status(m: MeetingState, vt: ValidTime) -> str:
    if m.status == "cancelled":
        return "CANCELLED"
    fact = m.facts.get("starts")
    unsure = fact is not None and fact.confidence != "confirmed"
    if vt.precision in ("month", "year") or vt.qualifier is not None or unsure:
        return "TENTATIVE"
    return "CONFIRMED"


def _vevent(m: MeetingState, vt: ValidTime, stamp: datetime) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", f"{m.id}@annals")
    ev.add("dtstamp", stamp)
    ev.add("summary", m.title or name_of(m.id))
    if vt.precision == "instant":
        ev.add("dtstart", vt.start)
    else:
        ev.add("dtstart", vt.start.date())
        if vt.precision != "day":  # a month or a year: an all-day span over the interval
            ev.add("dtend", vt.end.date())
    ev.add("status", _status(m, vt))
    ev.add("sequence", len(m.reschedules))
    if m.location:
        ev.add("location", m.location)
    lines = [f"Date: {display_date(vt)}"]
    if m.participants:
        lines.append("Participants: " + ", ".join(name_of(p) for p in m.participants))
    if m.agenda:
        lines.append("Agenda: " + ", ".join(name_of(a) for a in m.agenda))
    if m.outcome:
        lines.append(f"Outcome: {m.outcome}")
    if m.cancel_reason:
        lines.append(f"Cancelled: {m.cancel_reason}")
    if (fact := m.facts.get("starts")) is not None:
        lines.append(f"Confidence: {fact.confidence} (event {fact.event})")
    ev.add("description", "\n".join(lines))
    return ev


_CALENDAR_END: Final = b"END:VCALENDAR\r\n"


def _calendar_start() -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Annals//Annals meetings//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Annals meetings")
    whole: bytes = cal.to_ical()
    return whole.removesuffix(_CALENDAR_END)


def _vevents(meetings: Iterable[tuple[MeetingState, ValidTime]], stamp: datetime) -> bytes:
    """One VEVENT of iCalendar text per meeting, with its start."""
    return b"".join(_vevent(m, vt, stamp).to_ical() for m, vt in meetings)


async def calendar(
    pages: AsyncIterator[list[Any]],
    f: Filters,
    stamp: datetime,
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """An iCalendar (RFC 5545) of the meetings in `pages` that pass the filters
    (`_shown`), a chunk a page, one VEVENT per meeting; UID = meeting id + `@annals`.

    A meeting dated to the day is an all-day event; to the month or year, an all-day span
    over that interval marked TENTATIVE; an approximate, uncertain or not confirmed date is
    TENTATIVE too; a cancelled meeting is CANCELLED. `stamp` (DTSTAMP) is the recorded time
    of the newest event counted, so the same question always gives the same calendar.
    `progress` hears the count of meetings after each page.
    """
    count = 0
    yield _calendar_start()
    async for page in pages:
        shown = _shown(page, f)
        if shown:
            yield _vevents(shown, stamp)
        count += len(shown)
        if progress is not None:
            progress(count)
    yield _CALENDAR_END
