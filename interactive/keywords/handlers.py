"""What happens to an inbound message: the built-in opt-out, opt-in and help handling, and
the small registry of rule handlers (auto-reply, list subscription, webhook forward…) that
surveys and bookings extend with their own.

Every effect is idempotent: a message the router sees twice has been routed already and is
skipped (``routed_at`` is set in the same transaction as the effects), and the effects
themselves only write what changes a state (the consent ledger skips a repeated RET, a
suppression or list membership already there is not added again). Confirmation replies
go out only when something changed, so a number that sends STOP twice hears back once.

Replies are answers to what the customer just sent: they are queued as transactional
traffic, which an opt-out does not stop (the confirmation of a RET has to reach the number
that sent it; İYS counts all of them as informational, not commercial).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.analytics import service as analytics
from interactive.analytics.models import ConversionSource
from interactive.contacts import consent, suppression
from interactive.contacts import service as contacts
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentState,
    ConsentStatus,
    Contact,
    ContactList,
    SuppressionReason,
)
from interactive.keywords import defaults, matching, webhooks
from interactive.keywords.models import InboundMessage, KeywordRule, OptInRequest, ShortCode
from interactive.outbound import rendering
from interactive.outbound import service as outbound
from interactive.outbound.models import Traffic
from interactive.outbound.service import suppression_key

log = logging.getLogger(__name__)

#: The ledger's source for consent given or withdrawn by SMS to our number.
SOURCE = "HS_MESAJ"
#: How long a double opt-in waits for its confirmation word.
CONFIRM_WITHIN = timedelta(hours=24)


@dataclass
class Inbound:
    """One inbound message being routed, with what handlers need to act on it."""

    session: Session
    redis: redis.Redis
    prefix: str
    message: InboundMessage
    phone: str  # E.164 when the source parses, else the source as sent
    contact: Contact | None
    short_code: ShortCode
    brand: Brand | None
    language: str  # "tr" or "en": of the contact, else of the number's country
    now: datetime
    #: The short code's active keyword rules (for a conversation that must tell an
    #: answer from a keyword that starts something else).
    patterns: Sequence[matching.Pattern] = ()
    rules: Mapping[int, KeywordRule] = field(default_factory=dict)
    rule: KeywordRule | None = None
    matched: str = ""  # the keyword (or phrase) that matched
    argument: str = ""  # what followed the keyword ("RET KAMPANYA" → "kampanya")
    outgoing: list[outbound.NewMessage] = field(default_factory=list)  # replies to queue
    replies: list[int] = field(default_factory=list)  # their ids, once queued

    def reply(self, text: str) -> None:
        """Reply ``text`` to the sender from this short code (stored with the batch's
        other replies, by the router's routing statement or ``send_replies``, and
        published after commit)."""
        text = text.strip()
        if not text:
            return
        self.outgoing.append(
            outbound.NewMessage(
                connection=self.short_code.connection or self.message.connection,
                source=self.short_code.code,
                destination=self.phone,
                body=text,
                traffic=Traffic.TRANSACTIONAL,
                contact_id=self.contact.id if self.contact is not None else None,
            )
        )

    def text_of(self, kind: str, **values: Any) -> str:
        """The short code's own reply of ``kind`` in the sender's language, else ours."""
        own = (self.short_code.replies or {}).get(kind) or {}
        text = own.get(self.language) or own.get("tr" if self.language == "en" else "en")
        if text:
            return render(text, self, **values)
        with force_locale(self.language):
            return defaults.reply_text(kind, **self.reply_values(), **values)

    def reply_values(self) -> dict[str, str]:
        brand = self.brand.name if self.brand is not None else self.short_code.code
        return {"brand": brand, "code": self.short_code.code}

    def keyword_rules(self) -> list[KeywordRule]:
        """The rules whose keyword the message is, exactly (no typo allowed), best first."""
        found = matching.find(self.patterns, self.message.text, fuzzy_allowed=False)
        return [self.rules[int(m.key)] for m in found if int(m.key) in self.rules]  # type: ignore[call-overload]

    def ensure_contact(self) -> Contact | None:
        """The sender's contact, created when there is none (None for a number that does
        not parse, or one erased at its owner's request)."""
        if self.contact is not None:
            return self.contact
        if not rendering.is_e164(self.phone):
            return None
        try:
            self.contact = contacts.create_contact(
                self.session, contacts.ContactInput(phone=self.phone, language=self.language)
            )
        except contacts.ContactError:
            return None
        self.message.contact_id = self.contact.id
        return self.contact


