"""Periodic survey work: reminders, expiries and questions held back by quiet hours."""

from __future__ import annotations

from flask import current_app

from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis
from interactive.scheduler import Periodic
from interactive.surveys import service


@job("default")
def survey_timeouts() -> dict[str, int]:
    outbox = service.Outbox(get_redis(), str(current_app.config["REDIS_PREFIX"]))
    with db.transaction() as session:
        return service.run_timeouts(session, outbox)


PERIODIC = [Periodic("survey-timeouts", 30, survey_timeouts)]
