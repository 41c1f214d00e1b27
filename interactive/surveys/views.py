"""The marketer's survey pages: the list, the builder with its chat preview, going live
and closing, the results (funnel and a chart per question, polled while it runs), the
respondents with their transcripts, and the CSV and XLSX exports. The logic is in
``editing``, ``results`` and ``export``; this module reads forms, calls them and commits
once per request."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from interactive.db import db
from interactive.outbound import labels
from interactive.outbound.models import Campaign
from interactive.surveys import editing, figures, results
from interactive.surveys import export as export_file
from interactive.surveys.models import SessionState, Survey, SurveySession, SurveyStatus
from interactive.surveys.service import SurveyError
from interactive.surveys.survey_form import short_codes, survey_form, to_input
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("surveys", __name__, template_folder="templates", static_folder="static")

RESPONDENTS_PAGE = 50
MAX_PREVIEW_REPLIES = 30

STATUSES = {
    SurveyStatus.DRAFT: _l("Draft"),
    SurveyStatus.LIVE: _l("Live"),
    SurveyStatus.CLOSED: _l("Closed"),
}
SESSION_STATES = {
    SessionState.QUEUED: _l("Queued"),
    SessionState.OPEN: _l("In progress"),
    SessionState.COMPLETED: _l("Completed"),
    SessionState.EXPIRED: _l("Expired"),
    SessionState.OPTED_OUT: _l("Opted out"),
    SessionState.ENDED: _l("Ended"),
}
TYPE_LABELS = {
    "single_choice": _l("Single choice"),
    "multiple_choice": _l("Multiple choice"),
    "yes_no": _l("Yes / no"),
    "rating": _l("Rating"),
    "nps": _l("NPS (0-10)"),
    "number": _l("Number"),
    "date": _l("Date"),
    "free_text": _l("Free text"),
}


class ConfirmForm(FlaskForm):
    """Only the CSRF token: for POST buttons."""


def _get(survey_id: int) -> Survey:
    survey = db.session().get(Survey, survey_id)
    if survey is None:
        abort(404)
    return survey


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "survey_statuses": STATUSES,
        "session_states": SESSION_STATES,
        "traffic_labels": labels.TRAFFIC,
    }


# --- list -----------------------------------------------------------------------------------


@bp.route("/")
@require(Permission.SURVEYS)
def index() -> ResponseReturnValue:
    session = db.session()
    surveys = list(session.scalars(sa.select(Survey).order_by(Survey.id.desc()).limit(200)))
    counts: dict[int, dict[str, int]] = {s.id: {"started": 0, "completed": 0} for s in surveys}
    for survey_id, state, count in session.execute(
        sa.select(SurveySession.survey_id, SurveySession.state, sa.func.count())
        .where(SurveySession.survey_id.in_(list(counts)))
        .group_by(SurveySession.survey_id, SurveySession.state)
    ):
        if state != SessionState.QUEUED:
            counts[survey_id]["started"] += count
        if state == SessionState.COMPLETED:
            counts[survey_id]["completed"] += count
    return render_template("surveys/index.html", surveys=surveys, counts=counts)


# --- builder --------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.SURVEYS)
def new() -> ResponseReturnValue:
    return _build(None)


@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@require(Permission.SURVEYS)
def edit(survey_id: int) -> ResponseReturnValue:
    return _build(_get(survey_id))


def _build(survey: Survey | None) -> ResponseReturnValue:
    session = db.session()
    form = survey_form(session, survey)
    problems: list[str] = []
    if form.validate_on_submit():
        going_live = request.form.get("action") == "live"
        try:
            saved = editing.save(session, to_input(form), survey=survey, user_id=current_user.id)
            if going_live:
                editing.go_live(session, saved)
        except SurveyError as exc:
            session.rollback()
            problems = [str(exc)]
        else:
            session.commit()
            log.info(
                "survey saved survey_id=%s live=%s by=%s", saved.id, going_live, current_user.id
            )
            flash(_("The survey is live.") if going_live else _("Survey saved."), "success")
            if going_live:
                return redirect(url_for("surveys.show", survey_id=saved.id))
            return redirect(url_for("surveys.edit", survey_id=saved.id))
    elif form.is_submitted():
        problems = [_("Some fields need attention; see below.")]
    return render_template(
        "surveys/form.html",
        form=form,
        survey=survey,
        problems=problems,
        short_codes=short_codes(session),
        type_labels={k: str(v) for k, v in TYPE_LABELS.items()},
        action=url_for("surveys.edit", survey_id=survey.id)
        if survey is not None
        else url_for("surveys.new"),
    )


@bp.route("/preview", methods=["POST"])
@require(Permission.SURVEYS)
def preview() -> ResponseReturnValue:
    """The builder's chat preview: the form as it is (saved or not) and the replies typed
    so far (one per line), played by ``editing.simulate``; nothing is stored or sent."""
    form = survey_form(db.session())
    form.validate()  # a half-written survey previews too; only the CSRF token must hold
    if "csrf_token" in form.errors:
        abort(400)
    try:
        data = to_input(form)
        questions = editing.check_questions(data.questions)
    except SurveyError as exc:
        return jsonify(error=str(exc)), 400
    survey = Survey(
        name=data.name,
        intro=data.intro,
        completion=data.completion,
        max_reprompts=data.settings["max_reprompts"],
        after_reprompts=data.settings["after_reprompts"],
    )
    version = editing.SurveyVersion(questions=questions)
    replies = [r for r in request.form.getlist("replies") if r.strip()][:MAX_PREVIEW_REPLIES]
    today = datetime.now(ZoneInfo(str(current_user.timezone))).date()
    lines = editing.simulate(version, survey, replies, today=today)
    return jsonify(
        lines=[{"who": line.who, "text": line.text, "note": line.note} for line in lines]
    )


@bp.route("/<int:survey_id>/<any(live, close):step>", methods=["POST"])
@require(Permission.SURVEYS)
def lifecycle(survey_id: int, step: str) -> ResponseReturnValue:
    session = db.session()
    survey = _get(survey_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        if step == "live":
            editing.go_live(session, survey)
            text = _("The survey is live.")
        else:
            editing.close(session, survey)
            text = _("The survey is closed: its keyword no longer starts it.")
    except SurveyError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        log.info("survey %s survey_id=%s by=%s", step, survey.id, current_user.id)
        flash(text, "success")
    return redirect(url_for("surveys.show", survey_id=survey_id))


# --- results --------------------------------------------------------------------------------


def _filters() -> results.Filters:
    """Campaign and a date range typed on the user's clock, as UTC bounds."""
    zone = ZoneInfo(str(current_user.timezone))

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return None

    since, until = day("since"), day("until")
    return results.Filters(
        campaign_id=request.args.get("campaign", type=int),
        since=datetime.combine(since, time(), zone).astimezone(UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), zone).astimezone(UTC)
        if until
        else None,
    )


