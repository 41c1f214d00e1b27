"""Rollups: the small tables the dashboards read, derived from the raw events.

A campaign's rollup rows (``rollup_campaign_hours``, ``…_breakdowns``, ``…_lift``) are
recomputed together from its raw rows by :func:`refresh_campaign`: grouped queries over
the campaign's recipients, messages, clicks, replies and conversions (each served by an
index on ``campaign_id``), then the campaign's old rows replaced in the same transaction.
The incremental job (``refresh_rollups``, every ``REFRESH_EVERY_S`` on the ``reports``
queue) refreshes the campaigns that changed; the rebuild (``interactive rollups
rebuild``) refreshes every campaign with the same function, so the two agree exactly by
construction, and a test holds them to it.

Which campaigns changed:

- **Touched**: writers of events that can arrive long after a send (clicks stored by the
  drain, conversions, replies routed) name their campaigns with :func:`touch`; the names
  are added to a Redis set once the writer's transaction commits, and the job takes them
  out of it before it reads, so an event is either visible to the job's reads or left for
  its next run.
- **Live**: a campaign sending or paused, or whose last run started within its attribution
  window plus a day, is refreshed on every run: receipts (which the gateway stores by the
  thousand without naming campaigns), the fan-out's recipients, and the hold-out group's
  conversions (attributed to no campaign: the control group got no message) all fall in
  that time.

Standalone links' clicks (``rollup_link_hours``) are refreshed the same way, a link at a
time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from interactive.analytics.models import (
    CampaignBreakdown,
    CampaignHour,
    CampaignLift,
    Conversion,
    LinkHour,
)
from interactive.db import UTCDateTime, utcnow
from interactive.keywords.models import Decision, InboundMessage
from interactive.outbound.campaigns import SENT_STATES
from interactive.outbound.models import (
    Campaign,
    CampaignRun,
    CampaignState,
    Goal,
    Message,
    PartState,
    Recipient,
    RecipientStatus,
)
from interactive.redis_store import get_redis, key
from interactive.shortlinks.models import Click, ClickKind, Link

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 20
#: Seconds from submission to the delivery receipt: the upper bounds of the latency
#: histogram's buckets (the last bucket, "inf", holds the rest).
LATENCY_BUCKETS = (5, 10, 30, 60, 300, 1800, 3600, 21600, 86400)
FAILED_STATES = frozenset(
    {
        PartState.REJECTED,
        PartState.UNDELIVERABLE,
        PartState.EXPIRED,
        PartState.DELETED,
        PartState.FAILED,
    }
)
ELIGIBLE = (RecipientStatus.QUEUED, RecipientStatus.DEFERRED)
NOT_SENT = (RecipientStatus.SKIPPED, RecipientStatus.CANCELLED)
#: The arms of the hold-out measurement.
TREATED, CONTROL = "treated", "control"
DIRTY_CAMPAIGNS = ("rollups", "campaigns")
DIRTY_LINKS = ("rollups", "links")
REFRESHED_AT = ("rollups", "refreshed_at")
POP_BATCH = 10_000

COUNTERS = (
    "targeted",
    "eligible",
    "held_out",
    "not_sent",
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
)
CLICK_COUNTERS = {kind: f"clicks_{kind.value}" for kind in ClickKind}


# --- touching ---------------------------------------------------------------------------------


def touch(
    session: Session, *, campaigns: Iterable[int | None] = (), links: Iterable[int | None] = ()
) -> None:
    """Have these campaigns' (and standalone links') rollups refreshed once the session's
    transaction commits (nothing happens if it rolls back)."""
    pending = session.info.setdefault("rollups_touched", (set(), set()))
    pending[0].update(c for c in campaigns if c)
    pending[1].update(link for link in links if link)


@event.listens_for(Session, "after_commit")
def _publish_touched(session: Session) -> None:
    pending = session.info.pop("rollups_touched", None)
    if not pending or not (pending[0] or pending[1]):
        return
    try:
        client = get_redis()
        with client.pipeline(transaction=False) as pipe:
            if pending[0]:
                pipe.sadd(key(*DIRTY_CAMPAIGNS), *sorted(pending[0]))
            if pending[1]:
                pipe.sadd(key(*DIRTY_LINKS), *sorted(pending[1]))
            pipe.execute()
    except (redis.RedisError, RuntimeError):
        # No Redis (or no app): the campaigns are refreshed while live, or by a rebuild.
        log.warning("rollups: could not mark campaigns changed ids=%s", sorted(pending[0]))


@event.listens_for(Session, "after_rollback")
def _forget_touched(session: Session) -> None:
    session.info.pop("rollups_touched", None)


def _pop_all(client: redis.Redis, name: str) -> set[int]:
    taken: set[int] = set()
    while True:
        batch: Any = client.spop(name, POP_BATCH)
        if not batch:
            return taken
        taken.update(int(x) for x in batch)


# --- SQL helpers ------------------------------------------------------------------------------


def _hour(column: Any, dialect: str) -> sa.ColumnElement[datetime]:
    """The UTC hour a timestamp falls in."""
    if dialect == "postgresql":
        return sa.type_coerce(sa.func.date_trunc("hour", column, "UTC"), UTCDateTime)
    return sa.type_coerce(sa.func.strftime("%Y-%m-%d %H:00:00", column), UTCDateTime)


def _seconds_between(start: Any, end: Any, dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def _latency_bucket(seconds: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
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

    hours: dict[tuple[int, datetime], dict[str, Any]]
    breakdowns: dict[tuple[int, str, str], int]
    lift: dict[str, tuple[int, int]]


def conversion_filter(campaign: Campaign) -> sa.ColumnElement[bool]:
    """The conversions that count for the campaign's goal: its event when the goal names
    one, replies for a reply goal, every conversion otherwise."""
    if campaign.goal == Goal.CONVERSION and campaign.goal_value:
        return Conversion.event == campaign.goal_value
    if campaign.goal == Goal.REPLY:
        return Conversion.source == "reply"
    return sa.true()


def compute_campaign(session: Session, campaign: Campaign) -> CampaignRows:
    """A campaign's rollup rows from its raw events (reads only)."""
    dialect = session.get_bind().dialect.name
    hours: dict[tuple[int, datetime], dict[str, Any]] = {}
    breakdowns: dict[tuple[int, str, str], int] = {}
    cid = campaign.id

    def row(variant_key: int, hour: datetime) -> dict[str, Any]:
        found = hours.get((variant_key, hour))
        if found is None:
            found = hours[(variant_key, hour)] = dict.fromkeys(COUNTERS, 0)
            found["revenue"] = Decimal(0)
        return found

    def add(kind: str, variant_key: int, name: str, count: int) -> None:
        breakdowns[(variant_key, kind, name)] = breakdowns.get((variant_key, kind, name), 0) + count

    vk, hour = _variant_key(Recipient.variant_id), _hour(Recipient.decided_at, dialect)
    for v, h, status, reason, count in session.execute(
        sa.select(vk, hour, Recipient.status, Recipient.reason, sa.func.count())
        .where(Recipient.campaign_id == cid)
        .group_by(vk, hour, Recipient.status, Recipient.reason)
    ):
        r = row(v, h)
        r["targeted"] += count
        r["eligible"] += count if status in ELIGIBLE else 0
        r["held_out"] += count if status == RecipientStatus.HELD_OUT else 0
        r["not_sent"] += count if status in NOT_SENT else 0
        if reason is not None and status != RecipientStatus.HELD_OUT:
            add("reason", v, reason.value, count)

    vk = _variant_key(Message.variant_id)
    hour = _hour(sa.func.coalesce(Message.submitted_at, Message.created_at), dialect)
    for v, h, state, count, parts in session.execute(
        sa.select(vk, hour, Message.state, sa.func.count(), sa.func.sum(Message.parts_count))
        .where(Message.campaign_id == cid)
        .group_by(vk, hour, Message.state)
    ):
        r = row(v, h)
        if state in SENT_STATES:
            r["sent"] += count
            r["parts"] += int(parts or 0)
        r["delivered"] += count if state == PartState.DELIVERED else 0
        r["failed"] += count if state in FAILED_STATES else 0
    code = sa.func.coalesce(sa.cast(Message.error_code, sa.String), "")
    for v, error, count in session.execute(
        sa.select(vk, code, sa.func.count())
        .where(Message.campaign_id == cid, Message.state.in_(FAILED_STATES))
        .group_by(vk, code)
    ):
        add("failure", v, error, count)
    bucket = _latency_bucket(_seconds_between(Message.submitted_at, Message.final_at, dialect))
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
        add("latency", v, name, count)

    vk, hour = _variant_key(Click.variant_id), _hour(Click.clicked_at, dialect)
    for v, h, kind, count in session.execute(
        sa.select(vk, hour, Click.kind, sa.func.count())
        .where(Click.campaign_id == cid)
        .group_by(vk, hour, Click.kind)
    ):
        row(v, h)[CLICK_COUNTERS[kind]] += count
    # A person (the contact, or the link when the click names none) is counted in the
    # hour of their first human click.
    person = sa.func.coalesce(Click.contact_id, -Click.link_id)
    first = (
        sa.select(vk.label("v"), sa.func.min(Click.clicked_at).label("first"))
        .where(Click.campaign_id == cid, Click.kind == ClickKind.HUMAN)
        .group_by(vk, person)
        .subquery()
    )
    first_hour = _hour(first.c.first, dialect)
    for v, h, count in session.execute(
        sa.select(first.c.v, first_hour, sa.func.count()).group_by(first.c.v, first_hour)
    ):
        row(v, h)["clickers"] += count

    vk, hour = _variant_key(InboundMessage.variant_id), _hour(InboundMessage.received_at, dialect)
    opt_out = sa.case((InboundMessage.decision == Decision.OPT_OUT, 1), else_=0)
    for v, h, count, opt_outs in session.execute(
        sa.select(vk, hour, sa.func.count(), sa.func.sum(opt_out))
        .where(InboundMessage.campaign_id == cid)
        .group_by(vk, hour)
    ):
        r = row(v, h)
        r["replies"] += count
        r["opt_outs"] += int(opt_outs or 0)
    first = (
        sa.select(vk.label("v"), sa.func.min(InboundMessage.received_at).label("first"))
        .where(InboundMessage.campaign_id == cid)
        .group_by(vk, InboundMessage.source)
        .subquery()
    )
    first_hour = _hour(first.c.first, dialect)
    for v, h, count in session.execute(
        sa.select(first.c.v, first_hour, sa.func.count()).group_by(first.c.v, first_hour)
    ):
        row(v, h)["repliers"] += count

    counted = conversion_filter(campaign)
    vk, hour = _variant_key(Conversion.variant_id), _hour(Conversion.occurred_at, dialect)
    for v, h, count, revenue in session.execute(
        sa.select(vk, hour, sa.func.count(), sa.func.sum(Conversion.value))
        .where(Conversion.campaign_id == cid, counted)
        .group_by(vk, hour)
    ):
        r = row(v, h)
        r["conversions"] += count
        r["revenue"] += Decimal(revenue or 0)

    return CampaignRows(hours, breakdowns, _lift(session, campaign, counted, dialect))


