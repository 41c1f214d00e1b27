"""Rollups and dashboards on a large data set (PostgreSQL).

    .venv/bin/python benchmarks/analytics.py [--generate 1.0] [--requests 40] \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/interactive_bench] \
        [--redis redis://127.0.0.1:6379/10]

With ``--generate SCALE`` the data set of ``analytics_data.py`` is made first (at scale 1:
1,000,000 messages, 10,000,000 clicks, 200,000 conversions over 200 campaigns). Then:

1. **Rebuild**: ``rollups.rebuild`` over everything, timed.
2. **Incremental**: 20,000 new clicks go through the click stream and its drain, and 1,000
   conversions through ``analytics.service.record``; one run of the periodic job is timed,
   and the rollups are checked to hold every new event. The rollups are behind the raw
   events by at most the job's period (``REFRESH_EVERY_S``) plus that run.
3. **Agreement**: a rebuild after the incremental run leaves every rollup row as it was.
4. **Dashboards**: each page requested ``--requests`` times warm by a logged-in
   marketer through the app (the Flask test client: the request's work without a
   network hop), p50 and p95 per page; then the first page of the lists behind the
   numbers (``--pages-only`` does this step alone).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.analytics_data import DEFAULT_DATABASE, generate
from interactive.analytics import rollups
from interactive.analytics.models import (
    CampaignBreakdown,
    CampaignDay,
    CampaignHour,
    CampaignLift,
    ConversionSource,
    LinkHour,
)
from interactive.analytics.service import NewConversion, record
from interactive.app import create_app
from interactive.db import db
from interactive.redis_store import get_redis, key
from interactive.shortlinks import clicks as click_store
from interactive.shortlinks.jobs import drain
from interactive.shortlinks.models import Link
from interactive.web.models import Role
from interactive.web.service import create_user

PASSWORD = "benchmark password 1"
NEW_CLICKS = 20_000
NEW_CONVERSIONS = 1_000


def _snapshot(session: Any) -> list[Any]:
    rows: list[Any] = []
    for model in (CampaignHour, CampaignDay, CampaignBreakdown, CampaignLift, LinkHour):
        table = model.__table__
        keys = list(table.primary_key.columns)  # type: ignore[attr-defined]
        rows.append([tuple(r) for r in session.execute(sa.select(table).order_by(*keys))])
    return rows


def _totals(session: Any) -> tuple[int, int]:
    row = session.execute(
        sa.select(
            sa.func.sum(
                CampaignHour.clicks_human
                + CampaignHour.clicks_preview
                + CampaignHour.clicks_scanner
                + CampaignHour.clicks_head
            ),
            sa.func.sum(CampaignHour.conversions),
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _new_events(session: Any, client: Any, now: datetime) -> tuple[int, int]:
    """Clicks through the stream and the drain, conversions through ``record``; returns
    how many of each count in the rollups (human or not; goal-event conversions)."""
    links = session.execute(
        sa.select(Link.id, Link.campaign_id, Link.variant_id, Link.contact_id)
        .where(Link.campaign_id.is_not(None))
        .order_by(Link.id.desc())
        .limit(NEW_CLICKS)
    ).all()
    stream = key(click_store.STREAM)
    with client.pipeline(transaction=False) as pipe:
        for n in range(NEW_CLICKS):
            link = links[n % len(links)]
            pipe.xadd(
                stream,
                click_store.entry_fields(
                    {
                        "k": uuid.uuid4().hex[:22],
                        "l": str(link.id),
                        "t": str(now.timestamp()),
                        "m": "GET",
                        "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                    }
                ),
            )
        pipe.execute()
    stored = 0
    while True:
        batch = drain(session, client)
        stored += batch
        if not batch:
            break
    for n in range(NEW_CONVERSIONS):
        link = links[n % len(links)]
        record(
            session,
            NewConversion(
                source=ConversionSource.POSTBACK,
                event="purchase",
                idempotency_key=f"bench-{uuid.uuid4().hex}",
                occurred_at=now,
                value=Decimal("42.00"),
                campaign_id=link.campaign_id,
                variant_id=link.variant_id,
                contact_id=link.contact_id,
                link_id=link.id,
            ),
        )
    session.commit()
    return stored, NEW_CONVERSIONS


def _login(app: Any) -> Any:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context():
        session = db.session()
        create_user(
            session,
            email=email,
            password=PASSWORD,
            role=Role.MARKETER,
            locale="tr",
            timezone="Europe/Istanbul",
        )
        session.commit()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
    if found is None:
        raise SystemExit("the login page has no CSRF token")
    token = found.group(1)
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    if response.status_code not in (302, 303):
        raise SystemExit(f"login failed: {response.status_code}")
    return client


def _pages(app: Any, requests: int) -> dict[str, list[float]]:
    with app.app_context():
        ids = list(db.session().scalars(sa.text("SELECT id FROM campaigns ORDER BY id")))
    rng = random.Random(1)
    sample = rng.sample(ids, min(len(ids), requests))
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    paths = {
        "overview (all time)": ["/analytics/"] * requests,
        "overview (30 days)": [f"/analytics/?start={since}"] * requests,
        "campaign": [f"/analytics/campaigns/{cid}" for cid in sample],
        "links": ["/analytics/links"] * requests,
        # The lists behind the numbers: the first page of each (newest first).
        "rows: human clicks": ["/analytics/rows/clicks?show=human"] * requests,
        "rows: campaign clicks": [
            f"/analytics/rows/clicks?show=human&campaign={cid}" for cid in sample
        ],
        "rows: delivered (30 d)": [f"/analytics/rows/messages?show=delivered&start={since}"]
        * requests,
        "rows: campaign convs": [
            f"/analytics/rows/conversions?show=counted&campaign={cid}" for cid in sample
        ],
        "rows: opt-outs": ["/analytics/rows/replies?show=opt_out"] * requests,
    }
    client = _login(app)
    timings: dict[str, list[float]] = {}
    for name, urls in paths.items():
        client.get(urls[0])  # warm
        took = []
        for url in urls:
            started = time.perf_counter()
            response = client.get(url)
            took.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
        timings[name] = took
    return timings


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--generate", type=float, default=None, metavar="SCALE")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--pages-only", action="store_true", help="time the pages only (no rebuild or refresh)"
    )
    args = parser.parse_args()
    if args.generate is not None:
        counts = generate(args.database, args.generate)
        print("generated:", json.dumps(counts))
    app = create_app(
        {
            "DATABASE_URL": args.database,
            "REDIS_URL": args.redis,
            "SECRET_KEY": "b" * 40,
            "SHORTLINK_SECRET": "s" * 40,
            "LOG_LEVEL": "WARNING",
        },
        instance_path=tempfile.mkdtemp(prefix="bench-analytics-"),
    )
    with app.app_context():
        session = db.session()
        client = get_redis()
        if args.pages_only:
            session.close()
            _print_pages(_pages(app, args.requests))
            return
        client.delete(key(*rollups.DIRTY_CAMPAIGNS), key(*rollups.DIRTY_LINKS))
        sizes = {
            table: session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            for table in ("messages", "clicks", "conversions", "campaigns")
        }
        print("data:", json.dumps(sizes))

        started = time.perf_counter()
        done = rollups.rebuild(session)
        rebuild_s = time.perf_counter() - started
        print(f"rebuild: {done.campaigns} campaigns, {done.links} links in {rebuild_s:.1f} s")
        before = _totals(session)

        now = datetime.now(UTC)
        new_clicks, new_conversions = _new_events(session, client, now)
        started = time.perf_counter()
        run = rollups.refresh(session, client, now=now)
        refresh_s = time.perf_counter() - started
        after = _totals(session)
        print(
            f"incremental: {new_clicks} clicks and {new_conversions} conversions; one run "
            f"refreshed {run.campaigns} campaigns in {refresh_s:.1f} s; behind the raw events "
            f"by at most {rollups.REFRESH_EVERY_S} + {refresh_s:.1f} s"
        )
        print(
            f"  rollups gained {after[0] - before[0]} clicks (expected {new_clicks}) and "
            f"{after[1] - before[1]} conversions (expected {new_conversions})"
        )

        incremental = _snapshot(session)
        started = time.perf_counter()
        rollups.rebuild(session)
        print(
            f"agreement: rebuild after the incremental run "
            f"{'matches' if _snapshot(session) == incremental else 'DIFFERS'} "
            f"({time.perf_counter() - started:.1f} s)"
        )
        session.close()

    _print_pages(_pages(app, args.requests))


def _print_pages(timings: dict[str, list[float]]) -> None:
    print(f"{'page':<24} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, took in timings.items():
        print(
            f"{name:<24} {len(took):>4} {statistics.median(took):>8.1f} "
            f"{_p(took, 0.95):>8.1f} {max(took):>8.1f}"
        )


if __name__ == "__main__":
    main()
