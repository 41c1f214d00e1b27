"""Helpers for router tests: store an inbound message as the gateway does, route it."""

from __future__ import annotations

import hashlib
from datetime import datetime

import redis
from flask import current_app
from sqlalchemy.orm import Session

from interactive.db import utcnow
from interactive.keywords.models import InboundMessage
from interactive.keywords.router import Routed, route

_counter = iter(range(1, 10**9))


def store_mo(
    session: Session,
    text: str,
    *,
    source: str = "905321234567",
    destination: str = "4664",
    connection: str = "sim",
    received_at: datetime | None = None,
) -> InboundMessage:
    """An inbound message as the gateway stores it (committed by the caller)."""
    message = InboundMessage(
        connection=connection,
        source=source,
        destination=destination,
        text=text,
        raw=text.encode("utf-16-be"),
        data_coding=8,
        dedup_key=hashlib.sha256(f"{next(_counter)}{text}".encode()).hexdigest(),
        received_at=received_at or utcnow(),
    )
    session.add(message)
    session.flush()
    return message


def route_text(
    session: Session, text: str, *, now: datetime | None = None, **options: object
) -> Routed:
    """Store one MO (received ``now`` unless ``received_at`` says otherwise) and route it
    at ``now``; returns what the router decided."""
    options.setdefault("received_at", now)
    message = store_mo(session, text, **options)  # type: ignore[arg-type]
    client: redis.Redis = current_app.extensions["interactive.redis"]
    prefix = str(current_app.config["REDIS_PREFIX"])
    routed = route(session, client, prefix, [message.id], now=now)
    assert len(routed) == 1
    return routed[0]
