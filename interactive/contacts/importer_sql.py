"""The set-based half of contact imports: stage a chunk, upsert it into ``contacts``.

A chunk's rows (unique numbers, encoded by ``importer_parse``) go into the temporary table
``import_stage`` — by COPY on PostgreSQL, by executemany on SQLite — and one ``INSERT …
SELECT … ON CONFLICT (phone) DO UPDATE … WHERE <a value differs>`` writes them, so the
database does the work once per chunk, not once per row. An empty cell (NULL in the stage)
keeps the contact's value; attributes are merged key by key; a time zone set by a person
stays. The consent events and the current states they change are one more statement on
PostgreSQL (an ``INSERT … RETURNING`` feeding the states' upsert, from a stage of their
own, ``import_consent``), two on SQLite.

On PostgreSQL a large import writes with three connections (``parallel``): the session
upserts the contacts of chunk N+1 while two more, each in a thread, record the consent
statements of the chunks before it (up to two chunks behind), split by the number's last
digit (``importer_parse.CONSENT_PARTS``). All of it
is CPU-bound in the server, and one backend runs on one core: the consent statements are
the larger part (a ledger row with two foreign-key checks and a state per statement), and
as one statement they were the pipeline's slowest stage. A number is always in the same
part, so its statements in successive chunks are recorded in file order, and two parts
never touch the same contact or state. A chunk's statements are recorded after its
contacts are committed (they look the contacts up by number), in transactions of their
own: a run that fails may leave its last committed chunk's contacts without their
statements, which importing the file again adds.

A stage is created and dropped inside its chunk's transaction: after a commit the session
may hand out another pooled connection, which would not see a temp table.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts.importer_parse import CONSENT_PARTS, Batch
from interactive.db import UTCDateTime, generic_key_checks, utcnow

# Chunks whose consent statements may be recorded at once, on the part connections, while
# the session writes contacts: the contacts never wait for the statements of the chunk
# before, so the server's cores stay busy when one part takes longer than the other.
_CHUNKS_IN_FLIGHT = 2

_PG_STAGE = (
    "CREATE TEMP TABLE import_stage (phone text, first_name text, last_name text, "
    "language text, country text, time_zone text, attributes text, dup boolean)"
)
CONTACT_COLUMNS = "phone, first_name, last_name, language, country, time_zone, attributes, dup"
_PG_CONSENT_STAGE = (
    "CREATE TEMP TABLE import_consent (phone text, consent_status text, "
    "consent_at timestamptz, deadline timestamptz)"
)
CONSENT_COLUMNS = "phone, consent_status, consent_at, deadline"
_SQLITE_STAGE = (
    "CREATE TEMP TABLE import_stage (phone TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, "
    "language TEXT, country TEXT, time_zone TEXT, attributes TEXT, dup INTEGER, "
    "consent_status TEXT, consent_at TEXT, deadline TEXT)"
)
STAGE_COLUMNS = f"{CONTACT_COLUMNS}, consent_status, consent_at, deadline"

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

_PG_INSERT = _INSERT.format(
    false="false",
    attributes="CAST(attributes AS jsonb)",
    set=_SET.format(merge="c.attributes || excluded.attributes"),
    changed=_CHANGED.format(
        ne="IS DISTINCT FROM",
        attributes_changed="NOT (c.attributes @> excluded.attributes)",
    ),
)
# Created and updated rows, leaving out numbers an earlier chunk wrote (``dup``); the join
# back to the stage is needed only when the chunk has such numbers.
PG_UPSERT = (
    "WITH up AS (" + _PG_INSERT + " RETURNING phone, (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE up.inserted AND NOT s.dup), "
    "count(*) FILTER (WHERE NOT up.inserted AND NOT s.dup) "
    "FROM up JOIN import_stage s ON s.phone = up.phone"
)
PG_UPSERT_FRESH = (
    "WITH up AS (" + _PG_INSERT + " RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE up.inserted), count(*) FILTER (WHERE NOT up.inserted) "
    "FROM up"
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
_CONSENT_INSERT = """
    INSERT INTO consent_events (contact_id, recipient, brand_id, channel, status, source,
        recipient_type, consent_at, recorded_at, actor, actor_label, evidence, import_id,
        registration, registry_deadline)
    SELECT n.contact_id, n.phone, :brand_id, 'MESAJ', n.status, :source, :recipient_type,
        n.consent_at, :now, 'import', :label, '', :import_id,
        CASE WHEN n.needs THEN 'pending' ELSE 'not_required' END,
        CASE WHEN n.needs THEN n.deadline END
    FROM {source}
    ORDER BY n.contact_id
