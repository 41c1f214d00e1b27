"""The reservation desk: the board of requests and bookings, a booking's page with its
customer's history, the desk's decisions, the day sheet, and the venues' settings.

The board polls ``updates.json``; when something changed it reloads its body, and a new
request rings and flashes. Every decision goes through ``desk`` (which sends the SMS and
records who did it) and commits once per request.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from interactive.bookings import desk, service
from interactive.bookings.models import Booking, BookingState, Venue
from interactive.bookings.notices import refusal_text
from interactive.bookings.service import Actor, BookingError, Wish
from interactive.bookings.venue_form import VenueForm, reply_kinds, save_venue
from interactive.contacts import phones
from interactive.db import db, utcnow
from interactive.web.auth import require
from interactive.web.csv_safe import neutralise
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("bookings", __name__, template_folder="templates", static_folder="static")

DAYS = 7
STATES = {
    BookingState.PENDING: _l("Pending"),
    BookingState.CONFIRMED: _l("Confirmed"),
    BookingState.DECLINED: _l("Declined"),
    BookingState.CANCELLED: _l("Cancelled"),
    BookingState.NO_SHOW: _l("No-show"),
}
DECLINE_REASONS = (
    _l("We are fully booked at that time."),
    _l("We are closed for a private event."),
    _l("We cannot take a party of that size."),
)


class ConfirmForm(FlaskForm):
    """Only the CSRF token: for POST buttons."""


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"booking_states": STATES, "decline_reasons": DECLINE_REASONS, "button": ConfirmForm()}


def _venue(venue_id: int) -> Venue:
    venue = db.session().get(Venue, venue_id)
    if venue is None:
        abort(404)
    return venue


def _booking(booking_id: int) -> Booking:
    booking = db.session().get(Booking, booking_id)
    if booking is None:
        abort(404)
    return booking


def _outbox() -> desk.Outbox:
    return desk.Outbox(
        current_app.extensions["interactive.redis"], current_app.config["REDIS_PREFIX"]
    )


def _actor() -> Actor:
    return Actor("desk", current_user.id)


def _today(venue: Venue) -> date:
    return utcnow().astimezone(service.zone(venue)).date()


def _day_arg(venue: Venue) -> date:
    try:
        return date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return _today(venue)


# --- the board ---------------------------------------------------------------------------------


@bp.route("/")
@require(Permission.BOOKINGS)
def index() -> ResponseReturnValue:
    venue = db.session().scalars(sa.select(Venue).order_by(Venue.id)).first()
    if venue is None:
        return render_template("bookings/empty.html")
    return redirect(url_for("bookings.board", venue_id=venue.id))


@bp.route("/<int:venue_id>/")
@require(Permission.BOOKINGS)
def board(venue_id: int) -> ResponseReturnValue:
    venue = _venue(venue_id)
    venues = list(db.session().scalars(sa.select(Venue).order_by(Venue.name)))
    return render_template("bookings/board.html", venue=venue, venues=venues, **_board(venue))


@bp.route("/<int:venue_id>/board")
@require(Permission.BOOKINGS)
def board_body(venue_id: int) -> ResponseReturnValue:
    venue = _venue(venue_id)
    return render_template("bookings/_board.html", venue=venue, **_board(venue))


def _board(venue: Venue) -> dict[str, Any]:
    session = db.session()
    first = _day_arg(venue)
    rows = service.board(session, venue, first, DAYS)
    pending = [b for b in rows if b.state == BookingState.PENDING]
    days = []
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        on_day = [
            b
            for b in rows
            if b.state != BookingState.PENDING
            and b.starts_at.astimezone(service.zone(venue)).date() == day
        ]
        covers = [(slot, held) for slot, held in service.day_covers(session, venue, day)]
        days.append({"day": day, "bookings": on_day, "covers": covers})
    return {
        "first": first,
        "pending": pending,
        "days": days,
        "version": _version(venue),
        "previous": first - timedelta(days=DAYS),
        "next": first + timedelta(days=DAYS),
        "today": _today(venue),
    }


def _version(venue: Venue) -> str:
    """Changes whenever a booking of the venue is added or changed."""
    count, latest = (
        db.session()
        .execute(
            sa.select(sa.func.count(Booking.id), sa.func.max(Booking.updated_at)).where(
                Booking.venue_id == venue.id
            )
        )
        .one()
    )
    return f"{count}-{latest.isoformat() if latest else ''}"


@bp.route("/<int:venue_id>/updates.json")
@require(Permission.BOOKINGS)
def updates(venue_id: int) -> ResponseReturnValue:
    venue = _venue(venue_id)
    latest = db.session().scalar(
        sa.select(sa.func.max(Booking.id)).where(
            Booking.venue_id == venue.id, Booking.state == BookingState.PENDING
        )
    )
    return jsonify(version=_version(venue), latest_pending=latest or 0)


@bp.route("/<int:venue_id>/day.csv")
@require(Permission.BOOKINGS)
def day_sheet(venue_id: int) -> ResponseReturnValue:
    """The day's bookings in time order, for the floor."""
    venue = _venue(venue_id)
    day = _day_arg(venue)
    rows = [
        b
        for b in service.board(db.session(), venue, day, 1)
        if b.state in (BookingState.CONFIRMED, BookingState.PENDING, BookingState.NO_SHOW)
    ]
    rows.sort(key=lambda b: (b.starts_at, b.id))
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([_("Time"), _("Party"), _("Name"), _("Phone"), _("State"), _("Note")])
    for b in rows:
        local = b.starts_at.astimezone(service.zone(venue))
        writer.writerow(
            [
                f"{local:%H:%M}",
                b.party,
                neutralise(b.name),
                neutralise(b.phone),
                str(STATES[b.state]),
                neutralise(b.note),
            ]
        )
    name = f"bookings-{venue.id}-{day.isoformat()}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- one booking -------------------------------------------------------------------------------


