"""``interactive router``: the long-running consumer of the inbound stream.

It reads stored MO ids in batches with a consumer group, routes each batch in one
transaction (``router.route``) and acknowledges the entries after the commit. Messages
whose id never reached the stream (Redis was down when the gateway stored them) are found
by the sweep: every inbound message without ``routed_at`` for a few seconds is routed from
the database. Several consumers may run side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import utcnow
from interactive.keywords.models import InboundMessage
from interactive.keywords.router import Routed, Settings, route
from interactive.keywords.service import inbound_stream
from interactive.streams import Entry, StreamConsumer

log = logging.getLogger(__name__)

GROUP = "router"
#: A message not routed this long after it was stored is taken by the sweep.
SWEEP_AFTER = timedelta(seconds=5)
SWEEP_EVERY_S = 5.0
BATCH_SIZE = 200


def unrouted(
    session: Session, *, older_than: timedelta = SWEEP_AFTER, limit: int = 500
) -> list[int]:
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            sa.select(InboundMessage.id)
            .where(InboundMessage.routed_at.is_(None), InboundMessage.received_at <= cutoff)
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


@dataclass
class Router:
    """``interactive router``: consume the inbound stream, route, commit, acknowledge."""

    session_factory: Callable[[], Session]
    client: redis.Redis
    prefix: str
    region: str = "TR"
    batch_size: int = BATCH_SIZE
    settings: Settings = field(default_factory=Settings)
    _last_sweep: float = 0.0

    def consumer(self) -> StreamConsumer:
        return StreamConsumer(
            self.client,
            inbound_stream(self.prefix),
            GROUP,
            batch_size=self.batch_size,
            block_ms=500,
        )

    def handle(self, entries: list[Entry]) -> None:
        ids = []
        for entry in entries:
            try:
                ids.append(int(entry.fields["id"]))
            except (KeyError, ValueError):
                log.warning("router: stream entry without a message id entry=%s", entry.id)
        self.route_ids(ids)
        self._maybe_sweep()

    def route_ids(self, ids: list[int]) -> list[Routed]:
        with self.session_factory() as session:
            routed = route(
                session, self.client, self.prefix, ids, region=self.region, settings=self.settings
            )
            session.commit()
        for item in routed:
            log.info(
                "routed inbound=%s decision=%s replies=%s",
                item.message_id,
                item.decision.value,
                len(item.replies),
            )
        return routed

    def sweep(self) -> int:
        self._last_sweep = time.monotonic()
        with self.session_factory() as session:
            ids = unrouted(session)
        if ids:
            log.info("router: sweeping %d unrouted inbound messages", len(ids))
            for start in range(0, len(ids), self.batch_size):
                self.route_ids(ids[start : start + self.batch_size])
        return len(ids)

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep >= SWEEP_EVERY_S:
            try:
                self.sweep()
            except Exception:
                log.exception("router: sweep failed")

    def run(self, stop: threading.Event) -> None:
        consumer = self.consumer()
        log.info("router started stream=%s consumer=%s", consumer.stream, consumer.name)
        self._maybe_sweep()
        consumer.run(self.handle, stop, on_idle=self._maybe_sweep)
        log.info("router stopped")
