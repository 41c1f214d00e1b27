"""Bookings: availability, requests that fit the venue's rules, the desk's decisions.

Slots start at each opening window's start, every ``slot_minutes``, the last one a slot
before closing. A booking holds its party's covers in the slot its time falls in from
the request until it is declined or cancelled (a pending request holds them too, so the
desk never confirms more than fits). Every change that needs room takes the venue's row
lock first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writes one transaction at a
time), so two requests for the last table cannot both win: the second sees the first.

Every change is recorded as a ``BookingEvent`` with who made it, sends the customer the
SMS that goes with it (``notices``) and owes the venue's webhook a signed POST.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.bookings.models import (
    HOLDING,
    Booking,
    BookingDialogue,
    BookingEvent,
    BookingState,
    DialogueState,
    Venue,
)
from interactive.db import in_values, utcnow
from interactive.keywords.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

#: How far from the asked time alternatives are looked for.
ALTERNATIVE_DAYS = 7


class Refusal(enum.StrEnum):
    """Why a time cannot be booked."""

    PAST = "past"
    TOO_SOON = "too_soon"
    TOO_FAR = "too_far"
    CLOSED = "closed"  # a closed date, or a day without opening hours
    OUTSIDE_HOURS = "outside_hours"
    TOO_MANY = "too_many"  # a party larger than the venue takes
    FULL = "full"


class BookingError(ValueError):
    """A change the booking's state does not allow."""


@dataclass(frozen=True)
class Wish:
    """What a customer (or the desk) asks for."""

    starts_at: datetime  # aware
    party: int
    name: str = ""
    note: str = ""


@dataclass
class Outcome:
    booking: Booking | None
    refusal: Refusal | None = None
    alternatives: list[datetime] = field(default_factory=list)  # aware, UTC


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the customer by SMS, a desk user, the API or the system."""

    kind: str  # customer, desk, api, system
    user_id: int | None = None


CUSTOMER = Actor("customer")
SYSTEM = Actor("system")


# --- The venue's day -----------------------------------------------------------------------


def zone(venue: Venue) -> ZoneInfo:
    try:
        return ZoneInfo(venue.time_zone or "Europe/Istanbul")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Istanbul")


def windows(venue: Venue, day: date) -> list[tuple[datetime, datetime]]:
    """The opening windows of ``day`` (local, aware); none on a closed date."""
    if day.isoformat() in (venue.closed_dates or []):
        return []
    tz = zone(venue)
    found = []
    for start, end in (venue.hours or {}).get(str(day.weekday()), []):
        opens = datetime.combine(day, time.fromisoformat(start), tz)
        closes = datetime.combine(day, time.fromisoformat(end), tz)
        if closes <= opens:
            closes += timedelta(days=1)  # past midnight
        found.append((opens, closes))
    return found


def slots(venue: Venue, day: date) -> list[datetime]:
    """Slot starts of ``day`` (local, aware), in order."""
    step = timedelta(minutes=venue.slot_minutes)
    found: list[datetime] = []
    for opens, closes in windows(venue, day):
        at = opens
        while at + step <= closes:
            found.append(at)
            at += step
    return sorted(found)


def slot_of(venue: Venue, at: datetime) -> datetime | None:
    """The slot (local start) ``at`` falls in, if the venue is open then."""
    local = at.astimezone(zone(venue))
    step = timedelta(minutes=venue.slot_minutes)
    for day in (local.date(), local.date() - timedelta(days=1)):
        for start in slots(venue, day):
            if start <= local < start + step:
                return start
    return None


def covers(
    session: Session, venue: Venue, since: datetime, until: datetime, *, skip: int | None = None
) -> dict[datetime, int]:
    """Covers held per slot (local start) between two moments, without booking ``skip``."""
    query = sa.select(Booking.starts_at, Booking.party).where(
        Booking.venue_id == venue.id,
        Booking.state.in_(HOLDING),
        Booking.starts_at >= since - timedelta(minutes=venue.slot_minutes),
        Booking.starts_at < until,
    )
    if skip is not None:
        query = query.where(Booking.id != skip)
    held: dict[datetime, int] = {}
    for starts_at, party in session.execute(query):
        slot = slot_of(venue, starts_at)
        if slot is not None:
            held[slot] = held.get(slot, 0) + party
    return held


def day_covers(session: Session, venue: Venue, day: date) -> list[tuple[datetime, int]]:
    """(slot, covers held) for every slot of ``day``: the desk's covers per slot."""
    day_slots = slots(venue, day)
    if not day_slots:
        return []
    step = timedelta(minutes=venue.slot_minutes)
    held = covers(session, venue, day_slots[0], day_slots[-1] + step)
    return [(slot, held.get(slot, 0)) for slot in day_slots]