def _lift(
    session: Session, campaign: Campaign, counted: sa.ColumnElement[bool], dialect: str
) -> dict[str, tuple[int, int]]:
    """(members, converters) of the treated and control arms; empty without a hold-out."""
    if not campaign.holdout_percent:
        return {}
    converted = (
        sa.select(Conversion.id)
        .where(
            Conversion.contact_id == Recipient.contact_id,
            _within_days(
                Recipient.decided_at, Conversion.occurred_at, campaign.attribution_days, dialect
            ),
            counted,
        )
        .exists()
    )
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


def refresh_campaign(session: Session, campaign_id: int) -> bool:
    """Replace a campaign's rollup rows by what its raw events say now (flushes, does not
    commit). False when the campaign is gone (its rows are removed)."""
    for model in (CampaignHour, CampaignBreakdown, CampaignLift):
        session.execute(sa.delete(model).where(model.campaign_id == campaign_id))
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return False
    computed = compute_campaign(session, campaign)
    _insert_rows(session, campaign_id, computed)
    return True


def _insert_rows(session: Session, campaign_id: int, computed: CampaignRows) -> None:
    hours = [
        {"campaign_id": campaign_id, "variant_key": v, "hour": h, **values}
        for (v, h), values in sorted(computed.hours.items())
    ]
    breakdowns = [
        {"campaign_id": campaign_id, "variant_key": v, "kind": kind, "key": name, "count": count}
        for (v, kind, name), count in sorted(computed.breakdowns.items())
    ]
    lift = [
        {"campaign_id": campaign_id, "arm": arm, "members": members, "converters": converters}
        for arm, (members, converters) in sorted(computed.lift.items())
    ]
    tables = ((CampaignHour, hours), (CampaignBreakdown, breakdowns), (CampaignLift, lift))
    for model, rows in tables:
        if rows:
            session.execute(sa.insert(model.__table__), rows)  # type: ignore[arg-type]


