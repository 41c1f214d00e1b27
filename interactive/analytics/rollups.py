"""Rollups: the small tables the dashboards read, derived from the raw events.

A campaign's rollup rows (``rollup_campaign_hours``, ``…_days``, ``…_breakdowns``,
``…_lift``) are recomputed together from its raw rows by :func:`refresh_campaign` (the
grouped queries of ``compute`` over its recipients, messages, clicks, replies and conversions,
each served by an index on ``campaign_id``), then the campaign's old rows replaced in the same
transaction. The daily rows are the hourly ones summed into days of the instance's time
zone, so the two cannot disagree. The incremental job (``refresh_rollups``, every
``REFRESH_EVERY_S`` on the ``reports`` queue) refreshes the campaigns that changed; the
rebuild (``interactive rollups rebuild``) refreshes every campaign with the same function,
so the two agree exactly by construction, and a test holds them to it.

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
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from interactive.analytics.compute import (
    CLICK_COUNTERS,
    CampaignRows,
    compute_campaign,
    hour_bucket,
)
from interactive.analytics.models import (
    CampaignBreakdown,
    CampaignDay,
    CampaignHour,
    CampaignLift,
    LinkHour,
)
from interactive.db import utcnow
from interactive.outbound.models import (
    Campaign,
    CampaignRun,
    CampaignState,
)
from interactive.redis_store import get_redis, key
from interactive.shortlinks.models import Click, Link

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 20
REBUILD_WORKERS = min(8, os.cpu_count() or 2)  # connections of a rebuild on PostgreSQL
DIRTY_CAMPAIGNS = ("rollups", "campaigns")
DIRTY_LINKS = ("rollups", "links")
REFRESHED_AT = ("rollups", "refreshed_at")
POP_BATCH = 10_000


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


def rollup_zone() -> str:
    """The time zone of the daily rows: the instance's (``DEFAULT_TIMEZONE``)."""
    if has_app_context():
        return str(current_app.config.get("DEFAULT_TIMEZONE") or "UTC")
    return "UTC"


CAMPAIGN_TABLES = (CampaignHour, CampaignDay, CampaignBreakdown, CampaignLift)


def refresh_campaign(session: Session, campaign_id: int, zone: str | None = None) -> bool:
    """Replace a campaign's rollup rows by what its raw events say now, its daily rows in
    ``zone`` (default :func:`rollup_zone`); flushes, does not commit. False when the
    campaign is gone (its rows are removed)."""
    for model in CAMPAIGN_TABLES:
        session.execute(sa.delete(model).where(model.campaign_id == campaign_id))
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return False
    computed = compute_campaign(session, campaign)
    _insert_rows(session, campaign_id, computed, zone or rollup_zone())
    return True


def _insert_rows(session: Session, campaign_id: int, computed: CampaignRows, zone: str) -> None:
    hours = [
        {"campaign_id": campaign_id, "variant_key": v, "hour": h, **values}
        for (v, h), values in sorted(computed.hours.items())
    ]
    days = [
        {"campaign_id": campaign_id, "variant_key": v, "day": d, "zone": zone, **values}
        for (v, d), values in sorted(computed.days(zone).items())
    ]
    breakdowns = [
        {"campaign_id": campaign_id, "variant_key": v, "kind": kind, "key": name, "count": count}
        for (v, kind, name), count in sorted(computed.breakdowns.items())
    ]
    lift = [
        {"campaign_id": campaign_id, "arm": arm, "members": members, "converters": converters}
        for arm, (members, converters) in sorted(computed.lift.items())
    ]
    tables = (
        (CampaignHour, hours),
        (CampaignDay, days),
        (CampaignBreakdown, breakdowns),
        (CampaignLift, lift),
    )
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
    hour = hour_bucket(Click.clicked_at, dialect)
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
    zone = rollup_zone()
    campaigns = _pop_all(client, key(*DIRTY_CAMPAIGNS))
    campaigns |= live_campaigns(session, now)
    # Daily rows left in another zone (the instance's time zone was changed) are redone.
    campaigns.update(
        session.scalars(
            sa.select(CampaignDay.campaign_id).where(CampaignDay.zone != zone).distinct()
        )
    )
    session.commit()  # the reads above must not hold a snapshot over the refreshes
    for campaign_id in sorted(campaigns):
        try:
            refresh_campaign(session, campaign_id, zone)
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


def rebuild(session: Session, workers: int = REBUILD_WORKERS) -> Refreshed:
    """Recompute every rollup from the raw events (each campaign committed on its own). On
    PostgreSQL ``workers`` connections refresh campaigns side by side: the work is the
    server's grouped queries, which then use every core. The old rows are truncated there
    rather than deleted (a delete would leave the tables with as many dead rows as live
    ones until a vacuum), and the tables are analysed at the end."""
    done = Refreshed()
    zone = rollup_zone()
    tables = [model.__tablename__ for model in (*CAMPAIGN_TABLES, LinkHour)]
    bind = session.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        session.execute(sa.text(f"TRUNCATE {', '.join(tables)}"))
    else:
        for model in (*CAMPAIGN_TABLES, LinkHour):
            session.execute(sa.delete(model))
    session.commit()
    ids = list(session.scalars(sa.select(Campaign.id).order_by(Campaign.id)))
    if workers > 1 and isinstance(bind, sa.Engine) and postgresql:

        def refresh_share(share: list[int]) -> None:
            with Session(bind) as own:
                for campaign_id in share:
                    refresh_campaign(own, campaign_id, zone)
                    own.commit()

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(refresh_share, [ids[n::workers] for n in range(workers)]))
    else:
        for campaign_id in ids:
            refresh_campaign(session, campaign_id, zone)
            session.commit()
    done.campaigns = len(ids)
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
    if postgresql:
        session.execute(sa.text(f"ANALYZE {', '.join(tables)}"))
        session.commit()
    return done


def refreshed_at(client: redis.Redis) -> datetime | None:
    """When the incremental job last ran."""
    value: Any = client.get(key(*REFRESHED_AT))
    return datetime.fromisoformat(value.decode()) if value else None
