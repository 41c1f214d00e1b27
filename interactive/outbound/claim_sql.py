"""The SQL of the gateway's claim (``outbound.service.take``): QUEUED parts of claimable
messages become SUBMITTING, their messages follow, and the columns the gateway needs come
back with the seqs taken. Statements are built once: the gateway claims many times a
second."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from interactive.db import in_values
from interactive.outbound.models import (
    Campaign,
    CampaignState,
    Message,
    MessagePart,
    PartState,
    Traffic,
)

#: A paused or cancelled campaign's messages wait (resume publishes them again).
HELD_CAMPAIGNS = (CampaignState.PAUSED, CampaignState.CANCELLED)

_MESSAGES: sa.Table = Message.__table__  # type: ignore[assignment]
_PARTS: sa.Table = MessagePart.__table__  # type: ignore[assignment]
_CAMPAIGNS: sa.Table = Campaign.__table__  # type: ignore[assignment]


def _held(messages: Any) -> sa.ColumnElement[bool]:
    campaigns = _CAMPAIGNS.c
    held = sa.exists().where(
        campaigns.id == messages.campaign_id, campaigns.state.in_(HELD_CAMPAIGNS)
    )
    return sa.or_(messages.campaign_id.is_(None), ~held)


_CLAIMED_COLUMNS = (
    "id",
    "source",
    "destination",
    "body",
    "parts_count",
    "traffic",
    "flash",
    "validity_minutes",
)


@functools.cache
def take_pg() -> sa.Executable:
    """One statement: the QUEUED parts of claimable messages become SUBMITTING (locked
    by the UPDATE: a concurrent claim waits, then finds them no longer QUEUED), their
    messages follow, and the columns ``Claimed`` needs come back with the seqs taken."""
    parts, messages = _PARTS.c, _MESSAGES.c
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger))
    taken = (
        sa.update(_PARTS)
        .where(
            parts.message_id == messages.id,
            messages.id == sa.any_(ids),
            messages.state == PartState.QUEUED,
            parts.state == PartState.QUEUED,
            _held(messages),
        )
        .values(state=PartState.SUBMITTING, submitted_at=sa.bindparam("now"))
        .returning(parts.message_id, parts.seq)
        .cte("taken")
    )
    seqs = (
        sa.select(taken.c.message_id, sa.func.array_agg(taken.c.seq).label("seqs"))
        .group_by(taken.c.message_id)
        .cte("seqs")
    )
    return (
        sa.update(_MESSAGES)
        .where(messages.id == seqs.c.message_id)
        .values(
            state=PartState.SUBMITTING,
            submitted_at=sa.func.coalesce(messages.submitted_at, sa.bindparam("now")),
        )
        .returning(*(messages[name] for name in _CLAIMED_COLUMNS), seqs.c.seqs)
    )


def take_portable(session: Session, ids: list[int], now: datetime) -> list[Any]:
    """The claim in three statements (SQLite: one writer at a time, so no race between
    them): the claimable messages, their QUEUED parts, the messages taken."""
    dialect = session.get_bind().dialect.name
    rows = session.execute(_claimable_query(dialect), {"ids": ids}).all()
    if not rows:
        return []
    seqs: dict[int, set[int]] = {}
    params = {"ids": [row.id for row in rows], "now": now}
    for message_id, seq in session.execute(_parts_submitting(dialect), params):
        seqs.setdefault(message_id, set()).add(seq)
    if seqs:
        session.execute(_messages_submitting(dialect), {"ids": list(seqs), "now": now})
    return [_with_seqs(row, seqs[row.id]) for row in rows if row.id in seqs]


@dataclass(frozen=True)
class _Taken:
    id: int
    source: str
    destination: str
    body: str
    parts_count: int
    traffic: Traffic
    flash: bool
    validity_minutes: int | None
    seqs: set[int]


def _with_seqs(row: Any, seqs: set[int]) -> _Taken:
    return _Taken(**{name: getattr(row, name) for name in _CLAIMED_COLUMNS}, seqs=seqs)


@functools.cache
def _claimable_query(dialect: str) -> sa.Select[int, str, str, str, int, Traffic, bool, int | None]:
    # Built once (the gateway claims many times a second); the ids are a parameter.
    # Table columns, not ORM attributes: the rows are plain tuples, read without the ORM.
    messages = _MESSAGES.c
    return (
        sa.select(*(messages[name] for name in _CLAIMED_COLUMNS))
        .where(
            in_values(messages.id, "ids", dialect),
            messages.state == PartState.QUEUED,
            _held(messages),
        )
        .order_by(messages.id)
    )


@functools.cache
def _parts_submitting(dialect: str) -> sa.Update:
    parts = _PARTS.c
    return (
        sa.update(_PARTS)
        .where(in_values(parts.message_id, "ids", dialect), parts.state == PartState.QUEUED)
        .values(state=PartState.SUBMITTING, submitted_at=sa.bindparam("now"))
        .returning(parts.message_id, parts.seq)
    )


@functools.cache
def _messages_submitting(dialect: str) -> sa.Update:
    messages = _MESSAGES.c
    return (
        sa.update(_MESSAGES)
        .where(in_values(messages.id, "ids", dialect))
        .values(
            state=PartState.SUBMITTING,
            submitted_at=sa.func.coalesce(messages.submitted_at, sa.bindparam("now")),
        )
    )
