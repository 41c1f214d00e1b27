"""Queueing messages with their parts, and the gateway's claim of them."""

from __future__ import annotations

import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.outbound import service as outbound
from interactive.outbound.models import MessagePart, PartState, Traffic

LONG = "Kampanya " * 40  # three GSM parts


def _queue(
    ctx: Session, app: Flask, client: redis.Redis, *items: tuple[str, str, Traffic]
) -> list[int]:
    return outbound.queue_messages(
        ctx,
        client,
        app.config["REDIS_PREFIX"],
        [
            outbound.NewMessage("sim", "4664", destination, body, traffic)
            for destination, body, traffic in items
        ],
    )


def _parts(ctx: Session, message_id: int) -> list[tuple[int, PartState]]:
    query = (
        sa.select(MessagePart.seq, MessagePart.state)
        .where(MessagePart.message_id == message_id)
        .order_by(MessagePart.seq)
    )
    return [(seq, state) for seq, state in ctx.execute(query)]


def test_queued_messages_get_their_parts_and_keep_the_order_given(
    app: Flask, ctx: Session, redis_client: redis.Redis
) -> None:
    ids = _queue(
        ctx,
        app,
        redis_client,
        ("905321000001", LONG, Traffic.INFORMATIONAL),
        ("905321000002", "Tamam", Traffic.TRANSACTIONAL),
    )
    assert ids == sorted(ids)
    assert _parts(ctx, ids[0]) == [(n, PartState.QUEUED) for n in (1, 2, 3)]
    assert _parts(ctx, ids[1]) == [(1, PartState.QUEUED)]


def test_a_claim_takes_queued_parts_once_and_says_which(
    app: Flask, ctx: Session, redis_client: redis.Redis
) -> None:
    [message_id] = _queue(ctx, app, redis_client, ("905321000001", LONG, Traffic.INFORMATIONAL))
    [claimed] = outbound.claim(ctx, [message_id], lambda numbers: set())
    assert claimed.seqs == {1, 2, 3} and not claimed.suppressed
    assert outbound.claim(ctx, [message_id], lambda numbers: set()) == []  # taken already
    # The SMSC did not take part 2: only that part is claimed again.
    ctx.execute(
        sa.update(MessagePart)
        .where(MessagePart.message_id == message_id, MessagePart.seq == 2)
        .values(state=PartState.QUEUED)
    )
    ctx.execute(sa.text("UPDATE messages SET state = 'queued' WHERE id = :id"), {"id": message_id})
    [again] = outbound.claim(ctx, [message_id], lambda numbers: set())
    assert again.seqs == {2}


def test_an_opted_out_number_gets_its_parts_suppressed_unless_transactional(
    app: Flask, ctx: Session, redis_client: redis.Redis
) -> None:
    number = "905321000009"
    commercial, transactional = _queue(
        ctx,
        app,
        redis_client,
        (number, "Indirim!", Traffic.COMMERCIAL),
        (number, "Rezervasyonunuz onaylandı.", Traffic.TRANSACTIONAL),
    )
    claimed = outbound.claim(ctx, [commercial, transactional], lambda numbers: set(numbers))
    assert [(c.id, c.suppressed) for c in claimed] == [(commercial, True), (transactional, False)]
    assert _parts(ctx, commercial) == [(1, PartState.SUPPRESSED)]
    assert _parts(ctx, transactional) == [(1, PartState.SUBMITTING)]