#: A reply to queue and the message it answers.
Pending = tuple[Inbound, outbound.NewMessage]


def send_replies(inbounds: Sequence[Inbound]) -> None:
    """Queue the replies of these routed messages in one batch (flushes)."""
    pending = pending_replies(inbounds)
    if not pending:
        return
    first = pending[0][0]
    ids = outbound.queue_messages(first.session, first.redis, first.prefix, [p[1] for p in pending])
    replies_queued(pending, ids)


def pending_replies(inbounds: Sequence[Inbound]) -> list[Pending]:
    """The replies the handlers asked for, in order (queue them, then ``replies_queued``)."""
    return [(inbound, item) for inbound in inbounds for item in inbound.outgoing]


def replies_queued(pending: Sequence[Pending], ids: Sequence[int]) -> None:
    """The replies are stored with these ids: publish them after the commit."""
    if not pending:
        return
    first = pending[0][0]
    outbound.publish_queued(first.session, first.redis, first.prefix, [p[1] for p in pending], ids)
    for (inbound, _item), message_id in zip(pending, ids, strict=True):
        inbound.replies.append(message_id)
    for inbound, _item in pending:
        inbound.outgoing.clear()


def render(source: str, inbound: Inbound, **values: Any) -> str:
    """A reply template with the contact's variables, the short code and the keyword."""
    variables: dict[str, Any] = {}
    if inbound.contact is not None:
        variables.update(
            rendering.variables_of(
                {
                    "first_name": inbound.contact.first_name,
                    "last_name": inbound.contact.last_name,
                    "phone": inbound.contact.phone,
                    "attributes": inbound.contact.attributes,
                }
            )
        )
    variables.setdefault("phone", inbound.phone)
    variables.update(inbound.reply_values())
    variables.update(keyword=inbound.matched, short_code=inbound.short_code.code, **values)
    try:
        return rendering.saved_template(source).render(variables)
    except rendering.TemplateError as exc:
        log.warning(
            "reply template failed rule=%s error=%s", getattr(inbound.rule, "id", None), exc
        )
        return ""


# --- The registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    """A rule handler: ``run`` carries out the rule's effect and returns what it did (for
    the decision's reason). ``settings`` names the rule settings it reads."""

    name: str
    label: Any
    run: Callable[[Inbound, dict[str, Any]], str]
    settings: tuple[str, ...] = ()


HANDLERS: dict[str, Handler] = {}


def register(
    name: str, label: Any, settings: tuple[str, ...] = ()
) -> Callable[[Callable[[Inbound, dict[str, Any]], str]], Callable[[Inbound, dict[str, Any]], str]]:
    def add(
        run: Callable[[Inbound, dict[str, Any]], str],
    ) -> Callable[[Inbound, dict[str, Any]], str]:
        HANDLERS[name] = Handler(name, label, run, settings)
        return run

    return add


@register("auto_reply", _l("Auto-reply only"))
def _auto_reply(inbound: Inbound, settings: dict[str, Any]) -> str:
    return ""  # the rule's reply template is sent for every handler


@register("subscribe", _l("Add to a list"), ("list_id",))
def _subscribe(inbound: Inbound, settings: dict[str, Any]) -> str:
    contact = inbound.ensure_contact()
    list_id = _int(settings.get("list_id"))
    if contact is None or list_id is None or inbound.session.get(ContactList, list_id) is None:
        return "list or contact missing"
    added = contacts.add_members(inbound.session, list_id, [contact.id])
    return f"added to list {list_id}" if added else f"already in list {list_id}"


