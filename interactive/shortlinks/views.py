"""Short links: the redirect (``/<code>``) and the pages for standalone links (a list with
a create form, and each link's clicks by kind and over time)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.routing import BaseConverter
from wtforms import DateTimeLocalField, StringField
from wtforms.validators import DataRequired, Length, Optional

from interactive.db import db, utcnow
from interactive.shortlinks import codec, redirects, service, stats
from interactive.shortlinks.models import URL_MAX_LENGTH, ClickKind, Link
from interactive.shortlinks.service import LinkError
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint(
    "shortlinks",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/links/static",
)

KIND_LABELS = {
    ClickKind.HUMAN: _l("People"),
    ClickKind.PREVIEW: _l("Link previews"),
    ClickKind.SCANNER: _l("Scanners and bots"),
    ClickKind.HEAD: _l("HEAD and prefetch"),
}
KIND_COLOURS = {
    ClickKind.HUMAN: "#1f6feb",
    ClickKind.PREVIEW: "#9a6700",
    ClickKind.SCANNER: "#8250df",
    ClickKind.HEAD: "#6e7781",
}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")


class ShortCodeConverter(BaseConverter):
    """Matches only what a code can look like, so that a mistyped app path is a plain 404
    and the app's own pages (static rules) always win."""

    regex = codec.CODE_PATTERN
    part_isolating = True


def _set_up(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("shortcode", ShortCodeConverter)
    redirects.install(cast(Flask, state.app))


# Before any route of this blueprint is added: the redirect's rule needs the converter.
bp.record_once(_set_up)


class LinkForm(FlaskForm):
    target_url = StringField(_l("Link to"), validators=[DataRequired(), Length(max=URL_MAX_LENGTH)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=service.NAME_MAX_LENGTH)])
    expires_at = DateTimeLocalField(_l("Expires"), validators=[Optional()])
    fallback_url = StringField(
        _l("After expiry, send to"), validators=[Optional(), Length(max=URL_MAX_LENGTH)]
    )
    utm_source = StringField(
        "utm_source", validators=[Optional(), Length(max=service.UTM_VALUE_MAX_LENGTH)]
    )
    utm_medium = StringField(
        "utm_medium", validators=[Optional(), Length(max=service.UTM_VALUE_MAX_LENGTH)]
    )
    utm_campaign = StringField(
        "utm_campaign", validators=[Optional(), Length(max=service.UTM_VALUE_MAX_LENGTH)]
    )


class ConfirmForm(FlaskForm):
    """A POST with only a CSRF token."""


# --- the redirect ----------------------------------------------------------------------


@bp.route("/<shortcode:code>")
def follow(code: str) -> Response:
    return redirects.follow(code)


@bp.after_request
def no_store(response: Response) -> Response:
    # Error pages of the redirect too: a 404 or 410 must not be cached by a proxy.
    if request.endpoint == "shortlinks.follow":
        response.headers["Cache-Control"] = redirects.NO_STORE
    return response


# --- pages -----------------------------------------------------------------------------


def _expiry(form: LinkForm) -> datetime | None:
    local = form.expires_at.data
    if local is None:
        return None
    zone = ZoneInfo(str(get_timezone()))
    return local.replace(tzinfo=zone).astimezone(UTC)


@bp.route("/links/", methods=["GET", "POST"])
@require(Permission.LINKS)
def index() -> ResponseReturnValue:
    session = db.session()
    form = LinkForm()
    valid = form.validate_on_submit()
    expires_at = _expiry(form) if valid else None
    if expires_at is not None and expires_at <= utcnow():
        form.expires_at.errors = [_("The expiry time must be in the future.")]
    elif valid:
        utm = {name: getattr(form, name).data or "" for name in UTM_FIELDS}
        try:
            link = service.create_link(
                session,
                form.target_url.data or "",
                name=form.name.data,
                expires_at=expires_at,
                fallback_url=form.fallback_url.data or None,
                created_by=current_user.id,
                utm=utm,
            )
        except LinkError as exc:
            session.rollback()
            target = getattr(form, exc.field or "target_url", form.target_url)
            target.errors = [*target.errors, str(exc.message)]
        else:
            session.commit()
            log.info("short link created link=%s user_id=%s", link.id, current_user.id)
            flash(_("Short link created."), "success")
            return redirect(url_for("shortlinks.show", link_id=link.id))
    links, next_before = stats.list_standalone(session, before=request.args.get("before", type=int))
    counts = stats.click_counts(session, [link.id for link in links])
    rows = [
        (
            link,
            service.short_url(service.code_for(link)),
            service.status(link),
            counts[link.id][ClickKind.HUMAN],
            sum(counts[link.id].values()),
        )
        for link in links
    ]
    status = 400 if form.errors else 200
    return render_template(
        "links/index.html", form=form, rows=rows, next_before=next_before
    ), status


