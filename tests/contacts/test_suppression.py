"""The suppression list and its Redis mirror, which the gateway checks before each submit."""

from __future__ import annotations

import redis
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import jobs, suppression
from interactive.contacts.models import SuppressionReason
from interactive.outbound.service import suppression_key


def test_a_lost_mirror_is_rebuilt_from_sql(
    app: Flask, ctx: Session, redis_client: redis.Redis
) -> None:
    suppression.add(ctx, ["+905320000001", "+905320000002"], SuppressionReason.OPTED_OUT)
    suppression.add(ctx, ["+905320000003"], SuppressionReason.ERASED)
    ctx.commit()
    key = suppression_key(app.config["REDIS_PREFIX"])
    redis_client.delete(key)  # e.g. Redis restarted without its data
    assert jobs.ensure_suppression_mirror() == 2
    members = {m.decode() for m in redis_client.smembers(key)}  # type: ignore[union-attr]
    assert {"+905320000001", "+905320000002"} <= members
    assert "+905320000003" not in members  # erased: only its hash is kept, in SQL
    assert jobs.ensure_suppression_mirror() == 0  # whole: nothing to do


def test_an_erased_number_is_found_by_its_hash(ctx: Session) -> None:
    suppression.add(ctx, ["+905320000009"], SuppressionReason.ERASED)
    found = suppression.suppressed(ctx, ["+905320000009", "+905320000010"])
    assert found == {"+905320000009": [SuppressionReason.ERASED]}
