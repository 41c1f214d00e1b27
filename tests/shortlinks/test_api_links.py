"""The links API: create a standalone link, read one with its clicks by kind."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from interactive.shortlinks import codec, jobs, service
from interactive.shortlinks.service import NewLink
from interactive.web.models import Role
from tests.conftest import make_api_key


@pytest.fixture
def api_key(ctx: Session) -> str:
    return make_api_key("links", Role.MARKETER)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_and_read_a_link(client: Any, app: Flask, api_key: str) -> None:
    response = client.post(
        "/api/v1/links",
        json={
            "target_url": "https://shop.example/menu",
            "name": "Menu",
            "expires_at": "2099-01-01T12:00:00+03:00",
            "fallback_url": "https://shop.example/",
            "utm": {"utm_source": "api", "utm_medium": "sms"},
        },
        headers=_auth(api_key),
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["short_url"] == f"http://localhost/{body['code']}"
    assert len(body["code"]) == 10
    assert body["expires_at"] == "2099-01-01T09:00:00Z"
    assert body["status"] == "active"
    assert body["utm"] == {"utm_source": "api", "utm_medium": "sms"}
    assert body["clicks"] == {"human": 0, "preview": 0, "scanner": 0, "head": 0, "total": 0}

    location = client.get(f"/{body['code']}", headers={"User-Agent": "curl/8.4.0"}).headers[
        "Location"
    ]
    assert location.startswith("https://shop.example/menu?utm_source=api&utm_medium=sms&ic=")
    client.head(f"/{body['code']}")
    with app.app_context():
        assert jobs.drain_clicks() == 2
    again = client.get(f"/api/v1/links/{body['id']}", headers=_auth(api_key)).json
    assert again["clicks"] == {"human": 0, "preview": 0, "scanner": 1, "head": 1, "total": 2}


def test_campaign_links_can_be_read(client: Any, app: Flask, ctx: Session, api_key: str) -> None:
    (code,) = service.create_campaign_links(ctx, [NewLink("https://a.example", campaign_id=5)])
    ctx.commit()
    decoded = codec.decode(code, app.config["SHORTLINK_SECRET"])
    assert decoded is not None
    body = client.get(f"/api/v1/links/{decoded[0]}", headers=_auth(api_key)).json
    assert (body["code"], body["campaign_id"], body["name"]) == (code, 5, None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"target_url": "javascript:alert(1)//"}, "target_url"),
        ({"target_url": "https://user:pw@shop.example"}, "target_url"),
        ({"target_url": "https://a.example", "expires_at": "tomorrow"}, "expires_at"),
        ({"target_url": "https://a.b.example:70000/"}, "target_url"),
        ({"target_url": "https://a.example", "expires_at": 4102444800}, "expires_at"),
        ({"target_url": "https://a.example", "utm": {"source": "x"}}, "utm.source"),
        ({"target_url": "https://a.example", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: Any, api_key: str, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/links", json=payload, headers=_auth(api_key))
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json["error"]["details"]]


def test_a_past_expiry_makes_an_expired_link(client: Any, api_key: str) -> None:
    response = client.post(
        "/api/v1/links",
        json={"target_url": "https://a.example", "expires_at": "2001-01-01T00:00:00"},
        headers=_auth(api_key),
    )
    assert response.status_code == 201
    assert response.json["status"] == "expired"
    assert response.json["expires_at"] == "2001-01-01T00:00:00Z"
    assert client.get(f"/{response.json['code']}").status_code == 410


def test_unknown_links_and_roles(client: Any, ctx: Session, api_key: str) -> None:
    assert client.get("/api/v1/links/123456", headers=_auth(api_key)).status_code == 404
    desk = make_api_key("desk", Role.DESK)
    response = client.post(
        "/api/v1/links", json={"target_url": "https://a.example"}, headers=_auth(desk)
    )
    assert response.status_code == 403
    assert client.get("/api/v1/links/1").status_code == 401
