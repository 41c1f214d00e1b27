"""Campaign fan-out: decisions for every recipient, messages with per-recipient short
links, idempotent chunks, hold-out and variants, deferral, pause/resume/cancel."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.analytics import funnel
from interactive.contacts import consent, suppression
from interactive.contacts.models import (
    Actor,
    Brand,
    ConsentStatus,
    Contact,
    ContactList,
    ListMember,
    SuppressionReason,
)
from interactive.outbound import campaigns, fanout
from interactive.outbound.models import (
    Campaign,
    CampaignChunk,
    CampaignState,
    ChunkState,
    Message,
    PartState,
    Recipient,
    RecipientReason,
    RecipientStatus,
    Recurrence,
    Traffic,
)
from interactive.outbound.service import outbound_stream
from interactive.shortlinks.models import Link

# Monday 2026-11-23 12:00 in Istanbul: inside the default quiet-hour rules.
NOON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NIGHT = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 00:30 in Istanbul


@pytest.fixture
def brand(ctx: Session) -> Brand:
    row = Brand(code="ACME", name="Acme")
    ctx.add(row)
    ctx.flush()
    return row


def people(session: Session, brand: Brand, count: int, *, consenting: bool = True) -> ContactList:
    audience = ContactList(name=f"list-{count}-{consenting}")
    session.add(audience)
    session.flush()
    contacts = [
        Contact(
            phone=f"+9053200{n:05d}",
            first_name=f"Ad{n}" if n % 2 else None,
            time_zone="Europe/Istanbul",
            country="TR",
        )
        for n in range(count)
    ]
    session.add_all(contacts)
    session.flush()
    session.add_all(ListMember(list_id=audience.id, contact_id=c.id) for c in contacts)
    if consenting:
        consent.record(
            session,
            [
                consent.NewEvent(
                    contact_id=c.id,
                    recipient=c.phone,
                    brand_id=brand.id,
                    status=ConsentStatus.ONAY,
                    source="HS_WEB",
                    consent_at=NOON - timedelta(days=10),
                    actor=Actor.USER,
                )
                for c in contacts
            ],
        )
    session.flush()
    return audience


def make_campaign(
    session: Session,
    app: Flask,
    brand: Brand | None,
    audience: ContactList,
    *,
    templates: tuple[str, ...] = (
        "Merhaba {{ first_name | default('dostum') }}! https://shop.example/kis?x=1",
    ),
    traffic: Traffic = Traffic.COMMERCIAL,
    **options: Any,
) -> Campaign:
    shares = [100 // len(templates)] * len(templates)
    shares[0] += 100 - sum(shares)
    data = campaigns.CampaignInput(
        name="Kış indirimi",
        traffic=traffic,
        sender="ACME",
        connection=app.config["SMPP_CONNECTION_LIST"][0].name,
        brand_id=brand.id if brand else None,
        audience={"lists": [audience.id]},
        variants=[
            campaigns.VariantInput(label=chr(65 + i), share=shares[i], template=t)
            for i, t in enumerate(templates)
        ],
        **options,
    )
    campaign = campaigns.save(session, data, user_id=None)
    return campaign


def sending(app: Flask, client: redis.Redis, now: datetime = NOON) -> fanout.Sending:
    return fanout.Sending.from_app(client, now)


def run_all(session: Session, app: Flask, client: redis.Redis, now: datetime = NOON) -> int:
    """One tick's work, with the chunk jobs run in place."""
    fanout.start_due_runs(session, now)
    queued = 0
    for chunk_id in fanout.release_chunks(session, now):
        queued += fanout.expand_chunk(session, chunk_id, sending(app, client, now))
    fanout.finish_runs(session, now)
    return queued


