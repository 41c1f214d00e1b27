"""The dashboards' figures, read from the rollups (``interactive.analytics.rollups``).

Definitions (every rate is None when its denominator is 0):

- **eligible**: recipients queued or deferred (**deferred**: held back by quiet
  hours or the send window); **not sent**: skipped or cancelled, by reason; **held out**:
  the control group.
- **queued**: messages not submitted yet; **sent**: messages submitted (accepted,
  delivered, failed after submission, or outcome unknown), and their **parts**; **cost**
  = parts × the route's price per part.
- **delivery rate** = delivered ÷ sent; **failed**: rejected, undeliverable, expired,
  deleted or failed, by error code.
- **human clicks**, **unique human clickers** (a person counted once per variant, in the
  hour of their first human click); **CTR** = unique human clickers ÷ delivered; **raw
  clicks** = every recorded hit; **bot share** = (raw − human) ÷ raw.
- **replies** (inbound messages attributed to the campaign), **opt-outs** among them;
  **opt-out rate** = opt-outs ÷ delivered.
- **conversions** (attributed to the campaign, of its goal's event), **conversion rate**
  = conversions ÷ human clicks and ÷ delivered; **converters**: people who converted (a
  person counted once per variant, in the hour of their first conversion), what the
  variant comparison of a conversion goal tests (converters ÷ delivered, a proportion:
  one person's several purchases count once); **revenue**, **revenue per delivered
  message**, **cost per conversion** = cost ÷ conversions, **ROI** = (revenue − cost) ÷
  cost.

Counts by time use the hour the event happened (messages: the hour they were
submitted), summed into the viewer's days in their time zone: read from the daily rollups
when the viewer's zone is the instance's (theirs) or no range is chosen, else from the
hourly ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.analytics import rollups, stats
from interactive.analytics.compute import CONTROL, COUNTERS, TREATED
from interactive.analytics.models import (
    CampaignBreakdown,
    CampaignDay,
    CampaignHour,
    CampaignLift,
    LinkHour,
)
from interactive.outbound.models import Campaign, Variant

#: Below this many delivered messages per variant (or members per arm) no test is run.
MIN_SAMPLE = 100


def _rate(part: float | Decimal, whole: float | Decimal) -> float | None:
    return float(part) / float(whole) if whole else None


def _per(amount: Decimal, count: int) -> Decimal | None:
    return (amount / count).quantize(Decimal("0.0001")) if count else None


@dataclass
class Totals:
    """Summed rollup counters, with the derived figures."""

    targeted: int = 0
    eligible: int = 0
    deferred: int = 0
    held_out: int = 0
    not_sent: int = 0
    queued: int = 0
    sent: int = 0
    parts: int = 0
    delivered: int = 0
    failed: int = 0
    clicks_human: int = 0
    clicks_preview: int = 0
    clicks_scanner: int = 0
    clicks_head: int = 0
    clickers: int = 0
    replies: int = 0
    repliers: int = 0
    opt_outs: int = 0
    conversions: int = 0
    converters: int = 0
    revenue: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)

    def add(self, row: Mapping[Any, Any], price: Decimal = Decimal(0)) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))
        self.revenue += Decimal(row["revenue"] or 0)
        self.cost += price * int(row["parts"] or 0)

    def merge(self, other: Totals) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def clicks_raw(self) -> int:
        return self.clicks_human + self.clicks_preview + self.clicks_scanner + self.clicks_head

    @property
    def delivery_rate(self) -> float | None:
        return _rate(self.delivered, self.sent)

    @property
    def ctr(self) -> float | None:
        return _rate(self.clickers, self.delivered)

    @property
    def bot_share(self) -> float | None:
        return _rate(self.clicks_raw - self.clicks_human, self.clicks_raw)

    @property
    def opt_out_rate(self) -> float | None:
        return _rate(self.opt_outs, self.delivered)

    @property
    def conversion_rate_clicks(self) -> float | None:
        return _rate(self.conversions, self.clicks_human)

    @property
    def conversion_rate_delivered(self) -> float | None:
        return _rate(self.conversions, self.delivered)

    @property
    def converter_rate(self) -> float | None:
        return _rate(self.converters, self.delivered)

    @property
    def revenue_per_delivered(self) -> Decimal | None:
        return _per(self.revenue, self.delivered)

    @property
    def cost_per_conversion(self) -> Decimal | None:
        return _per(self.cost, self.conversions)

    @property
    def roi(self) -> float | None:
        return _rate(self.revenue - self.cost, self.cost)


def summed(rows: Iterable[Totals]) -> Totals:
    result = Totals()
    for t in rows:
        result.merge(t)
    return result


@dataclass(frozen=True)
class Filters:
    """What a dashboard shows: a range of UTC hours [start, end), a brand, a campaign, a
    variant (its id); ``zone`` is the viewer's time zone, whose midnights the range's
    bounds are (the daily rollups answer when it is theirs)."""

    start: datetime | None = None
    end: datetime | None = None
    brand_id: int | None = None
    campaign_id: int | None = None
    variant_id: int | None = None
    zone: str | None = None


@dataclass
class Prices:
    """The price per part of each route (connection name → price)."""

    by_connection: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, connections: Iterable[Any]) -> Prices:
        return cls({c.name: Decimal(getattr(c, "price_per_part", 0) or 0) for c in connections})

    def get(self, connection: str) -> Decimal:
        return self.by_connection.get(connection, Decimal(0))


def _day_range(filters: Filters) -> tuple[date | None, date | None] | None:
    """The filters' range as days of the daily rollups, or None when those cannot answer
    it exactly (a bound that is not a midnight of their zone). Without bounds any zone
    will do: every hour is in one day."""
    if filters.start is None and filters.end is None:
        return None, None
    zone = rollups.rollup_zone()
    if filters.zone != zone:
        return None
    tz = ZoneInfo(zone)
    days: list[date | None] = []
    for moment in (filters.start, filters.end):
        if moment is None:
            days.append(None)
            continue
        local = moment.astimezone(tz)
        if local.time() != time():
            return None
        days.append(local.date())
    return days[0], days[1]


def _counted(filters: Filters, *group: str, daily: bool = True) -> sa.Select[Any]:
    """The summed counters of the rows the filters select, grouped by ``group`` (names
    among ``campaign_id``, ``variant_key``, ``name`` and ``period``: the row's hour, or
    its day when the daily rows answer) and the campaign's route. Read from the daily rows
    where they give the same answer as the hourly ones (``daily``), else the hourly."""
    days = _day_range(filters) if daily else None
    model: Any = CampaignDay if days is not None else CampaignHour
    period = model.day if days is not None else model.hour
    columns = {
        "campaign_id": model.campaign_id,
        "variant_key": model.variant_key,
        "name": Campaign.name,
        "period": period.label("period"),
    }
    chosen = [columns[name] for name in group]
    query = (
        sa.select(
            *chosen,
            Campaign.connection,
            *(sa.func.sum(getattr(model, c)).label(c) for c in (*COUNTERS, "revenue")),
        )
        .join(Campaign, Campaign.id == model.campaign_id)
        .group_by(*chosen, Campaign.connection)
    )
    start: Any
    end: Any
    start, end = days if days is not None else (filters.start, filters.end)
    if start is not None:
        query = query.where(period >= start)
    if end is not None:
        query = query.where(period < end)
    if filters.brand_id is not None:
        query = query.where(Campaign.brand_id == filters.brand_id)
    if filters.campaign_id is not None:
        query = query.where(model.campaign_id == filters.campaign_id)
    if filters.variant_id is not None:
        query = query.where(model.variant_key == filters.variant_id)
    return query


def totals(session: Session, filters: Filters, prices: Prices) -> Totals:
    """Everything the filters select, summed."""
    result = Totals()
    for row in session.execute(_counted(filters)).mappings():
        result.add(row, prices.get(row["connection"]))
    return result


@dataclass
class CampaignTotals:
    campaign_id: int
    name: str
    totals: Totals


def by_campaign(session: Session, filters: Filters, prices: Prices) -> list[CampaignTotals]:
    """The filters' figures per campaign, in campaign order (newest first)."""
    result: dict[int, CampaignTotals] = {}
    query = _counted(filters, "campaign_id", "name")
    for row in session.execute(query).mappings():
        found = result.setdefault(
            row["campaign_id"], CampaignTotals(row["campaign_id"], row["name"], Totals())
        )
        found.totals.add(row, prices.get(row["connection"]))
    return [result[k] for k in sorted(result, reverse=True)]


