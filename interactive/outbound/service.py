"""Outbound messages: queueing, the gateway's claims and results, delivery receipts.

Services flush, never commit. Ids reach the gateway through the outbound stream of their
connection, published after the commit that created the rows.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import array_params, unnest_rows, utcnow
from interactive.outbound import claim_sql, delivery
from interactive.outbound.encoding import count_segments
from interactive.outbound.models import (
    Message,
    MessagePart,
    PartState,
    Traffic,
)
from interactive.outbound.states import FINAL
from interactive.streams import publish_after_commit

log = logging.getLogger(__name__)


_MESSAGES: sa.Table = Message.__table__  # type: ignore[assignment]
_PARTS: sa.Table = MessagePart.__table__  # type: ignore[assignment]


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
    """Store QUEUED messages with their parts for the whole batch (not a flush per message;
    on PostgreSQL one statement, elsewhere two) and publish their ids once the session
    commits; returns the ids in the order given."""
    if not items:
        return []
    ids = store_queued(session, message_rows(items))
    publish_queued(session, client, prefix, items, ids)
    return ids


def store_queued(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows of ``message_rows`` with their QUEUED parts (on PostgreSQL one
    statement, elsewhere two); the ids in the order given. Nothing is published."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _insert_with_parts_pg(session, rows)
    ids = _insert_messages(session, rows)
    parts = [
        {"message_id": message_id, "seq": n, "state": PartState.QUEUED, "attempts": 0}
        for message_id, row in zip(ids, rows, strict=True)
        for n in range(1, row["parts_count"] + 1)
    ]
    session.execute(_PARTS.insert(), parts)
    return ids


#: The columns of a row of ``message_rows``.
MESSAGE_COLUMNS = (
    "connection",
    "source",
    "destination",
    "body",
    "encoding",
    "parts_count",
    "traffic",
    "contact_id",
    "state",
    "flash",
    "created_at",
)


def message_rows(items: Sequence[NewMessage]) -> list[dict[str, Any]]:
    """The rows of QUEUED messages (``MESSAGE_COLUMNS``), their parts counted."""
    now = utcnow()
    rows = []
    for item in items:
        count = count_segments(item.body, item.turkish_shift)
        rows.append(
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
        )
    return rows


def publish_queued(
    session: Session,
    client: redis.Redis,
    prefix: str,
    items: Sequence[NewMessage],
    ids: Sequence[int],
) -> None:
    """Publish stored messages to their connections' streams once ``session`` commits."""
    by_stream: dict[str, list[dict[str, int]]] = {}
    for item, message_id in zip(items, ids, strict=True):
        by_stream.setdefault(outbound_stream(prefix, item.connection), []).append(
            {"id": message_id}
        )
    for stream, entries in by_stream.items():
        publish_after_commit(session, client, stream, entries)


