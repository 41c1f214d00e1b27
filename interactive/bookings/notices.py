"""The SMS a booking's customer gets: questions of the dialogue, decisions, reminders.

Each kind has a shipped text in Turkish and English (translated with Babel); a venue may
replace any of them per language with its own template (``{{ venue }}``, ``{{ when }}``,
``{{ party }}``, ``{{ times }}``, ``{{ reason }}``, ``{{ name }}``). Answers to what the
customer just sent are transactional; reminders are informational notices.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from babel.dates import format_datetime, format_time
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.bookings.models import Booking, Venue
from interactive.bookings.service import Refusal, zone
from interactive.keywords.models import ShortCode
from interactive.outbound import rendering
from interactive.outbound import service as outbound
from interactive.outbound.models import Traffic

log = logging.getLogger(__name__)

#: Kinds a venue may override, with what the desk sees in the settings form.
KINDS: dict[str, Any] = {
    "ask_date": _l("Asking for the day"),
    "ask_time": _l("Asking for the time"),
    "ask_party": _l("Asking for the party size"),
    "confirm": _l("Confirming an unclear request"),
    "confirmed": _l("Booking confirmed"),
    "pending": _l("Request received, the desk will confirm"),
    "declined": _l("Request declined"),
    "full": _l("Slot full, with free times"),
    "refused": _l("Time not possible"),
    "cancelled": _l("Booking cancelled"),
    "changed": _l("Booking changed"),
    "proposal": _l("Another time proposed"),
    "reminder": _l("Reminder"),
    "no_booking": _l("No booking to change"),
    "abandoned": _l("Request given up"),
}


def refusal_text(refusal: Refusal, venue: Venue) -> str:
    """Why the time is not possible, in the current locale."""
    if refusal == Refusal.PAST:
        return gettext("That time has passed.")
    if refusal == Refusal.TOO_SOON:
        return gettext(
            "Bookings must be made at least %(minutes)s minutes ahead.", minutes=venue.lead_minutes
        )
    if refusal == Refusal.TOO_FAR:
        return gettext("We take bookings up to %(days)s days ahead.", days=venue.ahead_days)
    if refusal == Refusal.CLOSED:
        return gettext("We are closed that day.")
    if refusal == Refusal.OUTSIDE_HOURS:
        return gettext("We are closed at that time.")
    if refusal == Refusal.TOO_MANY:
        return gettext("We take parties of up to %(count)s people.", count=venue.max_party)
    return gettext("That time is full.")


def _default(kind: str, values: dict[str, Any]) -> str:
    texts = {
        "ask_date": lambda: gettext(
            "Which day would you like to book? (e.g. tomorrow, Friday, 12 December)"
        ),
        "ask_time": lambda: gettext("At what time? (e.g. 20:00)"),
        "ask_party": lambda: gettext("For how many people?"),
        "confirm": lambda: gettext(
            "%(when)s, %(party)s people. Shall we book it? Reply YES or NO.", **values
        ),
        "confirmed": lambda: gettext(
            "%(venue)s: your booking for %(party)s people on %(when)s is confirmed. "
            "To cancel, reply CANCEL BOOKING.",
            **values,
        ),
        "pending": lambda: gettext(
            "%(venue)s: we have your request for %(party)s people on %(when)s and will "
            "confirm it shortly.",
            **values,
        ),
        "declined": lambda: gettext(
            "%(venue)s: sorry, we cannot take your booking for %(when)s. %(reason)s", **values
        ),
        "full": lambda: gettext(
            "%(venue)s: %(when)s is full. Free: %(times)s. Reply with the time you want.", **values
        ),
        "refused": lambda: gettext("%(venue)s: %(reason)s %(times)s", **values),
        "cancelled": lambda: gettext(
            "%(venue)s: your booking for %(when)s is cancelled.", **values
        ),
        "changed": lambda: gettext(
            "%(venue)s: your booking is now for %(party)s people on %(when)s.", **values
        ),
        "proposal": lambda: gettext(
            "%(venue)s: we cannot seat you at the time you asked. Would %(when)s suit you? "
            "Reply YES or NO.",
            **values,
        ),
        "reminder": lambda: gettext(
            "%(venue)s: a reminder of your booking for %(party)s people on %(when)s. "
            "To cancel, reply CANCEL BOOKING.",
            **values,
        ),
        "no_booking": lambda: gettext(
            "%(venue)s: we found no booking of yours to change.", **values
        ),
        "abandoned": lambda: gettext(
            "%(venue)s: no booking was made. Send BOOK with a day, a time and the number "
            "of people to try again.",
            **values,
        ),
    }
    return texts[kind]().strip()


def when(venue: Venue, moment: datetime, language: str) -> str:
    """A booking's time as the customer reads it: "13 Aralık Cumartesi 20:00"."""
    local = moment.astimezone(zone(venue))
    pattern = "d MMMM EEEE HH:mm" if language == "tr" else "EEEE d MMMM HH:mm"
    return format_datetime(local, pattern, locale=language)


