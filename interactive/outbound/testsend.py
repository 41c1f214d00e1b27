"""The composer's test send: one variant's text to one number, now.

The text is rendered with the contact's data when the number is a contact (else the
template's defaults apply), the opt-out footer is appended, and links stay as written (a
test creates no short link, so it never counts as a click of the campaign). The message is
queued as the campaign's traffic on its route but belongs to no campaign, so the funnel
stays the recipients'. A suppressed number gets nothing, as it would from the campaign.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from interactive.contacts import phones, suppression
from interactive.contacts.models import Brand, Contact
from interactive.outbound import campaigns, rendering
from interactive.outbound.models import Campaign, Message
from interactive.outbound.service import queue_message
from interactive.redis_store import get_redis

log = logging.getLogger(__name__)


class TestSendError(Exception):
    """Why nothing was sent, for the person who asked."""

    __test__ = False  # not a pytest test class

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def send(
    session: Session,
    campaign: Campaign,
    *,
    variant_id: int | None,
    phone: str,
    connections: Mapping[str, Any],
    locale: str,
) -> Message:
    """Queue the test message (flushes; its id is published after the commit). Raises
    TestSendError with the reason when nothing can be sent."""
    parsed = phones.normalise(phone, str(current_app.config.get("DEFAULT_REGION", "TR")))
    if parsed.e164 is None:
        raise TestSendError(str(phones.error_message(parsed.error or "invalid_number")))
    variant = next((v for v in campaign.variants if v.id == variant_id), None)
    if variant is None:
        raise TestSendError(_("Choose a variant."))
    connection = connections.get(campaign.connection)
    if connection is None:
        raise TestSendError(_("Choose a route (SMSC connection)."))
    if rendering.check_sender(campaign.sender):
        raise TestSendError(_("The sender ID must be up to 11 letters and digits, or a number."))
    if suppression.suppressed(session, [parsed.e164]):
        raise TestSendError(_("This number is on the suppression list: nothing was sent."))
    contact = session.execute(
        sa.select(
            Contact.id, Contact.first_name, Contact.last_name, Contact.phone, Contact.attributes
        ).where(Contact.phone == parsed.e164)
    ).first()
    try:
        template = rendering.compile_template(
            variant.template, campaigns.template_variables(session)
        )
        text = template.render(rendering.variables_of(dict(contact._mapping)) if contact else {})
    except rendering.TemplateError as exc:
        raise TestSendError(campaigns.template_problem(variant.label, exc)) from exc
    brand = session.get(Brand, campaign.brand_id) if campaign.brand_id else None
    body = rendering.with_footer(
        rendering.replace_urls(text, None),
        campaigns.footer(campaign.traffic, brand, connection, locale),
    )
    message = queue_message(
        session,
        get_redis(),
        str(current_app.config["REDIS_PREFIX"]),
        connection=campaign.connection,
        source=campaign.sender,
        destination=parsed.e164,
        body=body,
        traffic=campaign.traffic,
        turkish_shift=bool(getattr(connection, "turkish_shift", False)),
        contact_id=contact.id if contact else None,
        validity_minutes=campaign.validity_minutes,
    )
    log.info(
        "campaign test message queued campaign_id=%s variant_id=%s message_id=%s",
        campaign.id,
        variant.id,
        message.id,
    )
    return message
