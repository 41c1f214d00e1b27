"""The inbox service: listing and finding threads, the conversation, consent and
suppression of the number, reading, assigning, closing, replying, quick replies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from interactive.contacts import consent, suppression
from interactive.contacts import service as contacts
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentStatus,
    Contact,
    SuppressionReason,
)
from interactive.db import utcnow
from interactive.keywords import inbox, review, shortcodes
from interactive.keywords.inbox import InboxError, ThreadFilter
from interactive.keywords.models import (
    Decision,
    InboundMessage,
    KeywordRule,
    ShortCode,
    Thread,
    ThreadState,
)
from interactive.outbound import service as outbound
from interactive.outbound.models import Message, PartState, Traffic
from interactive.outbound.service import outbound_stream
from interactive.web.models import Role
from tests.keywords.routing import route_text

AYSE = "905321234567"
ALI = "905331112233"
CAN = "905441234567"


def thread_of(session: Session, phone: str) -> Thread:
    # The router writes threads with INSERT … ON CONFLICT: read them fresh.
    thread = session.scalar(
        sa.select(Thread)
        .where(Thread.phone == "+" + phone.lstrip("+"))
        .execution_options(populate_existing=True)
    )
    assert thread is not None
    return thread


def code_row(session: Session, code: str = "4664") -> ShortCode:
    row = shortcodes.ensure_short_codes(session, [(code, "sim")])[code]
    return row


def client_and_prefix() -> tuple[redis.Redis, str]:
    return current_app.extensions["interactive.redis"], str(current_app.config["REDIS_PREFIX"])


def reply(session: Session, thread: Thread, text: str, **options: Any) -> Message:
    client, prefix = client_and_prefix()
    return inbox.reply(session, client, prefix, thread, text, by="test", **options)


def phones(page: inbox.ThreadPage) -> list[str]:
    return [row.thread.phone for row in page.rows]


def listed_from(session: Session, cursor: str) -> list[str]:
    return phones(inbox.list_threads(session, ThreadFilter(), cursor=cursor))


def listed(session: Session, **filters: Any) -> list[str]:
    return phones(inbox.list_threads(session, ThreadFilter(**filters)))


# --- listing ----------------------------------------------------------------------------------


def test_threads_newest_first_unmatched_and_unread_counts(ctx: Session) -> None:
    now = utcnow()
    route_text(ctx, "Masa var mı?", source=AYSE, received_at=now - timedelta(minutes=3))
    route_text(ctx, "STOP", source=ALI, received_at=now - timedelta(minutes=2))
    route_text(ctx, "Yarın 4 kişi", source=CAN, received_at=now - timedelta(minutes=1))
    assert listed(ctx) == ["+905441234567", "+905331112233", "+905321234567"]
    # Only what waits for a person: the opt-out was handled by the router.
    assert listed(ctx, unmatched=True) == ["+905441234567", "+905321234567"]
    counts = inbox.unread_counts(ctx)
    assert (counts.total, counts.unmatched, counts.mine) == (2, 2, 0)
    page = inbox.list_threads(ctx, ThreadFilter())
    assert [row.thread.unread for row in page.rows] == [1, 0, 1]
    assert page.rows[0].thread.last_text == "Yarın 4 kişi"
    assert page.rows[0].thread.last_decision == Decision.INBOX


def test_keyset_pages_cover_every_thread_once_even_with_equal_times(ctx: Session) -> None:
    same = utcnow() - timedelta(minutes=10)
    numbers = [f"90532100{n:04d}" for n in range(7)]
    for n, number in enumerate(numbers):
        at = same if n < 4 else same + timedelta(minutes=n)
        route_text(ctx, "merhaba", source=number, received_at=at)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = inbox.list_threads(ctx, ThreadFilter(), cursor=cursor, limit=2)
        seen += phones(page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 4
    assert sorted(seen) == sorted("+" + n for n in numbers)
    assert len(seen) == len(set(seen))
    assert seen[:3] == ["+905321000006", "+905321000005", "+905321000004"]


def test_a_cursor_that_is_not_one_is_refused(ctx: Session) -> None:
    for text in ("", "abc", "1.2.3", "1." + "9" * 20, "-1.5", "1.2 "):
        with pytest.raises(InboxError) as caught:
            inbox.list_threads(ctx, ThreadFilter(), cursor=text)
        assert caught.value.code == "bad_cursor"
    # Well-formed positions beyond the calendar or the ids start from the newest.
    route_text(ctx, "merhaba")
    for text in ("999999999999999999.1", "1" + "0" * 17 + "." + "9" * 19):
        assert listed_from(ctx, text) == ["+905321234567"]


def test_filters_by_rule_campaign_assignee_state_and_search(
    ctx: Session, make_user: Any, app: Any
) -> None:
    desk = make_user(Role.DESK)
    code = code_row(ctx)
    rule = KeywordRule(short_code_id=code.id, keyword="MENU")
    ctx.add(rule)
    client, prefix = client_and_prefix()
    sent = outbound.queue_message(
        ctx,
        client,
        prefix,
        connection="sim",
        source="4664",
        destination=ALI,
        body="Yaz indirimi başladı",
        traffic=Traffic.INFORMATIONAL,
        campaign_id=77,
    )
    sent.created_at = utcnow() - timedelta(hours=1)
    ctx.add(Contact(phone="+905441234567", first_name="Ayşegül", last_name="Yılmaz"))
    ctx.flush()
    route_text(ctx, "menu", source=AYSE)
    route_text(ctx, "Kaça kadar açıksınız?", source=ALI)
    route_text(ctx, "Pencere kenarı lütfen", source=CAN)
    assert listed(ctx, rule_id=rule.id) == ["+905321234567"]
    assert listed(ctx, campaign_id=77) == ["+905331112233"]
    inbox.assign(ctx, thread_of(ctx, CAN), desk.id)
    assert listed(ctx, assigned_to_id=desk.id) == ["+905441234567"]
    assert inbox.unread_counts(ctx, desk.id).mine == 1
    inbox.close(ctx, thread_of(ctx, ALI))
    assert listed(ctx, state=ThreadState.CLOSED) == ["+905331112233"]
    assert "+905331112233" not in listed(ctx, state=ThreadState.OPEN)
    # Number prefixes as people type them, names (Turkish case folding), words of a message.
    assert listed(ctx, query="0533") == ["+905331112233"]
    assert listed(ctx, query="+90 532") == ["+905321234567"]
    assert listed(ctx, query="AYŞE") == ["+905441234567"]
    assert listed(ctx, query="açıksınız") == ["+905331112233"]
    assert listed(ctx, query="pencere") == ["+905441234567"]
    assert listed(ctx, query="100%_") == []


# --- one thread -------------------------------------------------------------------------------


def test_conversation_merges_inbound_and_outbound_by_time(ctx: Session) -> None:
    client, prefix = client_and_prefix()
    campaign = outbound.queue_message(
        ctx,
        client,
        prefix,
        connection="sim",
        source="4664",
        destination=AYSE,  # stored without "+", as campaigns may
        body="Hafta sonu menümüz hazır",
        traffic=Traffic.INFORMATIONAL,
    )
    campaign.created_at = utcnow() - timedelta(minutes=30)
    ctx.flush()
    route_text(ctx, "Cumartesi yer var mı?", received_at=utcnow() - timedelta(minutes=20))
    route_text(ctx, "STOP", received_at=utcnow() - timedelta(minutes=10))
    thread = thread_of(ctx, AYSE)
    answer = reply(ctx, thread, "Evet, 20:00 için yer var.")
    entries = inbox.conversation(ctx, thread)
    assert [(e.kind, e.text) for e in entries] == [
        ("out", "Hafta sonu menümüz hazır"),
        ("in", "Cumartesi yer var mı?"),
        ("in", "STOP"),
        ("out", entries[3].text),  # the router's opt-out confirmation
        ("out", "Evet, 20:00 için yer var."),
    ]
    assert entries[1].decision == Decision.INBOX and entries[1].reason == "no keyword matched"
    assert entries[2].decision == Decision.OPT_OUT and "opt-out STOP" in entries[2].reason
    assert entries[4].state == PartState.QUEUED and entries[4].id == answer.id
    assert entries[0].state == PartState.QUEUED and entries[0].traffic == Traffic.INFORMATIONAL
    assert [e.key for e in inbox.conversation(ctx, thread, limit=2)] == [
        entries[3].key,
        entries[4].key,
    ]
    older = inbox.conversation(ctx, thread, before=entries[2].at)
    assert [e.text for e in older] == ["Hafta sonu menümüz hazır", "Cumartesi yer var mı?"]


def test_summary_shows_consent_per_brand_and_suppression(ctx: Session) -> None:
    acme, other = Brand(code="acme", name="Acme"), Brand(code="zeta", name="Zeta")
    ctx.add_all([acme, other])
    ctx.flush()
    code = code_row(ctx)
    code.brand_id = acme.id
    contact = contacts.create_contact(ctx, contacts.ContactInput(phone=AYSE, first_name="Ayşe"))
    for brand, status in ((acme, ConsentStatus.ONAY), (other, ConsentStatus.ONAY)):
        consent.record(
            ctx,
            [
                consent.NewEvent(
                    contact_id=contact.id,
                    recipient=contact.phone,
                    brand_id=brand.id,
                    status=status,
                    source="HS_WEB",
                    consent_at=utcnow() - timedelta(days=3),
                    actor=Actor.API,
                )
            ],
        )
    route_text(ctx, "Merhaba")
    route_text(ctx, "RET")  # withdraws Acme's consent and suppresses the number
    summary = inbox.summary(ctx, thread_of(ctx, AYSE))
    assert summary.contact is not None and summary.contact.first_name == "Ayşe"
    assert summary.brand is not None and summary.brand.name == "Acme"
    assert [(c.brand_name, c.status) for c in summary.consent] == [
        ("Acme", ConsentStatus.RET),
        ("Zeta", ConsentStatus.ONAY),
    ]
    assert summary.brand_consent == ConsentStatus.RET
    assert summary.suppressed == [SuppressionReason.OPTED_OUT]
    assert summary.policy is not None and summary.policy.traffic == Traffic.TRANSACTIONAL


# --- acting on a thread -----------------------------------------------------------------------


def test_read_assign_close_and_a_new_message_reopens(ctx: Session, make_user: Any) -> None:
    desk, marketer = make_user(Role.DESK), make_user(Role.MARKETER)
    route_text(ctx, "Merhaba")
    route_text(ctx, "Orada mısınız?")
    thread = thread_of(ctx, AYSE)
    assert thread.unread == 2
    inbox.mark_read(ctx, thread)
    assert thread.unread == 0 and inbox.unread_counts(ctx).total == 0
    inbox.assign(ctx, thread, desk.id)
    assert thread.assigned_to_id == desk.id
    with pytest.raises(InboxError) as caught:
        inbox.assign(ctx, thread, marketer.id)  # marketers do not work the inbox
    assert caught.value.code == "not_assignable"
    with pytest.raises(InboxError):
        inbox.assign(ctx, thread, 2**40)
    inbox.assign(ctx, thread, None)
    assert thread.assigned_to_id is None
    route_text(ctx, "Bir şey daha")
    thread = thread_of(ctx, AYSE)
    inbox.close(ctx, thread)
    assert thread.state == ThreadState.CLOSED and thread.unread == 0
    route_text(ctx, "STOP")  # handled by the router: stays closed
    thread = thread_of(ctx, AYSE)
    assert thread.state == ThreadState.CLOSED
    route_text(ctx, "Yine ben")  # for a person: open again, unread
    thread = thread_of(ctx, AYSE)
    assert thread.state == ThreadState.OPEN and thread.unread == 1
    inbox.close(ctx, thread)
    inbox.reopen(ctx, thread)
    assert thread.state == ThreadState.OPEN


def test_a_reply_within_a_day_is_transactional_and_goes_from_the_short_code(
    ctx: Session, redis_client: redis.Redis
) -> None:
    route_text(ctx, "Bu akşam 2 kişi", connection="line-2")
    thread = thread_of(ctx, AYSE)
    message = reply(ctx, thread, "  Rezervasyonunuz alındı, görüşmek üzere! \x00 ")
    assert message.traffic == Traffic.TRANSACTIONAL
    assert (message.source, message.destination, message.connection) == (
        "4664",
        "+905321234567",
        "line-2",
    )
    assert message.body == "Rezervasyonunuz alındı, görüşmek üzere!"
    assert message.encoding == "UCS2" and message.parts_count == 1
    assert thread.last_text == message.body and thread.last_message_at >= message.created_at
    assert thread.unread == 0
    _, prefix = client_and_prefix()
    stream = outbound_stream(prefix, "line-2")
    ctx.commit()  # published to the gateway only once committed
    entries: Any = redis_client.xrange(stream)
    assert [int(fields[b"id"]) for _id, fields in entries] == [message.id]


def test_the_turkish_shift_of_the_connection_is_used_for_a_reply(ctx: Session) -> None:
    route_text(ctx, "Merhaba")
    thread = thread_of(ctx, AYSE)

    class Route:
        turkish_shift = True

    message = reply(
        ctx,
        thread,
        "Teşekkürler, şimdi geliyoruz; masanız hazır olsun. Şöyle cam kenarı olursa çok seviniriz.",
        connections={"sim": Route()},
    )
    assert message.encoding == "GSM7+TR_SHIFT"


@pytest.mark.parametrize("text", ["", "   ", "\x00", "x" * 1601])
def test_an_empty_or_too_long_reply_is_refused(ctx: Session, text: str) -> None:
    route_text(ctx, "Merhaba")
    with pytest.raises(InboxError) as caught:
        reply(ctx, thread_of(ctx, AYSE), text)
    assert caught.value.code == ("too_long" if len(text) > 1600 else "empty")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_an_opted_out_number_gets_an_answer_only_within_the_day(ctx: Session) -> None:
    route_text(ctx, "Yer var mı?", received_at=utcnow() - timedelta(hours=30))
    route_text(ctx, "STOP", received_at=utcnow() - timedelta(hours=25))
    thread = thread_of(ctx, AYSE)
    assert inbox.reply_policy(ctx, thread).refusal == "opted_out"
    with pytest.raises(InboxError) as caught:
        reply(ctx, thread, "Merhaba")
    assert caught.value.code == "opted_out"
    assert "more than 24 hours" in caught.value.message
    route_text(ctx, "Aslında bir sorum var")
    thread = thread_of(ctx, AYSE)
    assert reply(ctx, thread, "Buyrun").traffic == Traffic.TRANSACTIONAL


def test_a_late_reply_to_a_number_not_suppressed_is_informational(ctx: Session) -> None:
    route_text(ctx, "Yer var mı?", received_at=utcnow() - timedelta(hours=25))
    thread = thread_of(ctx, AYSE)
    policy = inbox.reply_policy(ctx, thread)
    assert policy.allowed and policy.traffic == Traffic.INFORMATIONAL
    assert reply(ctx, thread, "Geç cevap için özür dileriz").traffic == Traffic.INFORMATIONAL


def test_a_failing_number_that_just_wrote_can_be_answered(ctx: Session) -> None:
    suppression.add(ctx, ["+905321234567"], SuppressionReason.FAILED)
    route_text(ctx, "Merhaba", received_at=utcnow() - timedelta(hours=1))
    thread = thread_of(ctx, AYSE)
    assert reply(ctx, thread, "Merhaba!").traffic == Traffic.TRANSACTIONAL
    thread.last_inbound_at = utcnow() - timedelta(days=2)
    assert inbox.reply_policy(ctx, thread).refusal == "failing"


@pytest.mark.parametrize("reason", [SuppressionReason.MANUAL, SuppressionReason.ERASED])
def test_a_blocked_or_erased_number_gets_nothing_even_within_the_day(
    ctx: Session, reason: SuppressionReason
) -> None:
    route_text(ctx, "Merhaba")
    thread = thread_of(ctx, AYSE)
    if reason == SuppressionReason.ERASED:
        contacts.erase_number(ctx, "+905321234567", by="test")
    else:
        suppression.add(ctx, ["+905321234567"], reason)
    with pytest.raises(InboxError) as caught:
        reply(ctx, thread, "Merhaba")
    assert caught.value.code == ("erased" if reason == SuppressionReason.ERASED else "blocked")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_a_sender_that_is_not_a_number_cannot_be_answered(ctx: Session) -> None:
    route_text(ctx, "Kodunuz 1234", source="BANKA")
    thread = ctx.scalar(sa.select(Thread))
    assert thread is not None and thread.phone == "BANKA"
    with pytest.raises(InboxError) as caught:
        reply(ctx, thread, "Merhaba")
    assert caught.value.code == "not_a_number"


def test_an_opt_out_phrase_held_for_review_is_unmatched_until_confirmed(ctx: Session) -> None:
    brand = Brand(code="acme", name="Acme", opt_out_phrase_policy="review")
    ctx.add(brand)
    ctx.flush()
    code_row(ctx).brand_id = brand.id
    ctx.flush()
    routed = route_text(ctx, "artık mesaj atmayın lütfen")
    assert routed.decision == Decision.REVIEW
    thread = thread_of(ctx, AYSE)
    assert listed(ctx, unmatched=True) == ["+905321234567"]
    message = inbox.review_message(ctx, thread, routed.message_id)
    client, prefix = client_and_prefix()
    review.confirm_review(ctx, client, prefix, message.id, "Desk 1")
    assert thread.last_decision == Decision.OPT_OUT
    assert listed(ctx, unmatched=True) == []
    assert inbox.summary(ctx, thread).suppressed == [SuppressionReason.OPTED_OUT]
    with pytest.raises(InboxError):
        inbox.review_message(ctx, thread, routed.message_id)  # not waiting any more


def test_inbound_list_by_id_with_filters(ctx: Session) -> None:
    first = route_text(ctx, "Merhaba")
    route_text(ctx, "STOP", source=ALI)
    third = route_text(ctx, "Saat kaç?", source=CAN)
    rows = inbox.list_inbound(ctx, inbox.InboundFilter(), limit=2)
    assert [m.id for m in rows] == sorted(m.id for m in rows) and len(rows) == 3
    rows = inbox.list_inbound(ctx, inbox.InboundFilter(unmatched=True))
    assert [m.id for m in rows] == [first.message_id, third.message_id]
    rows = inbox.list_inbound(ctx, inbox.InboundFilter(decision=Decision.OPT_OUT))
    assert [m.text for m in rows] == ["STOP"]
    rows = inbox.list_inbound(ctx, inbox.InboundFilter(), after=first.message_id)
    assert first.message_id not in [m.id for m in rows]
    everything = list(inbox.iter_inbound(ctx, inbox.InboundFilter(), chunk=1))
    assert [m.id for m in everything] == sorted((m.id for m in everything), reverse=True)
    assert len(everything) == ctx.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


# --- quick replies ----------------------------------------------------------------------------


def test_quick_replies_are_created_listed_changed_and_deleted(ctx: Session) -> None:
    hours = inbox.create_quick_reply(ctx, " Saatler ", "Her gün 09:00–23:00 açığız.")
    inbox.create_quick_reply(ctx, "Adres", "Kordon boyu no. 5, İzmir")
    assert [q.title for q in inbox.quick_replies(ctx)] == ["Adres", "Saatler"]
    inbox.update_quick_reply(ctx, hours, "Açılış saatleri", "Her gün 10:00–23:00.")
    assert hours.title == "Açılış saatleri"
    for title, body, code in (
        ("", "x", "title_required"),
        ("x" * 81, "x", "title_required"),
        ("Boş", "  ", "body_required"),
    ):
        with pytest.raises(InboxError) as caught:
            inbox.create_quick_reply(ctx, title, body)
        assert caught.value.code == code
    inbox.delete_quick_reply(ctx, hours)
    assert [q.title for q in inbox.quick_replies(ctx)] == ["Adres"]
