"""Routing a batch at once decides as routing its messages one by one: conversations
opened earlier in the batch, providers asked only about the messages they may take, and
threads brought up to date in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

import interactive.surveys.conversation  # noqa: F401  (registers the survey conversation)
from interactive.keywords import conversations
from interactive.keywords.handlers import Inbound
from interactive.keywords.models import Decision, InboundMessage, Thread, ThreadState
from interactive.keywords.router import Routed, route
from interactive.surveys import editing
from interactive.surveys.models import SurveyAnswer
from tests.keywords.routing import store_mo

ANNA, BORA, CEM = "905321110001", "905321110002", "905321110003"


def _route(ctx: Session, *mos: tuple[str, str]) -> list[Routed]:
    """Store these (sender, text) MOs and route them in one batch."""
    ids = [store_mo(ctx, text, source=source).id for source, text in mos]
    client = current_app.extensions["interactive.redis"]
    return route(ctx, client, str(current_app.config["REDIS_PREFIX"]), ids)


class _Provider:
    """A conversation that takes every message starting with ``word`` and notes which
    messages it was asked about."""

    def __init__(self, name: str, word: str) -> None:
        self.name = name
        self.word = word
        self.asked: list[str] = []

    def take(self, inbound: Inbound) -> str | None:
        self.asked.append(inbound.message.text)
        return "taken" if inbound.message.text.startswith(self.word) else None

    def end(self, inbound: Inbound) -> bool:
        return False


class _Prefetching(_Provider):
    """The same, telling the router beforehand which messages it may take."""

    def candidates(self, session: Session, inbounds: Sequence[Inbound]) -> set[int]:
        return {i.message.id for i in inbounds if i.message.text.startswith(self.word)}


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Only the providers a test registers (the real ones are back afterwards)."""
    registered: list[Any] = []
    monkeypatch.setattr(conversations, "PROVIDERS", registered)
    return registered


def test_an_answer_right_after_the_survey_keyword_in_one_batch_is_an_answer(
    ctx: Session,
) -> None:
    editing.go_live(
        ctx,
        editing.save(
            ctx,
            editing.SurveyInput(
                name="Memnuniyet",
                short_code="4664",
                questions=[{"key": "score", "type": "rating", "text": "1-5?"}],
                keyword="ANKET",
            ),
        ),
    )
    routed = _route(ctx, (ANNA, "ANKET"), (BORA, "5"), (ANNA, "5"))
    assert [r.decision for r in routed] == [Decision.RULE, Decision.INBOX, Decision.CONVERSATION]
    assert ctx.scalars(sa.select(SurveyAnswer.value)).all() == [5]


def test_a_provider_that_cannot_tell_is_asked_about_every_message(
    ctx: Session, providers: list[Any]
) -> None:
    booking = _Provider("booking", "REZ")
    providers.append(booking)
    routed = _route(ctx, (ANNA, "merhaba"), (BORA, "REZ yarın 20:00"), (CEM, "nasılsınız"))
    assert [r.decision for r in routed] == [Decision.INBOX, Decision.CONVERSATION, Decision.INBOX]
    assert routed[1].reason == "booking: taken"
    assert booking.asked == ["merhaba", "REZ yarın 20:00", "nasılsınız"]


def test_a_provider_that_can_tell_is_asked_only_about_its_candidates_and_their_senders(
    ctx: Session, providers: list[Any]
) -> None:
    survey = _Prefetching("survey", "ANKET")
    providers.append(survey)
    routed = _route(
        ctx, (ANNA, "merhaba"), (BORA, "ANKET cevap"), (BORA, "bir daha"), (CEM, "selam")
    )
    assert [r.decision for r in routed] == [
        Decision.INBOX,
        Decision.CONVERSATION,
        Decision.INBOX,
        Decision.INBOX,
    ]
    # Bora's second message: Bora's first may have opened a conversation.
    assert survey.asked == ["ANKET cevap", "bir daha"]


def test_every_thread_of_a_batch_is_brought_up_to_date(ctx: Session) -> None:
    ctx.add(
        Thread(
            phone=f"+{BORA}",
            short_code="4664",
            state=ThreadState.CLOSED,
            unread=0,
            last_text="eski",
            last_decision=Decision.INBOX,
        )
    )
    ctx.flush()
    routed = _route(ctx, (ANNA, "merhaba"), (BORA, "yine ben"), (ANNA, "orada mısınız?"))
    threads = {t.phone: t for t in ctx.scalars(sa.select(Thread))}
    assert set(threads) == {f"+{ANNA}", f"+{BORA}"}
    anna, bora = threads[f"+{ANNA}"], threads[f"+{BORA}"]
    assert (anna.unread, anna.last_text, anna.state) == (2, "orada mısınız?", ThreadState.OPEN)
    assert (bora.unread, bora.last_text, bora.state) == (1, "yine ben", ThreadState.OPEN)
    stored = {
        m.id: m.thread_id
        for m in ctx.scalars(
            sa.select(InboundMessage).where(InboundMessage.id.in_([r.message_id for r in routed]))
        )
    }
    assert [stored[r.message_id] for r in routed] == [anna.id, bora.id, anna.id]


def test_a_batch_costs_the_same_statements_whatever_its_size(ctx: Session) -> None:
    """The messages with their contacts, what they reply to together with the
    conversations their senders are in, then the threads and routing columns: as many
    statements for twenty messages as for one."""
    engine = ctx.connection().engine
    _route(ctx, (ANNA, "merhaba"))  # the short code is made on the first message
    counts = []
    for size in (1, 20):
        ids = [store_mo(ctx, "merhaba", source=f"9053222{size:02d}{i:03d}").id for i in range(size)]
        statements: list[str] = []

        def count(*args: Any, statements: list[str] = statements) -> None:
            statements.append(args[2])

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            client = current_app.extensions["interactive.redis"]
            routed = route(ctx, client, str(current_app.config["REDIS_PREFIX"]), ids)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert [r.decision for r in routed] == [Decision.INBOX] * size
        counts.append(len(statements))
        assert sum("survey_sessions" in s for s in statements) == 1, statements
    assert counts[0] == counts[1]