@bp.route("/booking/<int:booking_id>")
@require(Permission.BOOKINGS)
def show(booking_id: int) -> ResponseReturnValue:
    booking = _booking(booking_id)
    venue = _venue(booking.venue_id)
    session = db.session()
    local = booking.starts_at.astimezone(service.zone(venue))
    return render_template(
        "bookings/show.html",
        booking=booking,
        venue=venue,
        local=local,
        history=[b for b in service.history(session, booking.phone) if b.id != booking.id],
        events=service.events(session, booking.id),
    )


def _decided(booking: Booking, message: str) -> ResponseReturnValue:
    db.session().commit()
    flash(message, "success")
    return redirect(request.form.get("next") or url_for("bookings.show", booking_id=booking.id))


def _refused(booking: Booking, error: Exception) -> ResponseReturnValue:
    db.session().rollback()
    flash(_("Not done: %(error)s", error=str(error)), "error")
    return redirect(request.form.get("next") or url_for("bookings.show", booking_id=booking.id))


@bp.route(
    "/booking/<int:booking_id>/<any(confirm, decline, cancel, no_show):action>", methods=["POST"]
)
@require(Permission.BOOKINGS)
def decide(booking_id: int, action: str) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    booking = _booking(booking_id)
    outbox = _outbox()
    try:
        if action == "confirm":
            desk.confirm(db.session(), outbox, booking, _actor())
            message = _("Confirmed; the customer is told by SMS.")
        elif action == "decline":
            reason = (request.form.get("reason") or "").strip()
            desk.decline(db.session(), outbox, booking, _actor(), reason)
            message = _("Declined; the customer is told by SMS.")
        elif action == "cancel":
            desk.cancel(db.session(), outbox, booking, _actor())
            message = _("Cancelled; the customer is told by SMS.")
        else:
            desk.no_show(db.session(), booking, _actor())
            message = _("Marked as a no-show.")
    except BookingError as exc:
        return _refused(booking, exc)
    log.info("booking %s %s by=%s", booking.id, action, current_user.id)
    return _decided(booking, message)


def _moment(venue: Venue) -> datetime | None:
    try:
        day = date.fromisoformat(request.form.get("date", ""))
        at = time.fromisoformat(request.form.get("time", ""))
    except ValueError:
        return None
    return datetime.combine(day, at, service.zone(venue))


