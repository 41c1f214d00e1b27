"""Recording conversions (flushes, never commits)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interactive.analytics import rollups
from interactive.analytics.models import Conversion, ConversionSource
from interactive.db import array_params, unnest_rows, utcnow


@dataclass(frozen=True)
class NewConversion:
    source: ConversionSource
    event: str
    idempotency_key: str
    occurred_at: datetime
    value: Decimal | None = None
    currency: str | None = None
    phone: str | None = None
    contact_id: int | None = None
    campaign_id: int | None = None
    variant_id: int | None = None
    message_id: int | None = None
    link_id: int | None = None
    inbound_id: int | None = None
    click_token: str | None = None
    order_id: str | None = None


def record(session: Session, conversion: NewConversion) -> bool:
    """Store a conversion unless its idempotency key is known; True if it was new."""
    return _insert(session, conversion) is not None


def store(session: Session, conversion: NewConversion) -> tuple[Conversion, bool]:
    """Store a conversion unless its idempotency key is known (flushes, never commits).
    Returns the stored row (the earlier one, unchanged, on a replay) and whether it is
    new. Safe to call twice and side by side: the key is unique."""
    new_id = _insert(session, conversion)
    query = sa.select(Conversion).where(
        Conversion.idempotency_key == conversion.idempotency_key[:200]
    )
    row = session.scalars(query).one()
    return row, new_id is not None


def record_many(session: Session, conversions: Sequence[NewConversion]) -> int:
    """Store the conversions whose idempotency keys are not known yet, in one statement
    (flushes, never commits); returns how many were new."""
    if not conversions:
        return 0
    rows = [_row(c) for c in conversions]
    if session.get_bind().dialect.name == "postgresql":
        names = tuple(rows[0])
        inserted = session.execute(_insert_many_pg(names), array_params(rows, names)).all()
    else:
        table = _TABLE
        statement = _statement(session, table).returning(table.c.campaign_id)
        inserted = session.execute(statement, rows).all()
    rollups.touch(session, campaigns=[row[0] for row in inserted])
    return len(inserted)


_TABLE: sa.Table = Conversion.__table__  # type: ignore[assignment]


@functools.cache
def _insert_many_pg(names: tuple[str, ...]) -> sa.Executable:
    # The rows from ``unnest`` of one array per column: the same statement text whatever
    # the number of rows (a multi-row VALUES list is new text to build and parse each time).
    values = unnest_rows(_TABLE, names)
    return (
        postgresql.insert(_TABLE)
        .from_select(names, sa.select(*(values.c[name] for name in names)))
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(_TABLE.c.campaign_id)
    )


def _statement(session: Session, target: Any = Conversion) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(target).on_conflict_do_nothing(index_elements=["idempotency_key"])


def _row(conversion: NewConversion) -> dict[str, Any]:
    return {
        "source": conversion.source,
        "event": conversion.event[:64],
        "value": conversion.value,
        "currency": conversion.currency,
        "idempotency_key": conversion.idempotency_key[:200],
        "occurred_at": conversion.occurred_at,
        "recorded_at": utcnow(),
        "phone": conversion.phone,
        "contact_id": conversion.contact_id,
        "campaign_id": conversion.campaign_id,
        "variant_id": conversion.variant_id,
        "message_id": conversion.message_id,
        "link_id": conversion.link_id,
        "inbound_id": conversion.inbound_id,
        "click_token": conversion.click_token,
        "order_id": conversion.order_id,
    }


def _insert(session: Session, conversion: NewConversion) -> int | None:
    inserted = session.execute(
        _statement(session).returning(Conversion.id), _row(conversion)
    ).first()
    if inserted is None:
        return None
    rollups.touch(session, campaigns=[conversion.campaign_id])
    return int(inserted[0])


def counts(session: Session, campaign_id: int) -> list[tuple[int | None, int, Decimal]]:
    """(variant id, conversions, revenue) of a campaign."""
    rows = session.execute(
        sa.select(
            Conversion.variant_id,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(Conversion.value), 0),
        )
        .where(Conversion.campaign_id == campaign_id)
        .group_by(Conversion.variant_id)
    ).all()
    return [(variant_id, count, Decimal(total or 0)) for variant_id, count, total in rows]


def unattributed_count(session: Session, since: datetime | None = None) -> int:
    """Conversions tied to no campaign, message or link (kept, counted apart)."""
    query = sa.select(sa.func.count()).where(
        Conversion.campaign_id.is_(None),
        Conversion.message_id.is_(None),
        Conversion.link_id.is_(None),
    )
    if since is not None:
        query = query.where(Conversion.occurred_at >= since)
    return int(session.scalar(query) or 0)
