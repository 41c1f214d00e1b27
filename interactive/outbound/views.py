"""The marketer's campaign pages: the list, the composer with its live preview, the test
send, the lifecycle buttons and the campaign page (progress, funnel, reasons, recipients
and their export). The logic is in ``campaigns``; this module only reads forms, calls it
and commits once per request."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_datetime
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from interactive.analytics import compute, funnel
from interactive.contacts.models import Brand
from interactive.db import db, utcnow
from interactive.outbound import campaign_report, campaigns, labels, preview, testsend
from interactive.outbound.campaign_form import CampaignForm, campaign_form, to_input
from interactive.outbound.campaigns import EDITABLE, CampaignError
from interactive.outbound.models import (
    Campaign,
    CampaignState,
    Recipient,
    RecipientReason,
    RecipientStatus,
    Recurrence,
)
from interactive.redis_store import get_redis
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("campaigns", __name__, template_folder="templates", static_folder="static")

PAGE = 50
RECIPIENTS_PAGE = 50


class ConfirmForm(FlaskForm):
    """Only the CSRF token: for POST buttons."""


class TestSendForm(FlaskForm):
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=40)])
    variant = SelectField(_l("Variant"), coerce=int, choices=[])


def _connections() -> dict[str, Any]:
    return {c.name: c for c in current_app.config["SMPP_CONNECTION_LIST"]}


def _get(campaign_id: int) -> Campaign:
    campaign = db.session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _short_base() -> str:
    return str(current_app.config.get("SHORTLINK_BASE_URL") or request.host_url.rstrip("/"))


def _in_zone(value: datetime | None, zone: str) -> str:
    """A time on a given wall clock (the campaign's), in the user's language."""
    if value is None:
        return "—"
    return format_datetime(value, "short", tzinfo=ZoneInfo(zone), locale=get_locale() or "tr")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"campaign_labels": labels}


# --- list -----------------------------------------------------------------------------------


@bp.route("/")
@require(Permission.CAMPAIGNS)
def index() -> ResponseReturnValue:
    session = db.session()
    state = request.args.get("state", "")
    query = sa.select(Campaign).order_by(Campaign.id.desc()).limit(PAGE + 1)
    if state in {s.value for s in CampaignState}:
        query = query.where(Campaign.state == CampaignState(state))
    before = request.args.get("before", type=int)
    if before:
        query = query.where(Campaign.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render_template(
        "campaigns/index.html",
        campaigns=rows,
        counts=campaign_report.counts_by_campaign(session, [c.id for c in rows]),
        state=state,
        states=list(CampaignState),
        next_before=rows[-1].id if more else None,
        Recurrence=Recurrence,
    )


# --- composer -------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def new() -> ResponseReturnValue:
    return _compose(None)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def edit(campaign_id: int) -> ResponseReturnValue:
    campaign = _get(campaign_id)
    if campaign.state not in EDITABLE:
        flash(_("Only a draft or scheduled campaign can be changed."), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _compose(campaign)


def _form(campaign: Campaign | None) -> CampaignForm:
    return campaign_form(
        db.session(),
        list(_connections()),
        time_zone=str(current_user.timezone),
        campaign=campaign,
    )


def _compose(campaign: Campaign | None) -> ResponseReturnValue:
    session = db.session()
    form = _form(campaign)
    problems: list[str] = []
    was_scheduled = campaign is not None and campaign.state == CampaignState.SCHEDULED
    if form.validate_on_submit():
        data, problems = to_input(form)
        saved = None
        if not problems:
            try:
                saved = campaigns.save(session, data, campaign=campaign, user_id=current_user.id)
            except CampaignError as exc:
                session.rollback()
                problems = exc.problems
        if saved is not None and request.form.get("action") == "schedule":
            try:
                campaigns.schedule(session, saved, _connections(), utcnow())
            except CampaignError as exc:
                session.commit()  # the draft is kept; the person fixes what is listed
                problems = exc.problems
                campaign = saved
            else:
                session.commit()
                flash(_scheduled_text(saved), "success")
                return redirect(url_for("campaigns.show", campaign_id=saved.id))
        elif saved is not None:
            session.commit()
            text = _("Draft saved.")
            if was_scheduled:
                text += " " + _("It is no longer scheduled: schedule it again when it is ready.")
            flash(text, "success")
            return redirect(url_for("campaigns.show", campaign_id=saved.id))
    elif form.is_submitted():
        problems = [_("Some fields need attention; see below.")]
    return render_template(
        "campaigns/form.html",
        form=form,
        campaign=campaign,
        problems=problems,
        action=url_for("campaigns.edit", campaign_id=campaign.id)
        if campaign is not None
        else url_for("campaigns.new"),
    )


def _scheduled_text(campaign: Campaign) -> str:
    if campaign.send_at is None:
        return _("Scheduled: it starts within seconds.")
    return _(
        "Scheduled for %(when)s (%(zone)s).",
        when=_in_zone(campaign.next_run_at, campaign.time_zone),
        zone=campaign.time_zone,
    )


@bp.route("/preview", methods=["POST"])
@require(Permission.CAMPAIGNS)
def live_preview() -> ResponseReturnValue:
    """The composer's live preview (the whole form posted, CSRF token included)."""
    form = _form(None)
    data, _problems = to_input(form)
    known = request.form.get("audience_count", type=int)
    result = preview.preview(
        db.session(),
        data,
        connections=_connections(),
        short_base=_short_base(),
        locale=str(current_app.config["DEFAULT_LOCALE"]),
        audience_count=known if known is not None and known >= 0 else None,
    )
    return jsonify(result)


@bp.route("/eligible", methods=["POST"])
@require(Permission.CAMPAIGNS)
def eligible() -> ResponseReturnValue:
    """Count the eligible part of the audience (slow on big audiences: its own button)."""
    session = db.session()
    form = _form(None)
    data, _problems = to_input(form)
    counted = preview.count_eligible(
        session, data, policy=current_app.config["QUIET_POLICY"], at=utcnow()
    )
    if counted.get("error"):
        return jsonify(counted), 400
    texts = preview.preview(
        session,
        data,
        connections=_connections(),
        short_base=_short_base(),
        locale=str(current_app.config["DEFAULT_LOCALE"]),
        audience_count=counted["targeted"],
    )
    route = preview.Route(_connections().get(data.connection))
    counted["cost"] = preview.estimate(
        data, texts["variants"], route, counted["eligible"], eligible=True
    )
    return jsonify(counted)


# --- campaign page --------------------------------------------------------------------------


@bp.route("/<int:campaign_id>")
@require(Permission.CAMPAIGNS)
def show(campaign_id: int) -> ResponseReturnValue:
    session = db.session()
    campaign = _get(campaign_id)
    total, by_variant = funnel.campaign_funnel(session, campaign)
    filters = _recipient_filters(campaign)
    after = request.args.get("after", type=int)
    rows = campaigns.recipients(
        session,
        campaign.id,
        **_query(session, campaign, filters),
        after_id=after,
        limit=RECIPIENTS_PAGE + 1,
    )
    more = len(rows) > RECIPIENTS_PAGE
    rows = rows[:RECIPIENTS_PAGE]
    problems: list[str] = []
    audience_size = None
    if campaign.state in EDITABLE:
        audience_size = _audience_size(campaign)
        if campaign.state == CampaignState.DRAFT:
            problems = campaigns.problems_before_scheduling(
                session, campaign, _connections(), utcnow()
            )
    test_form = TestSendForm()
    test_form.variant.choices = [(v.id, v.label) for v in campaign.variants]
    return render_template(
        "campaigns/show.html",
        campaign=campaign,
        total=total,
        steps=campaign_report.steps(total),
        variant_rows=[(v, by_variant.get(v.id) or funnel.Funnel()) for v in campaign.variants],
        unassigned=by_variant.get(None),
        reasons=campaign_report.reason_rows(total),
        figure=campaign_report.funnel_figure(total) if total.targeted else None,
        progress=campaigns.progress(session, campaign.id),
        recipients=rows,
        next_after=rows[-1].id if more else None,
        filters={k: v for k, v in filters.items() if v is not None},
        variant_labels={v.id: v.label for v in campaign.variants},
        problems=problems,
        audience_size=audience_size,
        brand=session.get(Brand, campaign.brand_id) if campaign.brand_id else None,
        confirm=ConfirmForm(),
        test_form=test_form,
        in_zone=_in_zone,
        statuses=list(RecipientStatus),
        reason_keys=list(RecipientReason),
        can_test=campaign.state not in (CampaignState.COMPLETED, CampaignState.CANCELLED),
    )


def _recipient_filters(campaign: Campaign) -> dict[str, Any]:
    """The recipients list's filters from the query string (one that does not apply to
    this campaign is left out): status, reason, variant (an id, or 0: none), error
    (``any``, ``none`` or an error code: recipients whose message failed so) and engaged
    (``funnel.ENGAGED``)."""
    variant = request.args.get("variant", type=int)
    if variant is not None and variant != 0 and variant not in {v.id for v in campaign.variants}:
        variant = None
    engaged = request.args.get("engaged", "")
    error = request.args.get("error", "").strip()
    if error not in ("any", "none") and not (error.isdigit() and int(error) < 2**31):
        error = ""
    return {
        "status": _enum_arg(RecipientStatus, "status"),
        "reason": _enum_arg(RecipientReason, "reason"),
        "variant": variant,
        "error": error or None,
        "engaged": engaged if engaged in funnel.ENGAGED else None,
        # The funnel's "eligible": queued or deferred, two statuses.
        "eligible": request.args.get("status") == "eligible",
    }


def _query(session: Any, campaign: Campaign, filters: dict[str, Any]) -> dict[str, Any]:
    """The recipients query's arguments for the list's filters."""
    query = {k: v for k, v in filters.items() if k not in ("engaged", "eligible")}
    conditions = [funnel.engaged(session, campaign, filters["engaged"])]
    if filters["eligible"]:
        conditions.append(Recipient.status.in_(compute.ELIGIBLE))
    found = [c for c in conditions if c is not None]
    query["where"] = sa.and_(*found) if found else None
    return query


def _enum_arg(kind: Any, name: str) -> Any:
    value = request.args.get(name, "")
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _audience_size(campaign: Campaign) -> int | None:
    try:
        return campaigns.audience_count(db.session(), campaign.audience)
    except campaigns.segment_rules.SegmentError:
        return None


@bp.route("/<int:campaign_id>/progress.json")
@require(Permission.CAMPAIGNS)
def progress(campaign_id: int) -> ResponseReturnValue:
    campaign = _get(campaign_id)
    counts = campaigns.progress(db.session(), campaign.id)
    done, chunks = counts["done"], counts["chunks"]
    return jsonify(
        state=campaign.state.value,
        state_label=labels.label(labels.STATES, campaign.state),
        chunks=chunks,
        done=done,
        percent=round(100 * done / chunks) if chunks else 0,
    )


@bp.route("/<int:campaign_id>/recipients.csv")
@require(Permission.CAMPAIGNS)
def export(campaign_id: int) -> ResponseReturnValue:
    campaign = _get(campaign_id)
    session = db.session()
    rows = campaign_report.export_rows(
        session,
        campaign.id,
        {v.id: v.label for v in campaign.variants},
        **_query(session, campaign, _recipient_filters(campaign)),
    )
    log.info("campaign recipients exported campaign_id=%s by=%s", campaign.id, current_user.id)
    return Response(
        stream_with_context(rows),
        mimetype="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-recipients.csv"'
        },
    )


