"""RQ glue: queues by latency class, the job decorator, enqueue after commit, the worker.

RQ carries chunks of work (fan-out of ≥ 1,000 recipients, imports, exports, rollups);
per-item traffic goes through Redis streams (see ``interactive.streams``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry, SimpleWorker, Worker, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy.orm import Session

from interactive.db import after_commit, db
from interactive.logs import current_job_id
from interactive.redis_store import get_redis

log = logging.getLogger(__name__)

QUEUE_NAMES = ("urgent", "default", "reports")


P = ParamSpec("P")
R = TypeVar("R")

# The app a worker process created at start; jobs run inside its context.
_worker_app: Flask | None = None


def queue_name(short: str, prefix: str) -> str:
    if short not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {short!r}; queues are {', '.join(QUEUE_NAMES)}")
    return f"{prefix}:{short}"


def get_queue(short: str, connection: redis.Redis | None = None) -> Queue:
    """The RQ queue ``urgent``, ``default`` or ``reports`` of this site."""
    return Queue(
        queue_name(short, current_app.config["REDIS_PREFIX"]),
        connection=connection or get_redis(),
    )


def queue_depths() -> dict[str, int]:
    return {short: get_queue(short).count for short in QUEUE_NAMES}


@dataclass(eq=False)
class JobFunction(Generic[P, R]):
    """A job body with its limits. Calling it runs the body as an edge: app context, one
    session committed on success and rolled back on error, removed in ``finally``."""

    func: Callable[P, R]
    queue: str
    timeout: int
    ttl: int | None
    result_ttl: int
    failure_ttl: int
    retry: Retry | None = field(default=None, compare=False)

    @property
    def path(self) -> str:
        return f"{self.func.__module__}.{self.func.__name__}"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if has_app_context():
            return self._run(*args, **kwargs)
        if _worker_app is None:
            raise RuntimeError("a job ran outside an app context and outside a worker")
        with _worker_app.app_context():
            return self._run(*args, **kwargs)

    def _run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        rq_job = get_current_job()
        token = current_job_id.set(rq_job.id if rq_job else None)
        try:
            with db.transaction():
                return self.func(*args, **kwargs)
        finally:
            current_job_id.reset(token)

    def enqueue(self, *args: Any, job_id: str | None = None, at_front: bool = False) -> Job | None:
        """Enqueue now; with ``job_id``, nothing happens while a job with that id exists
        (returns None). Use :meth:`enqueue_after_commit` when the job reads rows that the
        current transaction writes."""
        return self._enqueue_on(get_queue(self.queue), args, job_id, at_front)

    def enqueue_after_commit(self, session: Session, *args: Any, job_id: str | None = None) -> None:
        """Enqueue once ``session`` commits (nothing happens if it rolls back)."""
        queue = get_queue(self.queue)
        after_commit(session, lambda: self._enqueue_on(queue, args, job_id, False))

    def _enqueue_on(
        self, queue: Queue, args: Sequence[Any], job_id: str | None, at_front: bool
    ) -> Job | None:
        try:
            job = queue.enqueue_call(
                func=self.path,
                args=tuple(args),
                timeout=self.timeout,
                ttl=self.ttl,
                result_ttl=self.result_ttl,
                failure_ttl=self.failure_ttl,
                retry=self.retry,
                job_id=job_id,
                at_front=at_front,
                unique=job_id is not None,
            )
        except DuplicateJobError:
            log.info("job already queued job=%s func=%s", job_id, self.path)
            return None
        log.debug("enqueued job=%s func=%s queue=%s", job.id, self.path, queue.name)
        return job


def job(
    queue: str,
    *,
    timeout: int = 600,
    ttl: int | None = 24 * 3600,
    result_ttl: int = 3600,
    failure_ttl: int = 7 * 24 * 3600,
    retry: Retry | None = None,
) -> Callable[[Callable[P, R]], JobFunction[P, R]]:
    """Declare a job with its queue and limits where it is defined."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")

    def wrap(func: Callable[P, R]) -> JobFunction[P, R]:
        spec = JobFunction(func, queue, timeout, ttl, result_ttl, failure_ttl, retry)
        functools.update_wrapper(spec, func)
        return spec

    return wrap


class ForkSafeWorker(Worker):
    """RQ's forking worker; the work horse drops the pooled connections it inherited
    (closing them would break the parent's), so each job opens its own."""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        if _worker_app is not None:
            _worker_app.extensions["interactive.engine"].dispose(close=False)
        super().main_work_horse(job, queue)


def run_worker(
    app: Flask, queues: Iterable[str], *, burst: bool = False, fork: bool = True
) -> bool:
    """Process jobs from the given short queue names until stopped (or empty, in burst)."""
    global _worker_app
    _worker_app = app
    with app.app_context():
        connection = get_redis()
        rq_queues = [get_queue(q, connection) for q in queues]
        worker_class = ForkSafeWorker if fork else SimpleWorker
        worker = worker_class(rq_queues, connection=connection)
        log.info("worker started queues=%s", ",".join(q.name for q in rq_queues))
        return bool(worker.work(burst=burst, with_scheduler=True))
