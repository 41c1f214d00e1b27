"""The simulator's side of the handset page: replies typed there become MOs."""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

import redis
from flask import Flask

from interactive.logs import mask_msisdn
from interactive.smpp.simulator import SmscSimulator
from interactive.smpp.views import simulator_stream

log = logging.getLogger(__name__)


def inject_typed_replies(app: Flask, simulator: SmscSimulator, stop: threading.Event) -> None:
    """Start a thread that injects every reply typed on the handset page as a deliver_sm
    (long texts as concatenated parts), until ``stop`` is set."""
    thread = threading.Thread(
        target=_consume, args=(app, simulator, stop), name="handset-replies", daemon=True
    )
    thread.start()


def _consume(app: Flask, simulator: SmscSimulator, stop: threading.Event) -> None:
    client: redis.Redis = app.extensions["interactive.redis"]
    stream = simulator_stream(app.config["REDIS_PREFIX"])
    last = "$"
    while not stop.is_set():
        try:
            response: Any = client.xread({stream: last}, count=100, block=1000)
        except redis.RedisError:
            log.warning("handset replies: redis unavailable, retrying")
            stop.wait(1.0)
            continue
        for _stream, entries in response or []:
            for entry_id, fields in entries:
                last = entry_id
                _inject(simulator, {k.decode(): v.decode() for k, v in fields.items()})


def _inject(simulator: SmscSimulator, fields: dict[str, str]) -> None:
    text = fields.get("text", "")
    split: Literal["udh8"] | None = "udh8" if len(text.encode("utf-16-be")) > 140 else None
    try:
        simulator.inject_mo(fields["source"], fields["destination"], text, split=split)
    except (KeyError, ValueError) as exc:
        log.warning("handset reply not injected: %s", exc)
        return
    log.info("handset reply injected from %s", mask_msisdn(fields.get("source")))
