"""Valid time (SPEC §2 `time`, §4 `at`): every accepted form, and the forms refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import edtf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.timeparse import (
    Precision,
    Qualifier,
    TimeError,
    ValidTime,
    format_time,
    parse_at,
    parse_time,
)


def utc(year: int, month: int, day: int, *hms_us: int) -> datetime:
    h, m, sec, us = (*hms_us, 0, 0, 0, 0)[:4]
    return datetime(year, month, day, h, m, sec, us, tzinfo=UTC)


ACCEPTED: list[tuple[str, ValidTime]] = [
    # RFC 3339 timestamps: Z, offsets, fractions (nanoseconds are cut to microseconds)
    ("2025-11-27T14:00:00Z", ValidTime(utc(2025, 11, 27, 14), "instant", None)),
    ("2025-11-27T14:00:00z", ValidTime(utc(2025, 11, 27, 14), "instant", None)),
    ("2025-11-27t14:00:00Z", ValidTime(utc(2025, 11, 27, 14), "instant", None)),
    ("2025-11-27T14:00:00+02:00", ValidTime(utc(2025, 11, 27, 12), "instant", None)),
    ("2025-11-27T14:00:00-05:30", ValidTime(utc(2025, 11, 27, 19, 30), "instant", None)),
    ("2025-11-27T14:00:00+00:00", ValidTime(utc(2025, 11, 27, 14), "instant", None)),
    ("2025-11-27T14:00:00-00:00", ValidTime(utc(2025, 11, 27, 14), "instant", None)),
    ("1999-12-31T23:00:00-02:00", ValidTime(utc(2000, 1, 1, 1), "instant", None)),
    ("2025-11-27T14:00:00.5Z", ValidTime(utc(2025, 11, 27, 14, 0, 0, 500000), "instant", None)),
    ("2025-11-27T14:00:00.123Z", ValidTime(utc(2025, 11, 27, 14, 0, 0, 123000), "instant", None)),
    (
        "2025-11-27T14:00:00.123456789+01:00",
        ValidTime(utc(2025, 11, 27, 13, 0, 0, 123456), "instant", None),
    ),
    (
        "2025-11-27T14:00:00.1234567890123Z",
        ValidTime(utc(2025, 11, 27, 14, 0, 0, 123456), "instant", None),
    ),
    ("2024-02-29T00:00:00Z", ValidTime(utc(2024, 2, 29), "instant", None)),
    # reduced precision, each plain, approximate (~) and uncertain (?)
    ("2025", ValidTime(utc(2025, 1, 1), "year", None)),
    ("2025~", ValidTime(utc(2025, 1, 1), "year", "approximate")),
    ("2025?", ValidTime(utc(2025, 1, 1), "year", "uncertain")),
    ("2025-11", ValidTime(utc(2025, 11, 1), "month", None)),
    ("2025-11~", ValidTime(utc(2025, 11, 1), "month", "approximate")),
    ("2025-11?", ValidTime(utc(2025, 11, 1), "month", "uncertain")),
    ("2025-11-27", ValidTime(utc(2025, 11, 27), "day", None)),
    ("2025-11-27~", ValidTime(utc(2025, 11, 27), "day", "approximate")),
    ("2025-11-27?", ValidTime(utc(2025, 11, 27), "day", "uncertain")),
    ("2024-02-29", ValidTime(utc(2024, 2, 29), "day", None)),
    ("0001", ValidTime(utc(1, 1, 1), "year", None)),
    ("9999-12-31", ValidTime(utc(9999, 12, 31), "day", None)),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepted_time_gives_start_precision_and_qualifier(text: str, expected: ValidTime) -> None:
    assert parse_time(text) == expected


REJECTED = [
    "2025-11-27T14:00:00",  # naive: no offset
    "2025-11-27T14:00",  # no seconds
    "2025-11-27T14:00:00+0200",  # offset without colon
    "2025-11-27T14:00:00+24:00",  # offset out of range
    "2025-11-27T24:00:00Z",
    "2016-12-31T23:59:60Z",  # leap second
    "2025-11-27T14:00:00.Z",
    "2025-11-27T14:00:00Zjunk",
    "2025-11-27T14:00:00Z~",  # qualifiers are for dates
    "2025-02-30",
    "2025-02-29",
    "2025-11-31",
    "2025-13",
    "2025-00",
    "2025-11-00",
    "2025-21",  # an EDTF season: not in the accepted subset
    "2025-11-27%",  # EDTF level 1, but not in the subset
    "2025~?",
    "2025-11-27 ",
    " 2025-11-27",
    "2025-11-27\n",
    "",
    "yesterday",
    "0000",
    "0000-01-01",
    "25-11-27",
    "+2025",
    "-2025",
    "2025-W48",
    "\uff12\uff10\uff12\uff15-11-27",  # full-width digits
    "\uff12\uff10\uff12\uff15-11-27T14:00:00Z",
    "\u0662\u0660\u0662\u0665",  # Arabic-Indic digits
    "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
]


@pytest.mark.parametrize("text", REJECTED)
def test_rejected_time_raises_time_error_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(TimeError) as info:
        parse_time(text)
    assert "RFC 3339" in str(info.value)


def test_leap_second_is_refused_with_a_reason() -> None:
    with pytest.raises(TimeError, match="leap second"):
        parse_time("2016-12-31T23:59:60Z")


def test_naive_timestamp_is_refused_saying_it_needs_an_offset() -> None:
    with pytest.raises(TimeError, match="offset"):
        parse_time("2025-11-27T14:00:00")


def test_end_of_each_precision_is_the_start_of_the_next_interval() -> None:
    assert parse_time("2025-11-27").end == utc(2025, 11, 28)
    assert parse_time("2025-12").end == utc(2026, 1, 1)
    assert parse_time("2025-02").end == utc(2025, 3, 1)
    assert parse_time("2025").end == utc(2026, 1, 1)
    assert parse_time("2025-11-27T14:00:00Z").end == utc(2025, 11, 27, 14)


def test_end_of_an_interval_past_9999_is_the_last_instant_there_is() -> None:
    last = utc(9999, 12, 31, 23, 59, 59, 999999)
    assert parse_time("9999").end == last
    assert parse_time("9999-12~").end == last
    assert parse_time("9999-12-31").end == last
    assert parse_time("9999-11").end == utc(9999, 12, 1)
    assert parse_time("9999-12-30").end == utc(9999, 12, 31)
    assert parse_time("9998").end == utc(9999, 1, 1)
    assert parse_time("9999-12-31T23:59:59.999999Z").end == last


def test_at_a_date_means_the_end_of_that_day_utc() -> None:
    assert parse_at("2025-11-27") == utc(2025, 11, 27, 23, 59, 59, 999999)


def test_at_a_month_or_year_means_the_end_of_that_interval() -> None:
    assert parse_at("2025-02") == utc(2025, 2, 28, 23, 59, 59, 999999)
    assert parse_at("2025") == utc(2025, 12, 31, 23, 59, 59, 999999)


def test_at_a_timestamp_is_that_instant() -> None:
    assert parse_at("2025-11-27T14:00:00+01:00") == utc(2025, 11, 27, 13)


def test_at_the_last_day_year_and_month_of_year_9999_does_not_overflow() -> None:
    last = utc(9999, 12, 31, 23, 59, 59, 999999)
    assert parse_at("9999") == last
    assert parse_at("9999-12") == last
    assert parse_at("9999-12-31~") == last


@pytest.mark.parametrize("text", ["", "tomorrow", "2025-02-30", "2025-11-27T14:00:00"])
def test_at_rejects_what_time_rejects(text: str) -> None:
    with pytest.raises(TimeError):
        parse_at(text)


# --- the `edtf` library as the oracle for the date subset -----------------------------------


@st.composite
def subset_dates(draw: st.DrawFn) -> str:
    """Strings of the subset's shape, calendar-valid or not (month 13, day 30 of February)."""
    text = f"{draw(st.integers(0, 9999)):04d}"
    if draw(st.booleans()):
        text += f"-{draw(st.integers(0, 13)):02d}"
        if draw(st.booleans()):
            text += f"-{draw(st.integers(0, 32)):02d}"
    return text + draw(st.sampled_from(["", "~", "?"]))


