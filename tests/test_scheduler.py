"""The scheduler: one leader at a time, each periodic slot enqueued once."""

from __future__ import annotations

from typing import Any

from flask import Flask

from interactive.queue import queue_depths
from interactive.scheduler import Periodic, Scheduler, periodic_tasks
from interactive.web.jobs import flush_api_key_usage


def _job(app: Flask, slot: int) -> str:
    return f"periodic-{app.config['REDIS_PREFIX']}-flush-{slot}"


def test_only_the_leader_enqueues(app: Flask, ctx: Any) -> None:
    tasks = [Periodic("flush", 60, flush_api_key_usage)]
    first = Scheduler(app, "first", tasks)
    second = Scheduler(app, "second", tasks)
    assert first.tick(now=1_000_000.0) == [_job(app, 16666)]
    assert second.tick(now=1_000_000.0) == []  # standby
    assert second.leader is False
    assert queue_depths()["default"] == 1


def test_each_slot_is_enqueued_once_even_after_a_restart(app: Flask, ctx: Any) -> None:
    tasks = [Periodic("flush", 60, flush_api_key_usage)]
    scheduler = Scheduler(app, "one", tasks)
    assert scheduler.tick(now=600.0) == [_job(app, 10)]
    assert scheduler.tick(now=659.0) == []  # same slot
    scheduler.release()
    restarted = Scheduler(app, "two", tasks)
    assert restarted.tick(now=630.0) == []  # the slot was done before the restart
    assert restarted.tick(now=660.0) == [_job(app, 11)]
    assert queue_depths()["default"] == 2


def test_a_standby_takes_over_when_the_leader_stops(app: Flask, ctx: Any) -> None:
    tasks = [Periodic("flush", 60, flush_api_key_usage)]
    leader = Scheduler(app, "leader", tasks)
    standby = Scheduler(app, "standby", tasks)
    leader.tick(now=60.0)
    assert standby.tick(now=120.0) == []
    leader.release()
    assert standby.tick(now=120.0) == [_job(app, 2)]


def test_two_sites_on_one_redis_do_not_share_job_ids(app: Flask, ctx: Any) -> None:
    tasks = [Periodic("flush", 60, flush_api_key_usage)]
    [ours] = Scheduler(app, "one", tasks).tick(now=600.0)
    assert app.config["REDIS_PREFIX"] in ours


def test_heartbeat_is_visible_in_health(app: Flask, ctx: Any, client: Any) -> None:
    assert client.get("/healthz").json["scheduler_seen_seconds_ago"] is None
    Scheduler(app, "beat", []).tick()
    seen = client.get("/healthz").json["scheduler_seen_seconds_ago"]
    assert seen is not None
    assert seen < 5


def test_features_declare_periodic_jobs() -> None:
    names = {task.name for task in periodic_tasks()}
    assert "flush-api-key-usage" in names
