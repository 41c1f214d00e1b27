"""The postback buffer and batch attribution: a batch is attributed exactly as each
conversion would be on its own; a drain that fails before its commit loses nothing and
stores nothing twice; an unreadable entry costs only itself."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.analytics import attribution, buffer
from interactive.analytics.models import Conversion
from interactive.db import db, utcnow
from interactive.redis_store import get_redis, key
from interactive.shortlinks import clicks
from tests.analytics.test_conversions import PHONE, Sent, _click, _send


def _named(sent: Sent, later: Sent, now: Any) -> list[attribution.Named]:
    hour = timedelta(hours=1)
    return [
        attribution.Named(occurred_at=now, token="tokenBatch000001"),
        attribution.Named(occurred_at=now, token="tokenNobody00001"),
        attribution.Named(occurred_at=now, link=(sent.link.id, sent.link.secret)),
        # Before the link's clicks: they do not count for it.
        attribution.Named(occurred_at=now - 4.5 * hour, link=(sent.link.id, sent.link.secret)),
        attribution.Named(occurred_at=now, link=(sent.link.id, sent.link.secret + 1)),
        attribution.Named(occurred_at=now, message_id=sent.message.id),
        attribution.Named(occurred_at=now - 4.5 * hour, message_id=sent.message.id),
        attribution.Named(occurred_at=now, message_id=later.message.id),
        attribution.Named(occurred_at=now, message_id=2**62),
        attribution.Named(occurred_at=now, contact_id=sent.contact.id),
        attribution.Named(occurred_at=now + timedelta(days=30), message_id=later.message.id),
        attribution.Named(occurred_at=now, token="tokenNobody00001", message_id=sent.message.id),
        # Between the two clicks: the earlier one is the last (asked of SQL on its own).
        attribution.Named(occurred_at=now - 3 * hour, link=(sent.link.id, sent.link.secret)),
        attribution.Named(occurred_at=now - 3 * hour, message_id=sent.message.id),
        # By phone: the last click within its window, else the latest message.
        attribution.Named(occurred_at=now - 2 * hour, contact_id=sent.contact.id),
        attribution.Named(occurred_at=now - 4.5 * hour, contact_id=sent.contact.id),
        attribution.Named(occurred_at=now - timedelta(days=1), contact_id=sent.contact.id),
    ]


def test_a_batch_is_attributed_as_each_alone(app: Flask, ctx: Session) -> None:
    now = utcnow()
    sent = _send(app, ctx, 7, now - timedelta(days=2))
    later = _send(app, ctx, 8, now - timedelta(hours=5))
    _click(ctx, sent, "tokenBatch000001", now - timedelta(hours=4))
    _click(ctx, sent, "tokenBatch000002", now - timedelta(hours=1))
    named = _named(sent, later, now)

    batch = attribution.attribute_many(ctx, None, "", named)

    alone = [
        attribution.attribute(
            ctx,
            n.occurred_at,
            click=attribution.find_click(ctx, None, "", n.token) if n.token else None,
            link=n.link,
            message_id=n.message_id,
            contact_id=n.contact_id,
        )
        for n in named
    ]
    assert batch == alone
    assert batch == attribution.attribute_many(ctx, None, "", named, history_limit=1)
    assert batch[0].link_id == sent.link.id and batch[1] == attribution.NONE
    assert batch[5].link_id == sent.link.id  # the message's last click
    assert batch[6].message_id == sent.message.id and batch[6].link_id is None
    assert batch[7].campaign_id == 8 and batch[8] == attribution.NONE
    assert batch[10].campaign_id is None and batch[10].contact_id == sent.contact.id
    assert batch[11].message_id == sent.message.id
    assert batch[12].link_id == batch[13].link_id == sent.link.id
    assert batch[14].link_id == sent.link.id and batch[14].campaign_id == 7
    assert batch[15].link_id is None and batch[15].message_id == later.message.id
    assert batch[16].link_id is None and batch[16].message_id == sent.message.id


def test_conversions_before_the_last_click_cost_no_query_each(app: Flask, ctx: Session) -> None:
    now = utcnow()
    sent = _send(app, ctx, 7, now - timedelta(days=2))
    _click(ctx, sent, "tokenBatch000001", now - timedelta(hours=4))
    _click(ctx, sent, "tokenBatch000002", now - timedelta(hours=1))
    link = (sent.link.id, sent.link.secret)

    def batch(hours: list[float], limit: int = 200) -> tuple[list[attribution.Attribution], int]:
        named = [attribution.Named(occurred_at=now, link=link)]
        for h in hours:
            at = now - timedelta(hours=h)
            named += [
                attribution.Named(occurred_at=at, link=link),
                attribution.Named(occurred_at=at, message_id=sent.message.id),
            ]
        statements = []
        engine = ctx.get_bind()
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listen)
        try:
            out = attribution.attribute_many(ctx, None, "", named, history_limit=limit)
            return out, sum(1 for text in statements if text.startswith("SELECT"))
        finally:
            sa.event.remove(engine, "before_cursor_execute", listen)

    one, few = batch([3])
    many, more = batch([3, 2.5, 2, 4.5, 30, 1.5, 3.5])
    assert few == more
    assert many == batch([3, 2.5, 2, 4.5, 30, 1.5, 3.5], limit=0)[0]  # each asks SQL
    assert one[1].link_id == one[2].link_id == sent.link.id
    # Before every click: the link from its creation, the message from its sending.
    assert many[9].link_id == sent.link.id
    assert many[10].message_id == sent.message.id and many[10].link_id is None


def test_tokens_still_in_the_click_stream_are_found_in_one_scan(
    app: Flask, ctx: Session, client: Any, redis_client: redis.Redis
) -> None:
    sent = _send(app, ctx, 7, utcnow() - timedelta(hours=2))
    tokens = []
    for _ in range(3):
        location = client.get(f"/{sent.code}").headers["Location"]
        tokens.append(location.rsplit("ic=", 1)[1])
    stream = key(clicks.STREAM)
    found = attribution.find_clicks(ctx, redis_client, stream, [*tokens, "tokenNobody00001"])
    assert sorted(found) == sorted(tokens)
    assert {c.link_id for c in found.values()} == {sent.link.id}


def _accept(order: str, **fields: Any) -> bool:
    pending = buffer.Pending(
        idempotency_key=f"order:{order}", event="purchase", occurred_at=utcnow(), **fields
    )
    return buffer.accept(get_redis(), pending)


def _stored(ctx: Session) -> list[Conversion]:
    ctx.expire_all()
    return list(ctx.scalars(sa.select(Conversion).order_by(Conversion.order_id)))


def test_an_order_is_queued_once(ctx: Session, redis_client: redis.Redis) -> None:
    assert _accept("A1", order_id="A1") is True
    assert _accept("A1", order_id="A1") is False
    assert redis_client.xlen(key(buffer.STREAM)) == 1
    assert buffer.drain(db.session(), get_redis()) == 1
    # Accepted again once Redis forgot the key: stored once all the same.
    redis_client.delete(buffer.seen_key("order:A1"))
    assert _accept("A1", order_id="A1") is True
    assert buffer.drain(db.session(), get_redis()) == 0
    assert [c.order_id for c in _stored(ctx)] == ["A1"]


def test_nothing_is_lost_when_a_drain_fails_before_its_commit(
    app: Flask, ctx: Session, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _send(app, ctx, 7, utcnow() - timedelta(hours=2))
    for order in ("B1", "B2", "B3"):
        assert _accept(order, order_id=order, message_id=sent.message.id, phone=PHONE)
    real_store = buffer.store

    def store_then_fail(*args: Any, **kwargs: Any) -> int:
        real_store(*args, **kwargs)  # inserted, not committed
        raise RuntimeError("worker killed")

    monkeypatch.setattr(buffer, "store", store_then_fail)
    with pytest.raises(RuntimeError, match="worker killed"):
        buffer.drain(db.session(), redis_client)
    db.session().rollback()
    monkeypatch.setattr(buffer, "store", real_store)
    assert _stored(ctx) == []
    # A run soon after leaves them to their idle time; a run after it re-reads them.
    assert buffer.drain(db.session(), redis_client) == 0
    assert buffer.drain(db.session(), redis_client, claim_idle_ms=0) == 3
    rows = _stored(ctx)
    assert [c.order_id for c in rows] == ["B1", "B2", "B3"]
    assert {(c.campaign_id, c.message_id, c.phone) for c in rows} == {(7, sent.message.id, PHONE)}
    assert buffer.drain(db.session(), redis_client, claim_idle_ms=0) == 0


def test_an_unreadable_entry_costs_only_itself(
    ctx: Session, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stream = key(buffer.STREAM)
    redis_client.xadd(stream, {"c": "{not json"})
    redis_client.xadd(stream, {"c": json.dumps({"k": "order:C0"})})  # no event, no time
    assert _accept("C1", order_id="C1")
    assert buffer.drain(db.session(), redis_client) == 1
    assert [c.order_id for c in _stored(ctx)] == ["C1"]
    assert caplog.text.count("unreadable conversion entry dropped") == 2
    assert redis_client.xlen(stream) == 0
