"""Sign-in sessions (Flask-Login) and permission checks for pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, abort, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_required

from interactive.db import db
from interactive.web import service
from interactive.web.models import Permission, User

login_manager = LoginManager()

P = ParamSpec("P")
R = TypeVar("R")


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    # "basic": a session cookie replayed from another browser or address is no longer
    # "fresh" (sensitive steps can ask for the password again). "strong" would sign desk
    # tablets out at every network change.
    login_manager.session_protection = "basic"

    @app.context_processor
    def navigation() -> dict[str, object]:
        return {"nav_items": nav_items(), "Permission": Permission}


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return service.load_session_user(db.session(), session_id)


def require(permission: Permission) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A page for signed-in users whose role has ``permission``; others get 403."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapped)

    return decorate


def _handset_enabled() -> bool:
    from interactive.smpp.views import handset_enabled

    return handset_enabled()


# Sections in the order of the navigation: (endpoint, label, permission, shown when).
SECTIONS: list[tuple[str, object, Permission, Callable[[], bool] | None]] = [
    ("web.dashboard", _l("Dashboard"), Permission.DASHBOARD, None),
    ("campaigns.index", _l("Campaigns"), Permission.CAMPAIGNS, None),
    ("dashboards.overview", _l("Analytics"), Permission.ANALYTICS, None),
    ("surveys.index", _l("Surveys"), Permission.SURVEYS, None),
    ("inbox.index", _l("Inbox"), Permission.INBOX, None),
    ("bookings.index", _l("Bookings"), Permission.BOOKINGS, None),
    ("keywords.index", _l("Keywords"), Permission.CAMPAIGNS, None),
    ("contacts.index", _l("Contacts"), Permission.AUDIENCES, None),
    ("imports.index", _l("Imports"), Permission.AUDIENCES, None),
    ("consent.registry_page", _l("Consent"), Permission.AUDIENCES, None),
    ("shortlinks.index", _l("Links"), Permission.LINKS, None),
    ("gateway.handset", _l("Handset"), Permission.CAMPAIGNS, _handset_enabled),
    ("gateway.status", _l("Gateway"), Permission.GATEWAY, None),
    ("admin.users", _l("Users"), Permission.USERS, None),
    ("admin.api_keys", _l("API keys"), Permission.USERS, None),
]


def nav_items() -> list[tuple[str, str, str]]:
    """(endpoint, url, label) of the sections the current user may open."""
    if not current_user or not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label, permission, shown in SECTIONS:
        if current_user.can(permission) and (shown is None or shown()):
            items.append((endpoint, url_for(endpoint), str(label)))
    return items


def home_endpoint(user: User) -> str:
    """Where a user lands after signing in: the first section their role may open."""
    for endpoint, _label, permission, shown in SECTIONS:
        if user.can(permission) and (shown is None or shown()):
            return endpoint
    return "web.account"
