"""Attribution: which contact, message, campaign, variant and link a conversion follows.

Rules (the window is the campaign's ``attribution_days`` after the click, 7 by default and
at most ``MAX_WINDOW``; a link or message of no campaign uses ``ATTRIBUTION_WINDOW``):

- **Click token** (``ic``, appended by the redirect): that click's link. The browser keeps
  the token of the last landing it saw (``ic.js`` overwrites it), so this is the last click.
- **Link code**: that link (its secret must match), measured from its last click before
  the conversion, or from the link's creation when it has no click.
- **Message id**: that outbound message, measured from the last click on its links, or
  from its submission (creation when not submitted).
- **Phone** (a contact): the contact's last human click on a campaign link within that
  campaign's window (last click wins), else the contact's latest campaign message
  submitted within its campaign's window.

A conversion later than the window (or more than ``CLOCK_SKEW`` before its click) keeps
only the contact; one whose identifiers name nothing keeps nothing. Both are stored and
counted as unattributed (no campaign, message or link).

Clicks reach SQL a few seconds late: the redirect appends them to a Redis stream that
``shortlinks.jobs.drain_clicks`` moves to ``clicks``. A postback or pixel can arrive in
between, so a token not in SQL is looked for in the stream (newest first, at most
``STREAM_SCAN_LIMIT`` entries: the drain keeps the stream to the clicks not yet stored),
then in SQL once more, in case the drain stored and trimmed it meanwhile. This needs no
second pass after the drain and no change to the click path; the token is also kept on the
conversion (``click_token``) for tracing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.outbound.models import Campaign, Message
from interactive.redis_store import get_redis, key
from interactive.shortlinks import clicks
from interactive.shortlinks.models import Click, ClickKind, Link

log = logging.getLogger(__name__)

ATTRIBUTION_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=90)  # the longest a campaign may set
# Candidates looked at for a phone (newest first) before giving up on the click path.
PHONE_CANDIDATES = 50
# Shops' clocks differ from ours: a conversion this much before its click still counts.
CLOCK_SKEW = timedelta(minutes=5)
STREAM_SCAN_LIMIT = 10_000
STREAM_PAGE = 500


@dataclass(frozen=True, slots=True)
class Attribution:
    contact_id: int | None = None
    campaign_id: int | None = None
    variant_id: int | None = None
    message_id: int | None = None
    link_id: int | None = None

    @property
    def attributed(self) -> bool:
        return any(x is not None for x in (self.campaign_id, self.message_id, self.link_id))


NONE = Attribution()


@dataclass(frozen=True, slots=True)
class ClickRef:
    link_id: int
    clicked_at: datetime


def _within(
    reference: datetime, occurred_at: datetime, window: timedelta = ATTRIBUTION_WINDOW
) -> bool:
    return reference - CLOCK_SKEW <= occurred_at <= reference + window


def _windows(session: Session, campaign_ids: set[int | None]) -> dict[int | None, timedelta]:
    """The attribution window of each campaign (None: no campaign, the default)."""
    windows: dict[int | None, timedelta] = {None: ATTRIBUTION_WINDOW}
    ids = {c for c in campaign_ids if c is not None}
    if ids:
        rows = session.execute(
            sa.select(Campaign.id, Campaign.attribution_days).where(Campaign.id.in_(ids))
        )
        windows.update({cid: timedelta(days=days) for cid, days in rows})
    return windows


def window_of(session: Session, campaign_id: int | None) -> timedelta:
    return _windows(session, {campaign_id}).get(campaign_id, ATTRIBUTION_WINDOW)


# --- click tokens ---------------------------------------------------------------------------


def find_token(session: Session, token: str) -> ClickRef | None:
    """:func:`find_click` with the app's Redis and click stream (needs an app context)."""
    return find_click(session, get_redis(), key(clicks.STREAM), token)


def find_click(
    session: Session, client: redis.Redis | None, stream: str, token: str
) -> ClickRef | None:
    """The click of token ``ic``: from SQL, else from the click stream, else SQL again
    (the drain may have stored it meanwhile). None for a token nobody was given."""
    found = _click_in_sql(session, token)
    if found is None and client is not None:
        found = _click_in_stream(client, stream, token) or _click_in_sql(session, token)
    return found


def _click_in_sql(session: Session, token: str) -> ClickRef | None:
    row = session.execute(
        sa.select(Click.link_id, Click.clicked_at).where(Click.token == token)
    ).first()
    return ClickRef(row[0], row[1]) if row is not None else None


def _previous_id(entry_id: str) -> str | None:
    ms, _, seq = entry_id.partition("-")
    if int(seq or 0) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-18446744073709551615" if int(ms) > 0 else None


def _click_in_stream(client: redis.Redis, stream: str, token: str) -> ClickRef | None:
    # Entries are ``clicks.payload``: compact JSON, so the token appears as "k":"<token>"
    # (tokens are URL-safe base64: nothing to escape). Only a match is parsed.
    needle = json.dumps({"k": token}, separators=(",", ":"))[1:-1].encode()
    newest: str | None = "+"
    scanned = 0
    try:
        while newest is not None and scanned < STREAM_SCAN_LIMIT:
            rows: Any = client.xrevrange(stream, max=newest, min="-", count=STREAM_PAGE)
            if not rows:
                return None
            for _entry_id, fields in rows:
                raw = fields.get(b"c") or b""
                if needle in raw:
                    click = json.loads(raw)
                    return ClickRef(int(click["l"]), datetime.fromtimestamp(float(click["t"]), UTC))
            scanned += len(rows)
            last = rows[-1][0]
            newest = _previous_id(last.decode() if isinstance(last, bytes) else str(last))
    except redis.RedisError:
        log.warning("click stream unavailable; token looked up in SQL only")
    except (KeyError, ValueError, TypeError):
        log.error("unreadable click entry in the stream")
    return None


