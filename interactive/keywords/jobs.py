"""Periodic jobs of the keywords feature: posting keyword-rule webhooks."""

from __future__ import annotations

import logging
import secrets

from flask import current_app

from interactive.db import db
from interactive.keywords import webhooks
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
def deliver_keyword_webhooks() -> dict[str, int]:
    """POST the keyword-rule webhook deliveries that are due (``webhooks.deliver_due``)
    and commit their outcomes. Runs one at a time: a run that finds another one going
    returns at once. After a crash between a POST and the commit, that delivery is posted
    again (receivers dedupe by ``X-Interactive-Delivery`` or the message id)."""
    client = get_redis()
    lock, token = key("keyword-webhooks", "lock"), secrets.token_hex(8)
    if not client.set(lock, token, nx=True, ex=LOCK_SECONDS):
        return {"skipped": 1}
    try:
        config = current_app.config
        report = webhooks.deliver_due(
            db.session(),
            allow_private=bool(config["WEBHOOK_ALLOW_PRIVATE"]),
            production=config["ENV"] == "production",
        )
    finally:
        client.eval(_RELEASE, 1, lock, token)
    if report.delivered or report.retrying or report.failed:
        log.info(
            "keyword webhooks delivered=%s retrying=%s failed=%s",
            report.delivered,
            report.retrying,
            report.failed,
        )
    return vars(report)


PERIODIC = [Periodic("keyword-webhooks", 3, deliver_keyword_webhooks)]
