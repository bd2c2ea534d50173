"""Valid time: RFC 3339 timestamps and the EDTF level-1 date subset of SPEC §2, via `edtf`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

import edtf
import msgspec

Precision = Literal["instant", "day", "month", "year"]
Qualifier = Literal["approximate", "uncertain"]

# RFC 3339 §5.6 date-time: a full date, 'T' (or 't' / space), a time, and a mandatory offset.
_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
# The EDTF level-1 subset SPEC §2 accepts: YYYY, YYYY-MM, YYYY-MM-DD, optionally ~ or ?.
_EDTF_SUBSET: Final = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?[~?]?$")


class TimeError(ValueError):
    """A time string outside the accepted forms; the message says what is accepted."""


class ValidTime(msgspec.Struct, frozen=True):
    """A parsed valid time: the start of its interval (UTC), its precision and qualifier."""

    start: datetime
    precision: Precision
    qualifier: Qualifier | None

    @property
    def end(self) -> datetime:
        """The exclusive end of the interval the time denotes."""
        s = self.start
        match self.precision:
            case "instant":
                return s
            case "day":
                return s + timedelta(days=1)
            case "month":
                return s.replace(year=s.year + (s.month == 12), month=s.month % 12 + 1)
            case "year":
                return s.replace(year=s.year + 1)


ACCEPTED: Final = (
    "an RFC 3339 timestamp with offset (2025-11-27T14:00:00Z) or a date 2025-11-27, 2025-11 "
    "or 2025, optionally ending in ~ (approximate) or ? (uncertain)"
)


def _timestamp(text: str) -> datetime:
    # Python 3.11 fromisoformat reads RFC 3339 fully, except that it keeps at most
    # microseconds: trim longer fractions before handing it over.
    norm = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("z", "Z").replace("t", "T"))
    dt = datetime.fromisoformat(norm.replace(" ", "T"))
    return dt.astimezone(UTC)


def parse_time(text: str) -> ValidTime:
    """Parse a SPEC §2 `time`; raises TimeError naming the accepted forms."""
    if _RFC3339.match(text):
        try:
            return ValidTime(_timestamp(text), "instant", None)
        except ValueError as e:
            raise TimeError(f"not a valid timestamp ({e}); expected {ACCEPTED}") from None
    if not _EDTF_SUBSET.match(text):
        raise TimeError(f"expected {ACCEPTED}")
    try:
        parsed = edtf.parse_edtf(text)
    except Exception:  # edtf raises its own EDTFParseException, and others on odd input
        raise TimeError(f"not a calendar date; expected {ACCEPTED}") from None
    qualifier: Qualifier | None = None
    inner = parsed
    if isinstance(parsed, edtf.UncertainOrApproximate):
        inner = parsed.date
        qualifier = "approximate" if parsed.is_approximate else "uncertain"
    if not isinstance(inner, edtf.Date):
        raise TimeError(f"expected {ACCEPTED}")
    precision: Precision = inner.precision
    st = inner.lower_strict()
    try:
        start = datetime(st.tm_year, st.tm_mon, st.tm_mday, tzinfo=UTC)
    except ValueError:  # year 0000 and the like: valid EDTF, outside what we store
        raise TimeError(f"year out of range; expected {ACCEPTED}") from None
    return ValidTime(start, precision, qualifier)


def parse_at(text: str) -> datetime:
    """Parse a query `at`: a timestamp, or a date meaning the end of that day (UTC).

    A month or a year likewise means the end of that interval. Returned as the last
    instant counted (inclusive bound).
    """
    vt = parse_time(text)
    if vt.precision == "instant":
        return vt.start
    return vt.end - timedelta(microseconds=1)


def format_time(dt: datetime) -> str:
    """RFC 3339 in UTC with a Z, microseconds only when present."""
    dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds").replace(
        "+00:00", "Z"
    )


def day_end(d: date) -> datetime:
    """The last instant of a UTC day."""
    return datetime.combine(d, time.max, tzinfo=UTC)
