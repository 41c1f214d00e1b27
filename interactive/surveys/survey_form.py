"""The survey builder's form: what a marketer types, turned into an ``editing.SurveyInput``
(and back, to edit a saved survey). The questions travel as JSON, built by the page's
editor (or typed by hand)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from interactive.contacts.models import Brand
from interactive.keywords.models import ShortCode
from interactive.outbound import labels
from interactive.outbound.models import Traffic
from interactive.surveys.editing import SurveyInput
from interactive.surveys.models import AfterReprompts, Survey, SurveyVersion, WhenOpen
from interactive.surveys.service import SurveyError

WHEN_OPEN = {
    WhenOpen.QUEUE: _l("Wait until the open one ends"),
    WhenOpen.REPLACE: _l("End the open one and start this one"),
    WhenOpen.REFUSE: _l("Do not start this one"),
}
AFTER_REPROMPTS = {
    AfterReprompts.SKIP: _l("Skip the question"),
    AfterReprompts.END: _l("End the survey"),
}


class SurveyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    brand_id = SelectField(_l("Brand"), coerce=int, choices=[])
    short_code = StringField(_l("Short code"), validators=[InputRequired(), Length(max=21)])
    traffic = RadioField(
        _l("Type"),
        choices=[(t.value, labels.TRAFFIC[t]) for t in (Traffic.INFORMATIONAL, Traffic.COMMERCIAL)],
        default=Traffic.INFORMATIONAL.value,
    )
    intro = TextAreaField(_l("Introduction"), validators=[Length(max=500)])
    completion = TextAreaField(_l("Thank-you text"), validators=[Length(max=500)])
    keyword = StringField(_l("Start keyword"), validators=[Length(max=64)])
    when_open = SelectField(
        _l("When the contact has another survey open"),
        choices=list(WHEN_OPEN.items()),
        default=WhenOpen.QUEUE.value,
    )
    max_reprompts = IntegerField(
        _l("Re-prompts for an answer not understood"),
        default=2,
        validators=[InputRequired(), NumberRange(0, 5)],
    )
    after_reprompts = SelectField(
        _l("After the last re-prompt"),
        choices=list(AFTER_REPROMPTS.items()),
        default=AfterReprompts.SKIP.value,
    )
    remind_after_hours = IntegerField(
        _l("Reminder after (hours)"), default=4, validators=[Optional(), NumberRange(1, 168)]
    )
    question_expiry_hours = IntegerField(
        _l("A question expires after (hours)"),
        default=24,
        validators=[Optional(), NumberRange(1, 720)],
    )
    expiry_hours = IntegerField(
        _l("The survey expires after (hours)"),
        default=72,
        validators=[Optional(), NumberRange(1, 2160)],
    )
    questions = TextAreaField(_l("Questions (JSON)"), default="[]")


def survey_form(session: Session, survey: Survey | None = None) -> SurveyForm:
    """The builder's form, filled from ``survey`` on a GET (the request's data on a POST)."""
    form = SurveyForm(obj=survey if survey is not None else None)
    form.brand_id.choices = [(0, _("No brand"))] + [
        (b.id, b.name) for b in session.scalars(sa.select(Brand).order_by(Brand.name))
    ]
    if survey is not None and not form.is_submitted():
        form.brand_id.data = survey.brand_id or 0
        form.traffic.data = survey.traffic.value
        form.when_open.data = survey.when_open.value
        form.after_reprompts.data = survey.after_reprompts.value
        form.keyword.data = survey.keyword or ""
        version = session.get(SurveyVersion, survey.current_version_id or 0)
        form.questions.data = json.dumps(
            version.questions if version else [], ensure_ascii=False, indent=2
        )
    return form


def short_codes(session: Session) -> list[str]:
    return list(session.scalars(sa.select(ShortCode.code).order_by(ShortCode.code)))


def to_input(form: SurveyForm) -> SurveyInput:
    """The form as the editing service takes it; SurveyError when the questions are not
    JSON (the service checks the rest)."""
    try:
        questions = json.loads(form.questions.data or "[]")
    except (ValueError, RecursionError) as exc:
        raise SurveyError(_("The questions are not valid JSON: %(error)s", error=str(exc))) from exc
    settings: dict[str, Any] = {
        "traffic": Traffic(form.traffic.data or Traffic.INFORMATIONAL.value),
        "when_open": WhenOpen(form.when_open.data),
        "max_reprompts": form.max_reprompts.data if form.max_reprompts.data is not None else 2,
        "after_reprompts": AfterReprompts(form.after_reprompts.data),
        "remind_after_hours": form.remind_after_hours.data,
        "question_expiry_hours": form.question_expiry_hours.data,
        "expiry_hours": form.expiry_hours.data,
    }
    return SurveyInput(
        name=form.name.data or "",
        short_code=form.short_code.data or "",
        questions=questions,
        brand_id=form.brand_id.data or None,
        intro=(form.intro.data or "").strip(),
        completion=(form.completion.data or "").strip(),
        keyword=form.keyword.data or None,
        settings=settings,
    )
