"""Quiet hours: when a recipient may get a message, by their own clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interactive.contacts.quiet_hours import QuietHours, QuietPolicy, is_allowed, next_allowed

DEFAULT = QuietHours()
IST = "Europe/Istanbul"  # UTC+3 all year
NY = "America/New_York"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_allowed_now_returns_the_same_moment() -> None:
    at = utc(2026, 6, 10, 9, 0)  # 12:00 in Istanbul
    assert is_allowed(at, IST, DEFAULT)
    assert next_allowed(at, IST, DEFAULT) is at


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 6, 10, 20, 30), utc(2026, 6, 11, 5, 0)),  # 23:30 → 08:00 next day
        (utc(2026, 6, 10, 23, 0), utc(2026, 6, 11, 5, 0)),  # 02:00 → 08:00 same day
        (utc(2026, 6, 10, 18, 0), utc(2026, 6, 11, 5, 0)),  # 21:00 is already closed
        (utc(2026, 6, 11, 4, 59, 59), utc(2026, 6, 11, 5, 0)),  # 07:59:59
        (utc(2026, 6, 10, 21, 0), utc(2026, 6, 11, 5, 0)),  # midnight
    ],
)
def test_closed_hours_wait_for_the_morning(at: datetime, expected: datetime) -> None:
    assert not is_allowed(at, IST, DEFAULT)
    result = next_allowed(at, IST, DEFAULT)
    assert result == expected
    assert result.tzinfo is UTC


def test_window_edges() -> None:
    assert is_allowed(utc(2026, 6, 10, 5, 0), IST, DEFAULT)  # 08:00 opens
    assert is_allowed(utc(2026, 6, 10, 17, 59, 59), IST, DEFAULT)  # 20:59:59
    assert not is_allowed(utc(2026, 6, 10, 18, 0), IST, DEFAULT)  # 21:00 closes


def test_aware_non_utc_input_is_accepted() -> None:
    at = datetime(2026, 6, 10, 23, 30, tzinfo=ZoneInfo(IST))
    assert next_allowed(at, IST, DEFAULT) == utc(2026, 6, 11, 5, 0)


def test_recipients_clock_decides_not_the_senders() -> None:
    at = utc(2026, 6, 10, 12, 0)  # 15:00 in Istanbul, 07:00 in Chicago (CDT)
    assert is_allowed(at, IST, DEFAULT)
    assert not is_allowed(at, "America/Chicago", DEFAULT)
    assert next_allowed(at, "America/Chicago", DEFAULT) == utc(2026, 6, 10, 13, 0)
    # 21:30 in Tokyo: next morning there is still the previous evening in UTC.
    assert next_allowed(utc(2026, 6, 10, 12, 30), "Asia/Tokyo", DEFAULT) == utc(2026, 6, 10, 23)


def test_spring_forward_morning_uses_summer_time() -> None:
    # Sat 7 March 2026 23:30 EST; clocks jump 02:00 → 03:00 on Sunday; 08:00 is EDT (UTC-4).
    assert next_allowed(utc(2026, 3, 8, 4, 30), NY, DEFAULT) == utc(2026, 3, 8, 12, 0)
    assert is_allowed(utc(2026, 3, 8, 12, 0), NY, DEFAULT)
    assert not is_allowed(utc(2026, 3, 8, 11, 59), NY, DEFAULT)


def test_fall_back_morning_uses_winter_time() -> None:
    # Sat 31 October 2026 22:00 EDT; clocks go 02:00 → 01:00 on Sunday; 08:00 is EST (UTC-5).
    assert next_allowed(utc(2026, 11, 1, 2, 0), NY, DEFAULT) == utc(2026, 11, 1, 13, 0)
    assert not is_allowed(utc(2026, 11, 1, 12, 30), NY, DEFAULT)  # 07:30 EST


def test_start_in_a_skipped_hour_opens_when_the_clock_jumps() -> None:
    rules = QuietHours(start=time(2, 30), end=time(21))
    at = utc(2026, 3, 8, 6, 0)  # 01:00 EST; 02:30 never happens that night
    assert next_allowed(at, NY, rules) == utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    assert not is_allowed(utc(2026, 3, 8, 6, 59, 59), NY, rules)  # 01:59:59 EST


def test_start_in_a_repeated_hour_opens_at_each_occurrence() -> None:
    rules = QuietHours(start=time(1, 30), end=time(21))
    assert next_allowed(utc(2026, 11, 1, 5, 0), NY, rules) == utc(2026, 11, 1, 5, 30)  # EDT
    # 01:10 EST: the clock is back before 01:30, so closed until 01:30 EST.
    assert next_allowed(utc(2026, 11, 1, 6, 10), NY, rules) == utc(2026, 11, 1, 6, 30)


NO_SUNDAY = QuietHours(no_sunday=True)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 6, 13, 19, 0), utc(2026, 6, 15, 5, 0)),  # Sat 22:00 → Mon 08:00
        (utc(2026, 6, 14, 7, 0), utc(2026, 6, 15, 5, 0)),  # Sun 10:00 → Mon 08:00
        (utc(2026, 6, 13, 22, 30), utc(2026, 6, 15, 5, 0)),  # Sun 01:30 → Mon 08:00
    ],
)
def test_no_sunday_skips_to_monday(at: datetime, expected: datetime) -> None:
    assert next_allowed(at, IST, NO_SUNDAY) == expected


def test_no_sunday_leaves_saturday_alone() -> None:
    at = utc(2026, 6, 13, 7, 0)  # Saturday 10:00
    assert next_allowed(at, IST, NO_SUNDAY) is at
    assert next_allowed(at, IST, DEFAULT) is at
    assert is_allowed(utc(2026, 6, 14, 7, 0), IST, DEFAULT)  # Sunday without the rule


NIGHT = QuietHours(start=time(22), end=time(6))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 6, 10, 18, 0), utc(2026, 6, 10, 19, 0)),  # 21:00 → 22:00
        (utc(2026, 6, 11, 3, 0), utc(2026, 6, 11, 19, 0)),  # 06:00 closes → 22:00
        (utc(2026, 6, 11, 9, 0), utc(2026, 6, 11, 19, 0)),  # noon → 22:00
    ],
)
def test_window_across_midnight(at: datetime, expected: datetime) -> None:
    assert next_allowed(at, IST, NIGHT) == expected


def test_window_across_midnight_is_open_on_both_sides() -> None:
    assert is_allowed(utc(2026, 6, 10, 20, 59), IST, NIGHT)  # 23:59
    assert is_allowed(utc(2026, 6, 10, 21, 0), IST, NIGHT)  # 00:00
    assert is_allowed(utc(2026, 6, 11, 2, 59), IST, NIGHT)  # 05:59


def test_window_across_midnight_without_sunday_reopens_at_monday_midnight() -> None:
    rules = QuietHours(start=time(22), end=time(6), no_sunday=True)
    assert is_allowed(utc(2026, 6, 13, 20, 0), IST, rules)  # Saturday 23:00
    # Sunday 01:00 → Monday 00:00, still inside the window that opened Sunday 22:00.
    assert next_allowed(utc(2026, 6, 13, 22, 0), IST, rules) == utc(2026, 6, 14, 21, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": time(8), "end": time(8)},
        {"start": time(8, tzinfo=UTC)},
        {"end": time(21, tzinfo=UTC)},
    ],
)
def test_bad_windows_are_rejected(kwargs: dict[str, time]) -> None:
    with pytest.raises(ValueError, match=r"window|naive"):
        QuietHours(**kwargs)  # type: ignore[arg-type]


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2026, 6, 10, 12), IST, DEFAULT)  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        is_allowed(datetime(2026, 6, 10, 12), IST, DEFAULT)  # noqa: DTZ001


@pytest.mark.parametrize(
    "tz", [None, "", "Etc/Unknown", "Not/AZone", "../etc/passwd", "zone.tab", "America"]
)
def test_unknown_zone_falls_back_to_istanbul(tz: str | None) -> None:
    at = utc(2026, 6, 10, 20, 30)  # 23:30 in Istanbul, 15:30 in Chicago
    assert next_allowed(at, tz, DEFAULT) == utc(2026, 6, 11, 5, 0)
    assert next_allowed(at, tz, DEFAULT, fallback_tz="America/Chicago") is at
    assert is_allowed(at, tz, DEFAULT, fallback_tz="America/Chicago")


def test_policy_overrides_by_country() -> None:
    us = QuietHours(start=time(9), end=time(20))
    policy = QuietPolicy(default=NO_SUNDAY, by_country={"us": us})
    assert policy.for_country("US") is us
    assert policy.for_country("us") is us
    assert policy.for_country("TR") is NO_SUNDAY
    assert policy.for_country(None) is NO_SUNDAY
    assert QuietPolicy().for_country("TR") == QuietHours(time(8), time(21), no_sunday=False)


ZONES = st.sampled_from([IST, NY, "Europe/London", "Australia/Lord_Howe", "America/Santiago"])
QUARTERS = st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15))
MOMENTS = st.integers(0, 2 * 365 * 24 * 60).map(lambda m: utc(2026, 1, 1) + timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(at=MOMENTS, tz=ZONES, start=QUARTERS, end=QUARTERS, no_sunday=st.booleans())
def test_next_allowed_is_the_first_allowed_minute(
    at: datetime, tz: str, start: time, end: time, no_sunday: bool
) -> None:
    if start == end or time(0) <= end < time(3):
        return  # rejected; or an end in a repeated hour (documented: not reopened)
    rules = QuietHours(start, end, no_sunday)
    result = next_allowed(at, tz, rules)
    assert is_allowed(result, tz, rules)
    minute = at
    while minute < result:
        assert not is_allowed(minute, tz, rules), minute
        minute += timedelta(minutes=1)
