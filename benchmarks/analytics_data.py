"""A realistic analytics data set in a PostgreSQL database of its own, generated in SQL.

    .venv/bin/python benchmarks/analytics_data.py [--scale 0.01] [--seed 1] \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/interactive_bench]

At scale 1: 200 campaigns (one run each, 1–3 variants, a brand, 85 % with the goal
"conversion"/"purchase", 40 % of them with a hold-out of 2–8 %), 1,000,000 messages over
the last 60 days (Zipf-sized campaigns: a few large, many small; 90 % delivered within
seconds to minutes, the rest failed with error codes, expired, or still accepted or
submitting), one recipient row per message plus held-out and skipped ones (about 5 %
more), one tracked link per message, about 10,000,000 clicks (human 75 %, preview 15 %,
scanner 7 %, HEAD 3 %, on half of the delivered messages' links), 200,000 purchase
conversions (10–500 TRY, after a human click; a few from the hold-out groups, attributed to
no campaign), replies to 2 % of the delivered messages (a fifth of them opt-outs) and one
contact per phone. ``--scale`` multiplies every count.

The database is created if missing and migrated to head (what ``interactive db upgrade``
does). Its campaign, message, link, click, conversion, inbound and contact tables are
emptied first (``TRUNCATE … CASCADE``, which also empties what references them: parts,
receipts, consent, threads, bookings) together with any rollup tables; users, API keys,
brands and settings are kept. Rows are made by ``INSERT … SELECT`` over
``generate_series``, with hash-derived pseudo-random numbers (the same ``--seed`` gives the
same data). Secondary indexes, unique and foreign-key constraints of the loaded tables are
dropped for the load and rebuilt after it, all in one transaction, then VACUUM ANALYZE.

Other benchmarks import :func:`generate` (after putting the repository on ``sys.path``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interactive import migrate
from interactive.contacts.models import Brand
from interactive.db import make_engine
from interactive.outbound.encoding import count_segments
from interactive.outbound.models import Campaign, CampaignRun, Variant
from interactive.shortlinks import codec

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/interactive_bench"

CAMPAIGNS = 200
MESSAGES = 1_000_000
CLICKS = 10_000_000
CONVERSIONS = 200_000
REPLY_SHARE = 0.02  # of delivered messages
CONTACTS = 500_000  # the population campaigns draw their audiences from
CONTROL_CONVERSION_RATE = 0.10  # held-out recipients who buy anyway
SHORT_CODE = "4664"
DAYS = 60

# Tables the data set fills; ``TRUNCATE … CASCADE`` empties them and what references them.
TABLES = (
    "campaigns",
    "campaign_variants",
    "campaign_runs",
    "campaign_recipients",
    "messages",
    "links",
    "clicks",
    "conversions",
    "inbound_messages",
    "contacts",
)
# Loaded by the million: their secondary indexes are built once, after the load.
BULK_TABLES = (
    "campaign_recipients",
    "messages",
    "links",
    "clicks",
    "conversions",
    "inbound_messages",
    "contacts",
)
# Ids set here, so the sequences must be moved past them.
EXPLICIT_IDS = (
    "campaigns",
    "campaign_variants",
    "campaign_runs",
    "campaign_recipients",
    "messages",
    "links",
    "contacts",
)

BRANDS = (
    ("bench-moda", "Bench Moda"),
    ("bench-market", "Bench Market"),
    ("bench-tech", "Bench Tech"),
)
THEMES = (
    ("Bahar indirimi", "bahar"),
    ("Hafta sonu fırsatı", "hafta-sonu"),
    ("Yeni sezon", "yeni-sezon"),
    ("Kargo bedava", "kargo"),
    ("Sepette %20", "sepet"),
    ("Okula dönüş", "okul"),
    ("Kasım fırsatları", "kasim"),
    ("Sadakat puanı", "puan"),
)
SKIP_REASONS = (
    "no_consent",
    "no_consent",
    "opted_out",
    "frequency_cap",
    "frequency_cap",
    "blocked",
    "failing",
    "invalid_number",
    "consent_revoked",
    "erased",
)
HUMAN_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
)
PREVIEW_AGENTS = (
    "WhatsApp/2.24.6.77 A",
    "facebookexternalhit/1.1",
    "Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36 Google-PageRenderer Google",
    "TelegramBot (like TwitterBot)",
)
SCANNER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) HeadlessChrome/119.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
)
REPLIES = (  # (text, the router's decision)
    ("RET", "opt_out"),
    ("STOP", "opt_out"),
    ("KAZAN", "rule"),
    ("Kazan", "rule"),
    ("Bilgi", "inbox"),
    ("Tesekkurler", "inbox"),
    ("Ne zaman bitiyor?", "inbox"),
    ("Magaza adresi nedir", "inbox"),
    ("YARDIM", "help"),
    ("Merhaba", "inbox"),
)
FIRST_NAMES = ("Ayşe", "Mehmet", "Fatma", "Mustafa", "Emine", "Ahmet", "Zeynep", "Ali", "Elif")
LAST_NAMES = ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Aydın", "Öztürk")
CITIES = ("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Konya", "Adana", "Trabzon")


def _array(values: tuple[str, ...]) -> str:
    """A SQL array literal of constant strings (written here, never user input)."""
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


# --- plan: the campaigns, computed here (a few hundred rows) --------------------------------


@dataclass
class PlannedVariant:
    id: int
    label: str
    share: int
    template: str
    body: str
    encoding: str
    parts: int


@dataclass
class PlannedCampaign:
    id: int
    brand_id: int
    theme: tuple[str, str]
    goal: str
    goal_value: str | None
    holdout: int
    sent: int
    held: int
    skipped: int
    first_message: int
    first_row: int
    contact_offset: int
    started_at: datetime
    duration_s: float
    appeal: float
    variants: list[PlannedVariant]

    @property
    def rows(self) -> int:
        return self.sent + self.held + self.skipped


def _sizes(rng: random.Random, campaigns: int, messages: int) -> list[int]:
    """Zipf-like sizes (exponent 1.1) in random order, at least 1 each, summing to ``messages``."""
    weights = [1 / (rank**1.1) for rank in range(1, campaigns + 1)]
    rng.shuffle(weights)
    total = sum(weights)
    sizes = [max(1, int(messages * w / total)) for w in weights]
    largest = sizes.index(max(sizes))
    sizes[largest] += messages - sum(sizes)
    return sizes


def _variants(rng: random.Random, first_id: int, theme: tuple[str, str]) -> list[PlannedVariant]:
    count = rng.choice((1, 1, 2, 2, 2, 3))
    shares = {1: [[100]], 2: [[50, 50], [70, 30], [80, 20]], 3: [[34, 33, 33], [50, 25, 25]]}
    title, slug = theme
    texts = (
        f"{title}: tüm ürünlerde fırsat! https://shop.example/{slug}",
        f'{{{{ first_name | default("Değerli müşterimiz") }}}}, {title.lower()} başladı: '
        f"https://shop.example/{slug}",
        f"{title}! Sadece bugün, kaçırma: https://shop.example/{slug}",
    )
    variants = []
    for n, share in enumerate(rng.choice(shares[count])):
        template = texts[n]
        body = (
            template.replace('{{ first_name | default("Değerli müşterimiz") }}', "Ayşe").replace(
                f"https://shop.example/{slug}", "https://k.example/Xb3kQ9mZ2p"
            )
            + " RET yaz 4664'e gönder B001"
        )
        segments = count_segments(body)
        variants.append(
            PlannedVariant(
                first_id + n, "ABC"[n], share, template, body, segments.encoding, segments.parts
            )
        )
    return variants


def plan(scale: float, brand_ids: list[int], now: datetime, seed: int) -> list[PlannedCampaign]:
    rng = random.Random(seed)
    campaigns = max(1, round(CAMPAIGNS * scale))
    messages = max(campaigns, round(MESSAGES * scale))
    planned: list[PlannedCampaign] = []
    first_message = first_row = variant_id = 1
    for n, sent in enumerate(_sizes(rng, campaigns, messages), start=1):
        theme = THEMES[n % len(THEMES)]
        goal = rng.random()
        holdout = 0 if rng.random() < 0.6 else rng.randint(2, 8)
        held = round(sent * holdout / (100 - holdout))
        skipped = round(sent * rng.uniform(0.005, 0.04))
        variants = _variants(rng, variant_id, theme)
        variant_id += len(variants)
        rate = rng.choice((50, 100, 200, 300))  # the campaign's messages per second
        campaign = PlannedCampaign(
            id=n,
            brand_id=brand_ids[n % len(brand_ids)],
            theme=theme,
            goal="conversion" if goal < 0.85 else ("clicks" if goal < 0.95 else "reply"),
            goal_value="purchase" if goal < 0.85 else ("KAZAN" if goal >= 0.95 else None),
            holdout=holdout,
            sent=sent,
            held=held,
            skipped=skipped,
            first_message=first_message,
            first_row=first_row,
            contact_offset=rng.randrange(1_000_000_007),
            started_at=now - timedelta(days=DAYS) + timedelta(seconds=rng.uniform(0, 59 * 86400)),
            duration_s=max(60.0, (sent + held + skipped) / rate),
            appeal=rng.lognormvariate(0, 0.5),
            variants=variants,
        )
        planned.append(campaign)
        first_message += sent
        first_row += campaign.rows
    return planned


# --- SQL ------------------------------------------------------------------------------------

# A uniform number in [0, 1) from (key, stream), stable across runs with the same seed.
UNIFORM = """
CREATE FUNCTION pg_temp.u(k bigint, stream integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(k, stream + {seed}::bigint * 1000) & 4503599627370495)::float8
          / 4503599627370496 $$
