"""Postbacks wait in a Redis stream and are stored in batches.

``POST /api/v1/conversions`` checks the request (key, signature, body) and calls
:func:`accept`: one Redis round trip that appends the conversion to the stream unless its
idempotency key was accepted in the last ``SEEN_TTL_S`` seconds. The drain
(:func:`drain`, the ``drain-conversions`` job every ``DRAIN_EVERY_S`` seconds) reads the
stream a batch at a time, attributes the batch (``attribution.attribute_many``), inserts it
in one statement, commits, and only then acknowledges, so a drain that dies leaves its
entries to be read again. The idempotency key is unique in SQL: an entry read twice, or
an order accepted again after its key left Redis, is stored once.

An entry has one field, ``c``: a JSON object with short names: ``k`` idempotency key,
``e`` event, ``v`` value (a decimal string), ``cu`` currency, ``t`` occurred at (ISO 8601),
``ic`` click token, ``l`` [link id, link secret] decoded from a link code, ``m`` message
id, ``p`` phone (E.164), ``o`` order id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis
from sqlalchemy.orm import Session

from interactive import streams
from interactive.analytics import attribution
from interactive.analytics import service as analytics
from interactive.analytics.models import ConversionSource
from interactive.contacts.service import contact_ids
from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis, key
from interactive.scheduler import Periodic
from interactive.shortlinks import clicks
from interactive.streams import StreamConsumer

log = logging.getLogger(__name__)

STREAM = "conversions"
GROUP = "conversion-drain"
SEEN = "conversion-seen"  # <prefix>:conversion-seen:<idempotency key>
SEEN_TTL_S = 24 * 3600
DRAIN_EVERY_S = 2
BATCH_SIZE = 1000
MAX_BATCHES = 100
CLAIM_IDLE_MS = 30_000

# Append unless the key was seen; the entry first, so that a failed append remembers
# nothing and the client's retry is taken.
_ACCEPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('XADD', KEYS[2], '*', 'c', ARGV[1])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """A checked postback, as it waits in the stream."""

    idempotency_key: str
    event: str
    occurred_at: datetime
    value: Decimal | None = None
    currency: str | None = None
    click_token: str | None = None
    link: tuple[int, int] | None = None
    message_id: int | None = None
    phone: str | None = None
    order_id: str | None = None

    def payload(self) -> str:
        fields: dict[str, Any] = {
            "k": self.idempotency_key,
            "e": self.event,
            "t": self.occurred_at.isoformat(),
            "v": None if self.value is None else str(self.value),
            "cu": self.currency,
            "ic": self.click_token,
            "l": None if self.link is None else list(self.link),
            "m": self.message_id,
            "p": self.phone,
            "o": self.order_id,
        }
        return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: str) -> Pending | None:
        try:
            c = json.loads(raw)
            link = c.get("l")
            return cls(
                idempotency_key=str(c["k"]),
                event=str(c["e"]),
                occurred_at=datetime.fromisoformat(c["t"]),
                value=None if c.get("v") is None else Decimal(c["v"]),
                currency=c.get("cu"),
                click_token=c.get("ic"),
                link=None if link is None else (int(link[0]), int(link[1])),
                message_id=None if c.get("m") is None else int(c["m"]),
                phone=c.get("p"),
                order_id=c.get("o"),
            )
        except (KeyError, ValueError, TypeError, IndexError, ArithmeticError):
            return None


def seen_key(idempotency_key: str) -> str:
    return key(SEEN, idempotency_key)


def accept(client: redis.Redis, pending: Pending) -> bool:
    """Queue a postback for storing; False when its idempotency key was accepted in the
    last ``SEEN_TTL_S`` seconds (a replay). Needs an app context."""
    script = client.register_script(_ACCEPT)  # EVALSHA: the script is sent once
    keys = [seen_key(pending.idempotency_key), key(STREAM)]
    return bool(script(keys=keys, args=[pending.payload(), SEEN_TTL_S]))


def consumer(client: redis.Redis, claim_idle_ms: int = CLAIM_IDLE_MS) -> StreamConsumer:
    """The drain's member of the stream's group (one name: a dead run's entries are
    re-claimed by the next)."""
    member = StreamConsumer(
        client,
        key(STREAM),
        GROUP,
        name="drain",
        batch_size=BATCH_SIZE,
        block_ms=1,
        claim_idle_ms=claim_idle_ms,
    )
    member.ensure_group()
    return member


def store(
    session: Session, client: redis.Redis | None, entries: Sequence[Mapping[str, str]]
) -> int:
    """Attribute and insert a batch of stream entries (flushes, never commits); returns
    how many were new. An unreadable entry is logged and dropped."""
    batch: dict[str, Pending] = {}
    for entry in entries:
        pending = Pending.parse(entry.get("c", ""))
        if pending is None:
            log.error("unreadable conversion entry dropped")
            continue
        batch.setdefault(pending.idempotency_key, pending)
    if not batch:
        return 0
    items = list(batch.values())
    contacts = contact_ids(session, (p.phone for p in items))
    found = attribution.attribute_many(
        session,
        client,
        key(clicks.STREAM),
        [
            attribution.Named(
                occurred_at=p.occurred_at,
                token=p.click_token,
                link=p.link,
                message_id=p.message_id,
                contact_id=contacts.get(p.phone) if p.phone else None,
            )
            for p in items
        ],
    )
    return analytics.record_many(
        session,
        [
            analytics.NewConversion(
                source=ConversionSource.POSTBACK,
                event=p.event,
                idempotency_key=p.idempotency_key,
                occurred_at=p.occurred_at,
                value=p.value,
                currency=p.currency,
                phone=p.phone,
                contact_id=a.contact_id,
                campaign_id=a.campaign_id,
                variant_id=a.variant_id,
                message_id=a.message_id,
                link_id=a.link_id,
                click_token=p.click_token,
                order_id=p.order_id,
            )
            for p, a in zip(items, found, strict=True)
        ],
    )


def drain(
    session: Session,
    client: redis.Redis,
    *,
    max_batches: int = MAX_BATCHES,
    claim_idle_ms: int = CLAIM_IDLE_MS,
) -> int:
    """Move postbacks from the stream to SQL a batch at a time: store, commit, then
    acknowledge. Returns how many new conversions were stored."""
    return streams.drain(
        session,
        consumer(client, claim_idle_ms),
        lambda fields: store(session, client, fields),
        max_batches,
    )


@job("default", timeout=300, ttl=60)
def drain_conversions() -> int:
    """Drain the postback stream into ``conversions`` (see :func:`drain`). Safe to run
    twice or side by side. Returns the number of new conversions."""
    stored = drain(db.session(), get_redis())
    if stored:
        log.info("conversions stored count=%s", stored)
    return stored


PERIODIC = [Periodic("drain-conversions", DRAIN_EVERY_S, drain_conversions)]
