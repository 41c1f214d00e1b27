"""What the desk (and the API) does to a booking, with the SMS that goes with it.

Each action changes the booking through ``service`` (which records who did it and owes
the venue's webhook a POST) and queues the customer's SMS in the same transaction, so
the message goes only if the change commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.bookings import notices, service
from interactive.bookings.models import (
    Booking,
    BookingDialogue,
    BookingState,
    DialogueState,
    Venue,
)
from interactive.bookings.service import Actor, BookingError, Outcome, Wish
from interactive.db import utcnow
from interactive.outbound.models import Traffic

#: How long a proposal of another time waits for the customer's YES or NO.
PROPOSAL_HOURS = 12


@dataclass(frozen=True)
class Outbox:
    redis: redis.Redis
    prefix: str


def confirm(session: Session, outbox: Outbox, booking: Booking, actor: Actor) -> None:
    service.confirm(session, booking, actor=actor)
    notices.notify(session, outbox.redis, outbox.prefix, booking, "confirmed")


def decline(session: Session, outbox: Outbox, booking: Booking, actor: Actor, reason: str) -> None:
    service.decline(session, booking, reason=reason, actor=actor)
    notices.notify(session, outbox.redis, outbox.prefix, booking, "declined", reason=reason)


def cancel(session: Session, outbox: Outbox, booking: Booking, actor: Actor) -> None:
    service.cancel(session, booking, actor=actor)
    notices.notify(session, outbox.redis, outbox.prefix, booking, "cancelled")


def no_show(session: Session, booking: Booking, actor: Actor) -> None:
    service.no_show(session, booking, actor=actor)


def edit(
    session: Session, outbox: Outbox, booking: Booking, wish: Wish, actor: Actor, *, tell: bool
) -> Outcome:
    """Change the booking's fields; the customer hears of a confirmed booking's new time
    or size when ``tell``."""
    before = (booking.starts_at, booking.party)
    outcome = service.change(session, booking, wish, actor=actor)
    moved = (booking.starts_at, booking.party) != before
    if outcome.refusal is None and tell and moved and booking.state == BookingState.CONFIRMED:
        notices.notify(session, outbox.redis, outbox.prefix, booking, "changed")
    return outcome


def propose(
    session: Session,
    outbox: Outbox,
    booking: Booking,
    at: datetime,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Offer the customer another time for a pending request; their YES books it (if it
    is still free), their NO declines it. The offer is a dialogue on the short code."""
    now = now or utcnow()
    if booking.state != BookingState.PENDING:
        raise BookingError("only a pending request can get a proposal")
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    refusal = service.problem(venue, Wish(at, booking.party), now)
    if refusal is None and not service.free(session, venue, at, booking.party, skip=booking.id):
        refusal = service.Refusal.FULL
    if refusal is not None:
        raise BookingError(f"that time is not possible: {refusal.value}")
    current = service.open_dialogue(session, booking.phone, venue.short_code)
    if current is not None:
        current.state = DialogueState.ABANDONED
        session.flush()
    session.add(
        BookingDialogue(
            venue_id=venue.id,
            phone=booking.phone,
            short_code=venue.short_code,
            contact_id=booking.contact_id,
            language=booking.language,
            fields={"proposed": at.isoformat()},
            asking="proposal",
            booking_id=booking.id,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(hours=PROPOSAL_HOURS),
        )
    )
    service.record(
        session,
        venue,
        booking,
        "proposed",
        actor,
        now,
        f"{at.astimezone(service.zone(venue)):%Y-%m-%d %H:%M}",
    )
    notices.notify(
        session,
        outbox.redis,
        outbox.prefix,
        booking,
        "proposal",
        when=notices.when(venue, at, booking.language),
    )


def send_reminders(session: Session, outbox: Outbox, now: datetime | None = None) -> int:
    """Remind confirmed bookings due within their venue's reminder hours, once each
    (informational: an opt-out stops them)."""
    now = now or utcnow()
    count = 0
    for venue in session.scalars(sa.select(Venue).where(Venue.reminder_hours > 0)):
        due = session.scalars(
            sa.select(Booking)
            .where(
                Booking.venue_id == venue.id,
                Booking.state == BookingState.CONFIRMED,
                Booking.reminded_at.is_(None),
                Booking.starts_at > now,
                Booking.starts_at <= now + timedelta(hours=venue.reminder_hours),
            )
            .with_for_update(skip_locked=True)
        )
        for booking in due:
            booking.reminded_at = now
            if booking.created_at > booking.starts_at - timedelta(hours=venue.reminder_hours):
                continue  # booked within the window: the confirmation was reminder enough
            notices.notify(
                session,
                outbox.redis,
                outbox.prefix,
                booking,
                "reminder",
                traffic=Traffic.INFORMATIONAL,
            )
            count += 1
    return count


def expire_dialogues(session: Session, now: datetime | None = None) -> int:
    """Close the dialogues nobody answered in time."""
    now = now or utcnow()
    result = session.execute(
        sa.update(BookingDialogue)
        .where(BookingDialogue.state == DialogueState.OPEN, BookingDialogue.expires_at <= now)
        .values(state=DialogueState.ABANDONED, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