"""

PLAN_TABLES = """
CREATE TEMP TABLE bench_plan (
    campaign_id integer PRIMARY KEY, run_id integer, brand_id integer, first_message bigint,
    first_row bigint, sent integer, held integer, skipped integer, contact_offset bigint,
    started_at timestamptz, duration_s float8, v1 integer, v2 integer, v3 integer,
    cut1 float8, cut2 float8, target_url text, utm text, click_mean float8 DEFAULT 0
);
CREATE TEMP TABLE bench_variant (variant_id integer PRIMARY KEY, body text, encoding text,
                                 parts integer)
"""

RECIPIENTS = f"""
INSERT INTO campaign_recipients (id, campaign_id, run_id, contact_id, phone, variant_id,
                                 status, reason, not_before, message_id, decided_at)
SELECT p.first_row + k, p.campaign_id, p.run_id, c.contact_id,
       '+9053' || lpad(c.contact_id::text, 8, '0'),
       CASE WHEN k < p.sent THEN
           CASE WHEN c.b < p.cut1 THEN p.v1 WHEN c.b < p.cut2 THEN p.v2 ELSE p.v3 END END,
       CASE WHEN k < p.sent THEN 'queued' WHEN k < p.sent + p.held THEN 'held_out'
            ELSE 'skipped' END,
       CASE WHEN k < p.sent THEN NULL WHEN k < p.sent + p.held THEN 'holdout'
            ELSE ({_array(SKIP_REASONS)})[1 + floor(c.r * {len(SKIP_REASONS)})::int] END,
       NULL,
       CASE WHEN k < p.sent THEN p.first_message + k END,
       p.started_at + make_interval(secs => p.duration_s * c.t)
