"""Jobs of the short-links feature: draining the click stream into SQL."""

from __future__ import annotations

import logging

import redis
from flask import current_app
from sqlalchemy.orm import Session

from interactive import streams
from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis, key
from interactive.scheduler import Periodic
from interactive.shortlinks import clicks
from interactive.streams import StreamConsumer

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
# A run stops after this many batches (the next one, seconds later, goes on).
MAX_BATCHES = 100
# Entries a failed or killed run had read are read again after this long.
CLAIM_IDLE_MS = 30_000


def click_consumer(client: redis.Redis, claim_idle_ms: int = CLAIM_IDLE_MS) -> StreamConsumer:
    """The drain's member of the click stream's consumer group. Every run uses the same
    name, so entries a dead run had read are re-claimed by a later run."""
    consumer = StreamConsumer(
        client,
        key(clicks.STREAM),
        clicks.GROUP,
        name="drain",
        batch_size=BATCH_SIZE,
        block_ms=1,
        claim_idle_ms=claim_idle_ms,
    )
    consumer.ensure_group()
    return consumer


def drain(
    session: Session,
    client: redis.Redis,
    *,
    max_batches: int = MAX_BATCHES,
    claim_idle_ms: int = CLAIM_IDLE_MS,
) -> int:
    """Move clicks from the stream to SQL, a batch at a time: one bulk insert, commit,
    then acknowledge. If anything fails before the commit, the batch stays pending and is
    re-read later (storing is idempotent). Returns the number of clicks stored."""
    window = float(current_app.config["SHORTLINK_SCANNER_WINDOW_SECONDS"])
    return streams.drain(
        session,
        click_consumer(client, claim_idle_ms),
        lambda fields: clicks.store(session, fields, window),
        max_batches,
    )


@job("default", timeout=300, ttl=60)
def drain_clicks() -> int:
    """Drain the click stream into ``clicks`` (see :func:`drain`). Safe to run twice or
    side by side. Returns the number of clicks stored."""
    stored = drain(db.session(), get_redis())
    if stored:
        log.info("clicks stored count=%s", stored)
    return stored


PERIODIC = [Periodic("drain-clicks", 5, drain_clicks)]
