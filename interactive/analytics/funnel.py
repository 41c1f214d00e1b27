"""The campaign page's funnel (and the API's): the figures of the analytics campaign
dashboard (``metrics``), read from the rollups, in the shape the campaign pages show.

Clicks, replies and conversions come from the rollups only (refreshed every
``rollups.REFRESH_EVERY_S`` and whenever a writer touches the campaign), so no request
counts distinct clickers over the raw clicks. While a campaign is being sent, or its last
run ended after the rollups' last refresh, its recipients and messages change faster than
that: they are then counted from the raw rows by the rollups' own queries (grouped counts
on the campaign's index, no distinct), so the page follows the send as it happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.analytics import compute, metrics, rollups
from interactive.analytics.models import CampaignBreakdown
from interactive.outbound.models import Campaign, CampaignRun, CampaignState
from interactive.redis_store import get_redis

log = logging.getLogger(__name__)

#: What the raw rows give while a campaign is live.
RECIPIENT_COUNTERS = ("targeted", "eligible", "deferred", "held_out", "not_sent")
MESSAGE_COUNTERS = ("queued", "sent", "parts", "delivered", "failed")


@dataclass
class Funnel:
    targeted: int = 0
    eligible: int = 0
    held_out: int = 0
    deferred: int = 0
    skipped: int = 0  # skipped or cancelled
    queued: int = 0  # messages not submitted yet
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    clicks: int = 0  # human
    clicks_raw: int = 0
    clickers: int = 0  # people with a human click
    replies: int = 0  # inbound messages attributed to the campaign
    repliers: int = 0  # numbers that replied
    conversions: int = 0  # events
    converters: int = 0  # people
    revenue: Decimal = Decimal(0)
    reasons: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, t: metrics.Totals, reasons: dict[str, int] | None = None) -> Funnel:
        return cls(
            targeted=t.targeted,
            eligible=t.eligible,
            held_out=t.held_out,
            deferred=t.deferred,
            skipped=t.not_sent,
            queued=t.queued,
            sent=t.sent,
            delivered=t.delivered,
            failed=t.failed,
            clicks=t.clicks_human,
            clicks_raw=t.clicks_raw,
            clickers=t.clickers,
            replies=t.replies,
            repliers=t.repliers,
            conversions=t.conversions,
            converters=t.converters,
            revenue=t.revenue,
            reasons=dict(reasons or {}),
        )

    @property
    def click_rate(self) -> float | None:
        return self.clickers / self.delivered if self.delivered else None

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.sent if self.sent else None


#: The recipients list's engagement filters: a human click on their links; a conversion
#: as the dashboards count it; a conversion as the hold-out lift counts it (in the
#: attribution window, attributed or not).
ENGAGED = ("clicked", "converted", "converted_in_window")


def engaged(
    session: Session, campaign: Campaign, kind: str | None
) -> sa.ColumnElement[bool] | None:
    """The recipients list's condition for ``kind`` (one of ``ENGAGED``; None: none)."""
    if kind == "clicked":
        return compute.clicked()
    if kind == "converted":
        return compute.converted(campaign, session.get_bind().dialect.name)
    if kind == "converted_in_window":
        return compute.converted_in_window(campaign, session.get_bind().dialect.name)
    return None


def is_live(session: Session, campaign: Campaign, refreshed: datetime | None) -> bool:
    """Whether the campaign's recipients and messages may be ahead of its rollups: it is
    sending or paused, or its last run ended after the rollups' last refresh began (or
    they were never refreshed)."""
    if campaign.state in (CampaignState.SENDING, CampaignState.PAUSED):
        return True
    finished = session.scalar(
        sa.select(sa.func.max(CampaignRun.finished_at)).where(
            CampaignRun.campaign_id == campaign.id
        )
    )
    return finished is not None and (refreshed is None or finished >= refreshed)


def campaign_funnel(
    session: Session, campaign: Campaign, refreshed: datetime | None = None
) -> tuple[Funnel, dict[int | None, Funnel]]:
    """The campaign's funnel and one per variant (None: recipients with no variant, e.g.
    skipped before a variant was chosen); ``refreshed``: when the rollups were last
    refreshed (default: read from Redis, :func:`rollups.refreshed_at`). Reads only."""
    if refreshed is None:
        refreshed = _refreshed()
    by_key = metrics.by_variant(session, metrics.Filters(campaign_id=campaign.id), metrics.Prices())
    reasons: dict[int, dict[str, int]] = {}
    for key, name, count in session.execute(
        sa.select(
            CampaignBreakdown.variant_key, CampaignBreakdown.key, CampaignBreakdown.count
        ).where(CampaignBreakdown.campaign_id == campaign.id, CampaignBreakdown.kind == "reason")
    ):
        reasons.setdefault(key, {})[name] = int(count)
    if is_live(session, campaign, refreshed):
        _count_live(session, campaign.id, by_key, reasons)
    total, total_reasons = metrics.Totals(), dict[str, int]()
    for key, t in by_key.items():
        total.merge(t)
        for name, count in reasons.get(key, {}).items():
            total_reasons[name] = total_reasons.get(name, 0) + count
    variants = {key or None: Funnel.of(t, reasons.get(key)) for key, t in by_key.items()}
    return Funnel.of(total, total_reasons), variants


def _refreshed() -> datetime | None:
    try:
        return rollups.refreshed_at(get_redis())
    except (redis.RedisError, RuntimeError):
        log.warning("funnel: cannot read when the rollups were refreshed", exc_info=True)
        return None


def _count_live(
    session: Session,
    campaign_id: int,
    by_key: dict[int, metrics.Totals],
    reasons: dict[int, dict[str, int]],
) -> None:
    """Replace the recipient and message counters (and the reasons) by the raw rows'."""
    dialect = session.get_bind().dialect.name
    rows = compute.CampaignRows()
    compute.add_recipients(session, campaign_id, rows, dialect)
    compute.add_messages(session, campaign_id, rows, dialect)
    for t in by_key.values():
        for name in (*RECIPIENT_COUNTERS, *MESSAGE_COUNTERS):
            setattr(t, name, 0)
    for (key, _hour), values in rows.hours.items():
        t = by_key.setdefault(key, metrics.Totals())
        for name in (*RECIPIENT_COUNTERS, *MESSAGE_COUNTERS):
            setattr(t, name, getattr(t, name) + values[name])
    reasons.clear()
    for (key, kind, name), count in rows.breakdowns.items():
        if kind == "reason":
            reasons.setdefault(key, {})[name] = count