FROM bench_plan p
CROSS JOIN LATERAL generate_series(0, p.sent + p.held + p.skipped - 1) AS k
CROSS JOIN LATERAL (
    SELECT 1 + (k::bigint * 2147483647 + p.contact_offset) % :population AS contact_id,
           pg_temp.u(p.first_row + k, 1) * 100 AS b,
           pg_temp.u(p.first_row + k, 2) AS r,
           pg_temp.u(p.first_row + k, 3) AS t
) AS c
"""

# 90 % delivered, 4 % undeliverable, 1.5 % expired, 1 % rejected, 0.5 % failed, 2.5 %
# accepted (no receipt yet), 0.5 % submitting. Receipts come after seconds (85 %) or
# minutes; an expired message's receipt a day later.
MESSAGES_SQL = """
INSERT INTO messages (id, campaign_id, variant_id, contact_id, brand_id, connection, source,
                      destination, body, encoding, parts_count, traffic, state, flash,
                      validity_minutes, error_code, created_at, submitted_at, final_at)
SELECT r.message_id, r.campaign_id, r.variant_id, r.contact_id, p.brand_id, 'bench', 'BENCH',
       r.phone, v.body, v.encoding, v.parts, 'commercial', s.state, false, NULL,
       CASE s.state
           WHEN 'undeliverable' THEN (ARRAY[1, 1, 1, 6, 11, 13, 34])[1 + floor(s.e * 7)::int]
           WHEN 'rejected' THEN (ARRAY[11, 69, 88])[1 + floor(s.e * 3)::int]
           WHEN 'failed' THEN 255 END,
       r.decided_at, s.submitted_at,
       CASE
           WHEN s.state IN ('delivered', 'undeliverable')
               THEN s.submitted_at + make_interval(secs => s.latency)
           WHEN s.state = 'expired' THEN LEAST(s.submitted_at + make_interval(days => 1), :now)
           WHEN s.state IN ('rejected', 'failed')
               THEN s.submitted_at + make_interval(secs => 0.05)
       END