def problem(venue: Venue, wish: Wish, now: datetime) -> Refusal | None:
    """What makes ``wish`` impossible whatever the bookings (None if nothing does)."""
    if wish.starts_at <= now:
        return Refusal.PAST
    if wish.party > venue.max_party:
        return Refusal.TOO_MANY
    if wish.starts_at < now + timedelta(minutes=venue.lead_minutes):
        return Refusal.TOO_SOON
    if wish.starts_at > now + timedelta(days=venue.ahead_days):
        return Refusal.TOO_FAR
    local = wish.starts_at.astimezone(zone(venue))
    if not windows(venue, local.date()) and not slot_of(venue, wish.starts_at):
        return Refusal.CLOSED
    if slot_of(venue, wish.starts_at) is None:
        return Refusal.OUTSIDE_HOURS
    return None


def free(
    session: Session, venue: Venue, at: datetime, party: int, *, skip: int | None = None
) -> bool:
    slot = slot_of(venue, at)
    if slot is None:
        return False
    step = timedelta(minutes=venue.slot_minutes)
    held = covers(session, venue, slot, slot + step, skip=skip).get(slot, 0)
    return held + party <= venue.capacity


def alternatives(
    session: Session,
    venue: Venue,
    wish: Wish,
    now: datetime,
    *,
    limit: int = 3,
    skip: int | None = None,
) -> list[datetime]:
    """The free slots nearest to the wished time (UTC): the same day first, then the
    following days, each allowed by the venue's lead time and horizon."""
    tz = zone(venue)
    first = wish.starts_at.astimezone(tz).date()
    found: list[datetime] = []
    for offset in range(ALTERNATIVE_DAYS + 1):
        try:
            day = first + timedelta(days=offset)
        except OverflowError:  # the end of the calendar
            break
        day_slots = slots(venue, day)
        if not day_slots:
            continue
        step = timedelta(minutes=venue.slot_minutes)
        held = covers(session, venue, day_slots[0], day_slots[-1] + step, skip=skip)
        candidates = [
            slot
            for slot in day_slots
            if held.get(slot, 0) + wish.party <= venue.capacity
            and problem(venue, Wish(slot, wish.party), now) is None
            and slot != slot_of(venue, wish.starts_at)
        ]
        candidates.sort(key=lambda slot: abs((slot - wish.starts_at).total_seconds()))
        found += [c.astimezone(UTC) for c in candidates[: limit - len(found)]]
        if len(found) >= limit:
            break
    return sorted(found[:limit])


# --- Requests and changes --------------------------------------------------------------------


