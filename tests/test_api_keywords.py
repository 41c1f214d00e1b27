"""The keywords API: short codes, keyword rules (with their 409 problems) and webhooks
(secret shown once, rotation, test delivery, SSRF refusal)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode
from sqlalchemy.orm import Session

from interactive.api.openapi import openapi_document
from interactive.contacts.models import Brand, ContactList
from interactive.keywords.models import KeywordRule, Webhook
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.outbound import webhooks as signing
from interactive.web.models import Role
from tests.conftest import make_api_key
from tests.keywords.test_webhooks import Receiver

RULES = "/api/v1/keyword-rules"
HOOKS = "/api/v1/webhooks"


@pytest.fixture
def setup(ctx: Session) -> dict[str, Any]:
    code = ensure_short_codes(ctx, [("4664", "simulator")])["4664"]
    brand, vip = Brand(code="ACME", name="Acme"), ContactList(name="VIP")
    ctx.add_all([brand, vip])
    ctx.commit()
    return {
        "code_id": code.id,
        "brand_id": brand.id,
        "list_id": vip.id,
        "admin": _auth(make_api_key("admin")),
        "marketer": _auth(make_api_key("campaigner", Role.MARKETER)),
        "viewer": _auth(make_api_key("board", Role.VIEWER)),
    }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problems(response: Any, code: str) -> list[dict[str, Any]]:
    assert response.status_code == 409, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == code
    return list(error["details"])


def _rule(client: Any, setup: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"short_code_id": setup["code_id"], "keyword": "KAZAN", **fields}
    response = client.post(RULES, json=body, headers=setup["marketer"])
    assert response.status_code == 201, response.get_data(as_text=True)
    return dict(response.json)


def test_short_codes_are_read_by_marketers_and_changed_by_admins(
    client: Any, setup: dict[str, Any]
) -> None:
    url = f"/api/v1/short-codes/{setup['code_id']}"
    listed = client.get("/api/v1/short-codes", headers=setup["marketer"])
    assert listed.status_code == 200
    (item,) = listed.json["items"]
    assert item["code"] == "4664" and "RET" in item["opt_out_keywords"]
    assert item["rule_count"] == 0 and item["replies"] == {}
    assert client.get(url, headers=setup["viewer"]).status_code == 403
    change = {"opt_out_keywords": ["RET", "DUR"], "brand_id": setup["brand_id"]}
    assert client.patch(url, json=change, headers=setup["marketer"]).status_code == 403

    changed = client.patch(
        url,
        json={
            **change,
            "scoped_opt_outs": {"KAMPANYA": {"list_id": setup["list_id"]}},
            "replies": {"help": {"tr": "{{ brand }}: RET yazın.", "en": None}},
        },
        headers=setup["admin"],
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    body = changed.json
    assert body["opt_out_keywords"] == ["RET", "DUR"] and body["brand_id"] == setup["brand_id"]
    assert body["scoped_opt_outs"] == {"KAMPANYA": {"list_id": setup["list_id"]}}
    assert body["replies"] == {"help": {"tr": "{{ brand }}: RET yazın."}}
    assert "KATIL" in body["opt_in_keywords"]  # left out: unchanged

    refused = client.patch(url, json={"help_keywords": ["dur"]}, headers=setup["admin"])
    (detail,) = _problems(refused, "short_code_problems")
    assert detail["field"] == "help_keywords" and "two lists" in detail["message"]
    wrong = client.patch(url, json={"opt_out_keywords": []}, headers=setup["admin"])
    assert wrong.status_code == 422
    missing = client.patch("/api/v1/short-codes/999", json={}, headers=setup["admin"])
    assert missing.status_code == 404


def test_keyword_rules_crud(client: Any, setup: dict[str, Any]) -> None:
    assert client.get(RULES, headers=setup["viewer"]).status_code == 403
    rule = _rule(
        client,
        setup,
        aliases=["KAZANÇ"],
        priority=5,
        handler="subscribe",
        settings={"list_id": setup["list_id"]},
        reply_tr="Tebrikler {{ first_name | default('') }}",
        active_until="2031-06-01T00:00:00+03:00",
    )
    assert rule["short_code"] == "4664" and rule["match_mode"] == "first_word"
    assert rule["active_until"] == "2031-05-31T21:00:00Z" and rule["fuzzy"] is True
    other = _rule(client, setup, keyword="MENU")

    page = client.get(RULES, query_string={"limit": 1}, headers=setup["marketer"]).json
    assert [r["id"] for r in page["items"]] == [rule["id"]] and page["next_cursor"] == rule["id"]
    page = client.get(
        RULES,
        query_string={"after": rule["id"], "short_code_id": setup["code_id"]},
        headers=setup["marketer"],
    ).json
    assert [r["id"] for r in page["items"]] == [other["id"]] and page["next_cursor"] is None
    assert (
        client.get(RULES, query_string={"short_code_id": 999}, headers=setup["marketer"]).json[
            "items"
        ]
        == []
    )
    assert client.get(RULES, query_string={"limt": 1}, headers=setup["marketer"]).status_code == 422

    url = f"{RULES}/{rule['id']}"
    assert client.get(url, headers=setup["marketer"]).json["aliases"] == ["KAZANÇ"]
    patched = client.patch(url, json={"active": False}, headers=setup["marketer"])
    assert patched.status_code == 200
    assert patched.json["active"] is False and patched.json["aliases"] == ["KAZANÇ"]
    replaced = client.put(
        url, json={"short_code_id": setup["code_id"], "keyword": "ÖDÜL"}, headers=setup["marketer"]
    )
    assert replaced.status_code == 200
    assert replaced.json["aliases"] == [] and replaced.json["handler"] == "auto_reply"
    assert replaced.json["active_until"] is None and replaced.json["active"] is True

    assert client.delete(url, headers=setup["marketer"]).status_code == 204
    assert client.get(url, headers=setup["marketer"]).status_code == 404
    assert client.delete(url, headers=setup["marketer"]).status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"keyword": "İptal"}, "keyword", "is an opt-out word of short code 4664"),
        ({"keyword": "MENÜ"}, "keyword", "already a keyword of rule MENU"),
        ({"keyword": "?!"}, "keyword", "needs a letter or digit"),
        ({"match_mode": "regex", "pattern": "(x"}, "pattern", "Not a valid regular expression"),
        ({"handler": "teleport"}, "handler", "Unknown handler"),
        (
            {"handler": "webhook", "settings": {"webhook_id": 99}},
            "settings.webhook_id",
            "No webhook",
        ),
        ({"reply_en": "{{ coupon }}"}, "reply_en", "Unknown variable “coupon”"),
        ({"keyword": "STOMP"}, "fuzzy", "mistyped opt-out word STOP"),
        (
            {"active_from": "2031-01-02T00:00:00Z", "active_until": "2031-01-01T00:00:00Z"},
            "active_until",
            "after the start",
        ),
        ({"short_code_id": 999}, "short_code_id", "No short code"),
    ],
)
def test_rules_that_cannot_be_saved_answer_409_with_details(
    client: Any, setup: dict[str, Any], fields: dict[str, Any], field: str, text: str
) -> None:
    _rule(client, setup, keyword="MENU")
    body = {"short_code_id": setup["code_id"], "keyword": "KAZAN", **fields}
    details = _problems(client.post(RULES, json=body, headers=setup["marketer"]), "rule_problems")
    assert details[0]["field"] == field and text in details[0]["message"], details


def test_webhooks_crud_secret_once_rotation_and_test(
    app: Flask, client: Any, setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = setup["marketer"]
    with Receiver() as receiver:
        refused = client.post(HOOKS, json={"name": "CRM", "url": receiver.url}, headers=headers)
        (detail,) = _problems(refused, "webhook_problems")
        assert detail["field"] == "url" and "private, loopback" in detail["message"]
        monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
        created = client.post(HOOKS, json={"name": "CRM", "url": receiver.url}, headers=headers)
        assert created.status_code == 201, created.get_data(as_text=True)
        hook = created.json
        secret = hook["secret"]
        assert secret and hook["recent_deliveries"] == [] and hook["active"] is True
        url = f"{HOOKS}/{hook['id']}"
        assert client.get(url, headers=headers).json["secret"] is None
        assert client.get(HOOKS, headers=headers).json["items"][0]["secret"] is None
        again = client.post(HOOKS, json={"name": "CRM", "url": receiver.url}, headers=headers)
        assert _problems(again, "webhook_problems")[0]["field"] == "name"

        tested = client.post(f"{url}/test", headers=headers)
        assert tested.status_code == 200 and tested.json["ok"] is True
        request_headers, body = receiver.requests[0]
        assert signing.verify(
            secret,
            request_headers["X-Interactive-Timestamp"],
            body,
            request_headers["X-Interactive-Signature"],
        )
        receiver.statuses = [503]
        failed = client.post(f"{url}/test", headers=headers).json
        assert failed["ok"] is False and failed["delivery"]["last_error"] == "HTTP 503"
        assert failed["delivery"]["inbound_id"] is None

    rotated = client.patch(url, json={"rotate_secret": True}, headers=headers).json
    assert rotated["secret"] and rotated["secret"] != secret
    assert [d["state"] for d in rotated["recent_deliveries"]] == ["failed", "delivered"]
    renamed = client.patch(url, json={"name": "CRM 2", "active": False}, headers=headers).json
    assert renamed["secret"] is None and renamed["name"] == "CRM 2" and not renamed["active"]
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    moved = client.patch(url, json={"url": "http://169.254.169.254/x"}, headers=headers)
    assert _problems(moved, "webhook_problems")[0]["field"] == "url"

    _rule(client, setup, handler="webhook", settings={"webhook_id": hook["id"]})
    in_use = client.delete(url, headers=headers)
    assert (
        "Rules forward to this webhook: KAZAN"
        in _problems(in_use, "webhook_problems")[0]["message"]
    )
    client.delete(
        f"{RULES}/{client.get(RULES, headers=headers).json['items'][0]['id']}", headers=headers
    )
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.post(f"{url}/test", headers=headers).status_code == 404


# The schema test of the whole API only meets random ids (404). Here every schema-valid
# request goes to a short code, rule and webhook that exist: each answer must be documented
# (2xx, or 409 with its problems), never a 500. Test deliveries are left out: they would
# POST to whatever URL was generated.
existing = schemathesis.openapi.from_dict(openapi_document()).include(
    path_regex=r"^/(short-codes|keyword-rules|webhooks)/\{[a-z_]+\}$"
)
existing.config.generation.update(modes=[GenerationMode.POSITIVE])


@pytest.fixture
def objects(ctx: Session, setup: dict[str, Any]) -> dict[str, Any]:
    hook = Webhook(name="CRM", url="https://hooks.example/sms", secret="s" * 43)
    rule = KeywordRule(short_code_id=setup["code_id"], keyword="KAZAN")
    ctx.add_all([hook, rule])
    ctx.commit()
    return {
        "short_code_id": setup["code_id"],
        "rule_id": rule.id,
        "webhook_id": hook.id,
        "admin": setup["admin"],
    }


@existing.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_valid_changes_to_existing_objects_never_fail(
    case: Any, app: Flask, objects: dict[str, Any]
) -> None:
    case.operation.schema.app = app
    case.operation.app = app
    case.path_parameters = {
        name: objects[name] for name in (case.path_parameters or {}) if name in objects
    }
    case.call_and_validate(headers=objects["admin"])
