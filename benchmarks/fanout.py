"""Campaign fan-out: a commercial campaign with one tracked link per recipient, expanded
for N contacts by W worker processes (eligibility decided, texts rendered, links created,
messages, parts and recipient rows written in bulk, ids published to the outbound stream).

    .venv/bin/python benchmarks/fanout.py --contacts 1000000 --workers 2 \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres] \
        [--redis redis://127.0.0.1:6379/14]

Loads N contacts (90 % with ONAY for the brand) in one list with set-based SQL (not timed),
then times the run: cutting the audience into chunks, then every chunk job. Prints
recipients per second and checks the counts (one message and one link per eligible
recipient, every id on the stream).
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flask import Flask

from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.app import create_app
from interactive.db import db
from interactive.heap import freeze_startup_heap
from interactive.outbound import campaigns, fanout
from interactive.outbound.models import Message, Recipient, Traffic
from interactive.outbound.service import outbound_stream
from interactive.shortlinks.models import Link

NOON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # inside quiet hours' allowed time
TEMPLATE = "Merhaba {{ first_name | default('dostum') }}! Kış indirimi: https://shop.example/kis"


def campaign_input(connection: str) -> campaigns.CampaignInput:
    """The benchmark's campaign: commercial, two variants, one tracked link each, to the
    list the loader fills."""
    return campaigns.CampaignInput(
        name="Kış indirimi",
        traffic=Traffic.COMMERCIAL,
        sender="ACME",
        connection=connection,
        brand_id=1,
        audience={"lists": [1]},
        variants=[
            campaigns.VariantInput("A", 50, TEMPLATE),
            campaigns.VariantInput("B", 50, TEMPLATE + " Son gün!"),
        ],
    )


def _app(url: str, redis_url: str, folder: Path, prefix: str) -> Flask:
    return create_app(
        {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": prefix,
            "SECRET_KEY": "b" * 40,
            "SHORTLINK_SECRET": "s" * 40,
            "SHORTLINK_BASE_URL": "https://k.example",
            "LOG_LEVEL": "WARNING",
        },
        instance_path=folder,
    )


def _load(app: Flask, count: int) -> int:
    with app.app_context(), db.transaction() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        numbers = (
            f"SELECT n FROM generate_series(1, {count}) AS n"
            if postgres
            else "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
            f"WHERE n < {count}) SELECT n FROM s"
        )
        pad = "lpad(n::text, 7, '0')" if postgres else "printf('%07d', n)"
        now = "now()" if postgres else "datetime('now')"
        for statement in (
            "INSERT INTO brands (id, code, name, frequency_days, help_text, opt_out_text, "
            f"created_at) VALUES (1, 'ACME', 'Acme', 7, '', '', {now})",
            f"INSERT INTO contact_lists (id, name, created_at) VALUES (1, 'all', {now})",
            "INSERT INTO contacts (id, phone, first_name, time_zone, country, time_zone_manual, "
            f"attributes, created_at, updated_at) SELECT n, '+90532' || {pad}, "
            "CASE WHEN n % 3 = 0 THEN NULL ELSE 'Ad' || n END, 'Europe/Istanbul', 'TR', false, "
            f"'{{}}', {now}, {now} FROM ({numbers}) AS s",
            "INSERT INTO contact_list_members (list_id, contact_id, added_at) "
            f"SELECT 1, n, {now} FROM ({numbers}) AS s",
            "INSERT INTO consent_states (contact_id, channel, brand_id, status, consent_at, "
            f"event_id) SELECT n, 'MESAJ', 1, 'ONAY', {now}, n FROM ({numbers}) AS s "
            "WHERE n % 10 <> 0",
        ):
            session.execute(sa.text(statement))
    engine = app.extensions["interactive.engine"]
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return count


def _worker(
    url: str, redis_url: str, folder: str, prefix: str, chunks: multiprocessing.Queue
) -> None:
    app = _app(url, redis_url, Path(folder), prefix)
    freeze_startup_heap()  # as ``interactive worker`` does
    client = redis.Redis.from_url(redis_url)
    while True:
        chunk_id = chunks.get()
        if chunk_id is None:
            return
        with app.app_context(), db.transaction() as session:
            sending = fanout.Sending.from_app(client, NOON)
            fanout.expand_chunk(session, chunk_id, sending)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    url, drop = scratch_database(args.database, folder)
    prefix = f"bench-{secrets.token_hex(3)}"
    client = redis.Redis.from_url(args.redis)
    try:
        migrate.upgrade(url)
        app = _app(url, args.redis, folder, prefix)
        started = time.monotonic()
        _load(app, args.contacts)
        print(f"setup: {args.contacts} contacts in {time.monotonic() - started:.1f} s")
        with app.app_context(), db.transaction() as session:
            campaign = campaigns.save(session, campaign_input("simulator"), user_id=None)
            connections = {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}
            campaigns.schedule(session, campaign, connections, NOON)
        started = time.monotonic()
        with app.app_context(), db.transaction() as session:
            fanout.start_due_runs(session, NOON)
            chunk_ids = fanout.release_chunks(session, NOON)
        cut = time.monotonic() - started
        queue: multiprocessing.Queue = multiprocessing.Queue()
        for chunk_id in chunk_ids:
            queue.put(chunk_id)
        workers = [
            multiprocessing.Process(
                target=_worker, args=(url, args.redis, str(folder), prefix, queue)
            )
            for _ in range(args.workers)
        ]
        for _ in workers:
            queue.put(None)
        for process in workers:
            process.start()
        for process in workers:
            process.join()
        elapsed = time.monotonic() - started
        with app.app_context():
            session = db.session()
            recipients = session.scalar(sa.select(sa.func.count()).select_from(Recipient))
            messages = session.scalar(sa.select(sa.func.count()).select_from(Message))
            links = session.scalar(sa.select(sa.func.count()).select_from(Link))
            stream = client.xlen(outbound_stream(prefix, "simulator"))
        backend = app.extensions["interactive.engine"].dialect.name
        print(
            f"backend={backend} workers={args.workers} chunks={len(chunk_ids)} "
            f"cut_seconds={cut:.2f} seconds={elapsed:.1f} "
            f"recipients_per_second={(recipients or 0) / elapsed:.0f}"
        )
        print(f"recipients={recipients} messages={messages} links={links} stream={stream}")
        assert recipients == args.contacts
        assert messages == links == stream
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        drop()


if __name__ == "__main__":
    main()
