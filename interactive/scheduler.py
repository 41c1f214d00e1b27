"""The scheduler process: enqueues periodic jobs on time, exactly one scheduler at a time.

Several ``interactive scheduler`` processes may run (for availability); a lock in Redis
elects one, the others wait as standbys. Each periodic job is enqueued with a job id
derived from its time slot, so a restart or a lost lock never enqueues the same slot twice.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask

from interactive.db import utcnow
from interactive.queue import JobFunction
from interactive.redis_store import get_redis, key

log = logging.getLogger(__name__)

#: Modules that declare ``PERIODIC: list[Periodic]`` (their feature's ``jobs.py``).
FEATURE_JOB_MODULES = (
    "interactive.web.jobs",
    "interactive.contacts.jobs",
    "interactive.outbound.jobs",
    "interactive.shortlinks.jobs",
    "interactive.outbound.webhook_jobs",
    "interactive.keywords.jobs",
    "interactive.surveys.jobs",
    "interactive.bookings.jobs",
    "interactive.analytics.jobs",
    "interactive.analytics.buffer",
)

LOCK_TTL_MS = 15_000
HEARTBEAT_TTL_S = 30

# Extend the lock only if we still hold it.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class Periodic:
    name: str
    every_seconds: int
    job: JobFunction[Any, Any]


def periodic_tasks(modules: Iterable[str] = FEATURE_JOB_MODULES) -> list[Periodic]:
    tasks: list[Periodic] = []
    for module in modules:
        tasks += getattr(importlib.import_module(module), "PERIODIC", [])
    return tasks


class Scheduler:
    def __init__(self, app: Flask, name: str, tasks: list[Periodic] | None = None) -> None:
        self.app = app
        self.name = name
        self.tasks = periodic_tasks() if tasks is None else tasks
        self.leader = False

    def tick(self, now: float | None = None) -> list[str]:
        """One round: keep or take the lock, beat, enqueue what is due. Returns the job
        ids enqueued (empty when standing by)."""
        now = time.time() if now is None else now
        with self.app.app_context():
            client = get_redis()
            if not self._hold_lock(client):
                return []
            client.set(key("scheduler", "heartbeat"), utcnow().isoformat(), ex=HEARTBEAT_TTL_S)
            return [
                job_id for task in self.tasks if (job_id := self._run_if_due(client, task, now))
            ]

    def _hold_lock(self, client: redis.Redis) -> bool:
        lock = key("scheduler", "leader")
        if client.set(lock, self.name, nx=True, px=LOCK_TTL_MS):
            if not self.leader:
                log.info("scheduler is leader name=%s", self.name)
            self.leader = True
            return True
        held = bool(client.eval(_RENEW, 1, lock, self.name, LOCK_TTL_MS))
        if self.leader and not held:
            log.warning("scheduler lost leadership name=%s", self.name)
        self.leader = held
        return held

    def _run_if_due(self, client: redis.Redis, task: Periodic, now: float) -> str | None:
        slot = int(now // task.every_seconds)
        last_key = key("scheduler", "last_slot")
        last = client.hget(last_key, task.name)
        if last is not None and int(last) >= slot:
            return None
        # RQ's job ids are not under the site's prefix: name the site in them.
        job_id = f"periodic-{self.app.config['REDIS_PREFIX']}-{task.name}-{slot}"
        task.job.enqueue(job_id=job_id)
        client.hset(last_key, task.name, slot)
        log.info("periodic job enqueued task=%s job=%s", task.name, job_id)
        return job_id

    def run(self, stop: threading.Event) -> None:
        interval = float(self.app.config["SCHEDULER_TICK_SECONDS"])
        log.info("scheduler started name=%s tasks=%s", self.name, len(self.tasks))
        while not stop.is_set():
            try:
                self.tick()
            except redis.RedisError:
                log.exception("scheduler tick failed; retrying")
            stop.wait(interval)
        self.release()

    def release(self) -> None:
        with self.app.app_context():
            client = get_redis()
            lock = key("scheduler", "leader")
            if self.leader and client.get(lock) == self.name.encode():
                client.delete(lock)
            self.leader = False
