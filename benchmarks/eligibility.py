"""Eligibility of a whole audience: may each of N contacts get a commercial message now?

    .venv/bin/python benchmarks/eligibility.py --contacts 1000000 \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Loads N contacts (70 % with ONAY for the brand, 5 % with RET, 1 % opted out, a few recent
messages for the frequency cap, a mix of time zones) with set-based SQL, then times
``eligibility.check`` over all of them (one query, verdicts streamed) and prints the
figures. Without --database it uses a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import collections
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flask import Flask

from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.app import create_app
from interactive.contacts import eligibility
from interactive.contacts.models import Brand, Contact
from interactive.db import db
from interactive.outbound.models import Traffic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    url, drop = scratch_database(args.database, folder)
    try:
        migrate.upgrade(url)
        app = create_app(
            {"DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(32), "LOG_LEVEL": "WARNING"},
            instance_path=folder,
        )
        _run(app, args.contacts)
    finally:
        drop()


def _load(app: Flask, count: int) -> None:
    """Set-based setup (not timed)."""
    with app.app_context(), db.transaction() as session:
        session.add(Brand(id=1, code="ACME", name="Acme", frequency_cap=3))
        session.flush()
        postgres = session.get_bind().dialect.name == "postgresql"
        numbers = (
            f"SELECT n FROM generate_series(1, {count}) AS n"
            if postgres
            else "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
            f"WHERE n < {count}) SELECT n FROM s"
        )
        zone = (
            "CASE WHEN n % 10 = 0 THEN 'America/New_York' ELSE 'Europe/Istanbul' END, "
            "CASE WHEN n % 10 = 0 THEN 'US' ELSE 'TR' END"
        )
        now = "now()" if postgres else "datetime('now')"
        statements = [
            f"INSERT INTO contacts (id, phone, time_zone, country, time_zone_manual, attributes, "
            f"created_at, updated_at) SELECT n, '+90532' || {_pad('n', postgres)}, {zone}, "
            f"false, '{{}}', {now}, {now} FROM ({numbers}) AS s",
            "INSERT INTO consent_states (contact_id, channel, brand_id, status, consent_at, "
            "event_id) SELECT n, 'MESAJ', 1, CASE WHEN n % 20 = 0 THEN 'RET' ELSE 'ONAY' END, "
            f"{now}, n FROM ({numbers}) AS s WHERE n % 4 <> 3",
            f"INSERT INTO suppressions (phone, phone_hash, reason, note, created_at, created_by) "
            f"SELECT '+90532' || {_pad('n', postgres)}, 'h' || n, 'opted_out', '', {now}, '' "
            f"FROM ({numbers}) AS s WHERE n % 100 = 7",
            f"INSERT INTO messages (connection, source, destination, body, encoding, parts_count, "
            f"traffic, state, flash, brand_id, created_at) SELECT 'sim', '4664', "
            f"'+90532' || {_pad('n', postgres)}, 'x', 'GSM7', 1, 'commercial', 'delivered', "
            f"false, 1, {now} FROM ({numbers}) AS s, (SELECT 1 UNION ALL SELECT 2 UNION ALL "
            f"SELECT 3) AS k WHERE n % 50 = 1",
        ]
        for statement in statements:
            session.execute(sa.text(statement))
    with app.app_context():
        engine = app.extensions["interactive.engine"]
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


def _pad(column: str, postgres: bool) -> str:
    return f"lpad({column}::text, 7, '0')" if postgres else f"printf('%07d', {column})"


def _run(app: Flask, count: int) -> None:
    started = time.monotonic()
    _load(app, count)
    print(f"setup: {count} contacts in {time.monotonic() - started:.1f} s")
    policy = app.config["QUIET_POLICY"]
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # noon in Istanbul, 04:00 in New York
    with app.app_context():
        session = db.session()
        brand = session.get(Brand, 1)
        started = time.monotonic()
        reasons: collections.Counter[str] = collections.Counter()
        for verdict in eligibility.check(
            session,
            sa.select(Contact.id),
            traffic=Traffic.COMMERCIAL,
            brand=brand,
            policy=policy,
            at=at,
        ):
            reasons[verdict.reason.value if verdict.reason else "allowed"] += 1
        elapsed = time.monotonic() - started
    backend = app.extensions["interactive.engine"].dialect.name
    print(
        f"backend={backend} contacts={sum(reasons.values())} seconds={elapsed:.2f} "
        f"contacts_per_second={sum(reasons.values()) / elapsed:.0f}"
    )
    print("verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))


if __name__ == "__main__":
    main()
