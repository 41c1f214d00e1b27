"""A real browser: a marketer creates a short link in the UI, then chromium follows it and
lands on the target page with the UTM parameters and the click token in its URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page, expect

from interactive.db import db
from interactive.shortlinks import jobs
from interactive.shortlinks.models import Click, ClickKind
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import shot, sign_in


class Landing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Landing</title><h1>Spring menu</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def landing() -> Iterator[str]:
    """A shop's page on a server of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Landing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_a_short_link_made_in_the_ui_leads_the_browser_to_the_target(
    page: Page, live_server: str, live_user: UserFactory, landing: str, app: Flask
) -> None:
    marketer = live_user(Role.MARKETER)
    sign_in(page, live_server, marketer.email)
    page.get_by_role("link", name="Links").click()
    page.get_by_label("Link to").fill(f"{landing}/menu?table=4#drinks")
    page.get_by_label("Name").fill("Table QR")
    page.get_by_text("Expiry and UTM parameters").click()
    page.get_by_label("utm_source").fill("qr")
    page.get_by_label("utm_campaign").fill("spring")
    page.get_by_role("button", name="Create short link").click()
    expect(page.get_by_role("heading", name="Table QR")).to_be_visible()
    short_url = page.locator("#short-url").inner_text()
    assert short_url.startswith(f"{live_server}/")
    shot(page, "short-link")

    page.goto(short_url)
    expect(page.get_by_role("heading", name="Spring menu")).to_be_visible()
    landed = urlsplit(page.url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{landing}/menu"
    assert landed.fragment == "drinks"
    query = dict(parse_qsl(landed.query))
    assert query["table"] == "4"
    assert (query["utm_source"], query["utm_campaign"]) == ("qr", "spring")
    assert len(query["ic"]) == 16

    with app.app_context():
        assert jobs.drain_clicks() == 1
        click = db.session().scalars(sa.select(Click)).one()
        assert click.token == query["ic"]
        # Headless chromium says so in its user agent.
        assert click.kind == ClickKind.SCANNER

    page.goto(f"{live_server}/links/")
    row = page.get_by_role("row").filter(has_text="Table QR")
    # No person yet (the headless browser is a scanner), one click in all.
    expect(row.get_by_role("cell").nth(3)).to_have_text("0")
    expect(row.get_by_role("cell").nth(4)).to_have_text("1")

    # The stats page draws its chart with the local plotly (no inline script needed).
    row.get_by_role("link", name="Table QR").click()
    expect(page.locator("#human-clicks")).to_contain_text("0 by people of 1 in all")
    expect(page.locator("#link-chart .main-svg").first).to_be_visible()
    shot(page, "short-link-stats")
