"""The rows behind the dashboards' numbers: every linked figure of the overview, its
per-day and per-campaign tables, the campaign dashboard and the links dashboard leads to a
list holding exactly the rows the figure counts (checked against the hand-built data set's
known figures, through the list's CSV export), with the dashboards' filters, pages, XLSX
export, hostile text neutralised and bad parameters reported."""

from __future__ import annotations

import functools
import html
import io
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from python_calamine import CalamineWorkbook
from sqlalchemy.orm import Session

from interactive.analytics import rollups, rows
from interactive.keywords.models import Decision, InboundMessage, Thread
from interactive.shortlinks.models import Click, ClickKind, Link
from interactive.web.models import Role
from tests.analytics.dataset import PRICE, T0, Built, price_route
from tests.analytics.test_dashboards import _listed_phones, _phones_of, csv_rows, table_rows
from tests.conftest import UserFactory
from tests.helpers import login

HOSTILE = '=HYPERLINK("http://x")'


@pytest.fixture(autouse=True)
def _priced(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    price_route(app, monkeypatch)


def linked_figures(page: str) -> dict[str, str]:
    """The key figures that are links: figure → URL."""
    found = re.findall(r'<a href="([^"]+)"><span data-number="(\w+)">', page)
    return {key: html.unescape(url) for url, key in found}


def listed(client: Any, url: str) -> list[dict[str, str]]:
    """Every row of a list, from its CSV export, as column label → cell."""
    response = client.get(f"{url}&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    header, *body = csv_rows(response)
    return [dict(zip(header, row, strict=True)) for row in body]


def check_counts(client: Any, urls: dict[str, str | None], figures: dict[str, Any]) -> None:
    """Each figure's list holds what the figure counts."""
    for key, expected in figures.items():
        url = urls.get(key)
        assert url, f"{key} is not linked"
        found = listed(client, url)
        if key == "clickers":
            assert len({row["Phone"] for row in found}) == expected, key
        elif key == "parts":
            assert sum(int(row["Parts"]) for row in found) == expected, key
        elif key == "cost":
            assert sum(int(row["Parts"]) for row in found) * PRICE == expected, key
        elif key == "revenue":
            assert sum(Decimal(row["Value"]) for row in found) == expected, key
        else:
            assert len(found) == expected, key


KNOWN = {
    "sent": 7,
    "parts": 8,
    "cost": Decimal("2.00"),
    "delivered": 5,
    "clickers": 2,
    "conversions": 3,
    "revenue": Decimal("180.50"),
    "opt_outs": 1,
    "clicks_raw": 6,
    "bot_share": 3,  # the hits that were not people
}


def test_every_linked_figure_of_the_overview_lists_its_rows(marketer: Any, bahar: Built) -> None:
    page = marketer.get("/analytics/").get_data(as_text=True)
    urls: dict[str, str | None] = dict(linked_figures(page))
    check_counts(marketer, urls, KNOWN)
    # The per-day table and the campaigns table lead to the same rows, for their day and
    # their campaign; the top tables' values to the conversions.
    day = re.search(r'href="([^"]+)">7</a></td><td class="num"><a', page)
    assert day and "start=2026-11-02" in html.unescape(day.group(1))
    by_campaign = f"campaign={bahar.campaign.id}"
    for key, expected in (("sent", 7), ("delivered", 5), ("conversions", 3), ("opt_outs", 1)):
        links = [html.unescape(u) for u in re.findall(r'href="(/analytics/rows/[^"]+)"', page)]
        ours = [u for u in links if by_campaign in u and urls[key].split("?")[1] in u]  # type: ignore[union-attr]
        assert ours, key
        assert len(listed(marketer, ours[0])) == expected
    top = re.search(r'href="(/analytics/rows/conversions[^"]+)">TRY180.50</a>', page)
    assert top and len(listed(marketer, html.unescape(top.group(1)))) == 3


def test_the_lists_show_what_they_count(marketer: Any, bahar: Built) -> None:
    sent = listed(marketer, "/analytics/rows/messages?show=sent")
    assert {row["Phone"] for row in sent} == {bahar.contacts[f"c{n}"].phone for n in range(1, 8)}
    assert {row["Campaign"] for row in sent} == {"Bahar"}
    assert sorted(row["Variant"] for row in sent) == ["A"] * 4 + ["B"] * 3
    failed = listed(marketer, "/analytics/rows/messages?show=failed")
    assert [(row["Phone"], row["Error code"]) for row in failed] == [
        (bahar.contacts["c4"].phone, "11")
    ]
    # The goal event only: c1's signup is not a conversion of this campaign, nor is the
    # unattributed purchase.
    conversions = listed(marketer, "/analytics/rows/conversions?show=counted")
    assert sorted(row["Value"] for row in conversions) == ["100.00", "30.00", "50.50"]
    assert {row["Event"] for row in conversions} == {"purchase"}
    assert {row["Source"] for row in conversions} == {"Postback"}
    opt_outs = listed(marketer, "/analytics/rows/replies?show=opt_out")
    assert [(row["Text"], row["Decision"]) for row in opt_outs] == [("RET", "Opt-out")]
    assert len(listed(marketer, "/analytics/rows/replies?show=all")) == 3
    human = listed(marketer, "/analytics/rows/clicks?show=human")
    assert [row["Who"] for row in human] == ["People"] * 3
    # Times are the viewer's (Europe/Istanbul, UTC+3): c5's click at T0 + 3 h.
    assert human[0]["When"].startswith("2026-11-02T15:00:00+03:00")


def test_the_campaign_dashboard_links_its_tables_to_rows(marketer: Any, bahar: Built) -> None:
    campaign_id = bahar.campaign.id
    page = marketer.get(f"/analytics/campaigns/{campaign_id}").get_data(as_text=True)
    links = {html.unescape(u) for u in re.findall(r'href="(/analytics/rows/[^"]+)"', page)}
    # Clicks by kind.
    for show, expected in (("human", 3), ("preview", 1), ("scanner", 1), ("head", 1)):
        url = f"/analytics/rows/clicks?show={show}&campaign={campaign_id}"
        assert url in links
        assert len(listed(marketer, url)) == expected
    # The hour since the send (T0 + 1 h: one human click) and the latency buckets.
    hour = f"/analytics/rows/clicks?show=human&campaign={campaign_id}&hour=2026-11-02T10%3A00Z"
    assert hour in links
    assert len(listed(marketer, hour)) == 1
    within_5 = f"/analytics/rows/messages?show=delivered&campaign={campaign_id}&latency=5"
    assert within_5 in links
    assert {row["Phone"] for row in listed(marketer, within_5)} == {
        bahar.contacts["c1"].phone,
        bahar.contacts["c3"].phone,
    }
    # Figures about people still lead to the campaign's recipients.
    assert f'href="/campaigns/{campaign_id}?engaged=clicked#recipients">2</a>' in page


def test_the_filters_narrow_the_lists(marketer: Any, bahar: Built) -> None:
    b = bahar.variants["B"].id
    assert len(listed(marketer, f"/analytics/rows/messages?show=sent&variant={b}")) == 3
    assert len(listed(marketer, "/analytics/rows/messages?show=sent&start=2026-11-03")) == 0
    assert len(listed(marketer, "/analytics/rows/messages?show=sent&end=2026-11-02")) == 7
    brand = bahar.campaign.brand_id
    assert len(listed(marketer, f"/analytics/rows/clicks?show=all&brand={brand}")) == 6
    # Conversions by when they happened: the last one at T0 + 5 h (14:00 UTC).
    later = "/analytics/rows/conversions?show=counted&hour=2026-11-02T14:00:00%2B00:00"
    assert [row["Value"] for row in listed(marketer, later)] == ["30.00"]


def test_a_list_pages_newest_first(
    marketer: Any, bahar: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "PAGE", 3)
    seen = every_page(marketer, "/analytics/rows/messages?show=sent")
    assert len(seen) == 7
    phones = [row[3] for row in seen]
    assert len(set(phones)) == 7
    assert phones[0] == bahar.contacts["c7"].phone  # the newest message first


def every_page(client: Any, first: str) -> list[list[str]]:
    """The rows of a list's pages, following each page's link to the next."""
    seen: list[list[str]] = []
    url: str | None = first
    while url:
        page = client.get(url).get_data(as_text=True)
        seen.extend(table_rows_of(page))
        found = re.search(r'<a href="([^"]+)" id="next-page"', page)
        url = html.unescape(found.group(1)) if found else None
    return seen


def table_rows_of(page: str) -> list[list[str]]:
    body = re.search(r'<table class="table" id="table-rows">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
        ]
        for r in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def test_rows_link_to_what_they_name(
    client: Any, make_user: UserFactory, bahar: Built, ctx: Session
) -> None:
    c6 = bahar.contacts["c6"]
    thread = Thread(phone=c6.phone, short_code="4664", contact_id=c6.id)
    ctx.add(thread)
    ctx.flush()
    ctx.execute(sa.update(InboundMessage).values(thread_id=thread.id))
    ctx.commit()
    admin = make_user(Role.ADMIN)
    login(client, admin.email)
    page = client.get("/analytics/rows/replies?show=opt_out").get_data(as_text=True)
    assert f'href="/contacts/{c6.id}">' in page
    assert f'href="/inbox/threads/{thread.id}">RET</a>' in page
    assert f'href="/analytics/campaigns/{bahar.campaign.id}">Bahar</a>' in page
    clicks = client.get("/analytics/rows/clicks?show=human").get_data(as_text=True)
    assert f'href="/links/{bahar.links["c1"].id}">' in clicks


def test_hostile_text_is_escaped_and_neutralised(
    marketer: Any, bahar: Built, ctx: Session, redis_client: redis.Redis
) -> None:
    message = bahar.messages["c2"]
    ctx.add(
        InboundMessage(
            connection="sim",
            source=message.destination.removeprefix("+"),
            destination="4664",
            text=HOSTILE + "<script>alert(1)</script>",
            raw=b"x",
            data_coding=0,
            dedup_key="hostile",
            received_at=T0 + timedelta(hours=2),
            routed_at=T0 + timedelta(hours=2),
            phone=message.destination,
            contact_id=message.contact_id,
            decision=Decision.INBOX,
            reply_to_id=message.id,
            campaign_id=bahar.campaign.id,
            variant_id=message.variant_id,
        )
    )
    ctx.commit()
    page = marketer.get("/analytics/rows/replies?show=all").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    (row,) = [
        r for r in listed(marketer, "/analytics/rows/replies?show=all") if "HYPER" in r["Text"]
    ]
    assert row["Text"].startswith("'=HYPERLINK")
    book = CalamineWorkbook.from_filelike(
        io.BytesIO(marketer.get("/analytics/rows/replies?show=all&format=xlsx").data)
    )
    sheet = book.get_sheet_by_index(0).to_python()
    assert sheet[0][:4] == ["When", "Campaign", "Variant", "Phone"]
    assert len(sheet) == 5
    assert HOSTILE + "<script>alert(1)</script>" in [r[4] for r in sheet]


def test_standalone_links_are_listed_from_the_links_dashboard(
    marketer: Any, bahar: Built, ctx: Session, redis_client: redis.Redis
) -> None:
    link = Link(secret=7, target_url="https://example.com/", created_at=T0)
    ctx.add(link)
    ctx.flush()
    ctx.add(
        Click(
            link_id=link.id,
            token="standalone-1",
            clicked_at=T0 + timedelta(hours=1),
            method="GET",
            kind=ClickKind.HUMAN,
        )
    )
    ctx.commit()
    rollups.refresh(ctx, redis_client, now=T0 + timedelta(hours=6))
    page = marketer.get("/analytics/links").get_data(as_text=True)
    urls = linked_figures(page)
    assert len(listed(marketer, urls["clicks_human"])) == 4
    assert len(listed(marketer, urls["clicks_raw"])) == 7
    # The overview counts campaign links only, and so does its list.
    overview = linked_figures(marketer.get("/analytics/").get_data(as_text=True))
    assert len(listed(marketer, overview["clicks_raw"])) == 6


def test_bad_parameters_are_reported(marketer: Any, bahar: Built) -> None:
    response = marketer.get("/analytics/rows/messages?show=nonsense&hour=yesterday&latency=9")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "Unknown list: “nonsense”." in page
    assert "“yesterday” is not an hour." in page
    assert "Unknown delivery latency: “9”." in page
    assert len(table_rows_of(response.get_data(as_text=True))) == 7
    assert marketer.get("/analytics/rows/people").status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DESK])
