"""A survey end to end for real: eight handsets answer at once through the SMSC simulator
over TCP, the gateway thread, the inbound stream and the router thread; every question
goes back to the right handset, once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from interactive.db import db
from interactive.keywords.consumer import Router
from interactive.keywords.models import Decision, InboundMessage
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.smpp.simulator import SmscSimulator, SubmittedMessage
from interactive.surveys import editing, service
from interactive.surveys.models import SessionState, SurveyAnswer, SurveySession
from tests.gateway_harness import wait_until

# ASCII texts, each in one part, so every submit is one whole question.
INTRO = "Merhaba!"
Q_SCORE = "Puaniniz 1-5?"
Q_AGAIN = "Tekrar gelir misiniz?"
Q_WHY = "Neden?"
DONE = "Tesekkurler!"
QUESTIONS: list[dict[str, Any]] = [
    {"key": "score", "type": "rating", "text": Q_SCORE, "reprompt": "Lutfen 1-5 arasi."},
    {
        "key": "again",
        "type": "yes_no",
        "text": Q_AGAIN,
        "branches": [{"when": True, "goto": "end"}],  # a yes ends it here
    },
    {"key": "why", "type": "free_text", "text": Q_WHY},
]
HANDSETS = [f"90532200000{n}" for n in range(8)]
# What each handset sends after the keyword; "9" is out of range (a re-prompt), "RET" opts out.
SCRIPTS = {
    HANDSETS[0]: ["5", "evet"],
    HANDSETS[1]: ["4", "evet"],
    HANDSETS[2]: ["9", "3", "hayir", "Uzak"],
    HANDSETS[3]: ["9", "2", "hayir", "Pahali"],
    HANDSETS[4]: ["1", "hayir", "Kotu"],
    HANDSETS[5]: ["5", "evet"],
    HANDSETS[6]: ["9", "4", "evet"],
    HANDSETS[7]: ["3", "RET", "hayir"],
}


def _text(part: SubmittedMessage) -> str:
    return part.payload.decode("utf-16-be" if part.data_coding == 8 else "latin-1")


def _received(simulator: SmscSimulator, handset: str) -> list[str]:
    return [_text(p) for p in simulator.submitted() if p.destination_addr.lstrip("+") == handset]


def _routed(app: Flask) -> list[InboundMessage]:
    with app.app_context():
        rows = list(db.session().scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))
        db.session.remove()
    return [r for r in rows if r.routed_at is not None]


def _asked(app: Flask) -> dict[str, str]:
    """Each question as sent (its text with the accepted answers after it)."""
    with app.test_request_context():
        texts = {q["key"]: service.ask_text(q) for q in QUESTIONS}
        texts["reprompt"] = service.ask_text(QUESTIONS[0], reprompt=True)
    return texts


def _expected_questions(script: list[str], asked: dict[str, str]) -> list[str]:
    """The survey's side of the chat for one handset, as the survey defines it."""
    said = [f"{INTRO}\n{asked['score']}"]
    key = "score"
    for reply in script:
        if reply == "RET":
            break
        if key == "score":
            if reply == "9":
                said.append(asked["reprompt"])
                continue
            said.append(asked["again"])
            key = "again"
        elif key == "again":
            said.append(DONE if reply == "evet" else asked["why"])
            key = "end" if reply == "evet" else "why"
        elif key == "why":
            said.append(DONE)
            key = "end"
    return said


