"""Conversions from the signed postback and the pixel: attribution by click token (stored
or still in the click stream), link code, message id and phone; unattributed ones kept;
signature, timestamp and body errors; replays; the pixel's answer and its token check."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, request_started
from sqlalchemy.orm import Session

from interactive.analytics import attribution, buffer
from interactive.analytics import service as analytics
from interactive.analytics.models import Conversion, ConversionSource
from interactive.analytics.views import GIF
from interactive.api import callers
from interactive.api.conversions import conversion_out, signature
from interactive.contacts.models import Contact
from interactive.db import db, utcnow
from interactive.outbound.models import Message, PartState, Traffic
from interactive.redis_store import get_redis
from interactive.shortlinks import codec
from interactive.shortlinks.models import Click, ClickKind, Link
from interactive.web import service
from interactive.web.models import ApiKey, Role
from tests.conftest import make_api_key

URL = "/api/v1/conversions"
PHONE = "+905321234567"


@dataclass
class Sent:
    """One campaign SMS with its short link."""

    contact: Contact
    message: Message
    link: Link
    code: str


@pytest.fixture
def api_key(ctx: Session) -> str:
    return make_api_key("shop", Role.MARKETER)


def _message(ctx: Session, contact: Contact, campaign_id: int, sent_at: datetime) -> Message:
    message = Message(
        campaign_id=campaign_id,
        variant_id=campaign_id * 10,
        contact_id=contact.id,
        connection="c1",
        source="ACME",
        destination=contact.phone,
        body="Bahar indirimi",
        encoding="gsm",
        parts_count=1,
        traffic=Traffic.COMMERCIAL,
        state=PartState.DELIVERED,
        created_at=sent_at,
        submitted_at=sent_at,
    )
    ctx.add(message)
    ctx.flush()
    return message


def _send(app: Flask, ctx: Session, campaign_id: int, sent_at: datetime) -> Sent:
    contact = ctx.scalar(sa.select(Contact).where(Contact.phone == PHONE))
    if contact is None:
        contact = Contact(phone=PHONE)
        ctx.add(contact)
        ctx.flush()
    message = _message(ctx, contact, campaign_id, sent_at)
    link = Link(
        secret=codec.new_secret(),
        target_url="https://shop.example/bahar",
        created_at=sent_at,
        campaign_id=campaign_id,
        variant_id=message.variant_id,
        contact_id=contact.id,
        message_id=message.id,
    )
    ctx.add(link)
    ctx.commit()
    code = codec.encode(link.id, link.secret, str(app.config["SHORTLINK_SECRET"]))
    return Sent(contact, message, link, code)


@pytest.fixture
def sent(app: Flask, ctx: Session) -> Sent:
    return _send(app, ctx, 7, utcnow() - timedelta(hours=2))


def _click(ctx: Session, sent: Sent, token: str, clicked_at: datetime) -> None:
    ctx.add(
        Click(
            link_id=sent.link.id,
            token=token,
            clicked_at=clicked_at,
            method="GET",
            kind=ClickKind.HUMAN,
            campaign_id=sent.link.campaign_id,
            variant_id=sent.link.variant_id,
            contact_id=sent.contact.id,
        )
    )
    ctx.commit()


def post(
    client: Any,
    api_key: str,
    body: dict[str, Any],
    *,
    timestamp: int | None = None,
    sign_with: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sent_headers = {
        "Authorization": f"Bearer {api_key}",
        "X-Interactive-Timestamp": stamp,
        "X-Interactive-Signature": signature(sign_with or api_key, stamp, raw),
        **(headers or {}),
    }
    return client.post(URL, data=raw, content_type="application/json", headers=sent_headers)


def drain() -> int:
    return buffer.drain(db.session(), get_redis())


def stored(response: Any) -> dict[str, Any]:
    """The conversion an accepted postback became, once the drain has run."""
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json["status"] == "accepted" and response.json["conversion"] is None
    drain()
    session = db.session()
    session.expire_all()
    row = session.scalar(
        sa.select(Conversion).where(Conversion.idempotency_key == response.json["idempotency_key"])
    )
    assert row is not None
    return conversion_out(row)


def _attribution(body: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("contact_id", "campaign_id", "variant_id", "message_id", "link_id")
    return tuple(body[k] for k in keys)


def _rows(ctx: Session) -> list[Conversion]:
    ctx.expire_all()
    return list(ctx.scalars(sa.select(Conversion).order_by(Conversion.id)))


# --- the postback -------------------------------------------------------------------------


def test_postback_by_click_token_is_attributed_to_the_click(
    client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    _click(ctx, sent, "tokenAAAAAAAAAAA", utcnow() - timedelta(hours=1))
    body = {
        "event": "purchase",
        "value": 149.9,
        "currency": "TRY",
        "order_id": "order-123",
        "ic": "tokenAAAAAAAAAAA",
    }
    out = stored(post(client, api_key, body))
    assert _attribution(out) == (sent.contact.id, 7, 70, sent.message.id, sent.link.id)
    assert out["attributed"] is True
    assert out["value"] == "149.90" and out["currency"] == "TRY"
    [row] = _rows(ctx)
    assert row.id == out["id"] and row.source == ConversionSource.POSTBACK
    assert row.click_token == "tokenAAAAAAAAAAA" and row.order_id == "order-123"
    assert analytics.counts(ctx, 7) == [(70, 1, row.value)]


def test_a_replayed_postback_answers_the_same_conversion_once(
    client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    body = {"event": "signup", "idempotency_key": "evt-1", "message_id": sent.message.id}
    first = post(client, api_key, body)
    pending = post(client, api_key, {**body, "event": "other"})
    assert (first.status_code, pending.status_code) == (202, 200)
    assert pending.json == {
        "status": "duplicate",
        "idempotency_key": "postback:evt-1",
        "conversion": None,
    }
    assert drain() == 1
    again = post(client, api_key, {**body, "event": "other"})
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert again.json["conversion"]["event"] == "signup"
    assert again.json["conversion"]["id"] == _rows(ctx)[0].id
    assert drain() == 0
    assert len(_rows(ctx)) == 1


def test_a_click_not_yet_drained_from_the_stream_is_attributed(
    client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    redirect = client.get(f"/{sent.code}")
    assert redirect.status_code == 302
    token = parse_qs(urlsplit(redirect.headers["Location"]).query)["ic"][0]
    assert ctx.scalar(sa.select(Click).where(Click.token == token)) is None

    out = stored(post(client, api_key, {"event": "purchase", "order_id": "o-9", "ic": token}))

    assert _attribution(out) == (
        sent.contact.id,
        7,
        70,
        sent.message.id,
        sent.link.id,
    )


def test_postback_by_link_code(client: Any, ctx: Session, api_key: str, sent: Sent) -> None:
    out = stored(
        post(client, api_key, {"event": "lead", "order_id": "o-1", "link_code": sent.code})
    )
    assert _attribution(out) == (
        sent.contact.id,
        7,
        70,
        sent.message.id,
        sent.link.id,
    )


def test_postback_by_message_id(client: Any, ctx: Session, api_key: str, sent: Sent) -> None:
    out = stored(
        post(client, api_key, {"event": "lead", "order_id": "o-2", "message_id": sent.message.id})
    )
    assert _attribution(out) == (sent.contact.id, 7, 70, sent.message.id, None)


def test_postback_by_phone_takes_the_latest_campaign_message(
    app: Flask, client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    later = _send(app, ctx, 8, utcnow() - timedelta(hours=1))
    out = stored(
        post(client, api_key, {"event": "purchase", "order_id": "o-3", "phone": "0532 123 45 67"})
    )
    assert _attribution(out) == (sent.contact.id, 8, 80, later.message.id, None)


def test_postback_by_phone_last_click_wins_over_a_later_message(
    app: Flask, client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    _send(app, ctx, 8, utcnow() - timedelta(hours=1))
    _click(ctx, sent, "tokenBBBBBBBBBBB", utcnow() - timedelta(minutes=30))
    out = stored(post(client, api_key, {"event": "purchase", "order_id": "o-4", "phone": PHONE}))
    assert _attribution(out) == (
        sent.contact.id,
        7,
        70,
        sent.message.id,
        sent.link.id,
    )


def test_a_click_older_than_the_window_keeps_only_the_contact(
    app: Flask, client: Any, ctx: Session, api_key: str
) -> None:
    old = _send(app, ctx, 9, utcnow() - timedelta(days=9))
    _click(ctx, old, "tokenCCCCCCCCCCC", utcnow() - timedelta(days=8))
    out = stored(
        post(client, api_key, {"event": "purchase", "order_id": "o-5", "ic": "tokenCCCCCCCCCCC"})
    )
    assert _attribution(out) == (old.contact.id, None, None, None, None)
    assert out["attributed"] is False


@pytest.mark.parametrize(
    ("after_click", "attributed"),
    [
        (timedelta(days=7), True),  # the window's last moment
        (timedelta(days=7, seconds=1), False),
        (-timedelta(minutes=5), True),  # the shop's clock behind ours by the skew
        (-timedelta(minutes=5, seconds=1), False),
    ],
)
def test_the_window_edges(
    app: Flask, ctx: Session, after_click: timedelta, attributed: bool
) -> None:
    clicked_at = utcnow() - timedelta(days=8)
    sent = _send(app, ctx, 7, clicked_at - timedelta(hours=1))
    _click(ctx, sent, "tokenEdge0000001", clicked_at)
    click = attribution.find_click(ctx, None, "", "tokenEdge0000001")
    assert click is not None
    result = attribution.attribute(ctx, clicked_at + after_click, click=click)
    assert result.attributed is attributed
    assert result.contact_id == sent.contact.id


def test_an_unattributable_conversion_is_kept_and_counted(
    client: Any, ctx: Session, api_key: str
) -> None:
    body = {"event": "purchase", "order_id": "o-6", "ic": "nobodyGotThisOne", "value": "10"}
    out = stored(post(client, api_key, body))
    assert _attribution(out) == (None, None, None, None, None)
    assert out["attributed"] is False
    [row] = _rows(ctx)
    assert row.click_token == "nobodyGotThisOne"
    assert analytics.unattributed_count(ctx) == 1


def _refused(response: Any, status: int, code: str, field: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == code
    assert field in [d["field"] for d in error["details"]]
    return str(error["message"])


BODY = {"event": "purchase", "order_id": "o-7"}


def test_a_bad_signature_is_refused(client: Any, ctx: Session, api_key: str) -> None:
    other = make_api_key("another", Role.MARKETER)
    message = _refused(
        post(client, api_key, BODY, sign_with=other),
        401,
        "signature_mismatch",
        "X-Interactive-Signature",
    )
    assert "HMAC-SHA256" in message
    _refused(
        post(client, api_key, BODY, headers={"X-Interactive-Signature": ""}),
        401,
        "signature_missing",
        "X-Interactive-Signature",
    )
    _refused(
        post(client, api_key, BODY, headers={"X-Interactive-Timestamp": "yesterday"}),
        401,
        "timestamp_invalid",
        "X-Interactive-Timestamp",
    )
    assert _rows(ctx) == []


def test_a_timestamp_older_than_five_minutes_is_refused(
    client: Any, ctx: Session, api_key: str
) -> None:
    stale = int(time.time()) - 301
    message = _refused(
        post(client, api_key, BODY, timestamp=stale),
        401,
        "timestamp_expired",
        "X-Interactive-Timestamp",
    )
    assert "5 minutes" in message
    assert post(client, api_key, BODY, timestamp=stale + 60).status_code == 202


def test_missing_and_bad_fields_are_named(client: Any, ctx: Session, api_key: str) -> None:
    _refused(post(client, api_key, {"order_id": "o-8"}), 422, "validation_failed", "event")
    _refused(post(client, api_key, {"event": "purchase"}), 422, "validation_failed", "order_id")
    _refused(
        post(client, api_key, {**BODY, "phone": "not a number"}),
        422,
        "validation_failed",
        "phone",
    )
    future = (utcnow() + timedelta(hours=1)).isoformat()
    _refused(
        post(client, api_key, {**BODY, "occurred_at": future}),
        422,
        "validation_failed",
        "occurred_at",
    )
    assert _rows(ctx) == []


def test_the_key_needs_the_analytics_permission(client: Any, ctx: Session) -> None:
    viewer = make_api_key("viewer", Role.VIEWER)
    assert post(client, viewer, BODY).status_code == 403
    unsigned = client.post(URL, json=BODY)
    assert unsigned.status_code == 401


# --- the middleware -----------------------------------------------------------------------


class Views:
    """Counts the requests Flask dispatched (the middleware's answers are not among them)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.count = 0

    def __enter__(self) -> Views:
        request_started.connect(self._started, self.app)
        return self

    def __exit__(self, *_exc: object) -> None:
        request_started.disconnect(self._started, self.app)

    def _started(self, _sender: Any, **_extra: Any) -> None:
        self.count += 1


def _rate_count(ctx: Session, api_key: str) -> int:
    key_id = ctx.scalar(sa.select(ApiKey.id).where(ApiKey.name == "shop"))
    assert key_id is not None
    raw = get_redis().get(callers.rate_key(key_id, time.time()))
    return int(raw or 0)


def _comparable(response: Any, order_id: str) -> tuple[Any, ...]:
    # Flask's answer says it varies by cookie (the session was looked at); no API answer
    # depends on one.
    headers = {k: v for k, v in response.headers.items() if k not in ("X-Request-ID", "Vary")}
    body = response.get_data()
    return (
        response.status_code,
        headers,
        body.replace(order_id.encode(), b"*") if order_id else body,
    )


def test_a_remembered_key_is_answered_before_flask_alike(
    app: Flask, client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    with Views(app) as views:
        first = post(client, api_key, {**BODY, "order_id": "o-1"})
        assert views.count == 1  # the key is verified by the view, then remembered
        fast = post(client, api_key, {**BODY, "order_id": "o-2"})
        assert views.count == 1
        callers.forget_all()
        slow = post(client, api_key, {**BODY, "order_id": "o-3"})
        assert views.count == 2
        echoed = post(
            client, api_key, {**BODY, "order_id": "o-4"}, headers={"X-Request-ID": "shop-req-1234"}
        )
        assert views.count == 2
    assert _comparable(fast, "o-2") == _comparable(slow, "o-3")
    assert fast.json == {"status": "accepted", "idempotency_key": "order:o-2", "conversion": None}
    assert first.status_code == 202 and len(fast.headers["X-Request-ID"]) == 32
    assert echoed.headers["X-Request-ID"] == "shop-req-1234"
    assert _rate_count(ctx, api_key) == 4
    assert drain() == 4
    assert [r.order_id for r in _rows(ctx)] == ["o-1", "o-2", "o-3", "o-4"]
    last_used = get_redis().hgetall(f"{app.config['REDIS_PREFIX']}:{service.API_KEY_LAST_USED}")
    assert len(last_used) == 1


def test_what_the_middleware_counted_or_found_is_not_done_again(
    app: Flask, client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    body = {"event": "signup", "order_id": "o-5", "message_id": sent.message.id}
    assert post(client, api_key, body).status_code == 202
    with Views(app) as views:
        replay = post(client, api_key, body)
        assert drain() == 1
        stored_replay = post(client, api_key, body)
        assert views.count == 0
    assert replay.status_code == 200 and replay.json["conversion"] is None
    assert stored_replay.status_code == 200
    assert stored_replay.json["conversion"]["order_id"] == "o-5"
    callers.forget_all()
    assert _comparable(post(client, api_key, body), "") == _comparable(stored_replay, "")
    assert _rate_count(ctx, api_key) == 4

    limit, app.config["API_RATE_LIMIT_PER_MINUTE"] = app.config["API_RATE_LIMIT_PER_MINUTE"], 4
    try:
        limited = post(client, api_key, {**BODY, "order_id": "o-6"})
    finally:
        app.config["API_RATE_LIMIT_PER_MINUTE"] = limit
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) <= 60
    assert _rate_count(ctx, api_key) == 5
    assert drain() == 0  # refused, not queued


def test_a_revoked_key_is_refused_at_once(
    app: Flask, client: Any, ctx: Session, api_key: str
) -> None:
    assert post(client, api_key, {**BODY, "order_id": "o-7"}).status_code == 202
    session = db.session()
    key_row = session.scalar(sa.select(ApiKey).where(ApiKey.name == "shop"))
    assert key_row is not None
    service.revoke_api_key(session, key_row)
    session.commit()
    refused = post(client, api_key, {**BODY, "order_id": "o-8"})
    assert refused.status_code == 401
    assert drain() == 1


def test_a_remembered_key_gets_the_same_errors(client: Any, ctx: Session, api_key: str) -> None:
    assert post(client, api_key, {**BODY, "order_id": "o-9"}).status_code == 202
    for raw in (b'{"event": "purchase", ', b"[" * 10_000 + b"]" * 10_000):
        stamp = str(int(time.time()))
        broken = client.post(
            URL,
            data=raw,
            content_type="application/json",
            headers={
                "Authorization": f"Bearer {api_key}",
                "X-Interactive-Timestamp": stamp,
                "X-Interactive-Signature": signature(api_key, stamp, raw),
            },
        )
        assert broken.status_code == 400 and "not valid JSON" in broken.json["error"]["message"]
    _refused(post(client, api_key, {"order_id": "o-10"}), 422, "validation_failed", "event")
    _refused(
        post(client, api_key, {**BODY, "order_id": "o-11"}, timestamp=int(time.time()) - 400),
        401,
        "timestamp_expired",
        "X-Interactive-Timestamp",
    )
    query = client.post(f"{URL}?debug=1", json=BODY)
    assert query.status_code == 422 and "debug" in query.json["error"]["message"]
    assert drain() == 1


# --- the pixel ------------------------------------------------------------------------------


def _pixel(client: Any, **params: str) -> Any:
    response = client.get("/p.gif", query_string=params)
    assert response.status_code == 200
    assert response.data == GIF and response.data.startswith(b"GIF89a")
    assert response.mimetype == "image/gif"
    assert response.headers["Cache-Control"] == "no-store"
    return response


def test_the_pixel_records_a_known_token_once(client: Any, ctx: Session, sent: Sent) -> None:
    _click(ctx, sent, "tokenDDDDDDDDDDD", utcnow() - timedelta(minutes=5))
    _pixel(client, ic="tokenDDDDDDDDDDD", e="purchase", v="149.90", c="try")
    _pixel(client, ic="tokenDDDDDDDDDDD", e="purchase", v="149.90", c="try")
    [row] = _rows(ctx)
    assert row.source == ConversionSource.PIXEL and row.event == "purchase"
    assert (row.value, row.currency) == (Decimal("149.90"), "TRY")
    assert (row.campaign_id, row.variant_id, row.link_id) == (7, 70, sent.link.id)
    assert (row.contact_id, row.message_id) == (sent.contact.id, sent.message.id)


def test_the_pixel_ignores_unknown_tokens_and_garbage(client: Any, ctx: Session) -> None:
    _pixel(client, ic="madeUpToken12345", e="purchase", v="1000")
    _pixel(client, ic="<script>", e="x" * 300)
    _pixel(client)
    assert _rows(ctx) == []


def test_an_order_counts_once_by_pixel_and_postback(
    client: Any, ctx: Session, api_key: str, sent: Sent
) -> None:
    _click(ctx, sent, "tokenEEEEEEEEEEE", utcnow() - timedelta(minutes=5))
    _pixel(client, ic="tokenEEEEEEEEEEE", e="purchase", v="20", o="order-55")
    response = post(
        client, api_key, {"event": "purchase", "order_id": "order-55", "ic": "tokenEEEEEEEEEEE"}
    )
    assert response.status_code == 200 and response.json["status"] == "duplicate"
    assert response.json["conversion"]["source"] == "pixel"
    drain()
    assert len(_rows(ctx)) == 1


def test_the_landing_page_script_is_served(client: Any) -> None:
    response = client.get("/ic.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    text = response.get_data(as_text=True)
    assert "window.interactiveConversion" in text and "/p.gif?" in text
    assert "localStorage" in text