@register("unsubscribe", _l("Remove from a list"), ("list_id",))
def _unsubscribe(inbound: Inbound, settings: dict[str, Any]) -> str:
    list_id = _int(settings.get("list_id"))
    if inbound.contact is None or list_id is None:
        return "not in list"
    removed = contacts.remove_members(inbound.session, list_id, [inbound.contact.id])
    return f"removed from list {list_id}" if removed else f"not in list {list_id}"


@register("webhook", _l("Forward to a webhook"), ("webhook_id",))
def _webhook(inbound: Inbound, settings: dict[str, Any]) -> str:
    webhook_id = _int(settings.get("webhook_id"))
    if webhook_id is None:
        return "no webhook set"
    return webhooks.enqueue(inbound.session, webhook_id, inbound.message, inbound.rule)


@register("conversion", _l("Count as a conversion"), ("event", "value", "currency"))
def _conversion(inbound: Inbound, settings: dict[str, Any]) -> str:
    event = str(settings.get("event") or "reply")
    return record_conversion(inbound, event, settings.get("value"), settings.get("currency"))


def record_conversion(inbound: Inbound, event: str, value: Any = None, currency: Any = None) -> str:
    """A conversion for the campaign this reply answers (unattributed when it answers
    none), once per inbound message."""
    message = inbound.message
    try:
        amount = Decimal(str(value)) if value not in (None, "") else None
    except ArithmeticError:
        amount = None
    new = analytics.record(
        inbound.session,
        analytics.NewConversion(
            source=ConversionSource.REPLY,
            event=event,
            idempotency_key=f"inbound:{message.id}",
            occurred_at=message.received_at,
            value=amount,
            currency=str(currency)[:3].upper() if currency else None,
            phone=inbound.phone,
            contact_id=inbound.contact.id if inbound.contact is not None else None,
            campaign_id=message.campaign_id,
            variant_id=message.variant_id,
            message_id=message.reply_to_id,
            inbound_id=message.id,
        ),
    )
    where = f"campaign {message.campaign_id}" if message.campaign_id else "no campaign"
    return f"conversion {event!r} ({where})" if new else "conversion already counted"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- Opt-out, opt-in, help -----------------------------------------------------------------


def opt_out(inbound: Inbound, *, scope: dict[str, Any] | None = None) -> str:
    """RET: withdraw consent, suppress the number before its next submit, confirm once.

    Unscoped: RET in the ledger for the short code's brand (or, on a short code without
    one, for every brand the contact had consented to), the number suppressed for all but
    transactional traffic, open conversations ended. Scoped ("RET KAMPANYA"): RET for that
    brand only, or removal from that list only."""
    session = inbound.session
    if scope and scope.get("list_id") is not None:
        removed = 0
        list_id = _int(scope["list_id"])
        if inbound.contact is not None and list_id is not None:
            removed = contacts.remove_members(session, list_id, [inbound.contact.id])
        if removed:
            inbound.reply(inbound.text_of("opt_out_scoped", scope=inbound.argument.upper()))
        return f"scoped opt-out: list {list_id}" + ("" if removed else " (not a member)")
    brand_ids: list[int] = []
    if scope and scope.get("brand_id") is not None:
        brand_ids = [b for b in [_int(scope["brand_id"])] if b is not None]
    elif inbound.brand is not None:
        brand_ids = [inbound.brand.id]
    elif inbound.contact is not None:
        brand_ids = list(
            session.scalars(
                sa.select(ConsentState.brand_id).where(
                    ConsentState.contact_id == inbound.contact.id,
                    ConsentState.status == ConsentStatus.ONAY,
                )
            )
        )
    events = _record(inbound, brand_ids, ConsentStatus.RET)
    if scope:
        if events:
            inbound.reply(inbound.text_of("opt_out_scoped", scope=inbound.argument.upper()))
        return f"scoped opt-out: brand {brand_ids[0] if brand_ids else '?'}"
    suppressed_now = suppress(inbound)
    from interactive.keywords import conversations

    ended = conversations.end_all(inbound)
    if suppressed_now or events:
        inbound.reply(inbound.text_of("opt_out"))
    parts = ["suppressed" if suppressed_now else "already suppressed"]
    if events:
        parts.append(f"RET recorded for {len(events)} brand(s)")
    if ended:
        parts.append(f"ended {', '.join(ended)}")
    return "; ".join(parts)


