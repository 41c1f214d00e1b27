"""Standalone short links in the UI: list, create, stats page, disable/enable, permissions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.db import db, utcnow
from interactive.shortlinks import jobs
from interactive.shortlinks.models import Link
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import csrf_token, login, post_form

SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def test_marketers_create_a_link_and_see_its_clicks(
    client: Any, app: Flask, make_user: UserFactory
) -> None:
    marketer = make_user(Role.MARKETER)
    login(client, marketer.email)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/links/"' in page  # in the navigation

    response = post_form(
        client,
        "/links/",
        target_url="https://shop.example/menu?x=1",
        name="Menu <b>QR</b>",
        expires_at="",
        fallback_url="",
        utm_source="qr",
        utm_medium="",
        utm_campaign="",
    )
    assert response.status_code == 302
    show_url = response.headers["Location"]
    page = client.get(show_url).get_data(as_text=True)
    assert "Short link created." in page
    assert "Menu &lt;b&gt;QR&lt;/b&gt;" in page
    with app.app_context():
        link = db.session().scalars(sa.select(Link)).one()
        assert link.utm == {"utm_source": "qr"}
        assert link.created_by == marketer.id
    short = page.split('<code id="short-url">', 1)[1].split("</code>", 1)[0]
    assert short.startswith("http://localhost/") and len(short) == len("http://localhost/") + 10
    code = short.rsplit("/", 1)[1]
    assert "No clicks yet." in page

    anonymous = app.test_client()
    for agent in (SAFARI, SAFARI, "WhatsApp/2.23.20.0 A"):
        assert anonymous.get(f"/{code}", headers={"User-Agent": agent}).status_code == 302
    with app.app_context():
        assert jobs.drain_clicks() == 3

    page = client.get(show_url).get_data(as_text=True)
    assert "2 by people of 3 in all" in page
    assert "66.7 % by people" in page
    assert 'id="link-chart-data"' in page
    assert "/static/vendor/plotly.min.js" in page
    listing = client.get("/links/").get_data(as_text=True)
    assert short in listing
    assert "Menu &lt;b&gt;QR&lt;/b&gt;" in listing


def test_bad_input_is_shown_on_the_form(client: Any, ctx: Session, make_user: UserFactory) -> None:
    login(client, make_user(Role.MARKETER).email)
    response = post_form(client, "/links/", target_url="javascript:alert(1)", name="x")
    assert response.status_code == 400
    assert "Only web addresses (http:// or https://) can be linked." in response.get_data(
        as_text=True
    )
    response = post_form(
        client,
        "/links/",
        target_url="https://shop.example",
        expires_at=(utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
    )
    assert response.status_code == 400
    assert "The expiry time must be in the future." in response.get_data(as_text=True)
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Link)) == 0


def test_expiry_is_read_in_the_users_time_zone(
    client: Any, ctx: Session, make_user: UserFactory
) -> None:
    login(client, make_user(Role.MARKETER).email)  # Europe/Istanbul, UTC+3
    post_form(
        client,
        "/links/",
        target_url="https://shop.example",
        expires_at="2099-06-01T12:00",
        fallback_url="https://shop.example/over",
    )
    link = ctx.scalars(sa.select(Link)).one()
    assert link.expires_at is not None
    assert link.expires_at.isoformat() == "2099-06-01T09:00:00+00:00"
    assert link.fallback_url == "https://shop.example/over"


def test_disable_and_enable(client: Any, make_user: UserFactory, make_link: Any) -> None:
    link, code = make_link()
    login(client, make_user(Role.MARKETER).email)
    page = f"/links/{link.id}"
    post_form(client, page, f"/links/{link.id}/disable")
    assert client.get(f"/{code}").status_code == 410
    assert "Disabled" in client.get(page).get_data(as_text=True)
    post_form(client, page, f"/links/{link.id}/enable")
    assert client.get(f"/{code}").status_code == 302


def test_desk_users_may_not_manage_links(
    client: Any, make_user: UserFactory, make_link: Any
) -> None:
    link, _code = make_link()
    login(client, make_user(Role.DESK).email)
    assert client.get("/links/").status_code == 403
    assert client.get(f"/links/{link.id}").status_code == 403
    token = csrf_token(client.get("/account").get_data(as_text=True))
    response = client.post(f"/links/{link.id}/disable", data={"csrf_token": token})
    assert response.status_code == 403


def test_unknown_link_page_is_404(client: Any, make_user: UserFactory) -> None:
    login(client, make_user(Role.MARKETER).email)
    assert client.get("/links/999999").status_code == 404
    assert client.get(f"/links/{2**70}").status_code == 404
