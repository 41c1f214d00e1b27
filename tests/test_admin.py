"""Admin pages: users and API keys."""

from __future__ import annotations

import re
from typing import Any

from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import login, post_form


def _admin(client: Any, make_user: UserFactory) -> Any:
    admin = make_user(Role.ADMIN)
    login(client, admin.email)
    return admin


def test_admin_creates_a_user_who_can_sign_in(
    app: Any, client: Any, make_user: UserFactory
) -> None:
    _admin(client, make_user)
    response = post_form(
        client,
        "/admin/users/new",
        email="New.Marketer@Example.com",
        name="Deniz",
        role="marketer",
        password="a long enough password",
        locale="tr",
        timezone="Europe/Istanbul",
    )
    assert response.status_code == 302
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "new.marketer@example.com" in listing
    other = app.test_client()
    assert login(other, "new.marketer@example.com", "a long enough password").status_code == 302
    assert other.get("/dashboard").status_code == 200
    assert other.get("/admin/users").status_code == 403


def test_duplicate_email_and_weak_password_are_explained(
    client: Any, make_user: UserFactory
) -> None:
    admin = _admin(client, make_user)
    response = post_form(
        client,
        "/admin/users/new",
        email=admin.email.upper(),
        role="viewer",
        password="short",
        locale="en",
        timezone="Europe/Istanbul",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The password must be at least 10 characters long." in text
    response = post_form(
        client,
        "/admin/users/new",
        email=admin.email.upper(),
        role="viewer",
        password="long enough password",
        locale="en",
        timezone="Europe/Istanbul",
    )
    assert "A user with this email address already exists." in response.get_data(as_text=True)


def test_admin_cannot_demote_themselves(client: Any, make_user: UserFactory) -> None:
    admin = _admin(client, make_user)
    response = post_form(
        client,
        f"/admin/users/{admin.id}",
        name="Me",
        role="viewer",
        active="y",
        locale="en",
        timezone="Europe/Istanbul",
    )
    assert "You cannot remove your own admin rights" in response.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 200


def test_admin_changes_a_role_and_it_takes_effect(
    app: Any, client: Any, make_user: UserFactory
) -> None:
    _admin(client, make_user)
    marketer = make_user(Role.MARKETER)
    other = app.test_client()
    login(other, marketer.email)
    assert other.get("/dashboard").status_code == 200
    response = post_form(
        client,
        f"/admin/users/{marketer.id}",
        name="Now desk",
        role="desk",
        active="y",
        locale="en",
        timezone="Europe/Istanbul",
    )
    assert response.status_code == 302
    assert other.get("/dashboard").status_code == 403


def test_api_key_is_shown_once_works_and_can_be_revoked(
    app: Any, client: Any, make_user: UserFactory
) -> None:
    _admin(client, make_user)
    response = post_form(client, "/admin/api-keys", name="web shop", role="viewer")
    page = response.get_data(as_text=True)
    token = re.search(r'data-testid="new-token">([^<]+)<', page)
    assert token, page
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    me = api.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json["role"] == "viewer"
    assert me.json["name"] == "web shop"
    # Shown once: the listing shows only the prefix.
    listing = client.get("/admin/api-keys").get_data(as_text=True)
    assert token.group(1) not in listing
    key_id = re.search(r'action="/admin/api-keys/(\d+)/revoke"', listing)
    assert key_id
    post_form(client, "/admin/api-keys", f"/admin/api-keys/{key_id.group(1)}/revoke")
    assert "revoked" in client.get("/admin/api-keys").get_data(as_text=True)
    revoked = api.get("/api/v1/me", headers=headers)
    assert revoked.status_code == 401
    assert revoked.json["error"]["code"] == "unauthorized"
