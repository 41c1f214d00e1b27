"""Bulk upsert of contacts (the API's ``POST /contacts/bulk``): up to 10,000 items at once.

Set-based: one read of the numbers that exist, one ``INSERT … ON CONFLICT (phone) DO
UPDATE`` for the new and changed rows (in chunks the driver can bind), one insert of list
memberships, and one ``consent.record`` call. Every number goes through
``phones.normalise``; a number on the suppression list as erased is refused, so that a
data-subject erasure cannot be undone by a later upload. Within one request the last item
for a number wins; the earlier ones are reported as duplicates.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interactive.contacts import consent, phones, registry, suppression
from interactive.contacts.models import (
    Actor,
    AttributeType,
    Brand,
    ConsentEvent,
    ConsentStatus,
    Contact,
    ContactList,
    ListMember,
    RecipientType,
    SuppressionReason,
)
from interactive.contacts.service import ContactError, attribute_types, coerce
from interactive.db import checks_for_many, utcnow

MAX_ITEMS = 10_000
# Rows per INSERT: SQLite binds at most 32,766 parameters a statement.
_CHUNK = 1000
# A consent time a little ahead of ours is clock skew, not the future.
_SKEW = timedelta(minutes=5)
_FIELDS = ("first_name", "last_name", "language", "time_zone")


@dataclass(frozen=True)
class ConsentInput:
    brand: str
    status: ConsentStatus
    source: str
    consent_at: datetime  # aware
    recipient_type: RecipientType = RecipientType.BIREYSEL
    evidence: str = ""


@dataclass(frozen=True)
class ItemInput:
    """One contact to create or update; None leaves a field as it is."""

    phone: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    lists: Sequence[int | str] = ()
    consent: ConsentInput | None = None


@dataclass
class ItemResult:
    index: int
    status: str = "unchanged"  # created | updated | unchanged | duplicate | rejected
    contact_id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def reject(self, field_name: str, code: str, message: object) -> None:
        self.status = "rejected"
        self.errors.append({"field": field_name, "code": code, "message": str(message)})


@dataclass
class _Planned:
    result: ItemResult
    item: ItemInput
    phone: str
    attributes: dict[str, Any]
    list_ids: list[int]
    brand_id: int | None


def upsert(
    session: Session, items: Sequence[ItemInput], *, region: str, actor_label: str = ""
) -> list[ItemResult]:
    """Create or update the contacts of ``items`` (flushes), add list memberships and
    record consent events (actor API). Returns one result per item, in order. Idempotent:
    sending the same items again reports them unchanged and writes nothing."""
    if len(items) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} items")
    results = [ItemResult(index=n) for n in range(len(items))]
    lookups = _Lookups.load(session, items)
    planned = _validate(items, results, lookups, region)
    _refuse_erased(session, planned)
    planned, losers = _drop_duplicates(planned)
    existing = _existing(session, [p.phone for p in planned])
    _write_contacts(session, planned, existing)
    for loser, winner in losers:
        loser.result.contact_id = winner.result.contact_id
    _write_lists(session, planned)
    _write_consent(session, planned, actor_label)
    return results


@dataclass
class _Lookups:
    types: dict[str, AttributeType]
    brands: dict[str, int]
    list_ids: set[int]
    list_names: dict[str, int]

    @classmethod
    def load(cls, session: Session, items: Sequence[ItemInput]) -> _Lookups:
        brands = {i.consent.brand for i in items if i.consent is not None}
        wanted = {ref for i in items for ref in i.lists}
        # Ids beyond the 32-bit key cannot exist (and would be a database error).
        ids = [ref for ref in wanted if isinstance(ref, int) and 0 < ref < 2**31]
        names = [ref for ref in wanted if isinstance(ref, str)]
        found: list[tuple[int, str]] = []
        if wanted:
            query = sa.select(ContactList.id, ContactList.name).where(
                sa.or_(ContactList.id.in_(ids), ContactList.name.in_(names))
            )
            found = [(row[0], row[1]) for row in session.execute(query)]
        brand_ids: dict[str, int] = {}
        if brands:
            query_brands = sa.select(Brand.code, Brand.id).where(Brand.code.in_(brands))
            brand_ids = {row[0]: row[1] for row in session.execute(query_brands)}
        return cls(
            types=attribute_types(session) if any(i.attributes for i in items) else {},
            brands=brand_ids,
            list_ids={list_id for list_id, _name in found},
            list_names={name: list_id for list_id, name in found},
        )


def _validate(
    items: Sequence[ItemInput], results: list[ItemResult], lookups: _Lookups, region: str
) -> list[_Planned]:
    planned = []
    now = utcnow()
    for item, result in zip(items, results, strict=True):
        parsed = phones.normalise(item.phone, region)
        if parsed.e164 is None:
            code = parsed.error or "invalid_number"
            result.reject("phone", code, phones.error_message(code))
        if item.time_zone is not None and item.time_zone not in _zones():
            result.reject("time_zone", "invalid_timezone", _l("Unknown time zone."))
        attributes = _attributes(item.attributes, lookups.types, result)
        list_ids = _list_ids(item.lists, lookups, result)
        brand_id = _check_consent(item, lookups, result, now, parsed.e164)
        if result.status != "rejected" and parsed.e164 is not None:
            planned.append(_Planned(result, item, parsed.e164, attributes, list_ids, brand_id))
    return planned


def _zones() -> frozenset[str]:
    return _ZONES


_ZONES = frozenset(zoneinfo.available_timezones())


def _attributes(
    values: Mapping[str, Any], types: dict[str, AttributeType], result: ItemResult
) -> dict[str, Any]:
    """Typed values; a None value removes the attribute (kept as None until merged)."""
    typed: dict[str, Any] = {}
    for key, raw in values.items():
        kind = types.get(key)
        if kind is None:
            result.reject(
                f"attributes.{key}",
                "unknown_attribute",
                _l("Unknown attribute “%(key)s”.", key=key),
            )
            continue
        try:
            typed[key] = coerce(kind, raw)
        except ContactError as exc:
            result.reject(f"attributes.{key}", exc.code, exc.message)
    return typed


def _list_ids(refs: Sequence[int | str], lookups: _Lookups, result: ItemResult) -> list[int]:
    ids = []
    for position, ref in enumerate(refs):
        list_id = ref if isinstance(ref, int) and ref in lookups.list_ids else None
        if isinstance(ref, str):
            list_id = lookups.list_names.get(ref)
        if list_id is None:
            result.reject(f"lists.{position}", "unknown_list", _l("There is no such list."))
        else:
            ids.append(list_id)
    return ids


def _check_consent(
    item: ItemInput, lookups: _Lookups, result: ItemResult, now: datetime, e164: str | None
) -> int | None:
    given = item.consent
    if given is None:
        return None
    brand_id = lookups.brands.get(given.brand)
    if brand_id is None:
        result.reject("consent.brand", "unknown_brand", _l("There is no brand with this code."))
    if given.source not in registry.HS_SOURCES:
        result.reject(
            "consent.source",
            "invalid_source",
            _l("The source must be one of the registry's HS_* sources."),
        )
    if given.consent_at > now + _SKEW:
        result.reject("consent.consent_at", "future", _l("The consent time is in the future."))
    elif given.consent_at < registry.REGISTRY_EPOCH:
        result.reject(
            "consent.consent_at",
            "too_early",
            _l("The registry refuses consents before 2015-05-01."),
        )
    return brand_id


def _refuse_erased(session: Session, planned: list[_Planned]) -> None:
    reasons = suppression.suppressed(session, [p.phone for p in planned])
    for plan in planned:
        if SuppressionReason.ERASED in reasons.get(plan.phone, ()):
            plan.result.reject(
                "phone",
                "erased",
                _l("This number was erased at the person's request and cannot be added again."),
            )
    planned[:] = [p for p in planned if p.result.status != "rejected"]


def _drop_duplicates(
    planned: list[_Planned],
) -> tuple[list[_Planned], list[tuple[_Planned, _Planned]]]:
    """The last item per number, and (earlier item, the one that wins) pairs."""
    last: dict[str, _Planned] = {}
    earlier_items: list[_Planned] = []
    for plan in planned:
        earlier = last.get(plan.phone)
        if earlier is not None:
            earlier_items.append(earlier)
            earlier.result.status = "duplicate"
            earlier.result.errors.append(
                {
                    "field": "phone",
                    "code": "duplicate",
                    "message": str(
                        _l("Item %(index)d has the same number and wins.", index=plan.result.index)
                    ),
                }
            )
        last[plan.phone] = plan
    return list(last.values()), [(loser, last[loser.phone]) for loser in earlier_items]


def _existing(session: Session, numbers: list[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    for start in range(0, len(numbers), 5000):
        query = sa.select(Contact).where(Contact.phone.in_(numbers[start : start + 5000]))
        for contact in session.scalars(query):
            found[contact.phone] = contact
    return found


def _new_values(plan: _Planned, contact: Contact | None) -> dict[str, Any] | None:
    """The row to write, or None when the contact would not change."""
    item = plan.item
    if contact is None:
        attributes = {k: v for k, v in plan.attributes.items() if v is not None}
        zone = item.time_zone or phones.timezone_for(plan.phone)
        return {
            "phone": plan.phone,
            "first_name": item.first_name,
            "last_name": item.last_name,
            "language": item.language,
            "country": phones.country_of(plan.phone),
            "time_zone": zone,
            "time_zone_manual": item.time_zone is not None,
            "attributes": attributes,
        }
    values: dict[str, Any] = {
        "phone": plan.phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "language": contact.language,
        "country": contact.country,
        "time_zone": contact.time_zone,
        "time_zone_manual": contact.time_zone_manual,
        "attributes": dict(contact.attributes or {}),
    }
    for name in _FIELDS:
        value = getattr(item, name)
        if value is not None:
            values[name] = value
    if item.time_zone is not None:
        values["time_zone_manual"] = True
    for key, value in plan.attributes.items():
        if value is None:
            values["attributes"].pop(key, None)
        else:
            values["attributes"][key] = value
    unchanged = all(
        values[name] == getattr(contact, name) for name in (*_FIELDS, "time_zone_manual")
    ) and values["attributes"] == (contact.attributes or {})
    return None if unchanged else values


def _write_contacts(
    session: Session, planned: list[_Planned], existing: dict[str, Contact]
) -> None:
    rows = []
    for plan in planned:
        contact = existing.get(plan.phone)
        values = _new_values(plan, contact)
        if contact is not None:
            plan.result.contact_id = contact.id
        if values is None:
            continue
        plan.result.status = "created" if contact is None else "updated"
        rows.append(values)
    ids = _upsert_rows(session, rows)
    for plan in planned:
        if plan.result.contact_id is None:
            plan.result.contact_id = ids[plan.phone]


def _upsert_rows(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    if not rows:
        return {}
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(sa.Table, Contact.__table__)
    upsert_base = insert(table)
    statement = upsert_base.on_conflict_do_update(
        index_elements=["phone"],
        set_={
            name: upsert_base.excluded[name]
            for name in (*_FIELDS, "country", "time_zone_manual", "attributes", "updated_at")
        },
    ).returning(table.c.id, table.c.phone)
    ids: dict[str, int] = {}
    # One statement compiled once, run as an executemany ("insertmanyvalues" batches).
    connection = session.connection()
    for start in range(0, len(rows), _CHUNK):
        chunk = [
            {**row, "created_at": now, "updated_at": now} for row in rows[start : start + _CHUNK]
        ]
        for contact_id, phone in connection.execute(statement, chunk):
            ids[phone] = contact_id
    # The ORM objects read before are stale now.
    session.expire_all()
    return ids


def _write_lists(session: Session, planned: list[_Planned]) -> None:
    wanted = {
        (list_id, plan.result.contact_id): plan
        for plan in planned
        for list_id in plan.list_ids
        if plan.result.contact_id is not None
    }
    if not wanted:
        return
    contact_ids = sorted({contact_id for _list, contact_id in wanted})
    present: set[tuple[int, int]] = set()
    for start in range(0, len(contact_ids), 5000):
        query = sa.select(ListMember.list_id, ListMember.contact_id).where(
            ListMember.contact_id.in_(contact_ids[start : start + 5000])
        )
        present.update((row[0], row[1]) for row in session.execute(query))
    rows = []
    now = utcnow()
    for (list_id, contact_id), plan in wanted.items():
        if (list_id, contact_id) in present:
            continue
        rows.append({"list_id": list_id, "contact_id": contact_id, "added_at": now})
        if plan.result.status == "unchanged":
            plan.result.status = "updated"
    if rows:
        checks_for_many(session, len(rows))
        session.execute(sa.insert(ListMember), rows)


def _write_consent(session: Session, planned: list[_Planned], actor_label: str) -> None:
    events = []
    by_key: dict[tuple[int, int], _Planned] = {}
    for plan in planned:
        given = plan.item.consent
        if given is None or plan.brand_id is None or plan.result.contact_id is None:
            continue
        events.append(
            consent.NewEvent(
                contact_id=plan.result.contact_id,
                recipient=plan.phone,
                brand_id=plan.brand_id,
                status=given.status,
                source=given.source,
                consent_at=given.consent_at,
                actor=Actor.API,
                recipient_type=given.recipient_type,
                actor_label=actor_label,
                evidence=given.evidence,
            )
        )
        by_key[(plan.result.contact_id, plan.brand_id)] = plan
    written = consent.record(session, events)
    if not written:
        return
    for start in range(0, len(written), 5000):
        query = sa.select(ConsentEvent.contact_id, ConsentEvent.brand_id).where(
            ConsentEvent.id.in_(written[start : start + 5000])
        )
        for contact_id, brand_id in session.execute(query):
            changed = by_key.get((contact_id or 0, brand_id))
            if changed is not None and changed.result.status == "unchanged":
                changed.result.status = "updated"
