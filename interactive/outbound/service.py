"""Outbound messages: queueing, the gateway's claims and results, delivery receipts.

Services flush, never commit. Ids reach the gateway through the outbound stream of their
connection, published after the commit that created the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from interactive.db import utcnow
from interactive.outbound.encoding import count_segments
from interactive.outbound.models import (
    DeliveryReceipt,
    Message,
    MessagePart,
    PartState,
    SmscId,
    Traffic,
)
from interactive.outbound.states import FINAL, RECEIPT_STATES, message_state, part_advance
from interactive.streams import publish_after_commit

log = logging.getLogger(__name__)

# Longer than any validity period: a receipt older than this will match nothing we sent.
PARKED_RECEIPT_WINDOW = timedelta(hours=72)


def outbound_stream(prefix: str, connection: str) -> str:
    """The Redis stream the gateway of ``connection`` claims message ids from."""
    return f"{prefix}:outbound:{connection}"


def suppression_key(prefix: str) -> str:
    """The Redis set of numbers that must get no commercial message (opt-outs); checked
    again by the gateway right before each submit."""
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
class Claimed:
    message: Message
    suppressed: bool


def claim(
    session: Session, message_ids: Iterable[int], suppressed_numbers: set[str]
) -> list[Claimed]:
    """Mark the QUEUED parts of these messages SUBMITTING (or SUPPRESSED when a commercial
    message's number opted out since it was queued); flushes. Messages in no part QUEUED
    were claimed before (a re-delivered stream entry) and are skipped: idempotent."""
    query = (
        sa.select(Message)
        .where(Message.id.in_(list(message_ids)), Message.state == PartState.QUEUED)
        .options(selectinload(Message.parts))
        .order_by(Message.id)
    )
    now = utcnow()
    claimed = []
    for message in session.scalars(query):
        suppressed = (
            message.traffic == Traffic.COMMERCIAL and message.destination in suppressed_numbers
        )
        state = PartState.SUPPRESSED if suppressed else PartState.SUBMITTING
        queued = [p for p in message.parts if p.state == PartState.QUEUED]
        for part in queued:
            part.state = state
            part.final_at = now if suppressed else None
            part.submitted_at = None if suppressed else now
        message.state = message_state([p.state for p in message.parts])
        if not suppressed:
            message.submitted_at = message.submitted_at or now
        if message.state in FINAL:
            message.final_at = now
        if suppressed:
            log.info("message suppressed at submit message_id=%s", message.id)
        claimed.append(Claimed(message, suppressed))
    session.flush()
    return claimed


def destinations(session: Session, message_ids: Iterable[int]) -> list[str]:
    """Numbers of the queued commercial messages among these ids (for the suppression
    check right before submitting)."""
    query = (
        sa.select(Message.destination)
        .where(
            Message.id.in_(list(message_ids)),
            Message.state == PartState.QUEUED,
            Message.traffic == Traffic.COMMERCIAL,
        )
        .distinct()
    )
    return list(session.scalars(query))


def match_parts(session: Session, message: Message, count: int) -> None:
    """Make the stored parts match the parts the connection actually sends (its
    long-message method or national shift can differ from the estimate made when the
    message was queued); flushes."""
    if len(message.parts) == count:
        return
    state = PartState.SUBMITTING
    while len(message.parts) > count:
        session.delete(message.parts.pop())
    for seq in range(len(message.parts) + 1, count + 1):
        message.parts.append(MessagePart(seq=seq, state=state, submitted_at=message.submitted_at))
    message.parts_count = count
    session.flush()


@dataclass(frozen=True)
class PartResult:
    """What the gateway learned about one part."""

    message_id: int
    seq: int
    state: PartState  # ACCEPTED, REJECTED, UNKNOWN, or QUEUED (to be tried again)
    smsc_id: str | None = None
    id_forms: frozenset[str] = frozenset()
    command_status: int | None = None
    attempts: int = 0


def record_results(
    session: Session,
    connection: str,
    results: Sequence[PartResult],
    normalise: Callable[[str], frozenset[str]],
) -> None:
    """Apply submit outcomes (flushes). Part states only move forward, except that a part
    the SMSC never took goes back from SUBMITTING to QUEUED. An accepted part gets its SMSC
    id, indexed by every normalised form, and a receipt that arrived before the
    submit_sm_resp (``normalise`` reads its id) is applied now. Idempotent."""
    if not results:
        return
    parts = _parts_by_key(session, {(r.message_id, r.seq) for r in results})
    now = utcnow()
    accepted = []
    for result in results:
        part = parts.get((result.message_id, result.seq))
        if part is None:
            continue
        part.attempts = max(part.attempts, result.attempts)
        if result.command_status is not None:
            part.command_status = result.command_status
        if result.state == PartState.QUEUED:
            if part.state == PartState.SUBMITTING:
                part.state = PartState.QUEUED
            continue
        if result.smsc_id is not None and part.smsc_id is None:
            part.smsc_id = result.smsc_id
            part.accepted_at = now
            session.add_all(
                SmscId(connection=connection, form=form, part_id=part.id)
                for form in result.id_forms
            )
            accepted.append(part)
        advanced = part_advance(part.state, result.state)
        if advanced != part.state:
            part.state = advanced
            if advanced in FINAL:
                part.final_at = now
    session.flush()
    if accepted:
        _apply_parked_receipts(session, connection, accepted, normalise)
    _roll_up(session, {r.message_id for r in results})


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
    parts = session.scalars(
        sa.select(MessagePart)
        .join(Message)
        .where(Message.connection == connection, MessagePart.state == PartState.SUBMITTING)
    ).all()
    for part in parts:
        part.state = PartState.UNKNOWN
    session.flush()
    _roll_up(session, {p.message_id for p in parts})
    return len(parts)


def fail(session: Session, message: Message, reason: str) -> None:
    """A message that cannot be sent at all (e.g. more than 255 parts): FAILED; flushes."""
    now = utcnow()
    for part in message.parts:
        if part.state not in FINAL:
            part.state = PartState.FAILED
            part.final_at = now
    message.state = PartState.FAILED
    message.final_at = now
    session.flush()
    log.warning("message failed message_id=%s reason=%s", message.id, reason)


@dataclass(frozen=True)
class ReceiptIn:
    smsc_id: str
    id_forms: frozenset[str]
    state: str  # receipts.State value
    error_code: int | None
    raw: str
    received_at: datetime


def record_receipts(session: Session, connection: str, receipts: Sequence[ReceiptIn]) -> int:
    """Store receipts (append-only) and apply each to the part it names (flushes).
    A receipt whose id is not known yet waits unmatched. Returns how many matched."""
    rows = [
        DeliveryReceipt(
            connection=connection,
            smsc_id=r.smsc_id,
            state=r.state,
            error_code=r.error_code,
            raw=r.raw,
            received_at=r.received_at,
        )
        for r in receipts
    ]
    session.add_all(rows)
    session.flush()
    forms = {form for r in receipts for form in r.id_forms}
    by_form = _parts_by_form(session, connection, forms)
    matched = 0
    touched: set[int] = set()
    for row, receipt in zip(rows, receipts, strict=True):
        part = next((by_form[f] for f in receipt.id_forms if f in by_form), None)
        if part is None:
            continue
        _apply_receipt(row, part, receipt.state, receipt.error_code)
        touched.add(part.message_id)
        matched += 1
    session.flush()
    _roll_up(session, touched)
    return matched


def _apply_receipt(row: DeliveryReceipt, part: MessagePart, state: str, error: int | None) -> None:
    row.part_id = part.id
    row.matched_at = utcnow()
    new_state = RECEIPT_STATES.get(state)
    if new_state is None:
        return
    advanced = part_advance(part.state, new_state)
    if advanced != part.state:
        part.state = advanced
        part.error_code = error or part.error_code
        if advanced in FINAL:
            part.final_at = row.received_at


def _apply_parked_receipts(
    session: Session,
    connection: str,
    parts: list[MessagePart],
    normalise: Callable[[str], frozenset[str]],
) -> None:
    # Receipts wait unmatched only for the moments between a fast receipt and its
    # submit_sm_resp; those older than the id map is kept are someone else's.
    since = utcnow() - PARKED_RECEIPT_WINDOW
    parked = session.scalars(
        sa.select(DeliveryReceipt).where(
            DeliveryReceipt.connection == connection,
            DeliveryReceipt.part_id.is_(None),
            DeliveryReceipt.received_at >= since,
        )
    ).all()
    if not parked:
        return
    by_form = {form: part for part in parts if part.smsc_id for form in normalise(part.smsc_id)}
    for receipt in parked:
        part = next((by_form[f] for f in normalise(receipt.smsc_id) if f in by_form), None)
        if part is not None:
            _apply_receipt(receipt, part, receipt.state, receipt.error_code)


def _parts_by_key(
    session: Session, keys: set[tuple[int, int]]
) -> dict[tuple[int, int], MessagePart]:
    message_ids = {m for m, _ in keys}
    query = sa.select(MessagePart).where(MessagePart.message_id.in_(message_ids))
    return {(p.message_id, p.seq): p for p in session.scalars(query)}


def _parts_by_form(session: Session, connection: str, forms: set[str]) -> dict[str, MessagePart]:
    if not forms:
        return {}
    query = (
        sa.select(SmscId.form, MessagePart)
        .join(MessagePart, MessagePart.id == SmscId.part_id)
        .where(SmscId.connection == connection, SmscId.form.in_(forms))
    )
    return {form: part for form, part in session.execute(query)}


def _roll_up(session: Session, message_ids: set[int]) -> None:
    if not message_ids:
        return
    messages = session.scalars(
        sa.select(Message).where(Message.id.in_(message_ids)).options(selectinload(Message.parts))
    )
    now = utcnow()
    for message in messages:
        state = message_state([p.state for p in message.parts])
        if state != message.state:
            message.state = state
            if state in FINAL:
                message.final_at = message.final_at or now
            errors = [p.error_code for p in message.parts if p.error_code]
            message.error_code = errors[0] if errors else message.error_code
    session.flush()
