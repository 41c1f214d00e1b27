"""Booking dialogues through the router: a complete request, missing fields asked one at a
time, an unsure value read back, a full slot with alternatives, change and cancel by
SMS, opt-out inside the dialogue, and the desk's proposal answered by SMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from interactive.bookings import desk, service
from interactive.bookings.models import (
    BookingDialogue,
    BookingEvent,
    BookingState,
    DialogueState,
    Venue,
)
from interactive.contacts.service import erase_number
from interactive.keywords.models import Decision
from interactive.keywords.router import route
from tests.bookings.conftest import NOW, PHONE, bookings, texts_to
from tests.keywords.routing import route_text, store_mo


def _say(ctx: Session, text: str, *, phone: str = PHONE, at: datetime = NOW) -> str:
    routed = route_text(ctx, text, now=at, source=phone.lstrip("+"))
    return routed.reason


def _local(moment: datetime, venue: Venue) -> str:
    return f"{moment.astimezone(service.zone(venue)):%Y-%m-%d %H:%M}"


def test_a_complete_request_is_booked_and_confirmed(ctx: Session, venue: Venue) -> None:
    reason = _say(ctx, "REZ yarın 20:00 4 kişi Ahmet adına")
    assert "confirmed" in reason
    [booking] = bookings(ctx)
    assert _local(booking.starts_at, venue) == "2026-12-11 20:00"
    assert (booking.party, booking.name, booking.state) == (4, "Ahmet", BookingState.CONFIRMED)
    assert booking.source_text.startswith("REZ yarın")
    assert "11 Aralık Cuma 20:00" in texts_to(ctx)[-1] and "onay" in texts_to(ctx)[-1].lower()
    kinds = [e.kind for e in ctx.scalars(sa.select(BookingEvent).order_by(BookingEvent.id))]
    assert kinds == ["requested", "confirmed"]


def test_missing_fields_are_asked_one_at_a_time(ctx: Session, venue: Venue) -> None:
    assert "asked for the time" in _say(ctx, "REZ yarın")
    assert "asked for the party" in _say(ctx, "20:30")
    route = route_text(ctx, "3", now=NOW, source=PHONE.lstrip("+"))
    assert route.decision == Decision.CONVERSATION and "confirmed" in route.reason
    [booking] = bookings(ctx)
    assert (_local(booking.starts_at, venue), booking.party) == ("2026-12-11 20:30", 3)
    texts = texts_to(ctx)
    assert len(texts) == 3 and "saat" in texts[0].lower() and "kaç" in texts[1].lower()


def test_an_unsure_value_is_read_back_before_booking(ctx: Session, venue: Venue) -> None:
    # A bare "8" is an evening guess: read back for a YES.
    assert "read back" in _say(ctx, "REZ cuma 8 2 kişi")
    assert bookings(ctx) == []
    assert "EVET" in texts_to(ctx)[-1] and "20:00" in texts_to(ctx)[-1]
    assert "confirmed" in _say(ctx, "Evet")
    assert _local(bookings(ctx)[0].starts_at, venue) == "2026-12-11 20:00"


def test_an_ambiguous_date_is_read_back_and_a_correction_replaces_it(
    ctx: Session, venue: Venue
) -> None:
    # "12.12" alone could be a time (12:12): taken as a date, read back for a YES.
    assert "asked for the time" in _say(ctx, "REZ 12.12 2 kişi")
    assert "read back" in _say(ctx, "20:00")
    assert "12 Aralık Cumartesi 20:00" in texts_to(ctx)[-1]
    # Not a yes: the new day is taken and read back again.
    assert "read back" in _say(ctx, "hayır 13.12")
    assert "13 Aralık Pazar 20:00" in texts_to(ctx)[-1]
    assert "confirmed" in _say(ctx, "evet")
    assert _local(bookings(ctx)[0].starts_at, venue) == "2026-12-13 20:00"


def test_no_to_the_read_back_gives_the_request_up(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ cuma 8 2 kişi")
    assert "gave up" in _say(ctx, "hayır")
    assert bookings(ctx) == []
    dialogue = ctx.scalars(sa.select(BookingDialogue)).one()
    assert dialogue.state == DialogueState.ABANDONED


def test_a_full_slot_offers_the_nearest_free_times(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ yarın 20:00 8 kişi", phone="+905329999999")
    reason = _say(ctx, "REZ yarın 20:00 4 kişi")
    assert "full: offered" in reason
    offer = texts_to(ctx)[-1]
    assert "19:30" in offer and "20:30" in offer
    assert "confirmed" in _say(ctx, "20:30")
    mine = [b for b in bookings(ctx) if b.phone == PHONE]
    assert _local(mine[0].starts_at, venue) == "2026-12-11 20:30"


def test_a_pick_by_number_takes_that_alternative(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ yarın 20:00 8 kişi", phone="+905329999999")
    _say(ctx, "REZ yarın 20:00 4 kişi")
    assert "19:00, 19:30, 20:30" in texts_to(ctx)[-1]  # the three nearest, in time order
    assert "confirmed" in _say(ctx, "1")
    mine = [b for b in bookings(ctx) if b.phone == PHONE]
    assert _local(mine[0].starts_at, venue) == "2026-12-11 19:00"


def test_change_and_cancel_by_sms(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ yarın 20:00 4 kişi")
    assert "changed by the customer" in _say(ctx, "saati 21 yap")
    [booking] = bookings(ctx)
    assert _local(booking.starts_at, venue) == "2026-12-11 21:00"
    assert "21:00" in texts_to(ctx)[-1]
    assert "cancelled by the customer" in _say(ctx, "IPTAL REZ")
    assert bookings(ctx)[0].state == BookingState.CANCELLED
    # Cancelled: nothing left to change.
    assert "no booking" in _say(ctx, "REZ iptal")


def test_opt_out_wins_inside_the_dialogue(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ yarın")
    routed = route_text(ctx, "RET", now=NOW, source=PHONE.lstrip("+"))
    assert routed.decision == Decision.OPT_OUT
    dialogue = ctx.scalars(sa.select(BookingDialogue)).one()
    assert dialogue.state == DialogueState.OPTED_OUT
    assert bookings(ctx) == []


def test_closed_days_and_large_parties_are_refused_with_the_reason(
    ctx: Session, venue: Venue
) -> None:
    assert "refused (too_many)" in _say(ctx, "REZ yarın 20:00 12 kişi")
    assert "8" in texts_to(ctx)[-1]
    assert "refused (closed)" in _say(ctx, "REZ 31.12.2026 20:00 2 kişi", phone="+905320000001")


def test_a_pending_request_waits_for_the_desk_and_a_proposal_is_answered_by_sms(
    ctx: Session, venue: Venue
) -> None:
    venue.auto_confirm = False
    assert "pending" in _say(ctx, "REZ yarın 20:00 4 kişi")
    [booking] = bookings(ctx)
    outbox = desk.Outbox(
        current_app.extensions["interactive.redis"], current_app.config["REDIS_PREFIX"]
    )
    later = datetime(2026, 12, 11, 19, 0, tzinfo=UTC)  # 22:00 in Istanbul
    desk.propose(ctx, outbox, booking, later, service.Actor("desk"), now=NOW)
    assert "22:00" in texts_to(ctx)[-1] and "EVET" in texts_to(ctx)[-1]
    assert "proposal accepted, confirmed" in _say(ctx, "evet", at=NOW + timedelta(minutes=5))
    assert booking.state == BookingState.CONFIRMED
    assert _local(booking.starts_at, venue) == "2026-12-11 22:00"


def test_a_retransmitted_request_books_once(ctx: Session, venue: Venue) -> None:
    message = route_text(ctx, "REZ yarın 20:00 2 kişi", now=NOW, source=PHONE.lstrip("+"))
    assert message.decision == Decision.RULE
    # Routed once: the router skips it when the stream delivers it again.
    assert (
        route(
            ctx,
            current_app.extensions["interactive.redis"],
            current_app.config["REDIS_PREFIX"],
            [message.message_id],
            now=NOW,
        )
        == []
    )
    assert len(bookings(ctx)) == 1


def test_reminders_go_once_before_the_time(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ yarın 20:00 2 kişi")
    outbox = desk.Outbox(
        current_app.extensions["interactive.redis"], current_app.config["REDIS_PREFIX"]
    )
    evening = datetime(2026, 12, 11, 15, 30, tzinfo=UTC)  # 18:30, 1.5 h before
    assert desk.send_reminders(ctx, outbox, now=evening) == 1
    assert desk.send_reminders(ctx, outbox, now=evening) == 0
    assert "hatırlatma" in texts_to(ctx)[-1].lower()


def test_erasing_the_number_removes_its_bookings_and_dialogues(ctx: Session, venue: Venue) -> None:
    _say(ctx, "REZ yarın 20:00 2 kişi Ayşe adına")
    _say(ctx, "REZ cuma", phone="+905320000002")
    _say(ctx, "REZ cumartesi")
    erase_number(ctx, PHONE, by="test")
    assert bookings(ctx) == []
    assert ctx.scalar(sa.select(sa.func.count()).select_from(BookingEvent)) == 0
    phones = ctx.scalars(sa.select(BookingDialogue.phone)).all()
    assert phones == ["+905320000002"]


def test_words_of_a_change_from_a_number_without_a_booking_go_to_the_inbox(
    ctx: Session, venue: Venue
) -> None:
    for text in ("iptal kampanya", "saati 21 yap"):
        routed = route_text(ctx, text, now=NOW, source="905550001122")
        assert routed.decision == Decision.INBOX
    assert texts_to(ctx, "+905550001122") == []


def test_replies_it_cannot_read_are_asked_again_then_left_to_the_inbox(
    ctx: Session, venue: Venue
) -> None:
    _say(ctx, "REZ yarın 4 kişi")
    assert "asked again for the time" in _say(ctx, "bilmiyorum")
    assert "asked again for the time" in _say(ctx, "hmm")
    routed = route_text(ctx, "size sonra dönerim", now=NOW, source=PHONE.lstrip("+"))
    assert routed.decision == Decision.INBOX
    dialogue = ctx.scalars(sa.select(BookingDialogue)).one()
    assert dialogue.state == DialogueState.ABANDONED


def test_in_one_batch_the_dialogue_takes_only_its_customers_messages(
    ctx: Session, venue: Venue
) -> None:
    other, stranger = "+905321234568", "905550001122"
    _say(ctx, "REZ yarın 20:00 4 kişi")
    assert "asked for the time" in _say(ctx, "REZ yarın", phone=other)
    ids = [
        store_mo(ctx, text, source=source.lstrip("+"), received_at=NOW).id
        for source, text in (
            (PHONE, "saati 21 yap"),
            (stranger, "saati 21 yap"),
            (other, "20:30"),
        )
    ]
    client = current_app.extensions["interactive.redis"]
    routed = route(ctx, client, str(current_app.config["REDIS_PREFIX"]), ids, now=NOW)
    assert [r.decision for r in routed] == [
        Decision.CONVERSATION,
        Decision.INBOX,
        Decision.CONVERSATION,
    ]
    assert "changed by the customer" in routed[0].reason
    assert "asked for the party" in routed[2].reason
    [booking] = bookings(ctx)
    assert _local(booking.starts_at, venue) == "2026-12-11 21:00"
