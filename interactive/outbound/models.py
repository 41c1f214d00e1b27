"""Outbound messages (MT), their parts, the SMSC ids they got, and delivery receipts.

A message is what a person sees (one text to one number); a part is one submit_sm. Part
states only move forward (``interactive.outbound.states``); the message state follows its
parts. Receipts are stored raw and append-only, and matched to parts by every normalised
form of the SMSC id; one that arrives before its submit_sm_resp waits unmatched until the
id is stored.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow

# 64-bit ids on PostgreSQL; SQLite's rowid is already 64-bit but must be declared INTEGER.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Traffic(enum.StrEnum):
    """İYS: commercial messages need consent; informational ones (orders, bookings,
    reminders) do not, and are labelled so, but an opt-out (STOP/RET) stops them too;
    transactional ones go even to a number that opted out."""

    COMMERCIAL = "commercial"
    INFORMATIONAL = "informational"
    # What the customer asked for right now (a one-time code, the answer to their own
    # booking request): not stopped by an opt-out, unlike informational notices.
    TRANSACTIONAL = "transactional"


class PartState(enum.StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # connection lost before submit_sm_resp: not blindly resent
    SUPPRESSED = "suppressed"  # opted out after queueing: never submitted
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    DELETED = "deleted"
    FAILED = "failed"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_destination_created_at", "destination", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(index=True)
    variant_id: Mapped[int | None]
    contact_id: Mapped[int | None] = mapped_column(index=True)
    # The sender of a commercial message (consent and frequency caps are per brand).
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brands.id"))
    connection: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(21))
    destination: Mapped[str] = mapped_column(sa.String(21))
    body: Mapped[str] = mapped_column(sa.Text)
    encoding: Mapped[str] = mapped_column(sa.String(16))
    parts_count: Mapped[int]
    traffic: Mapped[Traffic] = mapped_column(enum_by_value(Traffic, "traffic"))
    state: Mapped[PartState] = mapped_column(
        enum_by_value(PartState, "message_state"), default=PartState.QUEUED
    )
    flash: Mapped[bool] = mapped_column(default=False)
    validity_minutes: Mapped[int | None]
    error_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    parts: Mapped[list[MessagePart]] = relationship(
        back_populates="message", order_by="MessagePart.seq"
    )


class MessagePart(Base):
    __tablename__ = "message_parts"
    __table_args__ = (sa.UniqueConstraint("message_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"))
    seq: Mapped[int]
    state: Mapped[PartState] = mapped_column(
        enum_by_value(PartState, "part_state"), default=PartState.QUEUED
    )
    smsc_id: Mapped[str | None] = mapped_column(sa.String(64))
    command_status: Mapped[int | None]
    error_code: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    message: Mapped[Message] = relationship(back_populates="parts")


class SmscId(Base):
    """One normalised form of the id an SMSC gave a part (hex, decimal, …), so that a
    receipt quoting the id in another format still finds its part."""

    __tablename__ = "smsc_ids"
    __table_args__ = (sa.Index("ix_smsc_ids_connection_form", "connection", "form"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection: Mapped[str] = mapped_column(sa.String(64))
    form: Mapped[str] = mapped_column(sa.String(64))
    part_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message_parts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryReceipt(Base):
    """Every receipt as received (append-only). ``part_id`` is set once matched; an
    unmatched receipt waits for its submit_sm_resp (it can arrive first)."""

    __tablename__ = "delivery_receipts"
    __table_args__ = (
        sa.Index("ix_delivery_receipts_unmatched", "connection", "part_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection: Mapped[str] = mapped_column(sa.String(64))
    smsc_id: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    error_code: Mapped[int | None]
    raw: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    part_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message_parts.id", ondelete="SET NULL")
    )
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
