"""Survey sessions through the router: keyword start, answers, branching, re-prompts,
opt-out, reminders and expiry with a controllable clock, queueing and versions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

import interactive.surveys.conversation  # noqa: F401  (registers the survey conversation)
from interactive.contacts.models import Contact
from interactive.db import utcnow
from interactive.keywords.models import Decision
from interactive.outbound.models import Message
from interactive.surveys import editing, service
from interactive.surveys.models import (
    SessionState,
    Survey,
    SurveyAnswer,
    SurveySession,
    SurveyVersion,
    WhenOpen,
)
from tests.helpers import noon_after
from tests.keywords.routing import route_text

PHONE = "+905321234567"
QUESTIONS: list[dict[str, Any]] = [
    {"key": "score", "type": "rating", "text": "Hizmetimizi 1-5 arası puanlar mısınız?"},
    {
        "key": "again",
        "type": "yes_no",
        "text": "Bizi tekrar tercih eder misiniz?",
        "branches": [{"when": True, "goto": "end"}],
    },
    {"key": "why", "type": "free_text", "text": "Neden?"},
]


def _survey(ctx: Session, keyword: str | None = "ANKET", **settings: Any) -> Survey:
    survey = editing.save(
        ctx,
        editing.SurveyInput(
            name="Memnuniyet",
            short_code="4664",
            questions=QUESTIONS,
            intro="Merhaba!",
            completion="Teşekkürler!",
            keyword=keyword,
            settings=settings,
        ),
    )
    editing.go_live(ctx, survey)
    return survey


def _texts(ctx: Session) -> list[str]:
    return list(
        ctx.scalars(
            sa.select(Message.body).where(Message.destination == PHONE).order_by(Message.id)
        )
    )


def _session(ctx: Session) -> SurveySession:
    row = ctx.scalars(sa.select(SurveySession).order_by(SurveySession.id.desc())).first()
    assert row is not None
    return row


def _answers(ctx: Session) -> dict[str, Any]:
    rows = ctx.scalars(sa.select(SurveyAnswer).order_by(SurveyAnswer.id))
    return {r.question_key: r.value for r in rows if r.answered_at is not None}


def test_a_keyword_starts_the_survey_and_answers_walk_it(ctx: Session) -> None:
    _survey(ctx)
    assert route_text(ctx, "anket").decision == Decision.RULE
    assert _texts(ctx)[0].startswith("Merhaba!\nHizmetimizi 1-5")
    assert route_text(ctx, "5/5").decision == Decision.CONVERSATION
    assert _texts(ctx)[-1].startswith("Bizi tekrar tercih")
    routed = route_text(ctx, "Hayır.")
    assert routed.decision == Decision.CONVERSATION and "asked why" in routed.reason
    route_text(ctx, "Garson çok geç geldi")
    assert _session(ctx).state == SessionState.COMPLETED
    assert _texts(ctx)[-1] == "Teşekkürler!"
    assert _answers(ctx) == {"score": 5, "again": False, "why": "Garson çok geç geldi"}


def test_a_yes_branches_to_the_end(ctx: Session) -> None:
    _survey(ctx)
    for text in ("ANKET", "4", "evet"):
        route_text(ctx, text)
    assert _session(ctx).state == SessionState.COMPLETED
    assert set(_answers(ctx)) == {"score", "again"}


def test_invalid_answers_are_asked_again_then_skipped(ctx: Session) -> None:
    _survey(ctx, max_reprompts=2)
    route_text(ctx, "ANKET")
    for _ in range(2):
        assert "asked again" in route_text(ctx, "muz").reason
    routed = route_text(ctx, "muz")
    assert "skipped after 2 re-prompts" in routed.reason and "asked again" in routed.reason
    skipped = ctx.scalar(sa.select(SurveyAnswer).where(SurveyAnswer.question_key == "score"))
    assert skipped is not None and skipped.skipped and skipped.reprompts == 3
    assert _session(ctx).question_key == "again"


def test_too_many_invalid_answers_can_end_the_survey(ctx: Session) -> None:
    _survey(ctx, max_reprompts=1, after_reprompts="end")
    route_text(ctx, "ANKET")
    route_text(ctx, "muz")
    assert "survey ended" in route_text(ctx, "muz").reason
    assert _session(ctx).state == SessionState.ENDED


def test_opt_out_mid_survey_ends_it_as_opted_out(ctx: Session) -> None:
    _survey(ctx)
    route_text(ctx, "ANKET")
    routed = route_text(ctx, "RET")
    assert routed.decision == Decision.OPT_OUT and "ended survey" in routed.reason
    assert _session(ctx).state == SessionState.OPTED_OUT
    assert route_text(ctx, "5").decision == Decision.INBOX


def test_help_answers_without_moving_the_survey(ctx: Session) -> None:
    _survey(ctx)
    route_text(ctx, "ANKET")
    assert route_text(ctx, "YARDIM").decision == Decision.HELP
    assert _session(ctx).question_key == "score"


def _outbox() -> service.Outbox:
    return service.Outbox(
        current_app.extensions["interactive.redis"], str(current_app.config["REDIS_PREFIX"])
    )


def test_one_reminder_then_expiry_and_a_late_reply_goes_to_the_inbox(ctx: Session) -> None:
    _survey(ctx, remind_after_hours=4, question_expiry_hours=24)
    start = noon_after(utcnow())  # 12:00 in Istanbul: every step below is in allowed hours
    route_text(ctx, "ANKET", now=start)
    asked = _session(ctx).asked_at
    assert asked == start

    def reminders() -> list[str]:
        return [t for t in _texts(ctx) if t.startswith(("Hatırlatma", "Reminder"))]

    service.run_timeouts(ctx, _outbox(), now=asked + timedelta(hours=3))
    assert reminders() == []
    service.run_timeouts(ctx, _outbox(), now=asked + timedelta(hours=5))
    assert len(reminders()) == 1
    service.run_timeouts(ctx, _outbox(), now=asked + timedelta(hours=6))
    assert len(reminders()) == 1  # one reminder, never two
    service.run_timeouts(ctx, _outbox(), now=asked + timedelta(hours=25))
    assert _session(ctx).state == SessionState.EXPIRED
    assert route_text(ctx, "5", now=asked + timedelta(hours=26)).decision == Decision.INBOX


def test_an_api_start_waits_for_the_allowed_hours(ctx: Session) -> None:
    survey = _survey(ctx, keyword=None)
    contact = Contact(phone=PHONE, country="TR", time_zone="Europe/Istanbul")
    ctx.add(contact)
    ctx.flush()
    night = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)  # 00:30 in Istanbul
    started = service.start(
        ctx,
        _outbox(),
        survey,
        phone=PHONE,
        contact=contact,
        trigger="api",
        solicited=False,
        now=night,
    )
    assert started is not None and started.held_text and _texts(ctx) == []
    service.run_timeouts(ctx, _outbox(), now=night + timedelta(hours=2))
    assert _texts(ctx) == []
    service.run_timeouts(ctx, _outbox(), now=datetime(2026, 11, 25, 6, 0, tzinfo=UTC))  # 09:00
    assert _texts(ctx) and _texts(ctx)[0].startswith("Merhaba!")


def test_a_second_survey_waits_in_the_queue(ctx: Session) -> None:
    first = _survey(ctx, keyword="ANKET", when_open=WhenOpen.QUEUE)
    second = editing.save(
        ctx,
        editing.SurveyInput(
            name="İkinci",
            short_code="4664",
            questions=[{"key": "ok", "type": "yes_no", "text": "Memnun musunuz?"}],
            keyword="IKINCI",
            settings={"when_open": WhenOpen.QUEUE},
        ),
    )
    editing.go_live(ctx, second)
    noon = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 12:00 in Istanbul: not quiet hours
    route_text(ctx, "ANKET", now=noon)
    # Started from the API while the first is open: it waits its turn.
    queued = service.start(
        ctx, _outbox(), second, phone=PHONE, contact=None, trigger="api", solicited=True, now=noon
    )
    assert queued is not None and queued.state == SessionState.QUEUED
    for text in ("3", "evet"):
        route_text(ctx, text, now=noon)
    assert _session(ctx).survey_id == second.id and _session(ctx).state == SessionState.OPEN
    assert _texts(ctx)[-1].startswith("Memnun musunuz?")
    assert first.id != second.id


def _second(ctx: Session, when_open: WhenOpen) -> Survey:
    survey = editing.save(
        ctx,
        editing.SurveyInput(
            name="İkinci",
            short_code="4664",
            questions=[{"key": "ok", "type": "free_text", "text": "Ne düşünüyorsunuz?"}],
            keyword="IKINCI",
            settings={"when_open": when_open},
        ),
    )
    editing.go_live(ctx, survey)
    return survey


@pytest.mark.parametrize(
    ("when_open", "state_of_first", "last_text"),
    [
        (WhenOpen.QUEUE, SessionState.OPEN, "Hizmetimizi 1-5"),
        (WhenOpen.REFUSE, SessionState.OPEN, "Hizmetimizi 1-5"),
        (WhenOpen.REPLACE, SessionState.ENDED, "Ne düşünüyorsunuz?"),
    ],
)
def test_another_surveys_keyword_is_not_an_answer(
    ctx: Session, when_open: WhenOpen, state_of_first: SessionState, last_text: str
) -> None:
    first = _survey(ctx)
    second = _second(ctx, when_open)
    route_text(ctx, "ANKET")
    routed = route_text(ctx, " ikinci ")
    assert routed.decision == Decision.RULE and f"survey {second.id}" in routed.reason
    states = dict(
        ctx.execute(sa.select(SurveySession.survey_id, SurveySession.state)).tuples().all()
    )
    assert states[first.id] == state_of_first
    assert (second.id in states) == (when_open != WhenOpen.REFUSE)
    assert _texts(ctx)[-1].startswith(last_text)
    assert "score" not in _answers(ctx)


def test_the_open_surveys_own_keyword_asks_its_question_again(ctx: Session) -> None:
    _survey(ctx)
    route_text(ctx, "ANKET")
    route_text(ctx, "4")
    routed = route_text(ctx, "anket")
    assert routed.decision == Decision.RULE and "asked again" in routed.reason
    assert _texts(ctx)[-1].startswith("Bizi tekrar tercih")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(SurveySession)) == 1
    route_text(ctx, "evet")
    assert _session(ctx).state == SessionState.COMPLETED


def test_editing_a_live_survey_makes_a_new_version_and_keeps_types(ctx: Session) -> None:
    survey = _survey(ctx)
    route_text(ctx, "ANKET")
    old_version = _session(ctx).version_id
    changed = [dict(QUESTIONS[0], text="1-5 arası puanınız?"), *QUESTIONS[1:]]
    editing.save(
        ctx, editing.SurveyInput("Memnuniyet", "4664", changed, keyword="ANKET"), survey=survey
    )
    assert survey.current_version_id != old_version
    assert _session(ctx).version_id == old_version
    retyped = [dict(QUESTIONS[0], type="nps"), *QUESTIONS[1:]]
    with pytest.raises(service.SurveyError):
        editing.save(ctx, editing.SurveyInput("Memnuniyet", "4664", retyped), survey=survey)


def test_the_preview_plays_the_survey_as_a_chat(ctx: Session) -> None:
    survey = _survey(ctx)
    version = ctx.get(SurveyVersion, survey.current_version_id)
    assert version is not None
    lines = editing.simulate(version, survey, ["beş", "hayır", "Pahalı"], today=date(2026, 11, 23))
    assert [line.who for line in lines] == ["survey", "customer"] * 3 + ["survey"]
    assert lines[-1].text == "Teşekkürler!"


def test_bad_questions_are_refused_with_the_reason(ctx: Session) -> None:
    with pytest.raises(service.SurveyError):
        editing.check_questions([{"key": "a", "type": "single_choice", "text": "?", "options": []}])
    with pytest.raises(service.SurveyError):
        editing.check_questions(
            [
                {
                    "key": "a",
                    "type": "yes_no",
                    "text": "?",
                    "branches": [{"when": True, "goto": "zz"}],
                },
            ]
        )


def test_a_reply_to_a_survey_campaign_walks_its_survey(ctx: Session) -> None:
    from interactive.outbound import campaigns
    from interactive.outbound.models import Campaign, PartState, Traffic, Variant

    survey = _survey(ctx, keyword=None)
    campaign = Campaign(
        name="Anket kampanyası",
        traffic=Traffic.INFORMATIONAL,
        sender="4664",
        connection="sim",
        survey_id=survey.id,
    )
    ctx.add(campaign)
    ctx.flush()
    variant = Variant(campaign_id=campaign.id, label="A", share=100, template="")
    ctx.add(variant)
    ctx.flush()
    opening = campaigns.survey_opening(ctx, survey.id)
    assert opening.startswith("Merhaba!\nHizmetimizi")
    ctx.add(
        Message(
            campaign_id=campaign.id,
            variant_id=variant.id,
            connection="sim",
            source="4664",
            destination=PHONE,
            body=opening,
            encoding="UCS2",
            parts_count=2,
            traffic=Traffic.INFORMATIONAL,
            state=PartState.DELIVERED,
        )
    )
    ctx.flush()
    routed = route_text(ctx, "4 yıldız")
    assert routed.decision == Decision.CONVERSATION, routed.reason
    current = _session(ctx)
    assert (current.trigger, current.campaign_id) == ("campaign", campaign.id)
    assert _answers(ctx) == {"score": 4}
    assert _texts(ctx)[-1].startswith("Bizi tekrar tercih")
    problems = campaigns.problems_before_scheduling(ctx, campaign, {"sim": object()}, utcnow())
    assert not [p for p in problems if "survey" in p]
    campaign.sender = "ACME"
    problems = campaigns.problems_before_scheduling(ctx, campaign, {"sim": object()}, utcnow())
    assert "send it from 4664" in " ".join(problems)


def test_reserved_keys_and_a_keyword_in_use_are_refused(ctx: Session) -> None:
    with pytest.raises(service.SurveyError, match="reserved"):
        editing.check_questions([{"key": "phone", "type": "free_text", "text": "Numaranız?"}])
    _survey(ctx, keyword="ANKET")
    other = editing.save(
        ctx,
        editing.SurveyInput(
            "Başka", "4664", [{"key": "ok", "type": "yes_no", "text": "?"}], keyword="anket"
        ),
    )
    with pytest.raises(service.SurveyError, match="already in use"):
        editing.go_live(ctx, other)
