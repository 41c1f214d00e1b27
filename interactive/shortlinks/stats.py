"""Reading short links and their clicks for pages and the API: the standalone list,
counts per kind, distinct visitors, clicks per hour."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.shortlinks.models import Click, ClickKind, Link


def list_standalone(
    session: Session, *, limit: int = 50, before: int | None = None
) -> tuple[list[Link], int | None]:
    """Standalone links, newest first, a page at a time: (links, id to pass as ``before``
    for the next page or None)."""
    query = sa.select(Link).where(Link.campaign_id.is_(None)).order_by(Link.id.desc())
    if before is not None:
        query = query.where(Link.id < before)
    links = list(session.scalars(query.limit(limit + 1)))
    more = len(links) > limit
    links = links[:limit]
    return links, links[-1].id if more and links else None


def click_counts(session: Session, link_ids: Sequence[int]) -> dict[int, dict[ClickKind, int]]:
    """Clicks per kind of each link (every kind present, zero when none)."""
    counts: dict[int, dict[ClickKind, int]] = {
        link_id: dict.fromkeys(ClickKind, 0) for link_id in link_ids
    }
    if not link_ids:
        return counts
    query = (
        sa.select(Click.link_id, Click.kind, sa.func.count())
        .where(Click.link_id.in_(link_ids))
        .group_by(Click.link_id, Click.kind)
    )
    for link_id, kind, count in session.execute(query):
        counts[link_id][kind] = int(count)
    return counts


def unique_humans(session: Session, link_id: int) -> int:
    """Distinct addresses (by their hash) among the human clicks of a link."""
    query = sa.select(sa.func.count(sa.distinct(Click.ip_hash))).where(
        Click.link_id == link_id, Click.kind == ClickKind.HUMAN
    )
    return int(session.scalar(query) or 0)


def clicks_by_hour(session: Session, link_id: int) -> list[tuple[datetime, ClickKind, int]]:
    """(UTC hour, kind, clicks) of a link, oldest first."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        hour: Any = sa.func.date_trunc("hour", sa.func.timezone("UTC", Click.clicked_at))
    else:
        hour = sa.func.strftime("%Y-%m-%d %H:00:00", Click.clicked_at)
    query = (
        sa.select(hour.label("hour"), Click.kind, sa.func.count())
        .where(Click.link_id == link_id)
        .group_by(hour, Click.kind)
        .order_by(hour)
    )
    rows: list[tuple[datetime, ClickKind, int]] = []
    for bucket, kind, count in session.execute(query):
        when = bucket if isinstance(bucket, datetime) else datetime.fromisoformat(str(bucket))
        rows.append((when.replace(tzinfo=UTC), kind, int(count)))
    return rows
