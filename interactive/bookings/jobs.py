"""Periodic booking work: reminders before the time, dialogues nobody finished."""

from __future__ import annotations

from flask import current_app

from interactive.bookings import desk
from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis
from interactive.scheduler import Periodic


@job("default")
def booking_reminders() -> dict[str, int]:
    outbox = desk.Outbox(get_redis(), str(current_app.config["REDIS_PREFIX"]))
    with db.transaction() as session:
        reminded = desk.send_reminders(session, outbox)
        expired = desk.expire_dialogues(session)
    return {"reminded": reminded, "dialogues_expired": expired}


PERIODIC = [Periodic("booking-reminders", 60, booking_reminders)]
