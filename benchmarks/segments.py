"""Time segment counts over a million contacts, on PostgreSQL and SQLite.

    .venv/bin/python benchmarks/segments.py [--contacts 1000000] [--runs 3] [--explain] \
        [--postgresql postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--no-sqlite]

Builds a fresh database per backend with the real migrations, loads it in SQL (PostgreSQL:
INSERT … SELECT generate_series; SQLite: a recursive CTE) — contacts with two attributes
(city, tier), memberships of two lists, SMS consent states for one brand, 200,000 messages
and 100,000 inbound replies over 60 days — then times ``segments.count`` (one SQL COUNT)
for a few realistic definitions: best of ``--runs``, after one warm-up. The PostgreSQL
database is dropped at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy.orm import Session

from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.contacts import segments
from interactive.db import make_engine
from interactive.models import load_all_models

CITIES = [
    "İstanbul",
    "Ankara",
    "İzmir",
    "Bursa",
    "Antalya",
    "Adana",
    "Konya",
    "Muğla",
    "Van",
    "Rize",
]
TIERS = ["gold", "silver", "bronze"]


def _case(expr: str, values: list[str]) -> str:
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"CASE ({expr}) % {len(values)} {whens} END"


def _load_postgresql(connection: sa.Connection, n: int) -> None:
    now = "now()"
    sqls = [
        f"""INSERT INTO contacts (phone, first_name, last_name, language, country, time_zone,
            time_zone_manual, attributes, created_at, updated_at)
            SELECT '+9053' || lpad(g::text, 8, '0'), 'Ad' || (g % 5000), 'Soyad' || (g % 7000),
                   'tr', 'TR', 'Europe/Istanbul', false,
                   json_build_object('city', {_case("g", CITIES)},
                                     'tier', {_case("g / 10", TIERS)}),
                   {now}, {now}
            FROM generate_series(1, {n}) g""",
        """INSERT INTO contact_list_members (list_id, contact_id, added_at)
            SELECT 1, id, now() FROM contacts WHERE id % 5 = 0""",
        """INSERT INTO contact_list_members (list_id, contact_id, added_at)
            SELECT 2, id, now() FROM contacts WHERE id % 3 = 0""",
        """INSERT INTO consent_states (contact_id, channel, brand_id, status, consent_at, event_id)
            SELECT id, 'MESAJ', 1, CASE WHEN id % 10 = 6 THEN 'RET' ELSE 'ONAY' END,
                   now(), id
            FROM contacts WHERE id % 10 < 7""",
        f"""INSERT INTO messages (campaign_id, contact_id, brand_id, connection, source,
            destination, body, encoding, parts_count, traffic, state, flash, created_at)
            SELECT g % 20, NULL, 1, 'c1', 'ACME', '9053' || lpad(((g * 7) % {n} + 1)::text, 8, '0'),
                   'Kampanya', 'gsm', 1, 'commercial', 'delivered', false,
                   now() - make_interval(days => g % 60)
            FROM generate_series(1, 200000) g""",
        f"""INSERT INTO inbound_messages (connection, source, destination, text, raw, data_coding,
            parts_count, partial, replaced, dedup_key, received_at)
            SELECT 'c1', '9053' || lpad(((g * 13) % {n} + 1)::text, 8, '0'), '4664', 'EVET',
                   '\\x45'::bytea, 0, 1, false, false, md5(g::text),
                   now() - make_interval(days => g % 60)
            FROM generate_series(1, 100000) g""",
    ]
    for sql in sqls:
        connection.exec_driver_sql(sql.replace("%", "%%"))  # psycopg: % starts a placeholder


def _load_sqlite(connection: sa.Connection, n: int) -> None:
    series = "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n})"
    stamp = "strftime('%Y-%m-%d %H:%M:%f000', 'now', '-' || (x % 60) || ' days')"
    now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    sqls = [
        f"""INSERT INTO contacts (phone, first_name, last_name, language, country, time_zone,
            time_zone_manual, attributes, created_at, updated_at)
            {series.format(n=n)}
            SELECT '+9053' || printf('%08d', x), 'Ad' || (x % 5000), 'Soyad' || (x % 7000),
                   'tr', 'TR', 'Europe/Istanbul', 0,
                   json_object('city', {_case("x", CITIES)}, 'tier', {_case("x / 10", TIERS)}),
                   {now}, {now}
            FROM g""",
        f"INSERT INTO contact_list_members SELECT 1, id, {now} FROM contacts WHERE id % 5 = 0",
        f"INSERT INTO contact_list_members SELECT 2, id, {now} FROM contacts WHERE id % 3 = 0",
        f"""INSERT INTO consent_states (contact_id, channel, brand_id, status, consent_at, event_id)
            SELECT id, 'MESAJ', 1, CASE WHEN id % 10 = 6 THEN 'RET' ELSE 'ONAY' END, {now}, id
            FROM contacts WHERE id % 10 < 7""",
        f"""INSERT INTO messages (campaign_id, contact_id, brand_id, connection, source,
            destination, body, encoding, parts_count, traffic, state, flash, created_at)
            {series.format(n=200000)}
            SELECT x % 20, NULL, 1, 'c1', 'ACME', '9053' || printf('%08d', (x * 7) % {n} + 1),
                   'Kampanya', 'gsm', 1, 'commercial', 'delivered', 0, {stamp}
            FROM g""",
        f"""INSERT INTO inbound_messages (connection, source, destination, text, raw, data_coding,
            parts_count, partial, replaced, dedup_key, received_at)
            {series.format(n=100000)}
            SELECT 'c1', '9053' || printf('%08d', (x * 13) % {n} + 1), '4664', 'EVET', x'45', 0, 1,
                   0, 0, hex(x), {stamp}
            FROM g""",
    ]
    for sql in sqls:
        connection.exec_driver_sql(sql)


def _fixtures(connection: sa.Connection) -> None:
    connection.exec_driver_sql(
        "INSERT INTO brands (id, code, name, frequency_days, help_text, opt_out_text, created_at) "
        "VALUES (1, 'acme', 'Acme', 7, '', '', CURRENT_TIMESTAMP)"
    )
    for key in ("city", "tier"):
        connection.exec_driver_sql(
            "INSERT INTO contact_attributes (key, label, type, created_at) "
            f"VALUES ('{key}', '{key}', 'text', CURRENT_TIMESTAMP)"
        )
    for list_id, name in ((1, "VIP"), (2, "Newsletter")):
        connection.exec_driver_sql(
            f"INSERT INTO contact_lists (id, name, created_at) VALUES ({list_id}, '{name}', "
            "CURRENT_TIMESTAMP)"
        )


SEGMENTS: dict[str, dict[str, Any]] = {
    "city = İzmir AND consent ONAY": {
        "match": "all",
        "conditions": [
            {"kind": "attribute", "key": "city", "op": "=", "value": "İzmir"},
            {"kind": "consent", "brand_id": 1, "status": "ONAY"},
        ],
    },
    "in list VIP": {"match": "all", "conditions": [{"kind": "list", "op": "in", "list_id": 1}]},
    "replied in 30 days": {"match": "all", "conditions": [{"kind": "replied", "days": 30}]},
    "tier = gold AND not in Newsletter AND consent ONAY": {
        "match": "all",
        "conditions": [
            {"kind": "attribute", "key": "tier", "op": "=", "value": "gold"},
            {"kind": "list", "op": "not_in", "list_id": 2},
            {"kind": "consent", "brand_id": 1, "status": "ONAY"},
        ],
    },
    "messaged in 7 days": {"match": "all", "conditions": [{"kind": "messaged", "days": 7}]},
    "replied to campaign 3 within 2 days": {
        "match": "all",
        "conditions": [{"kind": "replied_to_campaign", "campaign_id": 3, "days": 2}],
    },
}


def run(url: str, n: int, runs: int, explain: bool) -> None:
    migrate.upgrade(url)
    load_all_models()
    engine = make_engine(url)
    dialect = engine.dialect.name
    started = time.perf_counter()
    with engine.begin() as connection:
        _fixtures(connection)
        (_load_postgresql if dialect == "postgresql" else _load_sqlite)(connection, n)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    print(f"{dialect}: loaded {n:,} contacts in {time.perf_counter() - started:.1f} s")
    with Session(engine) as session:
        for label, definition in SEGMENTS.items():
            segments.count(session, definition)  # warm-up (caches, plan)
            timings = []
            for _ in range(runs):
                t0 = time.perf_counter()
                total = segments.count(session, definition)
                timings.append(time.perf_counter() - t0)
            print(f"  {label:<55} {total:>9,}  best {min(timings) * 1000:8.1f} ms")
            if explain and dialect == "postgresql":
                where = segments.to_where(session, definition)
                query = sa.select(sa.func.count()).select_from(segments.Contact).where(where)
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                for (line,) in session.execute(sa.text("EXPLAIN ANALYZE " + sql)):
                    print("    " + line)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE (PostgreSQL)")
    args = parser.parse_args()
    if not args.no_postgresql:
        with tempfile.TemporaryDirectory() as folder:
            url, drop = scratch_database(args.postgresql, Path(folder))
            try:
                run(url, args.contacts, args.runs, args.explain)
            finally:
                drop()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{Path(folder) / 'bench.db'}", args.contacts, args.runs, args.explain)


if __name__ == "__main__":
    main()