def _link_or_404(link_id: int) -> Link:
    link = service.get_link(db.session(), link_id)
    if link is None:
        abort(404)
    return link


@bp.route("/links/<int:link_id>")
@require(Permission.LINKS)
def show(link_id: int) -> ResponseReturnValue:
    session = db.session()
    link = _link_or_404(link_id)
    counts = stats.click_counts(session, [link.id])[link.id]
    total = sum(counts.values())
    human = counts[ClickKind.HUMAN]
    series = _series(stats.clicks_by_hour(session, link.id))
    return render_template(
        "links/show.html",
        link=link,
        short_url=service.short_url(service.code_for(link)),
        status=service.status(link),
        kinds=[(KIND_LABELS[kind], counts[kind]) for kind in ClickKind],
        total=total,
        human=human,
        human_percent=round(100 * human / total, 1) if total else None,
        unique_humans=stats.unique_humans(session, link.id),
        series=series,
        figure=_figure(series) if series["buckets"] else None,
        confirm=ConfirmForm(),
    )


def _series(rows: list[tuple[datetime, ClickKind, int]]) -> dict[str, Any]:
    """Clicks per kind in buckets of the viewer's local time: hours when the clicks span
    at most three days, days otherwise."""
    zone = ZoneInfo(str(get_timezone()))
    if not rows:
        return {"buckets": [], "unit": "day", "counts": {}}
    span = rows[-1][0] - rows[0][0]
    by_hour = span <= timedelta(days=3)
    counts: dict[str, dict[ClickKind, int]] = {}
    for hour, kind, count in rows:
        local = hour.astimezone(zone)
        label = local.strftime("%Y-%m-%d %H:00") if by_hour else local.strftime("%Y-%m-%d")
        bucket = counts.setdefault(label, dict.fromkeys(ClickKind, 0))
        bucket[kind] += count
    buckets = sorted(counts)
    return {"buckets": buckets, "unit": "hour" if by_hour else "day", "counts": counts}


def _figure(series: dict[str, Any]) -> dict[str, Any]:
    buckets: list[str] = series["buckets"]
    figure = go.Figure(
        data=[
            go.Bar(
                name=str(KIND_LABELS[kind]),
                x=buckets,
                y=[series["counts"][b][kind] for b in buckets],
                marker_color=KIND_COLOURS[kind],
            )
            for kind in ClickKind
        ],
        layout=go.Layout(
            barmode="stack",
            template="simple_white",
            margin={"l": 40, "r": 10, "t": 10, "b": 40},
            height=320,
            legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
        ),
    )
    result: dict[str, Any] = json.loads(figure.to_json())
    return result


@bp.route("/links/<int:link_id>/disable", methods=["POST"])
@require(Permission.LINKS)
def disable(link_id: int) -> ResponseReturnValue:
    return _set_enabled(link_id, enabled=False)


@bp.route("/links/<int:link_id>/enable", methods=["POST"])
@require(Permission.LINKS)
def enable(link_id: int) -> ResponseReturnValue:
    return _set_enabled(link_id, enabled=True)


def _set_enabled(link_id: int, *, enabled: bool) -> ResponseReturnValue:
    session = db.session()
    link = _link_or_404(link_id)
    if ConfirmForm().validate_on_submit():
        if enabled:
            service.enable_link(session, link)
            flash(_("The link works again."), "success")
        else:
            service.disable_link(session, link)
            flash(_("The link is disabled."), "success")
        session.commit()
        log.info("short link %s link=%s", "enabled" if enabled else "disabled", link.id)
    return redirect(url_for("shortlinks.show", link_id=link.id))
