"""Jobs of the web package."""

from __future__ import annotations

import logging

from interactive.db import db
from interactive.queue import job
from interactive.scheduler import Periodic
from interactive.web import service

log = logging.getLogger(__name__)


@job("default", timeout=120, ttl=600)
def flush_api_key_usage() -> int:
    """Write the API keys' last-used times buffered in Redis to the database in one batch.
    Idempotent: a time only ever moves forward. Returns the number of keys updated."""
    updated = service.flush_api_key_usage(db.session())
    if updated:
        log.info("api key usage flushed keys=%s", updated)
    return updated


PERIODIC = [Periodic("flush-api-key-usage", 60, flush_api_key_usage)]
