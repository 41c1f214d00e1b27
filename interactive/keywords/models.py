"""Inbound messages (MO) as stored by the gateway before it acknowledges them.

Every deliver_sm part is stored first (``InboundPart``), so that an acknowledged part
survives a crash while its siblings are still on the way; the assembled text becomes one
``InboundMessage``. The router (keyword rules, conversations) reads inbound messages.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, utcnow
from interactive.outbound.models import BigId


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (
        sa.Index("ix_inbound_messages_source_received_at", "source", "received_at"),
        sa.Index("ix_inbound_messages_dedup_key_received_at", "dedup_key", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(21))
    destination: Mapped[str] = mapped_column(sa.String(21))
    text: Mapped[str] = mapped_column(sa.Text)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)
    data_coding: Mapped[int]
    parts_count: Mapped[int] = mapped_column(default=1)
    partial: Mapped[bool] = mapped_column(default=False)
    replaced: Mapped[bool] = mapped_column(default=False)  # undecodable bytes replaced
    # Hash of connection, addresses and raw content: a retransmitted MO is stored once.
    dedup_key: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InboundPart(Base):
    """One part of a concatenated MO, stored before it is acknowledged."""

    __tablename__ = "inbound_parts"
    __table_args__ = (sa.Index("ix_inbound_parts_open", "message_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(21))
    destination: Mapped[str] = mapped_column(sa.String(21))
    esm_class: Mapped[int]
    data_coding: Mapped[int]
    short_message: Mapped[bytes] = mapped_column(sa.LargeBinary)
    message_payload: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    sar: Mapped[str | None] = mapped_column(sa.String(32))  # "ref,total,seq"
    dedup_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
