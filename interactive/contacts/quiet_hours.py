"""Send-time policy: when a message may reach a recipient, judged by the recipient's clock.

Semantics, in the recipient's local wall time (``zoneinfo``):

* Sending is allowed from ``start`` (inclusive) to ``end`` (exclusive). ``start > end``
  is a window across midnight (22:00–06:00 allows 23:00 and 05:59, not 06:00);
  ``start == end`` is rejected with ``ValueError`` (empty or whole day: say which by not
  using quiet hours at all).
* ``no_sunday`` refuses every moment whose local *date* is a Sunday, so with 22:00–06:00
  Saturday 23:00 is allowed, Sunday 01:00 is not, and Monday 00:00 is again.
* DST: the rule is the wall clock, so a start in a spring-forward gap (02:30 in New York
  on the day clocks jump from 02:00 to 03:00) opens at the jump itself, 03:00 EDT — the
  first moment the clock reads later than 02:30. A start in a repeated fall-back hour
  (01:30 in New York) opens at its first occurrence; the clock then reads 01:00–01:29
  again for half an hour, which is outside the window. ``next_allowed`` always returns
  the earliest moment ``is_allowed`` accepts, except that a window whose *end* lies in a
  repeated hour is not reopened for that hour (it waits for the next start). Real
  transitions happen at night, far from an 08:00 start.
* An unknown, empty or malformed time zone falls back to ``fallback_tz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_FALLBACK_TZ = "Europe/Istanbul"
_SUNDAY = 6
_MIDNIGHT = time(0)


@dataclass(frozen=True)
class QuietHours:
    """The local window in which sending is allowed; see the module docstring."""

    start: time = time(8)
    end: time = time(21)
    no_sunday: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall times: give naive times")
        if self.start == self.end:
            raise ValueError("the allowed window must not be empty or the whole day")

    def allows(self, local: datetime) -> bool:
        """Whether a moment, as read on the recipient's clock, is inside the window."""
        if self.no_sunday and local.weekday() == _SUNDAY:
            return False
        wall = local.time()
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


@dataclass(frozen=True)
class QuietPolicy:
    """A default window and per-country overrides (ISO 3166 region codes, any case)."""

    default: QuietHours = field(default_factory=QuietHours)
    by_country: Mapping[str, QuietHours] = field(default_factory=dict)

    def __post_init__(self) -> None:
        upper = {region.upper(): rules for region, rules in self.by_country.items()}
        object.__setattr__(self, "by_country", MappingProxyType(upper))

    def for_country(self, region: str | None) -> QuietHours:
        if region is None:
            return self.default
        return self.by_country.get(region.upper(), self.default)


def is_allowed(
    at: datetime, tz: str | None, rules: QuietHours, fallback_tz: str = DEFAULT_FALLBACK_TZ
) -> bool:
    """Whether a message may be sent at ``at`` (aware) to a recipient in zone ``tz``."""
    _require_aware(at)
    return rules.allows(at.astimezone(_zone(tz, fallback_tz)))


def next_allowed(
    at: datetime, tz: str | None, rules: QuietHours, fallback_tz: str = DEFAULT_FALLBACK_TZ
) -> datetime:
    """``at`` itself if sending is allowed then, else the next allowed moment (aware, UTC).

    Pure; cached per arguments, since a campaign asks the same question for every
    recipient of a zone.
    """
    _require_aware(at)
    zone = _zone(tz, fallback_tz)
    if rules.allows(at.astimezone(zone)):
        return at
    return _next_opening(at.astimezone(UTC), zone, rules)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("give an aware datetime (UTC)")


@lru_cache(maxsize=1024)
def _zone(name: str | None, fallback: str) -> ZoneInfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # "Etc/Unknown", a typo, a path: the fallback is the best guess
    return ZoneInfo(fallback)


@lru_cache(maxsize=4096)
def _next_opening(at: datetime, zone: ZoneInfo, rules: QuietHours) -> datetime:
    """The earliest moment after ``at`` (UTC, not allowed) at which ``rules`` allow sending.

    The allowed time is a union of intervals that open either at the window's start or
    at a local midnight (a Sunday ending inside a window across midnight). Openings are
    taken day by day, one day past the first day that has one: DST can put a local
    midnight before the previous evening's start in absolute time.
    """
    first_day = at.astimezone(zone).date()
    best: datetime | None = None
    found_on: int | None = None
    for offset in range(9):  # a week, a skipped Sunday and a day of margin
        day = first_day + timedelta(days=offset)
        for wall in (rules.start, _MIDNIGHT):
            for moment in _instants(day, wall, zone):
                if moment > at and rules.allows(moment.astimezone(zone)):
                    best = moment if best is None else min(best, moment)
        if best is not None and found_on is not None:
            return best
        if best is not None:
            found_on = offset
    if best is None:  # pragma: no cover - every week has allowed days
        raise AssertionError("no allowed moment within nine days")
    return best


def _instants(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC moments at which the clock in ``zone`` reads ``wall`` on ``day``.

    Two in a repeated (fall-back) hour; in a skipped (spring-forward) gap none, so the
    moment the clock jumps past ``wall`` instead.
    """
    naive = datetime.combine(day, wall)
    earlier = naive.replace(tzinfo=zone).astimezone(UTC)
    later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if earlier == later:
        return [earlier]
    if earlier.astimezone(zone).replace(tzinfo=None) == naive:
        return [earlier, later]
    # In a gap fold=0 converts with the offset before the jump (a moment after it) and
    # fold=1 with the offset after (a moment before it); the jump lies in between.
    return [_clock_passes(naive, zone, low=later, high=earlier)]


def _clock_passes(naive: datetime, zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first whole second in (low, high] at which the clock reads ``naive`` or later."""
    low_second, high_second = int(low.timestamp()), int(high.timestamp())
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= naive:
            high_second = middle
        else:
            low_second = middle
    return datetime.fromtimestamp(high_second, UTC)
