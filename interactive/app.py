"""The application factory. Everything is set up here, nothing at import time."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from interactive import redis_store
from interactive.config import default_instance_path, load_config
from interactive.db import db
from interactive.logs import current_request_id

log = logging.getLogger(__name__)

csrf = CSRFProtect()
babel = Babel()

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# Everything is served from this host: no CDN, no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


def create_app(
    config: Mapping[str, Any] | None = None, instance_path: str | Path | None = None
) -> Flask:
    """Build the app: settings (validated; raises ConfigError), database, Redis, i18n,
    auth, CSRF and blueprints. Opens no bind and runs no migration."""
    path = Path(instance_path) if instance_path else default_instance_path()
    app = Flask(
        __name__,
        instance_path=str(path),
        instance_relative_config=True,
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.config.update(load_config(path, config))
    _configure_security(app)

    _configure_requests(app)  # first: every later hook and error has a request id
    db.init_app(app)
    redis_store.init_app(app)
    csrf.init_app(app)
    _configure_i18n(app)

    from interactive.web import auth

    auth.init_app(app)
    _register_blueprints(app)
    # Conversations and rule handlers that plug into the router (surveys, bookings).
    # Registration order is the order they are asked: an open survey first.
    import interactive.surveys.conversation  # noqa: I001
    import interactive.bookings.dialogue  # noqa: F401

    _trust_proxies(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Outermost, around the middlewares the blueprints put in front of Flask (redirects,
    postbacks), so that they see the client's address and scheme too."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


def request_id_of(incoming: str) -> str:
    """The request's id: the caller's ``X-Request-ID`` when it looks like one, else new."""
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def standard_headers(config: Mapping[str, Any], request_id: str) -> dict[str, str]:
    """The headers every page and API answer carries, the postback middleware's too (a
    redirect carries its own few)."""
    headers = {
        "X-Request-ID": request_id,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }
    if config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def _configure_security(app: Flask) -> None:
    hours = app.config["SESSION_LIFETIME_HOURS"]
    secure = app.config["SESSION_COOKIE_SECURE"]
    app.config.update(
        SESSION_COOKIE_NAME="interactive_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_DURATION=timedelta(days=14),
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead
        MAX_CONTENT_LENGTH=256 * 1024 * 1024,
    )


def _configure_i18n(app: Flask) -> None:
    from interactive.web.i18n import role_label, select_locale, select_timezone

    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config["DEFAULT_LOCALE"])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["DEFAULT_TIMEZONE"])
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["role_label"] = role_label


def _configure_requests(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        request_id = request_id_of(request.headers.get("X-Request-ID", ""))
        g.request_id = request_id
        g.request_id_token = current_request_id.set(request_id)

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in standard_headers(app.config, g.get("request_id", "")).items():
            response.headers.setdefault(name, value)
        return response

    @app.teardown_request
    def clear_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            current_request_id.reset(token)


def _register_blueprints(app: Flask) -> None:
    from interactive.analytics.dashboards import bp as dashboards_bp
    from interactive.analytics.rows_views import bp as analytics_rows_bp
    from interactive.analytics.views import bp as analytics_bp
    from interactive.api.views import bp as api_bp
    from interactive.bookings.views import bp as bookings_bp
    from interactive.contacts.consent_views import bp as consent_bp
    from interactive.contacts.import_views import bp as imports_bp
    from interactive.contacts.views import bp as contacts_bp
    from interactive.keywords.admin_views import bp as keywords_bp
    from interactive.keywords.views import bp as inbox_bp
    from interactive.outbound.views import bp as campaigns_bp
    from interactive.shortlinks.views import bp as shortlinks_bp
    from interactive.smpp.views import bp as gateway_bp
    from interactive.surveys.views import bp as surveys_bp
    from interactive.web.admin_views import bp as admin_bp
    from interactive.web.errors import register_error_handlers
    from interactive.web.views import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(gateway_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(contacts_bp, url_prefix="/contacts")
    app.register_blueprint(imports_bp, url_prefix="/imports")
    app.register_blueprint(consent_bp, url_prefix="/consent")
    app.register_blueprint(campaigns_bp, url_prefix="/campaigns")
    app.register_blueprint(inbox_bp, url_prefix="/inbox")
    app.register_blueprint(keywords_bp, url_prefix="/keywords")
    app.register_blueprint(surveys_bp, url_prefix="/surveys")
    app.register_blueprint(bookings_bp, url_prefix="/bookings")
    app.register_blueprint(dashboards_bp, url_prefix="/analytics")
    app.register_blueprint(analytics_rows_bp, url_prefix="/analytics/rows")
    # The conversion pixel and script (/p.gif, /ic.js), at the root like the redirect.
    app.register_blueprint(analytics_bp)
    # Last, at the root: ``/<code>`` only matches what a code looks like, and the app's
    # own paths (static rules) take precedence over it in any case.
    app.register_blueprint(shortlinks_bp)
    csrf.exempt(api_bp)
    register_error_handlers(app)
