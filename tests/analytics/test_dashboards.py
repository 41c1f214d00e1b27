"""The analytics dashboards as a marketer uses them: the pages on the hand-built data set
(its known figures, formatted), who may open them, links to the rows behind the numbers,
the CSV and XLSX exports (hostile names neutralised), the polled JSON, and bad filters
that are reported instead of failing."""

from __future__ import annotations

import csv
import functools
import html
import io
import json
import re
import zipfile
from typing import Any

import pytest
import redis
from flask import Flask
from python_calamine import CalamineWorkbook
from sqlalchemy.orm import Session

from interactive.db import db
from interactive.outbound.models import CampaignState
from interactive.web.models import Role
from tests.analytics.dataset import Built, build, price_route, seed
from tests.conftest import UserFactory
from tests.helpers import login

HOSTILE = '=HYPERLINK("http://x")'


@pytest.fixture(autouse=True)
def _priced(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    price_route(app, monkeypatch)


def numbers(page: str) -> dict[str, str]:
    """The key figures as the page shows them."""
    found = re.findall(r'<span data-number="(\w+)">([^<]*)</span>', page)
    return {key: html.unescape(text) for key, text in found}


def table_rows(page: str, name: str) -> list[list[str]]:
    """The cells' texts of one table of the page."""
    body = re.search(rf'<tbody data-table-body="{name}">(.*?)</tbody>', page, re.S)
    assert body, f"no table {name}"
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
        ]
        for r in rows
    ]


def csv_rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


EXPECTED_FIGURES = {
    "sent": "7",
    "parts": "8",
    "delivered": "5",
    "delivery_rate": "71.4%",
    "clickers": "2",
    "ctr": "40.0%",
    "conversions": "3",
    "conversion_rate_clicks": "100.0%",
    "conversion_rate_delivered": "60.0%",
    "revenue": "TRY180.50",
    "revenue_per_delivered": "TRY36.10",
    "cost": "TRY2.00",
    "cost_per_conversion": "TRY0.67",
    "roi": "8,925.0%",
    "opt_outs": "1",
    "opt_out_rate": "20.0%",
    "bot_share": "50.0%",
    "clicks_raw": "6",
}