def _insert_messages(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert message rows (the same keys in each) in one statement; their ids in the
    order given. Core, not the ORM's bulk path: the rows are not wanted as objects, and
    that path costs more than the statement for a router's small batches."""
    statement = _MESSAGES.insert().returning(_MESSAGES.c.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def _insert_with_parts_pg(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """PostgreSQL: the messages (``MESSAGE_COLUMNS``) and their QUEUED parts in one
    statement; the messages' ids in the order given."""
    # Ids come from the sequence in the ORDER BY order (SQLAlchemy's insertmanyvalues
    # relies on the same for its "implicit sentinel").
    return sorted(
        session.scalars(_insert_with_parts_statement(), array_params(rows, MESSAGE_COLUMNS))
    )


@functools.cache
def _insert_with_parts_statement() -> sa.Executable:
    inserted, insert_parts = insert_with_parts_ctes()
    return sa.select(inserted.c.id).add_cte(insert_parts)


def insert_with_parts_ctes(prefix: str = "p_") -> tuple[sa.CTE, sa.CTE]:
    """PostgreSQL: ``inserted`` (the messages of ``message_rows``, given as one array per
    column, returning ``id`` and ``parts_count``) and ``parts`` (their QUEUED parts), for a
    statement to add: the same text whatever the number of rows (a multi-row VALUES list
    is new text, parsed on both sides, for every batch size). ``prefix``: of the array
    parameters (``array_params``)."""
    names = MESSAGE_COLUMNS
    values = unnest_rows(_MESSAGES, names, ordinality="n", prefix=prefix)
    rows = sa.select(*(values.c[name] for name in names)).order_by(values.c.n)
    inserted = (
        _MESSAGES.insert()
        .from_select(names, rows)
        .returning(_MESSAGES.c.id, _MESSAGES.c.parts_count)
        .cte("inserted")
    )
    seq = sa.func.generate_series(1, inserted.c.parts_count).table_valued("seq").render_derived()
    parts = sa.select(
        inserted.c.id,
        seq.c.seq,
        sa.literal(PartState.QUEUED, _PARTS.c.state.type),
        sa.literal(0),
    ).select_from(inserted.join(seq, sa.true()))
    insert_parts = (
        _PARTS.insert().from_select(["message_id", "seq", "state", "attempts"], parts).cte("parts")
    )
    return inserted, insert_parts


@dataclass(frozen=True)
class Claimed:
    """A message taken for submitting: its parts claimed now (``seqs``) are SUBMITTING."""

    id: int
    source: str
    destination: str
    body: str
    parts_count: int
    suppressed: bool
    traffic: Traffic = Traffic.COMMERCIAL
    flash: bool = False
    validity_minutes: int | None = None
    seqs: frozenset[int] = frozenset()


def claim(
    session: Session,
    message_ids: Iterable[int],
    suppressed: Callable[[list[str]], set[str]],
) -> list[Claimed]:
    """Mark the QUEUED parts of these messages SUBMITTING (or SUPPRESSED when the number
    opted out since the message was queued: ``suppressed`` is asked, right after the parts
    are taken, which of the numbers are; an opt-out stops all but transactional messages);
    flushes. ``take``, ``check_suppressed`` and ``suppress`` in one transaction."""
    claimed = check_suppressed(take(session, message_ids), suppressed)
    blocked = {c.id for c in claimed if c.suppressed}
    if blocked:
        suppress(session, blocked)
    return claimed


def take(session: Session, message_ids: Iterable[int]) -> list[Claimed]:
    """Mark the QUEUED parts of these messages SUBMITTING, their messages too; flushes.
    Messages with no part QUEUED were claimed before (a re-delivered stream entry), and
    those of a paused or cancelled campaign wait: both are skipped. Idempotent.

    On PostgreSQL one statement: a caller whose session autocommits has the claim durable
    in one round trip."""
    ids = list(message_ids)
    if not ids:
        return []
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        rows: Sequence[Any] = session.execute(claim_sql.take_pg(), {"ids": ids, "now": now}).all()
        rows = sorted(rows, key=lambda row: row.id)
    else:
        rows = claim_sql.take_portable(session, ids, now)
    return [
        Claimed(
            id=row.id,
            source=row.source,
            destination=row.destination,
            body=row.body,
            parts_count=row.parts_count,
            suppressed=False,
            traffic=row.traffic,
            flash=row.flash,
            validity_minutes=row.validity_minutes,
            seqs=frozenset(row.seqs),
        )
        for row in rows
    ]


def check_suppressed(
    claimed: list[Claimed], suppressed: Callable[[list[str]], set[str]]
) -> list[Claimed]:
    """The claimed messages, those to a number that ``suppressed`` says opted out marked
    ``suppressed`` (all but transactional traffic). Asks once, for the batch; no writes."""
    numbers = sorted({c.destination for c in claimed if c.traffic != Traffic.TRANSACTIONAL})
    blocked = suppressed(numbers) if numbers else set()
    if not blocked:
        return claimed
    return [
        dataclasses.replace(c, suppressed=True)
        if c.traffic != Traffic.TRANSACTIONAL and c.destination in blocked
        else c
        for c in claimed
    ]


def suppress(session: Session, message_ids: set[int]) -> None:
    """The parts taken (SUBMITTING) of these messages go to SUPPRESSED instead of the
    SMSC, and the messages roll up; flushes."""
    now = utcnow()
    session.execute(
        sa.update(MessagePart)
        .where(
            MessagePart.message_id.in_(message_ids),
            MessagePart.state == PartState.SUBMITTING,
        )
        .values(state=PartState.SUPPRESSED, final_at=now)
        .execution_options(synchronize_session=False)
    )
    delivery.roll_up(session, message_ids)
    for message_id in sorted(message_ids):
        log.info("message suppressed at submit message_id=%s", message_id)


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
