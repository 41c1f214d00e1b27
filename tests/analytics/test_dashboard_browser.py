"""The campaign dashboard in a real browser (Debian's chromium via Playwright): the
plotly figures are drawn from the page's JSON with the data set's numbers, and a
sending campaign's page follows new clicks without reloading."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from interactive.analytics import dashboards, rollups
from interactive.db import db
from interactive.outbound.models import CampaignState
from interactive.shortlinks.models import Click, ClickKind
from interactive.web.models import Role
from tests.analytics.dataset import T0, Built, build, price_route
from tests.conftest import UserFactory
from tests.helpers import shot, sign_in

WAIT_MS = 15_000


def _seed(app: Flask, state: CampaignState = CampaignState.COMPLETED) -> Built:
    """The data set committed for the server's thread, its rollups refreshed."""
    with app.app_context():
        session = db.session()
        built = build(session, state=state)
        session.commit()
        rollups.refresh(session, app.extensions["interactive.redis"], now=T0 + timedelta(hours=6))
        return built


def _figure_x(page: Page, name: str) -> list[object]:
    result: list[object] = page.evaluate(
        'name => document.querySelector(`[data-chart="${name}"]`).data[0].x', name
    )
    return result


def test_the_campaign_dashboard_draws_its_figures(
    app: Flask,
    page: Page,
    live_server: str,
    live_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    price_route(app, monkeypatch)
    built = _seed(app)
    marketer = live_user(Role.MARKETER)
    sign_in(page, live_server, marketer.email)
    page.goto(f"{live_server}/campaigns/{built.campaign.id}")
    page.get_by_role("link", name="Analytics", exact=True).last.click()
    expect(page).to_have_url(f"{live_server}/analytics/campaigns/{built.campaign.id}")
    expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=WAIT_MS)
    assert _figure_x(page, "funnel") == [12, 8, 7, 5, 2, 2]
    assert page.evaluate("document.querySelector('[data-chart=\"clicks\"]').data[0].y") == [
        3,
        1,
        1,
        1,
    ]
    expect(page.locator('[data-number="ctr"]')).to_have_text("40.0%")
    expect(page.locator('[data-number="revenue"]')).to_have_text("TRY180.50")
    expect(page.locator("#table-lift")).to_contain_text("Not enough data yet")
    shot(page, "analytics-campaign")

    page.get_by_role("link", name="← Analytics").click()
    expect(page).to_have_url(f"{live_server}/analytics/")
    expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=WAIT_MS)
    assert page.evaluate("document.querySelector('[data-chart=\"top_revenue\"]').data[0].y") == [
        "Bahar"
    ]
    page.get_by_label("From").fill("2026-11-03")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator('[data-number="sent"]')).to_have_text("0")
    page.goto(f"{live_server}/analytics/?start=nonsense")
    expect(page.locator("#filter-errors")).to_contain_text("“nonsense” is not a date")
    page.goto(f"{live_server}/analytics/")
    shot(page, "analytics-overview")

    # A number leads to the rows behind it, and on to what a row names.
    page.locator('[data-number="opt_outs"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Opt-outs")
    expect(page.locator("#table-rows tbody tr")).to_have_count(1)
    expect(page.locator("#table-rows")).to_contain_text("RET")
    shot(page, "analytics-rows")
    page.get_by_role("link", name="Bahar").click()
    expect(page).to_have_url(f"{live_server}/analytics/campaigns/{built.campaign.id}")


def test_a_sending_campaigns_dashboard_follows_new_clicks(
    app: Flask,
    page: Page,
    live_server: str,
    live_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    price_route(app, monkeypatch)
    monkeypatch.setattr(dashboards, "POLL_S", 1)
    built = _seed(app, CampaignState.SENDING)
    marketer = live_user(Role.MARKETER)
    sign_in(page, live_server, marketer.email)
    page.goto(f"{live_server}/analytics/campaigns/{built.campaign.id}")
    expect(page.locator('[data-number="clickers"]')).to_have_text("2")
    with app.app_context():
        session = db.session()
        link = built.links["c3"]
        session.add(
            Click(
                link_id=link.id,
                token="late-click",
                clicked_at=T0 + timedelta(hours=5),
                method="GET",
                kind=ClickKind.HUMAN,
                campaign_id=built.campaign.id,
                variant_id=link.variant_id,
                contact_id=link.contact_id,
            )
        )
        session.commit()
        rollups.refresh(session, app.extensions["interactive.redis"], now=T0 + timedelta(hours=6))
    # No reload: the page polls its JSON and redraws.
    expect(page.locator('[data-number="clickers"]')).to_have_text("3", timeout=WAIT_MS)
    expect(page.locator('[data-number="ctr"]')).to_have_text("60.0%")
    expect(page.locator("#table-funnel")).to_contain_text("60.0%")
    page.wait_for_function(
        "document.querySelector('[data-chart=\"funnel\"]').data[0].x[4] === 3", timeout=WAIT_MS
    )
