"""Running surveys: starting sessions, asking questions, understanding answers, moving on
(branching), reminding and expiring. Flushes, never commits.

A question goes out through the normal outbound path from the survey's short code. The
first question of a survey the customer asked for (a keyword) and every question that
answers the customer's last reply go at once; questions nobody asked for just now (a start
from the API, a reminder, a question held back) wait for the recipient's allowed hours.
Each send is checked against the same eligibility rule as every other message: a number
that may not get the survey's kind of message ends the session instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy.orm import Session

from interactive.contacts import eligibility, quiet_hours
from interactive.contacts.models import Brand, Contact
from interactive.db import in_values, utcnow
from interactive.keywords.models import ShortCode
from interactive.outbound import service as outbound
from interactive.surveys import parsing
from interactive.surveys.models import (
    FINISHED,
    AfterReprompts,
    SessionState,
    Survey,
    SurveyAnswer,
    SurveySession,
    SurveyStatus,
    SurveyVersion,
    WhenOpen,
)

log = logging.getLogger(__name__)

END = "end"


class SurveyError(ValueError):
    """A survey that cannot be started or changed as asked (message for people)."""


@dataclass
class Outbox:
    """Where questions go: the Redis stream of the short code's connection."""

    redis: redis.Redis
    prefix: str


# --- Questions -------------------------------------------------------------------------------


def questions(version: SurveyVersion) -> list[dict[str, Any]]:
    return list(version.questions or [])


def question(version: SurveyVersion, key: str | None) -> dict[str, Any] | None:
    return next((q for q in questions(version) if q.get("key") == key), None)


def next_key(version: SurveyVersion, key: str, value: Any) -> str | None:
    """The question after ``key`` given its answer: the first branch whose ``when``
    matches, else the question's ``next``, else the following one; None at the end."""
    items = questions(version)
    current = question(version, key)
    if current is None:
        return None
    for branch in current.get("branches") or []:
        if _matches(branch.get("when"), value):
            goto = branch.get("goto")
            return None if goto in (None, END) else str(goto)
    if current.get("next"):
        return None if current["next"] == END else str(current["next"])
    index = [q.get("key") for q in items].index(key)
    return str(items[index + 1]["key"]) if index + 1 < len(items) else None


def _matches(when: Any, value: Any) -> bool:
    if isinstance(value, list):
        return any(_matches(when, v) for v in value)
    if isinstance(when, list):
        return any(_matches(w, value) for w in when)
    if isinstance(value, bool) or isinstance(when, bool):
        return _truthy(when) == _truthy(value)
    return str(when).strip().casefold() == str(value).strip().casefold()


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().casefold() in {"true", "yes", "evet", "1", "e", "y"}


def ask_text(q: dict[str, Any], *, reprompt: bool = False) -> str:
    """The text of a question (or its re-prompt) with the valid options after it."""
    spec = parsing.Question.from_json(q)
    options = parsing.prompt_options(spec)
    hint = " ".join(options) if isinstance(options, list) else str(options or "")
    if reprompt:
        base = (q.get("reprompt") or "").strip() or gettext(
            "Sorry, we did not understand. %(question)s", question=q.get("text", "")
        )
    else:
        base = str(q.get("text", ""))
    return f"{base}\n{hint}".strip() if hint and hint not in base else base


# --- Starting ----------------------------------------------------------------------------------


def live_version(session: Session, survey: Survey) -> SurveyVersion:
    version = session.get(SurveyVersion, survey.current_version_id or 0)
    if version is None or not questions(version):
        raise SurveyError(gettext("The survey has no questions."))
    if not version.frozen:
        version.frozen = True
    return version


def open_session(session: Session, phone: str, short_code: str) -> SurveySession | None:
    return session.scalar(
        sa.select(SurveySession)
        .where(
            SurveySession.phone == phone,
            SurveySession.short_code == short_code,
            SurveySession.state == SessionState.OPEN,
        )
        .with_for_update()
    )