def by_variant(session: Session, filters: Filters, prices: Prices) -> dict[int, Totals]:
    """The filters' figures per variant key (0: recipients without a variant)."""
    result: dict[int, Totals] = {}
    for row in session.execute(_counted(filters, "variant_key")).mappings():
        result.setdefault(row["variant_key"], Totals()).add(row, prices.get(row["connection"]))
    return result


def series(
    session: Session, filters: Filters, prices: Prices, zone: str, grain: str = "day"
) -> list[tuple[datetime | date, Totals]]:
    """The filters' figures per day in ``zone`` (or per hour, ``grain="hour"``, as
    aware datetimes in ``zone``), oldest first; periods without any event are left out."""
    tz = ZoneInfo(zone)
    daily = grain == "day" and zone == rollups.rollup_zone()
    result: dict[datetime | date, Totals] = {}
    query = _counted(filters, "period", daily=daily)
    for row in session.execute(query).mappings():
        period: datetime | date = row["period"]
        if isinstance(period, datetime):
            local = period.astimezone(tz)
            period = local if grain == "hour" else local.date()
        result.setdefault(period, Totals()).add(row, prices.get(row["connection"]))
    return sorted(result.items())


def hours_since_send(
    session: Session, campaign_id: int, prices: Prices
) -> tuple[datetime | None, list[tuple[int, Totals]]]:
    """The campaign's first hour with a message sent (UTC), and its figures per hour since
    then (that hour is 0), for clicks and conversions after the send."""
    rows = series(session, Filters(campaign_id=campaign_id), prices, "UTC", grain="hour")
    started = next((period for period, t in rows if t.sent), None)
    if started is None:
        return None, []
    assert isinstance(started, datetime)
    result = []
    for period, t in rows:
        assert isinstance(period, datetime)
        offset = int((period - started).total_seconds() // 3600)
        if offset >= 0:
            result.append((offset, t))
    return started, result


def breakdown(
    session: Session, campaign_id: int, kind: str, variant_id: int | None = None
) -> dict[str, int]:
    """A campaign's counts by reason (``kind="reason"``), error code (``"failure"``) or
    delivery latency bucket (``"latency"``)."""
    query = (
        sa.select(CampaignBreakdown.key, sa.func.sum(CampaignBreakdown.count))
        .where(CampaignBreakdown.campaign_id == campaign_id, CampaignBreakdown.kind == kind)
        .group_by(CampaignBreakdown.key)
    )
    if variant_id is not None:
        query = query.where(CampaignBreakdown.variant_key == variant_id)
    return {name: int(count) for name, count in session.execute(query)}


def lift(session: Session, campaign_id: int) -> stats.Lift | None:
    """Treated vs hold-out conversion, or None without a hold-out group."""
    arms = {
        arm: (members, converters)
        for arm, members, converters in session.execute(
            sa.select(CampaignLift.arm, CampaignLift.members, CampaignLift.converters).where(
                CampaignLift.campaign_id == campaign_id
            )
        )
    }
    if CONTROL not in arms:
        return None
    treated = arms.get(TREATED, (0, 0))
    control = arms[CONTROL]
    return stats.lift(treated[1], treated[0], control[1], control[0], min_sample=MIN_SAMPLE)


@dataclass
class VariantComparison:
    """A variant against the campaign's first variant (the baseline)."""

    label: str
    baseline: str
    metric: str  # "ctr" or "conversion"
    test: stats.TwoProportions


def compare_variants(
    variants: Sequence[Variant], by_key: Mapping[int, Totals], metric: str
) -> list[VariantComparison]:
    """Each variant after the first against the first: CTR (unique human clickers ÷
    delivered) or converters ÷ delivered (people, not conversion events), by a
    two-proportion test."""
    if len(variants) < 2:
        return []
    base = variants[0]
    base_totals = by_key.get(base.id, Totals())

    def successes(t: Totals) -> int:
        return t.clickers if metric == "ctr" else t.converters

    result = []
    for variant in variants[1:]:
        t = by_key.get(variant.id, Totals())
        test = stats.two_proportions(
            successes(t),
            t.delivered,
            successes(base_totals),
            base_totals.delivered,
            min_sample=MIN_SAMPLE,
        )
        result.append(VariantComparison(variant.label, base.label, metric, test))
    return result


def link_series(session: Session, filters: Filters, zone: str) -> list[tuple[date, dict[str, int]]]:
    """Clicks per day in ``zone`` by kind, campaign links and standalone links together
    (filters by brand, campaign or variant select campaign links only)."""
    tz = ZoneInfo(zone)
    result: dict[date, dict[str, int]] = {}
    kinds = ("clicks_human", "clicks_preview", "clicks_scanner", "clicks_head")

    def add(hour: datetime, row: Mapping[Any, Any]) -> None:
        day = hour.astimezone(tz).date()
        found = result.setdefault(day, dict.fromkeys(kinds, 0))
        for name in kinds:
            found[name] += int(row[name] or 0)

    for row in session.execute(_counted(filters, "period", daily=False)).mappings():
        add(row["period"], row)
    if filters.brand_id is None and filters.campaign_id is None and filters.variant_id is None:
        query = sa.select(
            LinkHour.hour, *(sa.func.sum(getattr(LinkHour, k)).label(k) for k in kinds)
        ).group_by(LinkHour.hour)
        if filters.start is not None:
            query = query.where(LinkHour.hour >= filters.start)
        if filters.end is not None:
            query = query.where(LinkHour.hour < filters.end)
        for row in session.execute(query).mappings():
            add(row["hour"], row)
    return sorted(result.items())
