"""API routes for bookings (on the ``api`` blueprint): venues, a venue's day with the room
left in each slot, and bookings made, changed, decided and cancelled for customers.

422 means the body or a query parameter does not match the document. A well-formed
request that cannot be carried out answers 409 with a stable code: ``not_available`` (the
time does not fit the venue's hours, rules or room; ``details[0]`` has the ``reason`` and
the nearest free ``alternatives``), ``invalid_number``, ``unknown_venue`` or ``not_allowed``
(the booking's state does not allow the change). Each change is recorded with the API as
its actor, owes the venue's webhook a signed POST and sends the customer its SMS (unless
``notify`` is false), all in the request's one transaction. Everything needs the bookings
permission (desk users and admins).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request
from flask_babel import force_locale
from sqlalchemy.orm import Session

from interactive.api import schemas
from interactive.api.errors import ApiError, datetime_arg
from interactive.api.views import (
    MAX_ID,
    QUERY_PARAMETERS,
    _int_arg,
    api_key_required,
    bp,
    parse_body,
)
from interactive.bookings import desk, notices, service
from interactive.bookings.models import Booking, BookingState, Venue
from interactive.contacts import phones
from interactive.contacts.models import Contact
from interactive.db import db, utcnow
from interactive.redis_store import get_redis
from interactive.web.models import Permission

QUERY_PARAMETERS.update(
    {
        "api.list_venues": frozenset({"limit", "after"}),
        "api.venue_availability": frozenset({"date", "party"}),
        "api.list_bookings": frozenset(
            {"venue_id", "state", "since", "until", "phone", "limit", "after"}
        ),
    }
)

API = service.Actor("api")
EDITABLE = frozenset({"starts_at", "party", "name", "note"})
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _problem(code: str, message: str, field: str | None = None, **extra: Any) -> ApiError:
    return ApiError(
        409, message, code=code, details=[{"field": field, "message": message, **extra}]
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _outbox() -> desk.Outbox:
    return desk.Outbox(get_redis(), str(current_app.config["REDIS_PREFIX"]))


def _venue_or_404(session: Session, venue_id: int) -> Venue:
    venue = session.get(Venue, venue_id) if venue_id <= MAX_ID else None
    if venue is None:
        raise ApiError(404, f"No venue with id {venue_id}.")
    return venue


def _booking_or_404(session: Session, booking_id: int, *, lock: bool = False) -> Booking:
    booking = (
        session.get(Booking, booking_id, with_for_update=lock) if booking_id <= MAX_ID else None
    )
    if booking is None:
        raise ApiError(404, f"No booking with id {booking_id}.")
    return booking


def venue_out(venue: Venue) -> dict[str, Any]:
    return schemas.VenueOut(
        id=venue.id,
        name=venue.name,
        short_code=venue.short_code,
        brand_id=venue.brand_id,
        time_zone=venue.time_zone,
        hours={day: [list(w) for w in spans] for day, spans in (venue.hours or {}).items()},
        closed_dates=list(venue.closed_dates or []),
        slot_minutes=venue.slot_minutes,
        capacity=venue.capacity,
        max_party=venue.max_party,
        lead_minutes=venue.lead_minutes,
        ahead_days=venue.ahead_days,
        auto_confirm=venue.auto_confirm,
        reminder_hours=venue.reminder_hours,
        webhook_id=venue.webhook_id,
        created_at=venue.created_at,
    ).model_dump(mode="json")


def booking_out(session: Session, booking: Booking) -> dict[str, Any]:
    """The booking as its venue's webhook shows it."""
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    return schemas.BookingOut.model_validate(service.as_dict(booking, venue)).model_dump(
        mode="json"
    )


def booking_detail(session: Session, booking: Booking) -> dict[str, Any]:
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    events = [
        schemas.BookingEventOut(
            id=e.id, at=e.at, kind=e.kind, actor=e.actor, user_id=e.user_id, detail=e.detail
        )
        for e in service.events(session, booking.id)
    ]
    detail = schemas.BookingDetail.model_validate(
        {**service.as_dict(booking, venue), "events": events}
    )
    return detail.model_dump(mode="json")


def _not_available(venue: Venue, outcome: service.Outcome) -> ApiError:
    refusal = outcome.refusal or service.Refusal.FULL
    with force_locale("en"):
        message = notices.refusal_text(refusal, venue)
    field = "party" if refusal == service.Refusal.TOO_MANY else "starts_at"
    alternatives = [_iso(moment) for moment in outcome.alternatives]
    return _problem(
        "not_available", message, field, reason=refusal.value, alternatives=alternatives
    )


def _attempt(
    attempt: Callable[[], service.Outcome],
    venue: Venue,
    wish: service.Wish,
    booking: Booking | None,
) -> service.Outcome:
    try:
        return attempt()
    except OverflowError:
        # Only for times at the ends of the calendar (years 1 and 9999): the search for free
        # slots near a refused time runs off it. There are none there to offer anyway.
        refusal = service.problem(venue, wish, utcnow()) or service.Refusal.TOO_FAR
        return service.Outcome(booking, refusal)


