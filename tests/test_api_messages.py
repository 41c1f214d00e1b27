"""Single messages through the API: eligibility refusals, idempotency, and the signed
status webhook delivered to a real HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.config import ConfigError, load_config
from interactive.contacts import consent, suppression
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentStatus,
    Contact,
    SuppressionReason,
)
from interactive.contacts.quiet_hours import QuietHours, QuietPolicy
from interactive.db import utcnow
from interactive.outbound import delivery, service, webhooks
from interactive.outbound.models import Message, PartState
from interactive.outbound.service import outbound_stream
from interactive.outbound.webhook_jobs import deliver_status_webhooks
from interactive.redis_store import key
from interactive.scheduler import periodic_tasks
from interactive.web.models import Role
from tests.conftest import make_api_key

URL = "/api/v1/messages"
NUMBER = "+905321234567"


@pytest.fixture
def keys(ctx: Session) -> dict[str, str]:
    return {
        "marketer": make_api_key("shop backend", Role.MARKETER),
        "other": make_api_key("second backend", Role.MARKETER),
        "desk": make_api_key("front desk", Role.DESK),
        "viewer": make_api_key("board", Role.VIEWER),
    }


@pytest.fixture
def brand(ctx: Session) -> Brand:
    acme = Brand(code="ACME", name="Acme")
    ctx.add(acme)
    ctx.commit()
    return acme


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _send(client: Any, token: str, **body: Any) -> Any:
    return client.post(
        URL, json={"to": NUMBER, "text": "Siparişiniz yolda.", **body}, headers=_auth(token)
    )


def _refusal(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 409, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == code
    return dict(error["details"][0])


def _contact(session: Session, phone: str = NUMBER, time_zone: str = "Europe/Istanbul") -> Contact:
    contact = Contact(phone=phone, time_zone=time_zone)
    session.add(contact)
    session.commit()
    return contact


def _consent(session: Session, contact: Contact, brand: Brand, status: ConsentStatus) -> None:
    consent.record(
        session,
        [
            consent.NewEvent(
                contact_id=contact.id,
                recipient=contact.phone,
                brand_id=brand.id,
                status=status,
                source="HS_WEB",
                consent_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
                actor=Actor.API,
            )
        ],
    )
    session.commit()


def test_roles(client: Any, keys: dict[str, str]) -> None:
    assert _send(client, keys["desk"]).status_code == 403
    assert _send(client, keys["viewer"]).status_code == 403
    assert client.get(f"{URL}/1", headers=_auth(keys["desk"])).status_code == 403


def test_an_informational_message_is_queued_for_the_gateway(
    client: Any, keys: dict[str, str], redis_client: redis.Redis, app: Flask
) -> None:
    response = _send(client, keys["marketer"], to="0532 123 45 67")
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.json
    assert created["to"] == NUMBER
    assert (created["state"], created["parts"], created["encoding"]) == ("queued", 1, "UCS2")
    entries: Any = redis_client.xrange(outbound_stream(app.config["REDIS_PREFIX"], "simulator"))
    assert [int(fields[b"id"]) for _id, fields in entries] == [created["id"]]

    message = client.get(f"{URL}/{created['id']}", headers=_auth(keys["marketer"])).json
    assert message["to"] == NUMBER
    assert (message["sender"], message["route"], message["traffic"]) == (
        "4664",
        "simulator",
        "informational",
    )
    assert message["parts"] == [
        {
            "seq": 1,
            "state": "queued",
            "error_code": None,
            "submitted_at": None,
            "accepted_at": None,
            "final_at": None,
        }
    ]
    assert message["status_webhook"] is None
    assert message["created_at"].endswith("Z")
    headers = _auth(keys["marketer"])
    assert client.get(f"{URL}/999999999", headers=headers).status_code == 404
    assert client.get(f"{URL}/{2**63}", headers=headers).status_code == 404


def test_what_cannot_be_sent_is_refused_with_the_reason(
    client: Any, keys: dict[str, str], ctx: Session
) -> None:
    token = keys["marketer"]
    invalid = _refusal(_send(client, token, to="0532 12"), "invalid_number")
    assert (invalid["field"], invalid["reason"]) == ("to", "too_short")
    _refusal(_send(client, token, route="nowhere"), "unknown_route")
    _refusal(_send(client, token, sender="SenderTooLong"), "invalid_sender")
    _refusal(_send(client, token, traffic="commercial", brand_id=999_999), "unknown_brand")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
    # Malformed bodies are 422.
    assert _send(client, token, traffic="commercial").status_code == 422  # no brand
    assert _send(client, token, status_url="ftp://example.com/x").status_code == 422
    assert _send(client, token, text="").status_code == 422
    assert _send(client, token, brand_id="1").status_code == 422


def _open_now(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Allowed hours around the present moment (UTC), whatever hour the test runs at."""
    now = utcnow()
    window = QuietHours(
        start=(now - timedelta(hours=1)).time().replace(microsecond=0),
        end=(now + timedelta(hours=1)).time().replace(microsecond=0),
    )
    monkeypatch.setitem(app.config, "QUIET_POLICY", QuietPolicy(default=window))