def suppress(inbound: Inbound) -> bool:
    """Suppress the sender now. The Redis set the gateway checks gets the number before
    the commit as well as after it: from the moment the opt-out commits, no part goes to
    this number (were the commit to fail, the message is routed again and commits then)."""
    added = suppression.add(
        inbound.session,
        [inbound.phone],
        SuppressionReason.OPTED_OUT,
        note=f"SMS {inbound.matched!r} to {inbound.short_code.code}",
        by="keyword",
    )
    try:
        inbound.redis.sadd(suppression_key(inbound.prefix), inbound.phone)
    except redis.RedisError:
        log.warning("suppression mirror not written before commit phone=%s", inbound.phone)
    return bool(added)


def opt_in(inbound: Inbound) -> str:
    """KATIL/START/…: ONAY for the short code's brand and the opt-out lifted; with double
    opt-in the first message only asks for the confirmation word."""
    code = inbound.short_code
    session = inbound.session
    confirm = defaults.fold_word(code.confirm_keyword)
    if code.double_opt_in:
        pending = session.scalar(
            sa.select(OptInRequest)
            .where(
                OptInRequest.phone == inbound.phone,
                OptInRequest.short_code_id == code.id,
                OptInRequest.confirmed_at.is_(None),
                OptInRequest.requested_at >= inbound.now - CONFIRM_WITHIN,
            )
            .order_by(OptInRequest.requested_at.desc())
            .limit(1)
        )
        if pending is None or inbound.matched != confirm:
            if pending is None:
                session.add(
                    OptInRequest(
                        short_code_id=code.id,
                        phone=inbound.phone,
                        inbound_id=inbound.message.id,
                        requested_at=inbound.now,
                    )
                )
                session.flush()
            inbound.reply(inbound.text_of("opt_in_confirm", word=code.confirm_keyword))
            return "double opt-in: confirmation asked"
        pending.confirmed_at = inbound.now
    contact = inbound.ensure_contact()
    lifted = suppression.remove(session, inbound.phone, SuppressionReason.OPTED_OUT)
    events: list[int] = []
    if contact is not None and inbound.brand is not None:
        events = _record(inbound, [inbound.brand.id], ConsentStatus.ONAY)
    if events or lifted:
        inbound.reply(inbound.text_of("opt_in"))
    parts = []
    if events:
        parts.append("ONAY recorded")
    elif inbound.brand is None:
        parts.append("no brand on this short code: no consent recorded")
    else:
        parts.append("consent already given")
    if lifted:
        parts.append("opt-out lifted")
    return "; ".join(parts)


def help_reply(inbound: Inbound) -> str:
    brand = inbound.brand
    if brand is not None and brand.help_text.strip():
        inbound.reply(render(brand.help_text, inbound))
    else:
        inbound.reply(inbound.text_of("help"))
    return "help sent"


def _record(inbound: Inbound, brand_ids: list[int], status: ConsentStatus) -> list[int]:
    contact = inbound.contact
    if contact is None or not brand_ids:
        return []
    events = [
        consent.NewEvent(
            contact_id=contact.id,
            recipient=contact.phone,
            brand_id=brand_id,
            status=status,
            source=SOURCE,
            consent_at=inbound.message.received_at,
            actor=Actor.KEYWORD,
            actor_label=inbound.short_code.code,
            evidence=f"inbound message {inbound.message.id}: {inbound.message.text[:200]}",
        )
        for brand_id in brand_ids
    ]
    return consent.record(inbound.session, events)
