"""The router's match modes and built-in handlers, one MO at a time: help, double opt-in,
scoped opt-out, subscribe by keyword, accent folding, and ties resolved by priority."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts.models import (
    Brand,
    ConsentEvent,
    ConsentStatus,
    Contact,
    ContactList,
    ListMember,
    Suppression,
)
from interactive.db import utcnow
from interactive.keywords.models import Decision, KeywordRule, MatchMode, ShortCode
from interactive.outbound.models import Message
from tests.keywords.routing import route_text

PHONE = "+905321234567"


@pytest.fixture
def code(ctx: Session) -> ShortCode:
    """The short code 4664 (made by its first MO), with a brand."""
    route_text(ctx, "merhaba")
    short_code = ctx.scalar(sa.select(ShortCode))
    assert short_code is not None
    brand = Brand(code="acme", name="Acme", help_text="Acme: 0850 000 00 00")
    ctx.add(brand)
    ctx.flush()
    short_code.brand_id = brand.id
    ctx.flush()
    return short_code


def _rule(ctx: Session, code: ShortCode, keyword: str, **fields: Any) -> KeywordRule:
    rule = KeywordRule(short_code_id=code.id, keyword=keyword, **fields)
    ctx.add(rule)
    ctx.flush()
    return rule


def _replies(ctx: Session) -> list[str]:
    query = sa.select(Message.body).where(Message.destination == PHONE).order_by(Message.id)
    return list(ctx.scalars(query))


@pytest.mark.parametrize("text", ["YARDIM", "yardım", "HELP", "info?"])
def test_help_words_answer_with_the_brands_help_text(
    ctx: Session, code: ShortCode, text: str
) -> None:
    routed = route_text(ctx, text)
    assert routed.decision == Decision.HELP, routed.reason
    assert _replies(ctx) == ["Acme: 0850 000 00 00"]


def test_double_opt_in_records_onay_only_after_the_confirmation_word(
    ctx: Session, code: ShortCode
) -> None:
    code.double_opt_in = True
    ctx.flush()
    asked = route_text(ctx, "KATIL")
    assert asked.decision == Decision.OPT_IN and "confirmation asked" in asked.reason
    assert ctx.scalars(sa.select(ConsentEvent)).all() == []
    confirmed = route_text(ctx, "Evet")
    assert confirmed.decision == Decision.OPT_IN and "ONAY recorded" in confirmed.reason
    [event] = ctx.scalars(sa.select(ConsentEvent)).all()
    assert (event.status, event.source) == (ConsentStatus.ONAY, "HS_MESAJ")
    assert len(_replies(ctx)) == 2  # the question, then the welcome


def test_a_scoped_opt_out_leaves_one_list_and_nothing_else(ctx: Session, code: ShortCode) -> None:
    contact = Contact(phone=PHONE)
    vip, other = ContactList(name="VIP"), ContactList(name="Other")
    ctx.add_all([contact, vip, other])
    ctx.flush()
    ctx.add_all(
        [
            ListMember(list_id=vip.id, contact_id=contact.id),
            ListMember(list_id=other.id, contact_id=contact.id),
        ]
    )
    code.scoped_opt_outs = {"KAMPANYA": {"list_id": vip.id}}
    ctx.flush()
    routed = route_text(ctx, "RET kampanya")
    assert routed.decision == Decision.OPT_OUT
    assert f"scoped opt-out: list {vip.id}" in routed.reason
    members = ctx.scalars(sa.select(ListMember.list_id).where(ListMember.contact_id == contact.id))
    assert list(members) == [other.id]
    assert ctx.scalars(sa.select(Suppression)).all() == []
    assert ctx.scalars(sa.select(ConsentEvent)).all() == []


def test_a_subscribe_rule_adds_the_sender_to_its_list(ctx: Session, code: ShortCode) -> None:
    newsletter = ContactList(name="Bülten")
    ctx.add(newsletter)
    ctx.flush()
    _rule(ctx, code, "BULTEN", handler="subscribe", settings={"list_id": newsletter.id})
    routed = route_text(ctx, "Bülten")  # accent-folded onto the keyword
    assert routed.decision == Decision.RULE, routed.reason
    contact = ctx.scalar(sa.select(Contact).where(Contact.phone == PHONE))
    assert contact is not None
    member = ctx.get(ListMember, (newsletter.id, contact.id))
    assert member is not None


@pytest.mark.parametrize(
    ("mode", "pattern", "matches", "misses"),
    [
        (MatchMode.WHOLE, "", ["menu", " MENÜ! ", "ＭＥＮＵ"], ["menu lütfen", "menuler"]),
        (MatchMode.FIRST_WORD, "", ["Menu lütfen", "menü, 2 kişi"], ["lütfen menu"]),
        (MatchMode.PREFIX, "", ["menuler", "Menü lütfen"], ["ana menu"]),
        (MatchMode.REGEX, r"^menu \d+$", ["MENU 12", "menu 3"], ["menu", "menu bir"]),
    ],
)
def test_match_modes_on_normalised_text(
    ctx: Session,
    code: ShortCode,
    mode: MatchMode,
    pattern: str,
    matches: list[str],
    misses: list[str],
) -> None:
    _rule(ctx, code, "MENU", match_mode=mode, pattern=pattern, fuzzy=False)
    for text in matches:
        assert route_text(ctx, text).decision == Decision.RULE, (mode, text)
    for text in misses:
        assert route_text(ctx, text).decision == Decision.INBOX, (mode, text)


def test_accent_folding_is_per_rule(ctx: Session, code: ShortCode) -> None:
    _rule(ctx, code, "ŞANS", fuzzy=False, fold_accents=False)
    assert route_text(ctx, "şans").decision == Decision.RULE
    assert route_text(ctx, "sans").decision == Decision.INBOX
    _rule(ctx, code, "ÇEKİLİŞ", fuzzy=False)
    assert route_text(ctx, "cekilis").decision == Decision.RULE


def test_the_higher_priority_wins_and_the_others_are_recorded(
    ctx: Session, code: ShortCode
) -> None:
    _rule(ctx, code, "KAZ", match_mode=MatchMode.PREFIX, priority=1, reply_tr="kaz")
    _rule(ctx, code, "KAZAN", match_mode=MatchMode.FIRST_WORD, priority=5, reply_tr="kazan")
    routed = route_text(ctx, "kazan bugün")
    assert routed.decision == Decision.RULE
    assert routed.reason.startswith("rule 'KAZAN' (first_word, priority 5)")
    assert "also matched 'KAZ'" in routed.reason
    assert _replies(ctx) == ["kazan"]


def test_a_rule_outside_its_active_period_does_not_fire(ctx: Session, code: ShortCode) -> None:
    now = utcnow()
    _rule(ctx, code, "YILBASI", fuzzy=False, active_from=now + timedelta(days=1))
    assert route_text(ctx, "yılbaşı", now=now).decision == Decision.INBOX
    later = now + timedelta(days=2)
    assert route_text(ctx, "yılbaşı", now=later).decision == Decision.RULE


def test_opt_out_wins_over_a_rule_for_the_same_text(ctx: Session, code: ShortCode) -> None:
    _rule(ctx, code, "STOP", match_mode=MatchMode.PREFIX, priority=100, reply_tr="?")
    routed = route_text(ctx, "STOP")
    assert routed.decision == Decision.OPT_OUT
    assert [s.phone for s in ctx.scalars(sa.select(Suppression))] == [PHONE]
