"""The inbox in a real browser (Debian's chromium via Playwright): hostile texts stay text,
and the whole path for real: a customer's SMS from the SMSC simulator through the gateway
and the router appears in the open inbox without reloading, the desk answers from the
reply box, and the simulator receives the answer."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from interactive.db import db
from interactive.keywords import inbox
from interactive.keywords.consumer import Router
from interactive.keywords.models import InboundMessage, Thread
from interactive.smpp.handset import inject_typed_replies
from interactive.smpp.simulator import SmscSimulator
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import shot, sign_in
from tests.keywords.routing import route_text

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__pwned = true; alert('xss')</script>"
CUSTOMER = "905321234567"
WAIT_MS = 20_000


def routed(app: Flask, text: str, source: str = CUSTOMER) -> int:
    with app.app_context():
        session = db.session()
        result = route_text(session, text, source=source)
        session.commit()
        message = session.get(InboundMessage, result.message_id)
        assert message is not None and message.thread_id is not None
        thread_id = message.thread_id
        db.session.remove()
        return thread_id


def watch_for_scripts(page: Page) -> list[str]:
    """Dialogs opened by the page (an injected alert would open one)."""
    dialogs: list[str] = []

    def seen(dialog: object) -> None:
        dialogs.append(str(getattr(dialog, "message", "")))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", seen)
    return dialogs


def test_hostile_texts_show_as_text_and_run_nothing(
    app: Flask, browser: Browser, page: Page, live_server: str, live_user: UserFactory
) -> None:
    desk = live_user(Role.DESK)
    thread_id = routed(app, IMG)
    routed(app, SCRIPT, source="905331112233")
    dialogs = watch_for_scripts(page)
    sign_in(page, live_server, desk.email)
    page.goto(f"{live_server}/inbox/")
    threads = page.get_by_test_id("threads")
    expect(threads.get_by_text(IMG)).to_be_visible()
    expect(threads.get_by_text(SCRIPT)).to_be_visible()
    expect(threads.locator("img")).to_have_count(0)
    expect(threads.locator("script")).to_have_count(0)
    page.goto(f"{live_server}/inbox/threads/{thread_id}")
    chat = page.get_by_test_id("conversation")
    expect(chat.get_by_text(IMG, exact=True)).to_be_visible()
    # A hostile message arriving while the page is open is built by the script: still text.
    routed(app, SCRIPT)
    expect(chat.get_by_text(SCRIPT, exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(chat.locator("img, script")).to_have_count(0)
    # The list's own refresh (polling) renders the same texts as text too.
    page.goto(f"{live_server}/inbox/")
    routed(app, IMG + " again", source="905441234567")
    expect(threads.get_by_text(IMG + " again")).to_be_visible(timeout=WAIT_MS)
    expect(threads.locator("img, script")).to_have_count(0)
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    # On a phone the conversation and the reply box stack and fit the screen.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        small = phone.new_page()
        sign_in(small, live_server, desk.email)
        small.goto(f"{live_server}/inbox/threads/{thread_id}")
        expect(small.get_by_role("button", name="Send reply")).to_be_visible()
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        shot(small, "inbox-thread-phone")
    finally:
        phone.close()


def _texts(simulator: SmscSimulator) -> list[tuple[str, str, str]]:
    return [
        (
            s.source_addr,
            s.destination_addr.lstrip("+"),
            s.payload.decode("utf-16-be" if s.data_coding == 8 else "ascii"),
        )
        for s in simulator.submitted()
    ]


def test_a_customer_sms_appears_live_and_the_desk_reply_reaches_the_handset(
    app: Flask,
    page: Page,
    browser: Browser,
    live_server: str,
    live_user: UserFactory,
    run_gateway: Callable[..., SmscSimulator],
    run_router: Callable[[], Router],
) -> None:
    desk = live_user(Role.DESK)
    customer = live_user(Role.MARKETER)  # the handset page is a development tool
    answer = "Evet, 20:00 için masanız hazır."
    with app.app_context():
        inbox.create_quick_reply(db.session(), "Masa hazır", answer)
        db.session().commit()
        db.session.remove()
    simulator = run_gateway()
    typed = threading.Event()
    inject_typed_replies(app, simulator, typed)  # as `interactive simulator` does
    run_router()
    phone = browser.new_context()
    handset = phone.new_page()
    sign_in(handset, live_server, customer.email)
    handset.goto(f"{live_server}/handset?number={CUSTOMER}")
    sign_in(page, live_server, desk.email)
    page.goto(f"{live_server}/inbox/")
    threads = page.get_by_test_id("threads")
    expect(threads.get_by_text("No conversations here.")).to_be_visible()

    question = "Merhaba, bu akşam 4 kişilik masa var mı?"
    handset.get_by_label("To short code").fill("4664")
    handset.get_by_placeholder("Reply, e.g. RET or REZ yarın 20:00 4 kişi").fill(question)
    handset.get_by_role("button", name="Send reply").click()
    row = threads.get_by_role("link", name=question)
    expect(row).to_be_visible(timeout=WAIT_MS)  # no reload: the list polls
    expect(row).to_contain_text("+905321234567")
    expect(row).to_contain_text("No match")
    expect(page.locator("[data-inbox-link] [data-inbox-unread]")).to_have_text("1")
    shot(page, "inbox")

    row.click()
    chat = page.get_by_test_id("conversation")
    expect(chat.get_by_text(question)).to_be_visible()
    expect(chat.get_by_text("no keyword matched")).to_be_visible()
    page.get_by_test_id("quick-reply").select_option(label="Masa hazır")
    expect(page.get_by_label("Reply", exact=True)).to_have_value(answer)
    counter = page.get_by_test_id("reply-counter")
    expect(counter).to_have_text("UCS-2 (Unicode) · 1 part · 31/70")
    expect(page.locator("#reply-note")).to_contain_text("ı")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Reply queued (Transactional): 1 part.")).to_be_visible()

    simulator.wait_for_submits(1, timeout=15)
    assert _texts(simulator) == [("4664", CUSTOMER, answer)]
    handset.goto(f"{live_server}/handset?number={CUSTOMER}")
    expect(handset.get_by_text(answer)).to_be_visible()  # the customer's phone has it
    # The receipt comes back through the gateway; the page shows it without reloading.
    sent = chat.locator("li.bubble.sent").filter(has_text=answer)
    expect(sent.locator('[data-field="state"]')).to_have_text("delivered", timeout=WAIT_MS)

    thanks = "Süper, teşekkürler!"
    simulator.inject_mo(CUSTOMER, "4664", thanks)
    expect(chat.get_by_text(thanks)).to_be_visible(timeout=WAIT_MS)
    shot(page, "inbox-thread")
    with app.app_context():
        thread = db.session().scalar(sa.select(Thread))
        assert thread is not None and thread.last_text == thanks
        db.session.remove()
    typed.set()
    phone.close()
