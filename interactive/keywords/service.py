"""Storing inbound messages (the gateway's side of the inbox). Flushes, never commits."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from interactive.db import bulk_update
from interactive.keywords.models import InboundMessage, InboundPart

log = logging.getLogger(__name__)

_PARTS: sa.Table = InboundPart.__table__  # type: ignore[assignment]

#: An SMSC that got no deliver_sm_resp sends the PDU again, usually within minutes; the
#: same content from the same number after this window is a new message.
RETRANSMIT_WINDOW = timedelta(minutes=30)


def inbound_stream(prefix: str) -> str:
    """The stream of stored inbound message ids that the router consumes."""
    return f"{prefix}:inbound"


def dedup_key(connection: str, source: str, destination: str, *parts: bytes) -> str:
    digest = hashlib.sha256()
    for value in (connection.encode(), source.encode(), destination.encode(), *parts):
        digest.update(len(value).to_bytes(4, "big"))
        digest.update(value)
    return digest.hexdigest()


def last_received(
    session: Session,
    model: type[InboundMessage] | type[InboundPart],
    keys: Iterable[str],
    since: datetime,
) -> dict[str, datetime]:
    """When each of these dedup keys was last stored, for those stored at or after
    ``since``: one query for a whole batch (callers apply the retransmit window per item)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        params: dict[str, Any] = {"keys": keys, "since": since}
        rows = session.execute(_last_received_per_key(model), params)
    else:
        rows = session.execute(
            sa.select(model.dedup_key, model.received_at).where(
                model.dedup_key.in_(keys), model.received_at >= since
            )
        )
    last: dict[str, datetime] = {}
    for key, received_at in rows:
        if received_at is not None and (key not in last or received_at > last[key]):
            last[key] = received_at
    return last


@functools.lru_cache(maxsize=4)
def _last_received_per_key(
    model: type[InboundMessage] | type[InboundPart],
) -> sa.Select[str, datetime | None]:
    # One index probe per key, whatever the table's statistics: with ``dedup_key IN (…)``
    # PostgreSQL scans the whole table when it has no statistics yet (a new database
    # taking MOs before autovacuum's first ANALYZE) and the batch holds a few dozen keys.
    # Built once: the keys are one array parameter.
    given = (
        sa.func.unnest(sa.bindparam("keys", type_=postgresql.ARRAY(sa.String)))
        .table_valued("key")
        .render_derived(name="given")
    )
    since = sa.bindparam("since", type_=model.received_at.type)
    latest = (
        sa.select(sa.func.max(model.received_at).label("received_at"))
        .where(model.dedup_key == given.c.key, model.received_at >= since)
        .lateral("latest")
    )
    return sa.select(given.c.key, latest.c.received_at).join_from(given, latest, sa.true())


def add_rows(
    session: Session,
    model: type[InboundMessage] | type[InboundPart],
    rows: Sequence[dict[str, Any]],
) -> list[int]:
    """Insert rows (column name → value, the same names in every row) and return their
    ids in the order given: one INSERT … RETURNING for the batch, not a flush per row. The
    rows are not added to the session."""
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _insert_unnest(connection, model, rows, fresh_only=False)
    statement = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, list(rows)))


def add_fresh_messages(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """PostgreSQL: insert the messages whose ``dedup_key`` was not stored within
    ``RETRANSMIT_WINDOW`` before their ``received_at`` (a retransmission is left out) and
    return the new ids in the order given. One statement: on a connection that commits
    each statement, a batch of MOs is durable in one round trip. The rows' keys must be
    distinct (the caller drops repeats inside the batch)."""
    if not rows:
        return []
    return _insert_unnest(connection, InboundMessage, rows, fresh_only=True)


def _insert_unnest(
    connection: sa.Connection,
    model: type[InboundMessage] | type[InboundPart],
    rows: Sequence[dict[str, Any]],
    *,
    fresh_only: bool,
) -> list[int]:
    table: sa.Table = model.__table__  # type: ignore[assignment]
    names = tuple(rows[0])
    params: dict[str, Any] = {}
    for name in names:
        process = (
            table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
        )
        values = [row[name] for row in rows]
        params[f"p_{name}"] = [process(v) for v in values] if process else values
    if fresh_only:
        params["window"] = RETRANSMIT_WINDOW
    result = connection.exec_driver_sql(
        _unnest_insert(connection.dialect, table, names, fresh_only), params
    )
    # Ids come from the table's sequence in the ORDER BY order (SQLAlchemy's
    # insertmanyvalues relies on the same for its "implicit sentinel").
    return sorted(int(i) for i in result.scalars())


@functools.lru_cache(maxsize=8)
def _unnest_insert(
    dialect: Dialect, table: sa.Table, names: tuple[str, ...], fresh_only: bool = False
) -> str:
    # One array per column: the statement text is the same whatever the number of rows,
    # so the driver converts it once and the server prepares it once (a multi-row VALUES
    # list is new text, parsed again on both sides, for every batch size).
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"%(p_{name})s::{table.c[name].type.compile(dialect=dialect)}[]" for name in names
    )
    columns = ", ".join(quote(name) for name in names)
    name = quote(table.name)
    # A retransmission: the same key stored within the window (one index probe each).
    fresh = (
        f"WHERE NOT EXISTS (SELECT 1 FROM {name} AS seen "  # noqa: S608
        "WHERE seen.dedup_key = v.dedup_key "
        "AND seen.received_at >= v.received_at - %(window)s::interval) "
        if fresh_only
        else ""
    )
    # Only the table's own column names, quoted; every value is a bound parameter.
    return (
        f"INSERT INTO {name} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM unnest({arrays}) WITH ORDINALITY AS v({columns}, n) "
        f"{fresh}ORDER BY n RETURNING id"
    )


def open_parts(session: Session, connection: str, since: datetime) -> list[InboundPart]:
    """Parts of concatenated messages not assembled yet (to rebuild after a restart)."""
    query = (
        sa.select(InboundPart)
        .where(
            InboundPart.connection == connection,
            InboundPart.message_id.is_(None),
            InboundPart.received_at >= since,
        )
        .order_by(InboundPart.id)
    )
    return list(session.scalars(query))


def link_parts(session: Session, links: Mapping[int, int]) -> None:
    """Point parts at the message they were assembled into (part id → message id)."""
    if links:
        rows = [{"id": part, "message_id": message} for part, message in links.items() if part]
        bulk_update(session, _PARTS, rows)