FROM campaign_recipients r
JOIN bench_plan p ON p.campaign_id = r.campaign_id
JOIN bench_variant v ON v.variant_id = r.variant_id
CROSS JOIN LATERAL (
    SELECT CASE WHEN x.s < 0.900 THEN 'delivered' WHEN x.s < 0.940 THEN 'undeliverable'
                WHEN x.s < 0.955 THEN 'expired' WHEN x.s < 0.965 THEN 'rejected'
                WHEN x.s < 0.970 THEN 'failed' WHEN x.s < 0.995 THEN 'accepted'
                ELSE 'submitting' END AS state,
           x.e,
           r.decided_at + make_interval(secs => 0.2 + 3 * x.q) AS submitted_at,
           CASE WHEN x.m < 0.85 THEN 1 - ln(1 - x.l) * 6 ELSE 20 - ln(1 - x.l) * 240 END
               AS latency
    FROM (SELECT pg_temp.u(r.message_id, 11) AS s, pg_temp.u(r.message_id, 12) AS e,
                 pg_temp.u(r.message_id, 13) AS q, pg_temp.u(r.message_id, 14) AS m,
                 pg_temp.u(r.message_id, 15) AS l) AS x
) AS s
WHERE r.status = 'queued'
"""

LINKS = """
INSERT INTO links (id, secret, target_url, utm, created_at, campaign_id, run_id, variant_id,
                   contact_id, message_id)
SELECT m.id, :secret_min + floor(pg_temp.u(m.id, 16) * :secret_span)::int, p.target_url,
       CAST(p.utm AS json), m.created_at, m.campaign_id, p.run_id, m.variant_id, m.contact_id,
       m.id
FROM messages m JOIN bench_plan p ON p.campaign_id = m.campaign_id
"""

# Half of the delivered messages' links are clicked, a campaign's mean number of clicks
# per link (``click_mean``) set from its appeal. Scanners come within 5 s of delivery,
# HEAD requests and previews within a minute or two, people over hours (a few days later).
CLICKS_SQL = f"""
INSERT INTO clicks (link_id, token, clicked_at, method, user_agent, referrer, ip_hash,
                    ip_prefix, kind, campaign_id, variant_id, contact_id)
SELECT l.id,
       translate(encode(substr(decode(md5(:salt || c.key::text), 'hex'), 1, 12), 'base64'),
                 '+/', '-_'),
       LEAST(CASE c.kind
           WHEN 'human' THEN l.sent + make_interval(
               secs => 20 - ln(1 - c.t) * 5400 + power(c.w, 8) * 518400)
           WHEN 'preview' THEN l.seen + make_interval(secs => 1 - ln(1 - c.t) * 60)
           WHEN 'scanner' THEN l.seen + make_interval(secs => 5 * c.t)
           ELSE l.seen + make_interval(secs => 30 * c.t) END, :now),
       CASE c.kind WHEN 'head' THEN 'HEAD' ELSE 'GET' END,
       CASE c.kind
           WHEN 'preview' THEN ({_array(PREVIEW_AGENTS)})[1 + c.key % {len(PREVIEW_AGENTS)}]
           WHEN 'scanner' THEN ({_array(SCANNER_AGENTS)})[1 + c.key % {len(SCANNER_AGENTS)}]
           ELSE ({_array(HUMAN_AGENTS)})[1 + l.contact_id % {len(HUMAN_AGENTS)}] END,
       NULL,
       left(md5(CASE WHEN c.kind IN ('human', 'head') THEN 'p' || l.contact_id || '.' || c.j % 2
                     ELSE c.kind || (c.key % 97) END), 32),
       CASE WHEN c.kind IN ('human', 'head')
            THEN '88.' || l.contact_id % 250 || '.' || (l.contact_id / 250) % 256 || '.0/24'
            ELSE '34.' || c.key % 97 || '.' || c.key % 13 || '.0/24' END,
       c.kind, l.campaign_id, l.variant_id, l.contact_id
