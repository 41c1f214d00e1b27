"""Keyword-rule webhooks against a real local HTTP server: signatures, retries with
backoff, giving up, the SSRF guard (when saving and at each delivery), test deliveries,
and one message routed for real and forwarded once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from interactive.config import load_config
from interactive.db import db, utcnow
from interactive.keywords import rules, webhooks
from interactive.keywords.jobs import deliver_keyword_webhooks
from interactive.keywords.models import (
    Decision,
    InboundMessage,
    ShortCode,
    Webhook,
    WebhookDelivery,
)
from interactive.keywords.router import route
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.outbound import webhooks as signing
from tests.keywords.routing import route_text


class Receiver:
    """A local HTTP server that records POSTs and answers the statuses it is given
    (200 once they run out)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append((dict(self.headers.items()), self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/sms?tenant=7"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _webhook(ctx: Session, url: str, name: str = "CRM") -> tuple[Webhook, str]:
    return rules.create_webhook(
        ctx, rules.WebhookInput(name, url), allow_private=True, production=False
    )


def _owe(ctx: Session, webhook: Webhook, text: str = "KAZAN") -> WebhookDelivery:
    """A delivery as the router writes it, for an inbound message."""
    message = InboundMessage(
        connection="sim",
        source="905321234567",
        destination="4664",
        text=text,
        raw=text.encode(),
        data_coding=0,
        dedup_key=f"k{text}{utcnow().timestamp()}",
    )
    ctx.add(message)
    ctx.flush()
    webhooks.enqueue(ctx, webhook.id, message, None)
    delivery = ctx.scalar(
        sa.select(WebhookDelivery).where(WebhookDelivery.inbound_id == message.id)
    )
    assert delivery is not None
    return delivery


def _deliver(ctx: Session, now: datetime, *, allow_private: bool = True) -> webhooks.Report:
    return webhooks.deliver_due(ctx, allow_private=allow_private, production=False, now=now)


# --- signing --------------------------------------------------------------------------------


def test_the_signature_verifies_with_the_webhooks_own_secret(
    ctx: Session, receiver: Receiver
) -> None:
    webhook, secret = _webhook(ctx, receiver.url)
    assert len(secret) >= 40 and webhook.secret == secret
    delivery = _owe(ctx, webhook, "KAZAN bugün")
    report = _deliver(ctx, utcnow())
    assert report.delivered == 1
    ((headers, body),) = receiver.requests
    assert body == delivery.body.encode()
    payload = json.loads(body)
    assert payload["event"] == "inbound.message" and payload["text"] == "KAZAN bugün"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Interactive-Delivery"] == str(delivery.id)
    timestamp, signature = headers["X-Interactive-Timestamp"], headers["X-Interactive-Signature"]
    assert signing.verify(secret, timestamp, body, signature)
    # Not with another key: the site-wide status-webhook secret, or a rotated one.
    assert not signing.verify(current_app.config["WEBHOOK_SECRET"], timestamp, body, signature)
    rotated = rules.rotate_secret(ctx, webhook)
    assert rotated != secret and not signing.verify(rotated, timestamp, body, signature)
    assert delivery.state == "delivered" and delivery.attempts == 1 and delivery.delivered_at


# --- retries --------------------------------------------------------------------------------


def test_failures_are_retried_with_exponential_backoff(ctx: Session, receiver: Receiver) -> None:
    webhook, _ = _webhook(ctx, receiver.url)
    delivery = _owe(ctx, webhook)
    receiver.statuses = [500, 503]
    start = utcnow()

    assert _deliver(ctx, start).retrying == 1
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.next_attempt_at == start + timedelta(seconds=10)
    # Not due yet: nothing is sent.
    assert _deliver(ctx, start + timedelta(seconds=9)).retrying == 0
    assert len(receiver.requests) == 1

    later = start + timedelta(seconds=10)
    assert _deliver(ctx, later).retrying == 1
    assert (delivery.attempts, delivery.last_error) == (2, "HTTP 503")
    assert delivery.next_attempt_at == later + timedelta(seconds=20)

    done = later + timedelta(seconds=20)
    assert _deliver(ctx, done).delivered == 1
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 3, "")
    assert len(receiver.requests) == 3
    assert _deliver(ctx, done + timedelta(hours=1)).delivered == 0
    assert len(receiver.requests) == 3
    assert [webhooks.backoff(n) for n in (1, 2, 3, 4, 10, 20)] == [10, 20, 40, 80, 3600, 3600]


def test_a_delivery_is_given_up_after_the_maximum_attempts(
    ctx: Session, receiver: Receiver
) -> None:
    webhook, _ = _webhook(ctx, receiver.url)
    delivery = _owe(ctx, webhook)
    receiver.statuses = [500] * 50
    now = utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS):
        _deliver(ctx, now)
        now += timedelta(hours=2)
    assert (delivery.state, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert delivery.last_error == "HTTP 500"
    assert _deliver(ctx, now + timedelta(days=1)) == webhooks.Report()
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS


def test_a_disabled_webhook_keeps_its_deliveries_for_later(
    ctx: Session, receiver: Receiver
) -> None:
    webhook, _ = _webhook(ctx, receiver.url)
    delivery = _owe(ctx, webhook)
    webhook.active = False
    assert _deliver(ctx, utcnow()) == webhooks.Report()
    webhook.active = True
    assert _deliver(ctx, utcnow()).delivered == 1
    assert delivery.state == "delivered" and len(receiver.requests) == 1


# --- SSRF -----------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/hook",
    "http://localhost:8080/hook",  # a host name that resolves to loopback
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_non_public_urls_are_refused_when_saved(ctx: Session, url: str) -> None:
    data = rules.WebhookInput("Inside", url)
    with pytest.raises(rules.RuleError) as caught:
        rules.create_webhook(ctx, data, allow_private=False, production=False)
    assert [p.field for p in caught.value.problems] == ["url"]
    assert "private, loopback or reserved" in caught.value.problems[0].message
    webhook, _ = rules.create_webhook(ctx, data, allow_private=True, production=False)
    # Moving it, or enabling it again, checks the URL again; renaming it does not.
    moved = rules.WebhookInput("Inside", f"{url}?v=2")
    with pytest.raises(rules.RuleError):
        rules.update_webhook(ctx, webhook, moved, allow_private=False, production=False)
    off = rules.WebhookInput("Inside (off)", url, active=False)
    rules.update_webhook(ctx, webhook, off, allow_private=False, production=False)
    with pytest.raises(rules.RuleError):
        rules.update_webhook(ctx, webhook, data, allow_private=False, production=False)


@pytest.mark.parametrize("url", [*PRIVATE_URLS, "ftp://example.com/x", "http://exa mple.com/"])
def test_non_public_targets_are_refused_at_delivery(ctx: Session, url: str) -> None:
    # Saved while private targets were allowed; the setting has been turned off since.
    webhook = Webhook(name="Inside", url=url, secret="s" * 43)
    ctx.add(webhook)
    ctx.flush()
    delivery = _owe(ctx, webhook)
    assert _deliver(ctx, utcnow(), allow_private=False).retrying == 1
    assert delivery.last_error.startswith("refused: "), delivery.last_error
    assert delivery.state == "pending" and delivery.attempts == 1


def test_a_host_that_resolves_inside_after_saving_gets_nothing(
    ctx: Session, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"hooks.example": ["93.184.216.34"]}
    monkeypatch.setattr(signing, "resolve", lambda host, port: answers[host])
    url = f"http://hooks.example:{receiver.port}/sms"
    webhook, _ = rules.create_webhook(
        ctx, rules.WebhookInput("Rebinding", url), allow_private=False, production=False
    )
    answers["hooks.example"] = ["127.0.0.1"]  # the DNS answer changes
    delivery = _owe(ctx, webhook)
    _deliver(ctx, utcnow(), allow_private=False)
    assert delivery.last_error.startswith("refused: ") and receiver.requests == []
    # With private targets allowed, the same delivery goes to the local receiver.
    _deliver(ctx, utcnow() + timedelta(minutes=1), allow_private=True)
    assert delivery.state == "delivered" and len(receiver.requests) == 1
    assert receiver.requests[0][0]["Host"] == f"hooks.example:{receiver.port}"


def test_the_setting_is_off_by_default_and_read_from_the_environment(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert app.config["WEBHOOK_ALLOW_PRIVATE"] is False
    monkeypatch.setenv("INTERACTIVE_WEBHOOK_ALLOW_PRIVATE", "true")
    assert load_config(tmp_path)["WEBHOOK_ALLOW_PRIVATE"] is True


# --- test deliveries ------------------------------------------------------------------------


def test_a_test_delivery_posts_a_sample_now_and_keeps_the_outcome(
    ctx: Session, receiver: Receiver
) -> None:
    webhook, secret = _webhook(ctx, receiver.url)
    ok = webhooks.send_test(ctx, webhook, allow_private=True, production=False)
    assert (ok.state, ok.attempts, ok.inbound_id) == ("delivered", 1, None)
    headers, body = receiver.requests[0]
    assert json.loads(body)["event"] == "webhook.test"
    assert signing.verify(
        secret, headers["X-Interactive-Timestamp"], body, headers["X-Interactive-Signature"]
    )
    receiver.statuses = [500]
    failed = webhooks.send_test(ctx, webhook, allow_private=True, production=False)
    assert (failed.state, failed.last_error) == ("failed", "HTTP 500")
    refused = webhooks.send_test(ctx, webhook, allow_private=False, production=False)
    assert refused.state == "failed" and refused.last_error.startswith("refused: ")
    # Test deliveries are never retried.
    assert _deliver(ctx, utcnow() + timedelta(days=1)) == webhooks.Report()
    assert len(receiver.requests) == 2
    assert webhooks.recent_deliveries(ctx, webhook.id)[0].id == refused.id


# --- end to end -----------------------------------------------------------------------------


def test_a_message_routed_to_a_webhook_rule_is_posted_once(
    app: Flask, ctx: Session, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    code: ShortCode = ensure_short_codes(ctx, [("4664", "sim")])["4664"]
    webhook, secret = _webhook(ctx, receiver.url)
    rule = rules.create_rule(
        ctx,
        rules.RuleInput(
            short_code_id=code.id,
            keyword="REZ",
            handler="webhook",
            settings={"webhook_id": webhook.id},
        ),
    )
    ctx.commit()
    routed = route_text(ctx, "rez yarın 20:00 4 kişi")
    assert routed.decision == Decision.RULE and "forwarded to webhook 'CRM'" in routed.reason
    ctx.commit()
    # Routed again (a redelivered stream entry, or the sweep): nothing more is owed.
    client = app.extensions["interactive.redis"]
    prefix = str(app.config["REDIS_PREFIX"])
    assert route(ctx, client, prefix, [routed.message_id]) == []
    message = ctx.get(InboundMessage, routed.message_id)
    assert message is not None
    message.routed_at = None  # even if its decision were taken once more
    route(ctx, client, prefix, [routed.message_id])
    ctx.commit()
    owed = ctx.scalars(sa.select(WebhookDelivery)).all()
    assert len(owed) == 1

    # The periodic job posts it (in its own app context and session) and commits.
    with app.app_context():
        assert deliver_keyword_webhooks() == {"delivered": 1, "retrying": 0, "failed": 0}
    with app.app_context():
        assert deliver_keyword_webhooks()["delivered"] == 0
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    payload = json.loads(body)
    assert payload["id"] == routed.message_id and payload["rule_id"] == rule.id
    assert payload["keyword"] == "REZ" and payload["from"] == "+905321234567"
    assert signing.verify(
        secret, headers["X-Interactive-Timestamp"], body, headers["X-Interactive-Signature"]
    )
    with app.app_context():
        stored = db.session().get(WebhookDelivery, owed[0].id)
        assert stored is not None and stored.state == "delivered"
