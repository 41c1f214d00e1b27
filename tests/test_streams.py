"""The stream consumer: batches, acknowledgement after commit, re-claim, dead letters."""

from __future__ import annotations

import threading
from typing import Any

import redis

from interactive.db import db
from interactive.streams import Entry, StreamConsumer, publish, publish_after_commit
from interactive.web import service
from interactive.web.models import Role

STREAM = "test:items"


def _consumer(client: redis.Redis, name: str, **kwargs: Any) -> StreamConsumer:
    consumer = StreamConsumer(client, STREAM, "workers", name=name, block_ms=10, **kwargs)
    consumer.ensure_group()
    return consumer


def test_batches_in_order_and_acknowledged(redis_client: redis.Redis) -> None:
    consumer = _consumer(redis_client, "a", batch_size=3)
    publish(redis_client, STREAM, [{"n": i} for i in range(7)])
    batches = []
    while entries := consumer.read():
        batches.append([int(e.fields["n"]) for e in entries])
        consumer.ack(entries)
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert consumer.pending_count() == 0


def test_entries_published_before_the_group_exists_are_not_lost(
    redis_client: redis.Redis,
) -> None:
    publish(redis_client, STREAM, [{"n": 1}])
    consumer = _consumer(redis_client, "a")
    assert [e.fields["n"] for e in consumer.read()] == ["1"]


def test_a_consumer_goes_on_after_redis_lost_its_stream(redis_client: redis.Redis) -> None:
    consumer = _consumer(redis_client, "a", claim_idle_ms=0)
    publish(redis_client, STREAM, [{"n": 1}])
    consumer.ack(consumer.read())
    redis_client.delete(STREAM)  # a Redis restarted empty, or flushed
    assert consumer.read() == []
    publish(redis_client, STREAM, [{"n": 2}])
    assert [e.fields["n"] for e in consumer.read()] == ["2"]


def test_a_dead_consumers_entries_are_reclaimed(redis_client: redis.Redis) -> None:
    crashed = _consumer(redis_client, "crashed", claim_idle_ms=0)
    publish(redis_client, STREAM, [{"n": i} for i in range(3)])
    taken = crashed.read()
    assert len(taken) == 3  # and then the process dies without acknowledging
    survivor = _consumer(redis_client, "survivor", claim_idle_ms=0)
    reclaimed = survivor.read()
    assert [e.id for e in reclaimed] == [e.id for e in taken]
    assert all(e.deliveries == 2 for e in reclaimed)
    survivor.ack(reclaimed)
    assert survivor.pending_count() == 0


def test_entries_that_keep_failing_go_to_the_dead_letter_stream(
    redis_client: redis.Redis,
) -> None:
    consumer = _consumer(redis_client, "a", claim_idle_ms=0, max_deliveries=2)
    publish(redis_client, STREAM, [{"n": "poison"}])
    assert len(consumer.read()) == 1  # delivery 1: fails, not acknowledged
    assert len(consumer.read()) == 1  # delivery 2 (re-claimed): fails again
    assert consumer.read() == []  # delivery 3 would exceed the limit
    assert consumer.pending_count() == 0
    dead: Any = redis_client.xrange(consumer.dead_letter_stream)
    assert len(dead) == 1
    assert dead[0][1][b"n"] == b"poison"


def test_publish_after_commit_waits_for_the_commit(app: Any, live_db: None) -> None:
    client = app.extensions["interactive.redis"]
    with app.app_context():
        session = db.session()
        service.create_user(
            session,
            email="s@example.com",
            password="password 1234",
            role=Role.VIEWER,
            locale="en",
            timezone="UTC",
        )
        publish_after_commit(session, client, STREAM, [{"id": 1}])
        assert client.xlen(STREAM) == 0
        session.commit()
        assert client.xlen(STREAM) == 1
        publish_after_commit(session, client, STREAM, [{"id": 2}])
        session.rollback()
        session.commit()
        assert client.xlen(STREAM) == 1


def test_run_acknowledges_only_after_the_handler_succeeds(redis_client: redis.Redis) -> None:
    consumer = _consumer(redis_client, "runner", claim_idle_ms=0)
    publish(redis_client, STREAM, [{"n": i} for i in range(5)])
    stop = threading.Event()
    handled: list[list[str]] = []
    calls = {"n": 0}

    def handle(entries: list[Entry]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("store failed")  # first attempt: nothing acknowledged
        handled.append([e.fields["n"] for e in entries])
        stop.set()

    consumer.run(handle, stop)
    assert handled == [["0", "1", "2", "3", "4"]]
    assert consumer.pending_count() == 0


def test_the_next_read_acknowledges_the_batch_before(redis_client: redis.Redis) -> None:
    consumer = _consumer(redis_client, "a", batch_size=2)
    publish(redis_client, STREAM, [{"n": i} for i in range(4)])
    first = consumer.read()
    second = consumer.ack_and_read(first)  # one pipeline: XACK, then XREADGROUP
    assert [e.fields["n"] for e in second] == ["2", "3"]
    assert consumer.pending_count() == 2
    assert consumer.ack_and_read(second) == []
    assert consumer.pending_count() == 0


def test_acknowledging_with_the_read_survives_a_lost_group(redis_client: redis.Redis) -> None:
    consumer = _consumer(redis_client, "a")
    publish(redis_client, STREAM, [{"n": 1}])
    handled = consumer.read()
    redis_client.delete(STREAM)  # a Redis restarted empty: no group to acknowledge to
    assert consumer.ack_and_read(handled) == []
    publish(redis_client, STREAM, [{"n": 2}])
    assert [e.fields["n"] for e in consumer.read()] == ["2"]


def test_trim_drops_only_what_every_group_acknowledged(redis_client: redis.Redis) -> None:
    fast = _consumer(redis_client, "fast")
    slow = StreamConsumer(redis_client, STREAM, "slow-group", name="s", block_ms=10)
    slow.ensure_group()
    publish(redis_client, STREAM, [{"n": i} for i in range(4)])
    fast.ack(fast.read())
    slow_batch = slow.read()
    slow.ack(slow_batch[:2])
    fast.trim()
    entries: Any = redis_client.xrange(STREAM)
    remaining = [int(f[b"n"]) for _id, f in entries]
    assert remaining == [2, 3]