def _not_allowed(exc: service.BookingError) -> ApiError:
    text = str(exc)
    return _problem("not_allowed", f"{text[:1].upper()}{text[1:]}.")


# --- query parameters ---------------------------------------------------------------------------


def _refuse_arg(name: str, message: str, problem: str) -> ApiError:
    return ApiError(422, message, details=[{"field": name, "message": problem}])


def _required(name: str) -> str:
    raw = request.args.get(name)
    if raw is None:
        raise _refuse_arg(name, f"'{name}' is required.", "missing")
    return raw


def _date_arg(name: str) -> date:
    raw = _required(name)
    try:
        if not ISO_DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise _refuse_arg(name, f"'{name}' must be a date (YYYY-MM-DD).", "not a date") from None


def _state_arg() -> BookingState | None:
    raw = request.args.get("state")
    if raw is None:
        return None
    if raw not in {s.value for s in BookingState}:
        raise _refuse_arg(
            "state",
            f"'state' must be one of: {', '.join(s.value for s in BookingState)}.",
            "not one of the accepted values",
        )
    return BookingState(raw)


def _phone_filter() -> sa.ColumnElement[bool] | None:
    raw = request.args.get("phone")
    if raw is None:
        return None
    if len(raw) > 64:
        raise _refuse_arg("phone", "'phone' must be at most 64 characters.", "too long")
    parsed = phones.normalise(raw, str(current_app.config["DEFAULT_REGION"]))
    # A text that is not a phone number is the number of no booking.
    return Booking.phone == parsed.e164 if parsed.e164 is not None else sa.false()


# --- venues -------------------------------------------------------------------------------------


@bp.route("/venues")
@api_key_required(Permission.BOOKINGS)
def list_venues() -> Response:
    limit = _int_arg("limit", 50, 1, 200)
    after = _int_arg("after", 0, 0, MAX_ID)
    query = sa.select(Venue).where(Venue.id > after).order_by(Venue.id).limit(limit + 1)
    rows = db.session().scalars(query).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"items": [venue_out(v) for v in rows[:limit]], "next_cursor": next_cursor})


@bp.route("/venues/<int:venue_id>")
@api_key_required(Permission.BOOKINGS)
def get_venue(venue_id: int) -> Response:
    return jsonify(venue_out(_venue_or_404(db.session(), venue_id)))


@bp.route("/venues/<int:venue_id>/availability")
@api_key_required(Permission.BOOKINGS)
def venue_availability(venue_id: int) -> Response:
    """The venue's slots of one of its days: covers held, and whether a party fits now."""
    day = _date_arg("date")
    _required("party")
    party = _int_arg("party", 1, 1, schemas.MAX_PARTY)
    dbs = db.session()
    venue = _venue_or_404(dbs, venue_id)
    now = utcnow()
    slots = []
    for slot, held in _day_covers(dbs, venue, day):
        refusal = service.problem(venue, service.Wish(slot, party), now)
        if refusal is None and held + party > venue.capacity:
            refusal = service.Refusal.FULL
        slots.append(
            schemas.SlotOut(
                starts_at=slot.astimezone(UTC),
                local_time=slot,
                covers=held,
                capacity=venue.capacity,
                fits=refusal is None,
                refusal=refusal,
            )
        )
    out = schemas.AvailabilityOut(
        venue_id=venue.id,
        date=day.isoformat(),
        time_zone=service.zone(venue).key,
        party=party,
        slots=slots,
    )
    return jsonify(out.model_dump(mode="json"))


def _day_covers(session: Session, venue: Venue, day: date) -> list[tuple[datetime, int]]:
    try:
        return service.day_covers(session, venue, day)
    except OverflowError:
        # The first and last days of the calendar: a window past midnight, or the slot
        # before the first, would fall outside it. Nobody books there.
        return []


# --- bookings -----------------------------------------------------------------------------------


@bp.route("/bookings")
@api_key_required(Permission.BOOKINGS)
def list_bookings() -> Response:
    """Bookings by id, a page at a time; the filters apply to the booked time."""
    venue_id = _int_arg("venue_id", 0, 1, MAX_ID) or None
    state = _state_arg()
    since, until = datetime_arg("since"), datetime_arg("until")
    phone = _phone_filter()
    limit = _int_arg("limit", 50, 1, 200)
    after = _int_arg("after", 0, 0, MAX_ID)
    query = sa.select(Booking).where(Booking.id > after).order_by(Booking.id).limit(limit + 1)
    if venue_id is not None:
        query = query.where(Booking.venue_id == venue_id)
    if state is not None:
        query = query.where(Booking.state == state)
    if since is not None:
        query = query.where(Booking.starts_at >= since)
    if until is not None:
        query = query.where(Booking.starts_at < until)
    if phone is not None:
        query = query.where(phone)
    dbs = db.session()
    rows = dbs.scalars(query).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify(
        {"items": [booking_out(dbs, b) for b in rows[:limit]], "next_cursor": next_cursor}
    )