def test_roles_without_analytics_are_refused(
    client: Any, make_user: UserFactory, bahar: Built, role: Role
) -> None:
    login(client, make_user(role).email)
    assert client.get("/analytics/rows/messages").status_code == 403


def test_the_daily_table_of_the_overview_is_linked(marketer: Any, bahar: Built) -> None:
    page = marketer.get("/analytics/").get_data(as_text=True)
    assert table_rows(page, "daily")[0][:2] == ["Nov 2, 2026", "7"]
    body = re.search(r'<tbody data-table-body="daily">(.*?)</tbody>', page, re.S)
    assert body
    urls = [html.unescape(u) for u in re.findall(r'href="([^"]+)"', body.group(1))]
    assert urls and all("start=2026-11-02&end=2026-11-02" in u for u in urls)
    delivered = next(u for u in urls if "show=delivered" in u)
    assert len(listed(marketer, delivered)) == 5


def test_hits_of_every_kind_page_newest_first(
    marketer: Any, bahar: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kind is selected on its own and merged: pages of two hold all six hits once,
    by time, newest first (c5's click and HEAD request share a moment: the id decides)."""
    monkeypatch.setattr(rows, "PAGE", 2)
    seen = every_page(marketer, "/analytics/rows/clicks?show=all")
    assert [row[4] for row in seen] == [
        "HEAD and prefetch",
        "People",
        "People",
        "People",
        "Link previews",
        "Scanners and bots",
    ]
    export = listed(marketer, "/analytics/rows/clicks?show=bots")
    assert [row["Who"] for row in export] == [
        "HEAD and prefetch",
        "Link previews",
        "Scanners and bots",
    ]


def test_the_variants_and_the_lift_lead_to_their_rows(marketer: Any, bahar: Built) -> None:
    campaign_id = bahar.campaign.id
    page = marketer.get(f"/analytics/campaigns/{campaign_id}").get_data(as_text=True)
    a = bahar.variants["A"].id
    body = re.search(r'<tbody data-table-body="variants">(.*?)</tbody>', page, re.S)
    assert body
    (row_a, *_rest) = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    links = [html.unescape(u) for u in re.findall(r'href="([^"]+)"', row_a)]
    sent = next(u for u in links if "rows/messages?show=sent" in u)
    assert f"variant={a}" in sent and len(listed(marketer, sent)) == 4
    conversions = next(u for u in links if "rows/conversions" in u)
    assert sorted(r["Value"] for r in listed(marketer, conversions)) == ["100.00", "30.00"]
    assert f"/campaigns/{campaign_id}?variant={a}&engaged=clicked#recipients" in links
    # The hold-out lift: who converted, among those sent a message and those held out.
    base = f"/campaigns/{campaign_id}"
    treated = f"{base}?status=queued&amp;engaged=converted_in_window#recipients"
    held_out = f"{base}?status=held_out&amp;engaged=converted_in_window#recipients"
    assert f'href="{treated}">2</a>' in page and f'href="{held_out}">1</a>' in page
    phones = functools.partial(_listed_phones, marketer)
    who = functools.partial(_phones_of, bahar)
    assert phones(f"{base}?status=queued&engaged=converted_in_window") == who("c1", "c5")
    assert phones(f"{base}?status=held_out&engaged=converted_in_window") == who("c11")
    # The funnel's eligible: queued or deferred (c10, held back by quiet hours).
    assert f'href="{base}?status=eligible#recipients">8</a>' in page
    assert phones(f"{base}?status=eligible") == who(*(f"c{n}" for n in (1, 2, 3, 4, 5, 6, 7, 10)))