FROM (
    SELECT m.id, m.campaign_id, m.variant_id, m.contact_id, m.submitted_at AS sent,
           coalesce(m.final_at, m.submitted_at) AS seen,
           CASE WHEN pg_temp.u(m.id, 21) < 0.5
                THEN floor(0.5 - ln(1 - pg_temp.u(m.id, 22)) * 2 * p.click_mean)::int
                ELSE 0 END AS n
    FROM messages m JOIN bench_plan p ON p.campaign_id = m.campaign_id
    WHERE m.state = 'delivered'
) AS l
CROSS JOIN LATERAL generate_series(1, l.n) AS j
CROSS JOIN LATERAL (
    SELECT j, l.id * 1000003 + j AS key,
           CASE WHEN x.v < 0.75 THEN 'human' WHEN x.v < 0.90 THEN 'preview'
                WHEN x.v < 0.97 THEN 'scanner' ELSE 'head' END AS kind,
           x.t, x.w
    FROM (SELECT pg_temp.u(l.id * 1000003 + j, 23) AS v, pg_temp.u(l.id * 1000003 + j, 24) AS t,
                 pg_temp.u(l.id * 1000003 + j, 25) AS w) AS x
) AS c
"""

# The control group buys too (by contact, within days of the decision), attributed to no
# campaign: the hold-out's lift is measured against it.
CONTROL_CONVERSIONS = """
INSERT INTO conversions (source, event, value, currency, idempotency_key, occurred_at,
                         recorded_at, phone, contact_id, order_id)
SELECT 'postback', 'purchase', round((10 + 490 * power(pg_temp.u(r.id, 32), 2))::numeric, 2),
       'TRY', 'order:H' || r.id, x.at, LEAST(x.at + make_interval(secs => 2), :now), r.phone,
       r.contact_id, 'H' || r.id
FROM campaign_recipients r
CROSS JOIN LATERAL (
    SELECT LEAST(r.decided_at + make_interval(secs => 600 + pg_temp.u(r.id, 33) * 518400), :now)
        AS at
) AS x
WHERE r.status = 'held_out' AND pg_temp.u(r.id, 31) < :rate
"""

# The rest follow a human click (minutes to hours later); 70 % name the click token.
CLICK_CONVERSIONS = """
INSERT INTO conversions (source, event, value, currency, idempotency_key, occurred_at,
                         recorded_at, phone, contact_id, campaign_id, variant_id, message_id,
                         link_id, click_token, order_id)
SELECT 'postback', 'purchase', round((10 + 490 * power(pg_temp.u(c.id, 36), 2))::numeric, 2),
       'TRY', 'order:C' || c.id, x.at,
       LEAST(x.at + make_interval(secs => 1 + 20 * pg_temp.u(c.id, 37)), :now),
       m.destination, c.contact_id, c.campaign_id, c.variant_id, m.id, c.link_id,
       CASE WHEN pg_temp.u(c.id, 38) < 0.7 THEN c.token END, 'C' || c.id
FROM (
    SELECT id, link_id, token, clicked_at, campaign_id, variant_id, contact_id
    FROM clicks
    WHERE kind = 'human' AND pg_temp.u(id, 34) < :fraction
    ORDER BY pg_temp.u(id, 35)
    LIMIT :wanted
) AS c
JOIN messages m ON m.id = c.link_id
CROSS JOIN LATERAL (
    SELECT LEAST(c.clicked_at + make_interval(secs => 30 - ln(1 - pg_temp.u(c.id, 39)) * 7200),
                 :now) AS at
) AS x
"""

INBOUND = f"""
INSERT INTO inbound_messages (connection, source, destination, text, raw, data_coding,
                              parts_count, partial, replaced, dedup_key, received_at,
                              routed_at, phone, contact_id, decision, reason, reply_to_id,
                              campaign_id, variant_id)
