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
    CANCELLED = "cancelled"  # its campaign was cancelled before it was submitted


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_destination_created_at", "destination", "created_at"),
        # A campaign's messages, and listed newest (highest id) first.
        sa.Index("ix_messages_campaign_id_id", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int | None]
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


# --- Campaigns ----------------------------------------------------------------------------


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Goal(enum.StrEnum):
    CLICKS = "clicks"
    CONVERSION = "conversion"  # ``goal_value``: the conversion event's name
    REPLY = "reply"  # ``goal_value``: the keyword a reply should carry


class Recurrence(enum.StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Campaign(Base):
    """A message to an audience, sent once (now or at ``send_at``) or on a recurrence.

    ``audience`` holds ids: ``{"lists": [..], "segments": [..], "exclude_lists": [..],
    "exclude_segments": [..]}``; a contact in several included lists is one recipient.
    Times are UTC; ``time_zone`` is the zone the marketer scheduled in (recurrences and
    the send window follow its wall clock).
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.CheckConstraint("holdout_percent BETWEEN 0 AND 50", name="holdout_percent"),
        sa.CheckConstraint("attribution_days BETWEEN 1 AND 90", name="attribution_days"),
        sa.CheckConstraint("rate_per_second IS NULL OR rate_per_second > 0", name="rate"),
        sa.Index("ix_campaigns_state_next_run_at", "state", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    goal: Mapped[Goal] = mapped_column(enum_by_value(Goal, "campaign_goal"), default=Goal.CLICKS)
    goal_value: Mapped[str | None] = mapped_column(sa.String(64))
    # A survey whose first question this campaign's message is: replies walk the survey.
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id", ondelete="SET NULL"))
    traffic: Mapped[Traffic] = mapped_column(enum_by_value(Traffic, "campaign_traffic"))
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brands.id"))
    sender: Mapped[str] = mapped_column(sa.String(16))
    connection: Mapped[str] = mapped_column(sa.String(64))
    audience: Mapped[dict[str, list[int]]] = mapped_column(sa.JSON, default=dict)
    holdout_percent: Mapped[int] = mapped_column(default=0)
    # Conversions count for the campaign this many days after the click (last click wins).
    attribution_days: Mapped[int] = mapped_column(default=7, server_default="7")
    state: Mapped[CampaignState] = mapped_column(
        enum_by_value(CampaignState, "campaign_state"), default=CampaignState.DRAFT
    )
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Istanbul")
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: when scheduled
    recurrence: Mapped[Recurrence] = mapped_column(
        enum_by_value(Recurrence, "campaign_recurrence"), default=Recurrence.NONE
    )
    recurrence_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The next occurrence to start (SCHEDULED), set when scheduled and after each run.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Send window on the campaign's wall clock, minutes after midnight (on top of quiet hours).
    window_start: Mapped[int | None]
    window_end: Mapped[int | None]
    rate_per_second: Mapped[int | None]
    validity_minutes: Mapped[int | None]
    # Shorten every URL of the text per recipient (a URL written ``{{ keep("…") }}`` stays).
    track_links: Mapped[bool] = mapped_column(default=True)
    utm: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="campaign", order_by="Variant.id", cascade="all, delete-orphan"
    )


class Variant(Base):
    """One text of a campaign; recipients are split over variants by ``share`` (percent)."""

    __tablename__ = "campaign_variants"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "label"),
        sa.CheckConstraint("share BETWEEN 0 AND 100", name="share"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(sa.String(8))
    share: Mapped[int] = mapped_column(default=100)
    template: Mapped[str] = mapped_column(sa.Text, default="")

    campaign: Mapped[Campaign] = relationship(back_populates="variants")


class RunState(enum.StrEnum):
    EXPANDING = "expanding"  # chunks being turned into messages
    SENT = "sent"  # every chunk done; deferred recipients may still be waiting
    DONE = "done"
    CANCELLED = "cancelled"


class CampaignRun(Base):
    """One occurrence of a campaign (a recurring one has many). Its audience is cut into
    chunks of contact ids when it starts; ``pace_at`` is when the next message may go
    under the campaign's throughput cap."""

    __tablename__ = "campaign_runs"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    state: Mapped[RunState] = mapped_column(
        enum_by_value(RunState, "campaign_run_state"), default=RunState.EXPANDING
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pace_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChunkState(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # a job was enqueued at ``queued_at``
    DONE = "done"
    CANCELLED = "cancelled"


class CampaignChunk(Base):
    """Contacts ``first_contact_id..last_contact_id`` of a run's audience: one job's work."""

    __tablename__ = "campaign_chunks"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "seq"),
        sa.Index("ix_campaign_chunks_state", "state", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    first_contact_id: Mapped[int] = mapped_column(BigId)
    last_contact_id: Mapped[int] = mapped_column(BigId)
    state: Mapped[ChunkState] = mapped_column(
        enum_by_value(ChunkState, "campaign_chunk_state"), default=ChunkState.PENDING
    )
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecipientStatus(enum.StrEnum):
    QUEUED = "queued"  # a message was created (``message_id``)
    SKIPPED = "skipped"  # not eligible (``reason``)
    DEFERRED = "deferred"  # quiet hours or the send window: sent from ``not_before``
    HELD_OUT = "held_out"  # the control group: selected, never sent, measured
    CANCELLED = "cancelled"  # deferred, then the campaign was cancelled


class RecipientReason(enum.StrEnum):
    """Why a recipient got no message (now); the eligibility reasons plus the campaign's."""

    ERASED = "erased"
    BLOCKED = "blocked"
    FAILING = "failing"
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    CONSENT_REVOKED = "consent_revoked"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"
    SEND_WINDOW = "send_window"
    INVALID_NUMBER = "invalid_number"
    HOLDOUT = "holdout"
    TEMPLATE_ERROR = "template_error"
    CANCELLED = "cancelled"


class Recipient(Base):
    """The decision about one contact in one run: at most one per (run, contact), which
    makes re-running a chunk create nothing twice."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "contact_id"),
        sa.Index("ix_campaign_recipients_status_not_before", "status", "not_before"),
        sa.Index("ix_campaign_recipients_campaign_id_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId)
    phone: Mapped[str] = mapped_column(sa.String(21))
    variant_id: Mapped[int | None]
    status: Mapped[RecipientStatus] = mapped_column(
        enum_by_value(RecipientStatus, "recipient_status")
    )
    reason: Mapped[RecipientReason | None] = mapped_column(
        enum_by_value(RecipientReason, "recipient_reason")
    )
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(BigId)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
