"""The router's reads and writes for a batch of inbound messages.

Each statement is built once per dialect, with the batch's values as parameters
(``in_values``, ``unnest_rows``): building a statement costs a router about as much as
running it. A batch costs a few round trips whatever its size: the messages with their
senders' contacts; what they reply to together with the conversations their senders are
in (``lookups_query``); and at the end the threads and routing columns together (one
statement on PostgreSQL).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from interactive.contacts.models import Contact
from interactive.db import array_params, bulk_update, in_values, unnest_rows
from interactive.keywords import conversations
from interactive.keywords.models import Decision, InboundMessage, Thread, ThreadState
from interactive.outbound import service as outbound
from interactive.outbound.models import Message

#: Decisions that need a person: they count as unread and reopen a closed thread.
FOR_PEOPLE = frozenset({Decision.INBOX, Decision.REVIEW})

#: The columns routing writes on an inbound message (``write_routing``).
ROUTING_COLUMNS = (
    "phone",
    "contact_id",
    "thread_id",
    "decision",
    "reason",
    "rule_id",
    "routed_at",
    "reply_to_id",
    "campaign_id",
    "variant_id",
)

#: The columns of a thread the router writes.
THREAD_COLUMNS = (
    "phone",
    "short_code",
    "contact_id",
    "state",
    "unread",
    "created_at",
    "last_text",
    "last_decision",
    "last_message_at",
    "last_inbound_at",
)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def plain_phone(source: str) -> str:
    """The E.164 spelling SQL gives the sender's number (``'+' || ltrim(source, '+')``),
    which the contact is looked up by in ``unrouted``."""
    return "+" + source.lstrip("+")


def unrouted(
    session: Session, message_ids: Sequence[int]
) -> list[tuple[InboundMessage, Contact | None]]:
    """The messages among these not routed yet, locked for this transaction (on
    PostgreSQL those another router holds are skipped: that router routes them), each
    with the contact of ``plain_phone(source)`` if there is one (the contact is not
    locked)."""
    query = _unrouted_query(dialect_of(session))
    rows = session.execute(query, {"ids": list(message_ids)})
    return [(message, contact) for message, contact in rows]


def contacts_of(session: Session, phones: Sequence[str]) -> dict[str, Contact]:
    """The contacts of these numbers, by number."""
    if not phones:
        return {}
    query = _contacts_query(dialect_of(session))
    return {c.phone: c for c in session.scalars(query, {"phones": sorted(set(phones))})}


@functools.cache
def _unrouted_query(dialect: str) -> sa.Select[InboundMessage, Contact]:
    sender = sa.literal("+") + sa.func.ltrim(InboundMessage.source, "+")
    query = (
        sa.select(InboundMessage, Contact)
        .outerjoin(Contact, Contact.phone == sender)
        .where(
            in_values(InboundMessage.id, "ids", dialect),
            InboundMessage.routed_at.is_(None),
        )
        .order_by(InboundMessage.id)
    )
    if dialect == "postgresql":
        return query.with_for_update(skip_locked=True, of=InboundMessage)
    return query


@functools.cache
def _contacts_query(dialect: str) -> sa.Select[Contact]:
    return sa.select(Contact).where(in_values(Contact.phone, "phones", dialect))


@functools.cache
def sent_query(dialect: str) -> sa.Select[int, str, datetime, int | None, int | None]:
    """Messages sent to any of the numbers ``forms`` between ``since`` and ``until``."""
    columns = (
        Message.id,
        Message.destination,
        Message.created_at,
        Message.campaign_id,
        Message.variant_id,
    )
    window = (
        Message.created_at >= sa.bindparam("since"),
        Message.created_at <= sa.bindparam("until"),
    )
    if dialect != "postgresql":
        return sa.select(*columns).where(
            Message.destination.in_(sa.bindparam("forms", expanding=True)), *window
        )
    # One probe of the destination + created_at index per number, whatever the table's
    # statistics and the plan kept for the prepared statement: with ``destination IN
    # (…)`` a table not analysed yet (a new database taking its first thousands of MOs)
    # is scanned whole for every batch. OFFSET 0 keeps the planner from flattening the
    # subquery into a join over such a scan.
    forms = (
        sa.func.unnest(sa.bindparam("forms", type_=postgresql.ARRAY(sa.String)))
        .table_valued("form")
        .render_derived(name="given")
    )
    sent = (
        sa.select(*columns)
        .where(Message.destination == forms.c.form, *window)
        .offset(0)
        .lateral("sent")
    )
    return sa.select(*(sent.c[c.key] for c in columns)).join_from(forms, sent, sa.true())


#: The kind of a ``lookups_query`` row that is a message sent (the others are named after
#: the conversation provider in touch with the sender).
SENT = "=sent"


@functools.lru_cache(maxsize=16)
def lookups_query(dialect: str, providers: tuple[conversations.InTouch, ...]) -> sa.Select[Any]:
    """What the batch's messages may reply to (``sent_query``) and which conversations
    their senders are in (``conversations.in_touch_query``), in one statement: rows of
    (kind, id, phone, created_at, campaign_id, variant_id, short_code), kind ``SENT`` for
    a message sent (phone is its destination) and the provider's name for a conversation
    (phone and short code set)."""
    sent = sent_query(dialect).subquery()
    parts: list[sa.Select[Any]] = [
        sa.select(
            sa.literal(SENT, sa.String).label("kind"),
            sent.c.id,
            sent.c.destination.label("phone"),
            sent.c.created_at,
            sent.c.campaign_id,
            sent.c.variant_id,
            sa.null().cast(sa.String).label("short_code"),
        )
    ]
    if providers:
        touch = conversations.in_touch_query(dialect, providers).subquery()
        parts.append(
            sa.select(
                touch.c.provider,
                sa.null().cast(Message.id.type),
                touch.c.phone,
                sa.null().cast(Message.created_at.type),
                sa.null().cast(Message.campaign_id.type),
                sa.null().cast(Message.variant_id.type),
                touch.c.short_code,
            )
        )
    return sa.select(sa.union_all(*parts).subquery())


# --- The batch's writes ------------------------------------------------------------------


def write_routing(
    session: Session,
    messages: Sequence[InboundMessage],
    codes: dict[int, str],
    replies: Sequence[outbound.NewMessage] = (),
) -> list[int]:
    """Store the batch's replies (QUEUED, not published: the caller publishes them after
    the commit), bring the thread of each (phone, short code) up to date with the batch's
    routed messages and store the routing columns of the messages, thread included
    (``codes``: message id → short code). Returns the replies' ids in the order given. On
    PostgreSQL one statement: the replies' and their parts' inserts and the threads' upsert
    in WITH clauses of the messages' UPDATE; elsewhere four.

    Threads are upserted race-free with other routers (rows in key order, so two
    routers lock shared threads in the same order). The last message sets the preview
    and decision; those a person must read count as unread and reopen a closed thread."""
    threads = _thread_rows(messages, codes)
    if dialect_of(session) == "postgresql":
        rows = [_routing_row(m) | {"code": codes[m.id]} for m in messages]
        params = (
            array_params(threads, THREAD_COLUMNS)
            | array_params(rows, ("id", *_ROUTED, "code"), prefix="m_")
            | array_params(outbound.message_rows(replies), outbound.MESSAGE_COLUMNS, prefix=REPLIES)
        )
        by_id = {m.id: m for m in messages}
        reply_ids: list[int] = []
        for message_id, thread_id, replied in session.execute(_route_batch_pg(), params):
            set_committed_value(by_id[message_id], "thread_id", thread_id)
            reply_ids = replied or []
        # Ids come from the sequence in the order of the rows given.
        return sorted(reply_ids)
    reply_ids = outbound.store_queued(session, outbound.message_rows(replies))
    result = session.execute(_upsert_threads_sqlite(), threads)
    ids = {(phone, code): thread_id for phone, code, thread_id in result}
    for message in messages:
        set_committed_value(message, "thread_id", ids[(message.phone, codes[message.id])])
    bulk_update(
        session,
        InboundMessage.__table__,  # type: ignore[arg-type]
        [_routing_row(m) | {"thread_id": m.thread_id} for m in messages],
    )
    return reply_ids


#: The prefix of the replies' parameters in the routing statement.
REPLIES = "q_"

#: The routing columns but the thread's (which comes from the threads' upsert).
_ROUTED = tuple(name for name in ROUTING_COLUMNS if name != "thread_id")


def _routing_row(message: InboundMessage) -> dict[str, Any]:
    return {"id": message.id, **{name: getattr(message, name) for name in _ROUTED}}


def _thread_rows(messages: Sequence[InboundMessage], codes: dict[int, str]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for message in messages:
        key = (message.phone or message.source, codes[message.id])
        row = rows.setdefault(
            key,
            {
                "phone": key[0],
                "short_code": key[1],
                "contact_id": None,
                "state": ThreadState.OPEN,
                "unread": 0,
                "created_at": message.received_at,
            },
        )
        row["contact_id"] = message.contact_id or row["contact_id"]
        row["last_text"] = message.text[:200]
        row["last_decision"] = message.decision
        row["last_message_at"] = message.received_at
        row["last_inbound_at"] = message.received_at
        row["unread"] += 1 if message.decision in FOR_PEOPLE else 0
    return [rows[key] for key in sorted(rows)]


@functools.cache
def _route_batch_pg() -> sa.Executable:
    """``WITH inserted AS (INSERT INTO messages …), parts AS (INSERT INTO message_parts …),
    t AS (INSERT INTO threads … ON CONFLICT … RETURNING …) UPDATE inbound_messages … FROM
    unnest(…) JOIN t … RETURNING id, thread_id, (the replies' ids)``: every row set from
    ``unnest`` of one array per column, the same text whatever the batch."""
    messages: sa.Table = InboundMessage.__table__  # type: ignore[assignment]
    threads = _upsert_threads_pg().cte("t")
    inserted, parts = outbound.insert_with_parts_ctes(prefix=REPLIES)
    replies = sa.select(sa.func.array_agg(inserted.c.id)).scalar_subquery()
    routed = unnest_rows(
        messages, ("id", *_ROUTED), prefix="m_", alias="r", extra={"code": sa.String()}
    )
    return (
        sa.update(messages)
        .add_cte(threads)
        .add_cte(parts)
        .where(
            messages.c.id == routed.c.id,
            threads.c.phone == routed.c.phone,
            threads.c.short_code == routed.c.code,
        )
        .values({name: routed.c[name] for name in _ROUTED} | {"thread_id": threads.c.id})
        .returning(messages.c.id, messages.c.thread_id, replies)
    )


def _upsert_threads_pg() -> postgresql.Insert:
    table: sa.Table = Thread.__table__  # type: ignore[assignment]
    values = unnest_rows(table, THREAD_COLUMNS)
    insert = postgresql.insert(table).from_select(
        THREAD_COLUMNS, sa.select(*(values.c[name] for name in THREAD_COLUMNS))
    )
    return _on_thread_conflict(insert, sa.func.greatest)


@functools.cache
def _upsert_threads_sqlite() -> sqlite.Insert:
    """The thread upsert elsewhere, executed with a row per thread (sent as one
    multi-row statement: SQLAlchemy's "insertmanyvalues")."""
    table: sa.Table = Thread.__table__  # type: ignore[assignment]
    return _on_thread_conflict(sqlite.insert(table), sa.func.max)


def _on_thread_conflict(insert: Any, later: Any) -> Any:
    """A thread already there takes the new preview and decision, adds the unread
    messages and reopens when one is for a person; returns each thread's key and id."""
    table = Thread.__table__.c
    new = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["phone", "short_code"],
        set_={
            "contact_id": sa.func.coalesce(table.contact_id, new.contact_id),
            "last_text": new.last_text,
            "last_decision": new.last_decision,
            "last_message_at": later(table.last_message_at, new.last_message_at),
            "last_inbound_at": new.last_inbound_at,
            "unread": table.unread + new.unread,
            "state": sa.case((new.unread > 0, ThreadState.OPEN.value), else_=table.state),
        },
    ).returning(table.phone, table.short_code, table.id)
