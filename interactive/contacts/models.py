"""Audiences and consent: brands, contacts, custom attributes, lists, segments, imports,
the consent ledger (İYS) with its current-state projection, and the suppression list.

Times are stored in UTC; consent times are shown in Europe/Istanbul (the registry's time).
Phone numbers are E.164 strings ("+905321234567").
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PHONE = sa.String(16)  # E.164: "+" and at most 15 digits


class Brand(Base):
    """Who a commercial message is from; consent is given per brand (İYS brand code)."""

    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    iys_code: Mapped[str | None] = mapped_column(sa.String(32))  # the registry's brand code
    # At most ``frequency_cap`` commercial messages per contact in ``frequency_days``.
    frequency_cap: Mapped[int | None] = mapped_column()
    frequency_days: Mapped[int] = mapped_column(default=7)
    help_text: Mapped[str] = mapped_column(sa.Text, default="")
    opt_out_text: Mapped[str] = mapped_column(sa.Text, default="")
    # What an opt-out phrase ("mesaj istemiyorum") does: "suppress" at once or "review"
    # (held in the inbox for a person). Opt-out keywords always suppress at once.
    opt_out_phrase_policy: Mapped[str] = mapped_column(sa.String(16), default="suppress")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttributeType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"


class AttributeDefinition(Base):
    """A custom contact attribute (city, birth date, loyalty tier…); values live in
    ``Contact.attributes`` under ``key``, typed as declared here."""

    __tablename__ = "contact_attributes"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(120))
    type: Mapped[AttributeType] = mapped_column(enum_by_value(AttributeType, "attribute_type"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    """One phone number. ``attributes`` maps attribute keys to JSON values: text and
    dates (ISO "YYYY-MM-DD") as strings, numbers as numbers, booleans as booleans."""

    __tablename__ = "contacts"
    __table_args__ = (
        sa.Index("ix_contacts_last_name_first_name", "last_name", "first_name"),
        sa.Index("ix_contacts_first_name", "first_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(PHONE, unique=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str | None] = mapped_column(sa.String(8))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    # Set by a person: imports and number changes no longer derive the zone.
    time_zone_manual: Mapped[bool] = mapped_column(default=False)
    # jsonb on PostgreSQL: segment conditions read attributes of every contact, and jsonb
    # is parsed once on write instead of on every read.
    attributes: Mapped[dict[str, Any]] = mapped_column(
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), default=dict
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ContactList(Base):
    __tablename__ = "contact_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListMember(Base):
    __tablename__ = "contact_list_members"
    __table_args__ = (sa.Index("ix_contact_list_members_contact_id", "contact_id"),)

    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contact_lists.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(Base):
    """A saved filter; ``definition`` is evaluated in SQL (``contacts.segments``)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- Consent ------------------------------------------------------------------------------


class Channel(enum.StrEnum):
    """İYS channel names: SMS is MESAJ."""

    MESAJ = "MESAJ"
    ARAMA = "ARAMA"
    EPOSTA = "EPOSTA"


class ConsentStatus(enum.StrEnum):
    ONAY = "ONAY"
    RET = "RET"


class RecipientType(enum.StrEnum):
    BIREYSEL = "BIREYSEL"
    TACIR = "TACIR"


class Actor(enum.StrEnum):
    """Who recorded a consent event."""

    USER = "user"
    IMPORT = "import"
    KEYWORD = "keyword"
    API = "api"
    REGISTRY = "registry"


class Registration(enum.StrEnum):
    """Where an event stands with the registry (İYS)."""

    PENDING = "pending"  # to register before the deadline
    REGISTERED = "registered"
    NOT_REQUIRED = "not_required"  # came from the registry, or a RET with no earlier ONAY
    FAILED = "failed"  # the registry refused it (the reason is kept)


