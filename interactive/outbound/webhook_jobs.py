"""The job that posts signed status webhooks of API messages (``outbound.webhooks``)."""

from __future__ import annotations

import logging
import secrets

from flask import current_app

from interactive.db import db
from interactive.outbound import webhooks
from interactive.queue import job
from interactive.redis_store import get_redis, key
from interactive.scheduler import Periodic

log = logging.getLogger(__name__)

# Longer than a run can take (the job's timeout), so that a lock is never lost mid-run.
LOCK_SECONDS = 150

# Release the lock only if this run still holds it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


@job("default", timeout=120, ttl=30)
def deliver_status_webhooks() -> dict[str, int]:
    """Post the status webhooks that are due (see ``webhooks.deliver_due``). Runs one at
    a time: a run that finds another one going returns at once. Reads SQL only; posting
    twice after a crash is possible (receivers dedupe by message id)."""
    client = get_redis()
    lock, token = key("webhooks", "lock"), secrets.token_hex(8)
    if not client.set(lock, token, nx=True, ex=LOCK_SECONDS):
        return {"skipped": 1}
    try:
        config = current_app.config
        report = webhooks.deliver_due(
            db.session(),
            client,
            str(config["REDIS_PREFIX"]),
            str(config["WEBHOOK_SECRET"]),
            production=config["ENV"] == "production",
        )
    finally:
        client.eval(_RELEASE, 1, lock, token)
    if report.delivered or report.retrying or report.failed:
        log.info(
            "status webhooks delivered=%s retrying=%s failed=%s",
            report.delivered,
            report.retrying,
            report.failed,
        )
    return vars(report)


PERIODIC = [Periodic("status-webhooks", 3, deliver_status_webhooks)]