def times(venue: Venue, moments: list[datetime], language: str) -> str:
    """Free times, the day named only when it is not the same as the first's."""
    if not moments:
        return ""
    first = moments[0].astimezone(zone(venue)).date()
    out = []
    for moment in moments:
        local = moment.astimezone(zone(venue))
        if local.date() == first:
            out.append(format_time(local, "HH:mm", locale=language))
        else:
            out.append(when(venue, moment, language))
    return ", ".join(out)


def text(venue: Venue, kind: str, language: str, **values: Any) -> str:
    """The text of ``kind`` for this venue in ``language`` (its own template if set)."""
    language = language if language in ("tr", "en") else "tr"
    values = {"venue": venue.name, **values}
    own = ((venue.replies or {}).get(kind) or {}).get(language)
    if own:
        try:
            rendered = rendering.saved_template(own).render(values).strip()
        except rendering.TemplateError as exc:
            log.warning("venue %s reply %s failed: %s", venue.id, kind, exc)
        else:
            if rendered:
                return rendered
    with force_locale(language):
        return _default(kind, {k: str(v) for k, v in values.items()})


def booking_values(venue: Venue, booking: Booking, language: str) -> dict[str, Any]:
    return {
        "when": when(venue, booking.starts_at, language),
        "party": booking.party,
        "name": booking.name,
        "reason": booking.reason,
    }


def send(
    session: Session,
    client: redis.Redis,
    prefix: str,
    venue: Venue,
    *,
    phone: str,
    body: str,
    contact_id: int | None = None,
    traffic: Traffic = Traffic.TRANSACTIONAL,
) -> int | None:
    """Queue ``body`` to ``phone`` from the venue's short code (published after commit)."""
    if not body.strip():
        return None
    code = session.scalar(sa.select(ShortCode).where(ShortCode.code == venue.short_code))
    connection = code.connection if code is not None else ""
    if not connection:
        connections = current_app.config["SMPP_CONNECTION_LIST"]
        connection = connections[0].name if connections else "simulator"
    ids = outbound.queue_messages(
        session,
        client,
        prefix,
        [
            outbound.NewMessage(
                connection=connection,
                source=venue.short_code,
                destination=phone,
                body=body,
                traffic=traffic,
                contact_id=contact_id,
            )
        ],
    )
    return ids[0]


def notify(
    session: Session,
    client: redis.Redis,
    prefix: str,
    booking: Booking,
    kind: str,
    *,
    traffic: Traffic = Traffic.TRANSACTIONAL,
    **values: Any,
) -> int | None:
    """Tell the booking's customer about it (``kind`` with the booking's values)."""
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    body = text(
        venue,
        kind,
        booking.language,
        **{**booking_values(venue, booking, booking.language), **values},
    )
    return send(
        session,
        client,
        prefix,
        venue,
        phone=booking.phone,
        body=body,
        contact_id=booking.contact_id,
        traffic=traffic,
    )
