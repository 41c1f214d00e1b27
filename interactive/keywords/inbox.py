"""The inbox: threads of inbound messages that the reservation desk and support work.

Every inbound message lands in the thread of its number and short code (the router keeps
``Thread``); this module lists threads (filters, search, newest first, keyset pages),
shows a thread's conversation (its inbound messages and every outbound message to the
number, merged by time), the contact's consent and suppression, and lets a person read,
assign, close, reopen and answer. Services flush, never commit.

Replies are answers to the customer: within 24 hours of the customer's last message they
go as transactional traffic (an opt-out does not stop the answer to what the customer just
asked); later they go as informational traffic, which an opt-out or a failing number stops,
so the reply is refused then. An erased or blocked number gets nothing at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import redis
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.contacts import service as contacts
from interactive.contacts import suppression
from interactive.contacts.models import (
    Brand,
    ConsentState,
    ConsentStatus,
    Contact,
    SuppressionReason,
)
from interactive.db import utcnow
from interactive.keywords.models import (
    Decision,
    InboundMessage,
    QuickReply,
    ShortCode,
    Thread,
    ThreadState,
)
from interactive.outbound import rendering
from interactive.outbound import service as outbound
from interactive.outbound.models import Message, PartState, Traffic
from interactive.web.models import ROLE_PERMISSIONS, Permission, User

log = logging.getLogger(__name__)

#: A reply this soon after the customer's last message answers it (transactional traffic).
REPLY_WINDOW = timedelta(hours=24)
#: Decisions that wait for a person ("unmatched" in the inbox).
UNMATCHED = (Decision.INBOX, Decision.REVIEW)
PAGE_SIZE = 50
CONVERSATION_LIMIT = 200
MAX_REPLY = 1600
MAX_BIG_ID = 2**63 - 1

ERRORS: dict[str, Any] = {
    "empty": _l("Write a reply first."),
    "too_long": _l("A reply can be at most 1600 characters long."),
    "not_a_number": _l("This sender is not a phone number: it cannot be answered."),
    "erased": _l("This number was erased at its owner's request: nothing can be sent to it."),
    "blocked": _l("This number is blocked: nothing can be sent to it."),
    "opted_out": _l(
        "This number opted out and the customer's last message is more than 24 hours old: "
        "a reply can no longer be sent."
    ),
    "failing": _l(
        "This number fails permanently and the customer's last message is more than 24 hours "
        "old: a reply can no longer be sent."
    ),
    "not_assignable": _l("This user cannot work the inbox."),
    "not_in_review": _l("This message is not waiting for review."),
    "title_required": _l("Give the quick reply a title (at most 80 characters)."),
    "body_required": _l("Write the text of the quick reply (at most 1600 characters)."),
    "bad_cursor": _l("This page link is not valid."),
}


class InboxError(Exception):
    """A refused action: ``code`` is stable (API clients branch on it), ``message`` is for
    people (translated when shown)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def message(self) -> str:
        return str(ERRORS.get(self.code, self.code))


# --- Listing threads ------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadFilter:
    """What the thread list shows. ``assigned_to_id`` is "assigned to me" for the caller."""

    unmatched: bool = False
    rule_id: int | None = None
    campaign_id: int | None = None
    assigned_to_id: int | None = None
    state: ThreadState | None = None
    query: str = ""


@dataclass(frozen=True)
class ThreadRow:
    thread: Thread
    contact_name: str
    assigned_name: str


@dataclass(frozen=True)
class ThreadPage:
    rows: list[ThreadRow]
    next_cursor: str | None


