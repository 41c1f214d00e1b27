"""The UI in a real browser (Debian's chromium driven by Playwright, headless)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from interactive.web.models import Role
from tests.conftest import PASSWORD, UserFactory
from tests.helpers import shot, sign_in


def test_sign_in_see_the_dashboard_sign_out(
    page: Page, live_server: str, live_user: UserFactory
) -> None:
    admin = live_user(Role.ADMIN, email="admin@example.com")
    page.goto(live_server)
    expect(page).to_have_url(f"{live_server}/login")
    shot(page, "login")
    sign_in(page, live_server, admin.email)
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("schema up to date")).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_be_visible()
    shot(page, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{live_server}/dashboard")
    expect(page).to_have_url(f"{live_server}/login?next=%2Fdashboard")


def test_desk_user_gets_403_on_a_marketer_page(
    page: Page, live_server: str, live_user: UserFactory
) -> None:
    desk = live_user(Role.DESK)
    sign_in(page, live_server, desk.email)
    expect(page).to_have_url(f"{live_server}/inbox/")
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    response = page.goto(f"{live_server}/dashboard")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_wrong_password_and_throttle_messages(
    page: Page, live_server: str, live_user: UserFactory
) -> None:
    user = live_user(Role.MARKETER)
    sign_in(page, live_server, user.email, "wrong password")
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    for _ in range(3):
        sign_in(page, live_server, user.email, "wrong password")
    expect(
        page.get_by_text("Too many failed sign-in attempts. Try again in 15 minutes.")
    ).to_be_visible()


def test_turkish_user_and_phone_layout(
    browser: Browser, live_server: str, live_user: UserFactory, app: Any
) -> None:
    user = live_user(Role.ADMIN, locale="tr")
    context = browser.new_context(
        locale="tr-TR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        expect(page.get_by_role("heading", name="Giriş yap")).to_be_visible()
        page.get_by_label("E-posta").fill(user.email)
        page.get_by_label("Parola").fill(PASSWORD)
        page.get_by_role("button", name="Giriş yap").click()
        expect(page.get_by_role("heading", name="Gösterge paneli")).to_be_visible()
        # On a phone the sections sit behind the menu button.
        users_link = page.get_by_role("link", name="Kullanıcılar")
        expect(users_link).to_be_hidden()
        page.locator("label.nav-toggle-label").click()
        expect(users_link).to_be_visible()
        shot(page, "dashboard-phone-tr")
        # Nothing is wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        context.close()


def test_admin_creates_an_api_key_in_the_ui(
    page: Page, live_server: str, live_user: UserFactory, app: Flask
) -> None:
    admin = live_user(Role.ADMIN)
    sign_in(page, live_server, admin.email)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("web shop")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create key").click()
    token = page.get_by_test_id("new-token").inner_text()
    assert token.startswith("ik_")
    shot(page, "api-keys")
    answer = page.request.get(
        f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status == 200
    assert answer.json()["role"] == "viewer"