# --- standalone links -------------------------------------------------------------------------


def refresh_links(session: Session, link_ids: Sequence[int]) -> None:
    """Replace the hourly click rows of these standalone links (flushes)."""
    if not link_ids:
        return
    dialect = session.get_bind().dialect.name
    ids = list(link_ids)
    session.execute(sa.delete(LinkHour).where(LinkHour.link_id.in_(ids)))
    hour = _hour(Click.clicked_at, dialect)
    rows: dict[tuple[int, datetime], dict[str, Any]] = {}
    for link_id, h, kind, count in session.execute(
        sa.select(Click.link_id, hour, Click.kind, sa.func.count())
        .join(Link, Link.id == Click.link_id)
        .where(Click.link_id.in_(ids), Link.campaign_id.is_(None))
        .group_by(Click.link_id, hour, Click.kind)
    ):
        found = rows.setdefault(
            (link_id, h),
            {"link_id": link_id, "hour": h, **dict.fromkeys(CLICK_COUNTERS.values(), 0)},
        )
        found[CLICK_COUNTERS[kind]] += count
    if rows:
        session.execute(sa.insert(LinkHour.__table__), [rows[k] for k in sorted(rows)])  # type: ignore[arg-type]


# --- which campaigns, and the job ---------------------------------------------------------


