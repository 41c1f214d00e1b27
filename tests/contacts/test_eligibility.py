"""Who may get which message now, and why not: consent, suppression, caps, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import consent, eligibility, suppression
from interactive.contacts.eligibility import Reason
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentStatus,
    Contact,
    SuppressionReason,
)
from interactive.contacts.quiet_hours import QuietHours, QuietPolicy
from interactive.outbound.models import Message, Traffic

POLICY = QuietPolicy(default=QuietHours(), by_country={"US": QuietHours(start=time(9))})
# Monday 2026-11-23 12:00 in Istanbul.
NOON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def brand(ctx: Session) -> Brand:
    row = Brand(code="ACME", name="Acme", frequency_cap=2, frequency_days=7)
    ctx.add(row)
    ctx.flush()
    return row


def contact(
    session: Session, phone: str, tz: str = "Europe/Istanbul", country: str = "TR"
) -> Contact:
    row = Contact(phone=phone, time_zone=tz, country=country)
    session.add(row)
    session.flush()
    return row


def give(
    session: Session, person: Contact, brand: Brand, status: ConsentStatus, at: datetime
) -> None:
    consent.record(
        session,
        [
            consent.NewEvent(
                contact_id=person.id,
                recipient=person.phone,
                brand_id=brand.id,
                status=status,
                source="HS_WEB",
                consent_at=at,
                actor=Actor.USER,
            )
        ],
    )


def verdicts(
    session: Session, ids: list[int], traffic: Traffic, brand: Brand | None, at: datetime = NOON
) -> dict[int, eligibility.Verdict]:
    found = eligibility.check(session, ids, traffic=traffic, brand=brand, policy=POLICY, at=at)
    return {v.contact_id: v for v in found}


def test_commercial_needs_a_current_onay_for_the_brand(ctx: Session, brand: Brand) -> None:
    never = contact(ctx, "+905320000001")
    agreed = contact(ctx, "+905320000002")
    revoked = contact(ctx, "+905320000003")
    give(ctx, agreed, brand, ConsentStatus.ONAY, NOON - timedelta(days=3))
    give(ctx, revoked, brand, ConsentStatus.ONAY, NOON - timedelta(days=3))
    give(ctx, revoked, brand, ConsentStatus.RET, NOON - timedelta(days=1))
    found = verdicts(ctx, [never.id, agreed.id, revoked.id], Traffic.COMMERCIAL, brand)
    assert found[never.id].reason == Reason.NO_CONSENT
    assert found[agreed.id].allowed
    assert found[revoked.id].reason == Reason.CONSENT_REVOKED
    # Informational messages need no consent.
    assert all(
        v.allowed
        for v in verdicts(ctx, [never.id, revoked.id], Traffic.INFORMATIONAL, None).values()
    )


def test_an_opt_out_stops_all_but_transactional(app: Flask, ctx: Session, brand: Brand) -> None:
    person = contact(ctx, "+905320000010")
    give(ctx, person, brand, ConsentStatus.ONAY, NOON - timedelta(days=3))
    suppression.add(ctx, [person.phone], SuppressionReason.OPTED_OUT)
    assert (
        verdicts(ctx, [person.id], Traffic.COMMERCIAL, brand)[person.id].reason == Reason.OPTED_OUT
    )
    assert (
        verdicts(ctx, [person.id], Traffic.INFORMATIONAL, None)[person.id].reason
        == Reason.OPTED_OUT
    )
    assert verdicts(ctx, [person.id], Traffic.TRANSACTIONAL, None)[person.id].allowed
    suppression.add(ctx, [person.phone], SuppressionReason.MANUAL)
    assert (
        verdicts(ctx, [person.id], Traffic.TRANSACTIONAL, None)[person.id].reason == Reason.BLOCKED
    )


def test_the_frequency_cap_counts_the_brands_recent_commercial_messages(
    ctx: Session, brand: Brand
) -> None:
    person = contact(ctx, "+905320000020")
    give(ctx, person, brand, ConsentStatus.ONAY, NOON - timedelta(days=30))
    for days_ago, traffic in [
        (1, Traffic.COMMERCIAL),
        (2, Traffic.INFORMATIONAL),
        (9, Traffic.COMMERCIAL),
    ]:
        ctx.add(message(person.phone, brand, traffic, NOON - timedelta(days=days_ago)))
    ctx.flush()
    assert verdicts(ctx, [person.id], Traffic.COMMERCIAL, brand)[person.id].allowed
    ctx.add(message(person.phone, brand, Traffic.COMMERCIAL, NOON - timedelta(days=3)))
    ctx.flush()
    assert (
        verdicts(ctx, [person.id], Traffic.COMMERCIAL, brand)[person.id].reason
        == Reason.FREQUENCY_CAP
    )


def message(phone: str, brand: Brand, traffic: Traffic, at: datetime) -> Message:
    return Message(
        connection="sim",
        source="4664",
        destination=phone,
        body="x",
        encoding="GSM7",
        parts_count=1,
        traffic=traffic,
        brand_id=brand.id,
        created_at=at,
    )


def test_quiet_hours_defer_to_the_recipients_next_morning(ctx: Session, brand: Brand) -> None:
    istanbul = contact(ctx, "+905320000030")
    new_york = contact(ctx, "+12125550100", tz="America/New_York", country="US")
    for person in (istanbul, new_york):
        give(ctx, person, brand, ConsentStatus.ONAY, NOON - timedelta(days=3))
    late = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)  # 23:30 Istanbul, 15:30 New York
    found = verdicts(ctx, [istanbul.id, new_york.id], Traffic.COMMERCIAL, brand, at=late)
    assert found[istanbul.id].deferred
    assert found[istanbul.id].not_before == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00
    assert found[new_york.id].allowed
    early = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 08:30 New York: US opens at 09:00
    found = verdicts(ctx, [new_york.id], Traffic.COMMERCIAL, brand, at=early)
    assert found[new_york.id].not_before == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_a_segment_query_can_be_checked_in_one_go(ctx: Session, brand: Brand) -> None:
    import sqlalchemy as sa

    people = [contact(ctx, f"+90532000010{n}") for n in range(5)]
    for person in people[:3]:
        give(ctx, person, brand, ConsentStatus.ONAY, NOON - timedelta(days=1))
    query = sa.select(Contact.id).where(Contact.phone.like("+90532000010%"))
    found = list(
        eligibility.check(
            ctx, query, traffic=Traffic.COMMERCIAL, brand=brand, policy=POLICY, at=NOON
        )
    )
    assert [v.allowed for v in found] == [True, True, True, False, False]
    assert eligibility.may_send(
        ctx, people[0].id, traffic=Traffic.COMMERCIAL, brand=brand, policy=POLICY, at=NOON
    ).allowed  # type: ignore[union-attr]
