"""The survey pages in a real browser (Debian's chromium via Playwright): a marketer
builds a survey with the question editor, plays it in the chat preview, takes it live,
and a customer's answers typed on the handset page, through the SMSC simulator, the gateway
and the router, show up in the results chart without reloading."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from interactive.keywords.consumer import Router
from interactive.smpp.handset import inject_typed_replies
from interactive.smpp.simulator import SmscSimulator
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import shot, sign_in

CUSTOMER = "905321234567"
WAIT_MS = 20_000


def _build(page: Page) -> None:
    page.get_by_label("Name", exact=True).fill("Pizza poll")
    page.get_by_label("Short code").fill("4664")
    page.get_by_label("Start keyword").fill("ANKET")
    page.get_by_label("Introduction").fill("Merhaba!")
    page.get_by_label("Thank-you text").fill("Teşekkürler!")
    editor = page.get_by_test_id("question-editor")
    page.get_by_role("button", name="Add a question").click()
    first = editor.get_by_test_id("question").nth(0)
    first.locator('[data-field="key"]').fill("pizza")
    first.locator('[data-field="text"]').fill("Hangisini seçersiniz?")
    first.get_by_label("Option 1").fill("Pizza")
    first.get_by_label("Option 2").fill("Pide")
    page.get_by_role("button", name="Add a question").click()
    second = editor.get_by_test_id("question").nth(1)
    second.locator('[data-field="type"]').select_option("rating")
    second.locator('[data-field="key"]').fill("score")
    second.locator('[data-field="text"]').fill("1-5 arası puanınız?")


def test_build_preview_go_live_and_watch_the_answers_arrive(
    app: Flask,
    page: Page,
    browser: Browser,
    live_server: str,
    live_user: UserFactory,
    run_gateway: Callable[..., SmscSimulator],
    run_router: Callable[[], Router],
) -> None:
    marketer = live_user(Role.MARKETER)
    simulator = run_gateway()
    typed = threading.Event()
    inject_typed_replies(app, simulator, typed)  # the handset page's replies become MOs
    run_router()
    phone = browser.new_context()
    handset = phone.new_page()
    sign_in(handset, live_server, marketer.email)
    handset.goto(f"{live_server}/handset?number={CUSTOMER}")

    def reply(text: str) -> None:
        handset.get_by_label("To short code").fill("4664")
        handset.get_by_placeholder("Reply, e.g. RET or REZ yarın 20:00 4 kişi").fill(text)
        handset.get_by_role("button", name="Send reply").click()
        expect(handset.get_by_text("Reply sent from the handset.")).to_be_visible()

    sign_in(page, live_server, marketer.email)
    page.get_by_role("link", name="Surveys").click()
    page.get_by_role("link", name="New survey").click()
    _build(page)

    chat = page.get_by_test_id("preview-chat")
    expect(chat).to_contain_text("Hangisini seçersiniz?")
    page.get_by_placeholder("Reply as the customer").fill("pide")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(chat.locator("li.received")).to_have_text(["pide"])
    expect(chat.locator("li.sent").last).to_contain_text("1-5 arası puanınız?")
    shot(page, "survey-builder")

    page.get_by_role("button", name="Save and go live").click()
    expect(page.get_by_text("The survey is live.")).to_be_visible()
    funnel = page.get_by_test_id("funnel")
    expect(funnel.locator('[data-field="started"]')).to_have_text("0")

    reply("anket")
    expect(funnel.locator('[data-field="started"]')).to_have_text("1", timeout=WAIT_MS)
    reply("pide")
    pizza = page.get_by_test_id("question-pizza")
    expect(pizza.locator('[data-field="answered"]')).to_have_text("1", timeout=WAIT_MS)
    # The chart was redrawn by the poll: the bar of "Pide" holds the answer.
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-question=pizza] [data-chart]');"
        " return c && c.data && c.data[0].x[1] === 1; }",
        timeout=WAIT_MS,
    )
    reply("5")
    expect(funnel.locator('[data-field="completed"]')).to_have_text("1", timeout=WAIT_MS)
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-question=score] [data-chart]');"
        " return c && c.data && c.data[0].y[4] === 1; }",
        timeout=WAIT_MS,
    )
    shot(page, "survey-results")

    page.get_by_role("link", name="Respondents").click()
    page.get_by_role("link", name="Transcript").click()
    transcript = page.get_by_test_id("transcript")
    expect(transcript).to_contain_text("pide")
    expect(transcript).to_contain_text("1-5 arası puanınız?")
    typed.set()
    phone.close()