def test_eight_handsets_walk_a_survey_at_once(
    app: Flask, run_gateway: Callable[..., SmscSimulator], run_router: Callable[[], Router]
) -> None:
    with app.app_context(), db.transaction() as session:
        ensure_short_codes(session, [("4664", "sim")])
        survey = editing.save(
            session,
            editing.SurveyInput(
                name="Memnuniyet",
                short_code="4664",
                keyword="ANKET",
                intro=INTRO,
                completion=DONE,
                questions=QUESTIONS,
            ),
        )
        editing.go_live(session, survey)
        survey_id = survey.id
    asked = _asked(app)
    simulator = run_gateway()
    run_router()

    # Round by round: every handset sends its next text at the same moment; the next
    # round starts once all of them are routed and each handset has what it was asked
    # (a handset answers the question on its screen).
    def answered(replies: dict[str, list[str]]) -> None:
        wait_until(lambda: len(_routed(app)) == sent, timeout=30)
        for handset, script in replies.items():
            wanted = len(_expected_questions(script, asked))
            wait_until(lambda: len(_received(simulator, handset)) >= wanted, timeout=30)  # noqa: B023

    sent = len(HANDSETS)
    for handset in HANDSETS:
        simulator.inject_mo(handset, "4664", "ANKET")
    answered({h: [] for h in HANDSETS})
    for step in range(max(len(s) for s in SCRIPTS.values())):
        batch = [(h, s[step]) for h, s in SCRIPTS.items() if step < len(s)]
        for handset, text in batch:
            simulator.inject_mo(handset, "4664", text)
        sent += len(batch)
        answered({h: SCRIPTS[h][: step + 1] for h, _ in batch})

    routed = _routed(app)
    assert len(routed) == sent == sum(len(s) + 1 for s in SCRIPTS.values())
    ret = next(m for m in routed if m.text == "RET")
    assert ret.decision == Decision.OPT_OUT
    after_ret = [m for m in routed if m.source.lstrip("+") == HANDSETS[7] and m.id > ret.id]
    assert [m.decision for m in after_ret] == [Decision.INBOX]  # no longer in the survey

    with app.app_context():
        session = db.session()
        sessions = {
            s.phone.lstrip("+"): s
            for s in session.scalars(
                sa.select(SurveySession).where(SurveySession.survey_id == survey_id)
            )
        }
        answers: dict[str, dict[str, object]] = {h: {} for h in HANDSETS}
        inbound_ids: list[int] = []
        by_session = {s.id: h for h, s in sessions.items()}
        for row in session.scalars(sa.select(SurveyAnswer).order_by(SurveyAnswer.id)):
            if row.answered_at is not None:
                answers[by_session[row.session_id]][row.question_key] = row.value
                assert row.inbound_id is not None
                inbound_ids.append(row.inbound_id)
        reprompts = {
            by_session[r.session_id]: r.reprompts
            for r in session.scalars(
                sa.select(SurveyAnswer).where(SurveyAnswer.question_key == "score")
            )
        }
        db.session.remove()

    assert sorted(sessions) == sorted(HANDSETS)  # one session per handset
    states = {h: s.state for h, s in sessions.items()}
    assert states == {
        **{h: SessionState.COMPLETED for h in HANDSETS[:7]},
        HANDSETS[7]: SessionState.OPTED_OUT,
    }
    assert answers == {
        HANDSETS[0]: {"score": 5, "again": True},
        HANDSETS[1]: {"score": 4, "again": True},
        HANDSETS[2]: {"score": 3, "again": False, "why": "Uzak"},
        HANDSETS[3]: {"score": 2, "again": False, "why": "Pahali"},
        HANDSETS[4]: {"score": 1, "again": False, "why": "Kotu"},
        HANDSETS[5]: {"score": 5, "again": True},
        HANDSETS[6]: {"score": 4, "again": True},
        HANDSETS[7]: {"score": 3},
    }
    # No reply was taken as the answer to two questions, or twice.
    assert len(inbound_ids) == len(set(inbound_ids))
    assert reprompts == {h: (1 if SCRIPTS[h][0] == "9" else 0) for h in HANDSETS}

    # Every question and re-prompt reached its own handset, once and in order.
    for handset in HANDSETS[:7]:
        assert _received(simulator, handset) == _expected_questions(SCRIPTS[handset], asked), (
            handset
        )
    opted_out = _received(simulator, HANDSETS[7])
    assert opted_out[:2] == _expected_questions(SCRIPTS[HANDSETS[7]], asked)
    assert not {asked["why"], DONE} & set(opted_out[2:])  # at most the opt-out confirmation
    assert {p.source_addr for p in simulator.submitted()} == {"4664"}
