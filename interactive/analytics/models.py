"""Conversions: what a message made happen (a purchase, a sign-up, a reply keyword).

Each conversion is stored once per idempotency key (an order id, a postback's key, or
``inbound:<id>`` for a reply) and attributed, where it can be, to the contact, the
message, campaign, variant and link it followed; one that cannot be is kept and counted as
unattributed.

``click_token`` is the click token (``ic``) a postback or pixel named, kept as given so that
a conversion can be traced to its click (or re-attributed) later; ``order_id`` is the
shop's order number, if any (its idempotency key is then ``order:<order_id>``, shared by
postbacks and pixels, so an order reported both ways counts once).
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow
from interactive.outbound.models import BigId


class ConversionSource(enum.StrEnum):
    POSTBACK = "postback"  # server to server, signed
    PIXEL = "pixel"  # the landing page's thank-you page
    REPLY = "reply"  # a reply keyword (the router)


class Conversion(Base):
    __tablename__ = "conversions"
    __table_args__ = (
        sa.Index("ix_conversions_campaign_id_variant_id", "campaign_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[ConversionSource] = mapped_column(
        enum_by_value(ConversionSource, "conversion_source")
    )
    event: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    phone: Mapped[str | None] = mapped_column(sa.String(21))
    contact_id: Mapped[int | None] = mapped_column(BigId, index=True)
    campaign_id: Mapped[int | None] = mapped_column()
    variant_id: Mapped[int | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(BigId)  # the outbound message it followed
    link_id: Mapped[int | None] = mapped_column(BigId)
    inbound_id: Mapped[int | None] = mapped_column(BigId)  # the reply, for a reply keyword
    click_token: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    order_id: Mapped[str | None] = mapped_column(sa.String(128))
