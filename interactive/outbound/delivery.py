"""What the gateway learns about sent parts: submit outcomes and delivery receipts.

This is the gateway's hot path (thousands of parts a second), so it works in set-based
statements: one SELECT of the parts concerned, the new states computed here, then one
UPDATE of the changed parts, one INSERT (COPY on PostgreSQL) of the new id keys, and the
messages rolled up the same way. Statements are built once and take their ids as one
array parameter on PostgreSQL. Part states only move forward (``states.part_advance``).
Flushes, never commits.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import bulk_update, copy_rows, in_values, utcnow
from interactive.outbound.models import DeliveryReceipt, Message, MessagePart, PartState, SmscId
from interactive.outbound.states import FINAL, RECEIPT_STATES, message_state, part_advance

log = logging.getLogger(__name__)

# Longer than any validity period: a receipt older than this will match nothing we sent.
PARKED_RECEIPT_WINDOW = timedelta(hours=72)

Normaliser = Callable[[str], frozenset[str]]


@dataclass(frozen=True)
class PartResult:
    """What the gateway learned about one part from its submit."""

    message_id: int
    seq: int
    state: PartState  # ACCEPTED, REJECTED, UNKNOWN, or QUEUED (to be tried again)
    smsc_id: str | None = None
    id_forms: frozenset[str] = frozenset()
    command_status: int | None = None
    attempts: int = 0


@dataclass(frozen=True)
class ReceiptIn:
    smsc_id: str
    id_forms: frozenset[str]
    state: str  # interactive.smpp.receipts.State value
    error_code: int | None
    raw: str
    received_at: datetime


@dataclass
class _Part:
    """A part row as read, changed in memory, written back in one statement."""

    id: int
    message_id: int
    seq: int
    state: PartState
    smsc_id: str | None
    command_status: int | None
    error_code: int | None
    attempts: int
    accepted_at: datetime | None
    final_at: datetime | None
    changed: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "smsc_id": self.smsc_id,
            "command_status": self.command_status,
            "error_code": self.error_code,
            "attempts": self.attempts,
            "accepted_at": self.accepted_at,
            "final_at": self.final_at,
        }


_PARTS: sa.Table = MessagePart.__table__  # type: ignore[assignment]
_MESSAGES: sa.Table = Message.__table__  # type: ignore[assignment]
_SMSC_IDS: sa.Table = SmscId.__table__  # type: ignore[assignment]
_RECEIPTS: sa.Table = DeliveryReceipt.__table__  # type: ignore[assignment]

_PART_COLUMNS = (
    "id",
    "message_id",
    "seq",
    "state",
    "smsc_id",
    "command_status",
    "error_code",
    "attempts",
    "accepted_at",
    "final_at",
)


@functools.cache
def _parts_query(dialect: str, key: str) -> sa.Select[Any]:
    # Built once per key: the gateway loads parts several times a second.
    columns = [_PARTS.c[name] for name in _PART_COLUMNS]
    if key == "siblings":
        named = sa.select(_PARTS.c.message_id).where(in_values(_PARTS.c.id, "ids", dialect))
        return sa.select(*columns).where(_PARTS.c.message_id.in_(named.scalar_subquery()))
    return sa.select(*columns).where(in_values(_PARTS.c[key], "ids", dialect))


def _load_parts(session: Session, key: str, ids: Iterable[int]) -> list[_Part]:
    """The parts whose ``key`` column ("message_id" or "id") is one of ``ids``; with
    "siblings", every part of the messages these part ids belong to."""
    values = list(ids)
    if not values:
        return []
    query = _parts_query(session.get_bind().dialect.name, key)
    return [_Part(*row) for row in session.execute(query, {"ids": values})]


def _write_parts(session: Session, parts: Iterable[_Part]) -> None:
    bulk_update(session, _PARTS, [p.row() for p in parts if p.changed])


def record_results(
    session: Session, connection: str, results: Sequence[PartResult], normalise: Normaliser
) -> None:
    """Apply submit outcomes (flushes). Part states only move forward, except that a part
    the SMSC never took goes back from SUBMITTING to QUEUED. An accepted part gets its SMSC
    id, indexed by every normalised form, and a receipt that arrived before its
    submit_sm_resp is applied now. Idempotent."""
    if not results:
        return
    message_ids = {r.message_id for r in results}
    parts = _load_parts(session, "message_id", message_ids)
    by_key = {(p.message_id, p.seq): p for p in parts}
    now = utcnow()
    new_ids: list[dict[str, Any]] = []
    accepted: list[_Part] = []
    for result in results:
        part = by_key.get((result.message_id, result.seq))
        if part is None:
            continue
        if _apply_result(part, result, now):
            new_ids += [
                {"connection": connection, "form": form, "part_id": part.id, "created_at": now}
                for form in result.id_forms
            ]
            accepted.append(part)
    if accepted:
        _apply_parked_receipts(session, connection, accepted, normalise)
    _write_parts(session, parts)
    copy_rows(session, _SMSC_IDS, new_ids)
    _roll_up(session, message_ids, parts)


def _apply_result(part: _Part, result: PartResult, now: datetime) -> bool:
    """Change ``part`` in memory; True when it got its SMSC id just now."""
    part.changed = True
    part.attempts = max(part.attempts, result.attempts)
    if result.command_status is not None:
        part.command_status = result.command_status
    if result.state == PartState.QUEUED:
        if part.state == PartState.SUBMITTING:
            part.state = PartState.QUEUED
        return False
    got_id = result.smsc_id is not None and part.smsc_id is None
    if got_id:
        part.smsc_id = result.smsc_id
        part.accepted_at = now
    _advance(part, result.state, None, now)
    return got_id


def _advance(part: _Part, state: PartState, error: int | None, at: datetime) -> None:
    advanced = part_advance(part.state, state)
    if advanced != part.state:
        part.state = advanced
        part.changed = True
        part.error_code = error or part.error_code
        if advanced in FINAL:
            part.final_at = at


def record_receipts(session: Session, connection: str, receipts: Sequence[ReceiptIn]) -> int:
    """Store receipts (append-only) and apply each to the part it names (flushes). A
    receipt whose id is not known yet is stored unmatched and applied when the id comes.
    Returns how many matched."""
    if not receipts:
        return 0
    forms = {form for r in receipts for form in r.id_forms}
    part_of_form: dict[str, int] = {}
    if forms:
        query = _forms_query(session.get_bind().dialect.name)
        params = {"connection": connection, "forms": list(forms)}
        part_of_form = {form: part_id for form, part_id in session.execute(query, params)}
    # Every part of the messages concerned: the roll-up needs the siblings too.
    parts = _load_parts(session, "siblings", set(part_of_form.values()))
    by_id = {p.id: p for p in parts}
    now = utcnow()
    rows = []
    for receipt in receipts:
        part_id = next((part_of_form[f] for f in receipt.id_forms if f in part_of_form), None)
        part = by_id.get(part_id) if part_id is not None else None
        if part is not None:
            _apply_receipt_state(part, receipt.state, receipt.error_code, receipt.received_at)
        rows.append(
            {
                "connection": connection,
                "smsc_id": receipt.smsc_id,
                "state": receipt.state,
                "error_code": receipt.error_code,
                "raw": receipt.raw,
                "received_at": receipt.received_at,
                "part_id": part.id if part else None,
                "matched_at": now if part else None,
            }
        )
    copy_rows(session, _RECEIPTS, rows)
    _write_parts(session, parts)
    touched = {p.message_id for p in parts}
    if touched:
        _roll_up(session, touched, parts)
    return sum(1 for row in rows if row["part_id"] is not None)


@functools.cache
def _forms_query(dialect: str) -> sa.Select[str, int]:
    return sa.select(_SMSC_IDS.c.form, _SMSC_IDS.c.part_id).where(
        _SMSC_IDS.c.connection == sa.bindparam("connection"),
        in_values(_SMSC_IDS.c.form, "forms", dialect),
    )


def _apply_receipt_state(part: _Part, state: str, error: int | None, at: datetime) -> None:
    new_state = RECEIPT_STATES.get(state)
    if new_state is not None:
        _advance(part, new_state, error, at)


def _apply_parked_receipts(
    session: Session, connection: str, parts: list[_Part], normalise: Normaliser
) -> None:
    # Receipts wait unmatched only for the moments between a fast receipt and its
    # submit_sm_resp; those older than the id map is kept are someone else's.
    parked = session.execute(
        sa.select(DeliveryReceipt.id, DeliveryReceipt.smsc_id, DeliveryReceipt.state)
        .add_columns(DeliveryReceipt.error_code, DeliveryReceipt.received_at)
        .where(
            DeliveryReceipt.connection == connection,
            DeliveryReceipt.part_id.is_(None),
            DeliveryReceipt.received_at >= utcnow() - PARKED_RECEIPT_WINDOW,
        )
    ).all()
    if not parked:
        return
    by_form = {form: part for part in parts if part.smsc_id for form in normalise(part.smsc_id)}
    matched = []
    for receipt_id, smsc_id, state, error, received_at in parked:
        part = next((by_form[f] for f in normalise(smsc_id) if f in by_form), None)
        if part is not None:
            _apply_receipt_state(part, state, error, received_at)
            matched.append({"id": receipt_id, "part_id": part.id, "matched_at": utcnow()})
    if matched:
        session.execute(sa.update(DeliveryReceipt), matched)


def _roll_up(session: Session, message_ids: set[int], parts: list[_Part]) -> None:
    """Set each message's state from its parts (all of them must be in ``parts``); one
    statement, which leaves alone the messages whose state does not change."""
    states: dict[int, list[PartState]] = {}
    errors: dict[int, int] = {}
    for part in parts:
        states.setdefault(part.message_id, []).append(part.state)
        if part.error_code:
            errors.setdefault(part.message_id, part.error_code)
    now = utcnow()
    rows = []
    for message_id in sorted(message_ids):
        state = message_state(states.get(message_id, []))
        rows.append(
            {
                "id": message_id,
                "state": state,
                "final_at": now if state in FINAL else None,
                "error_code": errors.get(message_id),
            }
        )
    bulk_update(session, _MESSAGES, rows, keep={"final_at"}, unless_equal="state")


def roll_up(session: Session, message_ids: set[int]) -> None:
    """Recompute the state of these messages from their parts (flushes)."""
    if message_ids:
        _roll_up(session, message_ids, _load_parts(session, "message_id", message_ids))