def _filter_args() -> dict[str, str]:
    return {k: request.args[k] for k in ("campaign", "since", "until") if request.args.get(k)}


def _campaigns(survey: Survey) -> list[tuple[int, str]]:
    session = db.session()
    ids = sa.select(SurveySession.campaign_id).where(
        SurveySession.survey_id == survey.id, SurveySession.campaign_id.is_not(None)
    )
    rows = session.execute(
        sa.select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)).order_by(Campaign.id)
    )
    return [(campaign_id, name) for campaign_id, name in rows]


def _data(survey: Survey) -> dict[str, Any]:
    session = db.session()
    filters = _filters()
    return figures.payload(
        results.survey_funnel(session, survey.id, filters),
        results.question_results(session, survey, filters),
    )


@bp.route("/<int:survey_id>")
@require(Permission.SURVEYS)
def show(survey_id: int) -> ResponseReturnValue:
    survey = _get(survey_id)
    return render_template(
        "surveys/show.html",
        survey=survey,
        data=_data(survey),
        funnel_labels=[
            (key, label) for key, label, _n in figures.funnel_rows(results.SurveyFunnel())
        ],
        campaigns=_campaigns(survey),
        filter_args=_filter_args(),
        confirm=ConfirmForm(),
        type_labels=TYPE_LABELS,
    )


@bp.route("/<int:survey_id>/results.json")
@require(Permission.SURVEYS)
def results_json(survey_id: int) -> ResponseReturnValue:
    return jsonify(_data(_get(survey_id)))


# --- respondents ----------------------------------------------------------------------------


@bp.route("/<int:survey_id>/respondents")
@require(Permission.SURVEYS)
def respondents(survey_id: int) -> ResponseReturnValue:
    survey = _get(survey_id)
    query = (
        sa.select(SurveySession)
        .where(SurveySession.survey_id == survey.id)
        .order_by(SurveySession.id.desc())
        .limit(RESPONDENTS_PAGE + 1)
    )
    state = request.args.get("state", "")
    if state in {s.value for s in SessionState}:
        query = query.where(SurveySession.state == SessionState(state))
    before = request.args.get("before", type=int)
    if before:
        query = query.where(SurveySession.id < before)
    rows = list(db.session().scalars(query))
    more = len(rows) > RESPONDENTS_PAGE
    rows = rows[:RESPONDENTS_PAGE]
    return render_template(
        "surveys/respondents.html",
        survey=survey,
        rows=rows,
        state=state,
        next_before=rows[-1].id if more else None,
    )


@bp.route("/<int:survey_id>/respondents/<int:session_id>")
@require(Permission.SURVEYS)
def transcript(survey_id: int, session_id: int) -> ResponseReturnValue:
    survey = _get(survey_id)
    row = db.session().get(SurveySession, session_id)
    if row is None or row.survey_id != survey.id:
        abort(404)
    return render_template(
        "surveys/transcript.html",
        survey=survey,
        row=row,
        lines=results.transcript(db.session(), row),
    )


@bp.route("/<int:survey_id>/respondents.<any(csv, xlsx):kind>")
@require(Permission.SURVEYS)
def export(survey_id: int, kind: str) -> ResponseReturnValue:
    """The respondents as CSV or XLSX, with the results page's filters."""
    survey = _get(survey_id)
    rows = export_file.table(db.session(), survey, _filters(), SESSION_STATES)
    log.info(
        "survey respondents exported survey_id=%s kind=%s by=%s", survey.id, kind, current_user.id
    )
    name = f"survey-{survey.id}-respondents.{kind}"
    if kind == "xlsx":
        return send_file(
            export_file.as_xlsx(rows, survey.name),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            as_attachment=True,
            download_name=name,
        )
    return Response(
        export_file.as_csv(rows),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
