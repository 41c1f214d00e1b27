"""The bookings API: venues, a day's availability, booking for a customer with the SMS and
the venue's webhook, refusals with the nearest free times, changes, the desk's decisions,
cancelling, and who may do what."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection
from sqlalchemy.orm import Session

from interactive.api.openapi import openapi_document
from interactive.bookings.models import Booking, BookingState, Venue
from interactive.db import utcnow
from interactive.keywords.models import Webhook, WebhookDelivery
from interactive.outbound.models import Message
from interactive.web.models import Role
from tests.conftest import make_api_key

IST = ZoneInfo("Europe/Istanbul")
PHONE = "+905321234567"


@pytest.fixture
def keys(ctx: Session) -> dict[str, str]:
    return {
        "desk": make_api_key("front desk", Role.DESK),
        "marketer": make_api_key("marketing", Role.MARKETER),
    }


@pytest.fixture
def venue(ctx: Session) -> Venue:
    venue = Venue(
        name="Lokanta",
        short_code="4664",
        capacity=10,
        slot_minutes=30,
        time_zone="Europe/Istanbul",
        hours={str(d): [["12:00", "23:00"]] for d in range(7)},
    )
    ctx.add(venue)
    ctx.commit()
    return venue


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _day(ahead: int = 3) -> date:
    return (datetime.now(IST) + timedelta(days=ahead)).date()


def _at(day: date, hhmm: str = "20:00") -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), IST)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _book(
    client: Any, keys: dict[str, str], venue: Venue, expect: int = 201, **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "venue_id": venue.id,
        "phone": PHONE,
        "name": "Ayşe",
        "party": 4,
        "starts_at": _at(_day()).isoformat(),
    }
    body.update(changes)
    response = client.post("/api/v1/bookings", json=body, headers=_auth(keys["desk"]))
    assert response.status_code == expect, response.get_data(as_text=True)
    return dict(response.json)


def _patch(client: Any, keys: dict[str, str], booking_id: int, **body: Any) -> Any:
    return client.patch(f"/api/v1/bookings/{booking_id}", json=body, headers=_auth(keys["desk"]))


def _refused(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    return dict(response.json["error"]["details"][0])


def _texts(ctx: Session, phone: str = PHONE) -> list[str]:
    query = sa.select(Message.body).where(Message.destination == phone).order_by(Message.id)
    return list(ctx.scalars(query))


def _bookings(ctx: Session) -> int:
    return int(ctx.scalar(sa.select(sa.func.count()).select_from(Booking)) or 0)


def test_venues(client: Any, keys: dict[str, str], venue: Venue) -> None:
    auth = _auth(keys["desk"])
    listed = client.get("/api/v1/venues", headers=auth)
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [v["id"] for v in listed.json["items"]] == [venue.id]
    assert listed.json["next_cursor"] is None
    one = client.get(f"/api/v1/venues/{venue.id}", headers=auth).json
    assert one == listed.json["items"][0]
    assert one["hours"]["4"] == [["12:00", "23:00"]] and one["capacity"] == 10
    assert one["time_zone"] == "Europe/Istanbul" and one["short_code"] == "4664"
    assert client.get("/api/v1/venues/999999", headers=auth).status_code == 404


def test_book_for_a_customer(client: Any, keys: dict[str, str], venue: Venue, ctx: Session) -> None:
    day = _day()
    booking = _book(
        client, keys, venue, phone="0532 123 45 67", language="en", note="Window, please"
    )
    assert booking["state"] == "confirmed" and booking["phone"] == PHONE
    assert booking["starts_at"] == _utc(_at(day))
    assert booking["local_time"] == f"{day.isoformat()}T20:00:00+03:00"
    assert booking["source"] == "api" and booking["party"] == 4
    assert booking["note"] == "Window, please"
    assert [(e["kind"], e["actor"]) for e in booking["events"]] == [
        ("requested", "api"),
        ("confirmed", "system"),
    ]
    [text] = _texts(ctx)
    assert text.startswith("Lokanta: your booking for 4 people on") and "20:00" in text
    assert "is confirmed" in text
    auth = _auth(keys["desk"])
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=auth).json == booking
    assert client.get("/api/v1/bookings/999999", headers=auth).status_code == 404


def test_a_booking_without_notice(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    _book(client, keys, venue, notify=False)
    assert _texts(ctx) == []


def test_list_filters_and_pages(client: Any, keys: dict[str, str], venue: Venue) -> None:
    day = _day()
    first = _book(client, keys, venue, notify=False)
    second = _book(
        client,
        keys,
        venue,
        phone="+905329998877",
        starts_at=_at(day + timedelta(days=1)).isoformat(),
    )
    auth = _auth(keys["desk"])

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/bookings?{query}", headers=auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [b["id"] for b in response.json["items"]]

    assert ids("") == [first["id"], second["id"]]
    assert ids(f"venue_id={venue.id}&state=confirmed") == [first["id"], second["id"]]
    assert ids("state=pending") == [] and ids(f"venue_id={venue.id + 1}") == []
    assert ids("phone=0532%20123%2045%2067") == [first["id"]]
    assert ids("phone=not-a-number") == []
    midnight = datetime.combine(day + timedelta(days=1), time(), IST).isoformat()
    assert ids(f"until={midnight.replace('+', '%2B')}") == [first["id"]]
    assert ids(f"since={midnight.replace('+', '%2B')}") == [second["id"]]
    page = client.get("/api/v1/bookings?limit=1", headers=auth).json
    assert [b["id"] for b in page["items"]] == [first["id"]]
    rest = client.get(f"/api/v1/bookings?limit=1&after={page['next_cursor']}", headers=auth).json
    assert [b["id"] for b in rest["items"]] == [second["id"]] and rest["next_cursor"] is None
    assert "events" not in page["items"][0]
    for bad in ("state=seated", "since=yesterday", "limt=1"):
        assert client.get(f"/api/v1/bookings?{bad}", headers=auth).status_code == 422


def test_a_time_that_does_not_fit_is_refused_with_free_times(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    day = _day()
    _book(client, keys, venue, party=8, notify=False)
    details = _refused(
        client.post(
            "/api/v1/bookings",
            json={
                "venue_id": venue.id,
                "phone": "+905329998877",
                "party": 4,
                "starts_at": _at(day).isoformat(),
            },
            headers=_auth(keys["desk"]),
        ),
        "not_available",
    )
    assert details["reason"] == "full" and details["field"] == "starts_at"
    assert details["message"] == "That time is full."
    assert _utc(_at(day, "19:30")) in details["alternatives"]
    assert _utc(_at(day, "20:30")) in details["alternatives"]
    assert _utc(_at(day)) not in details["alternatives"]

    late = _book(client, keys, venue, expect=409, starts_at=_at(day, "03:00").isoformat())
    assert late["error"]["details"][0]["reason"] == "outside_hours"
    crowd = _book(client, keys, venue, expect=409, party=11)
    assert crowd["error"]["details"][0]["reason"] == "too_many"
    assert crowd["error"]["details"][0]["field"] == "party"
    assert "up to 10 people" in crowd["error"]["message"]
    yesterday = _at(_day(-1)).isoformat()
    past = _book(client, keys, venue, expect=409, starts_at=yesterday)
    assert past["error"]["details"][0]["reason"] == "past"
    # The ends of the calendar are refused like any other time out of reach.
    for far in ("9999-12-31T20:00:00+03:00", "9999-12-31T23:30:00-05:00"):
        refused = _book(client, keys, venue, expect=409, starts_at=far)
        assert refused["error"]["details"][0] == {
            "field": "starts_at",
            "message": "We take bookings up to 60 days ahead.",
            "reason": "too_far",
            "alternatives": [],
        }
    old = _book(client, keys, venue, expect=409, starts_at="0001-01-01T12:00:00+00:00")
    assert old["error"]["details"][0]["reason"] == "past"
    assert _bookings(ctx) == 1 and _texts(ctx, "+905329998877") == []


def test_input_that_cannot_be_booked(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    naive = _book(
        client, keys, venue, expect=422, starts_at=_at(_day()).replace(tzinfo=None).isoformat()
    )
    assert [d["field"] for d in naive["error"]["details"]] == ["starts_at"]
    details = _refused(
        client.post(
            "/api/v1/bookings",
            json={
                "venue_id": venue.id,
                "phone": "12",
                "party": 2,
                "starts_at": _at(_day()).isoformat(),
            },
            headers=_auth(keys["desk"]),
        ),
        "invalid_number",
    )
    assert details["field"] == "phone" and details["message"] == "The phone number is too short."
    unknown = _book(client, keys, venue, expect=409, venue_id=venue.id + 100)
    assert unknown["error"]["code"] == "unknown_venue"
    assert unknown["error"]["details"][0]["field"] == "venue_id"
    assert _book(client, keys, venue, expect=422, party=0)["error"]["code"] == "validation_failed"
    assert _bookings(ctx) == 0


def test_the_desk_confirms_a_pending_request(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    venue.auto_confirm = False
    ctx.commit()
    booking = _book(client, keys, venue, language="en")
    assert booking["state"] == "pending"
    assert "will confirm it shortly" in _texts(ctx)[-1]

    confirmed = _patch(client, keys, booking["id"], state="confirmed")
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    assert confirmed.json["state"] == "confirmed"
    assert [(e["kind"], e["actor"]) for e in confirmed.json["events"]] == [
        ("requested", "api"),
        ("confirmed", "api"),
    ]
    assert "is confirmed" in _texts(ctx)[-1] and len(_texts(ctx)) == 2

    again = _refused(_patch(client, keys, booking["id"], state="declined"), "not_allowed")
    assert again["message"] == "Only a pending request can be declined; this one is confirmed."
    assert len(_texts(ctx)) == 2


def test_the_desk_declines_with_a_reason(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    venue.auto_confirm = False
    ctx.commit()
    booking = _book(client, keys, venue, language="en", notify=False)
    mixed = _patch(client, keys, booking["id"], state="cancelled", reason="Full")
    assert mixed.status_code == 422
    declined = _patch(client, keys, booking["id"], state="declined", reason="A private party.")
    assert declined.status_code == 200, declined.get_data(as_text=True)
    assert declined.json["state"] == "declined" and declined.json["reason"] == "A private party."
    [text] = _texts(ctx)
    assert "we cannot take your booking" in text and text.endswith("A private party.")
    # A declined request holds no covers.
    day = _day()
    covers = client.get(
        f"/api/v1/venues/{venue.id}/availability?date={day.isoformat()}&party=2",
        headers=_auth(keys["desk"]),
    ).json
    assert {s["covers"] for s in covers["slots"]} == {0}


def test_change_the_time_and_party(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    day = _day()
    booking = _book(client, keys, venue, language="en", notify=False)
    changed = _patch(
        client, keys, booking["id"], starts_at=_at(day, "21:00").isoformat(), party=2, note="Cake"
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.json["local_time"] == f"{day.isoformat()}T21:00:00+03:00"
    assert changed.json["party"] == 2 and changed.json["note"] == "Cake"
    assert changed.json["events"][-1]["kind"] == "changed"
    assert changed.json["events"][-1]["actor"] == "api"
    [text] = _texts(ctx)
    assert text.startswith("Lokanta: your booking is now for 2 people")

    # Another table fills 20:00; moving there is refused and nothing changes.
    _book(client, keys, venue, phone="+905329998877", party=9, notify=False)
    details = _refused(
        _patch(client, keys, booking["id"], starts_at=_at(day).isoformat()), "not_available"
    )
    assert details["reason"] == "full" and details["alternatives"]
    again = client.get(f"/api/v1/bookings/{booking['id']}", headers=_auth(keys["desk"])).json
    assert again["local_time"] == f"{day.isoformat()}T21:00:00+03:00"

    quiet = _patch(client, keys, booking["id"], party=3, notify=False)
    assert quiet.json["party"] == 3 and len(_texts(ctx)) == 1


def test_cancel_with_delete(client: Any, keys: dict[str, str], venue: Venue, ctx: Session) -> None:
    booking = _book(client, keys, venue, language="en", notify=False)
    url = f"/api/v1/bookings/{booking['id']}"
    cancelled = client.delete(url, headers=_auth(keys["desk"]))
    assert cancelled.status_code == 200, cancelled.get_data(as_text=True)
    assert cancelled.json["state"] == "cancelled"
    assert cancelled.json["events"][-1]["kind"] == "cancelled"
    assert _texts(ctx)[-1].endswith("is cancelled.")
    details = _refused(client.delete(url, headers=_auth(keys["desk"])), "not_allowed")
    assert details["message"] == "A cancelled booking cannot be cancelled."
    _refused(_patch(client, keys, booking["id"], party=2), "not_allowed")
    assert client.delete("/api/v1/bookings/999999", headers=_auth(keys["desk"])).status_code == 404


def test_no_show_once_the_time_has_come(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    upcoming = _book(client, keys, venue, notify=False)
    details = _refused(_patch(client, keys, upcoming["id"], state="no_show"), "not_allowed")
    assert "once its time has come" in details["message"]
    now = utcnow()
    past = Booking(
        venue_id=venue.id,
        phone="+905329998877",
        party=2,
        starts_at=now - timedelta(hours=2),
        state=BookingState.CONFIRMED,
        source="desk",
        created_at=now - timedelta(days=1),
        updated_at=now - timedelta(days=1),
    )
    ctx.add(past)
    ctx.commit()
    marked = _patch(client, keys, past.id, state="no_show")
    assert marked.status_code == 200, marked.get_data(as_text=True)
    assert marked.json["state"] == "no_show" and marked.json["events"][-1]["kind"] == "no_show"
    assert _texts(ctx, "+905329998877") == []


def test_availability_of_a_day(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    day = _day()
    _book(client, keys, venue, party=8, notify=False)
    auth = _auth(keys["desk"])
    url = f"/api/v1/venues/{venue.id}/availability?date={day.isoformat()}"
    response = client.get(f"{url}&party=4", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    out = response.json
    assert out["venue_id"] == venue.id and out["time_zone"] == "Europe/Istanbul"
    assert out["date"] == day.isoformat() and out["party"] == 4
    slots = {s["local_time"][11:16]: s for s in out["slots"]}
    assert len(out["slots"]) == 22 and min(slots) == "12:00" and max(slots) == "22:30"
    eight = slots["20:00"]
    assert eight["starts_at"] == _utc(_at(day))
    assert eight["local_time"] == f"{day.isoformat()}T20:00:00+03:00"
    assert (eight["covers"], eight["capacity"], eight["fits"]) == (8, 10, False)
    assert eight["refusal"] == "full"
    assert slots["20:30"]["covers"] == 0 and slots["20:30"]["fits"] is True
    assert slots["20:30"]["refusal"] is None
    two = {
        s["local_time"][11:16]: s for s in client.get(f"{url}&party=2", headers=auth).json["slots"]
    }
    assert two["20:00"]["fits"] is True
    crowd = client.get(f"{url}&party=11", headers=auth).json["slots"]
    assert {s["refusal"] for s in crowd} == {"too_many"}

    venue.closed_dates = [day.isoformat()]
    ctx.commit()
    assert client.get(f"{url}&party=2", headers=auth).json["slots"] == []
    assert client.get(url, headers=auth).status_code == 422
    bad = f"/api/v1/venues/{venue.id}/availability?date=12.12.2026&party=2"
    assert client.get(bad, headers=auth).status_code == 422
    unknown = f"/api/v1/venues/999999/availability?date={day.isoformat()}&party=2"
    assert client.get(unknown, headers=auth).status_code == 404


def test_every_change_owes_the_venue_webhook(
    client: Any, keys: dict[str, str], venue: Venue, ctx: Session
) -> None:
    webhook = Webhook(name="POS", url="https://pos.example/hooks/bookings", secret="s" * 43)
    ctx.add(webhook)
    ctx.flush()
    venue.webhook_id = webhook.id
    ctx.commit()
    booking = _book(client, keys, venue, notify=False)
    cancelled = client.delete(f"/api/v1/bookings/{booking['id']}", headers=_auth(keys["desk"]))
    deliveries = list(
        ctx.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook.id)
            .order_by(WebhookDelivery.id)
        )
    )
    bodies = [json.loads(d.body) for d in deliveries]
    assert [b["event"] for b in bodies] == [
        "booking.requested",
        "booking.confirmed",
        "booking.cancelled",
    ]
    assert {d.state for d in deliveries} == {"pending"}
    # The webhook shows the booking as the API does.
    shown = {key: value for key, value in booking.items() if key != "events"}
    assert bodies[0]["booking"] == shown and bodies[1]["booking"] == shown
    assert bodies[2]["booking"]["state"] == "cancelled"
    assert bodies[2]["booking"] == {
        key: value for key, value in cancelled.json.items() if key != "events"
    }


def test_bookings_need_the_bookings_permission(
    client: Any, keys: dict[str, str], venue: Venue
) -> None:
    booking = _book(client, keys, venue, notify=False)
    marketer = _auth(keys["marketer"])
    assert client.get("/api/v1/venues", headers=marketer).status_code == 403
    assert client.get("/api/v1/bookings", headers=marketer).status_code == 403
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=marketer).status_code == 403
    body = {"venue_id": venue.id, "phone": PHONE, "party": 2, "starts_at": booking["starts_at"]}
    assert client.post("/api/v1/bookings", json=body, headers=marketer).status_code == 403
    assert client.delete(f"/api/v1/bookings/{booking['id']}", headers=marketer).status_code == 403
    assert client.get("/api/v1/bookings").status_code == 401


# The document-wide run (tests/test_api_schema.py) has no venue, so it only ever sees
# bookings refused for an unknown venue; this one has venue 1 and its booking 1.
booking_schema = schemathesis.openapi.from_dict(openapi_document()).include(
    path_regex=r"^/(venues|bookings)"
)


@pytest.fixture
def fuzz_key(ctx: Session) -> str:
    now = utcnow()
    ctx.add(
        Venue(
            id=1,
            name="Fuzz",
            short_code="4664",
            capacity=10,
            hours={str(d): [["18:00", "02:00"]] for d in range(7)},
            lead_minutes=0,
        )
    )
    ctx.flush()
    ctx.add(
        Booking(
            id=1,
            venue_id=1,
            phone=PHONE,
            party=2,
            starts_at=now + timedelta(days=2),
            state=BookingState.PENDING,
            created_at=now,
            updated_at=now,
        )
    )
    ctx.commit()
    return make_api_key("fuzz", Role.DESK)


@booking_schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_booking_api_conforms_with_a_venue(case: Any, app: Flask, fuzz_key: str) -> None:
    case.operation.schema.app = app
    case.operation.app = app
    # A generated query parameter with an empty name or an empty list of values is not sent
    # at all, so the request that arrives is valid: its acceptance says nothing.
    unsent = any(name == "" or value == [] for name, value in (case.query or {}).items())
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzz_key}"},
        excluded_checks=[negative_data_rejection] if unsent else None,
    )
