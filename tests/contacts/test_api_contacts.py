"""The contacts API: bulk upsert with per-item results, lookup, consent, suppressions."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import suppression
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Brand,
    ConsentEvent,
    ConsentState,
    Contact,
    ContactList,
    ListMember,
    Registration,
    SuppressionReason,
)
from interactive.outbound.service import suppression_key
from interactive.web.models import Role
from tests.conftest import make_api_key

CONSENT = {
    "brand": "ACME",
    "status": "ONAY",
    "source": "HS_WEB",
    "consent_at": "2026-01-05T10:00:00+03:00",
}


@pytest.fixture
def setup(ctx: Session) -> dict[str, Any]:
    brand = Brand(code="ACME", name="Acme", iys_code="700101")
    vip = ContactList(name="VIP")
    ctx.add_all(
        [
            brand,
            vip,
            AttributeDefinition(key="city", label="City", type=AttributeType.TEXT),
            AttributeDefinition(key="points", label="Points", type=AttributeType.NUMBER),
            AttributeDefinition(key="birthday", label="Birthday", type=AttributeType.DATE),
        ]
    )
    ctx.commit()
    return {"brand_id": brand.id, "list_id": vip.id, "key": make_api_key("crm")}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _bulk(client: Any, key: str, items: list[Any]) -> Any:
    return client.post("/api/v1/contacts/bulk", json={"items": items}, headers=_auth(key))


def test_bulk_creates_updates_and_reports_each_item(
    client: Any, ctx: Session, setup: dict[str, Any]
) -> None:
    items = [
        {
            "phone": "0532 123 45 67",
            "first_name": "Ayşe",
            "attributes": {"city": "İzmir", "points": "12"},
            "lists": ["VIP"],
            "consent": CONSENT,
        },
        {"phone": "12", "first_name": "Bad"},
        {"phone": "+90 533 765 43 21", "attributes": {"birthday": "31.02.1990"}},
        {"phone": "+90 533 765 43 22", "attributes": {"shoe": 42}},
        {"phone": "+90 533 765 43 23", "consent": {**CONSENT, "brand": "NOPE"}},
        {"phone": "+90 533 765 43 24", "consent": {**CONSENT, "source": "IYS_WEB"}},
        {"phone": "+44 20 7946 0958", "time_zone": "Europe/London", "lists": [setup["list_id"]]},
    ]
    response = _bulk(client, setup["key"], items)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    results = body["items"]
    assert [r["index"] for r in results] == list(range(7))
    assert [r["status"] for r in results] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert body["counts"]["created"] == 2 and body["counts"]["rejected"] == 5
    assert results[1]["errors"][0]["field"] == "phone"
    assert results[1]["errors"][0]["code"] == "too_short"
    assert results[2]["errors"][0] == {
        "field": "attributes.birthday",
        "code": "invalid_attribute",
        "message": "Expected a date as YYYY-MM-DD.",
    }
    assert results[3]["errors"][0]["code"] == "unknown_attribute"
    assert results[4]["errors"][0]["field"] == "consent.brand"
    assert results[5]["errors"][0]["field"] == "consent.source"

    ayse = ctx.get(Contact, results[0]["contact_id"])
    assert ayse is not None
    assert ayse.phone == "+905321234567"
    assert ayse.attributes == {"city": "İzmir", "points": 12}
    assert ayse.time_zone == "Europe/Istanbul" and ayse.country == "TR"
    london = ctx.get(Contact, results[6]["contact_id"])
    assert london is not None and london.time_zone_manual
    members = ctx.scalars(sa.select(ListMember.contact_id).order_by(ListMember.contact_id)).all()
    assert sorted(members) == sorted([ayse.id, london.id])
    event = ctx.scalars(sa.select(ConsentEvent)).one()
    assert event.actor_label == "API key crm" and event.registration == Registration.PENDING

    # The same request again changes nothing; a changed name updates.
    again = _bulk(client, setup["key"], items).json["items"]
    assert again[0]["status"] == "unchanged" and again[6]["status"] == "unchanged"
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 1
    renamed = _bulk(client, setup["key"], [{"phone": "+905321234567", "last_name": "Yılmaz"}])
    assert renamed.json["items"][0] == {
        "index": 0,
        "status": "updated",
        "contact_id": ayse.id,
        "errors": [],
    }
    ctx.expire_all()
    assert ayse.last_name == "Yılmaz" and ayse.first_name == "Ayşe"
    # A new RET counts as an update even though no contact field changed.
    ret = {**CONSENT, "status": "RET", "consent_at": "2026-02-01T09:00:00+03:00"}
    answer = _bulk(client, setup["key"], [{"phone": "+905321234567", "consent": ret}])
    assert answer.json["items"][0]["status"] == "updated"


def test_bulk_duplicates_last_wins_and_erased_numbers_are_refused(
    client: Any, ctx: Session, setup: dict[str, Any]
) -> None:
    suppression.add(ctx, ["+905329998877"], SuppressionReason.ERASED)
    ctx.commit()
    items = [
        {"phone": "05321112233", "first_name": "First"},
        {"phone": "+905329998877", "first_name": "Gone"},
        {"phone": "+90 532 111 22 33", "first_name": "Second"},
    ]
    results = _bulk(client, setup["key"], items).json["items"]
    assert results[0]["status"] == "duplicate"
    assert results[0]["errors"][0]["code"] == "duplicate"
    assert results[0]["contact_id"] == results[2]["contact_id"]
    assert results[1]["status"] == "rejected"
    assert results[1]["errors"][0]["code"] == "erased"
    assert results[2]["status"] == "created"
    assert ctx.scalars(sa.select(Contact.first_name)).all() == ["Second"]


def test_bulk_limits_and_malformed_bodies(client: Any, setup: dict[str, Any]) -> None:
    key = setup["key"]
    too_many = _bulk(client, key, [{"phone": "+905321234567"}] * 10_001)
    assert too_many.status_code == 422
    assert "At most 10,000 contacts per request" in too_many.json["error"]["message"]
    assert too_many.json["error"]["code"] == "too_many_items"
    assert _bulk(client, key, [1, "x"]).status_code == 422
    wrong = client.post("/api/v1/contacts/bulk", json={"contacts": []}, headers=_auth(key))
    assert wrong.status_code == 422
    invalid_item = _bulk(client, key, [{"phone": "+905321234567", "shoe": 1, "lists": [{}]}])
    assert invalid_item.status_code == 200
    fields = {e["field"] for e in invalid_item.json["items"][0]["errors"]}
    assert "shoe" in fields


def test_bulk_ten_thousand_items_in_one_request(
    client: Any, ctx: Session, setup: dict[str, Any]
) -> None:
    items = [
        {
            "phone": f"+90532{1000000 + n}",
            "first_name": f"Name{n}",
            "attributes": {"city": "Ankara", "points": n},
            "consent": CONSENT,
        }
        for n in range(10_000)
    ]
    started = time.perf_counter()
    response = _bulk(client, setup["key"], items)
    elapsed = time.perf_counter() - started
    print(f"\nbulk upsert of 10,000 new contacts: {elapsed:.2f} s")
    assert response.status_code == 200
    assert response.json["counts"]["created"] == 10_000
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Contact)) == 10_000
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ConsentState)) == 10_000
    started = time.perf_counter()
    again = _bulk(client, setup["key"], items)
    print(f"bulk upsert of the same 10,000 again: {time.perf_counter() - started:.2f} s")
    assert again.json["counts"]["unchanged"] == 10_000


def test_lookup_get_and_consent_ledger(client: Any, ctx: Session, setup: dict[str, Any]) -> None:
    key = setup["key"]
    created = _bulk(client, key, [{"phone": "+905321234567", "consent": CONSENT}]).json
    contact_id = created["items"][0]["contact_id"]

    found = client.get("/api/v1/contacts?phone=0532 123 45 67", headers=_auth(key)).json
    assert [c["id"] for c in found["items"]] == [contact_id]
    assert found["items"][0]["consent"][0]["status"] == "ONAY"
    none = client.get("/api/v1/contacts?phone=+905551112233", headers=_auth(key)).json
    assert none == {"items": [], "phone_error": None}
    bad = client.get("/api/v1/contacts?phone=12", headers=_auth(key)).json
    assert bad["items"] == [] and bad["phone_error"] == "The phone number is too short."
    assert client.get("/api/v1/contacts", headers=_auth(key)).status_code == 422

    one = client.get(f"/api/v1/contacts/{contact_id}", headers=_auth(key))
    assert one.status_code == 200
    assert one.json["phone"] == "+905321234567"
    assert one.json["consent"] == [
        {
            "brand": "ACME",
            "channel": "MESAJ",
            "status": "ONAY",
            "consent_at": "2026-01-05T07:00:00Z",
            "event_id": one.json["consent"][0]["event_id"],
        }
    ]
    assert client.get("/api/v1/contacts/999999", headers=_auth(key)).status_code == 404

    url = f"/api/v1/contacts/{contact_id}/consent"
    missing_source = {k: v for k, v in CONSENT.items() if k != "source"}
    refused = client.post(url, json=missing_source, headers=_auth(key))
    assert refused.status_code == 422
    assert refused.json["error"]["details"][0]["field"] == "source"
    ret = {**CONSENT, "status": "RET", "consent_at": "2026-01-06T12:00:00"}
    recorded = client.post(url, json=ret, headers=_auth(key))
    assert recorded.status_code == 201
    event = recorded.json["event"]
    assert event["actor"] == "api" and event["registration"] == "pending"
    assert event["consent_at"] == "2026-01-06T09:00:00Z"  # no offset: Turkish time
    assert recorded.json["current"] == "RET"
    repeated = client.post(url, json=ret, headers=_auth(key))
    assert repeated.status_code == 200 and repeated.json["recorded"] is False
    unknown = client.post(url, json={**CONSENT, "brand": "NOPE"}, headers=_auth(key))
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "unknown_brand"

    ledger = client.get(url, headers=_auth(key)).json["items"]
    assert [e["status"] for e in ledger] == ["ONAY", "RET"]


def test_suppressions_block_and_lift_update_the_mirror(
    client: Any, app: Flask, redis_client: redis.Redis, setup: dict[str, Any]
) -> None:
    key = setup["key"]
    mirror = suppression_key(app.config["REDIS_PREFIX"])
    blocked = client.post(
        "/api/v1/suppressions",
        json={"phones": ["0532 123 45 67", "nope"], "note": "asked by phone"},
        headers=_auth(key),
    )
    assert blocked.status_code == 200
    items = blocked.json["items"]
    assert items[0]["status"] == "blocked" and items[0]["phone"] == "+905321234567"
    assert items[1]["status"] == "rejected"
    assert redis_client.sismember(mirror, "+905321234567")
    again = client.post(
        "/api/v1/suppressions", json={"phones": ["+905321234567"]}, headers=_auth(key)
    )
    assert again.json["items"][0]["status"] == "already_blocked"

    lifted = client.delete("/api/v1/suppressions?phone=%2B905321234567", headers=_auth(key))
    assert lifted.status_code == 200
    assert lifted.json == {"phone": "+905321234567", "lifted": True, "suppressed": []}
    assert not redis_client.sismember(mirror, "+905321234567")
    gone = client.delete("/api/v1/suppressions?phone=%2B905321234567", headers=_auth(key))
    assert gone.status_code == 404


def test_desk_and_viewer_keys_may_not(client: Any, ctx: Session, setup: dict[str, Any]) -> None:
    viewer = make_api_key("board", Role.VIEWER)
    response = _bulk(client, viewer, [{"phone": "+905321234567"}])
    assert response.status_code == 403
    assert client.get("/api/v1/contacts?phone=1", headers=_auth(viewer)).status_code == 403