"""
_NEWER = """s.consent_status IS NOT NULL AND (st.status IS NULL OR (
            st.status <> s.consent_status AND (s.consent_at > st.consent_at
            OR (s.consent_at = st.consent_at AND st.status <> 'RET'))))"""
_CONSENT_EVENTS = _CONSENT_INSERT.format(
    source="""(
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
        WHERE """  # noqa: S608 - constant text
    + _NEWER
    + ") AS n"
)
# PostgreSQL: the same, written so that every row is looked up by index (run with seq scans
# disabled: the statistics of a table that a bulk load is filling say it is empty or small,
# and a seq scan per stage row is then quadratic). Planned as joins, it hashed or sorted
# the whole of contacts, consent_states and the ONAY events once per chunk instead.
_PG_CONSENT_SELECT = (
    """
    SELECT c.id AS contact_id, s.phone, s.consent_status AS status, s.consent_at, s.deadline,
        NOT :from_registry AND (s.consent_status = 'ONAY' OR o.onay IS NOT NULL) AS needs,
        st.status IS NULL AS fresh
    FROM import_consent s
    CROSS JOIN LATERAL (SELECT id FROM contacts WHERE phone = s.phone LIMIT 1) AS c
    LEFT JOIN LATERAL (
        SELECT status, consent_at FROM consent_states WHERE contact_id = c.id
        AND channel = 'MESAJ' AND brand_id = :brand_id LIMIT 1
    ) AS st ON true
    LEFT JOIN LATERAL (
        SELECT true AS onay FROM consent_events e WHERE s.consent_status = 'RET'
        AND e.contact_id = c.id AND e.channel = 'MESAJ' AND e.brand_id = :brand_id
        AND e.status = 'ONAY' LIMIT 1
    ) AS o ON true
    WHERE """  # noqa: S608 - constant text
    + _NEWER
)


def _pg_events(*inserts: tuple[str, str]) -> str:
    """The head of a PostgreSQL consent statement: the look-ups of the stage (``n``), then
    one ledger INSERT per (name, rows of n) returning what the states need."""
    parts = [f"WITH n AS MATERIALIZED ({_PG_CONSENT_SELECT})"]
    for name, source in inserts:
        parts.append(
            f"{name} AS ({_CONSENT_INSERT.format(source=source)} RETURNING id, contact_id, "
            "channel, brand_id, status, consent_at)"
        )
    return ", ".join(parts)


# Each contact is in a chunk once, so no state row is upserted twice by one statement.
_STATES_UPSERT = """
    INSERT INTO consent_states AS st (contact_id, channel, brand_id, status, consent_at,
        event_id)
    SELECT contact_id, channel, brand_id, status, consent_at, id FROM {source}
    ON CONFLICT (contact_id, channel, brand_id) DO UPDATE SET status = excluded.status,
        consent_at = excluded.consent_at, event_id = excluded.event_id
"""
# The states: a contact that had none for the brand (``n.fresh``, in the statement's
# snapshot) gets one by a plain INSERT, the others are updated; its events are written
# apart, so that neither needs a join of the two. An upsert (ON CONFLICT) would probe
# the key before each insert and log a confirmation after it (a seventh of the import's
# write-ahead log). If another transaction adds a state meanwhile (an SMS RET, the
# registry sync), the INSERT fails on the key and the chunk's statements are recorded
# again with the upsert (``_PG_CONSENT_UPSERT``).
_BY_STATE = (("new_events", "n WHERE n.fresh"), ("other_events", "n WHERE NOT n.fresh"))
_PG_CONSENT = (
    _pg_events(*_BY_STATE)  # noqa: S608 - constant text
    + """, added AS (
        INSERT INTO consent_states (contact_id, channel, brand_id, status, consent_at,
            event_id)
        SELECT contact_id, channel, brand_id, status, consent_at, id FROM new_events
    ), kept AS (
        UPDATE consent_states st SET status = ev.status, consent_at = ev.consent_at,
            event_id = ev.id
        FROM other_events ev
        WHERE st.contact_id = ev.contact_id AND st.channel = ev.channel
            AND st.brand_id = ev.brand_id
    )
    SELECT (SELECT count(*) FROM new_events) + (SELECT count(*) FROM other_events)"""
)
_PG_CONSENT_UPSERT = (
    _pg_events(("ev", "n"))  # noqa: S608 - constant text
    + ", states AS ("
    + _STATES_UPSERT.format(source="ev")
    + ") SELECT count(*) FROM ev"
)
_SQLITE_CONSENT_STATES = _STATES_UPSERT.format(
    source="consent_events e WHERE e.import_id = :import_id AND e.id > :before"
)
_ADD_TO_LIST = (
    "INSERT INTO contact_list_members (list_id, contact_id, added_at) "
    "SELECT :list_id, c.id, :now FROM import_stage s JOIN contacts c ON c.phone = s.phone "
    "WHERE true ON CONFLICT DO NOTHING"
)
_PG_ADD_TO_LIST = (
    "INSERT INTO contact_list_members (list_id, contact_id, added_at) "
    "SELECT :list_id, c.id, :now FROM import_stage s CROSS JOIN LATERAL "
    "(SELECT id FROM contacts WHERE phone = s.phone LIMIT 1) AS c "
    "ON CONFLICT DO NOTHING"
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
    """Writes the batches of ``importer_parse``: contacts from ``batch.copy`` (PostgreSQL,
    ``CONTACT_COLUMNS``) or ``batch.tuples`` (SQLite, ``STAGE_COLUMNS``, where ``dup`` says
    an earlier chunk of this file wrote the number), consent statements from
    ``batch.consent_copy`` or the tuples' last three columns.

    The caller commits after ``write`` and then calls ``committed``; ``finish`` once at the
    end (a cancel too), and ``close`` always. With ``parallel`` (PostgreSQL, a session bound
    to an engine, so that other connections see its commits) the statements of a chunk are
    recorded by other connections while the next chunk's contacts are written;
    ``committed`` and ``finish`` return the events that finished chunks of statements
    added. Without it ``write`` records them itself."""

    def __init__(
        self,
        session: Session,
        *,
        list_id: int | None = None,
        consent: ConsentOptions | None = None,
        parallel: bool = False,
    ) -> None:
        self.session = session
        self.list_id = list_id
        self.consent = consent
        bind = session.get_bind()
        self.postgresql = bind.dialect.name == "postgresql"
        self._analysed = False
        self._pending: list[bytes] = []
        self._running: list[list[Future[int]]] = []  # per chunk, oldest first
        self._pools: list[ThreadPoolExecutor] = []
        self._others: list[sa.Connection] = []
        if parallel and self.postgresql and consent is not None and isinstance(bind, sa.Engine):
            for _ in range(CONSENT_PARTS):
                self._others.append(bind.connect())
                self._pools.append(ThreadPoolExecutor(1, thread_name_prefix="import-consent"))

    def write(self, batch: Batch) -> Counts:
        """Upsert the batch's rows into contacts, add them to the list and, unless a second
        connection does it after the commit, record their consent statements (flushes, no
        commit); returns the counts."""
        connection = self.session.connection()
        now = utcnow()
        if self.postgresql:
            created, updated = self._upsert_postgresql(connection, batch, now)
        else:
            created, updated = self._upsert_sqlite(connection, batch, now)
        fresh = batch.fresh
        counts = Counts(created=created, updated=updated, unchanged=fresh - created - updated)
        if self.list_id:
            add = _PG_ADD_TO_LIST if self.postgresql else _ADD_TO_LIST
            if self.postgresql:
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
                generic_key_checks(connection)  # each member's list and contact
            connection.execute(_now_text(add), {"now": now, "list_id": int(self.list_id)})
            if self.postgresql:
                connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
        if self.consent is not None and batch.statements:
            if self._pools:
                self._pending = batch.consent_copy
            elif self.postgresql:
                counts.consent_events = self._record_postgresql(connection, batch.consent_copy)
            else:
                counts.consent_events = self._record_sqlite(connection, now)
        schema = "pg_temp" if self.postgresql else "temp"
        connection.exec_driver_sql(f"DROP TABLE {schema}.import_stage")
        return counts

    def committed(self) -> int:
        """After the commit of a written chunk: start recording its statements, each part
        after the same part of the chunks before (a part's thread takes them in order),
        while the next chunk's contacts are written. Waits only while more than
        ``_CHUNKS_IN_FLIGHT`` chunks are being recorded. Returns the events that chunks
        recorded since the last call added."""
        if self._pending:
            self._running.append(
                [
                    self._pools[index].submit(self._record_apart, index, copy)
                    for index, copy in enumerate(self._pending)
                    if copy
                ]
            )
        self._pending = []
        written = 0
        while self._running and (
            len(self._running) > _CHUNKS_IN_FLIGHT or all(f.done() for f in self._running[0])
        ):
            written += sum(future.result() for future in self._running.pop(0))
        return written

    def finish(self) -> int:
        """Wait for the statements still being recorded; returns the events they added."""
        return self._wait()

    def close(self) -> None:
        """Release the other connections (waits for statements in flight)."""
        for pool in self._pools:
            pool.shutdown(wait=True)
        for connection in self._others:
            connection.close()

    def _wait(self) -> int:
        running, self._running = self._running, []
        return sum(future.result() for chunk in running for future in chunk)

    def _record_apart(self, index: int, copy: bytes) -> int:
        """Another connection: one part of a chunk's statements, in a transaction of its
        own (the numbers of a part are no other part's, so parts never wait for each
        other's rows)."""
        connection = self._others[index]
        with connection.begin():
            return self._record_postgresql(connection, [copy], analyse=index == 0)

    def _upsert_postgresql(
        self, connection: sa.Connection, batch: Batch, now: datetime
    ) -> tuple[int, int]:
        # Compiling these statements to machine code costs more than it saves (~70 ms each).
        connection.exec_driver_sql("SET LOCAL jit = off")
        connection.exec_driver_sql("DROP TABLE IF EXISTS pg_temp.import_stage")
        connection.exec_driver_sql(_PG_STAGE)
        _copy(connection, f"COPY import_stage ({CONTACT_COLUMNS}) FROM STDIN", batch.copy)
        if batch.fresh == batch.staged:
            upsert = PG_UPSERT_FRESH
        else:
            # The join back to the stage needs its statistics, or the planner nests loops.
            connection.exec_driver_sql("ANALYZE import_stage")
            upsert = PG_UPSERT
        created, updated = connection.execute(_now_text(upsert), {"now": now}).one()
        return int(created), int(updated)

    @staticmethod
    def _upsert_sqlite(connection: sa.Connection, batch: Batch, now: datetime) -> tuple[int, int]:
        rows = batch.tuples or []
        connection.exec_driver_sql("DROP TABLE IF EXISTS temp.import_stage")
        connection.exec_driver_sql(_SQLITE_STAGE)
        connection.exec_driver_sql(
            f"INSERT INTO import_stage ({STAGE_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        existing = int(connection.exec_driver_sql(_EXISTING).scalar_one())
        dups = {row[0] for row in rows if row[7]}
        changed = [
            phone
            for (phone,) in connection.execute(_now_text(SQLITE_UPSERT), {"now": now})
            if phone not in dups
        ]
        created = batch.fresh - existing
        return created, len(changed) - created

    def _params(self, now: datetime) -> dict[str, Any]:
        options = self.consent
        assert options is not None
        return {
            "now": now,
            "brand_id": options.brand_id,
            "source": options.source,
            "recipient_type": options.recipient_type,
            "label": options.label,
            "import_id": options.import_id,
            "from_registry": options.source.startswith("IYS"),
        }

    def _record_postgresql(
        self, connection: sa.Connection, copies: list[bytes], *, analyse: bool = True
    ) -> int:
        connection.exec_driver_sql("SET LOCAL jit = off")
        generic_key_checks(connection)  # each event's contact and brand
        connection.exec_driver_sql("DROP TABLE IF EXISTS pg_temp.import_consent")
        connection.exec_driver_sql(_PG_CONSENT_STAGE)
        _copy(connection, f"COPY import_consent ({CONSENT_COLUMNS}) FROM STDIN", b"".join(copies))
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        params = self._params(utcnow())
        try:
            with connection.begin_nested():
                written = connection.execute(_now_text(_PG_CONSENT), params).scalar_one()
        except sa.exc.IntegrityError:  # a state added meanwhile: see _PG_CONSENT
            written = connection.execute(_now_text(_PG_CONSENT_UPSERT), params).scalar_one()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
        if analyse and not self._analysed:
            # Statistics taken before the load would have the states looked up by brand
            # (every row of it, for each row of the stage) instead of by their key.
            connection.exec_driver_sql("ANALYZE consent_states")
            self._analysed = True
        connection.exec_driver_sql("DROP TABLE pg_temp.import_consent")
        return int(written)

    def _record_sqlite(self, connection: sa.Connection, now: datetime) -> int:
        options = self.consent
        assert options is not None
        before = connection.execute(sa.text("SELECT max(id) FROM consent_events")).scalar()
        result = connection.execute(_now_text(_CONSENT_EVENTS), self._params(now))
        written = int(getattr(result, "rowcount", 0) or 0)
        if written:
            connection.execute(
                sa.text(_SQLITE_CONSENT_STATES),
                {"import_id": options.import_id, "before": int(before or 0)},
            )
        return written


def _copy(connection: sa.Connection, statement: str, data: bytes | None) -> None:
    raw: Any = connection.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(data or b"")
