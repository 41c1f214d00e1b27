"""The router's decisions: opt-out always wins, conversations, keyword rules, the inbox."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts.models import (
    Brand,
    ConsentEvent,
    ConsentStatus,
    Contact,
    Suppression,
    SuppressionReason,
)
from interactive.keywords.models import Decision, InboundMessage, KeywordRule, ShortCode, Thread
from interactive.outbound.models import Message, Traffic
from tests.keywords.routing import route_text

OPT_OUT_VARIANTS = [
    "RET",
    "ret",
    "Ret",
    "rEt",
    "İPTAL",
    "IPTAL",
    "ıptal",
    "iptal",
    "DUR",
    "STOP",
    "stop",
    " STOP. ",
    "Stop please",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "artık mesaj atmayın",
    "Mesaj istemiyorum!",
]


@pytest.fixture
def brand(ctx: Session) -> Brand:
    brand = Brand(code="acme", name="Acme")
    ctx.add(brand)
    ctx.flush()
    return brand


@pytest.mark.parametrize("text", OPT_OUT_VARIANTS)
def test_every_opt_out_variant_suppresses_and_confirms_once(ctx: Session, text: str) -> None:
    routed = route_text(ctx, text)
    assert routed.decision == Decision.OPT_OUT, routed.reason
    rows = ctx.scalars(sa.select(Suppression.reason).where(Suppression.phone == "+905321234567"))
    assert list(rows) == [SuppressionReason.OPTED_OUT]
    replies = ctx.scalars(sa.select(Message).where(Message.destination == "+905321234567")).all()
    assert len(replies) == 1
    assert replies[0].traffic == Traffic.TRANSACTIONAL
    assert replies[0].source == "4664"


@pytest.mark.parametrize("text", ["stopper", "DURUM nedir", "Return policy?", "retro"])
def test_words_that_only_look_like_opt_out_do_not_opt_out(ctx: Session, text: str) -> None:
    assert route_text(ctx, text).decision == Decision.INBOX


def test_a_second_stop_changes_nothing_and_is_not_answered(ctx: Session) -> None:
    route_text(ctx, "STOP")
    routed = route_text(ctx, "stop")
    assert routed.decision == Decision.OPT_OUT
    assert "already suppressed" in routed.reason
    assert routed.replies == []


def test_opt_out_records_ret_for_the_brand_with_source_hs_mesaj(ctx: Session, brand: Brand) -> None:
    contact = Contact(phone="+905321234567")
    ctx.add(contact)
    ctx.flush()
    route_text(ctx, "KATIL")  # creates the code row
    code = ctx.scalar(sa.select(ShortCode))
    assert code is not None
    code.brand_id = brand.id
    ctx.flush()
    assert route_text(ctx, "KATIL").decision == Decision.OPT_IN
    assert route_text(ctx, "RET").decision == Decision.OPT_OUT
    events = ctx.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [(e.status, e.source) for e in events] == [
        (ConsentStatus.ONAY, "HS_MESAJ"),
        (ConsentStatus.RET, "HS_MESAJ"),
    ]


def test_rules_match_exactly_before_fuzzily(ctx: Session) -> None:
    route_text(ctx, "merhaba")
    code = ctx.scalar(sa.select(ShortCode))
    assert code is not None
    ctx.add_all(
        [
            KeywordRule(short_code_id=code.id, keyword="KAZAN", reply_tr="Kazandınız!"),
            KeywordRule(short_code_id=code.id, keyword="KAZAM", reply_tr="Başka"),
        ]
    )
    ctx.flush()
    routed = route_text(ctx, "kazam")
    assert routed.decision == Decision.RULE
    assert "'KAZAM'" in routed.reason and "fuzzy" not in routed.reason
    routed = route_text(ctx, "kazn bugün")
    assert routed.decision == Decision.RULE and "fuzzy" in routed.reason


def test_unmatched_text_goes_to_the_inbox_thread(ctx: Session) -> None:
    routed = route_text(ctx, "Saat kaçta açıksınız?")
    assert routed.decision == Decision.INBOX
    thread = ctx.scalar(sa.select(Thread))
    assert thread is not None and thread.unread == 1 and thread.phone == "+905321234567"
    message = ctx.get(InboundMessage, routed.message_id)
    assert message is not None and message.thread_id == thread.id and message.routed_at


def _campaign_sent_to(ctx: Session, phone: str, **options: Any) -> tuple[Any, Any, Message]:
    from interactive.outbound.models import Campaign, PartState, Variant

    campaign = Campaign(
        name="Yaz", traffic=Traffic.INFORMATIONAL, sender="4664", connection="sim", **options
    )
    ctx.add(campaign)
    ctx.flush()
    variant = Variant(campaign_id=campaign.id, label="A", share=100, template="Merhaba")
    ctx.add(variant)
    ctx.flush()
    sent = Message(
        campaign_id=campaign.id,
        variant_id=variant.id,
        connection="sim",
        source="4664",
        destination=phone,
        body="Merhaba",
        encoding="GSM7",
        parts_count=1,
        traffic=Traffic.INFORMATIONAL,
        state=PartState.DELIVERED,
    )
    ctx.add(sent)
    ctx.flush()
    return campaign, variant, sent


def test_a_reply_with_the_campaigns_goal_keyword_is_one_conversion(ctx: Session) -> None:
    from interactive.analytics import funnel, rollups
    from interactive.analytics.models import Conversion
    from interactive.outbound.models import Goal

    campaign, variant, sent = _campaign_sent_to(
        ctx, "+905321234567", goal=Goal.REPLY, goal_value="EVET"
    )
    assert "conversion" not in route_text(ctx, "Hayır").reason
    routed = route_text(ctx, "Evet!")
    assert "conversion 'reply'" in routed.reason
    message = ctx.get(InboundMessage, routed.message_id)
    assert message is not None
    message.routed_at = None  # routed again (a lost acknowledgement): counted once
    ctx.flush()
    from interactive.keywords.router import route as route_again
    from interactive.redis_store import get_redis

    route_again(ctx, get_redis(), "test", [message.id])
    [conversion] = ctx.scalars(sa.select(Conversion)).all()
    assert (conversion.campaign_id, conversion.variant_id) == (campaign.id, variant.id)
    assert conversion.message_id == sent.id and conversion.inbound_id == message.id
    rollups.refresh_campaign(ctx, campaign.id)
    total, _ = funnel.campaign_funnel(ctx, campaign)
    assert total.conversions == 1


def test_a_conversion_rule_counts_its_value(ctx: Session) -> None:
    from interactive.analytics.models import Conversion

    route_text(ctx, "merhaba")
    code = ctx.scalar(sa.select(ShortCode))
    assert code is not None
    ctx.add(
        KeywordRule(
            short_code_id=code.id,
            keyword="SATIN",
            handler="conversion",
            settings={"event": "purchase", "value": "149.90", "currency": "try"},
        )
    )
    ctx.flush()
    routed = route_text(ctx, "satın al")
    assert "conversion 'purchase' (no campaign)" in routed.reason
    conversion = ctx.scalar(sa.select(Conversion))
    assert conversion is not None
    assert (str(conversion.value), conversion.currency) == ("149.90", "TRY")


def test_a_reply_is_attributed_to_the_latest_campaign_message_and_counted(ctx: Session) -> None:
    from interactive.analytics import funnel, rollups
    from interactive.outbound.models import Campaign, PartState, Variant

    campaign = Campaign(name="Yaz", traffic=Traffic.INFORMATIONAL, sender="4664", connection="sim")
    ctx.add(campaign)
    ctx.flush()
    variant = Variant(campaign_id=campaign.id, label="A", share=100, template="Merhaba")
    ctx.add(variant)
    ctx.flush()
    sent = Message(
        campaign_id=campaign.id,
        variant_id=variant.id,
        connection="sim",
        source="4664",
        destination="+905321234567",
        body="Merhaba",
        encoding="GSM7",
        parts_count=1,
        traffic=Traffic.INFORMATIONAL,
        state=PartState.DELIVERED,
    )
    ctx.add(sent)
    ctx.flush()
    route_text(ctx, "Ne zaman?")
    route_text(ctx, "Teşekkürler", source="905329999999")  # nothing sent to this one
    rollups.refresh_campaign(ctx, campaign.id)
    total, by_variant = funnel.campaign_funnel(ctx, campaign)
    assert (total.replies, total.repliers) == (1, 1)
    assert by_variant[variant.id].repliers == 1
    reply = ctx.scalar(sa.select(InboundMessage).where(InboundMessage.text == "Ne zaman?"))
    assert reply is not None and reply.reply_to_id == sent.id


@pytest.mark.parametrize("text", ["STOPP", "stpo", "STOP spam", "Cancle", "İPTL"])
def test_a_near_miss_of_an_opt_out_word_never_fires_a_rule_by_typo(ctx: Session, text: str) -> None:
    route_text(ctx, "merhaba")
    code = ctx.scalar(sa.select(ShortCode))
    assert code is not None
    for keyword in ("STOMP", "CANDLE", "IPTAL2", "SPAM"):
        ctx.add(KeywordRule(short_code_id=code.id, keyword=keyword, reply_tr="?"))
    ctx.flush()
    routed = route_text(ctx, text)
    assert routed.decision == Decision.INBOX, routed.reason
    assert "opt-out word" in routed.reason
