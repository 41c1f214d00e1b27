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

Postbacks are attributed a batch at a time (:func:`attribute_many`, by the conversion
drain): a batch's click tokens, links, messages, campaigns' windows and last clicks are read
in a few queries (:class:`Facts`); a conversion by phone is looked up on its own.

Clicks reach SQL a few seconds late: the redirect appends them to a Redis stream that
``shortlinks.jobs.drain_clicks`` moves to ``clicks``. A postback or pixel can arrive in
between, so a token not in SQL is looked for in the stream (newest first, at most
``STREAM_SCAN_LIMIT`` entries: the drain keeps the stream to the clicks not yet stored),
then in SQL once more, in case the drain stored and trimmed it meanwhile. This needs no
second pass after the drain and no change to the click path; the token is also kept on the
conversion (``click_token``) for tracing.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from interactive.db import column_type
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
# A batch's conversions that happened before their link's (or message's) last click need
# an earlier click: the clicks of such a link are read whole when it has at most this many.
HISTORY_LIMIT = 200


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


# --- click tokens ---------------------------------------------------------------------------


def find_token(session: Session, token: str) -> ClickRef | None:
    """:func:`find_click` with the app's Redis and click stream (needs an app context)."""
    return find_click(session, get_redis(), key(clicks.STREAM), token)


def find_click(
    session: Session, client: redis.Redis | None, stream: str, token: str
) -> ClickRef | None:
    """The click of token ``ic``: from SQL, else from the click stream, else SQL again
    (the drain may have stored it meanwhile). None for a token nobody was given."""
    return find_clicks(session, client, stream, [token]).get(token)


def find_clicks(
    session: Session, client: redis.Redis | None, stream: str, tokens: Iterable[str]
) -> dict[str, ClickRef]:
    """:func:`find_click` for many tokens at once: those found, by token."""
    wanted = set(tokens)
    found = _clicks_in_sql(session, wanted)
    missing = wanted - found.keys()
    if missing and client is not None:
        in_stream = _clicks_in_stream(client, stream, missing)
        found.update(in_stream)
        missing -= in_stream.keys()
        if missing:
            found.update(_clicks_in_sql(session, missing))
    return found


def _clicks_in_sql(session: Session, tokens: set[str]) -> dict[str, ClickRef]:
    found: dict[str, ClickRef] = {}
    for chunk in _chunks(sorted(tokens)):
        rows = session.execute(
            sa.select(Click.token, Click.link_id, Click.clicked_at).where(
                _among(session, Click.token, chunk)
            )
        )
        found.update((token, ClickRef(link_id, clicked_at)) for token, link_id, clicked_at in rows)
    return found


def _previous_id(entry_id: str) -> str | None:
    ms, _, seq = entry_id.partition("-")
    if int(seq or 0) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-18446744073709551615" if int(ms) > 0 else None


def _needle(token: str) -> bytes:
    # Entries are ``clicks.payload``: compact JSON, so the token appears as "k":"<token>"
    # (tokens are URL-safe base64: nothing to escape).
    return json.dumps({"k": token}, separators=(",", ":"))[1:-1].encode()


def _clicks_in_stream(client: redis.Redis, stream: str, tokens: set[str]) -> dict[str, ClickRef]:
    """The tokens' clicks still in the stream, newest first; only a match is parsed."""
    needles = {_needle(token): token for token in tokens}
    found: dict[str, ClickRef] = {}
    newest: str | None = "+"
    scanned = 0
    try:
        while newest is not None and scanned < STREAM_SCAN_LIMIT and len(found) < len(tokens):
            rows: Any = client.xrevrange(stream, max=newest, min="-", count=STREAM_PAGE)
            if not rows:
                break
            for _entry_id, fields in rows:
                raw = fields.get(b"c") or b""
                start = raw.find(b'"k":"')
                end = raw.find(b'"', start + 5)
                token = needles.get(raw[start : end + 1]) if start >= 0 else None
                if token is not None and token not in found:
                    click = json.loads(raw)
                    found[token] = ClickRef(
                        int(click["l"]), datetime.fromtimestamp(float(click["t"]), UTC)
                    )
            scanned += len(rows)
            last = rows[-1][0]
            newest = _previous_id(last.decode() if isinstance(last, bytes) else str(last))
    except redis.RedisError:
        log.warning("click stream unavailable; tokens looked up in SQL only")
    except (KeyError, ValueError, TypeError):
        log.error("unreadable click entry in the stream")
    return found


