"""The marketer's campaign pages: list, composer with its live preview and eligibility
count, test send, lifecycle buttons, the campaign page and its recipients export."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from interactive.contacts import consent, suppression
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentStatus,
    Contact,
    ContactList,
    ListMember,
    SuppressionReason,
)
from interactive.db import db, utcnow
from interactive.outbound import campaigns, fanout, views
from interactive.outbound.models import (
    Campaign,
    CampaignState,
    Message,
    PartState,
    Recipient,
    Recurrence,
    Traffic,
)
from interactive.outbound.service import outbound_stream
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import csrf_token, login, noon_after, shot, sign_in

# Monday 2026-11-23 12:00 in Istanbul: inside the default quiet-hour rules.
NOON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def marketer(client: Any, make_user: UserFactory) -> Any:
    user = make_user(Role.MARKETER)
    login(client, user.email)
    return user


@pytest.fixture
def shop(db_session: Session) -> dict[str, Any]:
    """A brand and a list of four contacts, three of whom consented to its SMS."""
    brand = Brand(code="SHOP", name="Shop")
    audience = ContactList(name="VIP")
    others = ContactList(name="Staff")
    contacts = [
        Contact(
            phone=f"+90532100000{n}",
            first_name=["Ayşe", "Mehmet", '=HYPERLINK("http://x")', "Deniz"][n],
            time_zone="Europe/Istanbul",
            country="TR",
        )
        for n in range(4)
    ]
    db_session.add_all([brand, audience, others, *contacts])
    db_session.flush()
    db_session.add_all(ListMember(list_id=audience.id, contact_id=c.id) for c in contacts)
    consent.record(
        db_session,
        [
            consent.NewEvent(
                contact_id=c.id,
                recipient=c.phone,
                brand_id=brand.id,
                status=ConsentStatus.ONAY,
                source="HS_WEB",
                consent_at=NOON - timedelta(days=10),
                actor=Actor.USER,
            )
            for c in contacts[:3]
        ],
    )
    db_session.commit()
    return {
        "brand": brand.id,
        "list": audience.id,
        "other_list": others.id,
        "contacts": [c.id for c in contacts],
    }


@pytest.fixture
def priced_route(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test route with a price and the operator's code (" B001") appended."""
    route = replace(
        app.config["SMPP_CONNECTION_LIST"][0],
        price_per_part=Decimal("0.25"),
        currency="TRY",
        operator_code=True,
    )
    monkeypatch.setitem(app.config, "SMPP_CONNECTION_LIST", (route,))
    return route


def composer_data(shop: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Kış indirimi",
        "traffic": "commercial",
        "brand_id": str(shop["brand"]),
        "sender": "SHOP",
        "connection": "simulator",
        "goal": "clicks",
        "goal_value": "",
        "lists": [str(shop["list"])],
        "exclude_lists": [str(shop["other_list"])],
        "variants-0-label": "A",
        "variants-0-share": "100",
        "variants-0-template": "Merhaba {{ first_name }}! https://shop.example/kis",
        "holdout_percent": "0",
        "validity_minutes": "",
        "track_links": "y",
        "when": "now",
        "time_zone": "Europe/Istanbul",
        "recurrence": "weekly",
    }
    data.update(changes)
    return data


def post_composer(client: Any, url: str, data: dict[str, Any]) -> Any:
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data})


def token(client: Any, url: str = "/campaigns/new") -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def only_campaign(session: Session) -> Campaign:
    session.expire_all()
    return session.scalars(sa.select(Campaign)).one()


def routes(app: Flask) -> dict[str, Any]:
    return {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}


def run_campaign(session: Session, app: Flask, client: redis.Redis, now: datetime) -> None:
    """The scheduler's and the chunk jobs' work, done in place."""
    fanout.start_due_runs(session, now)
    for chunk_id in fanout.release_chunks(session, now):
        fanout.expand_chunk(session, chunk_id, fanout.Sending.from_app(client, now))
    session.commit()