def _edtf_reading(text: str) -> ValidTime | None:
    """What `edtf` makes of a date, or None where it (or the calendar) refuses it."""
    try:
        parsed = edtf.parse_edtf(text)
    except Exception:
        return None
    qualifier: Qualifier | None = None
    if isinstance(parsed, edtf.UncertainOrApproximate):
        qualifier = "approximate" if parsed.is_approximate else "uncertain"
        parsed = parsed.date
    if type(parsed) is not edtf.Date:  # a season, an interval, ...: outside the subset
        return None
    st_ = parsed.lower_strict()
    try:
        start = datetime(st_.tm_year, st_.tm_mon, st_.tm_mday, tzinfo=UTC)
    except ValueError:  # year 0000: valid EDTF, outside what datetime (and we) hold
        return None
    precision = cast(Precision, parsed.precision)
    return ValidTime(start, precision, qualifier)


@settings(max_examples=100, deadline=None)
@given(subset_dates())
def test_dates_are_read_as_the_edtf_library_reads_them(text: str) -> None:
    expected = _edtf_reading(text)
    if expected is None:
        with pytest.raises(TimeError):
            parse_time(text)
    else:
        assert parse_time(text) == expected


def test_reading_dates_is_cheap_enough_for_10_000_event_batches() -> None:
    # 10,000 events in one batch must not spend seconds reading their times.
    started = time.perf_counter()
    for day in range(1, 29):
        for month in range(1, 13):
            parse_time(f"2025-{month:02d}-{day:02d}~")
    assert time.perf_counter() - started < 1.0  # 336 dates; edtf's grammar took ~2 s


@settings(max_examples=500)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=3)), timezone(-timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_a_time_is_formatted_as_rfc_3339_in_utc(dt: datetime) -> None:
    """UTC with a Z, and microseconds exactly when the instant has them."""
    utc = dt.astimezone(UTC)
    seconds = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if len(seconds) < 19:  # strftime does not pad years before 1000 on every platform
        seconds = f"{utc.year:04d}" + seconds[seconds.index("-") :]
    expected = seconds + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "Z"
    assert format_time(dt) == expected
    assert datetime.fromisoformat(format_time(dt)) == dt
