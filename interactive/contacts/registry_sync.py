"""Apply the registry's (İYS) changes to the consent ledger: a change report uploaded by a
person, or changes pulled with ``registry_client.IysClient.pull_changes``.

Each change becomes a ledger event with actor "registry" and its source as the registry
gave it (``IYS_*`` when the person acted in the registry); such events need no
registration. The contact is found by number or created. A RET sent to 3338 therefore
stops the brand's commercial messages as soon as this transaction commits: the current
state is updated with the event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts import consent, phones, suppression
from interactive.contacts.models import (
    Actor,
    Brand,
    Channel,
    ConsentStatus,
    Contact,
    RecipientType,
    SuppressionReason,
)
from interactive.contacts.registry import RegistryChange
from interactive.contacts.service import contact_ids

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    recorded: int = 0  # events written
    unchanged: int = 0  # repeated or older than the current state
    contacts_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)


def apply_changes(
    session: Session,
    changes: Sequence[RegistryChange],
    *,
    brand_id: int | None = None,
    label: str = "registry sync",
) -> SyncResult:
    """Record ``changes`` as registry events (flushes). ``brand_id`` is the brand of
    changes that name none (a report downloaded for one brand). Idempotent: applying the
    same changes again records nothing. Positions in ``errors`` are indexes in
    ``changes``; reasons never contain the number."""
    result = SyncResult()
    brands = _brands(session)
    usable: list[tuple[int, RegistryChange, int]] = []
    for position, change in enumerate(changes):
        brand = brands.get(change.brand_code) if change.brand_code else brand_id
        if brand is None:
            result.errors.append((position, "unknown brand code"))
        elif change.channel == "EPOSTA":
            result.errors.append((position, "e-mail consents are not kept here"))
        else:
            usable.append((position, change, brand))
    erased = suppression.suppressed(session, {c.recipient for _p, c, _b in usable})
    kept = []
    for position, change, brand in usable:
        if SuppressionReason.ERASED in erased.get(change.recipient, ()):
            result.errors.append((position, "the number was erased"))
        else:
            kept.append((change, brand))
    contact_ids, created = _contacts(session, [c.recipient for c, _b in kept])
    result.contacts_created = created
    events = [
        consent.NewEvent(
            contact_id=contact_ids[change.recipient],
            recipient=change.recipient,
            brand_id=brand,
            status=ConsentStatus(change.status),
            source=change.source or "IYS",
            consent_at=change.consent_at,
            actor=Actor.REGISTRY,
            channel=Channel(change.channel),
            recipient_type=RecipientType(change.recipient_type),
            actor_label=label,
            evidence=f"İYS transaction {change.transaction_id}" if change.transaction_id else "",
        )
        for change, brand in kept
    ]
    written = consent.record(session, events)
    result.recorded = len(written)
    result.unchanged = len(events) - len(written)
    log.info(
        "registry changes applied recorded=%d unchanged=%d errors=%d",
        result.recorded,
        result.unchanged,
        len(result.errors),
    )
    return result


def _brands(session: Session) -> dict[str, int]:
    """Brands by the registry's brand code, and by our own code as a fallback."""
    found: dict[str, int] = {}
    for brand_id, code, iys_code in session.execute(
        sa.select(Brand.id, Brand.code, Brand.iys_code)
    ):
        found.setdefault(code, brand_id)
        if iys_code:
            found[iys_code] = brand_id
    return found


def _contacts(session: Session, numbers: list[str]) -> tuple[dict[str, int], int]:
    """Contact ids by number, creating the missing contacts; and how many were created."""
    wanted = sorted(set(numbers))
    ids = contact_ids(session, wanted)
    missing: list[dict[str, object]] = [
        {
            "phone": number,
            "country": phones.country_of(number),
            "time_zone": phones.timezone_for(number),
            "attributes": {},
        }
        for number in wanted
        if number not in ids
    ]
    if missing:
        table = cast(sa.Table, Contact.__table__)
        statement = sa.insert(table).returning(table.c.id, table.c.phone)
        connection = session.connection()
        for start in range(0, len(missing), 1000):
            for contact_id, phone in connection.execute(statement, missing[start : start + 1000]):
                ids[phone] = contact_id
    return ids, len(missing)
