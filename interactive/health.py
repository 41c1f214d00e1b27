"""What ``/healthz`` and the dashboard report: database, migrations, Redis, queues,
workers and the scheduler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rq import Worker

from interactive import migrate
from interactive.db import db, utcnow
from interactive.queue import queue_depths
from interactive.redis_store import get_redis, key

log = logging.getLogger(__name__)


@dataclass
class Health:
    database: dict[str, Any] = field(default_factory=dict)
    redis: dict[str, Any] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    scheduler_seen_seconds_ago: float | None = None

    @property
    def ok(self) -> bool:
        return bool(
            self.database.get("ok") and self.database.get("at_head") and self.redis.get("ok")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "database": self.database,
            "redis": self.redis,
            "queues": self.queues,
            "workers": self.workers,
            "scheduler_seen_seconds_ago": self.scheduler_seen_seconds_ago,
        }


def check() -> Health:
    health = Health()
    _check_database(health)
    _check_redis(health)
    return health


def _check_database(health: Health) -> None:
    engine = db.engine
    health.database = {"ok": False, "backend": engine.dialect.name}
    try:
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            connection.execute(sa.text("SELECT 1"))
            revisions = migrate.current_revisions(connection)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health: database unreachable error=%s", type(exc).__name__)
        health.database["error"] = type(exc).__name__
        return
    health.database.update(
        ok=True,
        revision=",".join(revisions) or None,
        head=",".join(migrate.head_revisions()),
        at_head=set(revisions) == set(migrate.head_revisions()),
    )


def _check_redis(health: Health) -> None:
    client = get_redis()
    try:
        client.ping()
        health.queues = queue_depths()
        health.workers = len(Worker.all(connection=client))
        beat: Any = client.get(key("scheduler", "heartbeat"))
    except Exception as exc:  # redis errors come in several families (socket, protocol)
        log.warning("health: redis unreachable error=%s", type(exc).__name__)
        health.redis = {"ok": False, "error": type(exc).__name__}
        return
    health.redis = {"ok": True}
    if beat:
        seen = datetime.fromisoformat(beat.decode())
        health.scheduler_seen_seconds_ago = round((utcnow() - seen).total_seconds(), 1)
