"""A venue on short code 4664 with its REZ rule, and a clock fixed on a Thursday."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

import interactive.bookings.dialogue  # noqa: F401  (registers the handler and conversation)
from interactive.bookings.models import Booking, Venue
from interactive.db import db
from interactive.keywords.models import KeywordRule
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.outbound.models import Message

#: Thursday 2026-12-10, 14:00 in Istanbul.
NOW = datetime(2026, 12, 10, 11, 0, tzinfo=UTC)
PHONE = "+905321234567"


@pytest.fixture
def venue(ctx: Session) -> Venue:
    code = ensure_short_codes(ctx, [("4664", "sim")])["4664"]
    row = Venue(
        name="Lokanta",
        short_code="4664",
        hours={str(day): [["12:00", "23:00"]] for day in range(7)},
        closed_dates=["2026-12-31"],
        slot_minutes=30,
        capacity=10,
        max_party=8,
        lead_minutes=60,
        ahead_days=60,
        auto_confirm=True,
        reminder_hours=3,
    )
    ctx.add(row)
    ctx.flush()
    ctx.add(
        KeywordRule(
            short_code_id=code.id,
            keyword="REZ",
            aliases=["REZERVASYON", "BOOK", "BOOKING"],
            handler="booking",
            settings={"venue_id": row.id},
        )
    )
    ctx.flush()
    return row


def texts_to(ctx: Session, phone: str = PHONE) -> list[str]:
    return list(
        ctx.scalars(
            sa.select(Message.body).where(Message.destination == phone).order_by(Message.id)
        )
    )


def bookings(ctx: Session) -> list[Booking]:
    return list(ctx.scalars(sa.select(Booking).order_by(Booking.id)))


def committed_venue(app: Flask, **overrides: object) -> int:
    """A venue open all day (so "yarın 20:00" is bookable whenever a test runs) with its
    REZ rule, committed for the gateway and router threads; returns its id."""
    with app.app_context():
        session = db.session()
        code = ensure_short_codes(session, [("4664", "sim")])["4664"]
        values: dict[str, object] = {
            "name": "Lokanta",
            "short_code": "4664",
            "hours": {str(d): [["00:00", "23:59"]] for d in range(7)},
            "slot_minutes": 30,
            "capacity": 20,
            "max_party": 8,
            "lead_minutes": 0,
            "ahead_days": 30,
            **overrides,
        }
        venue = Venue(**values)
        session.add(venue)
        session.flush()
        session.add(
            KeywordRule(
                short_code_id=code.id,
                keyword="REZ",
                handler="booking",
                settings={"venue_id": venue.id},
            )
        )
        session.commit()
        venue_id = venue.id
        db.session.remove()
        return venue_id
