"""Jobs of campaigns: the periodic tick that starts due runs and hands out chunks, and the
chunk job that turns a chunk of the audience into messages."""

from __future__ import annotations

import logging

from interactive.db import after_commit, analyse_grown, db, utcnow
from interactive.outbound import fanout
from interactive.queue import job
from interactive.redis_store import get_redis
from interactive.scheduler import Periodic

log = logging.getLogger(__name__)


def chunk_job_id(chunk_id: int, queued_at: float) -> str:
    return f"campaign-chunk-{chunk_id}-{int(queued_at)}"


@job("default", timeout=1800, ttl=24 * 3600)
def expand_campaign_chunk(chunk_id: int) -> int:
    """Expand one chunk (see ``fanout.expand_chunk``); safe to run twice. Returns the
    messages queued."""
    sending = fanout.Sending.from_app(get_redis())
    session = db.session()
    queued = fanout.expand_chunk(session, chunk_id, sending)
    if queued:
        engine = db.engine
        after_commit(session, lambda: analyse_grown(engine, fanout.FILLED_TABLES))
    log.info("campaign chunk expanded chunk_id=%s messages=%s", chunk_id, queued)
    return queued


@job("urgent", timeout=300, ttl=60)
def campaign_tick() -> dict[str, int]:
    """Start due runs, hand out the chunks that may go now, decide due deferred
    recipients, and close finished runs. One transaction; chunk jobs are enqueued after
    it commits."""
    session = db.session()
    now = utcnow()
    started = fanout.start_due_runs(session, now)
    chunks = fanout.release_chunks(session, now)
    for chunk_id in chunks:
        expand_campaign_chunk.enqueue_after_commit(
            session, chunk_id, job_id=chunk_job_id(chunk_id, now.timestamp())
        )
    released = fanout.release_deferred(session, fanout.Sending.from_app(get_redis(), now))
    fanout.finish_runs(session, now)
    return {"runs": len(started), "chunks": len(chunks), "deferred_sent": released}


PERIODIC = [Periodic("campaigns", 2, campaign_tick)]
