"""Computing one campaign's rollup rows from its raw events: grouped queries over its
recipients, messages, clicks, replies and conversions (each served by an index on
``campaign_id``), summed into hours per variant, breakdowns and the hold-out arms. Nothing
here writes; ``rollups.refresh_campaign`` stores what :func:`compute_campaign` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.analytics.models import (
    Conversion,
)
from interactive.db import UTCDateTime
from interactive.keywords.models import Decision, InboundMessage
from interactive.outbound.campaigns import FAILED_STATES, QUEUED_STATES, SENT_STATES
from interactive.outbound.models import (
    Campaign,
    Goal,
    Message,
    PartState,
    Recipient,
    RecipientStatus,
)
from interactive.shortlinks.models import Click, ClickKind, Link

#: Seconds from submission to the delivery receipt: the upper bounds of the latency
#: histogram's buckets (the last bucket, "inf", holds the rest).
LATENCY_BUCKETS = (5, 10, 30, 60, 300, 1800, 3600, 21600, 86400)
ELIGIBLE = (RecipientStatus.QUEUED, RecipientStatus.DEFERRED)
NOT_SENT = (RecipientStatus.SKIPPED, RecipientStatus.CANCELLED)
#: The arms of the hold-out measurement.
TREATED, CONTROL = "treated", "control"

COUNTERS = (
    "targeted",
    "eligible",
    "deferred",
    "held_out",
    "not_sent",
    "queued",
    "sent",
    "parts",
    "delivered",
    "failed",
    "clicks_human",
    "clicks_preview",
    "clicks_scanner",
    "clicks_head",
    "clickers",
    "replies",
    "repliers",
    "opt_outs",
    "conversions",
    "converters",
)
CLICK_COUNTERS = {kind: f"clicks_{kind.value}" for kind in ClickKind}


# --- SQL helpers ------------------------------------------------------------------------------


def hour_bucket(column: Any, dialect: str) -> sa.ColumnElement[datetime]:
    """The UTC hour a timestamp falls in."""
    if dialect == "postgresql":
        return sa.type_coerce(sa.func.date_trunc("hour", column, "UTC"), UTCDateTime)
    return sa.type_coerce(sa.func.strftime("%Y-%m-%d %H:00:00", column), UTCDateTime)


def seconds_between(start: Any, end: Any, dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def latency_bucket(seconds: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    whens = [(seconds <= bound, str(bound)) for bound in LATENCY_BUCKETS]
    return sa.case(*whens, else_="inf")


def _within_days(start: Any, moment: Any, days: int, dialect: str) -> sa.ColumnElement[bool]:
    """``start <= moment <= start + days``."""
    if dialect == "postgresql":
        return sa.and_(moment >= start, moment <= start + sa.func.make_interval(0, 0, 0, days))
    return sa.and_(
        sa.func.julianday(moment) >= sa.func.julianday(start),
        sa.func.julianday(moment) <= sa.func.julianday(start) + days,
    )


def _variant_key(column: Any) -> sa.ColumnElement[int]:
    return sa.func.coalesce(column, 0)


# --- one campaign -----------------------------------------------------------------------------


@dataclass
class CampaignRows:
    """A campaign's rollup rows, as computed from its raw events."""

    hours: dict[tuple[int, datetime], dict[str, Any]] = field(default_factory=dict)
    breakdowns: dict[tuple[int, str, str], int] = field(default_factory=dict)
    lift: dict[str, tuple[int, int]] = field(default_factory=dict)

    def row(self, variant_key: int, hour: datetime) -> dict[str, Any]:
        found = self.hours.get((variant_key, hour))
        if found is None:
            found = self.hours[(variant_key, hour)] = dict.fromkeys(COUNTERS, 0)
            found["revenue"] = Decimal(0)
        return found

    def add(self, kind: str, variant_key: int, name: str, count: int) -> None:
        at = (variant_key, kind, name)
        self.breakdowns[at] = self.breakdowns.get(at, 0) + count

    def days(self, zone: str) -> dict[tuple[int, date], dict[str, Any]]:
        """The hourly rows summed into the days of ``zone`` their hours start on."""
        tz = ZoneInfo(zone)
        result: dict[tuple[int, date], dict[str, Any]] = {}
        for (variant_key, hour), values in self.hours.items():
            at = (variant_key, hour.astimezone(tz).date())
            found = result.get(at)
            if found is None:
                result[at] = dict(values)
                continue
            for name, value in values.items():
                found[name] += value
        return result


def conversion_filter(campaign: Campaign) -> sa.ColumnElement[bool]:
    """The conversions that count for the campaign's goal: its event when the goal names
    one, replies for a reply goal, every conversion otherwise."""
    if campaign.goal == Goal.CONVERSION and campaign.goal_value:
        return Conversion.event == campaign.goal_value
    if campaign.goal == Goal.REPLY:
        return Conversion.source == "reply"
    return sa.true()