@bp.route("/booking/<int:booking_id>/propose", methods=["POST"])
@require(Permission.BOOKINGS)
def propose(booking_id: int) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    booking = _booking(booking_id)
    at = _moment(_venue(booking.venue_id))
    if at is None:
        return _refused(booking, ValueError(_("give a day and a time")))
    try:
        desk.propose(db.session(), _outbox(), booking, at, _actor())
    except BookingError as exc:
        return _refused(booking, exc)
    return _decided(booking, _("Proposed; the customer answers YES or NO by SMS."))


@bp.route("/booking/<int:booking_id>/edit", methods=["POST"])
@require(Permission.BOOKINGS)
def edit(booking_id: int) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    booking = _booking(booking_id)
    venue = _venue(booking.venue_id)
    at = _moment(venue)
    party = request.form.get("party", type=int)
    if at is None or party is None or party < 1:
        return _refused(booking, ValueError(_("give a day, a time and a party size")))
    wish = Wish(
        at,
        party,
        (request.form.get("name") or "").strip(),
        (request.form.get("note") or "").strip(),
    )
    try:
        outcome = desk.edit(
            db.session(), _outbox(), booking, wish, _actor(), tell=bool(request.form.get("tell"))
        )
    except BookingError as exc:
        return _refused(booking, exc)
    if outcome.refusal is not None:
        return _refused(booking, ValueError(_refusal(outcome, venue)))
    return _decided(booking, _("Saved."))


@bp.route("/<int:venue_id>/new", methods=["POST"])
@require(Permission.BOOKINGS)
def create(venue_id: int) -> ResponseReturnValue:
    """A booking the desk takes itself (by phone, at the door)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    venue = _venue(venue_id)
    number = phones.normalise(request.form.get("phone", ""), current_app.config["DEFAULT_REGION"])
    at = _moment(venue)
    party = request.form.get("party", type=int)
    back = url_for("bookings.board", venue_id=venue.id)
    if number.e164 is None or at is None or party is None or party < 1:
        flash(_("Give a valid phone number, a day, a time and a party size."), "error")
        return redirect(back)
    outcome = service.request(
        db.session(),
        venue.id,
        Wish(
            at,
            party,
            (request.form.get("name") or "").strip(),
            (request.form.get("note") or "").strip(),
        ),
        phone=number.e164,
        source="desk",
        actor=_actor(),
    )
    if outcome.booking is None:
        db.session().rollback()
        flash(_("Not booked: %(error)s", error=_refusal(outcome, venue)), "error")
        return redirect(back)
    if outcome.booking.state == BookingState.PENDING:
        service.confirm(db.session(), outcome.booking, actor=_actor())
    db.session().commit()
    flash(_("Booked."), "success")
    return redirect(back)


def _refusal(outcome: service.Outcome, venue: Venue) -> str:
    """Why a time could not be booked, with the free times if there are."""
    reason = refusal_text(outcome.refusal, venue) if outcome.refusal else ""
    if outcome.alternatives:
        free = ", ".join(format_datetime(a, "short") for a in outcome.alternatives)
        return _("%(reason)s Free: %(times)s", reason=reason, times=free)
    return reason


# --- venues ------------------------------------------------------------------------------------


@bp.route("/venues/")
@require(Permission.SETTINGS)
def venues() -> ResponseReturnValue:
    rows = list(db.session().scalars(sa.select(Venue).order_by(Venue.name)))
    return render_template("bookings/venues.html", venues=rows)


@bp.route("/venues/new", methods=["GET", "POST"])
@require(Permission.SETTINGS)
def new_venue() -> ResponseReturnValue:
    return _venue_form(None)


@bp.route("/venues/<int:venue_id>/edit", methods=["GET", "POST"])
@require(Permission.SETTINGS)
def edit_venue(venue_id: int) -> ResponseReturnValue:
    return _venue_form(_venue(venue_id))


def _venue_form(venue: Venue | None) -> ResponseReturnValue:
    form = VenueForm.for_venue(db.session(), venue)
    if form.validate_on_submit():
        saved = save_venue(db.session(), form, venue)
        if saved is not None:
            db.session().commit()
            flash(_("Venue saved."), "success")
            return redirect(url_for("bookings.board", venue_id=saved.id))
        db.session().rollback()
    return render_template(
        "bookings/venue_form.html", form=form, venue=venue, reply_kinds=reply_kinds()
    )
