"""Survey results: funnels, answer distributions, NPS, response times, transcripts and
one row per respondent for exports. Reads only; aggregates run in SQL, distributions are
counted from the answer values of one question at a time."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.keywords.models import InboundMessage
from interactive.outbound.models import Message
from interactive.surveys.models import (
    SessionState,
    Survey,
    SurveyAnswer,
    SurveySession,
    SurveyVersion,
)


@dataclass(frozen=True)
class Filters:
    campaign_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _sessions(survey_id: int, filters: Filters) -> sa.Select[Any]:
    query = sa.select(SurveySession.id).where(SurveySession.survey_id == survey_id)
    if filters.campaign_id is not None:
        query = query.where(SurveySession.campaign_id == filters.campaign_id)
    if filters.since is not None:
        query = query.where(SurveySession.started_at >= filters.since)
    if filters.until is not None:
        query = query.where(SurveySession.started_at < filters.until)
    return query


@dataclass
class SurveyFunnel:
    started: int = 0
    completed: int = 0
    expired: int = 0
    opted_out: int = 0
    ended: int = 0
    open: int = 0
    queued: int = 0


def survey_funnel(session: Session, survey_id: int, filters: Filters = Filters()) -> SurveyFunnel:
    rows = session.execute(
        sa.select(SurveySession.state, sa.func.count())
        .where(SurveySession.id.in_(_sessions(survey_id, filters)))
        .group_by(SurveySession.state)
    )
    funnel = SurveyFunnel()
    for state, count in rows:
        if state != SessionState.QUEUED:
            funnel.started += count
        setattr(funnel, state.value, getattr(funnel, state.value) + count)
    return funnel


@dataclass
class QuestionResult:
    key: str
    text: str
    type: str
    sent: int = 0
    answered: int = 0
    reprompted: int = 0
    skipped: int = 0
    median_response_s: float | None = None
    counts: dict[str, int] = field(default_factory=dict)  # answer → respondents
    texts: list[str] = field(default_factory=list)  # free text (latest first)
    nps: dict[str, Any] | None = None
    mean: float | None = None


def questions_of(session: Session, survey: Survey) -> list[dict[str, Any]]:
    """The questions of every version, the latest wording of each key, in order."""
    versions = session.scalars(
        sa.select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(SurveyVersion.number)
    ).all()
    merged: dict[str, dict[str, Any]] = {}
    for version in versions:
        for question in version.questions or []:
            merged[question["key"]] = question
    current = next((v for v in versions if v.id == survey.current_version_id), None)
    order = [q["key"] for q in (current.questions if current else [])]
    return [merged[k] for k in order] + [q for k, q in merged.items() if k not in order]


def question_results(
    session: Session, survey: Survey, filters: Filters = Filters(), *, text_limit: int = 200
) -> list[QuestionResult]:
    sessions = _sessions(survey.id, filters)
    stats = {
        key: (sent, answered, reprompted, skipped)
        for key, sent, answered, reprompted, skipped in session.execute(
            sa.select(
                SurveyAnswer.question_key,
                sa.func.count(),
                sa.func.count(SurveyAnswer.answered_at),
                sa.func.count().filter(SurveyAnswer.reprompts > 0),
                sa.func.count().filter(SurveyAnswer.skipped.is_(True)),
            )
            .where(SurveyAnswer.session_id.in_(sessions))
            .group_by(SurveyAnswer.question_key)
        )
    }
    results = []
    for question in questions_of(session, survey):
        key = question["key"]
        sent, answered, reprompted, skipped = stats.get(key, (0, 0, 0, 0))
        result = QuestionResult(
            key,
            question.get("text", ""),
            question.get("type", ""),
            sent,
            answered,
            reprompted,
            skipped,
        )
        values: list[Any] = []
        waits: list[float] = []
        for value, raw, asked_at, answered_at in session.execute(
            sa.select(
                SurveyAnswer.value,
                SurveyAnswer.raw,
                SurveyAnswer.asked_at,
                SurveyAnswer.answered_at,
            )
            .where(
                SurveyAnswer.session_id.in_(sessions),
                SurveyAnswer.question_key == key,
                SurveyAnswer.answered_at.is_not(None),
            )
            .order_by(SurveyAnswer.answered_at.desc())
        ):
            values.append(value)
            waits.append((answered_at - asked_at).total_seconds())
            if result.type == "free_text" and len(result.texts) < text_limit:
                result.texts.append(str(value if value is not None else raw or ""))
        if waits:
            result.median_response_s = statistics.median(waits)
        _distribution(result, question, values)
        results.append(result)
    return results


def _distribution(result: QuestionResult, question: dict[str, Any], values: list[Any]) -> None:
    counter: Counter[str] = Counter()
    labels = [_option_label(o) for o in question.get("options") or []]
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            counter[_label(item, labels, result.type)] += 1
    if result.type in ("rating", "nps", "number"):
        numbers = [
            float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if numbers:
            result.mean = round(statistics.fmean(numbers), 2)
        low = int(question.get("min") or (0 if result.type == "nps" else 1))
        high = int(question.get("max") or (10 if result.type == "nps" else 5))
        if result.type != "number":
            counter = Counter({str(n): counter.get(str(n), 0) for n in range(low, high + 1)})
        if result.type == "nps" and numbers:
            promoters = sum(1 for n in numbers if n >= 9)
            detractors = sum(1 for n in numbers if n <= 6)
            total = len(numbers)
            result.nps = {
                "promoters": promoters,
                "passives": total - promoters - detractors,
                "detractors": detractors,
                "score": round((promoters - detractors) * 100 / total),
            }
    elif labels:
        counter = Counter({label: counter.get(label, 0) for label in labels} | dict(counter))
    if result.type != "free_text":
        result.counts = dict(counter)


def _option_label(option: Any) -> str:
    return str(option.get("label", "")) if isinstance(option, dict) else str(option)


def _label(value: Any, labels: list[str], kind: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if (
        kind in ("single_choice", "multiple_choice")
        and isinstance(value, int)
        and 1 <= value <= len(labels)
    ):
        return labels[value - 1]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- Respondents -------------------------------------------------------------------------------


def respondents(
    session: Session, survey: Survey, filters: Filters = Filters()
) -> Iterator[dict[str, Any]]:
    """One row per session: who, state, when, and each question's answer (for exports)."""
    keys = [q["key"] for q in questions_of(session, survey)]
    sessions = session.execute(
        sa.select(SurveySession)
        .where(SurveySession.id.in_(_sessions(survey.id, filters)))
        .order_by(SurveySession.id)
        .execution_options(yield_per=1000)
    ).scalars()
    batch: list[SurveySession] = []
    for row in sessions:
        batch.append(row)
        if len(batch) == 1000:
            yield from _rows(session, batch, keys)
            batch = []
    if batch:
        yield from _rows(session, batch, keys)


