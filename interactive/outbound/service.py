"""Outbound messages: queueing, the gateway's claims and results, delivery receipts.

Services flush, never commit. Ids reach the gateway through the outbound stream of their
connection, published after the commit that created the rows.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import array_params, in_values, unnest_rows, utcnow
from interactive.outbound import delivery
from interactive.outbound.encoding import count_segments
from interactive.outbound.models import (
    Campaign,
    CampaignState,
    Message,
    MessagePart,
    PartState,
    Traffic,
)
from interactive.outbound.states import FINAL
from interactive.streams import publish_after_commit

log = logging.getLogger(__name__)

HELD_CAMPAIGNS = (CampaignState.PAUSED, CampaignState.CANCELLED)

_MESSAGES: sa.Table = Message.__table__  # type: ignore[assignment]
_PARTS: sa.Table = MessagePart.__table__  # type: ignore[assignment]
_CAMPAIGNS: sa.Table = Campaign.__table__  # type: ignore[assignment]


def outbound_stream(prefix: str, connection: str) -> str:
    """The Redis stream the gateway of ``connection`` claims message ids from."""
    return f"{prefix}:outbound:{connection}"


def suppression_key(prefix: str) -> str:
    """The Redis set of suppressed numbers (E.164, mirrored from ``contacts.suppression``):
    no commercial or informational message goes to them; the gateway checks each number
    again right before it submits."""
    return f"{prefix}:suppressed"


def queue_message(
    session: Session,
    client: redis.Redis,
    prefix: str,
    *,
    connection: str,
    source: str,
    destination: str,
    body: str,
    traffic: Traffic,
    turkish_shift: bool = False,
    contact_id: int | None = None,
    campaign_id: int | None = None,
    variant_id: int | None = None,
    flash: bool = False,
    validity_minutes: int | None = None,
) -> Message:
    """Store a QUEUED message with its parts (flushes) and publish its id to the gateway
    once the session commits."""
    count = count_segments(body, turkish_shift)
    message = Message(
        connection=connection,
        source=source,
        destination=destination,
        body=body,
        encoding=count.encoding,
        parts_count=count.parts,
        traffic=traffic,
        contact_id=contact_id,
        campaign_id=campaign_id,
        variant_id=variant_id,
        flash=flash,
        validity_minutes=validity_minutes,
    )
    message.parts = [MessagePart(seq=n) for n in range(1, count.parts + 1)]
    session.add(message)
    session.flush()
    stream = outbound_stream(prefix, connection)
    publish_after_commit(session, client, stream, [{"id": message.id}])
    return message


@dataclass(frozen=True)
class NewMessage:
    """One text to queue with ``queue_messages``."""

    connection: str
    source: str
    destination: str
    body: str
    traffic: Traffic
    contact_id: int | None = None
    turkish_shift: bool = False


def queue_messages(
    session: Session, client: redis.Redis, prefix: str, items: Sequence[NewMessage]
) -> list[int]:
    """Store QUEUED messages with their parts in two statements for the whole batch (not
    a flush per message) and publish their ids once the session commits; returns the ids
    in the order given."""
    if not items:
        return []
    now = utcnow()
    counts = [count_segments(item.body, item.turkish_shift) for item in items]
    rows = [
        {
            "connection": item.connection,
            "source": item.source,
            "destination": item.destination,
            "body": item.body,
            "encoding": count.encoding,
            "parts_count": count.parts,
            "traffic": item.traffic,
            "contact_id": item.contact_id,
            "state": PartState.QUEUED,
            "flash": False,
            "created_at": now,
        }
        for item, count in zip(items, counts, strict=True)
    ]
    ids = _insert_messages(session, rows)
    parts = [
        {"message_id": message_id, "seq": n, "state": PartState.QUEUED, "attempts": 0}
        for message_id, count in zip(ids, counts, strict=True)
        for n in range(1, count.parts + 1)
    ]
    session.execute(_PARTS.insert(), parts)
    by_stream: dict[str, list[dict[str, int]]] = {}
    for item, message_id in zip(items, ids, strict=True):
        by_stream.setdefault(outbound_stream(prefix, item.connection), []).append(
            {"id": message_id}
        )
    for stream, entries in by_stream.items():
        publish_after_commit(session, client, stream, entries)
    return ids


def _insert_messages(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert message rows (the same keys in each) in one statement; their ids in the
    order given. Core, not the ORM's bulk path: the rows are not wanted as objects, and
    that path costs more than the statement for a router's small batches."""
    if session.get_bind().dialect.name == "postgresql":
        names = tuple(rows[0])
        statement = _insert_messages_pg(names)
        # Ids come from the sequence in the ORDER BY order (SQLAlchemy's insertmanyvalues
        # relies on the same for its "implicit sentinel").
        return sorted(session.scalars(statement, array_params(rows, names)))
    statement = _MESSAGES.insert().returning(_MESSAGES.c.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


@functools.cache
def _insert_messages_pg(names: tuple[str, ...]) -> sa.Executable:
    # The rows from ``unnest`` of one array per column: the same statement text whatever
    # the number of rows (a multi-row VALUES list is new text, parsed on both sides, for
    # every batch size).
    values = unnest_rows(_MESSAGES, names, ordinality="n")
    rows = sa.select(*(values.c[name] for name in names)).order_by(values.c.n)
    return _MESSAGES.insert().from_select(names, rows).returning(_MESSAGES.c.id)


@dataclass(frozen=True)
class Claimed:
    """A message taken for submitting: its parts claimed now are SUBMITTING."""

    id: int
    source: str
    destination: str
    body: str
    parts_count: int
    suppressed: bool
    traffic: Traffic = Traffic.COMMERCIAL
    flash: bool = False
    validity_minutes: int | None = None


def claim(
    session: Session,
    message_ids: Iterable[int],
    suppressed: Callable[[list[str]], set[str]],
) -> list[Claimed]:
    """Mark the QUEUED parts of these messages SUBMITTING (or SUPPRESSED when the number
    opted out since the message was queued: ``suppressed`` is asked, right now, which of
    the numbers are; an opt-out stops all but transactional messages); flushes. Messages with
    no part QUEUED were claimed before (a re-delivered stream entry) and are skipped:
    idempotent."""
    query = _claimable_query(session.get_bind().dialect.name)
    rows = session.execute(query, {"ids": list(message_ids)}).all()
    numbers = sorted({row.destination for row in rows if row.traffic != Traffic.TRANSACTIONAL})
    blocked_numbers = suppressed(numbers) if numbers else set()
    claimed = [
        Claimed(
            id=row.id,
            source=row.source,
            destination=row.destination,
            body=row.body,
            parts_count=row.parts_count,
            suppressed=row.traffic != Traffic.TRANSACTIONAL and row.destination in blocked_numbers,
            traffic=row.traffic,
            flash=row.flash,
            validity_minutes=row.validity_minutes,
        )
        for row in rows
    ]
    now = utcnow()
    sending = [c.id for c in claimed if not c.suppressed]
    blocked = [c.id for c in claimed if c.suppressed]
    queued = MessagePart.state == PartState.QUEUED
    if sending:
        # Only parts still QUEUED now: a cancel may have finished some since the SELECT.
        taken = _mark_submitting(session, sending, now)
        if len(taken) < len(sending):
            claimed = [c for c in claimed if c.suppressed or c.id in taken]
    if blocked:
        session.execute(
            sa.update(MessagePart)
            .where(MessagePart.message_id.in_(blocked), queued)
            .values(state=PartState.SUPPRESSED, final_at=now)
            .execution_options(synchronize_session=False)
        )
        delivery.roll_up(session, set(blocked))
        for message_id in blocked:
            log.info("message suppressed at submit message_id=%s", message_id)
    return claimed


@functools.cache
def _claimable_query(dialect: str) -> sa.Select[int, str, str, str, int, Traffic, bool, int | None]:
    # Built once (the gateway claims many times a second); the ids are a parameter.
    # Table columns, not ORM attributes: the rows are plain tuples, read without the ORM.
    messages, campaigns = _MESSAGES.c, _CAMPAIGNS.c
    return (
        sa.select(
            messages.id,
            messages.source,
            messages.destination,
            messages.body,
            messages.parts_count,
            messages.traffic,
            messages.flash,
            messages.validity_minutes,
        )
        .select_from(_MESSAGES.outerjoin(_CAMPAIGNS, campaigns.id == messages.campaign_id))
        .where(
            in_values(messages.id, "ids", dialect),
            messages.state == PartState.QUEUED,
            # A paused or cancelled campaign's messages wait (resume publishes them again).
            sa.or_(messages.campaign_id.is_(None), campaigns.state.not_in(HELD_CAMPAIGNS)),
        )
        .order_by(messages.id)
    )


def _mark_submitting(session: Session, message_ids: list[int], now: datetime) -> set[int]:
    """Mark the QUEUED parts of these messages SUBMITTING, then the messages whose parts
    were taken; returns those messages' ids. On PostgreSQL one statement (the parts'
    UPDATE in a WITH clause): the gateway claims after every read of its stream."""
    params = {"ids": message_ids, "now": now}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return set(session.scalars(_mark_submitting_pg(), params))
    ids = set(session.scalars(_parts_submitting(dialect), params))
    if ids:
        session.execute(_messages_submitting(dialect), {"ids": list(ids), "now": now})
    return ids


@functools.cache
def _parts_submitting(dialect: str) -> sa.Update:
    return (
        sa.update(MessagePart)
        .where(in_values(MessagePart.message_id, "ids", dialect))
        .where(MessagePart.state == PartState.QUEUED)
        .values(state=PartState.SUBMITTING, submitted_at=sa.bindparam("now"))
        .returning(MessagePart.message_id)
        .execution_options(synchronize_session=False)
    )


def _messages_submitting(dialect: str, taken: sa.ColumnElement[bool] | None = None) -> sa.Update:
    return (
        sa.update(Message)
        .where(in_values(Message.id, "ids", dialect) if taken is None else taken)
        .values(
            state=PartState.SUBMITTING,
            submitted_at=sa.func.coalesce(Message.submitted_at, sa.bindparam("now")),
        )
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _mark_submitting_pg() -> sa.Executable:
    taken = _parts_submitting("postgresql").cte("taken")
    messages = _messages_submitting("postgresql", Message.id.in_(sa.select(taken.c.message_id)))
    return messages.returning(Message.id)


def match_parts(session: Session, claimed: Claimed, count: int) -> None:
    """Make the stored parts match the parts the connection actually sends (its
    long-message method or national shift can differ from the estimate made when the
    message was queued); flushes."""
    if claimed.parts_count == count:
        return
    session.execute(
        sa.delete(MessagePart)
        .where(MessagePart.message_id == claimed.id, MessagePart.seq > count)
        .execution_options(synchronize_session=False)
    )
    existing = set(
        session.scalars(sa.select(MessagePart.seq).where(MessagePart.message_id == claimed.id))
    )
    missing = [
        {"message_id": claimed.id, "seq": seq, "state": PartState.SUBMITTING, "attempts": 0}
        for seq in range(1, count + 1)
        if seq not in existing
    ]
    if missing:
        session.execute(sa.insert(MessagePart), missing)
    session.execute(
        sa.update(Message)
        .where(Message.id == claimed.id)
        .values(parts_count=count)
        .execution_options(synchronize_session=False)
    )


def submitting_seqs(session: Session, message_id: int) -> set[int]:
    """The parts of a message claimed for this submit."""
    query = sa.select(MessagePart.seq).where(
        MessagePart.message_id == message_id, MessagePart.state == PartState.SUBMITTING
    )
    return set(session.scalars(query))


def requeue(session: Session, message_ids: Iterable[int]) -> list[int]:
    """Which of these messages have a part back in QUEUED (the SMSC did not take it: a
    temporary error, or never sent); their ids are published again after the commit and
    only those parts are submitted again. Reads only."""
    query = (
        sa.select(MessagePart.message_id)
        .where(
            MessagePart.message_id.in_(list(message_ids)),
            MessagePart.state == PartState.QUEUED,
        )
        .distinct()
    )
    return sorted(session.scalars(query))


def mark_interrupted(session: Session, connection: str) -> int:
    """At gateway start: parts left SUBMITTING by a gateway that died may or may not have
    reached the SMSC. They become UNKNOWN (never blindly resent: a receipt or a late answer
    may still tell); flushes, returns how many. One gateway process owns a connection."""
    message_ids = set(
        session.scalars(
            sa.select(MessagePart.message_id)
            .join(Message)
            .where(Message.connection == connection, MessagePart.state == PartState.SUBMITTING)
        )
    )
    if not message_ids:
        return 0
    result = session.execute(
        sa.update(MessagePart)
        .where(
            MessagePart.message_id.in_(message_ids),
            MessagePart.state == PartState.SUBMITTING,
        )
        .values(state=PartState.UNKNOWN)
        .execution_options(synchronize_session=False)
    )
    delivery.roll_up(session, message_ids)
    return int(getattr(result, "rowcount", 0) or 0)


def fail(session: Session, message_id: int, reason: str) -> None:
    """A message that cannot be sent at all (e.g. more than 255 parts): FAILED; flushes."""
    now = utcnow()
    session.execute(
        sa.update(MessagePart)
        .where(MessagePart.message_id == message_id, MessagePart.state.not_in(FINAL))
        .values(state=PartState.FAILED, final_at=now)
        .execution_options(synchronize_session=False)
    )
    delivery.roll_up(session, {message_id})
    log.warning("message failed message_id=%s reason=%s", message_id, reason)
