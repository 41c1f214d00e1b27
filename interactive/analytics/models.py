"""Conversions: what a message made happen (a purchase, a sign-up, a reply keyword).

Each conversion is stored once per idempotency key (an order id, a postback's key, or
``inbound:<id>`` for a reply) and attributed, where it can be, to the contact, the
message, campaign, variant and link it followed; one that cannot be is kept and counted as
unattributed.

``click_token`` is the click token (``ic``) a postback or pixel named, kept as given so that
a conversion can be traced to its click (or re-attributed) later; ``order_id`` is the
shop's order number, if any (its idempotency key is then ``order:<order_id>``, shared by
postbacks and pixels, so an order reported both ways counts once).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow
from interactive.outbound.models import BigId


class ConversionSource(enum.StrEnum):
    POSTBACK = "postback"  # server to server, signed
    PIXEL = "pixel"  # the landing page's thank-you page
    REPLY = "reply"  # a reply keyword (the router)


class Conversion(Base):
    __tablename__ = "conversions"
    __table_args__ = (
        sa.Index("ix_conversions_campaign_id_variant_id", "campaign_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[ConversionSource] = mapped_column(
        enum_by_value(ConversionSource, "conversion_source")
    )
    event: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    phone: Mapped[str | None] = mapped_column(sa.String(21))
    contact_id: Mapped[int | None] = mapped_column(BigId, index=True)
    campaign_id: Mapped[int | None] = mapped_column()
    variant_id: Mapped[int | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(BigId)  # the outbound message it followed
    link_id: Mapped[int | None] = mapped_column(BigId)
    inbound_id: Mapped[int | None] = mapped_column(BigId)  # the reply, for a reply keyword
    click_token: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    order_id: Mapped[str | None] = mapped_column(sa.String(128))


# --- rollups ---------------------------------------------------------------------------------
#
# What the dashboards read: small tables derived from the raw events (recipients, messages,
# clicks, inbound messages, conversions) by ``interactive.analytics.rollups``, a campaign at a
# time. ``variant_key`` is the variant's id, 0 for rows without a variant (recipients skipped
# before a variant was chosen). Every figure can be recomputed from the raw events
# (``interactive rollups rebuild``) and must come out the same.


class CampaignCounters:
    """The figures a campaign variant's rollup row holds for a period: recipients by when
    they were decided (``deferred`` among the eligible), messages by when they were
    submitted (created, while queued; ``queued`` not yet submitted), clicks, replies and
    conversions by when they happened; ``clickers``, ``repliers`` and ``converters`` count
    people in the hour of their first human click, first reply or first conversion, so
    their sum over any range of hours counts nobody twice."""

    targeted: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    eligible: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    deferred: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    held_out: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    not_sent: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    queued: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sent: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    parts: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    delivered: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    failed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_human: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_preview: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_scanner: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_head: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clickers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    replies: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    repliers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    opt_outs: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    conversions: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    converters: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    revenue: Mapped[Decimal] = mapped_column(sa.Numeric(16, 2), default=0)


class CampaignHour(CampaignCounters, Base):
    """A campaign variant's figures in one UTC hour (see :class:`CampaignCounters`)."""

    __tablename__ = "rollup_campaign_hours"
    __table_args__ = (sa.Index("ix_rollup_campaign_hours_hour", "hour"),)

    campaign_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    variant_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class CampaignDay(CampaignCounters, Base):
    """A campaign variant's figures in one day of ``zone`` (the instance's time zone,
    ``DEFAULT_TIMEZONE``, when the row was computed): the sum of its hourly rows whose
    hour starts on that day there. What the overview reads for viewers in that zone."""

    __tablename__ = "rollup_campaign_days"
    __table_args__ = (sa.Index("ix_rollup_campaign_days_day", "day"),)

    campaign_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    variant_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    zone: Mapped[str] = mapped_column(sa.String(64))


class CampaignBreakdown(Base):
    """A campaign variant's counts by a key that is not a time: ``kind`` ``reason`` (why
    recipients got no message, ``key`` the reason), ``failure`` (failed messages by error
    code, ``key`` the code or "" when the SMSC gave none) and ``latency`` (delivered
    messages by seconds from submission to the receipt, ``key`` the upper bound of the
    bucket, see ``compute.LATENCY_BUCKETS``)."""

    __tablename__ = "rollup_campaign_breakdowns"

    campaign_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    variant_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class CampaignLift(Base):
    """A campaign's hold-out measurement: ``arm`` ``treated`` (recipients sent a message)
    or ``control`` (the hold-out group), how many there are and how many converted within
    the campaign's attribution window after they were decided (by contact, whether or not
    the conversion is attributed to a message: the control group got none)."""

    __tablename__ = "rollup_campaign_lift"

    campaign_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    arm: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    members: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    converters: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class LinkHour(Base):
    """A standalone link's clicks in one UTC hour, by kind (campaign links are counted in
    ``rollup_campaign_hours``)."""

    __tablename__ = "rollup_link_hours"
    __table_args__ = (sa.Index("ix_rollup_link_hours_hour", "hour"),)

    link_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    clicks_human: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_preview: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_scanner: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    clicks_head: Mapped[int] = mapped_column(sa.BigInteger, default=0)
