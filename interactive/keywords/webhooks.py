"""Forwarding inbound messages to webhooks (the ``webhook`` rule handler).

A matched rule owes its webhook one delivery per inbound message: a row in
``webhook_deliveries`` (unique per webhook and message) written in the router's
transaction, POSTed by the delivery job after the commit.

Delivery (``deliver_due``, a periodic job, see ``interactive.keywords.jobs``): the due
rows of a batch are POSTed in parallel with the stored body, signed like the status
webhooks of the messages API but with the webhook's own secret: ``X-Interactive-Timestamp``
(Unix seconds) and ``X-Interactive-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body>``; ``X-Interactive-Delivery`` carries the delivery id (receivers
dedupe by it or by the message ``id`` in the body: delivery is at least once). Anything but
a 2xx answer is retried with exponential backoff (``backoff``) until ``MAX_ATTEMPTS``, then
the row is ``failed``.

SSRF guard: only http(s) URLs (https in production) whose host resolves to public
addresses only, unless ``WEBHOOK_ALLOW_PRIVATE`` is set. It is checked when the URL is
saved (``url_problem``) and again at each delivery, where the connection goes to the very
address that was checked and redirects are not followed (``outbound.webhooks.post``): a DNS
answer that changes after the URL was saved cannot point a delivery inside the network.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from interactive.contacts import phones
from interactive.db import utcnow
from interactive.keywords.models import InboundMessage, KeywordRule, Webhook, WebhookDelivery
from interactive.outbound import webhooks as signing

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_ATTEMPTS = 8
# Waits after the n-th failure: 10 s, 20 s, 40 s … capped at an hour (about 21 minutes
# in all before the eighth and last attempt).
BACKOFF_FIRST = 10
BACKOFF_MAX = 3600
BATCH = 100
WORKERS = 8
TIMEOUT = 5.0
#: A test delivery answers the person who clicked, so it waits less.
TEST_TIMEOUT = 3.0
MAX_URL_LENGTH = 2000
DELIVERY_HEADER = "X-Interactive-Delivery"


def payload(message: InboundMessage, rule: KeywordRule | None) -> dict[str, Any]:
    """What a webhook receives about an inbound message."""
    return {
        "event": "inbound.message",
        "id": message.id,
        "from": sender(message),
        "to": message.destination,
        "text": message.text,
        "received_at": message.received_at.isoformat(),
        "keyword": rule.keyword if rule is not None else None,
        "rule_id": rule.id if rule is not None else None,
        "contact_id": message.contact_id,
        "campaign_id": message.campaign_id,
    }


def sender(message: InboundMessage) -> str:
    """The sender in E.164 when it parses (as the router stores it; a handler runs
    before the router has written ``phone`` on the message)."""
    if message.phone:
        return message.phone
    source = message.source.strip()
    region = str(current_app.config.get("DEFAULT_REGION", "TR")) if has_app_context() else "TR"
    for candidate in (source if source.startswith("+") else f"+{source}", source):
        parsed = phones.normalise(candidate, region)
        if parsed.e164 is not None:
            return parsed.e164
    return source


def sample_payload(now: datetime) -> dict[str, Any]:
    """The body of a test delivery: the shape of a real one, with made-up values."""
    return {
        "event": "webhook.test",
        "id": None,
        "from": "+905320000000",
        "to": "4664",
        "text": "TEST",
        "received_at": now.isoformat(),
        "keyword": "TEST",
        "rule_id": None,
        "contact_id": None,
        "campaign_id": None,
    }


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


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
        body = _dumps(payload(message, rule))
        session.add(
            WebhookDelivery(
                webhook_id=webhook_id, inbound_id=message.id, body=body, next_attempt_at=utcnow()
            )
        )
        session.flush()
    return f"forwarded to webhook {webhook.name!r}"


# --- targets ----------------------------------------------------------------------------------


def url_problem(url: str, *, allow_private: bool, production: bool) -> str | None:
    """Why deliveries cannot go to ``url``, or None (resolves the host name unless
    private targets are allowed). The text is English, for logs and the API."""
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "the URL contains spaces or control characters"
    return signing.target_problem(url, production=production, public_only=not allow_private)


# --- delivery ---------------------------------------------------------------------------------


def backoff(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return int(min(BACKOFF_FIRST * 2 ** (attempts - 1), BACKOFF_MAX))


def headers_for(secret: str, body: bytes, delivery_id: int | None, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "interactive-webhooks/1",
        signing.TIMESTAMP_HEADER: timestamp,
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
    }
    if delivery_id is not None:
        headers[DELIVERY_HEADER] = str(delivery_id)
    return headers


def attempt(
    url: str,
    secret: str,
    body: bytes,
    delivery_id: int | None,
    *,
    allow_private: bool,
    production: bool,
    timeout: float = TIMEOUT,
) -> str | None:
    """One signed POST; None when the receiver answered 2xx, else why not. The target is
    checked again here (the host may resolve elsewhere since the URL was saved)."""
    problem = url_problem(url, allow_private=allow_private, production=production)
    if problem is not None:
        return f"refused: {problem}"
    return signing.post(
        url,
        body,
        headers_for(secret, body, delivery_id, time.time()),
        production=production,
        public_only=not allow_private,
        timeout=timeout,
    )


@dataclass
class Report:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0  # gave up after MAX_ATTEMPTS


@dataclass(frozen=True)
class _Due:
    # Plain values: the POSTs run in threads, which must not touch the session's objects.
    delivery_id: int
    url: str
    secret: str
    body: bytes


def deliver_due(
    session: Session,
    *,
    allow_private: bool,
    production: bool,
    now: datetime | None = None,
    limit: int = BATCH,
) -> Report:
    """POST the deliveries that are due (at most ``limit``, of active webhooks) and store
    each outcome on its row (flushes; the caller commits). A delivery of a disabled
    webhook waits until it is enabled again. On PostgreSQL rows another run holds are
    skipped. Posting twice is possible after a crash between the POST and the commit."""
    now = now or utcnow()
    query = (
        sa.select(WebhookDelivery, Webhook.url, Webhook.secret)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.state == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            Webhook.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    rows = list(session.execute(query))
    report = Report()
    if not rows:
        return report
    due = [_Due(d.id, url, secret, d.body.encode()) for d, url, secret in rows]

    def run(item: _Due) -> str | None:
        return attempt(
            item.url,
            item.secret,
            item.body,
            item.delivery_id,
            allow_private=allow_private,
            production=production,
        )

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(due))) as pool:
        errors = list(pool.map(run, due))
    for (delivery, _url, _secret), error in zip(rows, errors, strict=True):
        _record(delivery, error, now, report)
    session.flush()
    return report


def _record(delivery: WebhookDelivery, error: str | None, now: datetime, report: Report) -> None:
    delivery.attempts += 1
    if error is None:
        delivery.state = DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        report.delivered += 1
        return
    delivery.last_error = error[:500]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.state = FAILED
        report.failed += 1
        log.warning(
            "keyword webhook given up delivery=%s webhook=%s attempts=%s error=%s",
            delivery.id,
            delivery.webhook_id,
            delivery.attempts,
            error,
        )
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
        report.retrying += 1
        log.info(
            "keyword webhook failed delivery=%s webhook=%s attempt=%s error=%s",
            delivery.id,
            delivery.webhook_id,
            delivery.attempts,
            error,
        )


def send_test(
    session: Session, webhook: Webhook, *, allow_private: bool, production: bool
) -> WebhookDelivery:
    """POST a sample body to ``webhook`` now (short timeout) and keep the outcome as a
    delivery without a message (state delivered or failed, never retried). Flushes."""
    now = utcnow()
    delivery = WebhookDelivery(
        webhook_id=webhook.id,
        inbound_id=None,
        body=_dumps(sample_payload(now)),
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    error = attempt(
        webhook.url,
        webhook.secret,
        delivery.body.encode(),
        delivery.id,
        allow_private=allow_private,
        production=production,
        timeout=TEST_TIMEOUT,
    )
    delivery.attempts = 1
    if error is None:
        delivery.state, delivery.delivered_at = DELIVERED, now
    else:
        delivery.state, delivery.last_error = FAILED, error[:500]
    session.flush()
    return delivery


def recent_deliveries(session: Session, webhook_id: int, limit: int = 50) -> list[WebhookDelivery]:
    """The latest deliveries of a webhook, newest first."""
    return list(
        session.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
