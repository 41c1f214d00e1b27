"""Signing in and out, throttling, CSRF, password changes, roles and language."""

from __future__ import annotations

from typing import Any

import pytest

from interactive.web.models import Role
from tests.conftest import PASSWORD, UserFactory
from tests.helpers import csrf_token, login, post_form


def test_sign_in_lands_on_the_role_home(client: Any, make_user: UserFactory) -> None:
    admin = make_user(Role.ADMIN)
    response = login(client, admin.email)
    assert response.status_code == 302
    assert response.location == "/dashboard"
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Dashboard" in page
    assert admin.email in page


def test_desk_lands_on_the_inbox_and_gets_403_on_marketer_pages(
    client: Any, make_user: UserFactory
) -> None:
    desk = make_user(Role.DESK)
    response = login(client, desk.email)
    assert response.location == "/inbox/"
    assert client.get("/dashboard").status_code == 403
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/api-keys").status_code == 403


@pytest.mark.parametrize(
    ("role", "dashboard", "admin"),
    [
        (Role.ADMIN, 200, 200),
        (Role.MARKETER, 200, 403),
        (Role.VIEWER, 200, 403),
        (Role.DESK, 403, 403),
    ],
)
def test_role_matrix(
    client: Any, make_user: UserFactory, role: Role, dashboard: int, admin: int
) -> None:
    user = make_user(role)
    login(client, user.email)
    assert client.get("/dashboard").status_code == dashboard
    assert client.get("/admin/users").status_code == admin
    assert client.get("/account").status_code == 200
    # Navigation shows only what the role may open.
    page = client.get("/account").get_data(as_text=True)
    assert ('href="/admin/users"' in page) == (admin == 200)


def test_anonymous_is_sent_to_sign_in(client: Any) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_wrong_password_is_refused_with_a_clear_message(
    client: Any, make_user: UserFactory
) -> None:
    user = make_user(Role.ADMIN)
    response = login(client, user.email, "not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_unknown_email_looks_like_a_wrong_password(client: Any) -> None:
    response = login(client, "nobody@example.com")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_sign_in_is_throttled_after_repeated_failures(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN)
    for _ in range(3):  # LOGIN_MAX_ATTEMPTS in the test settings
        assert login(client, user.email, "wrong password!").status_code == 401
    blocked = login(client, user.email)  # even the right password waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    text = blocked.get_data(as_text=True)
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in text


def test_success_resets_the_failure_count(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN)
    for _ in range(2):
        login(client, user.email, "wrong password!")
    assert login(client, user.email).status_code == 302
    post_form(client, "/account", "/logout")
    for _ in range(2):
        assert login(client, user.email, "wrong password!").status_code == 401
    assert login(client, user.email).status_code == 302


def test_forms_need_a_csrf_token(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)


def test_logout_is_a_post_with_csrf(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN)
    login(client, user.email)
    assert client.get("/logout").status_code == 405
    # Without the token nothing happens.
    assert client.post("/logout").status_code == 400
    assert client.get("/dashboard").status_code == 200
    response = post_form(client, "/dashboard", "/logout")
    assert response.location == "/login"
    assert client.get("/dashboard").status_code == 302


def test_next_parameter_never_leaves_the_site(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN)
    page = client.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    for target, expected in [
        ("/admin/users", "/admin/users"),
        ("//evil.example/x", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
    ]:
        response = client.post(
            "/login?next=" + target,
            data={"csrf_token": token, "email": user.email, "password": PASSWORD},
        )
        assert response.location == expected
        post_form(client, "/account", "/logout")
        token = csrf_token(client.get("/login").get_data(as_text=True))


def test_session_cookie_flags(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN)
    response = login(client, user.email)
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("interactive_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_security_headers(client: Any) -> None:
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.headers["X-Request-ID"]) >= 8


def test_change_password_signs_out_other_sessions(
    app: Any, client: Any, make_user: UserFactory
) -> None:
    user = make_user(Role.MARKETER)
    other = app.test_client()
    login(client, user.email)
    login(other, user.email)
    response = post_form(
        client,
        "/account",
        form_name="pw",
        **{
            "pw-current_password": PASSWORD,
            "pw-new_password": "a new long password",
            "pw-confirm": "a new long password",
        },
    )
    assert response.status_code == 302
    assert "Your password is changed" in client.get("/account").get_data(as_text=True)
    assert other.get("/dashboard").status_code == 302  # signed out
    post_form(client, "/account", "/logout")
    assert login(client, user.email).status_code == 401
    assert login(client, user.email, "a new long password").status_code == 302


def test_change_password_checks_the_current_one(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.MARKETER)
    login(client, user.email)
    response = post_form(
        client,
        "/account",
        form_name="pw",
        **{
            "pw-current_password": "wrong one!!",
            "pw-new_password": "a new long password",
            "pw-confirm": "a new long password",
        },
    )
    assert "The current password is not correct." in response.get_data(as_text=True)


def test_language_and_time_zone_per_user(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.ADMIN, locale="tr")
    login(client, user.email)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Gösterge paneli" in page
    assert 'lang="tr"' in page
    response = post_form(
        client,
        "/account",
        form_name="prefs",
        **{"prefs-name": "Ayşe", "prefs-locale": "en", "prefs-timezone": "America/New_York"},
    )
    assert response.status_code == 302
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Dashboard" in page
    assert 'lang="en"' in page


def test_anonymous_language_follows_the_browser(client: Any) -> None:
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert "Sign in" in english.get_data(as_text=True)
    turkish = client.get("/login", headers={"Accept-Language": "tr-TR,tr;q=0.9"})
    assert "Giriş yap" in turkish.get_data(as_text=True)


def test_inactive_user_cannot_sign_in(client: Any, make_user: UserFactory, app: Any) -> None:
    from interactive.db import db
    from interactive.web.models import User

    user = make_user(Role.MARKETER)
    with app.app_context():
        session = db.session()
        row = session.get(User, user.id)
        assert row is not None
        row.active = False
        session.commit()
    assert login(client, user.email).status_code == 401
