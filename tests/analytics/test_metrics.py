"""The metric definitions on a hand-built data set with known answers, the rollups kept
by the incremental job against a full rebuild (they must agree exactly), and the
significance tests."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.analytics import compute, metrics, rollups, stats
from interactive.analytics.models import (
    CampaignBreakdown,
    CampaignDay,
    CampaignHour,
    CampaignLift,
    Conversion,
    ConversionSource,
    LinkHour,
)
from interactive.analytics.service import NewConversion, record
from interactive.outbound.models import CampaignState, PartState
from interactive.shortlinks import clicks as click_store
from interactive.shortlinks.models import Click, ClickKind, Link
from tests.analytics.dataset import (
    EXPECTED,
    EXPECTED_A,
    EXPECTED_B,
    EXPECTED_FAILURES,
    EXPECTED_LATENCY,
    EXPECTED_LIFT,
    EXPECTED_REASONS,
    PRICE,
    T0,
    build,
)

PRICES = metrics.Prices({"sim": PRICE})


def _snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row, in key order."""
    tables = {
        "hours": CampaignHour,
        "days": CampaignDay,
        "breakdowns": CampaignBreakdown,
        "lift": CampaignLift,
        "links": LinkHour,
    }
    result = {}
    for name, model in tables.items():
        table = model.__table__
        keys = [c for c in table.primary_key.columns]  # type: ignore[attr-defined]
        rows = session.execute(sa.select(table).order_by(*keys)).all()
        result[name] = [tuple(row) for row in rows]
    return result


def test_the_metrics_of_a_known_campaign(ctx: Session, redis_client: redis.Redis) -> None:
    built = build(ctx)
    ctx.commit()
    rollups.refresh(ctx, redis_client, now=T0 + timedelta(hours=6))
    where = metrics.Filters(campaign_id=built.campaign.id)
    totals = metrics.totals(ctx, where, PRICES)
    for name, value in EXPECTED.items():
        got = getattr(totals, name)
        if isinstance(value, float):
            assert got == pytest.approx(value), name
        else:
            assert got == value, name
    by_variant = metrics.by_variant(ctx, where, PRICES)
    for label, expected in (("A", EXPECTED_A), ("B", EXPECTED_B)):
        got = by_variant[built.variants[label].id]
        assert {k: getattr(got, k) for k in expected} == expected, label
    assert by_variant[0].targeted == 4  # skipped and held out before a variant was chosen
    assert metrics.breakdown(ctx, built.campaign.id, "reason") == EXPECTED_REASONS
    assert metrics.breakdown(ctx, built.campaign.id, "failure") == EXPECTED_FAILURES
    assert metrics.breakdown(ctx, built.campaign.id, "latency") == EXPECTED_LATENCY
    lifted = ctx.execute(
        sa.select(CampaignLift.arm, CampaignLift.members, CampaignLift.converters)
    ).all()
    assert {arm: (m, c) for arm, m, c in lifted} == EXPECTED_LIFT


def test_time_series_are_cut_in_the_viewers_time_zone(
    ctx: Session, redis_client: redis.Redis
) -> None:
    built = build(ctx)
    ctx.commit()
    rollups.refresh(ctx, redis_client, now=T0)
    where = metrics.Filters(campaign_id=built.campaign.id)
    # T0 is 09:00 UTC, 12:00 in Istanbul: the whole day is one day in both zones…
    days = metrics.series(ctx, where, PRICES, "Europe/Istanbul")
    assert [(str(day), t.clicks_human, t.conversions) for day, t in days] == [
        ("2026-11-02", 3, 3),
    ]
    # …but in Honolulu (UTC−10) 09:00 UTC is still the day before.
    days = metrics.series(ctx, where, PRICES, "Pacific/Honolulu")
    assert [str(day) for day, _t in days] == ["2026-11-01", "2026-11-02"]
    started, since_send = metrics.hours_since_send(ctx, built.campaign.id, PRICES)
    assert started == T0
    assert [(h, t.clicks_human) for h, t in since_send if t.clicks_human] == [
        (1, 1),
        (2, 1),
        (3, 1),
    ]
    # The hour filter: only what happened from T0+2h on.
    later = metrics.Filters(campaign_id=built.campaign.id, start=T0 + timedelta(hours=2))
    assert metrics.totals(ctx, later, PRICES).clicks_human == 2


