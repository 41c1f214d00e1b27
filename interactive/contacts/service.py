"""Contacts, custom attributes and lists; search (keyset pages); the contact timeline;
data-subject requests (export, erase).

Services flush, never commit: the request, job or command commits once.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.contacts import phones, suppression
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Channel,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Contact,
    ContactList,
    ListMember,
    Segment,
    Suppression,
    SuppressionReason,
)
from interactive.db import checks_for_many, utcnow
from interactive.keywords.models import InboundMessage, InboundPart
from interactive.outbound.models import Message

log = logging.getLogger(__name__)

PAGE_SIZE = 50
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TRUE = frozenset({"true", "1", "yes", "y", "evet", "e", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "hayır", "hayir", "h", "off"})


class ContactError(Exception):
    """A refused change: ``code`` is stable, ``message`` is for people, ``field`` says where."""

    def __init__(self, code: str, message: object, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.field = field


def default_region() -> str:
    return str(current_app.config.get("DEFAULT_REGION", "TR"))


def normalise_phone(raw: str, region: str | None = None) -> str:
    """E.164 for ``raw`` or ContactError with phonenumbers' reason (field "phone")."""
    parsed = phones.normalise(raw or "", region or default_region())
    if parsed.e164 is None:
        code = parsed.error or "invalid_number"
        raise ContactError(code, phones.error_message(code), "phone")
    return parsed.e164


# --- Contacts -----------------------------------------------------------------------------


@dataclass
class ContactInput:
    """What a person or the API sets on a contact. ``time_zone`` None: derived from the
    number; a zone name: set by hand (kept when the number changes)."""

    phone: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


def create_contact(session: Session, data: ContactInput, *, region: str | None = None) -> Contact:
    """Add one contact (flushes). Refused (ContactError) for an invalid number (with the
    reason), a number already present, or an erased number (code "erased")."""
    e164 = normalise_phone(data.phone, region)
    _refuse_erased(session, e164)
    if session.scalar(sa.select(Contact.id).where(Contact.phone == e164)) is not None:
        raise ContactError("phone_taken", _l("A contact with this number already exists."), "phone")
    contact = Contact(phone=e164, attributes={})
    _apply(session, contact, data, e164)
    session.add(contact)
    session.flush()
    return contact


def update_contact(
    session: Session, contact_id: int, data: ContactInput, *, region: str | None = None
) -> Contact:
    """Replace a contact's fields and attributes (flushes). A new number is checked as in
    ``create_contact``; the derived time zone follows it unless set by hand."""
    contact = get_contact(session, contact_id)
    e164 = normalise_phone(data.phone, region)
    if e164 != contact.phone:
        _refuse_erased(session, e164)
        taken = session.scalar(sa.select(Contact.id).where(Contact.phone == e164))
        if taken is not None:
            raise ContactError(
                "phone_taken", _l("A contact with this number already exists."), "phone"
            )
    _apply(session, contact, data, e164)
    session.flush()
    return contact


def contact_ids(session: Session, numbers: Iterable[str | None]) -> dict[str, int]:
    """Contact ids by number (E.164), for the numbers that have a contact; looked up a few
    thousand at a time."""
    wanted = sorted({n for n in numbers if n})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 5000):
        rows = session.execute(
            sa.select(Contact.phone, Contact.id).where(
                Contact.phone.in_(wanted[start : start + 5000])
            )
        )
        found.update({phone: contact_id for phone, contact_id in rows})
    return found


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise ContactError("not_found", _l("No such contact."))
    return contact


def _refuse_erased(session: Session, e164: str) -> None:
    reasons = suppression.suppressed(session, [e164]).get(e164, [])
    if SuppressionReason.ERASED in reasons:
        raise ContactError(
            "erased",
            _l("This number was erased at the person's request and cannot be added again."),
            "phone",
        )