def test_every_recipient_gets_a_decision_and_eligible_ones_a_message(
    app: Flask, ctx: Session, brand: Brand, redis_client: redis.Redis
) -> None:
    audience = people(ctx, brand, 6)
    outsider = Contact(phone="+905329999999", time_zone="Europe/Istanbul", country="TR")
    ctx.add(outsider)
    ctx.flush()
    ctx.add(ListMember(list_id=audience.id, contact_id=outsider.id))  # no consent
    members = ctx.scalars(sa.select(Contact).order_by(Contact.id)).all()
    suppression.add(ctx, [members[1].phone], SuppressionReason.OPTED_OUT)
    campaign = make_campaign(ctx, app, brand, audience)
    campaigns.schedule(ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NOON)
    assert campaign.state == CampaignState.SCHEDULED

    assert run_all(ctx, app, redis_client) == 5
    rows = ctx.scalars(sa.select(Recipient).order_by(Recipient.contact_id)).all()
    assert len(rows) == 7
    reasons = {r.contact_id: (r.status, r.reason) for r in rows}
    assert reasons[members[1].id] == (RecipientStatus.SKIPPED, RecipientReason.OPTED_OUT)
    assert reasons[outsider.id] == (RecipientStatus.SKIPPED, RecipientReason.NO_CONSENT)
    messages = ctx.scalars(sa.select(Message).order_by(Message.contact_id)).all()
    assert len(messages) == 5
    first = messages[0]
    assert first.body.startswith("Merhaba dostum! ")  # contact 0 has no first name
    assert "https://shop.example" not in first.body
    assert first.body.splitlines()[-1].count("RET") == 1 and "4664" in first.body
    assert first.source == "ACME" and first.campaign_id == campaign.id
    # One link per recipient, tied to its message; the short URL is in the text.
    links = ctx.scalars(sa.select(Link).order_by(Link.contact_id)).all()
    assert [link.message_id for link in links] == [m.id for m in messages]
    assert all(link.target_url == "https://shop.example/kis?x=1" for link in links)
    assert len({m.body for m in messages}) == 5
    ctx.expire_all()
    campaign_after = ctx.get(Campaign, campaign.id)
    assert campaign_after is not None and campaign_after.state == CampaignState.COMPLETED
    stream = outbound_stream(app.config["REDIS_PREFIX"], campaign.connection)
    # Published only after commit: the test's session has not committed to Redis' eyes.
    total, _variants = funnel.campaign_funnel(ctx, campaign_after)
    assert (total.targeted, total.eligible, total.skipped, total.queued) == (7, 5, 2, 5)
    assert stream  # the stream name is derived from the route


def test_a_chunk_killed_halfway_creates_nothing_and_runs_again(
    app: Flask,
    ctx: Session,
    brand: Brand,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audience = people(ctx, brand, 12)
    campaign = make_campaign(ctx, app, brand, audience)
    campaigns.schedule(ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NOON)
    monkeypatch.setattr(fanout, "CHUNK_SIZE", 5)
    fanout.start_due_runs(ctx, NOON)
    chunk_ids = fanout.release_chunks(ctx, NOON)
    assert len(chunk_ids) == 3

    def die(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(fanout, "_store_decisions", die)
        savepoint = ctx.begin_nested()
        with pytest.raises(RuntimeError):
            fanout.expand_chunk(ctx, chunk_ids[0], sending(app, redis_client))
        savepoint.rollback()
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Link)) == 0
    for chunk_id in chunk_ids:
        fanout.expand_chunk(ctx, chunk_id, sending(app, redis_client))
    for chunk_id in chunk_ids:  # a second run of every chunk: nothing new
        assert fanout.expand_chunk(ctx, chunk_id, sending(app, redis_client)) == 0
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 12
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 12
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Link)) == 12
    states = ctx.scalars(sa.select(CampaignChunk.state)).all()
    assert set(states) == {ChunkState.DONE}


def test_holdout_and_variants_split_the_audience_stably(
    app: Flask, ctx: Session, brand: Brand, redis_client: redis.Redis
) -> None:
    audience = people(ctx, brand, 400)
    campaign = make_campaign(
        ctx, app, brand, audience, templates=("A metni", "B metni"), holdout_percent=10
    )
    campaigns.schedule(ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NOON)
    run_all(ctx, app, redis_client)
    rows = ctx.scalars(sa.select(Recipient)).all()
    held = [r for r in rows if r.status == RecipientStatus.HELD_OUT]
    assert 20 <= len(held) <= 60
    assert all(r.message_id is None for r in held)
    sent = Counter(r.variant_id for r in rows if r.status == RecipientStatus.QUEUED)
    assert len(sent) == 2 and min(sent.values()) > 130
    bodies = {m.variant_id or 0: m.body for m in ctx.scalars(sa.select(Message))}
    variants = {v.id: v.label for v in campaign.variants}
    assert {variants[k]: v.split("\n")[0] for k, v in bodies.items()} == {
        "A": "A metni",
        "B": "B metni",
    }
    # The same contact is in the same group for every run of the campaign.
    assert fanout._bucket(campaign.id, 1) == fanout._bucket(campaign.id, 1)


def test_quiet_hours_defer_then_release(
    app: Flask, ctx: Session, brand: Brand, redis_client: redis.Redis
) -> None:
    audience = people(ctx, brand, 3)
    campaign = make_campaign(ctx, app, brand, audience)
    campaigns.schedule(
        ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NIGHT
    )
    assert run_all(ctx, app, redis_client, NIGHT) == 0
    rows = ctx.scalars(sa.select(Recipient)).all()
    assert {(r.status, r.reason) for r in rows} == {
        (RecipientStatus.DEFERRED, RecipientReason.QUIET_HOURS)
    }
    morning = rows[0].not_before
    assert morning is not None and morning > NIGHT
    fanout.finish_runs(ctx, NIGHT)
    ctx.expire_all()
    assert ctx.get(Campaign, campaign.id).state == CampaignState.SENDING  # type: ignore[union-attr]
    later = morning + timedelta(minutes=1)
    assert fanout.release_deferred(ctx, sending(app, redis_client, later)) == 3
    assert {r.status for r in ctx.scalars(sa.select(Recipient))} == {RecipientStatus.QUEUED}
    fanout.finish_runs(ctx, later)
    ctx.expire_all()
    assert ctx.get(Campaign, campaign.id).state == CampaignState.COMPLETED  # type: ignore[union-attr]


