"""Inbound messages (MO), the short codes they arrive on, keyword rules, inbox threads.

Every deliver_sm part is stored first (``InboundPart``), so that an acknowledged part
survives a crash while its siblings are still on the way; the assembled text becomes one
``InboundMessage``. The router reads inbound messages, decides where each belongs and
stores that decision (and its reason) on the message; every message also lands in the
``Thread`` of its number and short code, which is what the inbox shows.
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


class Decision(enum.StrEnum):
    """Where the router sent an inbound message."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    CONVERSATION = "conversation"  # an open survey session or booking dialogue took it
    RULE = "rule"  # a keyword rule of the short code
    INBOX = "inbox"  # nothing matched: a person reads it
    REVIEW = "review"  # an opt-out phrase held for a person to confirm (brand policy)


class MatchMode(enum.StrEnum):
    WHOLE = "whole"  # the whole message is the keyword
    FIRST_WORD = "first_word"
    PREFIX = "prefix"  # the message starts with the keyword (no word boundary needed)
    REGEX = "regex"  # a regular expression over the normalised text


class PhrasePolicy(enum.StrEnum):
    """What an opt-out *phrase* ("artık mesaj atmayın") does, per brand; opt-out keywords
    always suppress at once."""

    SUPPRESS = "suppress"
    REVIEW = "review"


class ThreadState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ShortCode(Base):
    """A number customers text (e.g. 4664), served by one gateway connection. Its opt-out,
    opt-in and help words and its replies are editable here; keyword rules hang off it."""

    __tablename__ = "short_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(21), unique=True)
    connection: Mapped[str] = mapped_column(sa.String(64))
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brands.id", ondelete="SET NULL"))
    opt_out_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    opt_in_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    help_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    opt_out_phrases: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Scoped opt-outs: word → {"brand_id": n} or {"list_id": n} ("RET KAMPANYA").
    scoped_opt_outs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Opt-in needs a second message (the confirm word) within a day.
    double_opt_in: Mapped[bool] = mapped_column(default=False)
    confirm_keyword: Mapped[str] = mapped_column(sa.String(32), default="EVET")
    # Reply texts by kind and language ({"opt_out": {"tr": …, "en": …}}); missing ones
    # fall back to the shipped, translated defaults.
    replies: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A reply is attributed to the latest message sent to its number within this window.
    attribution_hours: Mapped[int] = mapped_column(default=72)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeywordRule(Base):
    """A keyword of a short code and what happens when a message matches it."""

    __tablename__ = "keyword_rules"
    __table_args__ = (sa.Index("ix_keyword_rules_short_code_id", "short_code_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    short_code_id: Mapped[int] = mapped_column(sa.ForeignKey("short_codes.id", ondelete="CASCADE"))
    keyword: Mapped[str] = mapped_column(sa.String(64))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    match_mode: Mapped[MatchMode] = mapped_column(
        enum_by_value(MatchMode, "match_mode"), default=MatchMode.FIRST_WORD
    )
    pattern: Mapped[str] = mapped_column(sa.String(300), default="")  # for REGEX
    priority: Mapped[int] = mapped_column(default=0)  # higher wins
    fuzzy: Mapped[bool] = mapped_column(default=True)  # edit distance 1, keywords of 4+
    fold_accents: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    active_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handler: Mapped[str] = mapped_column(sa.String(32), default="auto_reply")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reply_tr: Mapped[str] = mapped_column(sa.Text, default="")
    reply_en: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Thread(Base):
    """The conversation of one number with one short code, as the inbox lists it."""

    __tablename__ = "threads"
    __table_args__ = (
        sa.UniqueConstraint("phone", "short_code"),
        sa.Index("ix_threads_last_message_at", "last_message_at", "id"),
        sa.Index("ix_threads_state_last_message_at", "state", "last_message_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(21))  # E.164 when parseable
    short_code: Mapped[str] = mapped_column(sa.String(21))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[ThreadState] = mapped_column(
        enum_by_value(ThreadState, "thread_state"), default=ThreadState.OPEN
    )
    assigned_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    unread: Mapped[int] = mapped_column(default=0)
    # The last inbound message: its preview, the router's decision and what it matched.
    last_text: Mapped[str] = mapped_column(sa.String(200), default="")
    last_decision: Mapped[Decision | None] = mapped_column(enum_by_value(Decision, "decision"))
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OptInRequest(Base):
    """A double opt-in waiting for its confirmation word."""

    __tablename__ = "opt_in_requests"
    __table_args__ = (sa.Index("ix_opt_in_requests_phone", "phone", "short_code_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    short_code_id: Mapped[int] = mapped_column(sa.ForeignKey("short_codes.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(sa.String(21))
    inbound_id: Mapped[int] = mapped_column(BigId)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuickReply(Base):
    """A canned answer the desk inserts into the reply box."""

    __tablename__ = "quick_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Webhook(Base):
    """A receiver that keyword rules forward inbound messages to (signed POSTs)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    secret: Mapped[str] = mapped_column(sa.String(128))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One POST owed to a webhook: retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A retransmitted or re-routed MO owes each webhook one delivery.
        sa.UniqueConstraint("webhook_id", "inbound_id"),
        sa.Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    inbound_id: Mapped[int | None] = mapped_column(BigId)  # None for a test delivery
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (
        sa.Index("ix_inbound_messages_source_received_at", "source", "received_at"),
        sa.Index("ix_inbound_messages_dedup_key_received_at", "dedup_key", "received_at"),
        sa.Index("ix_inbound_messages_thread_id", "thread_id", "id"),
        sa.Index("ix_inbound_messages_rule_id", "rule_id"),  # the inbox's keyword filter
        # The sweeper's view of what the router has not taken yet.
        sa.Index(
            "ix_inbound_messages_unrouted",
            "id",
            postgresql_where=sa.text("routed_at IS NULL"),
            sqlite_where=sa.text("routed_at IS NULL"),
        ),
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
    # Set by the router, in the transaction that carries out its decision.
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phone: Mapped[str | None] = mapped_column(sa.String(21))  # ``source`` as E.164
    contact_id: Mapped[int | None] = mapped_column(BigId, index=True)
    thread_id: Mapped[int | None] = mapped_column(BigId)
    decision: Mapped[Decision | None] = mapped_column(enum_by_value(Decision, "decision"))
    reason: Mapped[str] = mapped_column(sa.String(300), default="")
    rule_id: Mapped[int | None] = mapped_column()
    # The outbound message this reply is attributed to (latest to this number, in window).
    reply_to_id: Mapped[int | None] = mapped_column(BigId)
    campaign_id: Mapped[int | None] = mapped_column(index=True)
    variant_id: Mapped[int | None] = mapped_column()


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