_CURSOR = re.compile(r"^([0-9]{1,18})\.([0-9]{1,19})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)
_NUMBER_LIKE = re.compile(r"^\+?[0-9][0-9 ()-]*$")


def encode_cursor(at: datetime, row_id: int) -> str:
    """A position in a newest-first list: microseconds since the epoch and the id."""
    delta = at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{row_id}"


def decode_cursor(text: str) -> tuple[datetime, int]:
    """The position ``encode_cursor`` made; InboxError("bad_cursor") for text of another
    shape. Positions past the calendar or the largest id mean "from the newest"."""
    match = _CURSOR.match(text)
    if match is None:
        raise InboxError("bad_cursor")
    try:
        at = min(_EPOCH + timedelta(microseconds=int(match.group(1))), _LATEST)
    except OverflowError:
        at = _LATEST
    return at, min(int(match.group(2)), MAX_BIG_ID)


def _search_condition(text: str, region: str) -> sa.ColumnElement[bool]:
    """A number prefix ("0532", "+90532"), a contact's name, or words of a message."""
    in_text = sa.exists().where(
        InboundMessage.thread_id == Thread.id,
        InboundMessage.text.icontains(text, autoescape=True),
    )
    digits = re.sub(r"\D", "", text)
    if _NUMBER_LIKE.match(text) and len(digits) >= 3:
        prefix = contacts.number_prefix(text, region)
        upper = _next_digits(prefix[1:])
        by_number = Thread.phone >= prefix
        if upper is not None:
            by_number = sa.and_(by_number, Thread.phone < "+" + upper)
        # Senders that are not numbers (kept as sent) match by their beginning.
        return sa.or_(by_number, Thread.phone.startswith(digits, autoescape=True), in_text)
    if "\U0010ffff" in text:
        # Name ranges end at the next code point; the last one has none.
        return in_text
    named = sa.select(Contact.id).where(contacts.name_condition(text))
    return sa.or_(Thread.contact_id.in_(named), in_text)


def _next_digits(digits: str) -> str | None:
    stripped = digits.rstrip("9")
    if not stripped:
        return None
    return stripped[:-1] + str(int(stripped[-1]) + 1)


def thread_conditions(filters: ThreadFilter, region: str) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.unmatched:
        conditions.append(Thread.last_decision.in_(UNMATCHED))
    if filters.state is not None:
        conditions.append(Thread.state == filters.state)
    if filters.assigned_to_id is not None:
        conditions.append(Thread.assigned_to_id == filters.assigned_to_id)
    if filters.rule_id is not None:
        conditions.append(
            Thread.id.in_(
                sa.select(InboundMessage.thread_id).where(InboundMessage.rule_id == filters.rule_id)
            )
        )
    if filters.campaign_id is not None:
        conditions.append(
            Thread.id.in_(
                sa.select(InboundMessage.thread_id).where(
                    InboundMessage.campaign_id == filters.campaign_id
                )
            )
        )
    query = filters.query.replace("\x00", "").strip()[:100]
    if query:
        conditions.append(_search_condition(query, region))
    return conditions


def list_threads(
    session: Session,
    filters: ThreadFilter,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    region: str = "TR",
) -> ThreadPage:
    """Threads matching ``filters``, the latest message first, ``limit`` at a time from
    ``cursor`` (the ``next_cursor`` of the page before). Reads only."""
    query = (
        sa.select(Thread, Contact.first_name, Contact.last_name, User.name, User.email)
        .outerjoin(Contact, Contact.id == Thread.contact_id)
        .outerjoin(User, User.id == Thread.assigned_to_id)
        .where(*thread_conditions(filters, region))
        .order_by(Thread.last_message_at.desc(), Thread.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        at, row_id = decode_cursor(cursor)
        query = query.where(
            sa.or_(
                Thread.last_message_at < at,
                sa.and_(Thread.last_message_at == at, Thread.id < row_id),
            )
        )
    rows = [
        ThreadRow(
            thread,
            " ".join(p for p in (first, last) if p),
            user_name or user_email or "",
        )
        for thread, first, last, user_name, user_email in session.execute(query)
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    last_thread = rows[-1].thread if rows else None
    next_cursor = (
        encode_cursor(last_thread.last_message_at, last_thread.id)
        if more and last_thread is not None
        else None
    )
    return ThreadPage(rows, next_cursor)


@dataclass(frozen=True)
class UnreadCounts:
    """Threads with unread messages: all of them, the unmatched ones, the caller's."""

    total: int = 0
    unmatched: int = 0
    mine: int = 0


def unread_counts(session: Session, user_id: int | None = None) -> UnreadCounts:
    """How many threads have messages nobody read yet (one query). Reads only."""
    mine = (
        sa.func.sum(sa.case((Thread.assigned_to_id == user_id, 1), else_=0))
        if user_id is not None
        else sa.literal(0)
    )
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((Thread.last_decision.in_(UNMATCHED), 1), else_=0)),
            mine,
        ).where(Thread.unread > 0)
    ).one()
    return UnreadCounts(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def get_thread(session: Session, thread_id: int, *, lock: bool = False) -> Thread | None:
    if not 0 < thread_id <= MAX_BIG_ID:
        return None
    return session.get(Thread, thread_id, with_for_update=lock)


# --- One thread -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One message of a conversation: ``kind`` "in" (from the customer) or "out" (to)."""

    kind: Literal["in", "out"]
    id: int
    at: datetime
    text: str
    decision: Decision | None = None
    reason: str = ""
    state: PartState | None = None
    traffic: Traffic | None = None
    parts: int = 1
    encoding: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"


def _inbound_entry(m: InboundMessage) -> Entry:
    return Entry("in", m.id, m.received_at, m.text, m.decision, m.reason or "", parts=m.parts_count)


def _outbound_entry(m: Message) -> Entry:
    return Entry(
        "out",
        m.id,
        m.created_at,
        m.body,
        state=m.state,
        traffic=m.traffic,
        parts=m.parts_count,
        encoding=m.encoding,
    )


def conversation(
    session: Session,
    thread: Thread,
    *,
    limit: int = CONVERSATION_LIMIT,
    before: datetime | None = None,
) -> list[Entry]:
    """The latest ``limit`` messages of a thread (older than ``before`` when given), oldest
    first: its inbound messages and every outbound message to its number (campaigns, the
    router's replies, the desk's answers). Reads only."""
    inbound = sa.select(InboundMessage).where(InboundMessage.thread_id == thread.id)
    sent = sa.select(Message).where(Message.destination.in_(contacts.phone_forms(thread.phone)))
    if before is not None:
        inbound = inbound.where(InboundMessage.received_at < before)
        sent = sent.where(Message.created_at < before)
    entries = [
        _inbound_entry(m)
        for m in session.scalars(
            inbound.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(
                limit
            )
        )
    ]
    entries += [
        _outbound_entry(m)
        for m in session.scalars(
            sent.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
        )
    ]
    entries.sort(key=lambda e: (e.at, e.kind == "out", e.id))
    return entries[-limit:]


@dataclass(frozen=True)
class ConsentRow:
    brand_id: int
    brand_name: str
    channel: str
    status: ConsentStatus
    at: datetime


@dataclass(frozen=True)
class ReplyPolicy:
    """How a reply would go now: its traffic, or the code of why it cannot."""

    traffic: Traffic | None
    refusal: str | None
    window_ends_at: datetime | None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def message(self) -> str:
        return str(ERRORS[self.refusal]) if self.refusal else ""


@dataclass(frozen=True)
class Summary:
    """Who the thread is with: the contact (if any), consent per brand, suppression."""

    contact: Contact | None
    brand: Brand | None  # the short code's brand
    consent: list[ConsentRow] = field(default_factory=list)
    suppressed: list[SuppressionReason] = field(default_factory=list)
    policy: ReplyPolicy | None = None

    @property
    def brand_consent(self) -> ConsentStatus | None:
        for row in self.consent:
            if self.brand is not None and row.brand_id == self.brand.id:
                return row.status
        return None


def short_code_of(session: Session, thread: Thread) -> ShortCode | None:
    return session.scalar(sa.select(ShortCode).where(ShortCode.code == thread.short_code))


def summary(session: Session, thread: Thread, *, now: datetime | None = None) -> Summary:
    """The contact, its current consent for every brand, why the number is suppressed,
    and how a reply would go now. Reads only."""
    contact = session.get(Contact, thread.contact_id) if thread.contact_id is not None else None
    code = short_code_of(session, thread)
    brand = session.get(Brand, code.brand_id) if code is not None and code.brand_id else None
    consent: list[ConsentRow] = []
    if contact is not None:
        query = (
            sa.select(ConsentState, Brand.name)
            .join(Brand, Brand.id == ConsentState.brand_id)
            .where(ConsentState.contact_id == contact.id)
            .order_by(Brand.name, ConsentState.channel)
        )
        consent = [
            ConsentRow(s.brand_id, name, s.channel.value, s.status, s.consent_at)
            for s, name in session.execute(query)
        ]
    reasons = suppression.suppressed(session, [thread.phone]).get(thread.phone, [])
    return Summary(
        contact,
        brand,
        consent,
        sorted(set(reasons)),
        _policy(thread, reasons, now or utcnow()),
    )


def reply_policy(session: Session, thread: Thread, *, now: datetime | None = None) -> ReplyPolicy:
    """How a reply to this thread would go now (see the module's docstring). Reads only."""
    reasons = suppression.suppressed(session, [thread.phone]).get(thread.phone, [])
    return _policy(thread, reasons, now or utcnow())


def _policy(thread: Thread, reasons: Sequence[SuppressionReason], now: datetime) -> ReplyPolicy:
    ends = thread.last_inbound_at + REPLY_WINDOW if thread.last_inbound_at else None
    in_window = ends is not None and now < ends
    refusal = None
    if not rendering.is_e164(thread.phone):
        refusal = "not_a_number"
    elif SuppressionReason.ERASED in reasons:
        refusal = "erased"
    elif SuppressionReason.MANUAL in reasons:
        refusal = "blocked"
    elif not in_window and SuppressionReason.OPTED_OUT in reasons:
        refusal = "opted_out"
    elif not in_window and SuppressionReason.FAILED in reasons:
        # Within the window the number has just reached us: it is not failing.
        refusal = "failing"
    if refusal is not None:
        return ReplyPolicy(None, refusal, ends if in_window else None)
    traffic = Traffic.TRANSACTIONAL if in_window else Traffic.INFORMATIONAL
    return ReplyPolicy(traffic, None, ends if in_window else None)


# --- Acting on a thread ---------------------------------------------------------------------


def mark_read(session: Session, thread: Thread) -> None:
    """Nothing left unread in the thread (flushes; idempotent)."""
    if thread.unread:
        thread.unread = 0
        session.flush()


def inbox_users(session: Session) -> list[User]:
    """Active users whose role works the inbox (who a thread can be assigned to)."""
    roles = [role for role, allowed in ROLE_PERMISSIONS.items() if Permission.INBOX in allowed]
    query = sa.select(User).where(User.active.is_(True), User.role.in_(roles)).order_by(User.name)
    return list(session.scalars(query))


def assign(session: Session, thread: Thread, user_id: int | None) -> None:
    """Give the thread to a user who works the inbox (None: to nobody). Flushes."""
    if user_id is not None:
        user = session.get(User, user_id) if 0 < user_id <= 2**31 - 1 else None
        if user is None or not user.active or not user.can(Permission.INBOX):
            raise InboxError("not_assignable")
    thread.assigned_to_id = user_id
    session.flush()


def close(session: Session, thread: Thread) -> None:
    """Done with: closed and read. A new message for a person opens it again. Flushes."""
    thread.state = ThreadState.CLOSED
    thread.unread = 0
    session.flush()


def reopen(session: Session, thread: Thread) -> None:
    thread.state = ThreadState.OPEN
    session.flush()


def reply(
    session: Session,
    client: redis.Redis,
    prefix: str,
    thread: Thread,
    text: str,
    *,
    by: str,
    connections: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Message:
    """Queue ``text`` to the thread's number from its short code over the short code's
    connection (published to the gateway after commit); flushes. The thread becomes read
    and its latest message is this one. InboxError when the text is empty or too long, or
    when the number may not get it (see ``reply_policy``). Not idempotent: each call
    queues a message."""
    body = text.replace("\x00", "").strip()
    if not body:
        raise InboxError("empty")
    if len(body) > MAX_REPLY:
        raise InboxError("too_long")
    now = now or utcnow()
    policy = reply_policy(session, thread, now=now)
    if policy.refusal is not None or policy.traffic is None:
        raise InboxError(policy.refusal or "blocked")
    code = short_code_of(session, thread)
    connection = code.connection if code is not None else _last_connection(session, thread)
    route = (connections or {}).get(connection)
    message = outbound.queue_message(
        session,
        client,
        prefix,
        connection=connection,
        source=thread.short_code,
        destination=thread.phone,
        body=body,
        traffic=policy.traffic,
        turkish_shift=bool(getattr(route, "turkish_shift", False)),
        contact_id=thread.contact_id,
    )
    thread.last_message_at = max(thread.last_message_at, message.created_at)
    thread.last_text = body[:200]
    thread.unread = 0
    session.flush()
    log.info(
        "inbox reply thread=%s message=%s traffic=%s by=%s",
        thread.id,
        message.id,
        policy.traffic.value,
        by,
    )
    return message


def _last_connection(session: Session, thread: Thread) -> str:
    found = session.scalar(
        sa.select(InboundMessage.connection)
        .where(InboundMessage.thread_id == thread.id)
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )
    return found or ""


def review_message(session: Session, thread: Thread, message_id: int) -> InboundMessage:
    """An inbound message of this thread that waits for review; InboxError otherwise."""
    message = session.get(InboundMessage, message_id) if 0 < message_id <= MAX_BIG_ID else None
    if message is None or message.thread_id != thread.id or message.decision != Decision.REVIEW:
        raise InboxError("not_in_review")
    return message


# --- Inbound messages (the API and exports) -------------------------------------------------


@dataclass(frozen=True)
class InboundFilter:
    decision: Decision | None = None
    unmatched: bool = False
    thread_id: int | None = None
    rule_id: int | None = None
    campaign_id: int | None = None


def inbound_query(filters: InboundFilter) -> sa.Select[InboundMessage]:
    query = sa.select(InboundMessage)
    if filters.decision is not None:
        query = query.where(InboundMessage.decision == filters.decision)
    if filters.unmatched:
        query = query.where(InboundMessage.decision.in_(UNMATCHED))
    if filters.thread_id is not None:
        query = query.where(InboundMessage.thread_id == filters.thread_id)
    if filters.rule_id is not None:
        query = query.where(InboundMessage.rule_id == filters.rule_id)
    if filters.campaign_id is not None:
        query = query.where(InboundMessage.campaign_id == filters.campaign_id)
    return query


def list_inbound(
    session: Session, filters: InboundFilter, *, after: int = 0, limit: int = PAGE_SIZE
) -> list[InboundMessage]:
    """Inbound messages by id (oldest first) after ``after``: ``limit + 1`` rows at most,
    so the caller sees whether there is a next page. Reads only."""
    query = (
        inbound_query(filters)
        .where(InboundMessage.id > after)
        .order_by(InboundMessage.id)
        .limit(limit + 1)
    )
    return list(session.scalars(query))


def iter_inbound(
    session: Session, filters: InboundFilter, *, chunk: int = 1000
) -> Iterator[InboundMessage]:
    """Every inbound message matching ``filters``, newest first, read in chunks."""
    before: int | None = None
    while True:
        query = inbound_query(filters).order_by(InboundMessage.id.desc()).limit(chunk)
        if before is not None:
            query = query.where(InboundMessage.id < before)
        rows = list(session.scalars(query))
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1].id


# --- Quick replies --------------------------------------------------------------------------


def quick_replies(session: Session) -> list[QuickReply]:
    return list(session.scalars(sa.select(QuickReply).order_by(QuickReply.title, QuickReply.id)))


def _checked(title: str, body: str) -> tuple[str, str]:
    title, body = title.replace("\x00", "").strip(), body.replace("\x00", "").strip()
    if not title or len(title) > 80:
        raise InboxError("title_required")
    if not body or len(body) > MAX_REPLY:
        raise InboxError("body_required")
    return title, body


def create_quick_reply(session: Session, title: str, body: str) -> QuickReply:
    """A new canned answer (flushes)."""
    title, body = _checked(title, body)
    quick = QuickReply(title=title, body=body)
    session.add(quick)
    session.flush()
    return quick


def update_quick_reply(session: Session, quick: QuickReply, title: str, body: str) -> None:
    quick.title, quick.body = _checked(title, body)
    session.flush()


def delete_quick_reply(session: Session, quick: QuickReply) -> None:
    session.delete(quick)
    session.flush()
