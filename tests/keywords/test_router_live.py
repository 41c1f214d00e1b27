"""The router process for real: MOs from the SMSC simulator over TCP, the gateway, the
inbound stream, the router thread, replies submitted back to the simulator."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask

from interactive.contacts.models import Suppression
from interactive.db import db
from interactive.keywords.consumer import Router
from interactive.keywords.models import Decision, InboundMessage, KeywordRule
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.outbound.models import Message, PartState
from interactive.smpp.simulator import SmscSimulator
from interactive.surveys import editing
from interactive.surveys.models import SessionState, SurveySession
from tests.gateway_harness import wait_until
from tests.outbound.test_campaign_sending import COUNT, _audience, _start, _states

CUSTOMER = "905321000039"  # the last contact of the campaign audience


def _inbound(app: Flask) -> list[InboundMessage]:
    with app.app_context():
        rows = list(db.session().scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))
        db.session.remove()
        return rows


def _with_code(app: Flask) -> int:
    with app.app_context(), db.transaction() as session:
        return ensure_short_codes(session, [("4664", "sim")])["4664"].id


def test_a_duplicated_stop_is_stored_routed_and_confirmed_once(
    app: Flask, run_gateway: Callable[..., SmscSimulator], run_router: Callable[[], Router]
) -> None:
    simulator = run_gateway()
    run_router()
    simulator.inject_mo(CUSTOMER, "4664", " Stop. ", duplicate=True)
    wait_until(lambda: any(m.routed_at for m in _inbound(app)))
    simulator.wait_for_submits(1)
    threading.Event().wait(1.0)  # a second confirmation would have arrived by now
    assert [m.decision for m in _inbound(app)] == [Decision.OPT_OUT]
    with app.app_context():
        [reply] = db.session().scalars(sa.select(Message)).all()
        assert db.session().scalar(sa.select(sa.func.count()).select_from(Suppression)) == 1
        db.session.remove()
    parts = simulator.submitted()
    assert len(parts) == reply.parts_count  # one confirmation (in as many parts as it takes)
    assert {(p.destination_addr.lstrip("+"), p.source_addr) for p in parts} == {(CUSTOMER, "4664")}


def test_a_keyword_gets_its_auto_reply_through_the_simulator(
    app: Flask, run_gateway: Callable[..., SmscSimulator], run_router: Callable[[], Router]
) -> None:
    code_id = _with_code(app)
    with app.app_context(), db.transaction() as session:
        session.add(
            KeywordRule(short_code_id=code_id, keyword="KAZAN", reply_tr="Tebrikler {{ keyword }}!")
        )
    simulator = run_gateway()
    run_router()
    simulator.inject_mo(CUSTOMER, "4664", "Kazan")
    reply = simulator.wait_for_submits(1)[0]
    assert reply.payload.decode("utf-16-be" if reply.data_coding == 8 else "ascii") == (
        "Tebrikler kazan!"
    )
    assert [m.decision for m in _inbound(app)] == [Decision.RULE]


def test_messages_that_missed_the_stream_are_swept(
    app: Flask, run_router: Callable[[], Router]
) -> None:
    with app.app_context(), db.transaction() as session:
        from tests.keywords.routing import store_mo

        message_id = store_mo(session, "merhaba", received_at=datetime(2026, 1, 1, tzinfo=UTC)).id
    run_router()
    wait_until(lambda: all(m.routed_at for m in _inbound(app)), timeout=20)
    [message] = _inbound(app)
    assert message.id == message_id and message.decision == Decision.INBOX


def test_no_submit_to_a_number_after_its_opt_out_commits_mid_campaign(
    app: Flask, run_gateway: Callable[..., SmscSimulator], run_router: Callable[[], Router]
) -> None:
    simulator = run_gateway()
    run_router()
    campaign_id = _start(app, _audience(app), rate=10)  # four seconds of sending
    wait_until(lambda: len(simulator.submitted()) >= 3)
    simulator.inject_mo(CUSTOMER, "4664", "RET")
    wait_until(lambda: any(m.routed_at for m in _inbound(app)))
    [opt_out] = _inbound(app)
    assert opt_out.decision == Decision.OPT_OUT and opt_out.routed_at is not None
    committed: datetime = opt_out.routed_at
    wait_until(
        lambda: not {PartState.QUEUED, PartState.SUBMITTING} & _states(app, campaign_id).keys(),
        timeout=30,
    )  # a claimed part is SUBMITTING until the submit-time suppression check has marked it
    campaign_parts = [
        s
        for s in simulator.submitted()
        if s.destination_addr.lstrip("+") == CUSTOMER and _is_campaign(s)
    ]
    assert all(s.received_at <= committed for s in campaign_parts)
    states = _states(app, campaign_id)
    assert states.get(PartState.SUPPRESSED) == 1
    assert sum(states.values()) == COUNT
    with app.app_context():
        message = db.session().scalar(
            sa.select(Message).where(
                Message.campaign_id == campaign_id, Message.destination.like(f"%{CUSTOMER}")
            )
        )
        assert message is not None and message.state == PartState.SUPPRESSED
        db.session.remove()


def _is_campaign(submitted: object) -> bool:
    payload = getattr(submitted, "payload", b"")
    return b"M\x00e\x00r\x00h\x00a\x00b\x00a" in payload or b"Merhaba" in payload


def _routed(app: Flask, text: str) -> Callable[[], bool]:
    return lambda: any(m.text == text and m.routed_at for m in _inbound(app))


def test_opt_out_wins_inside_a_running_survey_and_ends_it(
    app: Flask, run_gateway: Callable[..., SmscSimulator], run_router: Callable[[], Router]
) -> None:
    with app.app_context(), db.transaction() as session:
        survey = editing.save(
            session,
            editing.SurveyInput(
                name="Memnuniyet",
                short_code="4664",
                keyword="ANKET",
                questions=[
                    {"key": "score", "type": "rating", "text": "1-5 arası puanınız?"},
                    {"key": "again", "type": "yes_no", "text": "Yine gelir misiniz?"},
                ],
            ),
        )
        editing.go_live(session, survey)
    simulator = run_gateway()
    run_router()
    for text in ("ANKET", "5", "RET", "4"):
        simulator.inject_mo(CUSTOMER, "4664", text)
        wait_until(_routed(app, text))
    decisions = [(m.text, m.decision) for m in _inbound(app)]
    assert decisions == [
        ("ANKET", Decision.RULE),
        ("5", Decision.CONVERSATION),
        ("RET", Decision.OPT_OUT),
        ("4", Decision.INBOX),
    ]
    assert "ended survey" in _inbound(app)[2].reason
    with app.app_context():
        state = db.session().scalar(sa.select(SurveySession.state))
        db.session.remove()
    assert state == SessionState.OPTED_OUT


def test_two_routers_route_each_message_once(app: Flask, run_router: Callable[[], Router]) -> None:
    """Both routers sweep the same unrouted messages at once: each is routed (and
    answered) once."""
    from tests.keywords.routing import store_mo

    code_id = _with_code(app)
    with app.app_context(), db.transaction() as session:
        session.add(KeywordRule(short_code_id=code_id, keyword="KAZAN", reply_tr="Tebrikler!"))
        for n in range(30):
            store_mo(
                session,
                "Kazan",
                source=f"9053210{n:05d}",
                received_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
    run_router()
    run_router()
    wait_until(lambda: all(m.routed_at for m in _inbound(app)), timeout=30)
    with app.app_context():
        replies = db.session().scalars(sa.select(Message.destination)).all()
        db.session.remove()
    assert sorted(replies) == sorted(f"+9053210{n:05d}" for n in range(30))
