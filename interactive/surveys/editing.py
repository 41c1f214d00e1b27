"""Building surveys: checking questions and branches, versions, going live, and a preview
that plays the survey as a chat without sending anything. Flushes, never commits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import Session

from interactive.keywords.models import KeywordRule, MatchMode
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.surveys import parsing
from interactive.surveys.models import Survey, SurveyStatus, SurveyVersion
from interactive.surveys.service import END, SurveyError, ask_text, next_key

TYPES = (
    "single_choice",
    "multiple_choice",
    "yes_no",
    "rating",
    "nps",
    "number",
    "date",
    "free_text",
)
CHOICE_TYPES = ("single_choice", "multiple_choice")
_KEY = re.compile(r"^[a-z0-9_]{1,32}$")
# Columns of a respondent's row next to the answers (``results.respondents``).
RESERVED_KEYS = frozenset(
    {"session", "phone", "contact_id", "campaign_id", "state", "started_at", "ended_at"}
)
MAX_QUESTIONS = 50


def check_questions(raw: Any) -> list[dict[str, Any]]:
    """The questions, checked and normalised; SurveyError names the first problem."""
    if not isinstance(raw, list) or not raw:
        raise SurveyError(gettext("A survey needs at least one question."))
    if len(raw) > MAX_QUESTIONS:
        raise SurveyError(gettext("A survey has at most %(n)d questions.", n=MAX_QUESTIONS))
    checked: list[dict[str, Any]] = []
    keys: list[str] = []
    for index, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise SurveyError(gettext("Question %(n)d is not an object.", n=index))
        key = str(item.get("key") or f"q{index}").strip().lower()
        if key in RESERVED_KEYS or key == END:
            raise SurveyError(
                gettext("Question %(n)d: the key %(key)s is reserved.", n=index, key=key)
            )
        if not _KEY.match(key):
            raise SurveyError(
                gettext("Question %(n)d: the key may use a-z, 0-9 and _ (32 at most).", n=index)
            )
        if key in keys:
            raise SurveyError(
                gettext("Question %(n)d: the key %(key)s is used twice.", n=index, key=key)
            )
        keys.append(key)
        kind = item.get("type")
        if kind not in TYPES:
            raise SurveyError(gettext("Question %(n)d: unknown type.", n=index))
        text = str(item.get("text") or "").strip()
        if not text:
            raise SurveyError(gettext("Question %(n)d has no text.", n=index))
        question = {**item, "key": key, "type": kind, "text": text}
        question["reprompt"] = str(item.get("reprompt") or "").strip()
        if kind in CHOICE_TYPES:
            options = item.get("options") or []
            if not isinstance(options, list) or len(options) < 2:
                raise SurveyError(gettext("Question %(n)d needs at least two options.", n=index))
        try:
            parsing.Question.from_json(question)
        except (TypeError, ValueError, KeyError) as exc:
            raise SurveyError(
                gettext("Question %(n)d: %(error)s", n=index, error=str(exc))
            ) from exc
        checked.append(question)
    for index, question in enumerate(checked, 1):
        targets = [b.get("goto") for b in question.get("branches") or [] if isinstance(b, dict)]
        if question.get("next"):
            targets.append(question["next"])
        for target in targets:
            if target != END and target not in keys:
                raise SurveyError(
                    gettext("Question %(n)d: a branch goes to an unknown question.", n=index)
                )
            if target in keys and keys.index(target) <= index - 1:
                raise SurveyError(gettext("Question %(n)d: a branch may only go forward.", n=index))
    return checked


@dataclass
class SurveyInput:
    name: str
    short_code: str
    questions: list[dict[str, Any]]
    brand_id: int | None = None
    intro: str = ""
    completion: str = ""
    keyword: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # when_open, max_reprompts…


SETTINGS = (
    "traffic",
    "when_open",
    "max_reprompts",
    "after_reprompts",
    "remind_after_hours",
    "question_expiry_hours",
    "expiry_hours",
)


def save(
    session: Session, data: SurveyInput, *, survey: Survey | None = None, user_id: int | None = None
) -> Survey:
    """Create or change a survey. Questions of a live survey change in a new version (the
    running sessions keep theirs); a question keeps its type across versions, so that its
    answers stay comparable."""
    name = data.name.strip()
    if not name:
        raise SurveyError(gettext("A survey needs a name."))
    if not data.short_code.strip():
        raise SurveyError(gettext("A survey needs a short code."))
    questions = check_questions(data.questions)
    if survey is None:
        survey = Survey(name=name, short_code=data.short_code.strip(), created_by=user_id)
        session.add(survey)
    survey.name = name[:120]
    survey.short_code = data.short_code.strip().lstrip("+")[:21]
    survey.brand_id = data.brand_id
    survey.intro = data.intro
    survey.completion = data.completion
    survey.keyword = (data.keyword or "").strip().upper() or None
    for key in SETTINGS:
        if key in data.settings:
            setattr(survey, key, data.settings[key])
    session.flush()
    version = session.get(SurveyVersion, survey.current_version_id or 0)
    frozen = session.scalars(
        sa.select(SurveyVersion).where(
            SurveyVersion.survey_id == survey.id, SurveyVersion.frozen.is_(True)
        )
    ).all()
    for old in frozen:
        _refuse_type_changes(old.questions, questions)
    if version is None:
        version = SurveyVersion(survey_id=survey.id, number=1, questions=questions)
        session.add(version)
    elif version.questions != questions:
        if version.frozen:
            number = (
                session.scalar(
                    sa.select(sa.func.max(SurveyVersion.number)).where(
                        SurveyVersion.survey_id == survey.id
                    )
                )
                or 0
            )
            version = SurveyVersion(survey_id=survey.id, number=number + 1, questions=questions)
            session.add(version)
        else:
            version.questions = questions
    session.flush()
    survey.current_version_id = version.id
    if survey.status == SurveyStatus.LIVE:
        _keep_keyword_rule(session, survey)
    session.flush()
    return survey


def _refuse_type_changes(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> None:
    before = {q["key"]: q["type"] for q in old}
    for question in new:
        if before.get(question["key"], question["type"]) != question["type"]:
            raise SurveyError(
                gettext(
                    "Question %(key)s already has answers as another type; add a new question "
                    "instead of changing its type.",
                    key=question["key"],
                )
            )


def go_live(session: Session, survey: Survey) -> None:
    version = session.get(SurveyVersion, survey.current_version_id or 0)
    if version is None:
        raise SurveyError(gettext("The survey has no questions."))
    check_questions(version.questions)
    _keep_keyword_rule(session, survey)  # first: a keyword in use refuses before any change
    version.frozen = True
    survey.status = SurveyStatus.LIVE
    session.flush()


def close(session: Session, survey: Survey) -> None:
    survey.status = SurveyStatus.CLOSED
    for rule in _rules_of(session, survey):
        rule.active = False
    session.flush()


def _rules_of(session: Session, survey: Survey) -> list[KeywordRule]:
    rules = session.scalars(sa.select(KeywordRule).where(KeywordRule.handler == "survey"))
    return [r for r in rules if str((r.settings or {}).get("survey_id")) == str(survey.id)]


def _keep_keyword_rule(session: Session, survey: Survey) -> None:
    """A live survey with a keyword has an active rule on its short code that starts it."""
    rules = _rules_of(session, survey)
    if not survey.keyword:
        for rule in rules:
            rule.active = False
        return
    code = ensure_short_codes(session, [(survey.short_code, "")])[survey.short_code]
    found = next((r for r in rules if r.short_code_id == code.id), None)
    clash = session.scalar(
        sa.select(KeywordRule.id).where(
            KeywordRule.short_code_id == code.id,
            KeywordRule.active.is_(True),
            sa.func.upper(KeywordRule.keyword) == (survey.keyword or "").upper(),
            KeywordRule.id != (found.id if found is not None else -1),
        )
    )
    if clash is not None:
        raise SurveyError(
            gettext(
                "The keyword %(keyword)s is already in use on %(code)s.",
                keyword=survey.keyword,
                code=survey.short_code,
            )
        )
    rule = found or KeywordRule(
        short_code_id=code.id,
        handler="survey",
        settings={"survey_id": survey.id},
        match_mode=MatchMode.FIRST_WORD,
        priority=10,
    )
    if found is None:
        session.add(rule)
    rule.keyword = survey.keyword or ""
    rule.active = True


# --- Preview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    who: str  # "survey" or "customer"
    text: str
    note: str = ""  # how the reply was understood


def simulate(
    version: SurveyVersion, survey: Survey, replies: Sequence[str], *, today: date
) -> list[Line]:
    """The chat a respondent giving ``replies`` would have (nothing is stored or sent)."""
    items = {q["key"]: q for q in version.questions or []}
    if not items:
        return []
    first = version.questions[0]
    opening = ask_text(first)
    lines = [Line("survey", f"{survey.intro.strip()}\n{opening}".strip())]
    key: str | None = first["key"]
    reprompts = 0
    for reply in replies:
        if key is None:
            break
        lines.append(Line("customer", reply))
        question = items[key]
        result = parsing.parse(parsing.Question.from_json(question), reply, today=today)
        if not result.valid:
            reprompts += 1
            if reprompts <= survey.max_reprompts:
                lines.append(Line("survey", ask_text(question, reprompt=True), str(result.reason)))
                continue
            if survey.after_reprompts == "end":
                lines.append(
                    Line("survey", gettext("Thank you. The survey has ended."), str(result.reason))
                )
                break
            value = None
            note = gettext("skipped")
        else:
            value, note = result.value, str(result.value)
        reprompts = 0
        key = next_key(version, key, value)
        if key is None:
            lines.append(
                Line(
                    "survey",
                    survey.completion.strip() or gettext("Thank you for your answers."),
                    note,
                )
            )
        else:
            lines.append(Line("survey", ask_text(items[key]), note))
    return lines