def test_commercial_needs_consent_and_gets_the_opt_out_footer(
    client: Any,
    keys: dict[str, str],
    ctx: Session,
    brand: Brand,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _open_now(app, monkeypatch)
    token = keys["marketer"]
    body = {"traffic": "commercial", "brand_id": brand.id, "text": "Bahar indirimi başladı!"}
    # No contact with this number: nobody has recorded consent.
    assert _refusal(_send(client, token, **body), "not_eligible")["reason"] == "no_consent"
    contact = _contact(ctx, time_zone="UTC")
    assert _refusal(_send(client, token, **body), "not_eligible")["reason"] == "no_consent"
    _consent(ctx, contact, brand, ConsentStatus.ONAY)
    response = _send(client, token, **body)
    assert response.status_code == 201, response.get_data(as_text=True)
    message = ctx.get(Message, response.json["id"])
    assert message is not None
    assert message.body.endswith("To stop receiving SMS, send RET to 4664.")
    assert (message.brand_id, message.contact_id) == (brand.id, contact.id)
    _consent(ctx, contact, brand, ConsentStatus.RET)
    refused = _refusal(_send(client, token, **body), "not_eligible")
    assert refused["reason"] == "consent_revoked"


def test_commercial_outside_the_allowed_hours_says_when_it_may_go(
    client: Any,
    keys: dict[str, str],
    ctx: Session,
    brand: Brand,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contact = _contact(ctx, time_zone="UTC")
    _consent(ctx, contact, brand, ConsentStatus.ONAY)
    opens = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    window = QuietHours(start=time(opens.hour, opens.minute), end=time(closes.hour, closes.minute))
    monkeypatch.setitem(app.config, "QUIET_POLICY", QuietPolicy(default=window))
    body = {"traffic": "commercial", "brand_id": brand.id}
    refused = _refusal(_send(client, keys["marketer"], **body), "not_eligible")
    assert refused["reason"] == "quiet_hours"
    assert datetime.fromisoformat(refused["next_allowed_at"]) == opens
    # Quiet hours hold back commercial traffic only.
    assert _send(client, keys["marketer"]).status_code == 201


@pytest.mark.parametrize("with_contact", [True, False])
def test_an_opted_out_number_gets_only_transactional_messages(
    client: Any, keys: dict[str, str], ctx: Session, with_contact: bool
) -> None:
    if with_contact:
        _contact(ctx)
    suppression.add(ctx, [NUMBER], SuppressionReason.OPTED_OUT)
    ctx.commit()
    token = keys["marketer"]
    refused = _refusal(_send(client, token), "not_eligible")
    assert refused["reason"] == "opted_out"
    assert _send(client, token, traffic="transactional", text="Kodunuz: 4821").status_code == 201


def test_a_blocked_number_gets_nothing_not_even_transactional(
    client: Any, keys: dict[str, str], ctx: Session
) -> None:
    suppression.add(ctx, [NUMBER], SuppressionReason.MANUAL)
    ctx.commit()
    refused = _refusal(_send(client, keys["marketer"], traffic="transactional"), "not_eligible")
    assert refused["reason"] == "blocked"


def test_the_same_idempotency_key_answers_the_same_message(
    client: Any, keys: dict[str, str], ctx: Session, redis_client: redis.Redis, app: Flask
) -> None:
    token = keys["marketer"]
    first = _send(client, token, idempotency_key="order-42")
    assert first.status_code == 201
    again = _send(client, token, idempotency_key="order-42")
    assert again.status_code == 200
    assert again.json == first.json
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    stored = redis_client.keys(f"{app.config['REDIS_PREFIX']}:api:idempotency:*")
    assert len(stored) == 1
    assert 23 * 3600 < redis_client.ttl(stored[0]) <= 24 * 3600

    reused = _send(client, token, idempotency_key="order-42", text="Another text")
    assert _refusal(reused, "idempotency_key_reused")["field"] == "idempotency_key"
    # Keys belong to one API key: another client's "order-42" is its own message.
    other = _send(client, keys["other"], idempotency_key="order-42")
    assert other.status_code == 201
    assert other.json["id"] != first.json["id"]


def test_a_refused_request_frees_its_idempotency_key(
    client: Any, keys: dict[str, str], ctx: Session, redis_client: redis.Redis, app: Flask
) -> None:
    token = keys["marketer"]
    suppression.add(ctx, [NUMBER], SuppressionReason.OPTED_OUT)
    ctx.commit()
    _refusal(_send(client, token, idempotency_key="k1"), "not_eligible")
    assert redis_client.keys(f"{app.config['REDIS_PREFIX']}:api:idempotency:*") == []
    suppression.remove(ctx, NUMBER, SuppressionReason.OPTED_OUT)
    ctx.commit()
    assert _send(client, token, idempotency_key="k1").status_code == 201


def test_a_key_in_use_by_a_running_request_is_a_conflict(
    client: Any, keys: dict[str, str], ctx: Session, redis_client: redis.Redis
) -> None:
    from interactive.api.messages import _Idempotency
    from interactive.api.schemas import MessageIn
    from interactive.web.models import ApiKey

    api_key = ctx.scalars(sa.select(ApiKey).where(ApiKey.name == "shop backend")).one()
    body = MessageIn(to=NUMBER, text="Siparişiniz yolda.", idempotency_key="slow")
    assert _Idempotency(redis_client, api_key.id, body).acquire() is None  # a request runs
    busy = _send(client, keys["marketer"], idempotency_key="slow")
    _refusal(busy, "idempotency_key_in_use")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


# --- status webhooks --------------------------------------------------------------------------


class Receiver:
    """A real HTTP server that records each POST and answers the next status given."""

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
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/sms?tenant=7"
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


def _deliver(
    session: Session, message_id: int, state: str = "DELIVERED", error: int | None = None
) -> None:
    """What the gateway records: claimed, accepted by the SMSC, then its receipt."""
    service.claim(session, [message_id], lambda numbers: set())
    smsc_id = f"smsc-{message_id}"
    delivery.record_results(
        session,
        "simulator",
        [
            delivery.PartResult(
                message_id, 1, PartState.ACCEPTED, smsc_id=smsc_id, id_forms=frozenset({smsc_id})
            )
        ],
        lambda value: frozenset({value}),
    )
    receipt = delivery.ReceiptIn(
        smsc_id=smsc_id,
        id_forms=frozenset({smsc_id}),
        state=state,
        error_code=error,
        raw="id:... stat:...",
        received_at=utcnow(),
    )
    delivery.record_receipts(session, "simulator", [receipt])
    session.commit()


def _run(
    session: Session, client: redis.Redis, app: Flask, now: float | None = None
) -> webhooks.Report:
    return webhooks.deliver_due(
        session,
        client,
        app.config["REDIS_PREFIX"],
        app.config["WEBHOOK_SECRET"],
        production=False,
        now=now,
    )


def test_the_final_state_is_posted_signed_once(
    client: Any,
    keys: dict[str, str],
    ctx: Session,
    redis_client: redis.Redis,
    app: Flask,
    receiver: Receiver,
) -> None:
    created = _send(client, keys["marketer"], status_url=receiver.url)
    assert created.status_code == 201, created.get_data(as_text=True)
    message_id = created.json["id"]
    # Not final yet: nothing is posted, it is looked at again later.
    assert _run(ctx, redis_client, app).waiting == 1
    assert receiver.requests == []

    _deliver(ctx, message_id, state="UNDELIVERABLE", error=11)
    report = _run(ctx, redis_client, app, now=datetime.now(UTC).timestamp() + 60)
    assert report.delivered == 1
    ((headers, body),) = receiver.requests
    timestamp = headers["X-Interactive-Timestamp"]
    secret = app.config["WEBHOOK_SECRET"].encode()
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Interactive-Signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - datetime.now(UTC).timestamp()) < 60
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    ctx.expire_all()  # the receipt was applied with bulk statements
    message = ctx.get(Message, message_id)
    assert message is not None and message.final_at is not None
    assert payload == {
        "id": message_id,
        "state": "undeliverable",
        "error_code": 11,
        "final_at": message.final_at.isoformat().replace("+00:00", "Z"),
    }
    # A replay later carries the same signature for an old timestamp: receivers refuse it.
    assert webhooks.verify(app.config["WEBHOOK_SECRET"], timestamp, body, f"sha256={expected}")
    assert not webhooks.verify(
        app.config["WEBHOOK_SECRET"],
        timestamp,
        body,
        f"sha256={expected}",
        now=int(timestamp) + webhooks.TOLERANCE + 1,
    )
    assert not webhooks.verify(app.config["WEBHOOK_SECRET"], timestamp, body + b" ", expected)

    later = _run(ctx, redis_client, app, now=datetime.now(UTC).timestamp() + 3600)
    assert later == webhooks.Report()
    assert len(receiver.requests) == 1
    shown = client.get(f"{URL}/{message_id}", headers=_auth(keys["marketer"])).json
    assert shown["state"] == "undeliverable"
    assert shown["error_code"] == 11
    assert shown["parts"][0]["state"] == "undeliverable"
    assert shown["status_webhook"]["state"] == "delivered"
    assert shown["status_webhook"]["attempts"] == 1
    assert shown["status_webhook"]["url"] == receiver.url


def test_a_failed_post_is_retried_with_backoff_then_given_up(
    client: Any,
    keys: dict[str, str],
    ctx: Session,
    redis_client: redis.Redis,
    app: Flask,
    receiver: Receiver,
) -> None:
    message_id = _send(client, keys["marketer"], status_url=receiver.url).json["id"]
    _deliver(ctx, message_id)
    receiver.statuses = [500]
    start = datetime.now(UTC).timestamp()
    assert _run(ctx, redis_client, app, now=start).retrying == 1
    hook = webhooks.status(redis_client, app.config["REDIS_PREFIX"], message_id)
    assert hook is not None
    assert (hook["state"], hook["attempts"], hook["last_error"]) == ("pending", "1", "HTTP 500")
    # Not before the first backoff (10 s) is over.
    assert _run(ctx, redis_client, app, now=start + 9) == webhooks.Report()
    assert _run(ctx, redis_client, app, now=start + 11).delivered == 1
    assert len(receiver.requests) == 2
    assert json.loads(receiver.requests[0][1]) == json.loads(receiver.requests[1][1])

    # A receiver that never answers 2xx is given up after the last attempt.
    second = _send(client, keys["marketer"], status_url=receiver.url, text="Kargo yolda.")
    other_id = second.json["id"]
    _deliver(ctx, other_id)
    prefix = app.config["REDIS_PREFIX"]
    redis_client.hset(webhooks.hook_key(prefix, other_id), "attempts", webhooks.MAX_ATTEMPTS - 1)
    receiver.statuses = [503]
    assert _run(ctx, redis_client, app, now=start + 20).failed == 1
    assert webhooks.status(redis_client, prefix, other_id)["state"] == "failed"  # type: ignore[index]
    assert _run(ctx, redis_client, app, now=start + 100_000) == webhooks.Report()


def test_an_unreachable_receiver_is_a_retry(
    client: Any, keys: dict[str, str], ctx: Session, redis_client: redis.Redis, app: Flask
) -> None:
    with Receiver() as gone:
        url = gone.url
    message_id = _send(client, keys["marketer"], status_url=url).json["id"]
    _deliver(ctx, message_id)
    assert _run(ctx, redis_client, app).retrying == 1
    hook = webhooks.status(redis_client, app.config["REDIS_PREFIX"], message_id)
    assert hook is not None and "Connection" in hook["last_error"]


def test_the_periodic_job_delivers_and_runs_one_at_a_time(
    client: Any,
    keys: dict[str, str],
    ctx: Session,
    redis_client: redis.Redis,
    app: Flask,
    receiver: Receiver,
) -> None:
    assert "status-webhooks" in {task.name for task in periodic_tasks()}
    message_id = _send(client, keys["marketer"], status_url=receiver.url).json["id"]
    _deliver(ctx, message_id)
    with app.app_context():
        lock = key("webhooks", "lock")
        redis_client.set(lock, "another run")
        assert deliver_status_webhooks() == {"skipped": 1}
        redis_client.delete(lock)
        assert deliver_status_webhooks()["delivered"] == 1
        assert redis_client.get(lock) is None
    assert len(receiver.requests) == 1


def test_targets_in_production_must_be_public_https() -> None:
    assert webhooks.target_problem("http://127.0.0.1:8080/x", production=False) is None
    assert webhooks.target_problem("http://127.0.0.1/x", production=True) == (
        "an https URL is required"
    )
    for private in (
        "https://127.0.0.1/x",
        "https://10.1.2.3/",
        "https://[::1]/",
        "https://localhost/",
    ):
        assert webhooks.target_problem(private, production=True) == (
            "the host is a private, loopback or reserved address"
        )
    assert webhooks.target_problem("https://user:pw@example.com/", production=True)
    assert webhooks.target_problem("https://[::1/", production=False) == "not a valid URL"
    assert webhooks.is_public("8.8.8.8")
    assert not webhooks.is_public("::ffff:192.168.1.1")
    assert not webhooks.is_public("169.254.169.254")
    assert not webhooks.is_public("100.64.0.1")
    assert webhooks.post("https://127.0.0.1/x", b"{}", {}, production=True) == (
        "the host is a private, loopback or reserved address"
    )


def test_a_private_status_url_is_refused_in_production(
    client: Any, keys: dict[str, str], app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "ENV", "production")
    refused = _send(client, keys["marketer"], status_url="https://10.0.0.8/hook")
    assert _refusal(refused, "status_url_refused")["field"] == "status_url"


def test_the_webhook_secret_is_required_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("INTERACTIVE_")]:
        monkeypatch.delenv(name)
    development = load_config(tmp_path)
    assert len(development["WEBHOOK_SECRET"]) == 64
    assert development["WEBHOOK_SECRET"] != development["SECRET_KEY"]
    assert load_config(tmp_path)["WEBHOOK_SECRET"] == development["WEBHOOK_SECRET"]
    for name, value in {
        "INTERACTIVE_ENV": "production",
        "INTERACTIVE_SECRET_KEY": "s" * 40,
        "INTERACTIVE_DATABASE_URL": "postgresql+psycopg://db/x",
        "INTERACTIVE_REDIS_URL": "redis://r:6379/0",
        "INTERACTIVE_SHORTLINK_SECRET": "l" * 32,
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="INTERACTIVE_WEBHOOK_SECRET is required"):
        load_config(tmp_path)
    monkeypatch.setenv("INTERACTIVE_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_config(tmp_path)
    monkeypatch.setenv("INTERACTIVE_WEBHOOK_SECRET", "w" * 40)
    assert load_config(tmp_path)["WEBHOOK_SECRET"] == "w" * 40
