"""RQ: jobs are enqueued only after the commit that created their rows, and run with a
session that commits on success and rolls back on failure."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker

from interactive.db import db
from interactive.queue import get_queue, job, queue_depths, run_worker
from interactive.redis_store import key
from interactive.web import service
from interactive.web.models import Role, User
from tests import jobs
from tests.conftest import UserFactory


def _new_user(session: Any, email: str) -> User:
    return service.create_user(
        session,
        email=email,
        password="password 1234",
        role=Role.VIEWER,
        locale="en",
        timezone="UTC",
    )


def _seen(app: Flask) -> list[str]:
    client = app.extensions["interactive.redis"]
    with app.app_context():
        return [v.decode() for v in client.lrange(key("test", "seen"), 0, -1)]


def test_enqueue_after_commit_runs_on_a_worker_that_sees_the_row(app: Flask, live_db: None) -> None:
    with app.app_context():
        session = db.session()
        user = _new_user(session, "queued@example.com")
        jobs.record_user_email.enqueue_after_commit(session, user.id)
        assert queue_depths()["urgent"] == 0  # nothing before the commit
        session.commit()
        assert queue_depths()["urgent"] == 1
        worker = SimpleWorker([get_queue("urgent")], connection=app.extensions["interactive.redis"])
        assert worker.work(burst=True)
    assert _seen(app) == ["queued@example.com"]


def test_rollback_enqueues_nothing(app: Flask, live_db: None) -> None:
    with app.app_context():
        session = db.session()
        user = _new_user(session, "rolled.back@example.com")
        jobs.record_user_email.enqueue_after_commit(session, user.id)
        session.rollback()
        assert queue_depths()["urgent"] == 0
        # A later commit of the same session does not resurrect the dropped job.
        session.commit()
        assert queue_depths()["urgent"] == 0


def test_forking_worker_runs_jobs_with_its_own_connections(
    app: Flask, live_user: UserFactory
) -> None:
    user = live_user(Role.VIEWER)
    with app.app_context():
        jobs.rename_user.enqueue(user.id, "renamed by a forked job")
        jobs.record_user_email.enqueue(user.id)
    assert run_worker(app, ["urgent", "default"], burst=True, fork=True)
    with app.app_context():
        fresh = db.session().get(User, user.id)
        assert fresh is not None
        assert fresh.name == "renamed by a forked job"
    assert _seen(app) == [user.email]


def test_a_failing_job_rolls_back_its_changes(app: Flask, live_user: UserFactory) -> None:
    user = live_user(Role.VIEWER)
    with app.app_context():
        queued = jobs.fail_after_change.enqueue(user.id)
        assert queued is not None
        SimpleWorker([get_queue("default")], connection=app.extensions["interactive.redis"]).work(
            burst=True
        )
        queued.refresh()
        assert queued.is_failed
        fresh = db.session().get(User, user.id)
        assert fresh is not None
        assert fresh.name != "should not stick"


def test_a_job_id_is_enqueued_once(app: Flask, ctx: Any) -> None:
    assert jobs.record_user_email.enqueue(1, job_id="only-once") is not None
    assert jobs.record_user_email.enqueue(1, job_id="only-once") is None
    assert queue_depths()["urgent"] == 1


def test_job_bodies_can_be_called_directly(app: Flask, make_user: UserFactory) -> None:
    user = make_user(Role.VIEWER)
    with app.app_context():
        assert jobs.record_user_email(user.id) == user.email
        jobs.rename_user(user.id, "direct")
        assert db.session().get(User, user.id).name == "direct"  # type: ignore[union-attr]


def test_jobs_declare_their_queue_and_limits() -> None:
    assert jobs.record_user_email.queue == "urgent"
    assert jobs.record_user_email.timeout == 30
    assert jobs.record_user_email.path == "tests.jobs.record_user_email"
    with pytest.raises(ValueError, match="unknown queue"):
        job("slow")


def test_job_log_lines_carry_the_job_id(app: Flask, ctx: Any) -> None:
    import logging

    from interactive.logs import ContextFilter

    seen: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Capture()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.jobs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        queued = jobs.log_something.enqueue(7)
        assert queued is not None
        SimpleWorker([get_queue("default")], connection=app.extensions["interactive.redis"]).work(
            burst=True
        )
    finally:
        logger.removeHandler(handler)
    (record,) = [r for r in seen if r.getMessage() == "job ran for user_id=7"]
    assert record.job_id == queued.id  # type: ignore[attr-defined]