@bp.route("/bookings/<int:booking_id>")
@api_key_required(Permission.BOOKINGS)
def get_booking(booking_id: int) -> Response:
    dbs = db.session()
    return jsonify(booking_detail(dbs, _booking_or_404(dbs, booking_id)))


def _language(body: schemas.BookingIn, contact: Contact | None) -> str:
    if body.language is not None:
        return body.language
    spoken = (contact.language or "")[:2] if contact is not None else ""
    return spoken if spoken in ("tr", "en") else "tr"


@bp.route("/bookings", methods=["POST"])
@api_key_required(Permission.BOOKINGS)
def create_booking() -> tuple[Response, int]:
    """Book for a customer: confirmed at once when the venue confirms by itself, else
    pending for the desk; the customer hears which unless ``notify`` is false."""
    body = parse_body(schemas.BookingIn)
    dbs = db.session()
    venue = dbs.get(Venue, body.venue_id)
    if venue is None:
        raise _problem("unknown_venue", f"No venue with id {body.venue_id}.", "venue_id")
    parsed = phones.normalise(body.phone, str(current_app.config["DEFAULT_REGION"]))
    if parsed.e164 is None:
        with force_locale("en"):
            message = str(phones.error_message(parsed.error or "invalid_number"))
        raise _problem("invalid_number", message, "phone")
    phone = parsed.e164
    contact = dbs.scalar(sa.select(Contact).where(Contact.phone == phone))
    wish = service.Wish(starts_at=body.starts_at, party=body.party, name=body.name, note=body.note)
    outcome = _attempt(
        lambda: service.request(
            dbs,
            venue.id,
            wish,
            phone=phone,
            contact_id=contact.id if contact is not None else None,
            language=_language(body, contact),
            source="api",
            actor=API,
        ),
        venue,
        wish,
        None,
    )
    booking = outcome.booking
    if outcome.refusal is not None or booking is None:
        dbs.rollback()
        raise _not_available(venue, outcome)
    if body.notify:
        outbox = _outbox()
        notices.notify(dbs, outbox.redis, outbox.prefix, booking, booking.state.value)
    dbs.commit()
    return jsonify(booking_detail(dbs, booking)), 201


@bp.route("/bookings/<int:booking_id>", methods=["PATCH"])
@api_key_required(Permission.BOOKINGS)
def update_booking(booking_id: int) -> Response:
    """Change the time, party, name or note (as a new request must fit), then move the
    booking to the state given; all or nothing."""
    body = parse_body(schemas.BookingPatch)
    given = body.model_fields_set
    notify = "notify" not in given or body.notify
    dbs = db.session()
    booking = _booking_or_404(dbs, booking_id, lock=True)
    outbox = _outbox()
    try:
        if given & EDITABLE:
            _edit(dbs, outbox, booking, body, notify=notify)
        if "state" in given:
            _move(dbs, outbox, booking, body.state, body.reason or "", notify=notify)
    except service.BookingError as exc:
        dbs.rollback()
        raise _not_allowed(exc) from None
    dbs.commit()
    return jsonify(booking_detail(dbs, booking))


def _edit(
    dbs: Session, outbox: desk.Outbox, booking: Booking, body: schemas.BookingPatch, *, notify: bool
) -> None:
    given = body.model_fields_set
    wish = service.Wish(
        starts_at=body.starts_at if "starts_at" in given else booking.starts_at,
        party=body.party if "party" in given else booking.party,
        name=body.name or "",
        note=body.note or "",
    )
    venue = dbs.get(Venue, booking.venue_id)
    assert venue is not None
    outcome = _attempt(
        lambda: desk.edit(dbs, outbox, booking, wish, API, tell=notify), venue, wish, booking
    )
    if outcome.refusal is not None:
        dbs.rollback()
        raise _not_available(venue, outcome)


def _move(
    dbs: Session,
    outbox: desk.Outbox,
    booking: Booking,
    state: str,
    reason: str,
    *,
    notify: bool,
) -> None:
    """The state transition; the desk's actions send the customer's SMS, the service's
    alone do not (a no-show is never told)."""
    if state == "no_show":
        desk.no_show(dbs, booking, API)
    elif state == "confirmed":
        if notify:
            desk.confirm(dbs, outbox, booking, API)
        else:
            service.confirm(dbs, booking, actor=API)
    elif state == "declined":
        if notify:
            desk.decline(dbs, outbox, booking, API, reason)
        else:
            service.decline(dbs, booking, reason=reason, actor=API)
    elif notify:
        desk.cancel(dbs, outbox, booking, API)
    else:
        service.cancel(dbs, booking, actor=API)


@bp.route("/bookings/<int:booking_id>", methods=["DELETE"])
@api_key_required(Permission.BOOKINGS)
def cancel_booking(booking_id: int) -> Response:
    """Cancel a pending or confirmed booking (the customer is told); it stays, cancelled."""
    dbs = db.session()
    booking = _booking_or_404(dbs, booking_id, lock=True)
    try:
        desk.cancel(dbs, _outbox(), booking, API)
    except service.BookingError as exc:
        dbs.rollback()
        raise _not_allowed(exc) from None
    dbs.commit()
    return jsonify(booking_detail(dbs, booking))