# --- attribution ----------------------------------------------------------------------------


def _link_attribution(link: Link) -> Attribution:
    return Attribution(
        contact_id=link.contact_id,
        campaign_id=link.campaign_id,
        variant_id=link.variant_id,
        message_id=link.message_id,
        link_id=link.id,
    )


def by_click(session: Session, click: ClickRef, occurred_at: datetime) -> Attribution:
    """A conversion that names its click: the click's link when within the window."""
    link = session.get(Link, click.link_id)
    if link is None:
        return NONE
    if not _within(click.clicked_at, occurred_at, window_of(session, link.campaign_id)):
        return Attribution(contact_id=link.contact_id)
    return _link_attribution(link)


def _last_click(session: Session, which: sa.ColumnElement[bool], occurred_at: datetime) -> Any:
    return session.execute(
        sa.select(Click.link_id, Click.clicked_at)
        .where(which, Click.clicked_at <= occurred_at + CLOCK_SKEW)
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .limit(1)
    ).first()


def by_link(session: Session, link_id: int, link_secret: int, occurred_at: datetime) -> Attribution:
    """A conversion that names a link code (already decoded)."""
    link = session.get(Link, link_id) if 0 < link_id < 2**63 else None
    if link is None or link.secret != link_secret:
        return NONE
    click = _last_click(session, Click.link_id == link.id, occurred_at)
    reference = click[1] if click is not None else link.created_at
    if not _within(reference, occurred_at, window_of(session, link.campaign_id)):
        return Attribution(contact_id=link.contact_id)
    return _link_attribution(link)


def by_message(session: Session, message_id: int, occurred_at: datetime) -> Attribution:
    """A conversion that names an outbound message."""
    message = session.get(Message, message_id) if 0 < message_id < 2**63 else None
    if message is None:
        return NONE
    links = sa.select(Link.id).where(Link.message_id == message.id)
    click = _last_click(session, Click.link_id.in_(links), occurred_at)
    reference = click[1] if click is not None else (message.submitted_at or message.created_at)
    if not _within(reference, occurred_at, window_of(session, message.campaign_id)):
        return Attribution(contact_id=message.contact_id)
    return Attribution(
        contact_id=message.contact_id,
        campaign_id=message.campaign_id,
        variant_id=message.variant_id,
        message_id=message.id,
        link_id=click[0] if click is not None else None,
    )


def by_contact(session: Session, contact_id: int, occurred_at: datetime) -> Attribution:
    """A conversion that names a contact (by phone): its last human click on a campaign
    link within that campaign's window, else its latest campaign message submitted within
    its campaign's window."""
    earliest = occurred_at - MAX_WINDOW
    latest = occurred_at + CLOCK_SKEW
    # Through the contact's messages: messages.contact_id, links.message_id and
    # clicks (link_id, clicked_at) are indexed; clicks.contact_id is not.
    links = (
        sa.select(Link.id)
        .join(Message, Message.id == Link.message_id)
        .where(Message.contact_id == contact_id, Message.campaign_id.is_not(None))
    )
    clicks = session.execute(
        sa.select(Click.link_id, Click.clicked_at, Click.campaign_id)
        .where(
            Click.link_id.in_(links),
            Click.kind == ClickKind.HUMAN,
            Click.clicked_at.between(earliest, latest),
        )
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .limit(PHONE_CANDIDATES)
    ).all()
    windows = _windows(session, {c[2] for c in clicks})
    for link_id, clicked_at, campaign_id in clicks:
        if _within(clicked_at, occurred_at, windows.get(campaign_id, ATTRIBUTION_WINDOW)):
            link = session.get(Link, link_id)
            if link is not None:
                return _link_attribution(link)
    messages = session.scalars(
        sa.select(Message)
        .where(
            Message.contact_id == contact_id,
            Message.campaign_id.is_not(None),
            Message.submitted_at.between(earliest, latest),
        )
        .order_by(Message.submitted_at.desc(), Message.id.desc())
        .limit(PHONE_CANDIDATES)
    ).all()
    windows = _windows(session, {m.campaign_id for m in messages})
    for message in messages:
        submitted = message.submitted_at or message.created_at
        if _within(submitted, occurred_at, windows.get(message.campaign_id, ATTRIBUTION_WINDOW)):
            return Attribution(
                contact_id=contact_id,
                campaign_id=message.campaign_id,
                variant_id=message.variant_id,
                message_id=message.id,
            )
    return Attribution(contact_id=contact_id)


def attribute(
    session: Session,
    occurred_at: datetime,
    *,
    click: ClickRef | None = None,
    link: tuple[int, int] | None = None,
    message_id: int | None = None,
    contact_id: int | None = None,
) -> Attribution:
    """Attribute a conversion by what it names, most precise first (click, link code
    ``(link id, link secret)``, message, contact): the first that attributes it wins;
    failing that, the first that knows the contact. Reads only."""
    candidates: list[Attribution] = []
    if click is not None:
        candidates.append(by_click(session, click, occurred_at))
    if link is not None and not _done(candidates):
        candidates.append(by_link(session, *link, occurred_at))
    if message_id is not None and not _done(candidates):
        candidates.append(by_message(session, message_id, occurred_at))
    if contact_id is not None and not _done(candidates):
        candidates.append(by_contact(session, contact_id, occurred_at))
    for candidate in candidates:
        if candidate.attributed:
            return candidate
    return next((c for c in candidates if c.contact_id is not None), NONE)


def _done(candidates: list[Attribution]) -> bool:
    return any(c.attributed for c in candidates)
