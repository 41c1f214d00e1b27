"""Venues, their bookings with an audit trail, and booking dialogues by SMS.

A venue (restaurant, clinic, hotel desk) takes bookings on one short code. A booking
holds covers in one slot of the venue's day from the moment it is requested until it is
declined, cancelled or the day is over; the venue row is the lock that keeps two
requests for the last table from both winning. A dialogue is the SMS conversation that
collects a request's missing fields, confirms an unclear one, or answers a proposal: one
open per number and short code, and the router hands it the sender's next message.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow
from interactive.outbound.models import BigId

JSON = sa.JSON()


class BookingState(enum.StrEnum):
    PENDING = "pending"  # waiting for the desk
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


#: States that hold covers in their slot.
HOLDING = frozenset({BookingState.PENDING, BookingState.CONFIRMED})


class DialogueState(enum.StrEnum):
    OPEN = "open"
    DONE = "done"  # ended with a booking, a cancellation or a change
    ABANDONED = "abandoned"  # the customer said no, or stopped answering
    OPTED_OUT = "opted_out"


class Venue(Base):
    """Where bookings are taken, with the rules they must fit."""

    __tablename__ = "venues"
    __table_args__ = (
        sa.CheckConstraint("slot_minutes > 0", name="slot_minutes_positive"),
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        sa.CheckConstraint("max_party > 0", name="max_party_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    short_code: Mapped[str] = mapped_column(sa.String(21))
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brands.id", ondelete="SET NULL"))
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Istanbul")
    # Opening hours by weekday (Monday "0" … Sunday "6"): [["12:00", "23:00"], …]; a
    # window that ends at or before it starts runs past midnight.
    hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    closed_dates: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates
    slot_minutes: Mapped[int] = mapped_column(default=30)
    capacity: Mapped[int] = mapped_column(default=40)  # covers per slot
    max_party: Mapped[int] = mapped_column(default=10)
    lead_minutes: Mapped[int] = mapped_column(default=60)  # at least this far ahead
    ahead_days: Mapped[int] = mapped_column(default=60)  # at most this far ahead
    auto_confirm: Mapped[bool] = mapped_column(default=True)
    reminder_hours: Mapped[int] = mapped_column(default=3)  # 0: no reminder
    # Reply texts by kind and language ({"confirmed": {"tr": …, "en": …}}); missing ones
    # fall back to the shipped, translated defaults.
    replies: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    webhook_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("webhooks.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        sa.Index("ix_bookings_venue_id_starts_at", "venue_id", "starts_at"),
        sa.Index("ix_bookings_phone", "phone"),
        sa.Index("ix_bookings_reminder", "state", "starts_at"),
        sa.CheckConstraint("party > 0", name="party_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(sa.String(21))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    party: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[BookingState] = mapped_column(
        enum_by_value(BookingState, "booking_state"), default=BookingState.PENDING
    )
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    source_text: Mapped[str] = mapped_column(sa.Text, default="")  # the customer's words
    source: Mapped[str] = mapped_column(sa.String(16), default="sms")  # sms, desk, api
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    language: Mapped[str] = mapped_column(sa.String(2), default="tr")
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(300), default="")  # of a decline
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BookingEvent(Base):
    """Append-only: who did what to a booking, and when."""

    __tablename__ = "booking_events"
    __table_args__ = (sa.Index("ix_booking_events_booking_id", "booking_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(32))  # requested, confirmed, changed…
    actor: Mapped[str] = mapped_column(sa.String(16))  # customer, desk, api, system
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(sa.String(500), default="")


class BookingDialogue(Base):
    __tablename__ = "booking_dialogues"
    __table_args__ = (
        sa.Index(
            "uq_booking_dialogues_open",
            "phone",
            "short_code",
            unique=True,
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(sa.String(21))
    short_code: Mapped[str] = mapped_column(sa.String(21))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL")
    )
    state: Mapped[DialogueState] = mapped_column(
        enum_by_value(DialogueState, "booking_dialogue_state"), default=DialogueState.OPEN
    )
    # What is known so far: date (ISO), time ("HH:MM"), party, name, note.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the last message asked: date, time, party, confirm, or proposal.
    asking: Mapped[str] = mapped_column(sa.String(16), default="")
    booking_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="SET NULL")
    )
    language: Mapped[str] = mapped_column(sa.String(2), default="tr")
    text: Mapped[str] = mapped_column(sa.Text, default="")  # the messages so far
    inbound_id: Mapped[int | None] = mapped_column(BigId)  # the first message
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
