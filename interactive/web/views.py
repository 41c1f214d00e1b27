"""Sign-in, sign-out, account, dashboard, health and vendored static files."""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from urllib.parse import urlsplit

import plotly
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from interactive import health
from interactive.db import db
from interactive.web import service
from interactive.web.auth import home_endpoint, require
from interactive.web.forms import ChangePasswordForm, LoginForm, LogoutForm, PreferencesForm
from interactive.web.i18n import error_text
from interactive.web.models import Permission, User

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__)

PLOTLY_JS_DIR = Path(plotly.__file__).resolve().parent / "package_data"


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: ``/x`` yes; ``//evil``, ``https://evil`` or ``/\\evil`` no."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _email_ref(email: str) -> str:
    return hashlib.sha256(service.normalise_email(email).encode()).hexdigest()[:12]


@bp.route("/")
def index() -> BaseResponse:
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    return redirect(url_for(home_endpoint(current_user)))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user)))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("web/login.html", form=form)

    email = form.email.data or ""
    ip = request.remote_addr or "-"
    config = current_app.config
    throttle = service.login_throttle(ip, email, config["LOGIN_MAX_ATTEMPTS"])
    if throttle.blocked:
        minutes = max(1, math.ceil(throttle.retry_after / 60))
        flash(
            _(
                "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
                minutes=minutes,
            ),
            "error",
        )
        log.warning("sign-in throttled account=%s", _email_ref(email))
        headers = {"Retry-After": str(throttle.retry_after)}
        return render_template("web/login.html", form=form), 429, headers

    dbs = db.session()
    user = service.authenticate(dbs, email, form.password.data or "")
    if user is None:
        service.record_failed_login(ip, email, config["LOGIN_WINDOW_SECONDS"])
        log.info("sign-in failed account=%s", _email_ref(email))
        flash(_("Wrong email or password."), "error")
        return render_template("web/login.html", form=form), 401, {}
    dbs.commit()
    service.clear_failed_logins(ip, email)
    session.permanent = True
    login_user(user, remember=bool(form.remember.data))
    log.info("sign-in ok user_id=%s", user.id)
    return redirect(_safe_next(request.args.get("next")) or url_for(home_endpoint(user)))


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> BaseResponse:
    form = LogoutForm()
    if form.validate_on_submit():
        log.info("sign-out user_id=%s", current_user.id)
        logout_user()
        session.clear()
        flash(_("You are signed out."), "info")
    return redirect(url_for("web.login"))


@bp.route("/dashboard")
@require(Permission.DASHBOARD)
def dashboard() -> str:
    return render_template("web/dashboard.html", health=health.check())


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> BaseResponse | str:
    user: User = current_user._get_current_object()
    preferences = PreferencesForm(obj=user, prefix="prefs")
    password = ChangePasswordForm(prefix="pw")
    dbs = db.session()
    if preferences.submit_ok("prefs"):
        try:
            service.update_user(
                dbs,
                user,
                name=preferences.name.data or "",
                locale=preferences.locale.data,
                timezone=preferences.timezone.data,
            )
        except service.ServiceError as exc:
            dbs.rollback()
            flash(error_text(exc.message), "error")
        else:
            dbs.commit()
            flash(_("Your settings are saved."), "success")
            return redirect(url_for("web.account"))
    elif password.submit_ok("pw"):
        try:
            service.change_password(
                dbs, user, password.current_password.data or "", password.new_password.data or ""
            )
        except service.ServiceError as exc:
            dbs.rollback()
            flash(error_text(exc.message), "error")
        else:
            dbs.commit()
            # Re-issue this session's cookie: the old one names the old password time.
            login_user(user)
            log.info("password changed user_id=%s", user.id)
            flash(_("Your password is changed. Other sessions are signed out."), "success")
            return redirect(url_for("web.account"))
    return render_template("web/account.html", preferences=preferences, password=password)


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    report = health.check()
    return jsonify(report.as_dict()), 200 if report.ok else 503


@bp.route("/static/vendor/plotly.min.js")
def plotly_js() -> Response:
    response = send_from_directory(PLOTLY_JS_DIR, "plotly.min.js", max_age=86400)
    return response
