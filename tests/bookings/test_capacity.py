"""Availability rules and the last table under two simultaneous requests: real commits in
two threads, each with its own connection; exactly one wins, the other gets alternatives."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.bookings import service
from interactive.bookings.models import Booking, BookingState, Venue
from interactive.bookings.service import Refusal, Wish
from interactive.db import db
from tests.bookings.conftest import NOW

EVENING = datetime(2026, 12, 11, 17, 0, tzinfo=UTC)  # Friday 20:00 in Istanbul


def _venue(**overrides: object) -> Venue:
    values: dict[str, object] = {
        "name": "Köşe",
        "short_code": "4664",
        "hours": {str(d): [["12:00", "15:00"], ["18:00", "01:00"]] for d in range(7)},
        "closed_dates": ["2026-12-31"],
        "slot_minutes": 30,
        "capacity": 6,
        "max_party": 6,
        "lead_minutes": 60,
        "ahead_days": 30,
    }
    values.update(overrides)
    return Venue(**values)


def test_slots_follow_the_opening_hours_past_midnight(ctx: Session) -> None:
    venue = _venue()
    ctx.add(venue)
    ctx.flush()
    day = service.slots(venue, date(2026, 12, 11))
    assert [f"{s:%H:%M}" for s in day[:2]] == ["12:00", "12:30"]
    assert f"{day[-1]:%d %H:%M}" == "12 00:30"  # the evening runs past midnight
    assert service.slots(venue, date(2026, 12, 31)) == []


def test_rules_refuse_with_a_reason(ctx: Session) -> None:
    venue = _venue()
    ctx.add(venue)
    ctx.flush()

    def refusal(at: datetime, party: int = 2) -> Refusal | None:
        return service.problem(venue, Wish(at, party), NOW)

    assert refusal(EVENING) is None
    assert refusal(EVENING, 7) == Refusal.TOO_MANY
    assert refusal(datetime(2026, 12, 10, 11, 30, tzinfo=UTC)) == Refusal.TOO_SOON
    assert refusal(datetime(2026, 12, 10, 10, 0, tzinfo=UTC)) == Refusal.PAST
    assert refusal(datetime(2027, 2, 1, 17, 0, tzinfo=UTC)) == Refusal.TOO_FAR
    assert refusal(datetime(2026, 12, 11, 13, 0, tzinfo=UTC)) == Refusal.OUTSIDE_HOURS  # 16:00
    assert refusal(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == Refusal.CLOSED


def test_covers_count_pending_and_confirmed_only(ctx: Session) -> None:
    venue = _venue()
    ctx.add(venue)
    ctx.flush()
    for party, state in ((2, BookingState.PENDING), (3, BookingState.CONFIRMED)):
        ctx.add(
            Booking(
                venue_id=venue.id,
                phone="+905320000000",
                party=party,
                starts_at=EVENING,
                state=state,
            )
        )
    ctx.add(
        Booking(
            venue_id=venue.id,
            phone="+905320000001",
            party=4,
            starts_at=EVENING,
            state=BookingState.CANCELLED,
        )
    )
    ctx.flush()
    held = dict(service.day_covers(ctx, venue, date(2026, 12, 11)))
    assert held[EVENING.astimezone(service.zone(venue))] == 5
    assert not service.free(ctx, venue, EVENING, 2)
    assert service.free(ctx, venue, EVENING, 1)


def test_two_requests_for_the_last_table_one_wins(app: Flask, live_db: None) -> None:
    with app.app_context(), db.transaction() as session:
        venue = _venue(capacity=4)
        session.add(venue)
        session.flush()
        venue_id = venue.id
    barrier = threading.Barrier(2)
    outcomes: dict[str, service.Outcome] = {}
    errors: list[BaseException] = []

    def ask(phone: str) -> None:
        try:
            with app.app_context(), db.transaction() as session:
                barrier.wait(timeout=10)
                outcome = service.request(session, venue_id, Wish(EVENING, 4), phone=phone, now=NOW)
                outcomes[phone] = (
                    service.Outcome(None, outcome.refusal, outcome.alternatives)
                    if outcome.booking is None
                    else outcome
                )
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(p,)) for p in ("+905321111111", "+905322222222")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    won = [p for p, o in outcomes.items() if o.refusal is None]
    lost = [o for o in outcomes.values() if o.refusal is not None]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].refusal == Refusal.FULL and len(lost[0].alternatives) == 3
    with app.app_context():
        rows = db.session().scalars(sa.select(Booking)).all()
        assert [(b.phone, b.party) for b in rows] == [(won[0], 4)]