def test_the_daily_rows_answer_as_the_hourly_ones(ctx: Session, redis_client: redis.Redis) -> None:
    built = build(ctx)
    ctx.commit()
    rollups.refresh(ctx, redis_client, now=T0)
    zone = rollups.rollup_zone()
    assert zone == "Europe/Istanbul"
    cid = built.campaign.id
    days = ctx.execute(
        sa.select(
            CampaignDay.variant_key,
            CampaignDay.day,
            CampaignDay.clicks_human,
            CampaignDay.conversions,
            CampaignDay.converters,
            CampaignDay.revenue,
        )
        .where(CampaignDay.campaign_id == cid)
        .order_by(CampaignDay.variant_key)
    ).all()
    a, b = built.variants["A"].id, built.variants["B"].id
    nov2 = date(2026, 11, 2)
    # Everything but the hold-out purchases (attributed to no campaign) is on Nov 2.
    assert sorted(tuple(row) for row in days) == sorted(
        [
            (0, nov2, 0, 0, 0, Decimal("0.00")),
            (a, nov2, 2, 2, 1, Decimal("130.00")),
            (b, nov2, 1, 1, 1, Decimal("50.50")),
        ]
    )
    midnight = datetime.combine(nov2, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    for start, end in (
        (midnight, midnight + timedelta(days=1)),
        (midnight + timedelta(days=1), None),
        (None, midnight),
        (None, None),
    ):
        daily = metrics.Filters(campaign_id=cid, start=start, end=end, zone=zone)
        assert metrics._day_range(daily) is not None
        hourly = metrics.Filters(campaign_id=cid, start=start, end=end, zone="Pacific/Honolulu")
        assert metrics.totals(ctx, daily, PRICES) == metrics.totals(ctx, hourly, PRICES)
    assert metrics._day_range(metrics.Filters(start=midnight, zone=zone)) == (nov2, None)
    # A bound that is not a midnight of the daily rows' zone is answered by the hours.
    later = metrics.Filters(campaign_id=cid, start=T0 + timedelta(hours=2), zone=zone)
    assert metrics._day_range(later) is None
    assert metrics.totals(ctx, later, PRICES).clicks_human == 2
    by_day = metrics.series(ctx, metrics.Filters(campaign_id=cid, zone=zone), PRICES, zone)
    assert [(d, t.conversions, t.converters) for d, t in by_day] == [(nov2, 3, 2)]


def test_variants_are_compared_on_people_who_converted(
    ctx: Session, redis_client: redis.Redis
) -> None:
    built = build(ctx)
    ctx.commit()
    rollups.refresh(ctx, redis_client, now=T0)
    by_variant = metrics.by_variant(ctx, metrics.Filters(campaign_id=built.campaign.id), PRICES)
    variants = [built.variants["A"], built.variants["B"]]
    (comparison,) = metrics.compare_variants(variants, by_variant, "conversion")
    # B: c5 of 2 delivered; A: c1 (two purchases, one person) of 3 delivered.
    test = comparison.test
    assert (test.successes_a, test.n_a, test.successes_b, test.n_b) == (1, 2, 1, 3)
    assert test.rate_b == pytest.approx(1 / 3)
    scaled = {
        key: metrics.Totals(delivered=t.delivered * 100, converters=t.converters * 100)
        for key, t in by_variant.items()
    }
    (big,) = metrics.compare_variants(variants, scaled, "conversion")
    # 100 of 200 against 100 of 300, by hand: pooled 200/500, z = (1/2 − 1/3) ÷ se.
    se = math.sqrt(0.4 * 0.6 * (1 / 200 + 1 / 300))
    assert big.test.enough and big.test.z == pytest.approx((1 / 2 - 1 / 3) / se)


def test_the_incremental_rollups_agree_with_a_rebuild(
    ctx: Session, redis_client: redis.Redis
) -> None:
    built = build(ctx)
    other = build(ctx, name="Kış", state=CampaignState.SENDING)
    standalone = Link(secret=1, target_url="https://shop.example/", created_at=T0)
    ctx.add(standalone)
    ctx.commit()
    now = T0 + timedelta(days=30)  # "Bahar" is no longer live: only touches refresh it
    rollups.refresh(ctx, redis_client, now=now)
    assert rollups.live_campaigns(ctx, now) == {other.campaign.id}
    # Later events: clicks stored by the drain, a conversion, a receipt, a reply.
    stored = click_store.store(
        ctx,
        [
            {"c": click_store.payload(_click(built.links["c2"].id, "late-1", now))},
            {"c": click_store.payload(_click(standalone.id, "late-2", now))},
        ],
        scanner_window=0,
    )
    assert stored == 2
    ctx.commit()
    record(
        ctx,
        NewConversion(
            source=ConversionSource.POSTBACK,
            event="purchase",
            idempotency_key="late-order",
            occurred_at=now,
            value=Decimal("12.34"),
            campaign_id=built.campaign.id,
            variant_id=built.variants["A"].id,
            contact_id=built.contacts["c2"].id,
        ),
    )
    ctx.commit()
    other.messages["c7"].state = PartState.DELIVERED  # a receipt for a live campaign
    other.messages["c7"].final_at = now
    ctx.commit()
    rollups.refresh(ctx, redis_client, now=now)
    incremental = _snapshot(ctx)
    assert incremental["links"], "the standalone link's click is rolled up"
    assert incremental["days"], "the daily rows are kept with the hourly ones"
    rollups.rebuild(ctx)
    assert _snapshot(ctx) == incremental
    totals = metrics.totals(ctx, metrics.Filters(campaign_id=built.campaign.id), PRICES)
    # c2's late purchase: a fourth conversion and a third person who converted.
    assert (totals.clickers, totals.conversions, totals.converters) == (3, 4, 3)
    other_totals = metrics.totals(ctx, metrics.Filters(campaign_id=other.campaign.id), PRICES)
    assert other_totals.delivered == 6


def _click(link_id: int, token: str, at: Any) -> dict[str, str]:
    return {
        "k": token,
        "l": str(link_id),
        "t": str(at.timestamp()),
        "m": "GET",
        "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
    }


def test_a_failed_refresh_leaves_the_campaign_for_the_next_run(
    ctx: Session, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build(ctx)
    ctx.commit()
    rollups.touch(ctx, campaigns=[built.campaign.id])
    ctx.commit()

    def broken(session: Session, campaign: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(rollups, "compute_campaign", broken)
    done = rollups.refresh(ctx, redis_client, now=T0 + timedelta(days=30))
    assert done.failed == 1
    monkeypatch.undo()
    done = rollups.refresh(ctx, redis_client, now=T0 + timedelta(days=30))
    assert (done.campaigns, done.failed) == (1, 0)
    assert (ctx.scalar(sa.select(sa.func.count()).select_from(CampaignHour)) or 0) > 0


def test_a_rolled_back_write_touches_nothing(ctx: Session, redis_client: redis.Redis) -> None:
    built = build(ctx)
    ctx.commit()
    rollups.touch(ctx, campaigns=[built.campaign.id])
    ctx.rollback()
    assert redis_client.smembers(rollups.key(*rollups.DIRTY_CAMPAIGNS)) == set()


def test_no_conversion_is_counted_twice_or_outside_the_goal(ctx: Session) -> None:
    built = build(ctx)
    ctx.commit()
    rows = ctx.scalars(
        sa.select(Conversion.event).where(
            Conversion.campaign_id == built.campaign.id, compute.conversion_filter(built.campaign)
        )
    ).all()
    assert sorted(rows) == ["purchase", "purchase", "purchase"]
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Click)) == 6
    assert {k.value for k in ClickKind} >= {"human", "preview", "scanner", "head"}


# --- significance -----------------------------------------------------------------------------


def test_two_proportions_against_a_hand_computation() -> None:
    result = stats.two_proportions(200, 1000, 150, 1000, min_sample=100)
    pooled = 350 / 2000
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert result.z == pytest.approx(z)
    assert result.z == pytest.approx(2.9424, abs=1e-4)
    assert result.p_value == pytest.approx(2 * (1 - NormalDist().cdf(z)))
    se = math.sqrt(0.2 * 0.8 / 1000 + 0.15 * 0.85 / 1000)
    assert result.low == pytest.approx(0.05 - 1.959964 * se, abs=1e-6)
    assert result.high == pytest.approx(0.05 + 1.959964 * se, abs=1e-6)
    assert result.significant


def test_small_samples_get_no_verdict() -> None:
    result = stats.two_proportions(3, 20, 1, 20, min_sample=100)
    assert not result.enough
    assert result.p_value is None and result.rate_a == 0.15


def test_equal_extreme_rates_are_not_a_difference() -> None:
    result = stats.two_proportions(0, 500, 0, 500, min_sample=100)
    assert result.enough and result.p_value == 1.0 and not result.significant


def test_lift_is_relative_to_the_control_rate() -> None:
    lift = stats.lift(60, 1000, 40, 1000, min_sample=100)
    assert lift.relative == pytest.approx(0.5)
    assert lift.test.difference == pytest.approx(0.02)
    assert lift.test.z == pytest.approx(2.052, abs=1e-3)
    assert lift.test.p_value == pytest.approx(0.0402, abs=1e-4) and lift.test.significant


# --- the campaign's attribution window -----------------------------------------------------


@pytest.mark.parametrize(("days", "attributed"), [(1, False), (7, True)])
def test_each_campaign_has_its_own_attribution_window(
    ctx: Session, days: int, attributed: bool
) -> None:
    from interactive.analytics import attribution

    built = build(ctx)
    built.campaign.attribution_days = days
    ctx.commit()
    clicked_at = T0 + timedelta(hours=2)  # c1's last human click
    occurred_at = clicked_at + timedelta(days=3)
    token = ctx.scalar(
        sa.select(Click.token).where(Click.clicked_at == clicked_at, Click.kind == ClickKind.HUMAN)
    )
    assert token is not None
    click = attribution.find_click(ctx, None, "", token)
    assert click is not None
    c1 = built.contacts["c1"].id
    for result in (
        attribution.attribute(ctx, occurred_at, click=click),
        attribution.attribute(ctx, occurred_at, contact_id=c1),
        attribution.attribute(ctx, occurred_at, message_id=built.messages["c1"].id),
    ):
        assert result.attributed is attributed
        assert result.contact_id == c1
        if attributed:
            assert result.campaign_id == built.campaign.id


def test_more_successes_than_members_get_no_verdict() -> None:
    result = stats.two_proportions(130, 120, 10, 200, min_sample=100)
    assert not result.enough and result.p_value is None