def _apply(session: Session, contact: Contact, data: ContactInput, e164: str) -> None:
    contact.phone = e164
    contact.first_name = _clean(data.first_name, 100)
    contact.last_name = _clean(data.last_name, 100)
    contact.language = _clean(data.language, 8)
    contact.country = phones.country_of(e164)
    zone = _clean(data.time_zone, 64)
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ContactError("invalid_timezone", _l("Unknown time zone."), "time_zone") from None
        contact.time_zone, contact.time_zone_manual = zone, True
    else:
        contact.time_zone, contact.time_zone_manual = phones.timezone_for(e164), False
    contact.attributes = typed_attributes(session, data.attributes)


def _clean(value: str | None, size: int) -> str | None:
    text = (value or "").strip()
    return text[:size] or None


# --- Attributes ---------------------------------------------------------------------------


def attribute_types(session: Session) -> dict[str, AttributeType]:
    query = sa.select(AttributeDefinition.key, AttributeDefinition.type)
    return {key: kind for key, kind in session.execute(query)}


def typed_attributes(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values checked and converted to their declared type; empty values are dropped.
    ContactError("unknown_attribute" / "invalid_attribute", field "attr:<key>")."""
    types = attribute_types(session) if values else {}
    result: dict[str, Any] = {}
    for key, raw in values.items():
        kind = types.get(key)
        if kind is None:
            raise ContactError(
                "unknown_attribute", _l("Unknown attribute “%(key)s”.", key=key), f"attr:{key}"
            )
        try:
            value = coerce(kind, raw)
        except ContactError as exc:
            exc.field = f"attr:{key}"
            raise
        if value is not None:
            result[key] = value
    return result


def coerce(kind: AttributeType, raw: Any) -> Any:
    """``raw`` (a form string or a JSON value) as stored for ``kind``; None when empty.
    ContactError("invalid_attribute") with the expected shape."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    if kind == AttributeType.TEXT:
        return str(text)[:1000]
    if kind == AttributeType.NUMBER:
        if isinstance(text, bool):
            raise _invalid(_l("a number"))
        try:
            number = float(str(text).replace(",", ".")) if isinstance(text, str) else float(text)
        except (TypeError, ValueError):
            raise _invalid(_l("a number")) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _invalid(_l("a number"))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == AttributeType.DATE:
        try:
            return date.fromisoformat(
                str(text)[:10] if len(str(text)) >= 10 else str(text)
            ).isoformat()
        except ValueError:
            raise _invalid(_l("a date as YYYY-MM-DD")) from None
    if isinstance(text, bool):
        return text
    lowered = str(text).lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _invalid(_l("yes or no (true/false)"))


def _invalid(expected: object) -> ContactError:
    return ContactError("invalid_attribute", _l("Expected %(what)s.", what=expected))


def create_attribute(
    session: Session, key: str, label: str, kind: AttributeType
) -> AttributeDefinition:
    """Declare an attribute (flushes). Keys: lowercase letters, digits, underscore."""
    key = key.strip()
    if not _KEY.match(key):
        raise ContactError(
            "invalid_key",
            _l("Use lowercase letters, digits and _ (starting with a letter)."),
            "key",
        )
    if session.scalar(sa.select(AttributeDefinition.id).where(AttributeDefinition.key == key)):
        raise ContactError("key_taken", _l("This attribute already exists."), "key")
    definition = AttributeDefinition(key=key, label=(label.strip() or key)[:120], type=kind)
    session.add(definition)
    session.flush()
    return definition


def rename_attribute(session: Session, attribute_id: int, label: str) -> None:
    definition = session.get(AttributeDefinition, attribute_id)
    if definition is None:
        raise ContactError("not_found", _l("No such attribute."))
    definition.label = (label.strip() or definition.key)[:120]
    session.flush()


def delete_attribute(session: Session, attribute_id: int) -> None:
    """Drop the definition. Stored values stay in contacts' JSON (rewriting a million rows
    is not worth it) but are no longer shown, set or usable in segments."""
    session.execute(sa.delete(AttributeDefinition).where(AttributeDefinition.id == attribute_id))


# --- Lists --------------------------------------------------------------------------------


def create_list(session: Session, name: str) -> ContactList:
    name = _list_name(session, name)
    contact_list = ContactList(name=name)
    session.add(contact_list)
    session.flush()
    return contact_list


def rename_list(session: Session, list_id: int, name: str) -> None:
    contact_list = session.get(ContactList, list_id)
    if contact_list is None:
        raise ContactError("not_found", _l("No such list."))
    if name.strip() != contact_list.name:
        contact_list.name = _list_name(session, name)
    session.flush()


def _list_name(session: Session, name: str) -> str:
    name = name.strip()[:120]
    if not name:
        raise ContactError("name_required", _l("Enter a name."), "name")
    if session.scalar(sa.select(ContactList.id).where(ContactList.name == name)):
        raise ContactError("name_taken", _l("A list with this name already exists."), "name")
    return name


def delete_list(session: Session, list_id: int) -> None:
    """Delete a list and its memberships (the contacts stay)."""
    session.execute(sa.delete(ListMember).where(ListMember.list_id == list_id))
    session.execute(sa.delete(ContactList).where(ContactList.id == list_id))


def add_members(session: Session, list_id: int, contact_ids: Iterable[int]) -> int:
    """Add contacts to a list; members already there are skipped. One INSERT … SELECT per
    10,000 ids. Returns how many were added."""
    ids = sorted(set(contact_ids))
    added = 0
    checks_for_many(session, len(ids))
    for start in range(0, len(ids), 10000):
        chunk = ids[start : start + 10000]
        present = ListMember.__table__.alias("present")
        select = sa.select(sa.literal(list_id), Contact.id).where(
            Contact.id.in_(chunk),
            ~sa.exists().where(present.c.list_id == list_id, present.c.contact_id == Contact.id),
        )
        inserted = session.scalars(
            sa.insert(ListMember)
            .from_select(["list_id", "contact_id"], select)
            .returning(ListMember.contact_id)
        )
        added += len(inserted.all())
    return added


def remove_members(session: Session, list_id: int, contact_ids: Iterable[int]) -> int:
    ids = sorted(set(contact_ids))
    removed = 0
    for start in range(0, len(ids), 10000):
        result = session.execute(
            sa.delete(ListMember).where(
                ListMember.list_id == list_id, ListMember.contact_id.in_(ids[start : start + 10000])
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def lists_with_counts(session: Session) -> list[tuple[ContactList, int]]:
    count = (
        sa.select(sa.func.count())
        .where(ListMember.list_id == ContactList.id)
        .correlate(ContactList)
        .scalar_subquery()
    )
    return [
        (row[0], int(row[1]))
        for row in session.execute(sa.select(ContactList, count).order_by(ContactList.name))
    ]


# --- Search -------------------------------------------------------------------------------


@dataclass
class ContactFilter:
    query: str = ""
    list_id: int | None = None
    segment_id: int | None = None
    brand_id: int | None = None
    consent: str | None = None  # "ONAY", "RET" or "none" (for brand_id)


@dataclass
class Page:
    contacts: Sequence[Contact]
    next_cursor: int | None
    prev_cursor: int | None


_NUMBER_QUERY = re.compile(r"^\+?[\d\s().-]+$")


def search(
    session: Session,
    filters: ContactFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    page_size: int = PAGE_SIZE,
    region: str | None = None,
) -> Page:
    """One page of contacts, newest first, by keyset on id: ``after`` is the last id of the
    page before (next page), ``before`` the first id of the page after (previous page)."""
    query = sa.select(Contact).where(*conditions(session, filters, region or default_region()))
    if before is not None:
        rows = list(
            session.scalars(
                query.where(Contact.id > before).order_by(Contact.id).limit(page_size + 1)
            )
        )
        more_before = len(rows) > page_size
        rows = list(reversed(rows[:page_size]))
        return Page(
            rows,
            rows[-1].id if rows else None,
            rows[0].id if rows and more_before else None,
        )
    if after is not None:
        query = query.where(Contact.id < after)
    rows = list(session.scalars(query.order_by(Contact.id.desc()).limit(page_size + 1)))
    more_after = len(rows) > page_size
    rows = rows[:page_size]
    return Page(
        rows,
        rows[-1].id if rows and more_after else None,
        rows[0].id if rows and after is not None else None,
    )


def conditions(
    session: Session, filters: ContactFilter, region: str
) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of a contact search (used by the list page and exports)."""
    where: list[sa.ColumnElement[bool]] = []
    text = filters.query.strip()
    if text:
        where.append(
            number_condition(text, region) if _NUMBER_QUERY.match(text) else name_condition(text)
        )
    if filters.list_id is not None:
        where.append(
            sa.exists().where(
                ListMember.list_id == filters.list_id, ListMember.contact_id == Contact.id
            )
        )
    if filters.segment_id is not None:
        from interactive.contacts import segments

        segment = session.get(Segment, filters.segment_id)
        if segment is None:
            raise ContactError("not_found", _l("No such segment."))
        where.append(segments.to_where(session, segment.definition))
    if filters.brand_id is not None and filters.consent:
        where.append(consent_condition(filters.brand_id, filters.consent))
    return where


def consent_condition(brand_id: int, status: str) -> sa.ColumnElement[bool]:
    """Current SMS consent for a brand: "ONAY", "RET" or "none" (never asked)."""
    base = sa.exists().where(
        ConsentState.contact_id == Contact.id,
        ConsentState.channel == Channel.MESAJ,
        ConsentState.brand_id == brand_id,
    )
    if status == "none":
        return ~base
    return sa.exists().where(
        ConsentState.contact_id == Contact.id,
        ConsentState.channel == Channel.MESAJ,
        ConsentState.brand_id == brand_id,
        ConsentState.status == ConsentStatus(status),
    )


def number_prefix(text: str, region: str) -> str:
    """The E.164 prefix for what a person typed: "0532" and "+90532" → "+90532"."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    cc = str(phonenumbers.country_code_for_region(region.upper()) or "")
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
    national = (meta.national_prefix if meta is not None else None) or ""
    if national and digits.startswith(national):
        return "+" + cc + digits[len(national) :]
    if cc and digits.startswith(cc) and len(digits) > len(cc) + 2:
        return "+" + digits
    return "+" + cc + digits


def number_condition(text: str, region: str) -> sa.ColumnElement[bool]:
    """A whole valid number: equality; a prefix: a range on ``phone`` (all digits, so the
    bound is the next number: "+90532" → ["+90532", "+90533")) that the unique index serves."""
    parsed = phones.normalise(text, region)
    if parsed.e164 is not None:
        return Contact.phone == parsed.e164
    prefix = number_prefix(text, region)
    upper = _next_digits(prefix[1:])
    if upper is None:
        return Contact.phone >= prefix
    return sa.and_(Contact.phone >= prefix, Contact.phone < "+" + upper)


def _next_digits(digits: str) -> str | None:
    stripped = digits.rstrip("9")
    if not stripped:
        return None
    return stripped[:-1] + str(int(stripped[-1]) + 1)


def name_condition(text: str) -> sa.ColumnElement[bool]:
    """Case-insensitive prefix on first or last name, as ranges on the raw columns (their
    b-tree indexes serve them): one range per spelling — as typed, lower, UPPER, Title,
    with Turkish İ/ı folding. lower(column) would need expression indexes we do not have.
    The bounds assume code-point order (SQLite BINARY, PostgreSQL "C" collation)."""
    words = text.split()
    if len(words) >= 2:
        first, last = words[0], " ".join(words[1:])
        return sa.or_(
            sa.and_(_prefix(Contact.first_name, first), _prefix(Contact.last_name, last)),
            _prefix(Contact.first_name, text),
            _prefix(Contact.last_name, text),
        )
    return sa.or_(_prefix(Contact.first_name, text), _prefix(Contact.last_name, text))


def _prefix(column: Any, text: str) -> sa.ColumnElement[bool]:
    return sa.or_(
        *(sa.and_(column >= v, column < v[:-1] + chr(ord(v[-1]) + 1)) for v in spellings(text))
    )


def spellings(text: str) -> list[str]:
    """The case variants a stored name may use for ``text``, Turkish-aware."""
    tr_lower = text.replace("I", "ı").replace("İ", "i").lower()
    tr_upper = text.replace("i", "İ").replace("ı", "I").upper()
    variants = {
        text,
        text.lower(),
        text.upper(),
        text[:1].upper() + text[1:].lower(),
        tr_lower,
        tr_upper,
        tr_upper[:1] + tr_lower[1:],
    }
    return sorted(v for v in variants if v)


# --- Timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a contact. ``kind`` says which template shows it:
    "message", "reply", "consent" (clicks, survey answers and bookings will join)."""

    kind: str
    at: datetime
    id: int
    data: dict[str, Any]

    @property
    def cursor(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}|{self.id}"


@dataclass(frozen=True)
class TimelineSource:
    """How to read one kind of entry for a contact: its time and id columns, a query of the
    contact's rows, and how a row becomes entry data."""

    kind: str
    at: Any
    id: Any
    query: Callable[[Contact], sa.Select[Any]]
    data: Callable[[Any], dict[str, Any]]


def phone_forms(e164: str) -> list[str]:
    """The forms a number is stored in by the gateway: "+90532…" and "90532…"."""
    return [e164, e164.removeprefix("+")]


def _message_query(contact: Contact) -> sa.Select[Any]:
    return sa.select(Message).where(
        sa.or_(
            Message.contact_id == contact.id, Message.destination.in_(phone_forms(contact.phone))
        )
    )


def _inbound_query(contact: Contact) -> sa.Select[Any]:
    return sa.select(InboundMessage).where(InboundMessage.source.in_(phone_forms(contact.phone)))


def _consent_query(contact: Contact) -> sa.Select[Any]:
    return sa.select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)


TIMELINE_SOURCES: list[TimelineSource] = [
    TimelineSource(
        "consent",
        ConsentEvent.consent_at,
        ConsentEvent.id,
        _consent_query,
        lambda e: {
            "brand_id": e.brand_id,
            "channel": e.channel.value,
            "status": e.status.value,
            "source": e.source,
            "actor": e.actor.value,
            "actor_label": e.actor_label,
            "registration": e.registration.value,
        },
    ),
    TimelineSource(
        "message",
        Message.created_at,
        Message.id,
        _message_query,
        lambda m: {
            "body": m.body,
            "state": m.state.value,
            "traffic": m.traffic.value,
            "campaign_id": m.campaign_id,
            "source": m.source,
        },
    ),
    TimelineSource(
        "reply",
        InboundMessage.received_at,
        InboundMessage.id,
        _inbound_query,
        lambda i: {"text": i.text, "destination": i.destination},
    ),
]


@dataclass
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


def timeline(
    session: Session, contact_id: int, *, before: str | None = None, page_size: int = PAGE_SIZE
) -> TimelinePage:
    """Everything that happened to a contact, newest first, merged across sources; keyset
    paging by (time, kind, id): ``before`` is the cursor of the last entry shown."""
    contact = get_contact(session, contact_id)
    cursor = _parse_cursor(before)
    entries: list[TimelineEntry] = []
    for source in TIMELINE_SOURCES:
        query = source.query(contact)
        if cursor is not None:
            query = query.where(_before(source, *cursor))
        query = query.order_by(source.at.desc(), source.id.desc()).limit(page_size + 1)
        for row in session.scalars(query):
            at = getattr(row, source.at.key)
            entries.append(TimelineEntry(source.kind, at, row.id, source.data(row)))
    entries.sort(key=lambda e: (e.at, e.kind, e.id), reverse=True)
    more = len(entries) > page_size
    entries = entries[:page_size]
    return TimelinePage(entries, entries[-1].cursor if more and entries else None)


def _parse_cursor(text: str | None) -> tuple[datetime, str, int] | None:
    if not text:
        return None
    try:
        at, kind, row_id = text.split("|")
        return datetime.fromisoformat(at), kind, int(row_id)
    except ValueError:
        return None


def _before(source: TimelineSource, at: datetime, kind: str, row_id: int) -> Any:
    if source.kind < kind:
        return source.at <= at
    if source.kind > kind:
        return source.at < at
    return sa.or_(source.at < at, sa.and_(source.at == at, source.id < row_id))


# --- Data-subject requests ----------------------------------------------------------------


def export_number(session: Session, raw_phone: str, *, region: str | None = None) -> dict[str, Any]:
    """Everything stored about a number, as one JSON-ready document (reads only)."""
    e164 = normalise_phone(raw_phone, region)
    forms = phone_forms(e164)
    contact = session.scalar(sa.select(Contact).where(Contact.phone == e164))
    document: dict[str, Any] = {"phone": e164, "exported_at": utcnow().isoformat(), "contact": None}
    if contact is not None:
        document["contact"] = _row_dict(contact)
        lists = session.execute(
            sa.select(ContactList.id, ContactList.name, ListMember.added_at)
            .join(ListMember, ListMember.list_id == ContactList.id)
            .where(ListMember.contact_id == contact.id)
            .order_by(ContactList.name)
        )
        document["lists"] = [{"id": i, "name": n, "added_at": a.isoformat()} for i, n, a in lists]
        states = session.scalars(
            sa.select(ConsentState).where(ConsentState.contact_id == contact.id)
        )
        document["consent_states"] = [_row_dict(s) for s in states]
    events = session.scalars(
        sa.select(ConsentEvent)
        .where(
            sa.or_(
                ConsentEvent.recipient == e164,
                ConsentEvent.contact_id == (contact.id if contact else -1),
            )
        )
        .order_by(ConsentEvent.consent_at, ConsentEvent.id)
    )
    document["consent_events"] = [_row_dict(e) for e in events]
    rows = session.scalars(
        sa.select(Suppression).where(Suppression.phone_hash == suppression.phone_hash(e164))
    )
    document["suppressions"] = [
        {"reason": s.reason.value, "note": s.note, "created_at": s.created_at.isoformat()}
        for s in rows
    ]
    message_filter: sa.ColumnElement[bool] = Message.destination.in_(forms)
    if contact is not None:
        message_filter = sa.or_(message_filter, Message.contact_id == contact.id)
    messages = session.scalars(sa.select(Message).where(message_filter).order_by(Message.id))
    document["messages"] = [_row_dict(m) for m in messages]
    inbound = session.scalars(
        sa.select(InboundMessage)
        .where(InboundMessage.source.in_(forms))
        .order_by(InboundMessage.id)
    )
    document["inbound"] = [_row_dict(i, skip={"raw", "dedup_key"}) for i in inbound]
    return document


def _row_dict(row: Any, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for column in sa.inspect(row).mapper.column_attrs:
        if column.key in skip:
            continue
        value = getattr(row, column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, bytes):
            value = value.hex()
        result[column.key] = value
    return result


ERASED = "erased"


def erase_number(
    session: Session, raw_phone: str, *, by: str, region: str | None = None
) -> dict[str, int]:
    """Erase a data subject (flushes; irreversible once committed): delete the contact
    (list memberships and consent states cascade), scrub numbers and texts of messages and
    inbound messages, replace the ledger's recipient by the number's hash (the ledger stays:
    it is the proof of consent history), and suppress the hash with reason ERASED so that a
    later import, API call or send is refused. Safe to run twice. Returns counts."""
    e164 = normalise_phone(raw_phone, region)
    forms = phone_forms(e164)
    digest = suppression.phone_hash(e164)
    contact_id = session.scalar(sa.select(Contact.id).where(Contact.phone == e164))
    summary = {"contacts": 0, "messages": 0, "inbound": 0, "consent_events": 0}
    if contact_id is not None:
        summary["consent_events"] += _rowcount(
            session.execute(
                sa.update(ConsentEvent)
                .where(ConsentEvent.contact_id == contact_id)
                .values(recipient=digest, contact_id=None)
            )
        )
        summary["messages"] += _rowcount(
            session.execute(
                sa.update(Message)
                .where(Message.contact_id == contact_id)
                .values(destination=ERASED, body="", contact_id=None)
            )
        )
        session.execute(sa.delete(ListMember).where(ListMember.contact_id == contact_id))
        session.execute(sa.delete(ConsentState).where(ConsentState.contact_id == contact_id))
        summary["contacts"] = _rowcount(
            session.execute(sa.delete(Contact).where(Contact.id == contact_id))
        )
    summary["consent_events"] += _rowcount(
        session.execute(
            sa.update(ConsentEvent).where(ConsentEvent.recipient == e164).values(recipient=digest)
        )
    )
    summary["messages"] += _rowcount(
        session.execute(
            sa.update(Message)
            .where(Message.destination.in_(forms))
            .values(destination=ERASED, body="")
        )
    )
    inbound_of_number = sa.or_(InboundMessage.source.in_(forms), InboundMessage.phone == e164)
    inbound_ids = list(session.scalars(sa.select(InboundMessage.id).where(inbound_of_number)))
    summary["inbound"] = _rowcount(
        session.execute(
            sa.update(InboundMessage)
            .where(inbound_of_number)
            .values(source=ERASED, phone=None, text="", raw=b"", thread_id=None, contact_id=None)
        )
    )
    _erase_replies(session, e164, inbound_ids)
    session.execute(
        sa.update(InboundPart)
        .where(InboundPart.source.in_(forms))
        .values(source=ERASED, short_message=b"", message_payload=None)
    )
    suppression.add(session, [e164], SuppressionReason.ERASED, note="data-subject erasure", by=by)
    session.expire_all()
    log.info("data subject erased phone_hash=%s by=%s %s", digest[:12], by, summary)
    return summary


def _erase_replies(session: Session, e164: str, inbound_ids: list[int]) -> None:
    """What the router and its handlers kept of the number's replies: inbox threads,
    bookings, waiting opt-ins, webhook bodies carrying the texts, the number on
    conversions."""
    from interactive.analytics.models import Conversion
    from interactive.bookings.models import Booking, BookingDialogue
    from interactive.keywords.models import OptInRequest, Thread, WebhookDelivery
    from interactive.surveys.models import SurveySession

    session.execute(sa.delete(Thread).where(Thread.phone == e164))
    # Bookings go with their dialogues and audit trail (names, notes, the person's words).
    session.execute(sa.delete(BookingDialogue).where(BookingDialogue.phone == e164))
    session.execute(sa.delete(Booking).where(Booking.phone == e164))
    # Survey sessions go with their answers (the raw replies are the person's words).
    session.execute(sa.delete(SurveySession).where(SurveySession.phone == e164))
    session.execute(sa.delete(OptInRequest).where(OptInRequest.phone == e164))
    session.execute(sa.update(Conversion).where(Conversion.phone == e164).values(phone=None))
    for start in range(0, len(inbound_ids), 5000):
        session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.inbound_id.in_(inbound_ids[start : start + 5000]))
            .values(
                body="{}",
                state=sa.case(
                    (WebhookDelivery.state == "pending", "failed"), else_=WebhookDelivery.state
                ),
            )
        )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