SELECT 'bench', substr(m.destination, 2), '{SHORT_CODE}', x.text, convert_to(x.text, 'UTF8'),
       0, 1, false, false, encode(sha256(convert_to('bench.' || m.id, 'UTF8')), 'hex'),
       x.at, x.at + make_interval(secs => 0.08), m.destination, m.contact_id, x.decision, '',
       m.id, m.campaign_id, m.variant_id
FROM messages m
CROSS JOIN LATERAL (
    SELECT ({_array(tuple(t for t, _ in REPLIES))})[i] AS text,
           ({_array(tuple(d for _, d in REPLIES))})[i] AS decision,
           LEAST(m.final_at + make_interval(secs => 20 - ln(1 - pg_temp.u(m.id, 42)) * 1800),
                 :now) AS at
    FROM (SELECT 1 + floor(pg_temp.u(m.id, 43) * {len(REPLIES)})::int AS i) AS y
) AS x
WHERE m.state = 'delivered' AND pg_temp.u(m.id, 41) < :rate
"""

CONTACTS_SQL = f"""
INSERT INTO contacts (id, phone, first_name, last_name, language, country, time_zone,
                      time_zone_manual, attributes, created_at, updated_at)
SELECT r.contact_id, '+9053' || lpad(r.contact_id::text, 8, '0'),
       ({_array(FIRST_NAMES)})[1 + r.contact_id % {len(FIRST_NAMES)}],
       ({_array(LAST_NAMES)})[1 + (r.contact_id / 11) % {len(LAST_NAMES)}],
       'tr', 'TR', 'Europe/Istanbul', false,
       jsonb_build_object(
           'city', ({_array(CITIES)})[1 + (r.contact_id / 7) % {len(CITIES)}],
           'tier', (ARRAY['bronze', 'bronze', 'silver', 'gold'])[
               1 + floor(pg_temp.u(r.contact_id, 51) * 4)::int]),
       x.at, x.at
FROM (SELECT DISTINCT contact_id FROM campaign_recipients) AS r
CROSS JOIN LATERAL (
    SELECT :now - make_interval(days => {DAYS} + (r.contact_id % 700)::int) AS at
) AS x
"""


# --- steps ----------------------------------------------------------------------------------


class Steps:
    """Runs and times the statements of the load, printing one line per step."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def run(self, name: str, statement: str, **params: Any) -> int:
        started = time.perf_counter()
        result = self.connection.execute(sa.text(statement), params)
        self.done(name, started, result.rowcount)
        return int(result.rowcount)

    @staticmethod
    def done(name: str, started: float, rows: int | None = None) -> None:
        count = f"{rows:>12,} rows" if rows is not None and rows >= 0 else " " * 17
        print(f"  {name:<34} {count} {time.perf_counter() - started:8.1f} s", flush=True)


