"""The desk's pages through the test client: who may open them, the venue form (and its
keyword rule), the board's updates, decisions with their SMS, and the day sheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.bookings.models import Booking, BookingEvent, BookingState, Venue
from interactive.db import utcnow
from interactive.keywords.models import KeywordRule
from interactive.web.models import Role
from tests.bookings.conftest import PHONE, texts_to
from tests.conftest import UserFactory
from tests.helpers import csrf_token, login


def _booking(ctx: Session, venue: Venue, **values: Any) -> Booking:
    at = (utcnow() + timedelta(days=2)).replace(hour=17, minute=0, second=0, microsecond=0)
    booking = Booking(
        venue_id=venue.id,
        phone=PHONE,
        party=4,
        starts_at=at,
        state=BookingState.PENDING,
        source_text="REZ =cmd() 4 kişi <b>x</b>",
        name="=HYPERLINK(1)",
        **values,
    )
    ctx.add(booking)
    ctx.flush()
    return booking


def _desk(client: Any, make_user: UserFactory) -> str:
    login(client, make_user(Role.DESK).email)
    return csrf_token(client.get("/account").get_data(as_text=True))


def test_pages_are_for_the_desk(client: Any, make_user: UserFactory, venue: Venue) -> None:
    login(client, make_user(Role.DESK).email)
    assert client.get("/bookings/").headers["Location"].endswith(f"/bookings/{venue.id}/")
    assert client.get("/bookings/venues/").status_code == 403  # settings are an admin's


def test_marketers_do_not_work_the_desk(client: Any, make_user: UserFactory, venue: Venue) -> None:
    login(client, make_user(Role.MARKETER).email)
    assert client.get("/bookings/").status_code == 403
    assert client.get(f"/bookings/{venue.id}/").status_code == 403


def test_the_board_escapes_what_customers_wrote_and_reports_changes(
    client: Any, make_user: UserFactory, ctx: Session, venue: Venue
) -> None:
    booking = _booking(ctx, venue)
    ctx.commit()
    _desk(client, make_user)
    page = client.get(f"/bookings/{venue.id}/").get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    before = client.get(f"/bookings/{venue.id}/updates.json").get_json()
    assert before["latest_pending"] == booking.id
    _booking(ctx, venue)
    ctx.commit()
    after = client.get(f"/bookings/{venue.id}/updates.json").get_json()
    assert after["version"] != before["version"] and after["latest_pending"] > booking.id
    body = client.get(f"/bookings/{venue.id}/board").get_data(as_text=True)
    assert body.count('class="card request"') == 2


def test_confirm_decline_and_no_show_send_and_record(
    client: Any, make_user: UserFactory, ctx: Session, venue: Venue
) -> None:
    first, second = _booking(ctx, venue), _booking(ctx, venue)
    ctx.commit()
    token = _desk(client, make_user)
    client.post(f"/bookings/booking/{first.id}/confirm", data={"csrf_token": token})
    reason = "We are fully booked at that time."
    client.post(
        f"/bookings/booking/{second.id}/decline", data={"csrf_token": token, "reason": reason}
    )
    ctx.expire_all()
    assert ctx.get(Booking, first.id).state == BookingState.CONFIRMED  # type: ignore[union-attr]
    declined = ctx.get(Booking, second.id)
    assert declined is not None and declined.state == BookingState.DECLINED
    texts = texts_to(ctx)
    assert "onaylandı" in texts[0] and reason in texts[1]
    actors = ctx.scalars(
        sa.select(BookingEvent.user_id).where(BookingEvent.kind.in_(["confirmed", "declined"]))
    ).all()
    assert len(actors) == 2 and all(actors)
    # Twice is refused with the reason, and nothing is sent.
    page = client.post(
        f"/bookings/booking/{first.id}/confirm",
        data={"csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Not done" in page and len(texts_to(ctx)) == 2
    # A no-show only once the time has come.
    page = client.post(
        f"/bookings/booking/{first.id}/no_show", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "once its time has come" in page


def test_the_day_sheet_is_formula_safe(
    client: Any, make_user: UserFactory, ctx: Session, venue: Venue
) -> None:
    booking = _booking(ctx, venue, note="+cmd")
    ctx.commit()
    _desk(client, make_user)
    day = booking.starts_at.astimezone(UTC).date().isoformat()
    export = client.get(f"/bookings/{venue.id}/day.csv?day={day}")
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][1:3] == ["4", "'=HYPERLINK(1)"] and rows[1][5] == "'+cmd"


def test_the_venue_form_saves_the_rules_and_the_keyword(
    client: Any, make_user: UserFactory, ctx: Session
) -> None:
    login(client, make_user(Role.ADMIN).email)
    page = client.get("/bookings/venues/new").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "name": "Teras",
        "short_code": "4664",
        "keyword": "MASA",
        "brand_id": "0",
        "webhook_id": "0",
        "time_zone": "Europe/Istanbul",
        "hours_0": "12:00-15:00, 18:00-01:00",
        **{f"hours_{d}": "12:00-23:00" for d in range(1, 6)},
        "hours_6": "",
        "closed_dates": "2026-12-31\n2027-01-01",
        "slot_minutes": "30",
        "capacity": "12",
        "max_party": "6",
        "lead_minutes": "30",
        "ahead_days": "30",
        "auto_confirm": "y",
        "reminder_hours": "2",
        "reply-confirmed-tr": "{{ venue }}: {{ when }} tamam!",
    }
    response = client.post("/bookings/venues/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    venue = ctx.scalars(sa.select(Venue)).one()
    assert venue.hours["0"] == [["12:00", "15:00"], ["18:00", "01:00"]] and venue.hours["6"] == []
    assert venue.closed_dates == ["2026-12-31", "2027-01-01"]
    assert venue.replies == {"confirmed": {"tr": "{{ venue }}: {{ when }} tamam!"}}
    rule = ctx.scalars(sa.select(KeywordRule)).one()
    assert (rule.keyword, rule.handler, rule.settings) == (
        "MASA",
        "booking",
        {"venue_id": venue.id},
    )
    bad = client.post(
        "/bookings/venues/new", data={**data, "name": "Başka", "hours_1": "öğlen"}
    ).get_data(as_text=True)
    assert "Write windows like" in bad
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Venue)) == 1


def test_the_desk_takes_a_booking_itself(
    client: Any, make_user: UserFactory, ctx: Session, venue: Venue
) -> None:
    token = _desk(client, make_user)
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    form = {"csrf_token": token, "phone": "0532 111 22 33", "date": day, "time": "20:00"}
    client.post(f"/bookings/{venue.id}/new", data={**form, "party": "2", "name": "Ayşe"})
    booking = ctx.scalars(sa.select(Booking)).one()
    assert (booking.phone, booking.source, booking.state) == (
        "+905321112233",
        "desk",
        BookingState.CONFIRMED,
    )
    page = client.post(
        f"/bookings/{venue.id}/new", data={**form, "party": "9"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Not booked: We take parties of up to 8 people." in page
