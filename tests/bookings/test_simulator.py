"""Booking dialogues end to end for real: handsets text the SMSC simulator over TCP, the
gateway stores, the router routes, and each SMS answer reaches the right handset. The
paths: a complete request, a missing time, an unsure time read back, a full slot answered
with free times, a change and a cancellation by SMS."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask

from interactive.bookings.models import Booking, BookingState
from interactive.db import db
from interactive.keywords.consumer import Router
from interactive.smpp.simulator import SmscSimulator
from tests.bookings.conftest import committed_venue
from tests.gateway_harness import wait_until

CODE = "4664"


def _chat(simulator: SmscSimulator) -> Callable[[str, str, str], str]:
    """Send ``text`` from ``handset`` and wait for the answer that contains ``expected``."""

    def received(handset: str) -> str:
        parts = [p for p in simulator.submitted() if p.destination_addr.lstrip("+") == handset]
        return "".join(
            p.payload.decode("utf-16-be" if p.data_coding == 8 else "latin-1") for p in parts
        )

    def say(handset: str, text: str, expected: str) -> str:
        before = len(received(handset))
        simulator.inject_mo(handset, CODE, text)
        wait_until(lambda: expected in received(handset)[before:], timeout=20)
        return received(handset)[before:]

    return say


def _bookings(app: Flask) -> dict[str, tuple[int, BookingState]]:
    with app.app_context():
        rows = list(db.session().scalars(sa.select(Booking).order_by(Booking.id)))
        found = {b.phone.lstrip("+"): (b.party, b.state) for b in rows}
        db.session.remove()
    return found


def test_booking_dialogues_through_the_simulator(
    app: Flask,
    run_gateway: Callable[..., SmscSimulator],
    run_router: Callable[[], Router],
) -> None:
    committed_venue(app, capacity=6, max_party=6)
    simulator = run_gateway()
    run_router()
    say = _chat(simulator)
    complete, missing, unsure, late = (f"90532300000{n}" for n in range(4))

    assert "20:00" in say(complete, "REZ yarın 20:00 4 kişi Ahmet adına", "onaylandı")
    assert "Saat kaçta" in say(missing, "rez yarın 2 kişi", "Saat kaçta")
    say(missing, "19:30", "onaylandı")
    assert "EVET / HAYIR" in say(unsure, "REZ yarın 8 1 kişi", "Onaylıyor musunuz")
    assert "20:00" in say(unsure, "Evet", "onaylandı")
    # 20:00 now holds 5 of 6 covers: a party of 4 hears the nearest free times.
    offer = say(late, "REZ yarın 20:00 4 kişi", "Boş saatler")
    assert "20:30" in offer
    say(late, "20:30", "onaylandı")
    assert "22:00" in say(complete, "saati 22 yap", "artık")
    say(complete, "IPTAL REZ", "iptal edildi")

    bookings = _bookings(app)
    assert bookings[missing] == (2, BookingState.CONFIRMED)
    assert bookings[late] == (4, BookingState.CONFIRMED)
    assert bookings[complete] == (4, BookingState.CANCELLED)
    assert len(bookings) == 4