def ensure_database(url: str) -> None:
    """Create the database ``url`` names if the server has no such database."""
    target = sa.engine.make_url(url)
    admin = make_engine(
        target.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            found = connection.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not found:
                connection.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
                print(f"created database {target.database}")
    finally:
        admin.dispose()


def _brands(connection: sa.Connection) -> list[int]:
    existing = set(connection.scalars(sa.select(Brand.code)))
    missing = [{"code": code, "name": name} for code, name in BRANDS if code not in existing]
    if missing:
        connection.execute(sa.insert(Brand), missing)
    codes = [code for code, _ in BRANDS]
    rows = connection.execute(sa.select(Brand.code, Brand.id).where(Brand.code.in_(codes)))
    ids = {code: brand_id for code, brand_id in rows}
    return [ids[code] for code in codes]


def _insert_campaigns(connection: sa.Connection, planned: list[PlannedCampaign]) -> None:
    campaigns, variants, runs, plan_rows, variant_rows = [], [], [], [], []
    for c in planned:
        title, slug = c.theme
        utm = {"utm_source": "sms", "utm_medium": "sms", "utm_campaign": f"bench-{c.id}"}
        finished = c.started_at + timedelta(seconds=c.duration_s + 60)
        campaigns.append(
            {
                "id": c.id,
                "name": f"{title} #{c.id}",
                "goal": c.goal,
                "goal_value": c.goal_value,
                "traffic": "commercial",
                "brand_id": c.brand_id,
                "sender": "BENCH",
                "connection": "bench",
                "audience": {},
                "holdout_percent": c.holdout,
                "state": "completed",
                "send_at": c.started_at,
                "track_links": True,
                "utm": utm,
                "created_at": c.started_at - timedelta(days=1),
                "updated_at": finished,
            }
        )
        runs.append(
            {
                "id": c.id,
                "campaign_id": c.id,
                "number": 1,
                "state": "done",
                "due_at": c.started_at,
                "started_at": c.started_at,
                "finished_at": finished,
            }
        )
        cuts, edge = [], 0
        for v in c.variants:
            variants.append(
                {
                    "id": v.id,
                    "campaign_id": c.id,
                    "label": v.label,
                    "share": v.share,
                    "template": v.template,
                }
            )
            variant_rows.append(
                {"id": v.id, "body": v.body, "encoding": v.encoding, "parts": v.parts}
            )
            edge += v.share
            cuts.append(edge)
        ids = [v.id for v in c.variants]
        plan_rows.append(
            {
                "campaign_id": c.id,
                "run_id": c.id,
                "brand_id": c.brand_id,
                "first_message": c.first_message,
                "first_row": c.first_row,
                "sent": c.sent,
                "held": c.held,
                "skipped": c.skipped,
                "contact_offset": c.contact_offset,
                "started_at": c.started_at,
                "duration_s": c.duration_s,
                "v1": ids[0],
                "v2": ids[min(1, len(ids) - 1)],
                "v3": ids[-1],
                "cut1": cuts[0],
                "cut2": cuts[min(1, len(cuts) - 1)],
                "target_url": f"https://shop.example/{slug}?c={c.id}",
                "utm": '{"utm_source": "sms", "utm_medium": "sms", '
                f'"utm_campaign": "bench-{c.id}"}}',
            }
        )
    connection.execute(sa.insert(Campaign), campaigns)
    connection.execute(sa.insert(Variant), variants)
    connection.execute(sa.insert(CampaignRun), runs)
    columns = ", ".join(plan_rows[0])
    values = ", ".join(f":{name}" for name in plan_rows[0])
    connection.execute(sa.text(f"INSERT INTO bench_plan ({columns}) VALUES ({values})"), plan_rows)
    connection.execute(
        sa.text("INSERT INTO bench_variant VALUES (:id, :body, :encoding, :parts)"), variant_rows
    )


def _truncate(connection: sa.Connection) -> None:
    rollups = connection.scalars(
        sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename LIKE 'rollup\\_%'"
        )
    ).all()
    tables = ", ".join((*TABLES, *rollups))
    connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _drop_secondary(connection: sa.Connection) -> list[str]:
    """Drop the loaded tables' secondary indexes, unique constraints (unless a foreign key
    needs them) and foreign keys; return the statements that rebuild them, in order."""
    tables = {"tables": list(BULK_TABLES)}
    constraints = connection.execute(
        sa.text(
            """
            SELECT con.conrelid::regclass::text, con.conname, con.contype,
                   pg_get_constraintdef(con.oid)
            FROM pg_constraint con
            WHERE con.conrelid = ANY(CAST(:tables AS regclass[]))
              AND (con.contype = 'f' OR (con.contype = 'u' AND NOT EXISTS (
                  SELECT 1 FROM pg_constraint ref
                  WHERE ref.contype = 'f' AND ref.conindid = con.conindid)))
            ORDER BY con.contype DESC, con.conname
            """
        ),
        tables,
    ).all()
    indexes = connection.execute(
        sa.text(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY(CAST(:tables AS regclass[]))
              AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                              WHERE con.conindid = i.indexrelid
                                AND con.conrelid = i.indrelid)
            ORDER BY 1
            """
        ),
        tables,
    ).all()
    rebuild = [definition for _, definition in indexes]
    # Unique constraints first ('u' sorts after 'f', hence DESC above), foreign keys last.
    rebuild += [f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {d}' for t, name, _, d in constraints]
    for table, name, _, _ in constraints:
        connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        connection.exec_driver_sql(f"DROP INDEX {name}")
    return rebuild


def _click_means(connection: sa.Connection, planned: list[PlannedCampaign], clicks: int) -> int:
    """Set each campaign's mean clicks per link so that the total comes to ``clicks``;
    returns the number of delivered messages."""
    rows = connection.execute(
        sa.text(
            "SELECT campaign_id, count(*) FROM messages WHERE state = 'delivered' "
            "GROUP BY campaign_id"
        )
    )
    delivered = {campaign_id: count for campaign_id, count in rows}
    weight = sum(c.appeal * delivered.get(c.id, 0) for c in planned) or 1.0
    connection.execute(
        sa.text("UPDATE bench_plan SET click_mean = :mean WHERE campaign_id = :id"),
        [{"id": c.id, "mean": clicks * c.appeal / weight} for c in planned],
    )
    return int(sum(delivered.values()))


def count_rows(connection: sa.Connection) -> dict[str, int]:
    return {
        table: int(connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
        for table in TABLES
    }


def generate(url: str, scale: float = 1.0, *, seed: int = 1) -> dict[str, int]:
    """Create (if missing) and migrate the database at ``url``, replace its analytics data
    by a generated set of ``scale`` times the default size, VACUUM ANALYZE it, and return
    the row count of each table. Prints each step's rows and seconds."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    if sa.engine.make_url(url).database in (None, "", "postgres"):
        raise ValueError("give a database of its own, not the server's 'postgres' database")
    started = time.perf_counter()
    ensure_database(url)
    step = time.perf_counter()
    migrate.upgrade(url)
    Steps.done("migrate to head", step)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            steps = Steps(connection)
            connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
            connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
            step = time.perf_counter()
            _truncate(connection)
            rebuild = _drop_secondary(connection)
            connection.exec_driver_sql(UNIFORM.format(seed=int(seed)))
            for statement in PLAN_TABLES.split(";"):
                connection.exec_driver_sql(statement)
            Steps.done("empty tables, drop indexes", step)

            step = time.perf_counter()
            planned = plan(scale, _brands(connection), now, seed)
            _insert_campaigns(connection, planned)
            Steps.done("campaigns, variants, runs", step, len(planned))
            population = max(round(CONTACTS * scale), max(c.rows for c in planned))
            steps.run("campaign_recipients", RECIPIENTS, population=population)
            steps.run("messages", MESSAGES_SQL, now=now)
            steps.run(
                "links",
                LINKS,
                secret_min=codec.SECRET_MIN,
                secret_span=codec.SECRET_MAX - codec.SECRET_MIN + 1,
            )
            delivered = _click_means(connection, planned, round(CLICKS * scale))
            steps.run("clicks", CLICKS_SQL, now=now, salt=f"bench{seed}.")
            held = steps.run(
                "conversions (hold-out groups)",
                CONTROL_CONVERSIONS,
                now=now,
                rate=CONTROL_CONVERSION_RATE,
            )
            wanted = max(0, round(CONVERSIONS * scale) - held)
            # Humans make 75 % of the clicks; draw a little more than needed, keep ``wanted``.
            humans = 0.75 * round(CLICKS * scale) or 1.0
            steps.run(
                "conversions (after a click)",
                CLICK_CONVERSIONS,
                now=now,
                wanted=wanted,
                fraction=min(1.0, 1.2 * wanted / humans + 0.001),
            )
            steps.run(
                "inbound_messages",
                INBOUND,
                now=now,
                rate=REPLY_SHARE * MESSAGES * scale / max(delivered, 1),
            )
            steps.run("contacts", CONTACTS_SQL, now=now)

            step = time.perf_counter()
            for table in EXPLICIT_IDS:
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            for statement in rebuild:
                connection.exec_driver_sql(statement)
            Steps.done(f"rebuild {len(rebuild)} indexes and constraints", step)
            step = time.perf_counter()
        Steps.done("commit", step)

        step = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
        Steps.done("vacuum analyze", step)
        with engine.connect() as connection:
            counts = count_rows(connection)
    finally:
        engine.dispose()
    print(f"  {'total':<34} {'':17} {time.perf_counter() - started:8.1f} s")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="the target database URL")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    name = sa.engine.make_url(args.database).database
    print(f"analytics data set, scale {args.scale:g}, into database {name}")
    counts = generate(args.database, args.scale, seed=args.seed)
    print()
    for table, count in counts.items():
        print(f"  {table:<34} {count:>12,}")


if __name__ == "__main__":
    main()
