"""The keyword pages: short codes and their words, rules with the "test a message" box,
webhooks with their secret shown once, the test button and recent deliveries."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts.models import Brand, ContactList
from interactive.keywords import rules
from interactive.keywords.models import (
    Decision,
    KeywordRule,
    ShortCode,
    Webhook,
    WebhookDelivery,
)
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import csrf_token, login, post_form
from tests.keywords.routing import route_text
from tests.keywords.test_webhooks import Receiver


@pytest.fixture
def admin(client: Any, make_user: UserFactory) -> Any:
    user = make_user(Role.ADMIN)
    login(client, user.email)
    return user


@pytest.fixture
def marketer(client: Any, make_user: UserFactory) -> Any:
    user = make_user(Role.MARKETER)
    login(client, user.email)
    return user


def _code(ctx: Session) -> ShortCode:
    code = ctx.scalar(sa.select(ShortCode).where(ShortCode.code == "4664"))
    assert code is not None
    return code


def _rule_form(**changes: Any) -> dict[str, Any]:
    form = {
        "keyword": "KAZAN",
        "aliases": "",
        "match_mode": "first_word",
        "pattern": "",
        "priority": "0",
        "fuzzy": "y",
        "fold_accents": "y",
        "active": "y",
        "active_from": "",
        "active_until": "",
        "handler": "auto_reply",
        "list_id": "0",
        "webhook_id": "0",
        "reply_tr": "",
        "reply_en": "",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_the_configured_short_code_is_listed_with_links_by_permission(
    client: Any, ctx: Session, admin: Any
) -> None:
    page = client.get("/keywords/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "4664" in html and "simulator" in html
    code = _code(ctx)
    assert f"/keywords/short-codes/{code.id}/rules" in html
    assert f"/keywords/short-codes/{code.id}" in html
    assert 'href="/keywords/"' in client.get("/campaigns/").get_data(as_text=True)


def test_a_marketer_edits_rules_but_not_the_short_codes_words(
    client: Any, ctx: Session, marketer: Any
) -> None:
    html = client.get("/keywords/").get_data(as_text=True)
    code = _code(ctx)
    assert "Words and replies" not in html
    assert client.get(f"/keywords/short-codes/{code.id}").status_code == 403
    assert client.get(f"/keywords/short-codes/{code.id}/rules").status_code == 200
    assert client.get("/keywords/webhooks").status_code == 200


def test_desk_users_cannot_open_keyword_pages(client: Any, make_user: UserFactory) -> None:
    login(client, make_user(Role.DESK).email)
    assert client.get("/keywords/").status_code == 403
    assert client.get("/keywords/webhooks").status_code == 403


def test_short_code_words_and_replies_are_saved_and_refused_in_place(
    client: Any, ctx: Session, admin: Any
) -> None:
    client.get("/keywords/")
    code = _code(ctx)
    url = f"/keywords/short-codes/{code.id}"
    html = client.get(url).get_data(as_text=True)
    assert "İPTAL" in html  # the default words are in the form
    vip = ContactList(name="VIP list")
    ctx.add(vip)
    ctx.commit()
    form = {
        "brand_id": "0",
        "opt_out_keywords": "RET\nİPTAL, STOP",
        "opt_in_keywords": "KATIL\nSTOP",
        "help_keywords": "YARDIM",
        "opt_out_phrases": "mesaj istemiyorum\n",
        "scoped_opt_outs": "KAMPANYA = list: VIP list",
        "confirm_keyword": "EVET",
        "attribution_hours": "48",
        "reply_opt_out_tr": "{{ brand }}: listeden çıktınız.",
        "reply_help_en": "{% if %}",
    }
    refused = post_form(client, url, **form)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "is in two lists" in text and "STOP" in text
    assert "Line 1" in text or "Expected an expression" in text
    ctx.refresh(code)
    assert code.attribution_hours == 72
    form.update(opt_in_keywords="KATIL\nEVET", reply_help_en="Help: {{ code }}")
    saved = post_form(client, url, **form)
    assert saved.status_code == 302
    ctx.refresh(code)
    assert code.opt_out_keywords == ["RET", "İPTAL", "STOP"]
    assert code.scoped_opt_outs == {"KAMPANYA": {"list_id": vip.id}}
    assert code.replies == {
        "opt_out": {"tr": "{{ brand }}: listeden çıktınız."},
        "help": {"en": "Help: {{ code }}"},
    }
    assert code.attribution_hours == 48
    assert "KAMPANYA = list: VIP list" in client.get(url).get_data(as_text=True)


def test_rules_are_created_listed_by_priority_toggled_and_deleted(
    client: Any, ctx: Session, marketer: Any
) -> None:
    client.get("/keywords/")
    code = _code(ctx)
    new = f"/keywords/short-codes/{code.id}/rules/new"
    assert post_form(client, new, **_rule_form(keyword="MENU", priority="1")).status_code == 302
    response = post_form(client, new, **_rule_form(keyword="KAZAN", priority="5"))
    assert response.status_code == 302
    listing = client.get(f"/keywords/short-codes/{code.id}/rules").get_data(as_text=True)
    assert listing.index("KAZAN") < listing.index("MENU")

    # A word of the short code, and a word another rule has, are refused by the field.
    html = post_form(client, new, **_rule_form(keyword="iptal")).get_data(as_text=True)
    assert "is an opt-out word of short code 4664" in html
    html = post_form(client, new, **_rule_form(keyword="menü")).get_data(as_text=True)
    assert "is already a keyword of rule MENU" in html
    html = post_form(client, new, **_rule_form(keyword="LISTE", handler="subscribe")).get_data(
        as_text=True
    )
    assert "This handler needs this setting." in html

    rule = ctx.scalar(sa.select(KeywordRule).where(KeywordRule.keyword == "KAZAN"))
    assert rule is not None
    page = client.get(f"/keywords/short-codes/{code.id}/rules")
    token = csrf_token(page.get_data(as_text=True))
    assert (
        client.post(f"/keywords/rules/{rule.id}/toggle", data={"csrf_token": token}).status_code
        == 302
    )
    ctx.refresh(rule)
    assert rule.active is False
    edit = f"/keywords/rules/{rule.id}"
    assert "KAZAN" in client.get(edit).get_data(as_text=True)
    changed = post_form(client, edit, **_rule_form(keyword="KAZAN", aliases="KAZANÇ, ÖDÜL"))
    assert changed.status_code == 302
    ctx.refresh(rule)
    assert rule.aliases == ["KAZANÇ", "ÖDÜL"] and rule.active
    response = client.post(f"/keywords/rules/{rule.id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert ctx.get(KeywordRule, rule.id) is None


def test_a_subscribe_rule_names_its_list_and_times_are_the_users(
    client: Any, ctx: Session, marketer: Any
) -> None:
    client.get("/keywords/")
    code = _code(ctx)
    vip = ContactList(name="VIP")
    ctx.add(vip)
    ctx.commit()
    form = _rule_form(
        keyword="KATILIM",
        handler="subscribe",
        list_id=str(vip.id),
        active_from="2026-05-01T09:00",
        active_until="2026-05-31T21:00",
        reply_tr="Listeye eklendiniz, {{ first_name | default('') }}",
    )
    assert (
        post_form(client, f"/keywords/short-codes/{code.id}/rules/new", **form).status_code == 302
    )
    rule = ctx.scalar(sa.select(KeywordRule).where(KeywordRule.keyword == "KATILIM"))
    assert rule is not None and rule.settings == {"list_id": vip.id}
    assert (
        rule.active_from is not None and rule.active_from.isoformat() == "2026-05-01T06:00:00+00:00"
    )
    html = client.get(f"/keywords/rules/{rule.id}").get_data(as_text=True)
    assert 'value="2026-05-01T09:00"' in html


def test_the_test_box_explains_without_routing(client: Any, ctx: Session, marketer: Any) -> None:
    client.get("/keywords/")
    code = _code(ctx)
    kazan = rules.create_rule(ctx, rules.RuleInput(short_code_id=code.id, keyword="KAZAN"))
    ctx.commit()
    page = f"/keywords/short-codes/{code.id}/rules"

    def answer(text: str) -> str:
        return client.get(page, query_string={"text": text}).get_data(as_text=True)

    assert "Keyword rule" in answer("kazan") and f"/keywords/rules/{kazan.id}" in answer("kazan")
    assert "as a typo of" in answer("kazn")
    assert "the opt-out word RET" in answer("ret")
    assert "no keyword matched" in answer("<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in answer("<script>alert(1)</script>")


def test_the_part_count_of_a_reply(client: Any, marketer: Any) -> None:
    data = client.get("/keywords/parts", query_string={"text": "Merhaba"}).get_json()
    assert data == {"parts": 1, "encoding": "GSM7", "characters": 7}
    data = client.get("/keywords/parts", query_string={"text": "ş" * 71}).get_json()
    assert data["parts"] == 2 and data["encoding"] == "UCS2"


def test_webhooks_secret_shown_once_test_button_and_deliveries(
    app: Flask, client: Any, ctx: Session, marketer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = post_form(
        client, "/keywords/webhooks/new", name="CRM", url="http://127.0.0.1:9/hook", active="y"
    )
    assert "private, loopback or reserved" in refused.get_data(as_text=True)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    with Receiver() as receiver:
        created = post_form(
            client, "/keywords/webhooks/new", name="CRM", url=receiver.url, active="y"
        )
        html = created.get_data(as_text=True)
        webhook = ctx.scalar(sa.select(Webhook))
        assert webhook is not None
        assert created.status_code == 200 and webhook.secret in html
        page = f"/keywords/webhooks/{webhook.id}"
        shown = client.get(page).get_data(as_text=True)
        assert webhook.secret not in shown
        token = csrf_token(shown)
        tested = client.post(f"{page}/test", data={"csrf_token": token}, follow_redirects=True)
        assert "Test delivered" in tested.get_data(as_text=True)
        receiver.statuses = [500]
        tested = client.post(f"{page}/test", data={"csrf_token": token}, follow_redirects=True)
        text = tested.get_data(as_text=True)
        assert "Test failed: HTTP 500" in text
        assert len(receiver.requests) == 2
    assert ctx.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 2
    rotated = client.post(f"{page}/rotate", data={"csrf_token": token})
    ctx.refresh(webhook)
    assert webhook.secret in rotated.get_data(as_text=True)

    # A rule forwards to it: it cannot be deleted until the rule changes.
    rules.create_rule(
        ctx,
        rules.RuleInput(
            short_code_id=ctx.scalar(sa.select(ShortCode.id)) or _make_code(ctx),
            keyword="CRM",
            handler="webhook",
            settings={"webhook_id": webhook.id},
        ),
    )
    ctx.commit()
    kept = client.post(f"{page}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Rules forward to this webhook: CRM" in kept.get_data(as_text=True)
    ctx.execute(sa.delete(KeywordRule))
    ctx.commit()
    gone = client.post(f"{page}/delete", data={"csrf_token": token})
    assert gone.status_code == 302 and ctx.get(Webhook, webhook.id) is None
    assert ctx.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0


def _make_code(ctx: Session) -> int:
    code = ShortCode(code="4664", connection="simulator")
    ctx.add(code)
    ctx.flush()
    return code.id


def test_the_brand_form_sets_what_opt_out_phrases_do(client: Any, ctx: Session, admin: Any) -> None:
    form = {"code": "ACME", "name": "Acme", "frequency_days": "7"}
    assert post_form(client, "/consent/brands/new", **form).status_code == 302
    brand = ctx.scalars(sa.select(Brand)).one()
    assert brand.opt_out_phrase_policy == "suppress"  # the default
    page = client.get(f"/consent/brands/{brand.id}").get_data(as_text=True)
    assert "Hold in the inbox for a person to confirm" in page
    edited = post_form(
        client, f"/consent/brands/{brand.id}", **form, opt_out_phrase_policy="review"
    )
    assert edited.status_code == 302
    ctx.refresh(brand)
    assert brand.opt_out_phrase_policy == "review"
    code = ShortCode(code="4664", connection="sim", brand_id=brand.id)
    ctx.add(code)
    ctx.flush()
    code.opt_out_keywords, code.opt_out_phrases = ["RET"], ["mesaj istemiyorum"]
    ctx.flush()
    assert route_text(ctx, "Mesaj istemiyorum!").decision == Decision.REVIEW
    assert route_text(ctx, "RET").decision == Decision.OPT_OUT