class ConsentEvent(Base):
    """The append-only consent ledger. History is never rewritten: a change of mind is a
    new event. Only the registry bookkeeping columns change after insert. On erasure the
    contact link is cut and ``recipient`` replaced by its hash."""

    __tablename__ = "consent_events"
    __table_args__ = (
        sa.Index("ix_consent_events_contact", "contact_id", "channel", "brand_id", "consent_at"),
        sa.Index("ix_consent_events_registration", "registration", "registry_deadline"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL")
    )
    recipient: Mapped[str] = mapped_column(sa.String(254))  # E.164, an e-mail, or a hash
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brands.id"))
    channel: Mapped[Channel] = mapped_column(enum_by_value(Channel, "consent_channel"))
    status: Mapped[ConsentStatus] = mapped_column(enum_by_value(ConsentStatus, "consent_status"))
    source: Mapped[str] = mapped_column(sa.String(40))  # HS_WEB, HS_MESAJ, IYS_…
    recipient_type: Mapped[RecipientType] = mapped_column(
        enum_by_value(RecipientType, "recipient_type"), default=RecipientType.BIREYSEL
    )
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[Actor] = mapped_column(enum_by_value(Actor, "consent_actor"))
    actor_label: Mapped[str] = mapped_column(sa.String(200), default="")
    evidence: Mapped[str] = mapped_column(sa.Text, default="")
    import_id: Mapped[int | None] = mapped_column()
    registration: Mapped[Registration] = mapped_column(
        enum_by_value(Registration, "consent_registration"), default=Registration.PENDING
    )
    registry_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registry_ref: Mapped[str | None] = mapped_column(sa.String(64))
    registry_error: Mapped[str | None] = mapped_column(sa.Text)


class ConsentState(Base):
    """The current consent per contact, channel and brand: a projection of the ledger kept
    in step by ``contacts.consent`` and the importer (and rebuilt from it by
    ``rebuild_states``).

    No foreign keys, on purpose: a state is written in the same transaction as the ledger
    event it points to (``event_id``), whose own keys check the contact and the brand, and
    erasing a number deletes its contact's states explicitly (``service.erase_number``);
    ``rebuild_states`` keeps only states whose events still name a contact. PostgreSQL
    checks a key with one trigger call per inserted row: the two keys this table had cost
    an import ~9 CPU-s per million statements and guarded nothing the ledger does not."""

    __tablename__ = "consent_states"
    __table_args__ = (sa.Index("ix_consent_states_brand", "brand_id", "channel", "status"),)

    contact_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[Channel] = mapped_column(
        enum_by_value(Channel, "consent_channel"), primary_key=True
    )
    brand_id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[ConsentStatus] = mapped_column(enum_by_value(ConsentStatus, "consent_status"))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int] = mapped_column(sa.BigInteger)


# --- Suppression --------------------------------------------------------------------------


class SuppressionReason(enum.StrEnum):
    OPTED_OUT = "opted_out"  # STOP / RET by SMS: ends everything but transactional
    FAILED = "failed"  # the number does not exist or is permanently unreachable
    MANUAL = "manual"  # blocked by a person
    ERASED = "erased"  # data-subject erasure: only the hash is left


class Suppression(Base):
    """A number we must not message. ``phone_hash`` (HMAC of the E.164 number) is always
    set, so an erased number (``phone`` NULL) still blocks a later import."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("phone_hash", "reason"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str | None] = mapped_column(PHONE, index=True)
    phone_hash: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[SuppressionReason] = mapped_column(
        enum_by_value(SuppressionReason, "suppression_reason")
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")


# --- Imports ------------------------------------------------------------------------------


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # waiting for the column mapping
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ContactImport(Base):
    """One uploaded file and the run that loads it."""

    __tablename__ = "contact_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    path: Mapped[str] = mapped_column(sa.String(1024))  # under the instance folder
    # SHA-256 of the file, and the numbers its run found in more than one chunk → the line
    # of their last row: an import of the same file again skips their earlier rows.
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    repeated: Mapped[dict[str, int] | None] = mapped_column(sa.JSON)
    status: Mapped[ImportStatus] = mapped_column(
        enum_by_value(ImportStatus, "import_status"), default=ImportStatus.UPLOADED
    )
    # {"phone": column index, "first_name": …, "attributes": {key: index}, "consent": …}
    mapping: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # brand_id, consent source, recipient type, list_id, default region…
    options: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    total_estimate: Mapped[int | None] = mapped_column()
    rows_done: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    consent_events: Mapped[int] = mapped_column(default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRowError(Base):
    """A rejected row (or a problem with one of its cells), for the error file."""

    __tablename__ = "contact_import_errors"
    __table_args__ = (sa.Index("ix_contact_import_errors_import_line", "import_id", "line"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("contact_imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column()
    column: Mapped[str] = mapped_column(sa.String(120), default="")
    reason: Mapped[str] = mapped_column(sa.String(64))  # a stable code
    value: Mapped[str] = mapped_column(sa.String(200), default="")