def test_the_overview_shows_the_known_figures(marketer: Any, bahar: Built) -> None:
    response = marketer.get("/analytics/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert numbers(page) == EXPECTED_FIGURES
    assert (
        "Last click wins; conversions count within each campaign's attribution window."
        in html.unescape(page)
    )
    assert table_rows(page, "daily")[0][:4] == ["Nov 2, 2026", "7", "5", "71.4%"]
    campaigns = table_rows(page, "campaigns")
    assert campaigns == [
        [
            "Bahar",
            "7",
            "5",
            "71.4%",
            "2",
            "40.0%",
            "3",
            "60.0%",
            "TRY180.50",
            "TRY2.00",
            "8,925.0%",
            "1",
        ]
    ]
    # The campaign's name leads to its dashboard, its numbers to the rows behind them.
    campaign_id = bahar.campaign.id
    assert f'href="/analytics/campaigns/{campaign_id}">Bahar</a>' in page
    assert f'href="/analytics/rows/messages?show=sent&amp;campaign={campaign_id}">7</a>' in page
    assert table_rows(page, "top_revenue") == [["Bahar", "TRY180.50"]]
    for chart in ("activity", "opt_outs", "top_conversion", "top_revenue"):
        assert f'<script type="application/json" data-figure="{chart}">' in page
    # The navigation leads here.
    assert '<a href="/analytics/"' in page and ">Analytics</a>" in page


def test_the_overview_in_turkish(
    app: Flask, client: Any, make_user: UserFactory, db_session: Session, redis_client: redis.Redis
) -> None:
    # Seeded in an app context of its own: requests made inside the test's context would
    # share its cached language.
    with app.app_context():
        seed(db.session(), redis_client)
    login(client, make_user(Role.MARKETER, locale="tr").email)
    page = client.get("/analytics/").get_data(as_text=True)
    figures = numbers(page)
    assert figures["delivery_rate"] == "%71,4"
    assert figures["revenue"] == "₺180,50"
    assert figures["roi"] == "%8.925,0"
    assert "Son tıklama kazanır" in page


def test_the_campaign_dashboard(marketer: Any, bahar: Built) -> None:
    campaign_id = bahar.campaign.id
    response = marketer.get(f"/analytics/campaigns/{campaign_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert numbers(page) == EXPECTED_FIGURES
    assert table_rows(page, "funnel") == [
        ["Targeted", "12", "—"],
        ["Eligible", "8", "66.7%"],
        ["Sent", "7", "87.5%"],
        ["Delivered", "5", "71.4%"],
        ["Unique human clickers", "2", "40.0%"],
        ["People who converted", "2", "40.0%"],
    ]
    figure = json.loads(
        re.search(r'data-figure="funnel">(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    )
    assert figure["data"][0]["x"] == [12, 8, 7, 5, 2, 2]
    variants = table_rows(page, "variants")
    assert [row[:4] for row in variants] == [
        ["A", "5", "4", "3"],
        ["B", "3", "3", "2"],
        ["No variant (not sent or held out)", "4", "0", "0"],
    ]
    # The variants' people who converted and their conversions (c1 bought twice in A).
    assert [row[7:11] for row in variants[:2]] == [
        ["1", "33.3%", "2", "66.7%"],
        ["1", "50.0%", "1", "50.0%"],
    ]
    # Three and two delivered: too few for a test on the campaign's goal (people who
    # converted, of delivered: A's two purchases by one person count once).
    (comparison,) = table_rows(page, "significance")
    assert comparison[:3] == ["B", "A", "People who converted ÷ delivered"]
    assert comparison[3:5] == ["50.0%", "33.3%"]
    assert comparison[-1] == "Not enough data yet"
    (lift,) = table_rows(page, "lift")
    assert lift[:6] == ["7", "2", "28.6%", "2", "1", "50.0%"]
    assert lift[-1] == "Not enough data yet"
    assert 'data-testid="lift-not-enough"' in page
    assert table_rows(page, "clicks") == [
        ["People", "3", "50.0%"],
        ["Link previews", "1", "16.7%"],
        ["Scanners and bots", "1", "16.7%"],
        ["HEAD and prefetch", "1", "16.7%"],
    ]
    assert table_rows(page, "reasons") == [
        ["No consent", "1"],
        ["Opted out", "1"],
        ["Deferred by quiet hours", "1"],
    ]
    assert f'href="/campaigns/{campaign_id}?reason=opted_out#recipients">1</a>' in page
    assert table_rows(page, "failures") == [["11", "1"]]
    assert table_rows(page, "replies") == [["3", "2", "1", "20.0%"]]
    latency = dict((row[0], row[1]) for row in table_rows(page, "latency"))
    assert latency["≤ 5 s"] == "2" and latency["≤ 10 s"] == "1" and latency["≤ 30 min"] == "1"
    assert table_rows(page, "hours")[1][:4] == ["1", "0", "0", "1"]
    # Numbers lead to the recipients behind them.
    assert f'href="/campaigns/{campaign_id}?status=held_out#recipients">2</a>' in page
    assert f'href="/campaigns/{campaign_id}#recipients">12</a>' in page
    for chart in ("funnel", "since_send", "latency", "clicks"):
        assert f'data-figure="{chart}"' in page
    # The campaign page leads here.
    show = marketer.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert f'href="/analytics/campaigns/{campaign_id}"' in show


def _listed_phones(client: Any, url: str) -> set[str]:
    """The numbers in a campaign page's recipients list."""
    listed = client.get(url).get_data(as_text=True)
    body = listed.split('id="recipients-table"', 1)[1]
    return set(re.findall(r"<code>(\+\d+)</code>", body))


def _phones_of(bahar: Built, *names: str) -> set[str]:
    return {bahar.contacts[n].phone for n in names}


def test_variant_and_failure_numbers_list_their_recipients(marketer: Any, bahar: Built) -> None:
    campaign_id = bahar.campaign.id
    page = marketer.get(f"/analytics/campaigns/{campaign_id}").get_data(as_text=True)
    a, b = bahar.variants["A"].id, bahar.variants["B"].id
    base = f"/campaigns/{campaign_id}"
    assert f'href="{base}?variant={a}#recipients">5</a>' in page
    assert f'href="{base}?variant={b}#recipients">3</a>' in page
    assert f'href="{base}?variant=0#recipients">4</a>' in page
    assert f'href="{base}?error=11#recipients">1</a>' in page

    phones = functools.partial(_listed_phones, marketer)
    who = functools.partial(_phones_of, bahar)

    assert phones(f"{base}?variant={a}") == who("c1", "c2", "c3", "c4", "c10")
    assert phones(f"{base}?variant=0") == who("c8", "c9", "c11", "c12")
    assert phones(f"{base}?error=11") == who("c4")
    assert phones(f"{base}?error=any&variant={b}") == set()
    assert phones(f"{base}?error=none") == set()
    assert phones(f"{base}?error=12") == set()
    # A filter that does not apply is left out, not an error.
    assert phones(f"{base}?variant=999999&error=x") == who(*(f"c{n}" for n in range(1, 13)))
    export = csv_rows(marketer.get(f"{base}/recipients.csv?variant={a}&error=11"))
    assert [row[0] for row in export[1:]] == [bahar.contacts["c4"].phone]


def test_clickers_and_converters_list_their_recipients(marketer: Any, bahar: Built) -> None:
    campaign_id = bahar.campaign.id
    page = marketer.get(f"/analytics/campaigns/{campaign_id}").get_data(as_text=True)
    base = f"/campaigns/{campaign_id}"
    assert f'href="{base}?engaged=clicked#recipients">' in page
    assert f'href="{base}?engaged=converted#recipients">' in page

    phones = functools.partial(_listed_phones, marketer)
    who = functools.partial(_phones_of, bahar)

    # Human clicks only (c2's was a scanner's); the goal event only (c1's signup does not
    # count), and the hold-out member who bought within the window (c11, not c12).
    assert phones(f"{base}?engaged=clicked") == who("c1", "c5")
    assert phones(f"{base}?engaged=converted") == who("c1", "c5", "c11")
    assert phones(f"{base}?engaged=converted&variant={bahar.variants['B'].id}") == who("c5")
    assert phones(f"{base}?engaged=nonsense") == who(*(f"c{n}" for n in range(1, 13)))
    export = csv_rows(marketer.get(f"{base}/recipients.csv?engaged=clicked"))
    assert {row[0] for row in export[1:]} == who("c1", "c5")


def test_replies_lead_to_their_list_and_on_to_the_inbox_for_those_who_may_open_it(
    client: Any, make_user: UserFactory, bahar: Built
) -> None:
    admin = make_user(Role.ADMIN)
    login(client, admin.email)
    campaign_id = bahar.campaign.id
    page = client.get(f"/analytics/campaigns/{campaign_id}").get_data(as_text=True)
    replies = f"/analytics/rows/replies?show=all&amp;campaign={campaign_id}"
    assert f'href="{replies}">3</a>' in page
    listed = client.get(html.unescape(replies)).get_data(as_text=True)
    assert "tamam" in listed


def test_the_links_dashboard(marketer: Any, bahar: Built) -> None:
    response = marketer.get("/analytics/links")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    figures = numbers(page)
    assert figures["clicks_raw"] == "6" and figures["bot_share"] == "50.0%"
    assert figures["clicks_human"] == "3" and figures["clicks_head"] == "1"
    assert table_rows(page, "clicks") == [["Nov 2, 2026", "3", "1", "1", "1", "6", "50.0%"]]
    assert (
        '<a href="/analytics/rows/clicks?show=human&amp;standalone=1">'
        '<span data-number="clicks_human">3</span>'
    ) in page
    assert 'data-figure="clicks"' in page


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DESK])
@pytest.mark.parametrize("path", ["/analytics/", "/analytics/links", "/analytics/campaigns/{id}"])
def test_roles_without_analytics_are_refused(
    client: Any, make_user: UserFactory, bahar: Built, role: Role, path: str
) -> None:
    login(client, make_user(role).email)
    url = path.format(id=bahar.campaign.id)
    assert client.get(url).status_code == 403
    assert client.get(url + "?format=csv&table=funnel").status_code == 403
    assert ">Analytics</a>" not in client.get("/account").get_data(as_text=True)


def test_visitors_are_sent_to_sign_in(client: Any, bahar: Built) -> None:
    response = client.get(f"/analytics/campaigns/{bahar.campaign.id}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_exports_hold_the_tables_rows_and_neutralise_formulas(
    marketer: Any, ctx: Session, redis_client: redis.Redis
) -> None:
    built = seed(ctx, redis_client, name=HOSTILE)
    response = marketer.get("/analytics/?format=csv&table=campaigns")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="analytics-campaigns.csv"' in response.headers["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0][:3] == ["Campaign", "Sent", "Delivered"]
    assert rows[1][:3] == ["'" + HOSTILE, "7", "5"]
    assert rows[1][8:10] == ["180.50", "2.00"]
    assert len(rows) == 2

    funnel = csv_rows(
        marketer.get(f"/analytics/campaigns/{built.campaign.id}?format=csv&table=funnel")
    )
    assert [r[:2] for r in funnel] == [
        ["Step", "People"],
        ["Targeted", "12"],
        ["Eligible", "8"],
        ["Sent", "7"],
        ["Delivered", "5"],
        ["Unique human clickers", "2"],
        ["People who converted", "2"],
    ]
    assert funnel[4][2] == "0.714286"

    response = marketer.get("/analytics/?format=xlsx&table=campaigns")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith("analytics-campaigns.xlsx")
    data = response.get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert sheet[0][:2] == ["Campaign", "Sent"]
    assert sheet[1][:3] == [HOSTILE, 7, 5]  # a string cell: shown, never evaluated
    assert sheet[1][3] == pytest.approx(5 / 7)
    assert sheet[1][8] == pytest.approx(180.5)


def test_every_table_of_the_campaign_dashboard_exports(marketer: Any, bahar: Built) -> None:
    base = f"/analytics/campaigns/{bahar.campaign.id}"
    names = set(re.findall(r'data-table-body="(\w+)"', marketer.get(base).get_data(as_text=True)))
    assert {
        "funnel",
        "variants",
        "significance",
        "lift",
        "hours",
        "latency",
        "clicks",
        "reasons",
        "failures",
        "replies",
    } <= names
    for name in names:
        for kind in ("csv", "xlsx"):
            response = marketer.get(f"{base}?format={kind}&table={name}")
            assert response.status_code == 200, (name, kind)
    assert marketer.get(f"{base}?format=csv&table=nope").status_code == 404


def test_date_filters_are_days_in_the_users_time_zone(marketer: Any, bahar: Built) -> None:
    # T0 is 12:00 on 2 November in Istanbul.
    same_day = marketer.get("/analytics/?start=2026-11-02&end=2026-11-02").get_data(as_text=True)
    assert numbers(same_day)["sent"] == "7"
    assert 'value="2026-11-02"' in same_day
    later = marketer.get("/analytics/?start=2026-11-03").get_data(as_text=True)
    assert numbers(later)["sent"] == "0"
    brand = marketer.get(
        f"/analytics/?campaign={bahar.campaign.id}&variant={bahar.variants['A'].id}"
    )
    assert numbers(brand.get_data(as_text=True))["sent"] == "4"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-13-45", "“2026-13-45” is not a date (YYYY-MM-DD)."),
        ("end=yesterday", "“yesterday” is not a date (YYYY-MM-DD)."),
        ("start=2026-11-05&end=2026-11-01", "The start date is after the end date."),
        ("brand=abc", "Unknown brand: “abc”."),
        ("brand=999999", "Unknown brand: “999999”."),
        ("campaign=99999999999999999999", "Unknown campaign: “99999999999999999999”."),
        ("campaign=-1", "Unknown campaign: “-1”."),
        ("variant=0", "Unknown variant: “0”."),
        ("start=0001-01-01", "“0001-01-01” is not a date (YYYY-MM-DD)."),
    ],
)
@pytest.mark.parametrize("path", ["/analytics/", "/analytics/links"])
def test_bad_filters_are_reported_not_failed(
    marketer: Any, bahar: Built, path: str, query: str, message: str
) -> None:
    response = marketer.get(f"{path}?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="filter-errors"' in page
    assert html.escape(message, quote=True) in page or message in html.unescape(page)
    # The rest of the page shows everything (the bad filter is left out).
    assert numbers(page)["clicks_raw"] == "6"
    assert (
        marketer.get(
            f"{path}?{query}&format=csv&table=clicks"
            if "links" in path
            else f"{path}?{query}&format=csv&table=daily"
        ).status_code
        == 200
    )


def test_an_unknown_campaign_is_not_found(marketer: Any) -> None:
    assert marketer.get("/analytics/campaigns/999999").status_code == 404


def test_a_sending_campaign_is_polled(
    marketer: Any, ctx: Session, redis_client: redis.Redis
) -> None:
    built = seed(ctx, redis_client, state=CampaignState.SENDING)
    base = f"/analytics/campaigns/{built.campaign.id}"
    page = marketer.get(base).get_data(as_text=True)
    assert 'data-live="true"' in page
    assert f'data-url="{base}?format=json"' in page
    data = marketer.get(f"{base}?format=json").get_json()
    assert data["live"] is True
    assert data["numbers"]["ctr"] == "40.0%" and data["numbers"]["sent"] == "7"
    assert data["figures"]["funnel"]["data"][0]["x"] == [12, 8, 7, 5, 2, 2]
    assert "<td" in data["tables"]["funnel"]
    assert data["refreshed"] is not None
    overview = marketer.get("/analytics/?format=json").get_json()
    assert overview["live"] is True and overview["numbers"]["sent"] == "7"


def test_a_finished_campaign_is_not_polled(marketer: Any, bahar: Built) -> None:
    page = marketer.get(f"/analytics/campaigns/{bahar.campaign.id}").get_data(as_text=True)
    assert 'data-live="false"' in page


def test_pages_without_data_render(marketer: Any, ctx: Session) -> None:
    for path in ("/analytics/", "/analytics/links"):
        response = marketer.get(path)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Figures have not been computed yet." in page
        assert numbers(page)["sent" if path == "/analytics/" else "clicks_raw"] == "0"
    draft = build(ctx, name="Taslak", state=CampaignState.DRAFT)
    ctx.commit()
    assert marketer.get(f"/analytics/campaigns/{draft.campaign.id}").status_code == 200
