"""Campaign fan-out: a run's audience cut into chunks of contacts, each chunk turned into
recipient decisions and QUEUED messages in one transaction.

Idempotent by construction: a chunk is DONE in the transaction that wrote its rows, and
``campaign_recipients`` has one row per (run, contact). A chunk job killed halfway leaves
nothing (its transaction rolls back) and is run again; a chunk run twice finds itself
DONE. Message ids reach the gateway only after the commit (``publish_after_commit``).

Every contact gets a stored decision: QUEUED with its message, SKIPPED with the reason
(no consent, opted out, capped, …), HELD_OUT (the control group), or DEFERRED until quiet
hours or the send window allow it; deferred recipients are decided again when due.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from interactive.contacts import eligibility
from interactive.contacts.models import Brand, Contact
from interactive.contacts.quiet_hours import QuietPolicy
from interactive.db import allocate_ids, bulk_update, copy_rows, utcnow
from interactive.outbound import campaigns, rendering
from interactive.outbound.encoding import count_segments
from interactive.outbound.models import (
    Campaign,
    CampaignChunk,
    CampaignRun,
    CampaignState,
    ChunkState,
    Message,
    MessagePart,
    PartState,
    Recipient,
    RecipientReason,
    RecipientStatus,
    RunState,
)
from interactive.outbound.service import outbound_stream
from interactive.shortlinks import service as links
from interactive.shortlinks.models import Link
from interactive.streams import publish_after_commit

log = logging.getLogger(__name__)

# What a chunk fills; analysed as they grow (``db.analyse_grown``), since the gateway looks
# its parts up by key while the fan-out is still writing them.
FILLED_TABLES = (
    Message.__tablename__,
    MessagePart.__tablename__,
    Recipient.__tablename__,
    Link.__tablename__,
)

CHUNK_SIZE = 5000
# A queued chunk whose job has not finished after this long is queued again.
STALE_CHUNK = timedelta(minutes=15)
# With a throughput cap, chunks are released at most this far ahead of their send time.
PACE_AHEAD = timedelta(seconds=60)
BUCKETS = 10_000


@dataclass
class Sending:
    """What expanding needs from the app: Redis for the outbound stream, the quiet-hour
    policy, the routes."""

    client: redis.Redis
    prefix: str
    policy: QuietPolicy
    connections: dict[str, Any]
    locale: str
    now: datetime = field(default_factory=utcnow)

    @classmethod
    def from_app(cls, client: redis.Redis, now: datetime | None = None) -> Sending:
        config = current_app.config
        return cls(
            client=client,
            prefix=str(config["REDIS_PREFIX"]),
            policy=config["QUIET_POLICY"],
            connections={c.name: c for c in config["SMPP_CONNECTION_LIST"]},
            locale=str(config["DEFAULT_LOCALE"]),
            now=now or utcnow(),
        )


# --- runs -----------------------------------------------------------------------------------


def start_due_runs(session: Session, now: datetime) -> list[int]:
    """Start a run of every SCHEDULED (or recurring, SENDING) campaign whose next run is
    due: its audience is cut into chunks, and the next occurrence set. Flushes; returns
    the new run ids."""
    due = session.scalars(
        sa.select(Campaign)
        .where(
            Campaign.state.in_([CampaignState.SCHEDULED, CampaignState.SENDING]),
            Campaign.next_run_at <= now,
        )
        .with_for_update(skip_locked=True)
    ).all()
    started = []
    for campaign in due:
        run = start_run(session, campaign, now)
        started.append(run.id)
    return started


def start_run(session: Session, campaign: Campaign, now: datetime) -> CampaignRun:
    number = (
        session.scalar(
            sa.select(sa.func.max(CampaignRun.number)).where(CampaignRun.campaign_id == campaign.id)
        )
        or 0
    ) + 1
    run = CampaignRun(
        campaign_id=campaign.id,
        number=number,
        due_at=campaign.next_run_at or now,
        started_at=now,
        state=RunState.EXPANDING,
    )
    session.add(run)
    session.flush()
    audience = campaigns.audience_select(session, campaign.audience)
    chunks = [
        {
            "run_id": run.id,
            "seq": seq,
            "first_contact_id": first,
            "last_contact_id": last,
            "state": ChunkState.PENDING,
        }
        for seq, (first, last) in enumerate(_cut(session, audience, CHUNK_SIZE), 1)
    ]
    if chunks:
        session.execute(sa.insert(CampaignChunk), chunks)
    campaign.state = CampaignState.SENDING
    campaign.next_run_at = campaigns.next_occurrence(campaign, run.due_at)
    log.info(
        "campaign run started campaign_id=%s run=%s chunks=%s",
        campaign.id,
        run.number,
        len(chunks),
    )
    return run


def _cut(session: Session, audience: sa.Select[Any], size: int) -> Iterator[tuple[int, int]]:
    """(first id, last id) of consecutive runs of ``size`` audience contacts."""
    ids = session.connection().execute(
        audience.order_by(Contact.id).execution_options(yield_per=50_000)
    )
    first = last = None
    count = 0
    for (contact_id,) in ids:
        if first is None:
            first = contact_id
        last = contact_id
        count += 1
        if count == size:
            yield first, last
            first, count = None, 0
    if first is not None and last is not None:
        yield first, last


def release_chunks(session: Session, now: datetime) -> list[int]:
    """Chunks to hand to jobs now: PENDING (or QUEUED long ago, its job lost) chunks of
    runs whose campaign is SENDING, inside its send window, and not too far ahead of its
    throughput cap. Marks them QUEUED (flushes); the caller enqueues after commit."""
    rows = session.execute(
        sa.select(CampaignChunk.id, CampaignRun.id, CampaignRun.pace_at, Campaign)
        .join(CampaignRun, CampaignRun.id == CampaignChunk.run_id)
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .where(
            Campaign.state == CampaignState.SENDING,
            CampaignRun.state == RunState.EXPANDING,
            sa.or_(
                CampaignChunk.state == ChunkState.PENDING,
                sa.and_(
                    CampaignChunk.state == ChunkState.QUEUED,
                    CampaignChunk.queued_at < now - STALE_CHUNK,
                ),
            ),
        )
        .order_by(CampaignChunk.run_id, CampaignChunk.seq)
        .limit(500)
    ).all()
    released: list[int] = []
    paced: set[int] = set()
    for chunk_id, run_id, pace_at, campaign in rows:
        if not campaigns.in_window(campaign, now):
            continue
        if campaign.rate_per_second:
            # One chunk at a time ahead of the pace: the cap spaces the messages.
            if run_id in paced or (pace_at is not None and pace_at > now + PACE_AHEAD):
                continue
            paced.add(run_id)
        released.append(chunk_id)
    if released:
        session.execute(
            sa.update(CampaignChunk)
            .where(CampaignChunk.id.in_(released))
            .values(state=ChunkState.QUEUED, queued_at=now)
            .execution_options(synchronize_session=False)
        )
    return released


def finish_runs(session: Session, now: datetime) -> None:
    """Runs whose chunks are all done are SENT; SENT runs with no deferred recipient left
    are DONE; a campaign with no run left to do and no next occurrence is COMPLETED."""
    open_chunks = (
        sa.select(CampaignChunk.id)
        .where(
            CampaignChunk.run_id == CampaignRun.id,
            CampaignChunk.state.in_([ChunkState.PENDING, ChunkState.QUEUED]),
        )
        .exists()
    )
    session.execute(
        sa.update(CampaignRun)
        .where(CampaignRun.state == RunState.EXPANDING, ~open_chunks)
        .values(state=RunState.SENT)
        .execution_options(synchronize_session=False)
    )
    waiting = (
        sa.select(Recipient.id)
        .where(Recipient.run_id == CampaignRun.id, Recipient.status == RecipientStatus.DEFERRED)
        .exists()
    )
    session.execute(
        sa.update(CampaignRun)
        .where(CampaignRun.state == RunState.SENT, ~waiting)
        .values(state=RunState.DONE, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    unfinished = (
        sa.select(CampaignRun.id)
        .where(
            CampaignRun.campaign_id == Campaign.id,
            CampaignRun.state.in_([RunState.EXPANDING, RunState.SENT]),
        )
        .exists()
    )
    session.execute(
        sa.update(Campaign)
        .where(Campaign.state == CampaignState.SENDING, Campaign.next_run_at.is_(None), ~unfinished)
        .values(state=CampaignState.COMPLETED)
        .execution_options(synchronize_session=False)
    )


# --- expanding ------------------------------------------------------------------------------


def expand_chunk(session: Session, chunk_id: int, sending: Sending) -> int:
    """Decide every contact of a chunk and queue their messages (flushes). Returns how
    many messages were queued; a chunk already DONE or CANCELLED, or whose campaign is not
    SENDING (paused, cancelled), is left as it is."""
    chunk = session.get(CampaignChunk, chunk_id, with_for_update=True)
    if chunk is None or chunk.state in (ChunkState.DONE, ChunkState.CANCELLED):
        return 0
    run = session.get(CampaignRun, chunk.run_id)
    campaign = session.get(Campaign, run.campaign_id) if run else None
    if run is None or campaign is None or campaign.state != CampaignState.SENDING:
        if campaign is not None and campaign.state == CampaignState.PAUSED:
            chunk.state = ChunkState.PENDING  # released again on resume
        return 0
    audience = campaigns.audience_select(session, campaign.audience).where(
        Contact.id.between(chunk.first_contact_id, chunk.last_contact_id)
    )
    already = set(
        session.scalars(
            sa.select(Recipient.contact_id).where(
                Recipient.run_id == run.id,
                Recipient.contact_id.between(chunk.first_contact_id, chunk.last_contact_id),
            )
        )
    )
    queued = _decide(session, campaign, run, audience, sending, skip=already, redo=None)
    chunk.state = ChunkState.DONE
    chunk.done_at = sending.now
    return queued


def release_deferred(session: Session, sending: Sending, limit: int = CHUNK_SIZE) -> int:
    """Decide again the DEFERRED recipients that are due, of campaigns that are SENDING
    (flushes); returns how many messages were queued."""
    due = session.execute(
        sa.select(Recipient.run_id, Recipient.contact_id, Recipient.id)
        .join(Campaign, Campaign.id == Recipient.campaign_id)
        .where(
            Recipient.status == RecipientStatus.DEFERRED,
            Recipient.not_before <= sending.now,
            Campaign.state == CampaignState.SENDING,
        )
        .order_by(Recipient.run_id, Recipient.contact_id)
        .limit(limit)
    ).all()
    by_run: dict[int, dict[int, int]] = {}
    for run_id, contact_id, recipient_id in due:
        by_run.setdefault(run_id, {})[contact_id] = recipient_id
    queued = 0
    for run_id, recipients in by_run.items():
        run = session.get(CampaignRun, run_id)
        if run is None:
            continue
        campaign = session.get(Campaign, run.campaign_id)
        if campaign is None:
            continue
        audience = sa.select(Contact.id).where(Contact.id.in_(list(recipients)))
        queued += _decide(session, campaign, run, audience, sending, skip=set(), redo=recipients)
    return queued


@dataclass
class _Decision:
    contact_id: int
    phone: str
    status: RecipientStatus
    reason: RecipientReason | None = None
    not_before: datetime | None = None
    variant_id: int | None = None
    message_index: int | None = None


def _decide(
    session: Session,
    campaign: Campaign,
    run: CampaignRun,
    audience: sa.Select[Any],
    sending: Sending,
    *,
    skip: set[int],
    redo: dict[int, int] | None,
) -> int:
    """Decisions and messages for the contacts of ``audience`` (minus ``skip``); with
    ``redo`` (contact id → recipient id) the existing DEFERRED rows are updated."""
    brand = session.get(Brand, campaign.brand_id) if campaign.brand_id else None
    connection = sending.connections.get(campaign.connection)
    variants = sorted(campaign.variants, key=lambda v: v.id)
    known = campaigns.template_variables(session)
    templates = {v.id: rendering.compile_template(v.template, known) for v in variants}
    footer = campaigns.footer(campaign.traffic, brand, connection, sending.locale)
    window_opens = (
        None
        if campaigns.in_window(campaign, sending.now)
        else campaigns.window_opens(campaign, sending.now)
    )
    verdicts = eligibility.check(
        session,
        audience,
        traffic=campaign.traffic,
        brand=brand,
        policy=sending.policy,
        at=sending.now,
    )
    decisions: list[_Decision] = []
    to_send: list[_Decision] = []
    for verdict in verdicts:
        if verdict.contact_id in skip:
            continue
        decision = _Decision(verdict.contact_id, verdict.phone, RecipientStatus.QUEUED)
        decisions.append(decision)
        if not rendering.is_e164(verdict.phone):
            decision.status, decision.reason = (
                RecipientStatus.SKIPPED,
                RecipientReason.INVALID_NUMBER,
            )
            continue
        if verdict.reason is not None and not verdict.deferred:
            decision.status = RecipientStatus.SKIPPED
            decision.reason = RecipientReason(verdict.reason.value)
            continue
        bucket = _bucket(campaign.id, verdict.contact_id)
        if bucket < campaign.holdout_percent * BUCKETS // 100:
            decision.status, decision.reason = RecipientStatus.HELD_OUT, RecipientReason.HOLDOUT
            continue
        decision.variant_id = _variant(variants, bucket, campaign.holdout_percent)
        if verdict.deferred:
            decision.status, decision.reason = RecipientStatus.DEFERRED, RecipientReason.QUIET_HOURS
            decision.not_before = verdict.not_before
            continue
        if window_opens is not None:
            decision.status, decision.reason = RecipientStatus.DEFERRED, RecipientReason.SEND_WINDOW
            decision.not_before = window_opens
            continue
        to_send.append(decision)
    message_ids = _queue_messages(
        session, campaign, run, to_send, templates, footer, connection, sending
    )
    _store_decisions(session, campaign, run, decisions, message_ids, sending.now, redo)
    return len(message_ids)


def _bucket(campaign_id: int, contact_id: int) -> int:
    """A stable bucket in 0..9999 per (campaign, contact): the same contact stays in the
    same variant and in (or out of) the hold-out over every run of a campaign."""
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def _variant(variants: Sequence[Any], bucket: int, holdout: int) -> int | None:
    if not variants:
        return None
    low = holdout * BUCKETS // 100
    span = BUCKETS - low
    position = (bucket - low) * 100  # percent × span
    total = sum(v.share for v in variants) or 1
    edge = 0
    for variant in variants:
        edge += variant.share * span
        if position < edge * 100 // total:
            return int(variant.id)
    return int(variants[-1].id)


def _queue_messages(
    session: Session,
    campaign: Campaign,
    run: CampaignRun,
    decisions: list[_Decision],
    templates: dict[int, rendering.Template],
    footer: str,
    connection: Any,
    sending: Sending,
) -> dict[int, int]:
    """Render, shorten and insert the messages of ``decisions``; contact id → message id.
    A recipient whose text cannot be rendered is SKIPPED with TEMPLATE_ERROR."""
    if not decisions:
        return {}
    contacts = {
        row.id: row._mapping
        for row in session.execute(
            sa.select(
                Contact.id, Contact.first_name, Contact.last_name, Contact.phone, Contact.attributes
            ).where(Contact.id.in_([d.contact_id for d in decisions]))
        )
    }
    texts: list[str] = []
    ready: list[_Decision] = []
    for decision in decisions:
        template = templates.get(decision.variant_id or -1)
        contact = contacts.get(decision.contact_id)
        if template is None or contact is None:
            decision.status, decision.reason = (
                RecipientStatus.SKIPPED,
                RecipientReason.TEMPLATE_ERROR,
            )
            continue
        try:
            text = template.render(rendering.variables_of(dict(contact)))
        except rendering.TemplateError as exc:
            log.warning(
                "campaign text failed campaign_id=%s contact_id=%s error=%s",
                campaign.id,
                decision.contact_id,
                exc,
            )
            decision.status, decision.reason = (
                RecipientStatus.SKIPPED,
                RecipientReason.TEMPLATE_ERROR,
            )
            continue
        texts.append(text)
        ready.append(decision)
    # PostgreSQL: ids first, so links name their message and rows go in by COPY.
    preallocated = allocate_ids(session, Message.__table__, len(ready))  # type: ignore[arg-type]
    pending: list[links.PlannedLinks] = []
    bodies, codes = _shorten(session, campaign, run, ready, texts, preallocated, pending)
    turkish_shift = bool(connection.turkish_shift) if connection is not None else False
    now = sending.now
    rows: list[dict[str, Any]] = []
    counts: list[int] = []
    for decision, body in zip(ready, bodies, strict=True):
        body = rendering.with_footer(body, footer)
        count = count_segments(body, turkish_shift)
        counts.append(count.parts)
        rows.append(
            {
                "campaign_id": campaign.id,
                "variant_id": decision.variant_id,
                "contact_id": decision.contact_id,
                "brand_id": campaign.brand_id,
                "connection": campaign.connection,
                "source": campaign.sender,
                "destination": decision.phone,
                "body": body,
                "encoding": count.encoding,
                "parts_count": count.parts,
                "traffic": campaign.traffic,
                "state": PartState.QUEUED,
                "flash": False,
                "validity_minutes": campaign.validity_minutes,
                "created_at": now,
            }
        )
    if not rows:
        return {}
    if preallocated is not None:
        ids = preallocated
        for row, message_id in zip(rows, ids, strict=True):
            row["id"] = message_id
        copy_rows(session, Message.__table__, rows)  # type: ignore[arg-type]
    else:
        ids = list(
            session.scalars(
                sa.insert(Message).returning(Message.id, sort_by_parameter_order=True), rows
            )
        )
    parts = [
        {"message_id": message_id, "seq": seq, "state": PartState.QUEUED, "attempts": 0}
        for message_id, count in zip(ids, counts, strict=True)
        for seq in range(1, count + 1)
    ]
    copy_rows(session, MessagePart.__table__, parts)  # type: ignore[arg-type]
    for planned in pending:
        planned.write(session)
    if preallocated is None:
        links.set_message_ids(
            session,
            [(code, m) for made, m in zip(codes, ids, strict=True) for code in made],
        )
    by_contact = {d.contact_id: m for d, m in zip(ready, ids, strict=True)}
    _publish(session, campaign, run, ids, sending)
    return by_contact


def _shorten(
    session: Session,
    campaign: Campaign,
    run: CampaignRun,
    decisions: list[_Decision],
    texts: list[str],
    message_ids: list[int] | None,
    pending: list[links.PlannedLinks],
) -> tuple[list[str], list[list[str]]]:
    """The texts with one new short link per recipient and URL (bulk-created), and the
    codes made for each text."""
    if not campaign.track_links:
        return [rendering.replace_urls(t, None) for t in texts], [[] for _ in texts]
    found = [rendering.find_urls(t) for t in texts]
    utm = campaigns.utm_of(campaign)
    items = [
        links.NewLink(
            target_url=rendering.full_url(url),
            campaign_id=campaign.id,
            run_id=run.id,
            variant_id=decision.variant_id,
            contact_id=decision.contact_id,
            message_id=message_ids[n] if message_ids is not None else None,
            utm=utm,
        )
        for n, (decision, urls) in enumerate(zip(decisions, found, strict=True))
        for url in urls
    ]
    planned = links.plan_campaign_links(session, items) if message_ids is not None else None
    if planned is not None:
        codes = iter(planned.codes)
        pending.append(planned)
    else:
        codes = iter(links.create_campaign_links(session, items) if items else [])
    bodies: list[str] = []
    made: list[list[str]] = []
    for text, urls in zip(texts, found, strict=True):
        mine = {url: next(codes) for url in urls}
        short = {url: links.short_url(code) for url, code in mine.items()}
        bodies.append(rendering.replace_urls(text, short.__getitem__))
        made.append(list(mine.values()))
    return bodies, made


def _publish(
    session: Session, campaign: Campaign, run: CampaignRun, ids: list[int], sending: Sending
) -> None:
    stream = outbound_stream(sending.prefix, campaign.connection)
    if not campaign.rate_per_second:
        publish_after_commit(session, sending.client, stream, [{"id": m} for m in ids])
        return
    # The throughput cap: messages spaced 1/rate apart from where the run's pace stands.
    session.refresh(run, with_for_update=True)
    start = max(sending.now, run.pace_at or sending.now)
    step = 1.0 / campaign.rate_per_second
    base = start.timestamp()
    items = [{"id": m, "not_before": base + i * step} for i, m in enumerate(ids)]
    run.pace_at = start + timedelta(seconds=len(ids) * step)
    publish_after_commit(session, sending.client, stream, items)


def _store_decisions(
    session: Session,
    campaign: Campaign,
    run: CampaignRun,
    decisions: list[_Decision],
    message_ids: dict[int, int],
    now: datetime,
    redo: dict[int, int] | None,
) -> None:
    rows = []
    for d in decisions:
        message_id = message_ids.get(d.contact_id)
        status = d.status
        if status == RecipientStatus.QUEUED and message_id is None:
            status, d.reason = RecipientStatus.SKIPPED, d.reason or RecipientReason.TEMPLATE_ERROR
        rows.append(
            {
                "campaign_id": campaign.id,
                "run_id": run.id,
                "contact_id": d.contact_id,
                "phone": d.phone,
                "variant_id": d.variant_id,
                "status": status,
                "reason": d.reason,
                "not_before": d.not_before,
                "message_id": message_id,
                "decided_at": now,
            }
        )
    if redo is None:
        copy_rows(session, Recipient.__table__, rows)  # type: ignore[arg-type]
        return
    updates = [
        {
            "id": redo[row["contact_id"]],
            "variant_id": row["variant_id"],
            "status": row["status"],
            "reason": row["reason"],
            "not_before": row["not_before"],
            "message_id": row["message_id"],
            "decided_at": now,
        }
        for row in rows
        if row["contact_id"] in redo
    ]
    gone = set(redo) - {row["contact_id"] for row in rows}
    bulk_update(session, Recipient.__table__, updates)  # type: ignore[arg-type]
    if gone:  # erased since: nothing to send
        session.execute(
            sa.update(Recipient)
            .where(Recipient.id.in_([redo[c] for c in gone]))
            .values(status=RecipientStatus.SKIPPED, reason=RecipientReason.ERASED, decided_at=now)
            .execution_options(synchronize_session=False)
        )