def _chunks(values: Sequence[Any], size: int = 1000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _among(session: Session, column: Any, values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter, the same text
    for any number of values (the driver converts a statement with many anew each time)."""
    if session.get_bind().dialect.name == "postgresql":
        array = postgresql.ARRAY(column_type(column.expression))
        return column == sa.any_(sa.bindparam(None, list(values), type_=array))
    return column.in_(list(values))


# --- what attribution reads -----------------------------------------------------------------


def _valid_id(value: int | None) -> bool:
    return value is not None and 0 < value < 2**63


def _before(last: datetime | tuple[int, datetime] | None, occurred_at: datetime) -> bool:
    """Whether a conversion at ``occurred_at`` came before the last click ``last`` (a time,
    or a message's (link id, time)) and so needs an earlier one."""
    if isinstance(last, tuple):
        last = last[1]
    return last is not None and last > occurred_at + CLOCK_SKEW


class Facts:
    """The rows attribution reads, kept once read: a batch's at once (:meth:`prefetch`),
    else each when first asked for. Last clicks are prefetched up to the batch's latest
    conversion, and for a conversion that happened before such a click, the link's or
    message's clicks up to then (when there are at most ``HISTORY_LIMIT``); past that, a
    conversion asks SQL itself."""

    def __init__(self, session: Session, history_limit: int = HISTORY_LIMIT) -> None:
        self.session = session
        self.history_limit = history_limit
        self._links: dict[int, Link | None] = {}
        self._messages: dict[int, Message | None] = {}
        self._windows: dict[int | None, timedelta] = {None: ATTRIBUTION_WINDOW}
        self._bound: datetime | None = None
        # link id → its last click up to ``_bound`` (None: no click by then)
        self._link_clicks: dict[int, datetime | None] = {}
        # message id → (link id, time) of the last click on its links up to ``_bound``
        self._message_clicks: dict[int, tuple[int, datetime] | None] = {}
        # link id → the times of its clicks up to ``_bound``, in order
        self._link_history: dict[int, list[datetime]] = {}
        # message id → (time, click id, link id) of the clicks on its links, in order
        self._message_history: dict[int, list[tuple[datetime, int, int]]] = {}
        self._histories: dict[int, _History] = {}

    def link(self, link_id: int) -> Link | None:
        if link_id not in self._links:
            self._links[link_id] = self.session.get(Link, link_id)
        return self._links[link_id]

    def message(self, message_id: int) -> Message | None:
        if message_id not in self._messages:
            self._messages[message_id] = self.session.get(Message, message_id)
        return self._messages[message_id]

    def window(self, campaign_id: int | None) -> timedelta:
        if campaign_id not in self._windows:
            self._load_windows({campaign_id})
        return self._windows.get(campaign_id, ATTRIBUTION_WINDOW)

    def _load_windows(self, campaign_ids: Iterable[int | None]) -> None:
        ids = sorted({c for c in campaign_ids if c is not None and c not in self._windows})
        for chunk in _chunks(ids):
            rows = self.session.execute(
                sa.select(Campaign.id, Campaign.attribution_days).where(
                    _among(self.session, Campaign.id, chunk)
                )
            )
            self._windows.update({cid: timedelta(days=days) for cid, days in rows})
        # A campaign that is gone keeps the default window.
        self._windows.update({c: ATTRIBUTION_WINDOW for c in ids if c not in self._windows})

    def _load(self, model: Any, into: dict[int, Any], ids: Iterable[int]) -> None:
        """Read the rows of ``model`` with these ids into ``into`` (None for a missing one)."""
        for chunk in _chunks(sorted(set(ids) - into.keys())):
            query = sa.select(model).where(_among(self.session, model.id, chunk))
            found = {row.id: row for row in self.session.scalars(query)}
            into.update({i: found.get(i) for i in chunk})

    def _cached(self, occurred_at: datetime) -> bool:
        return self._bound is not None and occurred_at + CLOCK_SKEW <= self._bound

    def last_link_click(self, link_id: int, occurred_at: datetime) -> datetime | None:
        """The time of the link's last click up to the conversion (with the skew)."""
        if self._cached(occurred_at) and link_id in self._link_clicks:
            cached = self._link_clicks[link_id]
            if cached is None or cached <= occurred_at + CLOCK_SKEW:
                return cached
            times = self._link_history.get(link_id)
            if times is not None:
                n = bisect.bisect_right(times, occurred_at + CLOCK_SKEW)
                return times[n - 1] if n else None
        row = _last_click(self.session, Click.link_id == link_id, occurred_at)
        return row[1] if row is not None else None

    def last_message_click(
        self, message_id: int, occurred_at: datetime
    ) -> tuple[int, datetime] | None:
        """(link id, time) of the last click on the message's links up to the conversion."""
        if self._cached(occurred_at) and message_id in self._message_clicks:
            cached = self._message_clicks[message_id]
            if cached is None or cached[1] <= occurred_at + CLOCK_SKEW:
                return cached
            history = self._message_history.get(message_id)
            if history is not None:
                limit = occurred_at + CLOCK_SKEW
                n = bisect.bisect_right(history, limit, key=lambda click: click[0])
                return (history[n - 1][2], history[n - 1][0]) if n else None
        links = sa.select(Link.id).where(Link.message_id == message_id)
        row = _last_click(self.session, Click.link_id.in_(links), occurred_at)
        return (row[0], row[1]) if row is not None else None

    def prefetch(
        self,
        occurred: Iterable[datetime],
        *,
        link_ids: Iterable[int] = (),
        clicked_links: Iterable[tuple[int, datetime]] = (),
        messages: Iterable[tuple[int, datetime]] = (),
    ) -> None:
        """Read the links, messages, windows and last clicks a batch needs, for
        conversions that happened at ``occurred``: ``link_ids`` (clicked links),
        ``clicked_links`` (links named by code, and when: their last clicks too) and
        ``messages`` (message ids, and when)."""
        moments = list(occurred)
        if not moments:
            return
        clicked_links, messages = list(clicked_links), list(messages)
        message_ids = [i for i, _ in messages]
        bound = max(moments) + CLOCK_SKEW
        by_code = sorted({i for i, _ in clicked_links if _valid_id(i)})
        wanted_links = [i for i in (*link_ids, *by_code) if _valid_id(i)]
        wanted_messages = [i for i in message_ids if _valid_id(i)]
        self._load(Link, self._links, wanted_links)
        self._load(Message, self._messages, wanted_messages)
        self._load_windows(
            [link.campaign_id for link in self._links.values() if link is not None]
            + [m.campaign_id for m in self._messages.values() if m is not None]
        )
        self._bound = bound
        self._prefetch_link_clicks(by_code, clicked_links)
        self._prefetch_message_clicks(messages)

    def _prefetch_link_clicks(
        self, link_ids: Sequence[int], wanted: Sequence[tuple[int, datetime]]
    ) -> None:
        assert self._bound is not None
        bound = self._bound
        self._link_clicks, self._link_history = {}, {}
        counts: dict[int, int] = {}
        for chunk in _chunks(link_ids):
            rows = self.session.execute(
                sa.select(Click.link_id, sa.func.max(Click.clicked_at), sa.func.count())
                .where(_among(self.session, Click.link_id, chunk), Click.clicked_at <= bound)
                .group_by(Click.link_id)
            )
            self._link_clicks.update({i: None for i in chunk})
            for link_id, clicked_at, count in rows:
                self._link_clicks[link_id] = clicked_at
                counts[link_id] = count
        for chunk in _chunks(self._earlier(wanted, self._link_clicks, counts)):
            history: dict[int, list[datetime]] = {i: [] for i in chunk}
            for link_id, clicked_at in self.session.execute(
                sa.select(Click.link_id, Click.clicked_at).where(
                    _among(self.session, Click.link_id, chunk), Click.clicked_at <= bound
                )
            ):
                history[link_id].append(clicked_at)
            for times in history.values():
                times.sort()
            self._link_history.update(history)

    def _earlier(
        self,
        wanted: Sequence[tuple[int, datetime]],
        last: Mapping[int, datetime | tuple[int, datetime] | None],
        counts: Mapping[int, int],
    ) -> list[int]:
        """The links or messages with a conversion before their last click, whose clicks
        are few enough to read whole."""
        return sorted(
            {
                i
                for i, at in wanted
                if _before(last.get(i), at) and counts.get(i, 0) <= self.history_limit
            }
        )

    def _prefetch_message_clicks(self, wanted: Sequence[tuple[int, datetime]]) -> None:
        assert self._bound is not None
        bound = self._bound
        self._message_clicks, self._message_history = {}, {}
        counts: dict[int, int] = {}
        message_ids = sorted({i for i, _ in wanted} & self._messages.keys())
        for chunk in _chunks(message_ids):
            message_rows = self.session.execute(
                sa.select(
                    Link.message_id, Click.link_id, sa.func.max(Click.clicked_at), sa.func.count()
                )
                .select_from(Click)
                .join(Link, Link.id == Click.link_id)
                .where(_among(self.session, Link.message_id, chunk), Click.clicked_at <= bound)
                .group_by(Link.message_id, Click.link_id)
            )
            self._message_clicks.update({i: None for i in chunk})
            for message_id, link_id, clicked_at, count in message_rows:
                if message_id is None:
                    continue
                counts[message_id] = counts.get(message_id, 0) + count
                known = self._message_clicks.get(message_id)
                if known is None or (clicked_at, link_id) > (known[1], known[0]):
                    self._message_clicks[message_id] = (link_id, clicked_at)
        for chunk in _chunks(self._earlier(wanted, self._message_clicks, counts)):
            history: dict[int, list[tuple[datetime, int, int]]] = {i: [] for i in chunk}
            for message_id, clicked_at, click_id, link_id in self.session.execute(
                sa.select(Link.message_id, Click.clicked_at, Click.id, Click.link_id)
                .select_from(Click)
                .join(Link, Link.id == Click.link_id)
                .where(_among(self.session, Link.message_id, chunk), Click.clicked_at <= bound)
            ):
                if message_id is not None:
                    history[message_id].append((clicked_at, click_id, link_id))
            for clicks_of in history.values():
                clicks_of.sort()
            self._message_history.update(history)

    def history(self, contact_id: int, occurred_at: datetime) -> _History:
        """The contact's campaign clicks and messages a conversion at ``occurred_at``
        may follow (and maybe more)."""
        known = self._histories.get(contact_id)
        if known is None or not known.covers(occurred_at):
            self.prefetch_contacts([(contact_id, occurred_at)])
        return self._histories[contact_id]

    def prefetch_contacts(self, wanted: Sequence[tuple[int, datetime]]) -> None:
        """Read the histories of contacts with conversions at the given times, and the
        links and windows their attribution will ask for."""
        if not wanted:
            return
        ids = sorted({contact_id for contact_id, _ in wanted})
        earliest = min(t for _, t in wanted) - MAX_WINDOW
        latest = max(t for _, t in wanted) + CLOCK_SKEW
        histories = {i: _History(earliest, latest) for i in ids}
        for chunk in _chunks(ids):
            # Through the contact's messages: messages.contact_id, links.message_id and
            # clicks (link_id, clicked_at) are indexed; clicks.contact_id is not.
            clicks = self.session.execute(
                sa.select(
                    Message.contact_id, Click.clicked_at, Click.id, Click.link_id, Click.campaign_id
                )
                .select_from(Click)
                .join(Link, Link.id == Click.link_id)
                .join(Message, Message.id == Link.message_id)
                .where(
                    _among(self.session, Message.contact_id, chunk),
                    Message.campaign_id.is_not(None),
                    Click.kind == ClickKind.HUMAN,
                    Click.clicked_at.between(earliest, latest),
                )
            )
            for contact_id, clicked_at, click_id, link_id, campaign_id in clicks:
                if contact_id is not None:
                    touch = _Touch(clicked_at, click_id, link_id, campaign_id)
                    histories[contact_id].clicks.append(touch)
            messages = self.session.execute(
                sa.select(
                    Message.contact_id,
                    Message.submitted_at,
                    Message.id,
                    Message.campaign_id,
                    Message.variant_id,
                ).where(
                    _among(self.session, Message.contact_id, chunk),
                    Message.campaign_id.is_not(None),
                    Message.submitted_at.between(earliest, latest),
                )
            )
            for contact_id, submitted_at, message_id, campaign_id, variant_id in messages:
                if contact_id is not None and submitted_at is not None:
                    touch = _Touch(submitted_at, message_id, variant_id, campaign_id)
                    histories[contact_id].messages.append(touch)
        for history in histories.values():
            history.clicks.sort(reverse=True)
            history.messages.sort(reverse=True)
        self._histories.update(histories)
        self._load_windows(
            t.campaign_id for h in histories.values() for t in (*h.clicks, *h.messages)
        )
        picked = (self._picked_click(histories[c], t) for c, t in wanted)
        link_ids = {p.link_or_variant for p in picked if p is not None}
        self._load(Link, self._links, [i for i in link_ids if i is not None])

    def _picked_click(self, history: _History, occurred_at: datetime) -> _Touch | None:
        """The last click within its campaign's window (its link is read later)."""
        for click in history.candidates(history.clicks, occurred_at):
            if _within(click.at, occurred_at, self.window(click.campaign_id)):
                return click
        return None


@dataclass(frozen=True, slots=True, order=True)
class _Touch:
    """A click (``link_or_variant``: its link) or a campaign message (its variant)."""

    at: datetime
    id: int
    link_or_variant: int | None
    campaign_id: int | None


@dataclass(slots=True)
class _History:
    """A contact's campaign clicks and messages from ``earliest`` to ``latest``, newest
    first."""

    earliest: datetime
    latest: datetime
    clicks: list[_Touch] = field(default_factory=list)
    messages: list[_Touch] = field(default_factory=list)

    def covers(self, occurred_at: datetime) -> bool:
        return self.earliest <= occurred_at - MAX_WINDOW and occurred_at + CLOCK_SKEW <= self.latest

    @staticmethod
    def candidates(touches: list[_Touch], occurred_at: datetime) -> list[_Touch]:
        """The newest ``PHONE_CANDIDATES`` from the longest window before the conversion
        to just after it (the clock skew)."""
        earliest, latest = occurred_at - MAX_WINDOW, occurred_at + CLOCK_SKEW
        inside = (t for t in touches if earliest <= t.at <= latest)
        return list(itertools.islice(inside, PHONE_CANDIDATES))


def window_of(session: Session, campaign_id: int | None) -> timedelta:
    return Facts(session).window(campaign_id)


# --- attribution ----------------------------------------------------------------------------


def _link_attribution(link: Link) -> Attribution:
    return Attribution(
        contact_id=link.contact_id,
        campaign_id=link.campaign_id,
        variant_id=link.variant_id,
        message_id=link.message_id,
        link_id=link.id,
    )


def by_click(facts: Facts, click: ClickRef, occurred_at: datetime) -> Attribution:
    """A conversion that names its click: the click's link when within the window."""
    link = facts.link(click.link_id)
    if link is None:
        return NONE
    if not _within(click.clicked_at, occurred_at, facts.window(link.campaign_id)):
        return Attribution(contact_id=link.contact_id)
    return _link_attribution(link)


def _last_click(session: Session, which: sa.ColumnElement[bool], occurred_at: datetime) -> Any:
    return session.execute(
        sa.select(Click.link_id, Click.clicked_at)
        .where(which, Click.clicked_at <= occurred_at + CLOCK_SKEW)
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .limit(1)
    ).first()


def by_link(facts: Facts, link_id: int, link_secret: int, occurred_at: datetime) -> Attribution:
    """A conversion that names a link code (already decoded)."""
    link = facts.link(link_id) if _valid_id(link_id) else None
    if link is None or link.secret != link_secret:
        return NONE
    clicked_at = facts.last_link_click(link.id, occurred_at)
    reference = clicked_at if clicked_at is not None else link.created_at
    if not _within(reference, occurred_at, facts.window(link.campaign_id)):
        return Attribution(contact_id=link.contact_id)
    return _link_attribution(link)


def by_message(facts: Facts, message_id: int, occurred_at: datetime) -> Attribution:
    """A conversion that names an outbound message."""
    message = facts.message(message_id) if _valid_id(message_id) else None
    if message is None:
        return NONE
    click = facts.last_message_click(message.id, occurred_at)
    reference = click[1] if click is not None else (message.submitted_at or message.created_at)
    if not _within(reference, occurred_at, facts.window(message.campaign_id)):
        return Attribution(contact_id=message.contact_id)
    return Attribution(
        contact_id=message.contact_id,
        campaign_id=message.campaign_id,
        variant_id=message.variant_id,
        message_id=message.id,
        link_id=click[0] if click is not None else None,
    )


def by_contact(facts: Facts, contact_id: int, occurred_at: datetime) -> Attribution:
    """A conversion that names a contact (by phone): its last human click on a campaign
    link within that campaign's window, else its latest campaign message submitted within
    its campaign's window (looking at the newest ``PHONE_CANDIDATES`` of each)."""
    history = facts.history(contact_id, occurred_at)
    for click in history.candidates(history.clicks, occurred_at):
        if _within(click.at, occurred_at, facts.window(click.campaign_id)):
            link = facts.link(click.link_or_variant) if click.link_or_variant else None
            if link is not None:
                return _link_attribution(link)
    for message in history.candidates(history.messages, occurred_at):
        if _within(message.at, occurred_at, facts.window(message.campaign_id)):
            return Attribution(
                contact_id=contact_id,
                campaign_id=message.campaign_id,
                variant_id=message.link_or_variant,
                message_id=message.id,
            )
    return Attribution(contact_id=contact_id)


@dataclass(frozen=True, slots=True)
class Named:
    """What a conversion names, for :func:`attribute_many`."""

    occurred_at: datetime
    token: str | None = None
    link: tuple[int, int] | None = None  # (link id, link secret), decoded from a code
    message_id: int | None = None
    contact_id: int | None = None


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
    return _attribute(Facts(session), occurred_at, click, link, message_id, contact_id)


def attribute_many(
    session: Session,
    client: redis.Redis | None,
    stream: str,
    named: Sequence[Named],
    *,
    history_limit: int = HISTORY_LIMIT,
) -> list[Attribution]:
    """:func:`attribute` for a batch, in order; click tokens are found as by
    :func:`find_clicks` (SQL, then the click stream ``stream``)."""
    tokens = {n.token for n in named if n.token}
    found = find_clicks(session, client, stream, tokens) if tokens else {}
    facts = Facts(session, history_limit)
    facts.prefetch_contacts(
        [(n.contact_id, n.occurred_at) for n in named if n.contact_id is not None]
    )
    facts.prefetch(
        (n.occurred_at for n in named),
        link_ids=[c.link_id for c in found.values()],
        clicked_links=[(n.link[0], n.occurred_at) for n in named if n.link is not None],
        messages=[(n.message_id, n.occurred_at) for n in named if n.message_id is not None],
    )
    return [
        _attribute(
            facts,
            n.occurred_at,
            found.get(n.token) if n.token else None,
            n.link,
            n.message_id,
            n.contact_id,
        )
        for n in named
    ]


def _attribute(
    facts: Facts,
    occurred_at: datetime,
    click: ClickRef | None,
    link: tuple[int, int] | None,
    message_id: int | None,
    contact_id: int | None,
) -> Attribution:
    candidates: list[Attribution] = []
    if click is not None:
        candidates.append(by_click(facts, click, occurred_at))
    if link is not None and not _done(candidates):
        candidates.append(by_link(facts, *link, occurred_at))
    if message_id is not None and not _done(candidates):
        candidates.append(by_message(facts, message_id, occurred_at))
    if contact_id is not None and not _done(candidates):
        candidates.append(by_contact(facts, contact_id, occurred_at))
    for candidate in candidates:
        if candidate.attributed:
            return candidate
    return next((c for c in candidates if c.contact_id is not None), NONE)


def _done(candidates: list[Attribution]) -> bool:
    return any(c.attributed for c in candidates)