def compute_campaign(session: Session, campaign: Campaign) -> CampaignRows:
    """A campaign's rollup rows from its raw events (reads only).

    On PostgreSQL the campaign's events are read by bitmap scans, in the order they lie
    in the table, not by plain index scans: the indexes that lead with the campaign go on
    with columns that order its rows another way (a click's kind and time, for the lists
    of clicks), and following one of them to the table reads the rows in random order,
    two to three times slower over millions of clicks. The clicks, the bulk of it, come
    first: they are read from their campaign index alone (index-only scans, which need
    index scans allowed: the index includes what is counted). ``SET LOCAL`` ends with the
    transaction; index scans are turned back on at the end for whatever else the
    transaction does."""
    dialect = session.get_bind().dialect.name
    rows = CampaignRows()
    _add_clicks(session, campaign.id, rows, dialect)
    if dialect == "postgresql":
        session.execute(sa.text("SET LOCAL enable_indexscan = off"))
    add_recipients(session, campaign.id, rows, dialect)
    add_messages(session, campaign.id, rows, dialect)
    _add_message_breakdowns(session, campaign.id, rows, dialect)
    _add_replies(session, campaign.id, rows, dialect)
    counted = conversion_filter(campaign)
    _add_conversions(session, campaign.id, counted, rows, dialect)
    rows.lift = _lift(session, campaign, dialect)
    if dialect == "postgresql":
        session.execute(sa.text("SET LOCAL enable_indexscan = on"))
    return rows


def add_recipients(session: Session, cid: int, rows: CampaignRows, dialect: str) -> None:
    """Recipients by variant and the hour they were decided, and why some got nothing."""
    vk, hour = _variant_key(Recipient.variant_id), hour_bucket(Recipient.decided_at, dialect)
    for v, h, status, reason, count in session.execute(
        sa.select(vk, hour, Recipient.status, Recipient.reason, sa.func.count())
        .where(Recipient.campaign_id == cid)
        .group_by(vk, hour, Recipient.status, Recipient.reason)
    ):
        r = rows.row(v, h)
        r["targeted"] += count
        r["eligible"] += count if status in ELIGIBLE else 0
        r["deferred"] += count if status == RecipientStatus.DEFERRED else 0
        r["held_out"] += count if status == RecipientStatus.HELD_OUT else 0
        r["not_sent"] += count if status in NOT_SENT else 0
        if reason is not None and status != RecipientStatus.HELD_OUT:
            rows.add("reason", v, reason.value, count)


def add_messages(session: Session, cid: int, rows: CampaignRows, dialect: str) -> None:
    """Messages by variant, the hour they were submitted (created, while queued) and
    state."""
    vk = _variant_key(Message.variant_id)
    hour = hour_bucket(sa.func.coalesce(Message.submitted_at, Message.created_at), dialect)
    for v, h, state, count, parts in session.execute(
        sa.select(vk, hour, Message.state, sa.func.count(), sa.func.sum(Message.parts_count))
        .where(Message.campaign_id == cid)
        .group_by(vk, hour, Message.state)
    ):
        r = rows.row(v, h)
        if state in SENT_STATES:
            r["sent"] += count
            r["parts"] += int(parts or 0)
        r["queued"] += count if state in QUEUED_STATES else 0
        r["delivered"] += count if state == PartState.DELIVERED else 0
        r["failed"] += count if state in FAILED_STATES else 0


def _add_message_breakdowns(session: Session, cid: int, rows: CampaignRows, dialect: str) -> None:
    vk = _variant_key(Message.variant_id)
    code = sa.func.coalesce(sa.cast(Message.error_code, sa.String), "")
    for v, error, count in session.execute(
        sa.select(vk, code, sa.func.count())
        .where(Message.campaign_id == cid, Message.state.in_(FAILED_STATES))
        .group_by(vk, code)
    ):
        rows.add("failure", v, error, count)
    bucket = latency_bucket(seconds_between(Message.submitted_at, Message.final_at, dialect))
    for v, name, count in session.execute(
        sa.select(vk, bucket, sa.func.count())
        .where(
            Message.campaign_id == cid,
            Message.state == PartState.DELIVERED,
            Message.submitted_at.is_not(None),
            Message.final_at.is_not(None),
        )
        .group_by(vk, bucket)
    ):
        rows.add("latency", v, name, count)


def _add_clicks(session: Session, cid: int, rows: CampaignRows, dialect: str) -> None:
    vk, hour = _variant_key(Click.variant_id), hour_bucket(Click.clicked_at, dialect)
    for v, h, kind, count in session.execute(
        sa.select(vk, hour, Click.kind, sa.func.count())
        .where(Click.campaign_id == cid)
        .group_by(vk, hour, Click.kind)
    ):
        rows.row(v, h)[CLICK_COUNTERS[kind]] += count
    # A person (the contact, or the link when the click names none) is counted in the
    # hour of their first human click.
    person = sa.func.coalesce(Click.contact_id, -Click.link_id)
    first = (
        sa.select(vk.label("v"), sa.func.min(Click.clicked_at).label("first"))
        .where(Click.campaign_id == cid, Click.kind == ClickKind.HUMAN)
        .group_by(vk, person)
        .subquery()
    )
    _add_firsts(session, first, "clickers", rows, dialect)


