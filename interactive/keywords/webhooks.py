"""Forwarding inbound messages to webhooks (the ``webhook`` rule handler).

A matched rule owes its webhook one delivery per inbound message: a row in
``webhook_deliveries`` (unique per webhook and message) written in the router's
transaction, POSTed by the delivery job after the commit.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import utcnow
from interactive.keywords.models import InboundMessage, KeywordRule, Webhook, WebhookDelivery


def payload(message: InboundMessage, rule: KeywordRule | None) -> dict[str, Any]:
    """What a webhook receives about an inbound message."""
    return {
        "event": "inbound.message",
        "id": message.id,
        "from": message.phone or message.source,
        "to": message.destination,
        "text": message.text,
        "received_at": message.received_at.isoformat(),
        "keyword": rule.keyword if rule is not None else None,
        "rule_id": rule.id if rule is not None else None,
        "contact_id": message.contact_id,
        "campaign_id": message.campaign_id,
    }


def enqueue(
    session: Session, webhook_id: int, message: InboundMessage, rule: KeywordRule | None
) -> str:
    """Owe webhook ``webhook_id`` a delivery of ``message`` (flushes; once per message)."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not webhook.active:
        return f"webhook {webhook_id} missing or inactive"
    exists = session.scalar(
        sa.select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.inbound_id == message.id
        )
    )
    if exists is None:
        body = json.dumps(payload(message, rule), separators=(",", ":"), ensure_ascii=False)
        session.add(
            WebhookDelivery(
                webhook_id=webhook_id, inbound_id=message.id, body=body, next_attempt_at=utcnow()
            )
        )
        session.flush()
    return f"forwarded to webhook {webhook.name!r}"
