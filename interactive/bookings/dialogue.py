"""Bookings in the router: the ``booking`` keyword handler (REZ …) and the conversation
provider that carries a booking dialogue and a customer's changes by SMS.

A request names what it can ("REZ yarın 20:00 4 kişi"); what is missing is asked for one
field at a time (day, then time, then party size) and a value the parser was not sure of
is read back for a YES/NO before booking. A full slot is answered with the nearest free
times and the dialogue waits for the customer's pick. A customer with a booking may
cancel it ("İPTAL REZ") or change it ("saati 21 yap", "5 kişi olalım") by SMS, with or
without the keyword. Opt-out words never reach here: the router handles them first and
ends the dialogue (``end``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.bookings import notices, parsing, service
from interactive.bookings.models import Booking, BookingDialogue, BookingState, DialogueState, Venue
from interactive.bookings.service import CUSTOMER, Outcome, Refusal, Wish
from interactive.keywords import conversations, defaults, handlers
from interactive.keywords.handlers import Inbound

#: An open dialogue waits this long for the customer's next message.
DIALOGUE_HOURS = 2
#: Unreadable answers in a row before the dialogue gives up.
MAX_RETRIES = 2
#: Below this a parsed value is read back to the customer before booking.
SURE = 0.8

YES = frozenset({"evet", "e", "yes", "y", "ok", "tamam", "olur", "onay", "onayliyorum"})
NO = frozenset({"hayir", "h", "no", "n", "yok", "istemiyorum", "vazgec", "vazgectim"})
_CHANGE = re.compile(
    r"\b(yap|yapin|yapalim|olsun|olalim|degistir\w*|change|make it|move|instead|yerine)\b"
)
_ORDER = ("date", "time", "party")


class BookingConversation:
    name = "booking"

    def in_touch(self, dialect: str) -> sa.SelectBase:
        """Senders with an open dialogue, or an upcoming booking at a venue, on a short
        code: ``take`` has nothing to do for anyone else."""
        return service.in_touch_query(dialect)

    def in_touch_params(self, inbounds: Sequence[Inbound]) -> dict[str, Any]:
        return {"booking_since": max(i.now for i in inbounds) - service.UPCOMING_SINCE}

    def more_candidates(
        self, session: Session, inbounds: Sequence[Inbound], in_touch: set[int]
    ) -> set[int]:
        return set()

    def take(self, inbound: Inbound) -> str | None:
        dialogue = service.open_dialogue(inbound.session, inbound.phone, inbound.short_code.code)
        if dialogue is not None and dialogue.expires_at <= inbound.now:
            _close(dialogue, DialogueState.ABANDONED, inbound.now)
            dialogue = None
        if dialogue is not None:
            venue = inbound.session.get(Venue, dialogue.venue_id)
            if venue is None:
                _close(dialogue, DialogueState.ABANDONED, inbound.now)
                return None
            if _starts_something_else(inbound):
                return None
            return _answer(inbound, venue, dialogue)
        return _about_a_booking(inbound, keyword=False)

    def end(self, inbound: Inbound) -> bool:
        dialogue = service.open_dialogue(inbound.session, inbound.phone, inbound.short_code.code)
        if dialogue is None:
            return False
        _close(dialogue, DialogueState.OPTED_OUT, inbound.now)
        return True


def _starts_something_else(inbound: Inbound) -> bool:
    """Another feature's keyword (a survey's ANKET) is not an answer; REZ itself is."""
    return any(r.handler not in ("booking", "auto_reply") for r in inbound.keyword_rules())


@handlers.register("booking", _l("Take a booking"), ("venue_id",))
def _book(inbound: Inbound, settings: dict[str, Any]) -> str:
    try:
        venue_id = int(settings.get("venue_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "no venue set"
    venue = inbound.session.get(Venue, venue_id)
    if venue is None:
        return f"venue {venue_id} missing"
    handled = _about_a_booking(inbound, keyword=True, venue=venue)
    if handled is not None:
        return handled
    current = service.open_dialogue(inbound.session, inbound.phone, inbound.short_code.code)
    if current is not None:
        _close(current, DialogueState.ABANDONED, inbound.now)
    contact = inbound.ensure_contact()
    dialogue = BookingDialogue(
        venue_id=venue.id,
        phone=inbound.phone,
        short_code=inbound.short_code.code,
        contact_id=contact.id if contact is not None else None,
        language=inbound.language,
        fields={},
        text=inbound.message.text[:2000],
        inbound_id=inbound.message.id,
        created_at=inbound.now,
        updated_at=inbound.now,
        expires_at=inbound.now + timedelta(hours=DIALOGUE_HOURS),
    )
    inbound.session.add(dialogue)
    inbound.session.flush()
    _merge(dialogue, _parse(inbound, venue, None))
    return f"venue {venue.id}: " + _advance(inbound, venue, dialogue)


# --- A dialogue's next step --------------------------------------------------------------------


def _parse(inbound: Inbound, venue: Venue, expect: str | None) -> parsing.Parsed:
    return parsing.parse(
        inbound.message.text,
        received_at=inbound.message.received_at or inbound.now,
        tz=service.zone(venue),
        expect=parsing.Field(expect) if expect in ("date", "time", "party") else None,
    )


def _merge(dialogue: BookingDialogue, parsed: parsing.Parsed) -> bool:
    """Take what the message said into the dialogue; True if it gave a day, a time, a
    party size or a name. The rest of its words count as a note only beside one of
    those ("bilmiyorum" alone is not an answer, nor a note for the booking)."""
    fields = dict(dialogue.fields or {})
    unsure = set(fields.get("unsure", []))
    found = False
    for name in ("date", "time", "party", "name"):
        value = getattr(parsed, name)
        if value in (None, ""):
            continue
        found = True
        if isinstance(value, time):
            value = value.isoformat(timespec="minutes")
        elif isinstance(value, date):
            value = value.isoformat()
        fields[name] = value
        confidence = parsed.confidence.get(parsing.Field(name), 1.0)
        (unsure.add if confidence < SURE else unsure.discard)(name)
    if found and parsed.note:
        earlier = str(fields.get("note") or "")
        fields["note"] = f"{earlier}; {parsed.note}" if earlier else parsed.note
    fields["unsure"] = sorted(unsure)
    dialogue.fields = fields
    return found


def _advance(inbound: Inbound, venue: Venue, dialogue: BookingDialogue) -> str:
    """Ask for what is missing, read back what is unsure, or book."""
    fields = dialogue.fields or {}
    dialogue.updated_at = inbound.now
    dialogue.expires_at = inbound.now + timedelta(hours=DIALOGUE_HOURS)
    for name in _ORDER:
        if fields.get(name) in (None, ""):
            dialogue.asking = name
            _say(inbound, venue, f"ask_{name}")
            return f"asked for the {name}"
    wish = _wish(venue, fields)
    if fields.get("unsure") and dialogue.asking != "confirm":
        dialogue.asking = "confirm"
        _say(
            inbound,
            venue,
            "confirm",
            when=notices.when(venue, wish.starts_at, inbound.language),
            party=wish.party,
        )
        return "read back for confirmation"
    return _submit(inbound, venue, dialogue, wish)


def _wish(venue: Venue, fields: dict[str, Any]) -> Wish:
    day = date.fromisoformat(str(fields["date"]))
    at = time.fromisoformat(str(fields["time"]))
    return Wish(
        starts_at=datetime.combine(day, at, service.zone(venue)),
        party=int(fields["party"]),
        name=str(fields.get("name") or ""),
        note=str(fields.get("note") or ""),
    )


def _submit(inbound: Inbound, venue: Venue, dialogue: BookingDialogue, wish: Wish) -> str:
    outcome = service.request(
        inbound.session,
        venue.id,
        wish,
        phone=inbound.phone,
        contact_id=dialogue.contact_id,
        language=inbound.language,
        source_text=dialogue.text,
        inbound_id=dialogue.inbound_id,
        now=inbound.now,
    )
    booking = outcome.booking
    if booking is not None:
        dialogue.booking_id = booking.id
        _close(dialogue, DialogueState.DONE, inbound.now)
        kind = "confirmed" if booking.state == BookingState.CONFIRMED else "pending"
        _say(inbound, venue, kind, **notices.booking_values(venue, booking, inbound.language))
        return f"booking {booking.id} {booking.state.value}"
    return _refused(inbound, venue, dialogue, wish, outcome)


def _refused(
    inbound: Inbound, venue: Venue, dialogue: BookingDialogue, wish: Wish, outcome: Outcome
) -> str:
    assert outcome.refusal is not None
    when = notices.when(venue, wish.starts_at, inbound.language)
    spare = notices.times(venue, outcome.alternatives, inbound.language)
    fields = dict(dialogue.fields or {})
    fields["offered"] = [moment.isoformat() for moment in outcome.alternatives]
    fields["unsure"] = []
    dialogue.fields = fields
    if outcome.refusal == Refusal.FULL and outcome.alternatives:
        dialogue.asking = "pick"
        _say(inbound, venue, "full", when=when, times=spare)
        return f"{when} full: offered {spare}"
    with force_locale(inbound.language):
        reason = notices.refusal_text(outcome.refusal, venue)
    if outcome.alternatives:
        dialogue.asking = "pick"
    else:
        dialogue.asking = "date" if outcome.refusal in (Refusal.CLOSED, Refusal.TOO_FAR) else "time"
        if outcome.refusal == Refusal.TOO_MANY:
            _close(dialogue, DialogueState.ABANDONED, inbound.now)
    _say(inbound, venue, "refused", reason=reason, times=spare, when=when)
    return f"refused ({outcome.refusal.value})" + (f": offered {spare}" if spare else "")


def _answer(inbound: Inbound, venue: Venue, dialogue: BookingDialogue) -> str | None:
    """The dialogue's next step for this reply; None when the dialogue gives up on a
    reply it cannot read (the router then hands it to the rules or the inbox)."""
    words = defaults.fold_word(inbound.message.text).split(" ")
    dialogue.text = f"{dialogue.text}\n{inbound.message.text}"[-2000:]
    if dialogue.asking == "proposal":
        return _answer_proposal(inbound, venue, dialogue, words)
    if dialogue.asking == "confirm" and words and words[0] in YES:
        fields = dict(dialogue.fields or {})
        fields["unsure"] = []
        dialogue.fields = fields
        return _submit(inbound, venue, dialogue, _wish(venue, fields))
    if dialogue.asking == "pick" and words and words[0].isdigit():
        offered = (dialogue.fields or {}).get("offered") or []
        index = int(words[0]) - 1
        if 0 <= index < len(offered) and len(words) == 1 and int(words[0]) <= 3:
            chosen = datetime.fromisoformat(offered[index]).astimezone(service.zone(venue))
            _merge_values(dialogue, date=chosen.date().isoformat(), time=f"{chosen:%H:%M}")
            return _advance(inbound, venue, dialogue)
    expect = (
        dialogue.asking
        if dialogue.asking in _ORDER
        else ("time" if dialogue.asking == "pick" else None)
    )
    parsed = _parse(inbound, venue, expect)
    if parsed.cancel or (
        dialogue.asking == "confirm" and words and words[0] in NO and not _said_anything(parsed)
    ):
        _close(dialogue, DialogueState.ABANDONED, inbound.now)
        _say(inbound, venue, "abandoned")
        return "the customer gave up the request"
    if not _merge(dialogue, parsed):
        retries = int((dialogue.fields or {}).get("retries", 0)) + 1
        _merge_values(dialogue, retries=retries)
        if retries > MAX_RETRIES:
            _close(dialogue, DialogueState.ABANDONED, inbound.now)
            return None
        _say(inbound, venue, f"ask_{expect}" if expect in _ORDER else "ask_time")
        return f"not understood: asked again for the {expect or 'time'}"
    if dialogue.asking == "confirm":
        dialogue.asking = ""  # new values: read back again
        fields = dict(dialogue.fields or {})
        fields["unsure"] = sorted(set(fields.get("unsure", [])) | {"time"})
        dialogue.fields = fields
    return _advance(inbound, venue, dialogue)


def _said_anything(parsed: parsing.Parsed) -> bool:
    return any(getattr(parsed, name) not in (None, "") for name in ("date", "time", "party"))


def _merge_values(dialogue: BookingDialogue, **values: Any) -> None:
    dialogue.fields = {**(dialogue.fields or {}), **values}


def _answer_proposal(
    inbound: Inbound, venue: Venue, dialogue: BookingDialogue, words: list[str]
) -> str:
    booking = inbound.session.get(Booking, dialogue.booking_id) if dialogue.booking_id else None
    if booking is None or booking.state != BookingState.PENDING:
        _close(dialogue, DialogueState.ABANDONED, inbound.now)
        return "the proposal is no longer open"
    first = words[0] if words else ""
    if first in YES:
        proposed = datetime.fromisoformat(str((dialogue.fields or {})["proposed"]))
        outcome = service.change(
            inbound.session,
            booking,
            Wish(proposed, booking.party, booking.name, booking.note),
            actor=CUSTOMER,
            now=inbound.now,
        )
        _close(dialogue, DialogueState.DONE, inbound.now)
        if outcome.refusal is not None:
            service.decline(
                inbound.session,
                booking,
                reason="proposed time no longer free",
                actor=CUSTOMER,
                now=inbound.now,
            )
            _say(
                inbound,
                venue,
                "refused",
                reason=notices.refusal_text(outcome.refusal, venue),
                times="",
            )
            return f"booking {booking.id}: proposal accepted but {outcome.refusal.value}"
        service.confirm(inbound.session, booking, actor=CUSTOMER, now=inbound.now)
        _say(
            inbound, venue, "confirmed", **notices.booking_values(venue, booking, inbound.language)
        )
        return f"booking {booking.id}: proposal accepted, confirmed"
    if first in NO:
        service.decline(
            inbound.session,
            booking,
            reason="the customer refused the proposed time",
            actor=CUSTOMER,
            now=inbound.now,
        )
        _close(dialogue, DialogueState.DONE, inbound.now)
        _say(inbound, venue, "abandoned")
        return f"booking {booking.id}: proposal refused"
    _say(
        inbound,
        venue,
        "proposal",
        when=notices.when(
            venue,
            datetime.fromisoformat(str((dialogue.fields or {})["proposed"])),
            inbound.language,
        ),
    )
    return "proposal asked again"


# --- Changes and cancellations ------------------------------------------------------------------


def _about_a_booking(inbound: Inbound, *, keyword: bool, venue: Venue | None = None) -> str | None:
    """Cancel or change the sender's upcoming booking, if the message asks for that."""
    venues = (
        [venue]
        if venue is not None
        else service.venues_on(inbound.session, inbound.short_code.code)
    )
    if not venues:
        return None
    parsed = _parse(inbound, venues[0], None)
    folded = defaults.fold_word(inbound.message.text)
    changing = bool(_CHANGE.search(folded)) and _said_anything(parsed)
    if not parsed.cancel and not changing:
        return None
    booking = service.upcoming_for(
        inbound.session, inbound.phone, [v.id for v in venues], inbound.now
    )
    if booking is None:
        if not keyword:
            return None  # "iptal kampanya" from someone without a booking: not ours
        _say(inbound, venues[0], "no_booking")
        return "no booking to cancel or change"
    venue = inbound.session.get(Venue, booking.venue_id)
    assert venue is not None
    if parsed.cancel:
        service.cancel(inbound.session, booking, actor=CUSTOMER, now=inbound.now)
        _say(
            inbound, venue, "cancelled", **notices.booking_values(venue, booking, booking.language)
        )
        return f"booking {booking.id} cancelled by the customer"
    local = booking.starts_at.astimezone(service.zone(venue))
    day = parsed.date or local.date()
    at = parsed.time or local.time()
    wish = Wish(
        datetime.combine(day, at, service.zone(venue)),
        parsed.party or booking.party,
        booking.name,
        booking.note,
    )
    outcome = service.change(inbound.session, booking, wish, actor=CUSTOMER, now=inbound.now)
    if outcome.refusal is not None:
        with_reason = notices.refusal_text(outcome.refusal, venue)
        spare = notices.times(venue, outcome.alternatives, booking.language)
        _say(inbound, venue, "refused", reason=with_reason, times=spare)
        return f"booking {booking.id} not changed: {outcome.refusal.value}"
    _say(inbound, venue, "changed", **notices.booking_values(venue, booking, booking.language))
    return f"booking {booking.id} changed by the customer"


# --- Helpers -------------------------------------------------------------------------------------


def _say(inbound: Inbound, venue: Venue, kind: str, **values: Any) -> None:
    inbound.reply(notices.text(venue, kind, inbound.language, **values))


def _close(dialogue: BookingDialogue, state: DialogueState, now: datetime) -> None:
    dialogue.state = state
    dialogue.updated_at = now


conversations.register(BookingConversation())
