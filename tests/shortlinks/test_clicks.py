"""Click capture: buffered in the stream by the redirect, drained to SQL in batches by the
periodic job, classified, idempotent, and never lost when a run fails before its commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.db import db, utcnow
from interactive.outbound.models import Message, PartState, Traffic
from interactive.redis_store import key
from interactive.scheduler import FEATURE_JOB_MODULES, periodic_tasks
from interactive.shortlinks import clicks, jobs, service, stats
from interactive.shortlinks.models import Click, ClickKind
from interactive.shortlinks.service import NewLink
from tests.shortlinks.conftest import MakeLink

SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)

Entries = Callable[[], list[dict[str, str]]]


def _clicks(session: Session) -> list[Click]:
    """Stored clicks, read afresh (a job run removes the scoped session it used)."""
    session = db.session()
    session.expire_all()
    return list(session.scalars(sa.select(Click).order_by(Click.id)))


def _hit_four_ways(client: Any, code: str) -> None:
    client.get(f"/{code}", headers={"User-Agent": SAFARI})
    client.get(f"/{code}", headers={"User-Agent": "WhatsApp/2.23.20.0 A"})
    client.get(f"/{code}", headers={"User-Agent": "curl/8.4.0"})
    client.head(f"/{code}", headers={"User-Agent": SAFARI})


def test_clicks_wait_in_the_stream_then_land_in_sql_classified(
    client: Any, ctx: Session, make_link: MakeLink, stream_entries: Entries
) -> None:
    link, code = make_link()
    link_id = link.id
    _hit_four_ways(client, code)
    assert len(stream_entries()) == 4
    assert _clicks(ctx) == []

    assert jobs.drain_clicks() == 4
    stored = _clicks(ctx)
    assert [c.kind for c in stored] == [
        ClickKind.HUMAN,
        ClickKind.PREVIEW,
        ClickKind.SCANNER,
        ClickKind.HEAD,
    ]
    assert {c.link_id for c in stored} == {link_id}
    assert [c.method for c in stored] == ["GET", "GET", "GET", "HEAD"]
    assert stored[0].user_agent == SAFARI
    assert stored[0].ip_prefix == "127.0.0.0/24"
    assert stored[0].ip_hash and "127.0.0.1" not in stored[0].ip_hash
    assert all(c.campaign_id is None for c in stored)
    # Acknowledged and trimmed: the stream does not grow for ever.
    assert stream_entries() == []
    assert jobs.drain_clicks() == 0
    assert stats.click_counts(db.session(), [link_id])[link_id] == {
        ClickKind.HUMAN: 1,
        ClickKind.PREVIEW: 1,
        ClickKind.SCANNER: 1,
        ClickKind.HEAD: 1,
    }


def test_a_redelivered_entry_is_stored_once(
    client: Any,
    app: Flask,
    ctx: Session,
    make_link: MakeLink,
    stream_entries: Entries,
    redis_client: redis.Redis,
) -> None:
    _link, code = make_link()
    _hit_four_ways(client, code)
    entries: Any = stream_entries()
    assert jobs.drain_clicks() == 4
    # The same entries again (as after a crash between commit and acknowledgement).
    redis_client.xadd(key(clicks.STREAM), clicks.entry_fields(entries[0]))
    redis_client.xadd(key(clicks.STREAM), clicks.entry_fields(entries[2]))
    assert jobs.drain_clicks() == 0
    assert len(_clicks(ctx)) == 4
    assert stream_entries() == []


def test_nothing_is_lost_when_a_run_fails_before_its_commit(
    client: Any,
    ctx: Session,
    make_link: MakeLink,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _link, code = make_link()
    _hit_four_ways(client, code)
    real_store = clicks.store

    def store_then_fail(*args: Any, **kwargs: Any) -> int:
        real_store(*args, **kwargs)  # inserted, not committed
        raise RuntimeError("worker killed")

    monkeypatch.setattr(clicks, "store", store_then_fail)
    with pytest.raises(RuntimeError, match="worker killed"):
        jobs.drain_clicks()
    monkeypatch.setattr(clicks, "store", real_store)
    assert _clicks(ctx) == []
    consumer = jobs.click_consumer(redis_client)
    assert consumer.pending_count() == 4
    # A run soon after leaves them to their idle time; a run after it re-reads them.
    assert jobs.drain_clicks() == 0
    assert jobs.drain(db.session(), redis_client, claim_idle_ms=0) == 4
    assert len(_clicks(ctx)) == 4
    assert consumer.pending_count() == 0


def test_many_clicks_are_drained_in_batches(
    app: Flask,
    ctx: Session,
    make_link: MakeLink,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link, _code = make_link()
    now = utcnow().timestamp()
    stream = key(clicks.STREAM)
    pipe = redis_client.pipeline()
    for n in range(2500):
        click = {"l": link.id, "k": f"tok{n:013d}", "t": now, "m": "GET", "ua": SAFARI}
        pipe.xadd(stream, clicks.entry_fields(click))
    pipe.execute()
    batches: list[int] = []
    real_store = clicks.store

    def counting(session: Session, entries: Any, *args: Any) -> int:
        batches.append(len(entries))
        return real_store(session, entries, *args)

    monkeypatch.setattr(clicks, "store", counting)
    assert jobs.drain_clicks() == 2500
    assert batches == [1000, 1000, 500]
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Click)) == 2500


def test_campaign_clicks_carry_the_recipient_and_early_ones_are_scanners(
    client: Any, ctx: Session
) -> None:
    now = utcnow()
    messages = []
    for seconds_ago in (2, 3600):
        message = Message(
            connection="c1",
            source="ACME",
            destination="+905320000000",
            body="Spring sale",
            encoding="gsm",
            parts_count=1,
            traffic=Traffic.COMMERCIAL,
            state=PartState.ACCEPTED,
            submitted_at=now - timedelta(seconds=seconds_ago),
        )
        ctx.add(message)
        messages.append(message)
    ctx.flush()
    codes = service.create_campaign_links(
        ctx,
        [
            NewLink("https://shop.example/s", campaign_id=7, run_id=1, variant_id=2, contact_id=11),
            NewLink("https://shop.example/s", campaign_id=7, run_id=1, variant_id=3, contact_id=12),
        ],
    )
    service.set_message_ids(ctx, zip(codes, [m.id for m in messages], strict=True))
    ctx.commit()
    for code in codes:
        assert client.get(f"/{code}", headers={"User-Agent": CHROME}).status_code == 302
    assert jobs.drain_clicks() == 2
    early, late = _clicks(ctx)
    assert (early.campaign_id, early.variant_id, early.contact_id) == (7, 2, 11)
    assert (late.campaign_id, late.variant_id, late.contact_id) == (7, 3, 12)
    assert early.kind == ClickKind.SCANNER
    assert late.kind == ClickKind.HUMAN
    assert clicks.counts_by_kind(db.session(), 7)[ClickKind.HUMAN] == 1


def test_clicks_of_deleted_links_and_unreadable_entries_are_dropped(
    client: Any, ctx: Session, make_link: MakeLink, redis_client: redis.Redis
) -> None:
    link, code = make_link()
    client.get(f"/{code}")
    stream = key(clicks.STREAM)
    redis_client.xadd(stream, {"c": "not json"})
    redis_client.xadd(stream, clicks.entry_fields({"l": "not a number"}))
    redis_client.xadd(stream, {"other": "field"})
    deleted = {"l": link.id + 99, "k": "x" * 16, "t": "1.0", "m": "GET"}
    redis_client.xadd(stream, clicks.entry_fields(deleted))
    assert jobs.drain_clicks() == 1
    assert jobs.click_consumer(redis_client).pending_count() == 0


def test_the_drain_is_a_periodic_job() -> None:
    assert "interactive.shortlinks.jobs" in FEATURE_JOB_MODULES
    tasks = {task.name: task for task in periodic_tasks(["interactive.shortlinks.jobs"])}
    assert tasks["drain-clicks"].job is jobs.drain_clicks
    assert tasks["drain-clicks"].every_seconds <= 10
