"""Clicks: from the Redis click stream to the ``clicks`` table, classified.

The redirect appends one stream entry per hit (see ``redirects``); ``jobs.drain_clicks``
reads them in batches and calls :func:`store`, commits, and only then acknowledges, so a
process that dies in between leaves the entries pending and they are re-read. Storing is
idempotent: the click token is unique and a second insert of it does nothing.

An entry has one field, ``c``: a JSON object with short names (the stream may hold many
entries, and one argument is cheaper to send than eighteen): ``l`` link id, ``k`` click
token, ``t`` POSIX time, ``m`` method, ``ua`` user agent, ``r`` referrer, ``h`` address
hash, ``p`` address prefix, ``pf`` "1" for a prefetch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from interactive.analytics import rollups
from interactive.db import checks_for_many
from interactive.outbound.models import Message, PartState
from interactive.shortlinks.classify import classify
from interactive.shortlinks.models import (
    REFERRER_MAX_LENGTH,
    USER_AGENT_MAX_LENGTH,
    Click,
    ClickKind,
    Link,
)

log = logging.getLogger(__name__)

#: The stream's key under the site prefix (``<REDIS_PREFIX>:clicks``).
STREAM = "clicks"
GROUP = "click-drain"


def payload(click: Mapping[str, object]) -> str:
    """The ``c`` field of a click's stream entry."""
    return json.dumps(click, separators=(",", ":"))


def entry_fields(click: Mapping[str, object]) -> Any:
    """A click's stream entry as XADD takes it (redis-py annotates field maps as unions of
    bytes and str that a str-keyed dict does not satisfy)."""
    return {"c": payload(click)}


def _send_times(
    session: Session, message_ids: set[int]
) -> dict[int, tuple[datetime | None, datetime | None]]:
    """(submitted at, delivered at) of each message."""
    if not message_ids:
        return {}
    query = sa.select(Message.id, Message.submitted_at, Message.state, Message.final_at).where(
        Message.id.in_(message_ids)
    )
    return {
        message_id: (submitted, final if state == PartState.DELIVERED else None)
        for message_id, submitted, state, final in session.execute(query)
    }


def seconds_after_send(
    clicked_at: datetime, submitted_at: datetime | None, delivered_at: datetime | None
) -> float | None:
    """Seconds from the message's submission or delivery (the later one that is not after
    the click) to the click; None when the message was not sent. A receipt often arrives
    after the person clicked, so a delivery time later than the click is ignored."""
    elapsed: list[float] = []
    if submitted_at is not None:
        elapsed.append(max(0.0, (clicked_at - submitted_at).total_seconds()))
    if delivered_at is not None and delivered_at <= clicked_at:
        elapsed.append((clicked_at - delivered_at).total_seconds())
    return min(elapsed) if elapsed else None


def _text(value: object, limit: int) -> str | None:
    # Header text is the sender's: PostgreSQL text cannot hold NUL.
    return str(value or "").replace("\x00", "")[:limit] or None


def _parse(entry: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        click = json.loads(entry["c"])
        return {
            "link_id": int(click["l"]),
            "token": str(click["k"])[:32],
            "clicked_at": datetime.fromtimestamp(float(click["t"]), UTC),
            "method": str(click.get("m") or "GET")[:8],
            "user_agent": _text(click.get("ua"), USER_AGENT_MAX_LENGTH),
            "referrer": _text(click.get("r"), REFERRER_MAX_LENGTH),
            "ip_hash": click.get("h") or None,
            "ip_prefix": click.get("p") or None,
            "prefetch": click.get("pf") == "1",
        }
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError):
        return None


def rows_for(
    session: Session, entries: Sequence[Mapping[str, str]], scanner_window: float
) -> list[dict[str, Any]]:
    """Rows of ``clicks`` for stream entries: classified, with the link's campaign,
    variant and contact copied. Entries that cannot be read, or whose link is gone, are
    left out (and logged)."""
    parsed = [row for entry in entries if (row := _parse(entry)) is not None]
    if len(parsed) < len(entries):
        log.error("unreadable click entries skipped count=%s", len(entries) - len(parsed))
    link_ids = {row["link_id"] for row in parsed}
    links = {
        link_id: (campaign_id, variant_id, contact_id, message_id)
        for link_id, campaign_id, variant_id, contact_id, message_id in session.execute(
            sa.select(
                Link.id, Link.campaign_id, Link.variant_id, Link.contact_id, Link.message_id
            ).where(Link.id.in_(link_ids))
        )
    }
    sent = _send_times(session, {info[3] for info in links.values() if info[3] is not None})
    rows: list[dict[str, Any]] = []
    missing = 0
    for row in parsed:
        info = links.get(row["link_id"])
        if info is None:
            missing += 1
            continue
        campaign_id, variant_id, contact_id, message_id = info
        elapsed = None
        if message_id is not None and message_id in sent:
            elapsed = seconds_after_send(row["clicked_at"], *sent[message_id])
        kind = classify(
            row["method"],
            row["user_agent"],
            prefetch=row.pop("prefetch"),
            seconds_after_send=elapsed,
            scanner_window=scanner_window,
        )
        row.update(kind=kind, campaign_id=campaign_id, variant_id=variant_id, contact_id=contact_id)
        rows.append(row)
    if missing:
        log.warning("clicks of deleted links skipped count=%s", missing)
    return rows


def store(
    session: Session, entries: Sequence[Mapping[str, str]], scanner_window: float | None = None
) -> int:
    """Insert the clicks of stream entries in one statement (flushes, does not commit).
    Idempotent: a token already stored is skipped. Returns the number of new clicks."""
    if scanner_window is None:
        scanner_window = float(current_app.config["SHORTLINK_SCANNER_WINDOW_SECONDS"])
    rows = rows_for(session, entries, scanner_window)
    if not rows:
        return 0
    table = cast(sa.Table, Click.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).on_conflict_do_nothing(index_elements=["token"]).returning(table.c.id)
    checks_for_many(session, len(rows))
    stored = len(session.execute(statement, rows).all())
    rollups.touch(
        session,
        campaigns={row["campaign_id"] for row in rows},
        links={row["link_id"] for row in rows if row["campaign_id"] is None},
    )
    return stored


def store_now(app: Flask, click: Mapping[str, str]) -> None:
    """Store one click at once in its own transaction (when the stream is unavailable)."""
    factory: sessionmaker[Session] = app.extensions["interactive.sessionmaker"]
    window = float(app.config["SHORTLINK_SCANNER_WINDOW_SECONDS"])
    with factory() as session:
        store(session, [{"c": payload(click)}], window)
        session.commit()


def counts_by_kind(session: Session, campaign_id: int) -> dict[ClickKind, int]:
    """Clicks of a campaign per kind (every kind present)."""
    counts = dict.fromkeys(ClickKind, 0)
    query = (
        sa.select(Click.kind, sa.func.count())
        .where(Click.campaign_id == campaign_id)
        .group_by(Click.kind)
    )
    for kind, count in session.execute(query):
        counts[kind] = int(count)
    return counts
