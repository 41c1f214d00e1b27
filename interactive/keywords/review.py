"""Opt-out phrases held for review: a person confirms the opt-out, or dismisses it."""

from __future__ import annotations

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts.models import Brand, Contact
from interactive.db import utcnow
from interactive.keywords import handlers
from interactive.keywords.handlers import Inbound
from interactive.keywords.models import Decision, InboundMessage, Thread
from interactive.keywords.router import language_of
from interactive.keywords.shortcodes import code_of, ensure_short_codes


def _inbound_for(
    session: Session, client: redis.Redis, prefix: str, message: InboundMessage
) -> Inbound:
    code = ensure_short_codes(session, [(message.destination, message.connection)])[
        code_of(message.destination)
    ]
    phone = message.phone or message.source
    contact = session.scalar(sa.select(Contact).where(Contact.phone == phone))
    brand = session.get(Brand, code.brand_id) if code.brand_id is not None else None
    return Inbound(
        session=session,
        redis=client,
        prefix=prefix,
        message=message,
        phone=phone,
        contact=contact,
        short_code=code,
        brand=brand,
        language=language_of(contact, phone),
        now=utcnow(),
    )


def confirm_review(
    session: Session, client: redis.Redis, prefix: str, message_id: int, by: str
) -> str:
    """A person read an opt-out phrase held for review and confirms it: the opt-out is
    carried out now, as if the message had been a keyword (flushes). Returns the new
    reason; ValueError when the message is not waiting for review."""
    message = session.get(InboundMessage, message_id, with_for_update=True)
    if message is None or message.decision != Decision.REVIEW:
        raise ValueError("not waiting for review")
    inbound = _inbound_for(session, client, prefix, message)
    inbound.matched = "review"
    done = handlers.opt_out(inbound)
    handlers.send_replies([inbound])
    message.decision = Decision.OPT_OUT
    message.reason = f"opt-out phrase confirmed by {by}: {done}"[:300]
    _settle_thread(session, message)
    session.flush()
    return message.reason


def dismiss_review(session: Session, message_id: int, by: str) -> str:
    """The phrase was not an opt-out after all: the message stays in the inbox."""
    message = session.get(InboundMessage, message_id, with_for_update=True)
    if message is None or message.decision != Decision.REVIEW:
        raise ValueError("not waiting for review")
    message.decision = Decision.INBOX
    message.reason = f"opt-out phrase dismissed by {by}"[:300]
    _settle_thread(session, message)
    session.flush()
    return message.reason


def _settle_thread(session: Session, message: InboundMessage) -> None:
    if message.thread_id is None:
        return
    thread = session.get(Thread, message.thread_id)
    if thread is not None and thread.last_inbound_at == message.received_at:
        thread.last_decision = message.decision
