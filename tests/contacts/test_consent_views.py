"""Consent pages: registry registrations and exports, change reports, suppression list,
brands, permissions."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import consent
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentEvent,
    ConsentStatus,
    Contact,
    Registration,
    Suppression,
    SuppressionReason,
)
from interactive.contacts.registry import ISTANBUL
from interactive.db import utcnow
from interactive.outbound.service import suppression_key
from interactive.web.models import Role
from tests.helpers import csrf_token, login, post_form


@pytest.fixture
def marketer(client: Any, make_user: Any) -> Any:
    user = make_user(Role.MARKETER)
    login(client, user.email)
    return user


@pytest.fixture
def ledger(ctx: Session) -> dict[str, Any]:
    """A brand with one overdue and one fresh pending ONAY, and a hostile-looking event."""
    acme = Brand(code="ACME", name="Acme", iys_code="700101")
    beta = Brand(code="BETA", name="Beta")
    contacts = [Contact(phone=f"+90532{1000000 + n}") for n in range(3)]
    ctx.add_all([acme, beta, *contacts])
    ctx.flush()
    now = utcnow()

    def event(n: int, at: Any, source: str = "HS_WEB") -> consent.NewEvent:
        return consent.NewEvent(
            contact_id=contacts[n].id,
            recipient=contacts[n].phone,
            brand_id=acme.id,
            status=ConsentStatus.ONAY,
            source=source,
            consent_at=at,
            actor=Actor.USER,
        )

    consent.record(
        ctx,
        [
            event(0, now - timedelta(days=20)),
            event(1, now - timedelta(minutes=5)),
            event(2, now - timedelta(minutes=1), source="=HYPERLINK(1)"),
        ],
    )
    ctx.commit()
    return {"acme": acme.id, "beta": beta.id, "contacts": [c.id for c in contacts]}


def test_registry_lists_pending_and_overdue(
    client: Any, marketer: Any, ledger: dict[str, Any]
) -> None:
    page = client.get("/consent/registry")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="pending-ACME">3<' in html
    assert 'data-testid="overdue-ACME"><strong class="error">1<' in html
    assert 'data-testid="pending-BETA">0<' in html
    assert html.count('class="overdue"') == 2  # the brand row and the late event
    assert "+905321000000" in html
    # Filtered by another brand: nothing to register.
    beta = client.get(f"/consent/registry?brand={ledger['beta']}").get_data(as_text=True)
    assert "Nothing to register." in beta
    acme = client.get(f"/consent/registry?brand={ledger['acme']}").get_data(as_text=True)
    assert 'id="iys-not-configured"' in acme
    assert "Send pending now" not in acme


def test_exports_are_in_the_registry_shape_and_formula_safe(
    client: Any, marketer: Any, ledger: dict[str, Any]
) -> None:
    response = client.get(f"/consent/registry/export.csv?brand={ledger['acme']}")
    assert response.status_code == 200
    assert response.headers["X-Skipped-Events"] == "1"  # the =HYPERLINK source
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["recipient", "recipientType", "type", "status", "consentDate", "source"]
    assert sorted(r[0] for r in rows[1:]) == ["+905321000000", "+905321000001"]
    for row in rows[1:]:
        for cell in row[1:]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert "HYPERLINK" not in text

    document = json.loads(client.get(f"/consent/registry/export.json?brand={ledger['acme']}").data)
    assert {item["recipient"] for item in document} == {"+905321000000", "+905321000001"}
    assert set(document[0]) == {
        "consentDate",
        "source",
        "recipient",
        "recipientType",
        "status",
        "type",
    }
    assert client.get("/consent/registry/export.csv").status_code == 404


def test_mark_registered_marks_the_exported_selection(
    client: Any, ctx: Session, marketer: Any, ledger: dict[str, Any]
) -> None:
    response = post_form(
        client,
        f"/consent/registry?brand={ledger['acme']}",
        "/consent/registry/mark",
        brand=str(ledger["acme"]),
        until=(utcnow() + timedelta(seconds=1)).isoformat(),
    )
    assert response.status_code == 302
    states = {
        row[0]: row[1]
        for row in ctx.execute(sa.select(ConsentEvent.source, ConsentEvent.registration))
    }
    assert states["HS_WEB"] == Registration.REGISTERED
    # The event that cannot be exported stays pending for a person to look at.
    assert states["=HYPERLINK(1)"] == Registration.PENDING


def test_change_report_upload_records_registry_events(
    client: Any, ctx: Session, marketer: Any, ledger: dict[str, Any]
) -> None:
    when = utcnow().astimezone(ISTANBUL).strftime("%Y-%m-%d %H:%M:%S")
    report = (
        "recipient;recipientType;type;status;consentDate;source;brandCode\r\n"
        f"+905321000000;BIREYSEL;MESAJ;RET;{when};IYS_MESAJ;700101\r\n"
        f"05329998877;BIREYSEL;MESAJ;ONAY;{when};IYS_WEB;700101\r\n"
        f"123;BIREYSEL;MESAJ;ONAY;{when};IYS_WEB;700101\r\n"
        f"+905329998876;BIREYSEL;MESAJ;ONAY;{when};IYS_WEB;999\r\n"
    ).encode("utf-8-sig")
    page = client.get("/consent/registry")
    response = client.post(
        "/consent/registry/upload",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "report": (io.BytesIO(report), "changes.csv"),
            "brand": "0",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 events recorded" in html and "1 contacts created" in html
    assert "line 4: recipient is not" in html
    assert "unknown brand code" in html
    first = ledger["contacts"][0]
    # The RET made in the registry counts for the brand at once, and needs no registration.
    assert consent.current(ctx, first, ledger["acme"]) == ConsentStatus.RET
    event = ctx.scalars(sa.select(ConsentEvent).where(ConsentEvent.source == "IYS_MESAJ")).one()
    assert event.actor == Actor.REGISTRY
    assert event.registration == Registration.NOT_REQUIRED
    assert ctx.scalar(sa.select(Contact.id).where(Contact.phone == "+905329998877"))


def test_suppression_block_and_lift_update_the_mirror(
    app: Flask,
    client: Any,
    ctx: Session,
    redis_client: redis.Redis,
    marketer: Any,
) -> None:
    mirror = suppression_key(app.config["REDIS_PREFIX"])
    page = client.get("/consent/suppressions").get_data(as_text=True)
    assert "only transactional messages" in page
    response = post_form(
        client,
        "/consent/suppressions",
        "/consent/suppressions/block",
        phone="0532 123 45 67",
        note="<b>called us</b>",
    )
    assert response.status_code == 302
    assert redis_client.sismember(mirror, "+905321234567")
    listing = client.get("/consent/suppressions?q=05321234567").get_data(as_text=True)
    assert "+905321234567" in listing and "&lt;b&gt;called us&lt;/b&gt;" in listing
    assert "<b>called us" not in listing
    row = ctx.scalars(sa.select(Suppression)).one()
    assert row.reason == SuppressionReason.MANUAL and row.created_by == marketer.email
    lifted = post_form(client, "/consent/suppressions", f"/consent/suppressions/{row.id}/lift")
    assert lifted.status_code == 302
    assert not redis_client.sismember(mirror, "+905321234567")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 0


def test_brands_create_and_edit(client: Any, ctx: Session, marketer: Any) -> None:
    created = post_form(
        client,
        "/consent/brands/new",
        code="ACME",
        name="Acme",
        iys_code="700101",
        frequency_cap="3",
        frequency_days="7",
        help_text="Acme, 0850 000 00 00",
        opt_out_text="SMS almamak için RET yazıp 4664'e gönderin",
    )
    assert created.status_code == 302
    brand = ctx.scalars(sa.select(Brand)).one()
    assert (brand.iys_code, brand.frequency_cap, brand.frequency_days) == ("700101", 3, 7)
    duplicate = post_form(
        client, "/consent/brands/new", code="ACME", name="Other", frequency_days="7"
    )
    assert "Another brand has this code." in duplicate.get_data(as_text=True)
    edited = post_form(
        client,
        f"/consent/brands/{brand.id}",
        code="ACME",
        name="Acme Ltd",
        iys_code="",
        frequency_cap="",
        frequency_days="14",
        help_text="",
        opt_out_text="RET",
    )
    assert edited.status_code == 302
    ctx.expire_all()
    assert (brand.name, brand.iys_code, brand.frequency_cap) == ("Acme Ltd", None, None)
    assert "Acme Ltd" in client.get("/consent/brands").get_data(as_text=True)


def test_desk_users_may_not_open_consent_pages(client: Any, make_user: Any) -> None:
    desk = make_user(Role.DESK)
    login(client, desk.email)
    for url in ("/consent/registry", "/consent/suppressions", "/consent/brands"):
        assert client.get(url).status_code == 403