def lock(session: Session, venue_id: int) -> Venue:
    """The venue, locked for this transaction: room is counted by one writer at a time."""
    query = sa.select(Venue).where(Venue.id == venue_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    venue = session.scalars(query.execution_options(populate_existing=True)).one()
    return venue


def request(
    session: Session,
    venue_id: int,
    wish: Wish,
    *,
    phone: str,
    contact_id: int | None = None,
    language: str = "tr",
    source: str = "sms",
    source_text: str = "",
    inbound_id: int | None = None,
    actor: Actor = CUSTOMER,
    now: datetime | None = None,
) -> Outcome:
    """Book ``wish`` if it fits: confirmed at once when the venue confirms by itself,
    else pending for the desk. A refusal comes with the nearest free slots (flushes)."""
    now = now or utcnow()
    venue = lock(session, venue_id)
    refusal = problem(venue, wish, now)
    if refusal is None and not free(session, venue, wish.starts_at, wish.party):
        refusal = Refusal.FULL
    if refusal is not None:
        spare = [] if refusal == Refusal.TOO_MANY else alternatives(session, venue, wish, now)
        return Outcome(None, refusal, spare)
    state = BookingState.CONFIRMED if venue.auto_confirm else BookingState.PENDING
    booking = Booking(
        venue_id=venue.id,
        phone=phone,
        contact_id=contact_id,
        name=wish.name[:120],
        party=wish.party,
        starts_at=wish.starts_at.astimezone(UTC),
        state=state,
        note=wish.note[:500],
        source=source,
        source_text=source_text,
        inbound_id=inbound_id,
        language=language if language in ("tr", "en") else "tr",
        decided_at=now if state == BookingState.CONFIRMED else None,
        created_at=now,
        updated_at=now,
    )
    session.add(booking)
    session.flush()
    record(session, venue, booking, "requested", actor, now)
    if state == BookingState.CONFIRMED:
        record(session, venue, booking, "confirmed", SYSTEM, now, "auto-confirmed")
    return Outcome(booking)


def change(
    session: Session,
    booking: Booking,
    wish: Wish,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> Outcome:
    """Move a booking to another time or party size if that fits (its own covers do not
    count against it); a confirmed booking stays confirmed (flushes)."""
    now = now or utcnow()
    if booking.state not in HOLDING:
        raise BookingError(f"a {booking.state.value} booking cannot be changed")
    venue = lock(session, booking.venue_id)
    moved = wish.starts_at != booking.starts_at or wish.party != booking.party
    if moved:
        refusal = problem(venue, wish, now)
        if refusal is None and not free(
            session, venue, wish.starts_at, wish.party, skip=booking.id
        ):
            refusal = Refusal.FULL
        if refusal is not None:
            spare = alternatives(session, venue, wish, now, skip=booking.id)
            return Outcome(booking, refusal, spare)
    before = _summary(venue, booking)
    booking.starts_at = wish.starts_at.astimezone(UTC)
    booking.party = wish.party
    booking.name = (wish.name or booking.name)[:120]
    booking.note = (wish.note or booking.note)[:500]
    booking.updated_at = now
    if moved:
        booking.reminded_at = None
    session.flush()
    record(session, venue, booking, "changed", actor, now, f"{before} → {_summary(venue, booking)}")
    return Outcome(booking)


def confirm(
    session: Session, booking: Booking, *, actor: Actor, now: datetime | None = None
) -> None:
    _decide(session, booking, BookingState.CONFIRMED, "confirmed", actor, now)


def decline(
    session: Session,
    booking: Booking,
    *,
    reason: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> None:
    booking.reason = reason[:300]
    _decide(session, booking, BookingState.DECLINED, "declined", actor, now, reason)


def cancel(
    session: Session, booking: Booking, *, actor: Actor, now: datetime | None = None
) -> None:
    if booking.state not in HOLDING:
        raise BookingError(f"a {booking.state.value} booking cannot be cancelled")
    _set(session, booking, BookingState.CANCELLED, "cancelled", actor, now)


def no_show(
    session: Session, booking: Booking, *, actor: Actor, now: datetime | None = None
) -> None:
    now = now or utcnow()
    if booking.state != BookingState.CONFIRMED:
        raise BookingError("only a confirmed booking can be marked as a no-show")
    if booking.starts_at > now:
        raise BookingError("a booking can be marked as a no-show once its time has come")
    _set(session, booking, BookingState.NO_SHOW, "no_show", actor, now)


def _decide(
    session: Session,
    booking: Booking,
    state: BookingState,
    kind: str,
    actor: Actor,
    now: datetime | None,
    detail: str = "",
) -> None:
    if booking.state != BookingState.PENDING:
        raise BookingError(f"only a pending request can be {kind}; this one is {booking.state}")
    now = now or utcnow()
    booking.decided_by = actor.user_id
    booking.decided_at = now
    _set(session, booking, state, kind, actor, now, detail)


def _set(
    session: Session,
    booking: Booking,
    state: BookingState,
    kind: str,
    actor: Actor,
    now: datetime | None,
    detail: str = "",
) -> None:
    now = now or utcnow()
    booking.state = state
    booking.updated_at = now
    session.flush()
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    record(session, venue, booking, kind, actor, now, detail)


def record(
    session: Session,
    venue: Venue,
    booking: Booking,
    kind: str,
    actor: Actor,
    now: datetime,
    detail: str = "",
) -> None:
    """The audit trail and the venue's webhook (flushes)."""
    session.add(
        BookingEvent(
            booking_id=booking.id,
            at=now,
            kind=kind,
            actor=actor.kind,
            user_id=actor.user_id,
            detail=detail[:500],
        )
    )
    if venue.webhook_id is not None:
        webhook = session.get(Webhook, venue.webhook_id)
        if webhook is not None and webhook.active:
            body = {"event": f"booking.{kind}", "booking": as_dict(booking, venue), "at": _iso(now)}
            session.add(
                WebhookDelivery(
                    webhook_id=webhook.id,
                    inbound_id=None,
                    body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                    next_attempt_at=now,
                )
            )
    session.flush()
    log.info("booking %s %s by=%s:%s", booking.id, kind, actor.kind, actor.user_id or "")


def as_dict(booking: Booking, venue: Venue) -> dict[str, Any]:
    """A booking as the API and webhooks show it."""
    return {
        "id": booking.id,
        "venue_id": booking.venue_id,
        "phone": booking.phone,
        "contact_id": booking.contact_id,
        "name": booking.name,
        "party": booking.party,
        "starts_at": _iso(booking.starts_at),
        "local_time": booking.starts_at.astimezone(zone(venue)).isoformat(),
        "state": booking.state.value,
        "note": booking.note,
        "source": booking.source,
        "source_text": booking.source_text,
        "reason": booking.reason,
        "created_at": _iso(booking.created_at),
        "updated_at": _iso(booking.updated_at),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _summary(venue: Venue, booking: Booking) -> str:
    local = booking.starts_at.astimezone(zone(venue))
    return f"{local:%Y-%m-%d %H:%M} × {booking.party}"


# --- Reading ----------------------------------------------------------------------------------


#: A booking still counts as upcoming (to cancel or change by SMS) this long after it starts.
UPCOMING_SINCE = timedelta(hours=2)


def upcoming_for(
    session: Session, phone: str, venue_ids: Iterable[int], now: datetime
) -> Booking | None:
    """The number's next booking that still holds a table at one of these venues."""
    return session.scalars(
        sa.select(Booking)
        .where(
            Booking.phone == phone,
            Booking.venue_id.in_(list(venue_ids)),
            Booking.state.in_(HOLDING),
            Booking.starts_at >= now - UPCOMING_SINCE,
        )
        .order_by(Booking.starts_at)
        .limit(1)
    ).first()


@functools.cache
def in_touch_query(dialect: str) -> sa.CompoundSelect:
    """(phone, short code) pairs among the numbers bound as ``phones`` with an open
    dialogue (expired or not) or a booking that starts after ``booking_since`` and
    still holds a table, at a venue on that short code. Built once (the router runs it
    for every batch); the values are parameters."""
    talking = sa.select(BookingDialogue.phone, BookingDialogue.short_code).where(
        in_values(BookingDialogue.phone, "phones", dialect),
        BookingDialogue.state == DialogueState.OPEN,
    )
    booked = (
        sa.select(Booking.phone, Venue.short_code)
        .join(Venue, Venue.id == Booking.venue_id)
        .where(
            in_values(Booking.phone, "phones", dialect),
            Booking.state.in_(HOLDING),
            Booking.starts_at >= sa.bindparam("booking_since", type_=Booking.starts_at.type),
        )
    )
    return sa.union_all(talking, booked)


def board(session: Session, venue: Venue, since: date, days: int = 7) -> list[Booking]:
    """Bookings of ``days`` days from ``since`` (venue's days): pending first, then by time."""
    tz = zone(venue)
    start = datetime.combine(since, time(), tz)
    query = (
        sa.select(Booking)
        .where(
            Booking.venue_id == venue.id,
            Booking.starts_at >= start,
            Booking.starts_at < start + timedelta(days=days),
        )
        .order_by(Booking.starts_at, Booking.id)
    )
    rows = list(session.scalars(query))
    return sorted(rows, key=lambda b: (b.state != BookingState.PENDING, b.starts_at, b.id))


def events(session: Session, booking_id: int) -> list[BookingEvent]:
    return list(
        session.scalars(
            sa.select(BookingEvent)
            .where(BookingEvent.booking_id == booking_id)
            .order_by(BookingEvent.at, BookingEvent.id)
        )
    )


def history(session: Session, phone: str, *, limit: int = 10) -> list[Booking]:
    """The number's earlier bookings, newest first (for the desk)."""
    return list(
        session.scalars(
            sa.select(Booking)
            .where(Booking.phone == phone)
            .order_by(Booking.starts_at.desc())
            .limit(limit)
        )
    )


def open_dialogue(session: Session, phone: str, short_code: str) -> BookingDialogue | None:
    return session.scalars(
        sa.select(BookingDialogue).where(
            BookingDialogue.phone == phone,
            BookingDialogue.short_code == short_code,
            BookingDialogue.state == DialogueState.OPEN,
        )
    ).first()


def venues_on(session: Session, short_code: str) -> list[Venue]:
    return list(
        session.scalars(sa.select(Venue).where(Venue.short_code == short_code).order_by(Venue.id))
    )
