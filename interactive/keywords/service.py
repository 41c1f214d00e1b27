"""Storing inbound messages (the gateway's side of the inbox). Flushes, never commits."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.keywords.models import InboundMessage, InboundPart

log = logging.getLogger(__name__)

#: An SMSC that got no deliver_sm_resp sends the PDU again, usually within minutes; the
#: same content from the same number after this window is a new message.
RETRANSMIT_WINDOW = timedelta(minutes=30)


def dedup_key(connection: str, source: str, destination: str, *parts: bytes) -> str:
    digest = hashlib.sha256()
    for value in (connection.encode(), source.encode(), destination.encode(), *parts):
        digest.update(len(value).to_bytes(4, "big"))
        digest.update(value)
    return digest.hexdigest()


def seen_recently(
    session: Session,
    model: type[InboundMessage] | type[InboundPart],
    keys: Iterable[str],
    now: datetime,
) -> set[str]:
    """Which of these dedup keys were stored within the retransmit window."""
    keys = list(keys)
    if not keys:
        return set()
    query = sa.select(model.dedup_key).where(
        model.dedup_key.in_(keys), model.received_at >= now - RETRANSMIT_WINDOW
    )
    return set(session.scalars(query))


def open_parts(session: Session, connection: str, since: datetime) -> list[InboundPart]:
    """Parts of concatenated messages not assembled yet (to rebuild after a restart)."""
    query = (
        sa.select(InboundPart)
        .where(
            InboundPart.connection == connection,
            InboundPart.message_id.is_(None),
            InboundPart.received_at >= since,
        )
        .order_by(InboundPart.id)
    )
    return list(session.scalars(query))


def link_parts(session: Session, message: InboundMessage, part_ids: Iterable[int]) -> None:
    ids = [i for i in part_ids if i]
    if ids:
        session.execute(
            sa.update(InboundPart).where(InboundPart.id.in_(ids)).values(message_id=message.id)
        )
