"""The set-based half of contact imports: stage a chunk, upsert it into ``contacts``.

A chunk's rows (unique numbers) go into the temporary table ``import_stage`` — by COPY on
PostgreSQL, by executemany on SQLite — and one ``INSERT … SELECT … ON CONFLICT (phone) DO
UPDATE … WHERE <a value differs>`` writes them, so the database does the work once per
chunk, not once per row. An empty cell (NULL in the stage) keeps the contact's value;
attributes are merged key by key; a time zone set by a person stays.

The stage is created and dropped inside each chunk's transaction: after a commit the
session may hand out another pooled connection, which would not see a temp table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import UTCDateTime, utcnow

_PG_STAGE = (
    "CREATE TEMP TABLE import_stage (phone text, first_name text, last_name text, "
    "language text, country text, time_zone text, attributes text, dup boolean, "
    "consent_status text, consent_at timestamptz, deadline timestamptz)"
)
_SQLITE_STAGE = (
    "CREATE TEMP TABLE import_stage (phone TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, "
    "language TEXT, country TEXT, time_zone TEXT, attributes TEXT, dup INTEGER, "
    "consent_status TEXT, consent_at TEXT, deadline TEXT)"
)
STAGE_COLUMNS = (
    "phone, first_name, last_name, language, country, time_zone, attributes, dup, "
    "consent_status, consent_at, deadline"
)

# The same SET and WHERE for both backends but for the attributes (json on PostgreSQL is
# compared as jsonb; SQLite compares the minified text json_patch produces).
_SET = """
    first_name = COALESCE(excluded.first_name, c.first_name),
    last_name = COALESCE(excluded.last_name, c.last_name),
    language = COALESCE(excluded.language, c.language),
    country = COALESCE(excluded.country, c.country),
    time_zone = CASE WHEN c.time_zone_manual THEN c.time_zone
                     ELSE COALESCE(excluded.time_zone, c.time_zone) END,
    attributes = {merge},
    updated_at = excluded.updated_at
"""
_CHANGED = """
    (excluded.first_name IS NOT NULL AND excluded.first_name {ne} c.first_name)
    OR (excluded.last_name IS NOT NULL AND excluded.last_name {ne} c.last_name)
    OR (excluded.language IS NOT NULL AND excluded.language {ne} c.language)
    OR (excluded.country IS NOT NULL AND excluded.country {ne} c.country)
    OR (NOT c.time_zone_manual AND excluded.time_zone IS NOT NULL
        AND excluded.time_zone {ne} c.time_zone)
    OR {attributes_changed}
"""
_INSERT = """
    INSERT INTO contacts AS c (phone, first_name, last_name, language, country, time_zone,
                               time_zone_manual, attributes, created_at, updated_at)
    SELECT phone, first_name, last_name, language, country, time_zone, {false},
           {attributes}, :now, :now
    FROM import_stage WHERE true
    ON CONFLICT (phone) DO UPDATE SET {set} WHERE {changed}
"""

PG_UPSERT = (
    "WITH up AS ("
    + _INSERT.format(
        false="false",
        attributes="CAST(attributes AS json)",
        set=_SET.format(
            merge="CAST(CAST(c.attributes AS jsonb) || CAST(excluded.attributes AS jsonb) AS json)"
        ),
        changed=_CHANGED.format(
            ne="IS DISTINCT FROM",
            attributes_changed=(
                "NOT (CAST(c.attributes AS jsonb) @> CAST(excluded.attributes AS jsonb))"
            ),
        ),
    )
    + " RETURNING phone, (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE up.inserted AND NOT s.dup), "
    "count(*) FILTER (WHERE NOT up.inserted AND NOT s.dup) "
    "FROM up JOIN import_stage s ON s.phone = up.phone"
)
SQLITE_UPSERT = (
    _INSERT.format(
        false="0",
        attributes="attributes",
        set=_SET.format(merge="json_patch(c.attributes, excluded.attributes)"),
        changed=_CHANGED.format(
            ne="IS NOT",
            attributes_changed=(
                "json(c.attributes) IS NOT json_patch(c.attributes, excluded.attributes)"
            ),
        ),
    )
    + " RETURNING phone"
)
_EXISTING = (
    "SELECT count(*) FROM import_stage s JOIN contacts c ON c.phone = s.phone WHERE NOT s.dup"
)
# The consent rules of ``contacts.consent.record``, set-based for a chunk in which every
# contact has at most one statement: an event is written unless it repeats the current
# state or is older than it (at the same moment a RET stands); it needs registration
# unless its source is the registry's, or it is a RET with no ONAY ever in the ledger.
_CONSENT_EVENTS = """
    INSERT INTO consent_events (contact_id, recipient, brand_id, channel, status, source,
        recipient_type, consent_at, recorded_at, actor, actor_label, evidence, import_id,
        registration, registry_deadline)
    SELECT n.contact_id, n.phone, :brand_id, 'MESAJ', n.status, :source, :recipient_type,
        n.consent_at, :now, 'import', :label, '', :import_id,
        CASE WHEN n.needs THEN 'pending' ELSE 'not_required' END,
        CASE WHEN n.needs THEN n.deadline END
    FROM (
        SELECT c.id AS contact_id, s.phone, s.consent_status AS status, s.consent_at,
            s.deadline,
            (NOT :from_registry AND (s.consent_status = 'ONAY' OR EXISTS (
                SELECT 1 FROM consent_events e WHERE e.contact_id = c.id
                AND e.channel = 'MESAJ' AND e.brand_id = :brand_id AND e.status = 'ONAY'
            ))) AS needs
        FROM import_stage s
        JOIN contacts c ON c.phone = s.phone
        LEFT JOIN consent_states st ON st.contact_id = c.id AND st.channel = 'MESAJ'
            AND st.brand_id = :brand_id
        WHERE s.consent_status IS NOT NULL AND (st.contact_id IS NULL OR (
            st.status <> s.consent_status AND (s.consent_at > st.consent_at
            OR (s.consent_at = st.consent_at AND st.status <> 'RET'))))
    ) AS n
    ORDER BY n.contact_id
