"""Jobs of the contacts feature: running an import, keeping the suppression mirror whole."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy.orm import Session

from interactive.contacts import importer, suppression
from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis
from interactive.scheduler import Periodic

log = logging.getLogger(__name__)

# An import of a million rows takes minutes; an hour leaves room for slow disks.
IMPORT_TIMEOUT = 3600


def import_job_id(import_id: int) -> str:
    """The RQ job id of an import's run (unique: a second start is not queued)."""
    return f"contact-import-{import_id}"


@job("default", timeout=IMPORT_TIMEOUT, ttl=24 * 3600, result_ttl=24 * 3600)
def run_contact_import(import_id: int) -> str | None:
    """Run import ``import_id`` (see ``importer.run_import``): commits per chunk. An import
    that is not QUEUED (already running, finished or cancelled) is left alone, so running
    the job twice is safe. Returns the final status, or None when nothing was done."""
    status = importer.run_import(import_id)
    return status.value if status is not None else None


def start_import(session: Session, import_id: int) -> None:
    """Queue the run of import ``import_id`` once ``session`` commits."""
    run_contact_import.enqueue_after_commit(session, import_id, job_id=import_job_id(import_id))


@job("default", timeout=600, ttl=600)
def ensure_suppression_mirror() -> int:
    """Rebuild the Redis set of suppressed numbers from SQL if Redis lost it (a restart
    without persistence, a flush). Idempotent; returns the numbers loaded (0: it was whole)."""
    prefix = str(current_app.config["REDIS_PREFIX"])
    return suppression.ensure_mirror(db.session(), get_redis(), prefix)


PERIODIC = [Periodic("suppression-mirror", 60, ensure_suppression_mirror)]