def test_send_window_defers_to_its_opening(
    app: Flask, ctx: Session, brand: Brand, redis_client: redis.Redis
) -> None:
    audience = people(ctx, brand, 2)
    # 14:00–16:00 Istanbul; noon is before it: chunks wait for the window.
    campaign = make_campaign(ctx, app, brand, audience, window_start=14 * 60, window_end=16 * 60)
    campaigns.schedule(ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NOON)
    assert run_all(ctx, app, redis_client, NOON) == 0
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 0
    two_pm = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert campaigns.window_opens(campaign, NOON) == two_pm
    assert run_all(ctx, app, redis_client, two_pm) == 2


def test_informational_campaign_needs_no_consent_and_no_footer(
    app: Flask, ctx: Session, brand: Brand, redis_client: redis.Redis
) -> None:
    audience = people(ctx, brand, 2, consenting=False)
    campaign = make_campaign(
        ctx, app, None, audience, templates=("Randevunuz yarın.",), traffic=Traffic.INFORMATIONAL
    )
    campaigns.schedule(
        ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NIGHT
    )
    assert run_all(ctx, app, redis_client, NIGHT) == 2
    assert {m.body for m in ctx.scalars(sa.select(Message))} == {"Randevunuz yarın."}


def test_cancel_finishes_queued_messages_and_pause_holds_them(
    app: Flask, ctx: Session, brand: Brand, redis_client: redis.Redis
) -> None:
    audience = people(ctx, brand, 4)
    campaign = make_campaign(ctx, app, brand, audience)
    campaigns.schedule(ctx, campaign, {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}, NOON)
    run_all(ctx, app, redis_client)
    campaign.state = CampaignState.SENDING  # as if still sending
    campaigns.pause(ctx, campaign)
    from interactive.outbound import service as outbound

    ids = list(ctx.scalars(sa.select(Message.id)))
    assert outbound.claim(ctx, ids, lambda numbers: set()) == []  # held
    assert campaigns.resume(ctx, campaign, redis_client, app.config["REDIS_PREFIX"]) == 4
    assert campaigns.cancel(ctx, campaign, NOON) == 4
    assert {m.state for m in ctx.scalars(sa.select(Message))} == {PartState.CANCELLED}
    assert outbound.claim(ctx, ids, lambda numbers: set()) == []


def test_recurrence_and_window_arithmetic(app: Flask, ctx: Session, brand: Brand) -> None:
    audience = people(ctx, brand, 1)
    start = datetime(2026, 1, 31, 7, 0, tzinfo=UTC)  # 10:00 Istanbul
    campaign = make_campaign(
        ctx, app, brand, audience, send_at=start, recurrence=Recurrence.MONTHLY
    )
    feb = campaigns.next_occurrence(campaign, start)
    assert feb == datetime(2026, 2, 28, 7, 0, tzinfo=UTC)
    assert campaigns.next_occurrence(campaign, feb) == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)
    campaign.recurrence = Recurrence.WEEKLY
    campaign.recurrence_end = start + timedelta(days=10)
    assert campaigns.next_occurrence(campaign, start) == start + timedelta(days=7)
    assert campaigns.next_occurrence(campaign, start + timedelta(days=7)) is None
    campaign.window_start, campaign.window_end = 22 * 60, 2 * 60  # across midnight
    assert campaigns.in_window(campaign, NIGHT)
    assert not campaigns.in_window(campaign, NOON)


def test_scheduling_lists_every_problem(app: Flask, ctx: Session, brand: Brand) -> None:
    audience = people(ctx, brand, 1)
    campaign = make_campaign(
        ctx,
        app,
        None,
        audience,
        templates=("Merhaba {{ nick }}", "{% if %}"),
    )
    connections = {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}
    with pytest.raises(campaigns.CampaignError) as caught:
        campaigns.schedule(ctx, campaign, connections, NOON)
    text = " | ".join(caught.value.problems)
    assert "brand" in text
    assert "nick" in text
    assert "line 1" in text
    with pytest.raises(campaigns.CampaignError) as bad:
        campaigns.save(
            ctx,
            campaigns.CampaignInput(
                name="",
                traffic=Traffic.COMMERCIAL,
                sender="ÇOKUZUNGÖNDEREN",
                connection="x",
                variants=[campaigns.VariantInput("A", 60, "x")],
            ),
            user_id=None,
        )
    assert len(bad.value.problems) == 3