def _rows(
    session: Session, batch: list[SurveySession], keys: list[str]
) -> Iterator[dict[str, Any]]:
    answers: dict[int, dict[str, Any]] = {}
    for session_id, key, value, raw in session.execute(
        sa.select(
            SurveyAnswer.session_id, SurveyAnswer.question_key, SurveyAnswer.value, SurveyAnswer.raw
        ).where(
            SurveyAnswer.session_id.in_([s.id for s in batch]),
            SurveyAnswer.answered_at.is_not(None),
        )
    ):
        answers.setdefault(session_id, {})[key] = value if value is not None else raw
    for row in batch:
        given = answers.get(row.id, {})
        yield {
            "session": row.id,
            "phone": row.phone,
            "contact_id": row.contact_id,
            "campaign_id": row.campaign_id,
            "state": row.state.value,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            **{key: given.get(key) for key in keys},
        }


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    direction: str  # "out" or "in"
    text: str


def transcript(session: Session, survey_session: SurveySession) -> list[TranscriptLine]:
    """The messages exchanged with the respondent on the survey's short code while the
    session ran."""
    until = survey_session.ended_at or datetime.max.replace(tzinfo=survey_session.started_at.tzinfo)
    forms = [survey_session.phone, survey_session.phone.removeprefix("+")]
    outgoing = session.execute(
        sa.select(Message.created_at, Message.body).where(
            Message.destination.in_(forms),
            Message.source == survey_session.short_code,
            Message.created_at >= survey_session.started_at,
            Message.created_at <= until,
        )
    )
    incoming = session.execute(
        sa.select(InboundMessage.received_at, InboundMessage.text).where(
            InboundMessage.phone == survey_session.phone,
            InboundMessage.destination.in_(
                [survey_session.short_code, f"+{survey_session.short_code}"]
            ),
            InboundMessage.received_at >= survey_session.started_at,
            InboundMessage.received_at <= until,
        )
    )
    lines = [TranscriptLine(at, "out", body) for at, body in outgoing]
    lines += [TranscriptLine(at, "in", text) for at, text in incoming]
    return sorted(lines, key=lambda line: line.at)