def live_campaigns(session: Session, now: datetime) -> set[int]:
    """Campaigns sending or paused, or whose last run started within its attribution
    window plus a day."""
    live = set(
        session.scalars(
            sa.select(Campaign.id).where(
                Campaign.state.in_((CampaignState.SENDING, CampaignState.PAUSED))
            )
        )
    )
    horizon = now - timedelta(days=MAX_ATTRIBUTION_DAYS + 1)
    for campaign_id, started_at, days in session.execute(
        sa.select(
            CampaignRun.campaign_id,
            sa.func.max(CampaignRun.started_at),
            Campaign.attribution_days,
        )
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .where(CampaignRun.started_at >= horizon)
        .group_by(CampaignRun.campaign_id, Campaign.attribution_days)
    ):
        if started_at is not None and started_at >= now - timedelta(days=days + 1):
            live.add(campaign_id)
    return live


MAX_ATTRIBUTION_DAYS = 90


@dataclass
class Refreshed:
    campaigns: int = 0
    links: int = 0
    failed: int = 0


def refresh(session: Session, client: redis.Redis, now: datetime | None = None) -> Refreshed:
    """One incremental run: the touched and the live campaigns, and the touched links,
    each committed on its own. A campaign that fails is put back for the next run."""
    now = now or utcnow()
    done = Refreshed()
    campaigns = _pop_all(client, key(*DIRTY_CAMPAIGNS))
    campaigns |= live_campaigns(session, now)
    session.commit()  # the reads above must not hold a snapshot over the refreshes
    for campaign_id in sorted(campaigns):
        try:
            refresh_campaign(session, campaign_id)
            session.commit()
            done.campaigns += 1
        except Exception:
            session.rollback()
            client.sadd(key(*DIRTY_CAMPAIGNS), campaign_id)
            done.failed += 1
            log.exception("rollups: refreshing campaign %s failed", campaign_id)
    links = sorted(_pop_all(client, key(*DIRTY_LINKS)))
    for start in range(0, len(links), 500):
        chunk = links[start : start + 500]
        try:
            refresh_links(session, chunk)
            session.commit()
            done.links += len(chunk)
        except Exception:
            session.rollback()
            client.sadd(key(*DIRTY_LINKS), *chunk)
            done.failed += 1
            log.exception("rollups: refreshing links failed")
    client.set(key(*REFRESHED_AT), now.isoformat())
    return done


def rebuild(session: Session) -> Refreshed:
    """Recompute every rollup from the raw events (each campaign committed on its own)."""
    done = Refreshed()
    session.execute(sa.delete(CampaignHour))
    session.execute(sa.delete(CampaignBreakdown))
    session.execute(sa.delete(CampaignLift))
    session.execute(sa.delete(LinkHour))
    session.commit()
    for campaign_id in list(session.scalars(sa.select(Campaign.id).order_by(Campaign.id))):
        refresh_campaign(session, campaign_id)
        session.commit()
        done.campaigns += 1
    standalone = list(
        session.scalars(
            sa.select(Click.link_id)
            .join(Link, Link.id == Click.link_id)
            .where(Link.campaign_id.is_(None))
            .distinct()
        )
    )
    for start in range(0, len(standalone), 500):
        refresh_links(session, standalone[start : start + 500])
        session.commit()
    done.links = len(standalone)
    return done


def refreshed_at(client: redis.Redis) -> datetime | None:
    """When the incremental job last ran."""
    value: Any = client.get(key(*REFRESHED_AT))
    return datetime.fromisoformat(value.decode()) if value else None
