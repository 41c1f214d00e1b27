"""The reservation desk in a real browser (Debian's chromium via Playwright), the whole path
for real: a booking request typed on the handset page goes through the SMSC simulator, the
gateway and the router, appears on the open board without reloading, the desk confirms
it, and the confirmation SMS reaches the handset."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from interactive.bookings.models import Booking, BookingState
from interactive.db import db
from interactive.keywords.consumer import Router
from interactive.smpp.handset import inject_typed_replies
from interactive.smpp.simulator import SmscSimulator
from interactive.web.models import Role
from tests.bookings.conftest import committed_venue
from tests.conftest import UserFactory
from tests.helpers import shot, sign_in

CUSTOMER = "905321234567"
WAIT_MS = 20_000


def test_the_desk_confirms_a_request_sent_from_the_handset(
    app: Flask,
    page: Page,
    browser: Browser,
    live_server: str,
    live_user: UserFactory,
    run_gateway: Callable[..., SmscSimulator],
    run_router: Callable[[], Router],
) -> None:
    venue_id = committed_venue(app, auto_confirm=False)  # the desk approves
    desk = live_user(Role.DESK)
    customer = live_user(Role.MARKETER)  # the handset page is a development tool
    simulator = run_gateway()
    typed = threading.Event()
    inject_typed_replies(app, simulator, typed)
    run_router()
    sign_in(page, live_server, desk.email)
    page.goto(f"{live_server}/bookings/")
    expect(page).to_have_url(f"{live_server}/bookings/{venue_id}/")
    expect(page.get_by_text("No requests waiting.")).to_be_visible()

    phone = browser.new_context()
    handset = phone.new_page()
    sign_in(handset, live_server, customer.email)
    handset.goto(f"{live_server}/handset?number={CUSTOMER}")
    request = "REZ yarın 20:00 4 kişi Ahmet adına cam kenarı"
    handset.get_by_label("To short code").fill("4664")
    handset.get_by_placeholder("Reply, e.g. RET or REZ yarın 20:00 4 kişi").fill(request)
    handset.get_by_role("button", name="Send reply").click()

    card = page.locator("article.request")
    expect(card).to_have_count(1, timeout=WAIT_MS)  # no reload: the board polls
    expect(card).to_contain_text(request)
    expect(card).to_contain_text("4 people")
    expect(page.locator("#new-request-cue")).to_be_visible()
    expect(page.locator("#pending-count")).to_have_text("1")
    shot(page, "bookings-board")
    # The customer heard that the request is being looked at.
    handset.goto(f"{live_server}/handset?number={CUSTOMER}")
    expect(handset.get_by_text("talebinizi aldık", exact=False)).to_be_visible(timeout=WAIT_MS)

    card.get_by_role("link", name="Open").click()
    expect(page.get_by_label("People")).to_have_value("4")
    expect(page.get_by_label("Name")).to_have_value("Ahmet")
    shot(page, "booking")
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_text("Confirmed; the customer is told by SMS.")).to_be_visible()
    expect(page.locator("#booking-state")).to_have_text("Confirmed")

    handset.goto(f"{live_server}/handset?number={CUSTOMER}")
    expect(handset.get_by_text("onaylandı", exact=False)).to_be_visible(timeout=WAIT_MS)
    with app.app_context():
        booking = db.session().scalars(sa.select(Booking)).one()
        assert booking.state == BookingState.CONFIRMED and booking.decided_by == desk.id
        assert booking.note == "cam kenarı"
        db.session.remove()
    typed.set()
    phone.close()
