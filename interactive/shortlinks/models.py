"""Short links and the clicks they receive.

A link belongs to one campaign recipient (``campaign_id``/``contact_id``/… set, created in
bulk by the fan-out) or stands alone (``name`` set, created by a person or the API). Its
code encodes ``(id, secret)`` (see ``codec``), so the row id alone does not open it.

Clicks are raw and append-only: every hit on a real link, classified (human, link preview,
URL scanner, HEAD/prefetch) so that rates can be computed from human clicks while the raw
count stays visible. ``token`` is the click token appended to the target (``ic=``); it is
unique, which also makes the drain of the click stream idempotent.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

URL_MAX_LENGTH = 2048
USER_AGENT_MAX_LENGTH = 512
REFERRER_MAX_LENGTH = 512


class ClickKind(enum.StrEnum):
    HUMAN = "human"
    PREVIEW = "preview"  # a messenger or mail client fetching a link preview
    SCANNER = "scanner"  # a security scanner, script or headless browser
    HEAD = "head"  # a HEAD request or a browser prefetch


class Link(Base):
    __tablename__ = "links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    secret: Mapped[int] = mapped_column(sa.Integer)
    target_url: Mapped[str] = mapped_column(sa.String(URL_MAX_LENGTH))
    fallback_url: Mapped[str | None] = mapped_column(sa.String(URL_MAX_LENGTH))
    # utm_* parameters appended to the target at redirect time.
    utm: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    name: Mapped[str | None] = mapped_column(sa.String(120))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Campaign links: the recipient this link was made for (campaign tables come later,
    # hence plain integers). Standalone links have none of these.
    campaign_id: Mapped[int | None] = mapped_column(index=True)
    run_id: Mapped[int | None]
    variant_id: Mapped[int | None]
    contact_id: Mapped[int | None]
    # Set by the fan-out once the message row exists.
    message_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )


class Click(Base):
    __tablename__ = "clicks"
    __table_args__ = (
        # A campaign's clicks, and of one kind listed newest first; on PostgreSQL it also
        # holds what the campaign's rollups read, so that they read the index alone.
        sa.Index(
            "ix_clicks_campaign_id_kind_clicked_at",
            "campaign_id",
            "kind",
            "clicked_at",
            "id",
            postgresql_include=["variant_id", "contact_id", "link_id"],
        ),
        sa.Index("ix_clicks_link_id_clicked_at", "link_id", "clicked_at"),
        # People who clicked in the last N days; every click of one kind, newest first.
        sa.Index("ix_clicks_kind_clicked_at", "kind", "clicked_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    link_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("links.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(sa.String(8))
    user_agent: Mapped[str | None] = mapped_column(sa.String(USER_AGENT_MAX_LENGTH))
    referrer: Mapped[str | None] = mapped_column(sa.String(REFERRER_MAX_LENGTH))
    # The address is never stored: an HMAC of it (to count distinct visitors) and its
    # network (IPv4 /24, IPv6 /48).
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    ip_prefix: Mapped[str | None] = mapped_column(sa.String(64))
    kind: Mapped[ClickKind] = mapped_column(enum_by_value(ClickKind, "click_kind"))
    campaign_id: Mapped[int | None]
    variant_id: Mapped[int | None]
    contact_id: Mapped[int | None]