"""
_CONSENT_STATES = """
    INSERT INTO consent_states AS st (contact_id, channel, brand_id, status, consent_at,
        event_id)
    SELECT e.contact_id, e.channel, e.brand_id, e.status, e.consent_at, e.id
    FROM consent_events e WHERE e.import_id = :import_id AND e.id > :before
    ON CONFLICT (contact_id, channel, brand_id) DO UPDATE SET status = excluded.status,
        consent_at = excluded.consent_at, event_id = excluded.event_id
"""
_ADD_TO_LIST = (
    "INSERT INTO contact_list_members (list_id, contact_id, added_at) "
    "SELECT :list_id, c.id, :now FROM import_stage s JOIN contacts c ON c.phone = s.phone "
    "WHERE true ON CONFLICT DO NOTHING"
)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    consent_events: int = 0


@dataclass(frozen=True)
class ConsentOptions:
    """How the statements of an import are recorded."""

    import_id: int
    brand_id: int
    source: str
    recipient_type: str
    label: str


def _now_text(sql: str) -> sa.TextClause:
    return sa.text(sql).bindparams(sa.bindparam("now", type_=UTCDateTime))


class Writer:
    """Writes chunks of staged rows: tuples in ``STAGE_COLUMNS`` order; ``dup`` says the
    number was already written by an earlier chunk of this file; the consent status (or
    None), its time and registration deadline (aware datetimes) end the tuple."""

    def __init__(
        self,
        session: Session,
        *,
        list_id: int | None = None,
        consent: ConsentOptions | None = None,
    ) -> None:
        self.session = session
        self.list_id = list_id
        self.consent = consent
        self.postgresql = session.get_bind().dialect.name == "postgresql"

    def write(self, rows: Sequence[tuple[Any, ...]]) -> Counts:
        """Upsert ``rows`` into contacts, record their consent statements, add them to the
        list (flushes, no commit); returns the counts."""
        connection = self.session.connection()
        fresh = sum(1 for row in rows if not row[7])
        now = utcnow()
        if self.postgresql:
            connection.exec_driver_sql("DROP TABLE IF EXISTS pg_temp.import_stage")
            connection.exec_driver_sql(_PG_STAGE)
            self._copy(connection, rows)
            # A temp table has no statistics: without them the planner nests loops.
            connection.exec_driver_sql("ANALYZE import_stage")
            created, updated = connection.execute(_now_text(PG_UPSERT), {"now": now}).one()
        else:
            connection.exec_driver_sql("DROP TABLE IF EXISTS temp.import_stage")
            connection.exec_driver_sql(_SQLITE_STAGE)
            connection.exec_driver_sql(
                f"INSERT INTO import_stage ({STAGE_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:9], _sqlite_time(row[9]), _sqlite_time(row[10])) for row in rows],
            )
            existing = int(connection.exec_driver_sql(_EXISTING).scalar_one())
            dups = {row[0] for row in rows if row[7]}
            changed = [
                phone
                for (phone,) in connection.execute(_now_text(SQLITE_UPSERT), {"now": now})
                if phone not in dups
            ]
            created = fresh - existing
            updated = len(changed) - created
        counts = Counts(created=created, updated=updated, unchanged=fresh - created - updated)
        if self.list_id:
            connection.execute(_now_text(_ADD_TO_LIST), {"now": now, "list_id": int(self.list_id)})
        if self.consent is not None:
            counts.consent_events = self._record_consent(connection, now)
        table = "pg_temp.import_stage" if self.postgresql else "temp.import_stage"
        connection.exec_driver_sql(f"DROP TABLE {table}")
        return counts

    def _record_consent(self, connection: sa.Connection, now: datetime) -> int:
        options = self.consent
        assert options is not None
        before = connection.execute(sa.text("SELECT max(id) FROM consent_events")).scalar()
        params = {
            "now": now,
            "brand_id": options.brand_id,
            "source": options.source,
            "recipient_type": options.recipient_type,
            "label": options.label,
            "import_id": options.import_id,
            "from_registry": options.source.startswith("IYS"),
        }
        result = connection.execute(_now_text(_CONSENT_EVENTS), params)
        written = int(getattr(result, "rowcount", 0) or 0)
        if written:
            connection.execute(
                sa.text(_CONSENT_STATES),
                {"import_id": options.import_id, "before": int(before or 0)},
            )
        return written

    @staticmethod
    def _copy(connection: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        raw: Any = connection.connection.dbapi_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY import_stage ({STAGE_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)


def _sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy stores for a UTC datetime in SQLite (so comparisons hold)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
