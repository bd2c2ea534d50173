"""Valid time: RFC 3339 timestamps and the EDTF level-1 date subset of SPEC §2."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

import msgspec

Precision = Literal["instant", "day", "month", "year"]
Qualifier = Literal["approximate", "uncertain"]

# RFC 3339 §5.6 date-time: a full date, 'T' (or 't' / space), a time, and a mandatory offset.
# ASCII digits only (`\d` would take any Unicode digit); used with fullmatch, since `$`
# would also match before a trailing newline.
_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# A date-time without an offset: refused, but with a message that says why.
_NAIVE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
)
# The EDTF level-1 subset SPEC §2 accepts: YYYY, YYYY-MM, YYYY-MM-DD, optionally ~ or ?.
# Read here rather than by `edtf.parse_edtf`: that pyparsing grammar costs ~5 ms a date, a
# minute for a 10,000-event batch. The subset is this one pattern plus a
# calendar check; tests/unit/test_timeparse.py checks it against `edtf` as the oracle.
# (Months 21-24, which EDTF reads as seasons, are outside the subset.)
_EDTF_SUBSET: Final = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?(?P<qualifier>[~?])?"
)


# The first and last instants a datetime holds (UTC): the bounds of all valid time, and
# where an interval that runs past 9999-12-31 ends.
FIRST_INSTANT: Final = datetime.min.replace(tzinfo=UTC)
LAST_INSTANT: Final = datetime.max.replace(tzinfo=UTC)


class TimeError(ValueError):
    """A time string outside the accepted forms; the message says what is accepted."""


class ValidTime(msgspec.Struct, frozen=True):
    """A parsed valid time: the start of its interval (UTC), its precision and qualifier."""

    start: datetime
    precision: Precision
    qualifier: Qualifier | None

    @property
    def end(self) -> datetime:
        """The exclusive end of the interval the time denotes.

        An interval that ends after 9999-12-31 (the year 9999, its December, its last day)
        ends at the last instant there is, which datetime can hold; 10000-01-01 it cannot.
        """
        s = self.start
        try:
            match self.precision:
                case "instant":
                    return s
                case "day":
                    return s + timedelta(days=1)
                case "month":
                    return s.replace(year=s.year + (s.month == 12), month=s.month % 12 + 1)
                case "year":
                    return s.replace(year=s.year + 1)
        except (ValueError, OverflowError):  # the interval ends after 9999-12-31
            return LAST_INSTANT


ACCEPTED: Final = (
    "an RFC 3339 timestamp with offset (2025-11-27T14:00:00Z) or a date 2025-11-27, 2025-11 "
    "or 2025, optionally ending in ~ (approximate) or ? (uncertain)"
)


def _timestamp(text: str) -> datetime:
    # Python 3.11 fromisoformat reads RFC 3339 fully, except that it keeps at most
    # microseconds: trim longer fractions before handing it over.
    norm = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text.replace("z", "Z").replace("t", "T"))
    dt = datetime.fromisoformat(norm.replace(" ", "T"))
    return dt.astimezone(UTC)


def parse_time(text: str) -> ValidTime:
    """Parse a SPEC §2 `time`; raises TimeError naming the accepted forms."""
    if _RFC3339.fullmatch(text):
        if text[17:19] == "60":
            raise TimeError(f"leap seconds (:60) are not supported; expected {ACCEPTED}")
        try:
            return ValidTime(_timestamp(text), "instant", None)
        except OverflowError:  # a local time in year 1 or 9999 that falls outside it in UTC
            raise TimeError(f"outside years 0001-9999 in UTC; expected {ACCEPTED}") from None
        except ValueError as e:
            raise TimeError(f"not a valid timestamp ({e}); expected {ACCEPTED}") from None
    if _NAIVE.fullmatch(text):
        raise TimeError(f"a timestamp needs an offset (Z or +hh:mm); expected {ACCEPTED}")
    m = _EDTF_SUBSET.fullmatch(text)
    if m is None:
        raise TimeError(f"expected {ACCEPTED}")
    year, month, day = m["year"], m["month"], m["day"]
    try:  # datetime refuses 2025-02-30, month 13 and year 0000 (which EDTF allows)
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    except ValueError:
        raise TimeError(f"not a calendar date; expected {ACCEPTED}") from None
    precision: Precision = "day" if day else "month" if month else "year"
    qualifier: Qualifier | None = None
    if m["qualifier"]:
        qualifier = "approximate" if m["qualifier"] == "~" else "uncertain"
    return ValidTime(start, precision, qualifier)


def parse_at(text: str) -> datetime:
    """Parse a query `at`: a timestamp, or a date meaning the end of that day (UTC).

    A month or a year likewise means the end of that interval. Returned as the last
    instant counted (inclusive bound); the end of 9999 is the last instant there is.
    """
    vt = parse_time(text)
    end = vt.end
    if vt.precision == "instant" or end == LAST_INSTANT:  # already the last instant counted
        return end
    return end - timedelta(microseconds=1)


_TIME_ENCODER: Final = msgspec.json.Encoder()


def format_time(dt: datetime) -> str:
    """RFC 3339 in UTC with a Z, microseconds only when present: msgspec's JSON form of a
    UTC datetime, without its quotes (a fifth of `isoformat`'s cost, and a fold formats a
    time for each event)."""
    return _TIME_ENCODER.encode(dt.astimezone(UTC))[1:-1].decode()


def day_end(d: date) -> datetime:
    """The last instant of a UTC day."""
    return datetime.combine(d, time.max, tzinfo=UTC)