@functools.cache
def open_sessions_query(dialect: str) -> sa.Select[str, str]:
    """(phone, short code) of the open sessions among the numbers bound as ``phones`` and
    the short codes bound as ``codes``. Built once (the router runs it for every batch);
    the values are parameters."""
    return sa.select(SurveySession.phone, SurveySession.short_code).where(
        in_values(SurveySession.phone, "phones", dialect),
        in_values(SurveySession.short_code, "codes", dialect),
        SurveySession.state == SessionState.OPEN,
    )


def start(
    session: Session,
    outbox: Outbox,
    survey: Survey,
    *,
    phone: str,
    contact: Contact | None,
    trigger: str,
    solicited: bool,
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> SurveySession | None:
    """Start ``survey`` for a number (flushes). With another survey open on the same short
    code the survey's setting decides: queue it, replace the open one, or refuse (None).
    ``solicited``: the customer asked for it just now (a keyword), so the first question
    goes at once, quiet hours or not."""
    if survey.status != SurveyStatus.LIVE:
        raise SurveyError(gettext("Only a live survey can be started."))
    now = now or utcnow()
    version = live_version(session, survey)
    current = open_session(session, phone, survey.short_code)
    state = SessionState.OPEN
    if current is not None:
        if survey.when_open == WhenOpen.REFUSE:
            return None
        if survey.when_open == WhenOpen.REPLACE:
            _finish(current, SessionState.ENDED, "replaced by another survey", now)
            session.flush()
        else:
            state = SessionState.QUEUED
    new = SurveySession(
        survey_id=survey.id,
        version_id=version.id,
        phone=phone,
        short_code=survey.short_code,
        contact_id=contact.id if contact is not None else None,
        campaign_id=campaign_id,
        trigger=trigger,
        state=state,
        started_at=now,
        expires_at=now + timedelta(hours=survey.expiry_hours) if survey.expiry_hours else None,
    )
    session.add(new)
    session.flush()
    if state == SessionState.OPEN:
        first = questions(version)[0]
        intro = survey.intro.strip()
        text = ask_text(first)
        _ask(
            session,
            outbox,
            survey,
            new,
            first["key"],
            f"{intro}\n{text}" if intro else text,
            now,
            solicited=solicited,
        )
    return new


def ask_again(session: Session, outbox: Outbox, current: SurveySession, now: datetime) -> bool:
    """Send the open question once more, at once (the respondent wrote something that is
    not an answer, such as the keyword of a survey that cannot start while this one is
    open). The re-prompt count is left as it is."""
    survey = session.get(Survey, current.survey_id)
    version = session.get(SurveyVersion, current.version_id)
    q = question(version, current.question_key) if version is not None else None
    if survey is None or q is None:
        return False
    _ask(session, outbox, survey, current, q["key"], ask_text(q), now, solicited=True, again=True)
    return True


def join_from_campaign(
    session: Session,
    survey: Survey,
    *,
    phone: str,
    contact: Contact | None,
    campaign_id: int,
    asked_at: datetime,
    now: datetime,
) -> SurveySession | None:
    """The first reply to a survey campaign's message: the session starts here, its first
    question being the message the campaign sent at ``asked_at``. Once per number and
    campaign; None when this number already had its session for the campaign, or has
    another survey open on the short code."""
    if survey.status != SurveyStatus.LIVE:
        return None
    earlier = session.scalar(
        sa.select(SurveySession.id).where(
            SurveySession.phone == phone,
            SurveySession.survey_id == survey.id,
            SurveySession.campaign_id == campaign_id,
        )
    )
    if earlier is not None or open_session(session, phone, survey.short_code) is not None:
        return None
    version = live_version(session, survey)
    first = questions(version)[0]
    new = SurveySession(
        survey_id=survey.id,
        version_id=version.id,
        phone=phone,
        short_code=survey.short_code,
        contact_id=contact.id if contact is not None else None,
        campaign_id=campaign_id,
        trigger="campaign",
        state=SessionState.OPEN,
        started_at=asked_at,
        question_key=first["key"],
        asked_at=asked_at,
        expires_at=asked_at + timedelta(hours=survey.expiry_hours) if survey.expiry_hours else None,
    )
    session.add(new)
    session.flush()
    _answer_row(session, new, first["key"], asked_at)
    _schedule(survey, new, now)
    return new


# --- Answers -----------------------------------------------------------------------------------


def answer(
    session: Session,
    outbox: Outbox,
    current: SurveySession,
    text: str,
    *,
    inbound_id: int | None,
    now: datetime | None = None,
) -> str:
    """A reply to the open question: recorded (upserted: a retransmission records once),
    then the next question, a re-prompt, or the end. Returns what happened."""
    now = now or utcnow()
    survey = session.get(Survey, current.survey_id)
    version = session.get(SurveyVersion, current.version_id)
    if survey is None or version is None:
        _finish(current, SessionState.ENDED, "survey deleted", now)
        return "survey no longer exists"
    q = question(version, current.question_key)
    if q is None:
        _finish(current, SessionState.ENDED, "question missing", now)
        return "no open question"
    row = _answer_row(session, current, q["key"], now)
    result = parsing.parse(parsing.Question.from_json(q), text, today=_today(session, current, now))
    if not result.valid:
        current.reprompts += 1
        row.reprompts = current.reprompts
        row.raw = text
        if current.reprompts <= survey.max_reprompts:
            _ask(
                session,
                outbox,
                survey,
                current,
                q["key"],
                ask_text(q, reprompt=True),
                now,
                solicited=True,
                again=True,
            )
            return f"question {q['key']}: invalid ({result.reason}), asked again"
        if survey.after_reprompts == AfterReprompts.END:
            _finish(current, SessionState.ENDED, "too many invalid answers", now)
            _say_completion(session, outbox, survey, current, now, ended=True)
            _start_queued(session, outbox, current, now)
            return f"question {q['key']}: invalid ({result.reason}), survey ended"
        row.skipped = True
        return _go_on(
            session,
            outbox,
            survey,
            version,
            current,
            q["key"],
            None,
            now,
            prefix=f"question {q['key']}: skipped after {survey.max_reprompts} re-prompts",
        )
    row.raw = text
    row.value = result.value
    row.inbound_id = inbound_id
    row.answered_at = now
    return _go_on(
        session,
        outbox,
        survey,
        version,
        current,
        q["key"],
        result.value,
        now,
        prefix=f"question {q['key']}: answered",
    )


def _go_on(
    session: Session,
    outbox: Outbox,
    survey: Survey,
    version: SurveyVersion,
    current: SurveySession,
    key: str,
    value: Any,
    now: datetime,
    *,
    prefix: str,
) -> str:
    following = next_key(version, key, value)
    q = question(version, following) if following else None
    if q is None:
        _finish(current, SessionState.COMPLETED, "", now)
        _say_completion(session, outbox, survey, current, now)
        _start_queued(session, outbox, current, now)
        return f"{prefix}; survey completed"
    _ask(session, outbox, survey, current, q["key"], ask_text(q), now, solicited=True)
    return f"{prefix}; asked {q['key']}"


def _answer_row(session: Session, current: SurveySession, key: str, now: datetime) -> SurveyAnswer:
    row = session.scalar(
        sa.select(SurveyAnswer).where(
            SurveyAnswer.session_id == current.id, SurveyAnswer.question_key == key
        )
    )
    if row is None:
        row = SurveyAnswer(
            session_id=current.id, survey_id=current.survey_id, question_key=key, asked_at=now
        )
        session.add(row)
        session.flush()
    return row


def _today(session: Session, current: SurveySession, now: datetime) -> date:
    zone = None
    if current.contact_id is not None:
        zone = session.scalar(sa.select(Contact.time_zone).where(Contact.id == current.contact_id))
    try:
        return now.astimezone(ZoneInfo(zone or "Europe/Istanbul")).date()
    except (ValueError, KeyError):
        return now.date()


# --- Sending -----------------------------------------------------------------------------------


def _ask(
    session: Session,
    outbox: Outbox,
    survey: Survey,
    current: SurveySession,
    key: str,
    text: str,
    now: datetime,
    *,
    solicited: bool,
    again: bool = False,
) -> None:
    current.question_key = key
    current.asked_at = now
    current.reminded = False
    if not again:
        current.reprompts = 0
        _answer_row(session, current, key, now)
    _send(session, outbox, survey, current, text, now, solicited=solicited)
    _schedule(survey, current, now)


def _send(
    session: Session,
    outbox: Outbox,
    survey: Survey,
    current: SurveySession,
    text: str,
    now: datetime,
    *,
    solicited: bool,
) -> bool:
    """Queue ``text`` to the respondent if the eligibility rule allows it now; held for
    the allowed hours when unsolicited; the session ends when the number may not get it."""
    contact = session.get(Contact, current.contact_id) if current.contact_id else None
    if contact is not None:
        brand = session.get(Brand, survey.brand_id) if survey.brand_id else None
        try:
            verdict = eligibility.may_send(
                session,
                contact.id,
                traffic=survey.traffic,
                brand=brand,
                policy=current_app.config["QUIET_POLICY"],
                at=now,
            )
        except ValueError:
            verdict = None
        if verdict is not None and not verdict.allowed and not verdict.deferred:
            _finish(current, SessionState.ENDED, f"not eligible: {verdict.reason}", now)
            return False
    if not solicited:
        allowed_at = _allowed_at(contact, now)
        if allowed_at > now:
            current.held_text = text
            current.due_at = allowed_at
            return False
    code = session.scalar(sa.select(ShortCode).where(ShortCode.code == current.short_code))
    connection = code.connection if code is not None else ""
    if not connection:
        connections = current_app.config["SMPP_CONNECTION_LIST"]
        connection = connections[0].name if connections else "simulator"
    outbound.queue_messages(
        session,
        outbox.redis,
        outbox.prefix,
        [
            outbound.NewMessage(
                connection=connection,
                source=current.short_code,
                destination=current.phone,
                body=text,
                traffic=survey.traffic,
                contact_id=current.contact_id,
            )
        ],
    )
    current.held_text = None
    return True


def _allowed_at(contact: Contact | None, now: datetime) -> datetime:
    policy = current_app.config["QUIET_POLICY"]
    country = contact.country if contact is not None else None
    zone = contact.time_zone if contact is not None else None
    return quiet_hours.next_allowed(now, zone, policy.for_country(country))


def _say_completion(
    session: Session,
    outbox: Outbox,
    survey: Survey,
    current: SurveySession,
    now: datetime,
    *,
    ended: bool = False,
) -> None:
    text = survey.completion.strip()
    if ended or not text:
        language = "tr" if current.phone.startswith("+90") else "en"
        with force_locale(language):
            text = (
                gettext("Thank you. The survey has ended.")
                if ended
                else (text or gettext("Thank you for your answers."))
            )
    _send(session, outbox, survey, current, text, now, solicited=True)


def _schedule(survey: Survey, current: SurveySession, now: datetime) -> None:
    """When the timeouts job looks at the session next."""
    moments = [m for m in (current.expires_at,) if m is not None]
    if current.asked_at is not None:
        if survey.question_expiry_hours:
            moments.append(current.asked_at + timedelta(hours=survey.question_expiry_hours))
        if survey.remind_after_hours and not current.reminded:
            moments.append(current.asked_at + timedelta(hours=survey.remind_after_hours))
    if current.held_text and current.due_at is not None:
        moments.append(current.due_at)
    current.due_at = min(moments) if moments else None


def _finish(current: SurveySession, state: SessionState, reason: str, now: datetime) -> None:
    current.state = state
    current.ended_at = now
    current.end_reason = reason[:120]
    current.due_at = None
    current.held_text = None


def _start_queued(session: Session, outbox: Outbox, finished: SurveySession, now: datetime) -> None:
    """The next queued survey of this number and short code, if any, starts now."""
    session.flush()
    queued = session.scalar(
        sa.select(SurveySession)
        .where(
            SurveySession.phone == finished.phone,
            SurveySession.short_code == finished.short_code,
            SurveySession.state == SessionState.QUEUED,
        )
        .order_by(SurveySession.id)
        .limit(1)
    )
    if queued is None:
        return
    survey = session.get(Survey, queued.survey_id)
    version = session.get(SurveyVersion, queued.version_id)
    if survey is None or version is None or not questions(version):
        _finish(queued, SessionState.ENDED, "survey gone", now)
        return
    queued.state = SessionState.OPEN
    queued.started_at = now
    if survey.expiry_hours:
        queued.expires_at = now + timedelta(hours=survey.expiry_hours)
    session.flush()
    first = questions(version)[0]
    intro = survey.intro.strip()
    text = ask_text(first)
    _ask(
        session,
        outbox,
        survey,
        queued,
        first["key"],
        f"{intro}\n{text}" if intro else text,
        now,
        solicited=False,
    )


# --- Ending, timeouts ----------------------------------------------------------------------------


def expired(current: SurveySession, survey: Survey | None, now: datetime) -> str | None:
    """Why an open session is over by now (survey or question expiry), or None."""
    if current.expires_at is not None and current.expires_at <= now:
        return "survey expired"
    hours = survey.question_expiry_hours if survey is not None else None
    if hours and current.asked_at is not None and current.asked_at + timedelta(hours=hours) <= now:
        return "question expired"
    return None


def end_for_opt_out(session: Session, phone: str, short_code: str, now: datetime) -> bool:
    """The number opted out: its open session ends as opted out, queued ones are dropped."""
    ended = False
    rows = session.scalars(
        sa.select(SurveySession).where(
            SurveySession.phone == phone,
            SurveySession.short_code == short_code,
            SurveySession.state.in_([SessionState.OPEN, SessionState.QUEUED]),
        )
    )
    for row in rows:
        ended = ended or row.state == SessionState.OPEN
        _finish(row, SessionState.OPTED_OUT, "opted out", now)
    return ended


def run_timeouts(
    session: Session, outbox: Outbox, now: datetime | None = None, limit: int = 500
) -> dict[str, int]:
    """Reminders, expiries and held questions that are due (the periodic job)."""
    now = now or utcnow()
    done = {"reminded": 0, "expired": 0, "sent": 0}
    due: Sequence[SurveySession] = session.scalars(
        sa.select(SurveySession)
        .where(SurveySession.state == SessionState.OPEN, SurveySession.due_at <= now)
        .order_by(SurveySession.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for current in due:
        survey = session.get(Survey, current.survey_id)
        reason = expired(current, survey, now)
        if reason is not None or survey is None:
            _finish(current, SessionState.EXPIRED, reason or "survey deleted", now)
            done["expired"] += 1
            _start_queued(session, outbox, current, now)
            continue
        if current.held_text:
            if _send(session, outbox, survey, current, current.held_text, now, solicited=False):
                done["sent"] += 1
        elif (
            survey.remind_after_hours
            and not current.reminded
            and current.asked_at is not None
            and current.asked_at + timedelta(hours=survey.remind_after_hours) <= now
        ):
            version = session.get(SurveyVersion, current.version_id)
            q = question(version, current.question_key) if version is not None else None
            if q is not None:
                language = "tr" if current.phone.startswith("+90") else "en"
                with force_locale(language):
                    text = gettext("Reminder: %(question)s", question=ask_text(q))
                current.reminded = True
                if _send(session, outbox, survey, current, text, now, solicited=False):
                    done["reminded"] += 1
                else:
                    current.reminded = current.held_text is not None or current.state in FINISHED
        if current.state not in FINISHED:
            _schedule(survey, current, now)
    return done
