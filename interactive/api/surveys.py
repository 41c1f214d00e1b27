"""API routes for surveys (on the ``api`` blueprint): building them, going live and
closing, starting one for a contact, results and respondents.

422 means the body or a query parameter does not match the document. A well-formed
request that cannot be carried out answers 409 with a stable code: ``survey_problems``
(the questions or settings cannot be saved, or the survey's state does not allow the
action), ``not_live``, ``invalid_number``, ``unknown_contact``, ``refused`` (another survey
is open for the number and the survey refuses to queue) or ``not_eligible``. Everything
needs the surveys permission (marketers and admins).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.api import schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError, datetime_arg
from interactive.api.views import (
    MAX_ID,
    QUERY_PARAMETERS,
    _int_arg,
    api_key_required,
    bp,
    parse_body,
)
from interactive.contacts import phones
from interactive.contacts.models import Brand, Contact
from interactive.db import db
from interactive.outbound.models import Traffic
from interactive.redis_store import get_redis
from interactive.surveys import editing, results, service
from interactive.surveys.models import (
    AfterReprompts,
    SessionState,
    Survey,
    SurveyAnswer,
    SurveySession,
    SurveyStatus,
    SurveyVersion,
    WhenOpen,
)
from interactive.web.models import Permission

FILTERS = frozenset({"campaign_id", "since", "until"})
QUERY_PARAMETERS.update(
    {
        "api.list_surveys": frozenset({"status", "limit", "after"}),
        "api.survey_results": FILTERS,
        "api.survey_respondents": FILTERS | {"limit", "after"},
    }
)

# Session ids are 64-bit.
MAX_BIG_ID = 2**63 - 1


def _problem(code: str, message: str, field: str | None = None) -> ApiError:
    return ApiError(409, message, code=code, details=[{"field": field, "message": message}])


def _survey_or_404(session: Session, survey_id: int, *, lock: bool = False) -> Survey:
    survey = session.get(Survey, survey_id, with_for_update=lock) if survey_id <= MAX_ID else None
    if survey is None:
        raise ApiError(404, f"No survey with id {survey_id}.")
    return survey


def _session_count(session: Session, survey_id: int) -> int:
    query = sa.select(sa.func.count()).where(SurveySession.survey_id == survey_id)
    return int(session.scalar(query) or 0)


def survey_out(session: Session, survey: Survey) -> dict[str, Any]:
    version = session.get(SurveyVersion, survey.current_version_id or 0)
    return schemas.SurveyOut(
        id=survey.id,
        name=survey.name,
        status=SurveyStatus(survey.status),
        short_code=survey.short_code,
        brand_id=survey.brand_id,
        intro=survey.intro,
        completion=survey.completion,
        keyword=survey.keyword,
        traffic=Traffic(survey.traffic),
        when_open=WhenOpen(survey.when_open),
        max_reprompts=survey.max_reprompts,
        after_reprompts=AfterReprompts(survey.after_reprompts),
        remind_after_hours=survey.remind_after_hours,
        question_expiry_hours=survey.question_expiry_hours,
        expiry_hours=survey.expiry_hours,
        version=version.number if version is not None else None,
        questions=list(version.questions or []) if version is not None else [],
        sessions=_session_count(session, survey.id),
        created_at=survey.created_at,
        updated_at=survey.updated_at,
    ).model_dump(mode="json")


def session_out(row: SurveySession) -> dict[str, Any]:
    return schemas.SurveySessionOut(
        id=row.id,
        survey_id=row.survey_id,
        version_id=row.version_id,
        phone=row.phone,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        trigger=row.trigger,
        state=SessionState(row.state),
        question_key=row.question_key,
        started_at=row.started_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    ).model_dump(mode="json")


def _survey_input(body: schemas.SurveyIn) -> editing.SurveyInput:
    return editing.SurveyInput(
        name=body.name,
        short_code=body.short_code,
        questions=[q.model_dump(mode="json", exclude_none=True) for q in body.questions],
        brand_id=body.brand_id,
        intro=body.intro,
        completion=body.completion,
        keyword=body.keyword,
        settings={
            **{key: getattr(body, key) for key in editing.SETTINGS},
            "when_open": WhenOpen(body.when_open),
            "after_reprompts": AfterReprompts(body.after_reprompts),
            "traffic": Traffic(body.traffic),
        },
    )


def _save(session: Session, body: schemas.SurveyIn, survey: Survey | None) -> Survey:
    if body.brand_id is not None and session.get(Brand, body.brand_id) is None:
        raise _problem(
            "survey_problems", str(_l("No brand with id %(id)s.", id=body.brand_id)), "brand_id"
        )
    api_key: Caller = g.api_key
    try:
        saved = editing.save(
            session, _survey_input(body), survey=survey, user_id=api_key.created_by_id
        )
    except service.SurveyError as exc:
        session.rollback()
        raise _problem("survey_problems", str(exc)) from None
    session.commit()
    return saved


def _filters() -> results.Filters:
    campaign_id = _int_arg("campaign_id", 0, 1, MAX_ID) or None
    return results.Filters(
        campaign_id=campaign_id, since=datetime_arg("since"), until=datetime_arg("until")
    )


# --- building ---------------------------------------------------------------------------------


@bp.route("/surveys")
@api_key_required(Permission.SURVEYS)
def list_surveys() -> Response:
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in SurveyStatus}:
        raise ApiError(
            422,
            f"'status' must be one of: {', '.join(s.value for s in SurveyStatus)}.",
            details=[{"field": "status", "message": "not one of the accepted values"}],
        )
    limit = _int_arg("limit", 50, 1, 200)
    after = _int_arg("after", 0, 0, MAX_ID)
    query = sa.select(Survey).where(Survey.id > after).order_by(Survey.id).limit(limit + 1)
    if status is not None:
        query = query.where(Survey.status == SurveyStatus(status))
    dbs = db.session()
    rows = dbs.scalars(query).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify(
        {"items": [survey_out(dbs, s) for s in rows[:limit]], "next_cursor": next_cursor}
    )


@bp.route("/surveys", methods=["POST"])
@api_key_required(Permission.SURVEYS)
def create_survey() -> tuple[Response, int]:
    body = parse_body(schemas.SurveyIn)
    dbs = db.session()
    survey = _save(dbs, body, None)
    return jsonify(survey_out(dbs, survey)), 201


@bp.route("/surveys/<int:survey_id>")
@api_key_required(Permission.SURVEYS)
def get_survey(survey_id: int) -> Response:
    dbs = db.session()
    return jsonify(survey_out(dbs, _survey_or_404(dbs, survey_id)))


@bp.route("/surveys/<int:survey_id>", methods=["PUT"])
@api_key_required(Permission.SURVEYS)
def replace_survey(survey_id: int) -> Response:
    """Settings and questions replaced; a live survey's questions change in a new version
    (running sessions keep theirs)."""
    body = parse_body(schemas.SurveyIn)
    dbs = db.session()
    survey = _save(dbs, body, _survey_or_404(dbs, survey_id, lock=True))
    return jsonify(survey_out(dbs, survey))


@bp.route("/surveys/<int:survey_id>", methods=["DELETE"])
@api_key_required(Permission.SURVEYS)
def delete_survey(survey_id: int) -> tuple[str, int]:
    dbs = db.session()
    survey = _survey_or_404(dbs, survey_id, lock=True)
    if survey.status == SurveyStatus.LIVE:
        raise _problem("survey_problems", str(_l("Close a live survey before deleting it.")))
    if _session_count(dbs, survey.id):
        raise _problem(
            "survey_problems", str(_l("A survey with sessions cannot be deleted; close it."))
        )
    dbs.execute(sa.delete(SurveyVersion).where(SurveyVersion.survey_id == survey.id))
    dbs.delete(survey)
    dbs.commit()
    return "", 204


# --- lifecycle --------------------------------------------------------------------------------


@bp.route("/surveys/<int:survey_id>/live", methods=["POST"])
@api_key_required(Permission.SURVEYS)
def survey_live(survey_id: int) -> Response:
    """Draft or closed → live (its keyword starts it); live stays live."""
    dbs = db.session()
    survey = _survey_or_404(dbs, survey_id, lock=True)
    try:
        editing.go_live(dbs, survey)
    except service.SurveyError as exc:
        dbs.rollback()
        raise _problem("survey_problems", str(exc)) from None
    dbs.commit()
    return jsonify(survey_out(dbs, survey))


@bp.route("/surveys/<int:survey_id>/close", methods=["POST"])
@api_key_required(Permission.SURVEYS)
def survey_close(survey_id: int) -> Response:
    """Live → closed: no new sessions; running ones go on until they end."""
    dbs = db.session()
    survey = _survey_or_404(dbs, survey_id, lock=True)
    if survey.status == SurveyStatus.DRAFT:
        raise _problem("survey_problems", str(_l("Only a live survey can be closed.")))
    editing.close(dbs, survey)
    dbs.commit()
    return jsonify(survey_out(dbs, survey))


# --- sessions ---------------------------------------------------------------------------------


def _recipient(dbs: Session, body: schemas.SurveySessionIn) -> tuple[str, Contact | None]:
    if body.contact_id is not None:
        contact = dbs.get(Contact, body.contact_id) if body.contact_id <= MAX_BIG_ID else None
        if contact is None:
            raise _problem(
                "unknown_contact",
                str(_l("No contact with id %(id)s.", id=body.contact_id)),
                "contact_id",
            )
        return contact.phone, contact
    parsed = phones.normalise(body.phone or "", str(current_app.config["DEFAULT_REGION"]))
    if parsed.e164 is None:
        raise _problem(
            "invalid_number", str(phones.error_message(parsed.error or "invalid_number")), "phone"
        )
    contact = dbs.scalar(sa.select(Contact).where(Contact.phone == parsed.e164))
    return parsed.e164, contact


@bp.route("/surveys/<int:survey_id>/sessions", methods=["POST"])
@api_key_required(Permission.SURVEYS)
def start_survey_session(survey_id: int) -> tuple[Response, int]:
    """Start the survey for one number; its first question waits for the allowed hours."""
    body = parse_body(schemas.SurveySessionIn)
    dbs = db.session()
    survey = _survey_or_404(dbs, survey_id)
    if survey.status != SurveyStatus.LIVE:
        raise _problem("not_live", str(_l("Only a live survey can be started.")))
    phone, contact = _recipient(dbs, body)
    outbox = service.Outbox(get_redis(), str(current_app.config["REDIS_PREFIX"]))
    try:
        started = service.start(
            dbs, outbox, survey, phone=phone, contact=contact, trigger="api", solicited=False
        )
    except service.SurveyError as exc:
        dbs.rollback()
        raise _problem("survey_problems", str(exc)) from None
    if started is None:
        dbs.rollback()
        raise _problem("refused", str(_l("Another survey is open for this number.")))
    if started.state == SessionState.ENDED:
        dbs.rollback()
        raise _problem(
            "not_eligible", str(_l("This number may not get this survey's kind of message."))
        )
    dbs.commit()
    return jsonify(session_out(started)), 201


# --- results ----------------------------------------------------------------------------------


@bp.route("/surveys/<int:survey_id>/results")
@api_key_required(Permission.SURVEYS)
def survey_results(survey_id: int) -> Response:
    filters = _filters()
    dbs = db.session()
    survey = _survey_or_404(dbs, survey_id)
    funnel = results.survey_funnel(dbs, survey.id, filters)
    out = schemas.SurveyResults(
        survey_id=survey.id,
        funnel=schemas.SurveyFunnelOut(**vars(funnel)),
        questions=[
            schemas.QuestionResultOut(**vars(result))
            for result in results.question_results(dbs, survey, filters)
        ],
    )
    return jsonify(out.model_dump(mode="json"))


@bp.route("/surveys/<int:survey_id>/respondents")
@api_key_required(Permission.SURVEYS)
def survey_respondents(survey_id: int) -> Response:
    """One row per session, by id, with each question's answer."""
    filters = _filters()
    limit = _int_arg("limit", 100, 1, 500)
    after = _int_arg("after", 0, 0, MAX_BIG_ID)
    dbs = db.session()
    survey = _survey_or_404(dbs, survey_id)
    keys = [q["key"] for q in results.questions_of(dbs, survey)]
    query = (
        sa.select(SurveySession)
        .where(SurveySession.id.in_(results._sessions(survey.id, filters)))
        .where(SurveySession.id > after)
        .order_by(SurveySession.id)
        .limit(limit + 1)
    )
    rows = list(dbs.scalars(query))
    answers = _answers_of(dbs, [row.id for row in rows[:limit]])
    items = [
        schemas.RespondentOut(
            session_id=row.id,
            phone=row.phone,
            contact_id=row.contact_id,
            campaign_id=row.campaign_id,
            state=SessionState(row.state),
            started_at=row.started_at,
            ended_at=row.ended_at,
            answers={key: answers.get(row.id, {}).get(key) for key in keys},
        ).model_dump(mode="json")
        for row in rows[:limit]
    ]
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"items": items, "next_cursor": next_cursor})


def _answers_of(dbs: Session, session_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Answered questions by session (the parsed value, else the reply as sent)."""
    found: dict[int, dict[str, Any]] = {}
    query = sa.select(
        SurveyAnswer.session_id, SurveyAnswer.question_key, SurveyAnswer.value, SurveyAnswer.raw
    ).where(SurveyAnswer.session_id.in_(session_ids), SurveyAnswer.answered_at.is_not(None))
    for session_id, key, value, raw in dbs.execute(query):
        found.setdefault(session_id, {})[key] = value if value is not None else raw
    return found