# --- lifecycle ------------------------------------------------------------------------------


@bp.route(
    "/<int:campaign_id>/<any(schedule, unschedule, pause, resume, cancel):step>", methods=["POST"]
)
@require(Permission.CAMPAIGNS)
def lifecycle(campaign_id: int, step: str) -> ResponseReturnValue:
    session = db.session()
    campaign = _get(campaign_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    now = utcnow()
    try:
        if step == "schedule":
            campaigns.schedule(session, campaign, _connections(), now)
            text = _scheduled_text(campaign)
        elif step == "unschedule":
            campaigns.unschedule(session, campaign)
            text = _("Back to draft: it will not be sent until it is scheduled again.")
        elif step == "pause":
            campaigns.pause(session, campaign)
            text = _("Paused: nothing more is sent until it is resumed.")
        elif step == "resume":
            campaigns.resume(session, campaign, get_redis(), current_app.config["REDIS_PREFIX"])
            text = _("Resumed: sending goes on.")
        else:
            cancelled = campaigns.cancel(session, campaign, now)
            text = _("Cancelled: %(n)d messages not yet sent will not go out.", n=cancelled)
    except CampaignError as exc:
        session.rollback()
        for problem in exc.problems:
            flash(problem, "error")
    else:
        session.commit()
        log.info("campaign %s campaign_id=%s by=%s", step, campaign.id, current_user.id)
        flash(text, "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/test", methods=["POST"])
@require(Permission.CAMPAIGNS)
def send_test(campaign_id: int) -> ResponseReturnValue:
    session = db.session()
    campaign = _get(campaign_id)
    form = TestSendForm()
    form.variant.choices = [(v.id, v.label) for v in campaign.variants]
    if not form.validate_on_submit():
        flash(_("Enter a phone number and choose a variant."), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    try:
        sent = testsend.send(
            session,
            campaign,
            variant_id=form.variant.data,
            phone=form.phone.data or "",
            connections=_connections(),
            locale=str(current_app.config["DEFAULT_LOCALE"]),
        )
    except testsend.TestSendError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        session.commit()
        flash(
            _(
                "Test message queued for %(phone)s: %(parts)d part(s), from %(sender)s.",
                phone=sent.destination,
                parts=sent.parts_count,
                sender=sent.source,
            ),
            "success",
        )
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))