def _add_firsts(
    session: Session, first: sa.Subquery, counter: str, rows: CampaignRows, dialect: str
) -> None:
    """People (``first``: a variant key ``v`` and the ``first`` time a person did
    something) counted in the hour of their first time."""
    first_hour = hour_bucket(first.c.first, dialect)
    for v, h, count in session.execute(
        sa.select(first.c.v, first_hour, sa.func.count()).group_by(first.c.v, first_hour)
    ):
        rows.row(v, h)[counter] += count


def _add_replies(session: Session, cid: int, rows: CampaignRows, dialect: str) -> None:
    vk, hour = (
        _variant_key(InboundMessage.variant_id),
        hour_bucket(InboundMessage.received_at, dialect),
    )
    opt_out = sa.case((InboundMessage.decision == Decision.OPT_OUT, 1), else_=0)
    for v, h, count, opt_outs in session.execute(
        sa.select(vk, hour, sa.func.count(), sa.func.sum(opt_out))
        .where(InboundMessage.campaign_id == cid)
        .group_by(vk, hour)
    ):
        r = rows.row(v, h)
        r["replies"] += count
        r["opt_outs"] += int(opt_outs or 0)
    first = (
        sa.select(vk.label("v"), sa.func.min(InboundMessage.received_at).label("first"))
        .where(InboundMessage.campaign_id == cid)
        .group_by(vk, InboundMessage.source)
        .subquery()
    )
    _add_firsts(session, first, "repliers", rows, dialect)


def _add_conversions(
    session: Session, cid: int, counted: sa.ColumnElement[bool], rows: CampaignRows, dialect: str
) -> None:
    vk, hour = _variant_key(Conversion.variant_id), hour_bucket(Conversion.occurred_at, dialect)
    for v, h, count, revenue in session.execute(
        sa.select(vk, hour, sa.func.count(), sa.func.sum(Conversion.value))
        .where(Conversion.campaign_id == cid, counted)
        .group_by(vk, hour)
    ):
        r = rows.row(v, h)
        r["conversions"] += count
        r["revenue"] += Decimal(revenue or 0)
    # A person is the contact; without one, the message the conversion followed; without
    # either, the conversion itself.
    no_contact = Conversion.contact_id.is_(None)
    first = (
        sa.select(vk.label("v"), sa.func.min(Conversion.occurred_at).label("first"))
        .where(Conversion.campaign_id == cid, counted)
        .group_by(
            vk,
            Conversion.contact_id,
            sa.case((no_contact, Conversion.message_id)),
            sa.case((sa.and_(no_contact, Conversion.message_id.is_(None)), Conversion.id)),
        )
        .subquery()
    )
    _add_firsts(session, first, "converters", rows, dialect)


def converted(campaign: Campaign, dialect: str) -> sa.ColumnElement[bool]:
    """Whether a recipient converted as the dashboards count it: a conversion counted for
    the campaign's goal, attributed to the campaign; for a hold-out member, one within the
    attribution window after they were held out (what the lift's control arm counts)."""
    window = _within_days(
        Recipient.decided_at, Conversion.occurred_at, campaign.attribution_days, dialect
    )
    return (
        sa.select(Conversion.id)
        .where(
            Conversion.contact_id == Recipient.contact_id,
            conversion_filter(campaign),
            sa.or_(
                Conversion.campaign_id == campaign.id,
                sa.and_(Recipient.status == RecipientStatus.HELD_OUT, window),
            ),
        )
        .exists()
    )


def converted_in_window(campaign: Campaign, dialect: str) -> sa.ColumnElement[bool]:
    """Whether a recipient converted as the hold-out lift counts it, in either arm: a
    conversion counted for the campaign's goal, by the recipient's contact, within the
    attribution window after they were decided (attributed to the campaign or not: the
    held-out arm's cannot be)."""
    return (
        sa.select(Conversion.id)
        .where(
            Conversion.contact_id == Recipient.contact_id,
            _within_days(
                Recipient.decided_at, Conversion.occurred_at, campaign.attribution_days, dialect
            ),
            conversion_filter(campaign),
        )
        .exists()
    )


def clicked() -> sa.ColumnElement[bool]:
    """Whether a recipient made a human click on one of their message's links."""
    return (
        sa.select(Click.id)
        .join(Link, Link.id == Click.link_id)
        .where(Link.message_id == Recipient.message_id, Click.kind == ClickKind.HUMAN)
        .exists()
    )


def _lift(session: Session, campaign: Campaign, dialect: str) -> dict[str, tuple[int, int]]:
    """(members, converters) of the treated and control arms; empty without a hold-out."""
    if not campaign.holdout_percent:
        return {}
    converted = converted_in_window(campaign, dialect)
    arm = sa.case((Recipient.status == RecipientStatus.HELD_OUT, CONTROL), else_=TREATED)
    rows = session.execute(
        sa.select(arm, sa.func.count(), sa.func.sum(sa.case((converted, 1), else_=0)))
        .where(
            Recipient.campaign_id == campaign.id,
            Recipient.status.in_((RecipientStatus.QUEUED, RecipientStatus.HELD_OUT)),
        )
        .group_by(arm)
    )
    return {name: (int(members), int(converters or 0)) for name, members, converters in rows}
