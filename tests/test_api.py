"""The REST API: bearer keys, JSON errors for every failure, the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from openapi_spec_validator import validate

from interactive.db import db
from interactive.web import service
from interactive.web.models import ApiKey, Role
from tests.conftest import make_api_key


@pytest.fixture
def admin_key(app: Flask, ctx: Any) -> str:
    return make_api_key("automation")


@pytest.fixture
def viewer_key(app: Flask, ctx: Any, admin_key: str) -> str:
    return make_api_key("board", Role.VIEWER)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    return dict(error)


def test_401_without_or_with_a_bad_key(client: Any, admin_key: str) -> None:
    response = client.get("/api/v1/me")
    _assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    _assert_error(client.get("/api/v1/me", headers=_auth("ik_nope_nope")), 401, "unauthorized")
    tampered = admin_key[:-2] + ("AA" if not admin_key.endswith("AA") else "BB")
    _assert_error(client.get("/api/v1/me", headers=_auth(tampered)), 401, "unauthorized")


def test_a_known_key_costs_no_sql_and_its_revocation_counts_at_once(
    app: Flask, client: Any, ctx: Any, viewer_key: str
) -> None:
    assert client.get("/api/v1/me", headers=_auth(viewer_key)).status_code == 200
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = app.extensions["interactive.engine"]
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/api/v1/me", headers=_auth(viewer_key)).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert statements == []
    prefix = viewer_key.split("_")[1]
    api_key = ctx.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    service.revoke_api_key(ctx, api_key)
    ctx.commit()
    _assert_error(client.get("/api/v1/me", headers=_auth(viewer_key)), 401, "unauthorized")


def test_403_when_the_role_may_not(client: Any, viewer_key: str) -> None:
    assert client.get("/api/v1/me", headers=_auth(viewer_key)).status_code == 200
    _assert_error(client.get("/api/v1/users", headers=_auth(viewer_key)), 403, "forbidden")


def test_user_crud_and_its_errors(client: Any, admin_key: str) -> None:
    headers = _auth(admin_key)
    body = {"email": "api.user@example.com", "password": "api password 1", "role": "desk"}
    created = client.post("/api/v1/users", json=body, headers=headers)
    assert created.status_code == 201
    user = created.json
    assert user["role"] == "desk"
    assert user["locale"] == "tr"
    _assert_error(client.post("/api/v1/users", json=body, headers=headers), 409, "email_taken")
    invalid = _assert_error(
        client.post("/api/v1/users", json={**body, "role": "boss", "x": 1}, headers=headers),
        422,
        "validation_failed",
    )
    assert {d["field"] for d in invalid["details"]} == {"role", "x"}
    _assert_error(
        client.post(
            "/api/v1/users",
            data="{not json",
            headers={**headers, "Content-Type": "application/json"},
        ),
        400,
        "bad_request",
    )
    _assert_error(
        client.post("/api/v1/users", data="email=x", headers=headers), 415, "unsupported_media_type"
    )
    fetched = client.get(f"/api/v1/users/{user['id']}", headers=headers)
    assert fetched.json == user
    _assert_error(client.get("/api/v1/users/999999", headers=headers), 404, "not_found")
    patched = client.patch(f"/api/v1/users/{user['id']}", json={"role": "viewer"}, headers=headers)
    assert patched.status_code == 200
    assert patched.json["role"] == "viewer"
    _assert_error(
        client.patch(f"/api/v1/users/{user['id']}", json={"timezone": "Nowhere"}, headers=headers),
        422,
        "invalid_timezone",
    )


def test_listing_pages_with_a_cursor(client: Any, admin_key: str) -> None:
    headers = _auth(admin_key)
    for n in range(5):
        body = {"email": f"p{n}@example.com", "password": "api password 1", "role": "viewer"}
        assert client.post("/api/v1/users", json=body, headers=headers).status_code == 201
    seen: list[str] = []
    url = "/api/v1/users?limit=2"
    while True:
        page = client.get(url, headers=headers).json
        seen += [u["email"] for u in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/api/v1/users?limit=2&after={page['next_cursor']}"
    assert len(seen) == 6
    assert len(set(seen)) == 6
    _assert_error(client.get("/api/v1/users?limit=0", headers=headers), 422, "validation_failed")


def test_404_and_405_are_json_under_the_api(client: Any, admin_key: str) -> None:
    _assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    _assert_error(client.delete("/api/v1/me", headers=_auth(admin_key)), 405, "method_not_allowed")


def test_429_when_over_the_rate_limit(app: Flask, client: Any, admin_key: str) -> None:
    app.config["API_RATE_LIMIT_PER_MINUTE"] = 3
    try:
        for _ in range(3):
            assert client.get("/api/v1/me", headers=_auth(admin_key)).status_code == 200
        response = client.get("/api/v1/me", headers=_auth(admin_key))
        _assert_error(response, 429, "rate_limited")
        assert 0 < int(response.headers["Retry-After"]) <= 60
    finally:
        app.config["API_RATE_LIMIT_PER_MINUTE"] = 1000


def test_openapi_document_is_valid_and_complete(app: Flask, client: Any) -> None:
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    documented = {
        (re.sub(r"\{(\w+)\}", r"<int:\1>", f"/api/v1{path}"), method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    routed = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert routed == documented


def test_api_key_use_is_recorded_in_a_batch(client: Any, admin_key: str, app: Flask) -> None:
    from interactive.web.jobs import flush_api_key_usage
    from interactive.web.models import ApiKey

    assert client.get("/api/v1/me", headers=_auth(admin_key)).status_code == 200
    with app.app_context():
        assert flush_api_key_usage() == 1
        key = db.session().query(ApiKey).filter_by(name="automation").one()
        assert key.last_used_at is not None
        assert flush_api_key_usage() == 0  # nothing new: the buffer was consumed
