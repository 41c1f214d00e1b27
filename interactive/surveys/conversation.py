"""Surveys in the router: the conversation provider (answers to an open survey) and the
``survey`` keyword handler (a keyword starts a survey). Imported by the app factory, so
every process that routes has them registered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.keywords import conversations, handlers
from interactive.keywords.handlers import Inbound
from interactive.outbound.models import Campaign, Message
from interactive.surveys import service
from interactive.surveys.models import SessionState, Survey, SurveySession, SurveyStatus


def _outbox(inbound: Inbound) -> service.Outbox:
    return service.Outbox(inbound.redis, inbound.prefix)


class SurveyConversation:
    name = "survey"

    def in_touch(self, dialect: str) -> sa.SelectBase:
        """Senders with an open session on a short code."""
        return service.open_sessions_query(dialect)

    def in_touch_params(self, inbounds: Sequence[Inbound]) -> dict[str, Any]:
        return {}

    def more_candidates(
        self, session: Session, inbounds: Sequence[Inbound], in_touch: set[int]
    ) -> set[int]:
        """Replies to a survey campaign's message (a query only when the batch has
        replies to campaigns): ``take`` starts that survey's session."""
        replies = [i.message for i in inbounds if i.message.id not in in_touch and _replies(i)]
        campaign_ids = {m.campaign_id for m in replies}
        if not campaign_ids:
            return set()
        surveyed = set(
            session.scalars(
                sa.select(Campaign.id).where(
                    Campaign.id.in_(campaign_ids), Campaign.survey_id.is_not(None)
                )
            )
        )
        return {m.id for m in replies if m.campaign_id in surveyed}

    def take(self, inbound: Inbound) -> str | None:
        current = service.open_session(inbound.session, inbound.phone, inbound.short_code.code)
        if current is not None and _starts_a_survey(inbound):
            # The keyword of a survey is not an answer: the rule decides (and the new
            # survey's setting queues, replaces or refuses it).
            return None
        if current is None:
            current = _from_campaign(inbound)
        if current is None:
            return None
        survey = inbound.session.get(Survey, current.survey_id)
        late = service.expired(current, survey, inbound.now)
        if late is not None:
            # A reply after expiry belongs in the inbox, not in the survey.
            service._finish(current, SessionState.EXPIRED, late, inbound.now)
            return None
        if current.contact_id is None and inbound.contact is not None:
            current.contact_id = inbound.contact.id
        return service.answer(
            inbound.session,
            _outbox(inbound),
            current,
            inbound.message.text,
            inbound_id=inbound.message.id,
            now=inbound.now,
        )

    def end(self, inbound: Inbound) -> bool:
        return service.end_for_opt_out(
            inbound.session, inbound.phone, inbound.short_code.code, inbound.now
        )


def _replies(inbound: Inbound) -> bool:
    """The message answers one of our campaign messages (as ``_from_campaign`` needs)."""
    return inbound.message.campaign_id is not None and inbound.message.reply_to_id is not None


def _starts_a_survey(inbound: Inbound) -> bool:
    return any(rule.handler == "survey" for rule in inbound.keyword_rules())


def _from_campaign(inbound: Inbound) -> SurveySession | None:
    """A reply to a survey campaign's message starts that survey's session."""
    message = inbound.message
    if message.campaign_id is None or message.reply_to_id is None:
        return None
    session = inbound.session
    survey_id = session.scalar(
        sa.select(Campaign.survey_id).where(Campaign.id == message.campaign_id)
    )
    survey = session.get(Survey, survey_id) if survey_id is not None else None
    if survey is None or survey.short_code != inbound.short_code.code:
        return None
    sent_at = session.scalar(sa.select(Message.created_at).where(Message.id == message.reply_to_id))
    return service.join_from_campaign(
        session,
        survey,
        phone=inbound.phone,
        contact=inbound.contact,
        campaign_id=message.campaign_id,
        asked_at=sent_at or inbound.now,
        now=inbound.now,
    )


@handlers.register("survey", _l("Start a survey"), ("survey_id",))
def _start_survey(inbound: Inbound, settings: dict[str, Any]) -> str:
    try:
        survey_id = int(settings.get("survey_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "no survey set"
    survey = inbound.session.get(Survey, survey_id)
    if survey is None or survey.status != SurveyStatus.LIVE:
        return f"survey {survey_id} is not live"
    contact = inbound.ensure_contact()
    outbox = _outbox(inbound)
    current = service.open_session(inbound.session, inbound.phone, inbound.short_code.code)
    if current is not None and current.survey_id == survey.id:
        service.ask_again(inbound.session, outbox, current, inbound.now)
        return f"survey {survey_id} already open (session {current.id}): question asked again"
    try:
        started = service.start(
            inbound.session,
            outbox,
            survey,
            phone=inbound.phone,
            contact=contact,
            trigger="keyword",
            solicited=True,
            campaign_id=inbound.message.campaign_id,
            now=inbound.now,
        )
    except service.SurveyError as exc:
        return f"survey {survey_id} not started: {exc}"
    if started is None or started.state == SessionState.QUEUED:
        # The open survey goes on: its question again, so the next reply has a context.
        if current is not None:
            service.ask_again(inbound.session, outbox, current, inbound.now)
        if started is None:
            return f"survey {survey_id} refused: another survey is open"
    return f"survey {survey_id} {started.state.value} (session {started.id})"


conversations.register(SurveyConversation())