def test_campaign_pages_are_for_marketers(app: Flask, client: Any, make_user: UserFactory) -> None:
    login(client, make_user(Role.DESK).email)
    for url in ("/campaigns/", "/campaigns/new", "/campaigns/1", "/campaigns/1/recipients.csv"):
        assert client.get(url).status_code == 403
    desk_token = csrf_token(client.get("/account").get_data(as_text=True))
    response = client.post("/campaigns/preview", data={"csrf_token": desk_token})
    assert response.status_code == 403
    assert 'href="/campaigns/"' not in client.get("/account").get_data(as_text=True)

    other = app.test_client()
    login(other, make_user(Role.MARKETER).email)
    page = other.get("/campaigns/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'href="/campaigns/"' in text  # in the navigation
    assert "No campaigns yet." in text


def test_create_a_draft_then_edit_it(
    client: Any, marketer: Any, shop: dict[str, Any], ctx: Session
) -> None:
    data = composer_data(
        shop,
        when="at",
        send_at="2030-12-01T10:00",
        time_zone="Europe/Istanbul",
        window_start="09:30",
        window_end="20:00",
        rate_per_second="50",
        validity_minutes="1440",
        utm_campaign="kis-2030",
        holdout_percent="10",
        **{
            "variants-0-share": "60",
            "variants-3-label": "B",
            "variants-3-share": "40",
            "variants-3-template": "Son gün! https://shop.example/kis",
        },
    )
    response = post_composer(client, "/campaigns/new", data)
    assert response.status_code == 302
    campaign = only_campaign(ctx)
    assert response.headers["Location"] == f"/campaigns/{campaign.id}"
    assert campaign.state == CampaignState.DRAFT
    assert campaign.send_at == datetime(2030, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Istanbul
    assert (campaign.window_start, campaign.window_end) == (570, 1200)
    assert (campaign.rate_per_second, campaign.validity_minutes) == (50, 1440)
    assert campaign.audience["lists"] == [shop["list"]]
    assert campaign.audience["exclude_lists"] == [shop["other_list"]]
    assert campaign.utm == {"utm_campaign": "kis-2030"}
    assert [(v.label, v.share) for v in campaign.variants] == [("A", 60), ("B", 40)]
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Draft saved." in page
    assert "Kış indirimi" in page

    form = client.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert 'value="2030-12-01T10:00"' in form  # shown on the campaign's own clock
    assert "Son gün!" in form
    changed = composer_data(shop, name="Kış indirimi 2", when="now")
    assert post_composer(client, f"/campaigns/{campaign.id}/edit", changed).status_code == 302
    campaign = only_campaign(ctx)
    assert campaign.name == "Kış indirimi 2"
    assert campaign.send_at is None
    assert [v.label for v in campaign.variants] == ["A"]


def test_editing_a_scheduled_campaign_returns_it_to_draft(
    client: Any, marketer: Any, shop: dict[str, Any], ctx: Session
) -> None:
    response = post_composer(client, "/campaigns/new", composer_data(shop, action="schedule"))
    assert response.status_code == 302
    campaign = only_campaign(ctx)
    assert campaign.state == CampaignState.SCHEDULED
    form = client.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert "Saving a change takes it back to draft" in form
    post_composer(client, f"/campaigns/{campaign.id}/edit", composer_data(shop, name="Yeni"))
    assert only_campaign(ctx).state == CampaignState.DRAFT
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "It is no longer scheduled" in page


def test_problems_are_shown_beside_the_form_with_the_input_kept(
    client: Any, marketer: Any, shop: dict[str, Any], ctx: Session
) -> None:
    data = composer_data(
        shop,
        sender="TOO-LONG-SENDER",
        **{
            "variants-0-share": "60",
            "variants-1-label": "B",
            "variants-1-share": "30",
            "variants-1-template": "İkinci metin",
        },
    )
    response = post_composer(client, "/campaigns/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "An alphanumeric sender ID has at most 11 characters." in page
    assert "The variants&#39; shares must add up to 100%." in page
    assert 'value="TOO-LONG-SENDER"' in page
    assert "İkinci metin" in page
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0

    data = composer_data(
        shop,
        action="schedule",
        **{
            "variants-0-share": "50",
            "variants-0-template": "Merhaba {{ coupon }}",
            "variants-1-label": "B",
            "variants-1-share": "50",
            "variants-1-template": "Merhaba\n{% if first_name %}{{ first_name }",
        },
    )
    response = post_composer(client, "/campaigns/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Variant A: unknown variable “coupon”." in page
    assert "Variant B, line 2:" in page
    assert "{% if first_name %}{{ first_name }" in page
    # The draft is kept (not scheduled), and the form now edits it.
    campaign = only_campaign(ctx)
    assert campaign.state == CampaignState.DRAFT
    assert f'action="/campaigns/{campaign.id}/edit"' in page
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "To fix before it can be scheduled" in page
    assert "Variant A: unknown variable “coupon”." in page


def test_live_preview_reports_encoding_parts_culprits_and_cost(
    client: Any, marketer: Any, shop: dict[str, Any], priced_route: Any
) -> None:
    data = composer_data(
        shop,
        **{
            "variants-0-template": "Merhaba {{ first_name }}, kışın fırsatları: "
            "https://shop.example/kis?kampanya=1",
        },
    )
    answer = client.post(
        "/campaigns/preview", data={"csrf_token": token(client), **data}
    ).get_json()
    (variant,) = answer["variants"]
    assert variant["error"] is None
    assert variant["encoding"] == "UCS2"
    culprits = {c["char"]: c for c in variant["culprits"]}
    assert set(culprits) == {"ş", "ı"}
    assert culprits["ı"]["count"] == 4 and culprits["ı"]["in_text"]
    assert culprits["ş"]["hint"] == "Turkish letter"
    assert variant["transliterated"].startswith("Merhaba {{ first_name }}, kisin firsatlari: ")
    # Three contacts of the audience, with a placeholder link of a real link's length and
    # the opt-out footer; the operator's code is budgeted.
    samples = variant["samples"]
    assert [s["who"] for s in samples][:2] == ["Ayşe", "Mehmet"]
    assert len(samples) == 3
    assert samples[0]["text"].startswith("Merhaba Ayşe, kışın fırsatları: http://localhost/")
    assert "shop.example" not in samples[0]["text"]
    assert samples[0]["text"].endswith("To stop receiving SMS, send RET to 4664.")
    assert variant["reserved"] == 5
    # 67 UCS-2 units per part: two parts, three for the contact with a long name; the
    # estimate counts the average of the samples.
    assert [s["parts"] for s in samples] == [2, 2, 3]
    assert variant["parts"] == 3
    assert variant["summary"] == "UCS-2 (Unicode) · 3 part(s) · 142 units, 67 per part"
    assert variant["per_message"] == "TRY0.75"
    assert answer["audience"]["count"] == 4
    assert answer["cost"]["parts"] == 9
    assert answer["cost"]["total"] == "TRY2.25"
    assert any("B001" in note for note in answer["notes"])

    gsm = composer_data(shop, **{"variants-0-template": "Merhaba {{ first_name }}"})
    answer = client.post(
        "/campaigns/preview",
        data={"csrf_token": token(client), "audience_count": "1000", **gsm},
    ).get_json()
    (variant,) = answer["variants"]
    # Only a contact's name forces UCS-2 here: nothing to transliterate in the text.
    assert (variant["encoding"], variant["parts"]) == ("UCS2", 1)
    assert [(c["char"], c["in_text"]) for c in variant["culprits"]] == [("ş", False)]
    assert variant["transliterated"] is None
    assert answer["audience"]["count"] == 1000  # passed back while the audience is unchanged
    assert answer["cost"]["total"] == "TRY250.00"


def test_live_preview_shows_template_errors_and_made_up_samples(
    client: Any, marketer: Any, shop: dict[str, Any]
) -> None:
    data = composer_data(
        shop,
        lists=[],
        **{
            "variants-0-template": "Merhaba {{ first_name }}",
            "variants-1-label": "B",
            "variants-1-share": "0",
            "variants-1-template": "Selam\n{{ first_name",
        },
    )
    answer = client.post(
        "/campaigns/preview", data={"csrf_token": token(client), **data}
    ).get_json()
    first, second = answer["variants"]
    assert answer["samples_made_up"] is True
    assert first["samples"][0]["text"].startswith("Merhaba Deniz")
    assert second["error"].startswith("Variant B, line 2:")
    assert second["samples"] == []
    assert answer["audience"]["count"] == 0


def test_preview_needs_the_csrf_token(client: Any, marketer: Any, shop: dict[str, Any]) -> None:
    assert client.post("/campaigns/preview", data=composer_data(shop)).status_code == 400


def test_count_eligible_gives_the_reasons(
    client: Any, marketer: Any, shop: dict[str, Any], ctx: Session, priced_route: Any
) -> None:
    second = ctx.get(Contact, shop["contacts"][1])
    assert second is not None
    suppression.add(ctx, [second.phone], SuppressionReason.OPTED_OUT)
    ctx.commit()
    answer = client.post(
        "/campaigns/eligible", data={"csrf_token": token(client), **composer_data(shop)}
    ).get_json()
    assert (answer["targeted"], answer["eligible"]) == (4, 2)
    reasons = {r["reason"]: (r["label"], r["count"]) for r in answer["reasons"]}
    assert reasons == {"no_consent": ("No consent", 1), "opted_out": ("Opted out", 1)}
    # Two messages at the samples' average of 4/3 parts (Ayşe's name needs UCS-2).
    assert answer["cost"]["parts"] == 3
    assert answer["cost"]["total"] == "TRY0.75"

    no_brand = composer_data(shop, brand_id="")
    response = client.post("/campaigns/eligible", data={"csrf_token": token(client), **no_brand})
    assert response.status_code == 400
    assert "brand" in response.get_json()["error"]


def lifecycle(client: Any, campaign_id: int, step: str) -> Any:
    page = f"/campaigns/{campaign_id}"
    response = client.post(
        f"{page}/{step}", data={"csrf_token": token(client, page)}, follow_redirects=True
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_schedule_pause_resume_cancel_through_the_pages(
    app: Flask,
    client: Any,
    marketer: Any,
    shop: dict[str, Any],
    ctx: Session,
    redis_client: redis.Redis,
) -> None:
    post_composer(client, "/campaigns/new", composer_data(shop))
    campaign_id = only_campaign(ctx).id

    page = lifecycle(client, campaign_id, "schedule")
    assert "Scheduled: it starts within seconds." in page
    assert only_campaign(ctx).state == CampaignState.SCHEDULED
    page = lifecycle(client, campaign_id, "unschedule")
    assert "Back to draft" in page
    assert only_campaign(ctx).state == CampaignState.DRAFT
    lifecycle(client, campaign_id, "schedule")

    # Pausing needs a campaign that is sending: the scheduler starts it.
    run_campaign(ctx, app, redis_client, noon_after(only_campaign(ctx).next_run_at or NOON))
    progress = client.get(f"/campaigns/{campaign_id}/progress.json").get_json()
    assert progress["chunks"] == 1 and progress["done"] == 1 and progress["percent"] == 100
    assert only_campaign(ctx).state == CampaignState.SENDING

    page = lifecycle(client, campaign_id, "pause")
    assert "Paused: nothing more is sent until it is resumed." in page
    assert only_campaign(ctx).state == CampaignState.PAUSED
    page = lifecycle(client, campaign_id, "pause")  # not twice
    assert "Only a campaign that is sending can be paused." in page

    stream = outbound_stream(app.config["REDIS_PREFIX"], "simulator")
    before = redis_client.xlen(stream)
    page = lifecycle(client, campaign_id, "resume")
    assert "Resumed" in page
    assert only_campaign(ctx).state == CampaignState.SENDING
    queued = ctx.scalar(
        sa.select(sa.func.count())
        .select_from(Message)
        .where(Message.campaign_id == campaign_id, Message.state == PartState.QUEUED)
    )
    assert queued
    assert redis_client.xlen(stream) == before + queued

    page = lifecycle(client, campaign_id, "cancel")
    assert "Cancelled:" in page
    assert only_campaign(ctx).state == CampaignState.CANCELLED
    assert "Yes, cancel the campaign" not in page  # no more buttons
    remaining = ctx.scalars(
        sa.select(Message.state).where(Message.campaign_id == campaign_id)
    ).all()
    assert PartState.QUEUED not in remaining


def test_cancel_asks_for_confirmation_and_needs_the_token(
    client: Any, marketer: Any, shop: dict[str, Any], ctx: Session
) -> None:
    post_composer(client, "/campaigns/new", composer_data(shop))
    campaign_id = only_campaign(ctx).id
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Cancel campaign…" in page and "This cannot be undone." in page
    assert client.post(f"/campaigns/{campaign_id}/cancel").status_code == 400
    assert only_campaign(ctx).state == CampaignState.DRAFT


def test_campaign_page_shows_the_funnel_reasons_and_recipients(
    monkeypatch: pytest.MonkeyPatch,
    app: Flask,
    client: Any,
    marketer: Any,
    shop: dict[str, Any],
    ctx: Session,
    redis_client: redis.Redis,
) -> None:
    campaign = campaigns.save(
        ctx,
        campaigns.CampaignInput(
            name="Kış",
            traffic=Traffic.COMMERCIAL,
            sender="SHOP",
            connection="simulator",
            brand_id=shop["brand"],
            audience={"lists": [shop["list"]]},
            variants=[campaigns.VariantInput("A", 100, "Merhaba {{ first_name }}")],
        ),
        user_id=None,
    )
    campaigns.schedule(ctx, campaign, routes(app), NOON)
    run_campaign(ctx, app, redis_client, NOON)

    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="funnel-figure"' in page and "/static/vendor/plotly.min.js" in page
    assert '<tr data-step="targeted"><td>Targeted</td><td class="num">4</td>' in page
    assert '<tr data-step="eligible"><td>Eligible</td><td class="num">3</td>' in page
    assert "No consent" in page
    assert page.count("+905321000003") == 1  # the one without consent, in the table
    page = client.get(f"/campaigns/{campaign.id}?reason=no_consent").get_data(as_text=True)
    assert "+905321000003" in page and "+905321000000" not in page
    listing = client.get("/campaigns/?state=sending").get_data(as_text=True)
    assert "Kış" in listing and '<td class="num">4</td>' in listing
    assert "Kış" not in client.get("/campaigns/?state=draft").get_data(as_text=True)

    # Keyset pages of the recipients.
    monkeypatch.setattr(views, "RECIPIENTS_PAGE", 2)
    first = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "+905321000000" in first and "+905321000002" not in first
    rows = ctx.scalars(sa.select(Recipient.id).order_by(Recipient.id)).all()
    second = client.get(f"/campaigns/{campaign.id}?after={rows[1]}").get_data(as_text=True)
    assert "+905321000002" in second and "+905321000000" not in second


def test_recipients_export_is_formula_safe(
    app: Flask,
    client: Any,
    marketer: Any,
    shop: dict[str, Any],
    ctx: Session,
    redis_client: redis.Redis,
) -> None:
    campaign = campaigns.save(
        ctx,
        campaigns.CampaignInput(
            name="Kış",
            traffic=Traffic.COMMERCIAL,
            sender="SHOP",
            connection="simulator",
            brand_id=shop["brand"],
            audience={"lists": [shop["list"]]},
            variants=[campaigns.VariantInput("A", 100, "Merhaba")],
        ),
        user_id=None,
    )
    campaigns.schedule(ctx, campaign, routes(app), NOON)
    run_campaign(ctx, app, redis_client, NOON)

    response = client.get(f"/campaigns/{campaign.id}/recipients.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["Phone", "First name", "Last name", "Variant", "Status"]
    by_phone = {row[0]: row for row in rows[1:]}
    assert set(by_phone) == {f"+90532100000{n}" for n in range(4)}  # numbers stay readable
    assert by_phone["+905321000002"][1] == '\'=HYPERLINK("http://x")'
    assert by_phone["+905321000003"][4:6] == ["Skipped", "No consent"]
    filtered = client.get(f"/campaigns/{campaign.id}/recipients.csv?status=skipped")
    assert len(list(csv.reader(io.StringIO(filtered.get_data(as_text=True))))) == 2


def test_test_send_queues_the_rendered_text(
    app: Flask,
    client: Any,
    marketer: Any,
    shop: dict[str, Any],
    ctx: Session,
    redis_client: redis.Redis,
) -> None:
    post_composer(
        client,
        "/campaigns/new",
        composer_data(
            shop,
            **{
                "variants-0-template": "Merhaba {{ first_name | default('dostum') }}! https://shop.example/kis"
            },
        ),
    )
    campaign = only_campaign(ctx)
    variant_id = campaign.variants[0].id
    page = f"/campaigns/{campaign.id}"
    response = client.post(
        f"{page}/test",
        data={"csrf_token": token(client, page), "phone": "0532 100 00 00", "variant": variant_id},
        follow_redirects=True,
    )
    assert "Test message queued for +905321000000" in response.get_data(as_text=True)
    message = ctx.scalars(sa.select(Message)).one()
    assert message.body == (
        "Merhaba Ayşe! https://shop.example/kis\nTo stop receiving SMS, send RET to 4664."
    )
    assert (message.source, message.traffic, message.campaign_id) == (
        "SHOP",
        Traffic.COMMERCIAL,
        None,
    )
    assert redis_client.xlen(outbound_stream(app.config["REDIS_PREFIX"], "simulator")) == 1

    response = client.post(
        f"{page}/test",
        data={"csrf_token": token(client, page), "phone": "12", "variant": variant_id},
        follow_redirects=True,
    )
    assert "Test message queued" not in response.get_data(as_text=True)
    suppression.add(ctx, ["+905551112233"], SuppressionReason.OPTED_OUT)
    ctx.commit()
    response = client.post(
        f"{page}/test",
        data={"csrf_token": token(client, page), "phone": "+905551112233", "variant": variant_id},
        follow_redirects=True,
    )
    assert "suppression list" in response.get_data(as_text=True)
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_recurring_schedule_is_kept_on_the_chosen_clock(
    client: Any, marketer: Any, shop: dict[str, Any], ctx: Session
) -> None:
    data = composer_data(
        shop,
        when="recurring",
        send_at="2030-04-29T10:00",
        time_zone="Europe/London",
        recurrence="monthly",
        recurrence_end="2030-12-31",
    )
    assert post_composer(client, "/campaigns/new", data).status_code == 302
    campaign = only_campaign(ctx)
    assert campaign.recurrence == Recurrence.MONTHLY
    assert campaign.send_at == datetime(2030, 4, 29, 9, 0, tzinfo=UTC)  # BST
    assert campaign.recurrence_end == datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)
    missing = composer_data(shop, when="at", send_at="")
    response = post_composer(client, "/campaigns/new", missing)
    assert "Choose the date and time of the sending." in response.get_data(as_text=True)


def test_turkish_users_see_turkish_money(
    client: Any, make_user: UserFactory, shop: dict[str, Any], priced_route: Any
) -> None:
    login(client, make_user(Role.MARKETER, locale="tr").email)
    answer = client.post(
        "/campaigns/preview",
        data={
            "csrf_token": token(client),
            **composer_data(shop, **{"variants-0-template": "Merhaba"}),
        },
    ).get_json()
    assert answer["variants"][0]["per_message"] == "₺0,25"
    assert answer["cost"]["total"] == "₺1,00"


def test_compose_preview_schedule_and_watch_in_a_browser(
    page: Page, live_server: str, live_user: UserFactory, app: Flask
) -> None:
    marketer = live_user(Role.MARKETER)
    with app.app_context(), db.transaction() as session:
        brand = Brand(code="SHOP", name="Shop")
        audience = ContactList(name="VIP")
        contacts = [
            Contact(phone=f"+9053220000{n}", first_name=name, time_zone="Europe/Istanbul")
            for n, name in enumerate(["Mehmet", "Can", "Elif"])
        ]
        session.add_all([brand, audience, *contacts])
        session.flush()
        session.add_all(ListMember(list_id=audience.id, contact_id=c.id) for c in contacts)
        consent.record(
            session,
            [
                consent.NewEvent(
                    contact_id=c.id,
                    recipient=c.phone,
                    brand_id=brand.id,
                    status=ConsentStatus.ONAY,
                    source="HS_WEB",
                    consent_at=utcnow() - timedelta(days=1),
                    actor=Actor.USER,
                )
                for c in contacts
            ],
        )
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    sign_in(page, live_server, marketer.email)
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill("Kış indirimi")
    page.get_by_label("Brand").select_option(label="Shop (SHOP)")
    page.get_by_label("Sender ID").fill("SHOP")
    page.get_by_label("Lists", exact=True).select_option(label="VIP")
    expect(page.get_by_text("3 contacts in the audience")).to_be_visible()

    text = page.get_by_label("Text", exact=True)
    text.fill("Merhaba {{ first_name }}! Kış fırsatları başladı: https://shop.example/kis")
    summary = page.get_by_test_id("variant-summary")
    expect(summary).to_contain_text("UCS-2 (Unicode) · 2 part(s)")
    culprits = page.get_by_test_id("culprits")
    expect(culprits.locator("code", has_text="ş")).to_be_visible()
    expect(culprits.locator("code", has_text="ı")).to_be_visible()
    expect(page.get_by_test_id("preview-variant").locator(".bubble").first).to_contain_text(
        "Merhaba Mehmet! Kış fırsatları başladı: http://127.0.0.1"
    )
    page.get_by_role("button", name="Transliterate").click()
    expect(text).to_have_value(
        "Merhaba {{ first_name }}! Kis firsatlari basladi: https://shop.example/kis"
    )
    expect(summary).to_contain_text("GSM 7-bit · 1 part(s)")
    expect(culprits).to_have_count(0)
    text.press("End")
    text.type(" Sepette ek yuzde 10 indirim, kargo bedava; stoklar sinirli, acele edin!")
    expect(summary).to_contain_text("GSM 7-bit · 2 part(s)")
    page.get_by_role("button", name="Count eligible").click()
    expect(page.get_by_test_id("eligible")).to_contain_text("3 of 3 may receive it")
    expect(page.get_by_test_id("cost")).to_contain_text("6 parts to 3 eligible recipients")
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.evaluate("window.scrollTo(0, 0); document.getElementById('preview').scrollTop = 0")
    shot(page, "campaign-composer", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Save and schedule").click()
    expect(page.get_by_text("Scheduled: it starts within seconds.")).to_be_visible()
    expect(page.get_by_test_id("state")).to_have_text("Scheduled")

    # The scheduler's tick and the chunk job, in place; the page polls and reloads.
    with app.app_context(), db.transaction() as session:
        now = utcnow() + timedelta(seconds=1)
        fanout.start_due_runs(session, now)
        chunks = fanout.release_chunks(session, now)
    for chunk_id in chunks:
        with app.app_context(), db.transaction() as session:
            sending = fanout.Sending.from_app(app.extensions["interactive.redis"], now)
            fanout.expand_chunk(session, chunk_id, sending)
    expect(page.get_by_test_id("state")).to_have_text("Sending", timeout=15_000)
    expect(page.locator("#funnel [data-step='targeted'] td.num").first).to_have_text("3")
    expect(page.locator("#funnel-chart .main-svg").first).to_be_attached()
    expect(page.locator("#campaign-progress progress")).to_have_attribute("value", "100")
    shot(page, "campaign-page")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("state")).to_have_text("Paused")
    page.get_by_text("Cancel campaign…").click()
    page.get_by_role("button", name="Yes, cancel the campaign").click()
    expect(page.get_by_test_id("state")).to_have_text("Cancelled")
    assert not [p for p in problems if "Content Security Policy" in p], problems
