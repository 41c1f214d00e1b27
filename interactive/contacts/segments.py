"""Segments: saved filters over contacts, evaluated in SQL (EXISTS subqueries), never by
looping over contacts in Python.

A definition is JSON::

    {"match": "all" | "any", "conditions": [
        {"kind": "attribute", "key": "city", "op": "=", "value": "İzmir"},
        {"kind": "field", "field": "language", "op": "=", "value": "tr"},
        {"kind": "list", "op": "in" | "not_in", "list_id": 3},
        {"kind": "consent", "brand_id": 1, "status": "ONAY" | "RET" | "none"},
        {"kind": "messaged", "days": 30},
        {"kind": "replied", "days": 30},
        {"kind": "replied_to_campaign", "campaign_id": 7, "days": 3},
        {"kind": "clicked", "days": 30}]}

Attribute values are typed by their AttributeDefinition and read with SQLAlchemy's JSON
element access (``as_string()``, ``as_float()``, ``as_boolean()``) so the same clause runs on
SQLite and PostgreSQL. "!=" also matches contacts that have no value. "clicked" counts
clicks by a person (not link previews or scanners) on any tracked link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from interactive.contacts import service
from interactive.contacts.models import AttributeType, Contact, ListMember
from interactive.contacts.service import spellings
from interactive.db import utcnow
from interactive.keywords.models import InboundMessage
from interactive.outbound.models import Message
from interactive.shortlinks.models import Click, ClickKind

KINDS = (
    "attribute",
    "field",
    "list",
    "consent",
    "messaged",
    "replied",
    "replied_to_campaign",
    "clicked",
)
ORDERING = ("<", "<=", ">", ">=")
OPS_BY_TYPE: dict[AttributeType, tuple[str, ...]] = {
    AttributeType.TEXT: ("=", "!=", "contains", "is_set", "not_set"),
    AttributeType.NUMBER: ("=", "!=", *ORDERING, "is_set", "not_set"),
    AttributeType.DATE: ("=", "!=", *ORDERING, "is_set", "not_set"),
    AttributeType.BOOLEAN: ("=", "!=", "is_set", "not_set"),
}
TEXT_FIELDS = ("first_name", "last_name", "language", "country", "time_zone")
FIELD_OPS = {name: OPS_BY_TYPE[AttributeType.TEXT] for name in TEXT_FIELDS}
FIELD_OPS["created_at"] = ORDERING
MAX_CONDITIONS = 50
MAX_DAYS = 3650
NOT_YET: dict[str, Any] = {}


class SegmentError(ValueError):
    """An invalid or not (yet) evaluable definition; ``message`` is for people."""

    def __init__(self, message: object, index: int | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.index = index  # which condition (0-based), if one


def validate(session: Session, definition: Any) -> dict[str, Any]:
    """The definition checked and normalised (values typed per attribute definition);
    SegmentError otherwise."""
    if not isinstance(definition, Mapping):
        raise SegmentError(_l("A segment definition must be an object."))
    match = definition.get("match", "all")
    if match not in ("all", "any"):
        raise SegmentError(_l("“match” must be “all” or “any”."))
    conditions = definition.get("conditions")
    if not isinstance(conditions, Sequence) or isinstance(conditions, str):
        raise SegmentError(_l("“conditions” must be a list."))
    if len(conditions) > MAX_CONDITIONS:
        raise SegmentError(_l("At most %(n)d conditions.", n=MAX_CONDITIONS))
    types = service.attribute_types(session)
    checked = []
    for index, condition in enumerate(conditions):
        try:
            checked.append(_validate_condition(condition, types))
        except SegmentError as exc:
            raise SegmentError(
                _l("Condition %(n)d: %(error)s", n=index + 1, error=exc.message), index
            ) from None
    return {"match": match, "conditions": checked}


def _validate_condition(condition: Any, types: Mapping[str, AttributeType]) -> dict[str, Any]:
    if not isinstance(condition, Mapping):
        raise SegmentError(_l("a condition must be an object"))
    kind = condition.get("kind")
    if kind not in KINDS:
        raise SegmentError(_l("unknown kind “%(kind)s”", kind=str(kind)))
    if kind == "attribute":
        key = condition.get("key")
        kind_of = types.get(str(key))
        if kind_of is None:
            raise SegmentError(_l("unknown attribute “%(key)s”", key=str(key)))
        op = _op(condition, OPS_BY_TYPE[kind_of])
        typed = None if op in ("is_set", "not_set") else _value(kind_of, condition.get("value"), op)
        return {"kind": kind, "key": key, "op": op, "value": typed}
    if kind == "field":
        name = condition.get("field")
        if name not in FIELD_OPS:
            raise SegmentError(_l("unknown field “%(field)s”", field=str(name)))
        op = _op(condition, FIELD_OPS[name])
        if op in ("is_set", "not_set"):
            value: Any = None
        elif name == "created_at":
            value = _value(AttributeType.DATE, condition.get("value"), op)
        else:
            value = _value(AttributeType.TEXT, condition.get("value"), op)
        return {"kind": kind, "field": name, "op": op, "value": value}
    if kind == "list":
        op = _op(condition, ("in", "not_in"))
        return {"kind": kind, "op": op, "list_id": _int(condition.get("list_id"), "list_id")}
    if kind == "consent":
        status = condition.get("status")
        if status not in ("ONAY", "RET", "none"):
            raise SegmentError(_l("consent status must be ONAY, RET or none"))
        return {
            "kind": kind,
            "brand_id": _int(condition.get("brand_id"), "brand_id"),
            "status": status,
        }
    days = _int(condition.get("days"), "days")
    if not 1 <= days <= MAX_DAYS:
        raise SegmentError(_l("days must be between 1 and %(max)d", max=MAX_DAYS))
    if kind == "replied_to_campaign":
        campaign = _int(condition.get("campaign_id"), "campaign_id")
        return {"kind": kind, "campaign_id": campaign, "days": days}
    return {"kind": kind, "days": days}


def _op(condition: Mapping[str, Any], allowed: Sequence[str]) -> str:
    op = condition.get("op")
    if op not in allowed:
        raise SegmentError(_l("operator must be one of %(ops)s", ops=", ".join(allowed)))
    return str(op)


def _value(kind: AttributeType, raw: Any, op: str) -> Any:
    try:
        value = service.coerce(kind, raw)
    except service.ContactError as exc:
        raise SegmentError(exc.message) from None
    if value is None:
        raise SegmentError(_l("a value is required"))
    if op == "contains":
        value = str(value)
    return value


def _int(raw: Any, name: str) -> int:
    if isinstance(raw, bool):
        raise SegmentError(_l("%(name)s must be a whole number", name=name))
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise SegmentError(_l("%(name)s must be a whole number", name=name)) from None


# --- SQL ----------------------------------------------------------------------------------


def to_where(
    session: Session, definition: Any, *, now: datetime | None = None
) -> sa.ColumnElement[bool]:
    """A boolean clause over ``Contact`` for a definition (validated first). SegmentError
    for an invalid definition or a kind that cannot be evaluated yet."""
    checked = validate(session, definition)
    types = service.attribute_types(session)
    moment = now or utcnow()
    clauses = []
    for index, condition in enumerate(checked["conditions"]):
        reason = NOT_YET.get(condition["kind"])
        if reason is not None:
            raise SegmentError(_l("Condition %(n)d: %(error)s", n=index + 1, error=reason), index)
        clauses.append(_clause(condition, types, moment))
    if not clauses:
        return sa.true()
    return sa.and_(*clauses) if checked["match"] == "all" else sa.or_(*clauses)


def count(session: Session, definition: Any, *, now: datetime | None = None) -> int:
    """How many contacts match: one SQL COUNT."""
    where = to_where(session, definition, now=now)
    return int(session.scalar(sa.select(sa.func.count(Contact.id)).where(where)) or 0)


def preview(
    session: Session, definition: Any, limit: int = 20, *, now: datetime | None = None
) -> list[Contact]:
    """The newest ``limit`` matching contacts."""
    where = to_where(session, definition, now=now)
    return list(
        session.scalars(sa.select(Contact).where(where).order_by(Contact.id.desc()).limit(limit))
    )


def _clause(
    condition: dict[str, Any], types: Mapping[str, AttributeType], now: datetime
) -> sa.ColumnElement[bool]:
    kind = condition["kind"]
    if kind == "attribute":
        return _attribute(condition, types[condition["key"]])
    if kind == "field":
        return _field(condition)
    if kind == "list":
        member = sa.exists().where(
            ListMember.list_id == condition["list_id"], ListMember.contact_id == Contact.id
        )
        return member if condition["op"] == "in" else ~member
    if kind == "consent":
        return service.consent_condition(condition["brand_id"], condition["status"])
    since = now - timedelta(days=condition["days"])
    if kind == "messaged":
        return _messaged_since(since)
    if kind == "clicked":
        return Contact.id.in_(
            sa.select(Click.contact_id).where(
                Click.clicked_at >= since,
                Click.kind == ClickKind.HUMAN,
                Click.contact_id.is_not(None),
            )
        )
    if kind == "replied":
        return Contact.phone.in_(
            sa.select(_e164(InboundMessage.source)).where(InboundMessage.received_at >= since)
        )
    return _replied_to_campaign(condition["campaign_id"], condition["days"])


def _e164(column: Any) -> Any:
    """A stored number ("+90532…" or "90532…") as E.164, to compare with ``Contact.phone``.

    Engagement conditions are uncorrelated ``phone IN (SELECT …)`` sets rather than EXISTS
    per contact: the database builds the set once (hash semi-join) instead of probing the
    messages or inbound tables a million times."""
    return "+" + sa.func.ltrim(column, "+")


def _messaged_since(since: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        Contact.id.in_(
            sa.select(Message.contact_id).where(
                Message.created_at >= since, Message.contact_id.is_not(None)
            )
        ),
        Contact.phone.in_(sa.select(_e164(Message.destination)).where(Message.created_at >= since)),
    )


def _replied_to_campaign(campaign_id: int, days: int) -> sa.ColumnElement[bool]:
    """A reply from a number within ``days`` after a message of the campaign was sent to it."""
    replied = (
        sa.select(_e164(InboundMessage.source))
        .select_from(Message)
        .join(
            InboundMessage,
            sa.and_(
                # Both stored forms, spelt out so the (source, received_at) index serves it.
                InboundMessage.source.in_(
                    [sa.func.ltrim(Message.destination, "+"), _e164(Message.destination)]
                ),
                InboundMessage.received_at >= Message.created_at,
                InboundMessage.received_at <= PlusDays(Message.created_at, days),
            ),
        )
        .where(Message.campaign_id == campaign_id)
    )
    return Contact.phone.in_(replied)


class PlusDays(FunctionElement[datetime]):
    """``timestamp + N days`` in each dialect's own arithmetic (N a bound parameter, so
    the statement cache tells 3 days from 5)."""

    inherit_cache = True
    type = sa.DateTime()

    def __init__(self, column: Any, days: int) -> None:
        super().__init__(column, sa.literal(int(days), sa.Integer()))


@compiles(PlusDays)
def _plus_days_default(element: PlusDays, compiler: Any, **kw: Any) -> str:
    column, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} + make_interval(days => {days}))"


@compiles(PlusDays, "sqlite")
def _plus_days_sqlite(element: PlusDays, compiler: Any, **kw: Any) -> str:
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"; keep that shape so text comparison works.
    column, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"strftime('%Y-%m-%d %H:%M:%f000', {column}, printf('+%d days', {days}))"


def _attribute(condition: dict[str, Any], kind: AttributeType) -> sa.ColumnElement[bool]:
    element = Contact.attributes[condition["key"]]
    op, value = condition["op"], condition["value"]
    if op in ("is_set", "not_set"):
        # JSON null and a missing key both read as SQL NULL through ->> / json_extract.
        text = element.as_string()
        present = (
            sa.func.coalesce(text, "") != "" if kind == AttributeType.TEXT else text.is_not(None)
        )
        return present if op == "is_set" else ~present
    if kind == AttributeType.NUMBER:
        column: Any = element.as_float()
    elif kind == AttributeType.BOOLEAN:
        column = element.as_boolean()
    else:
        column = element.as_string()
    return _compare(column, op, value)


def _compare(column: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return sa.or_(column.is_(None), column != value)
    if op == "contains":
        # Every spelling (Turkish-aware) rather than lower(): SQLite folds ASCII only.
        return sa.or_(*(column.like(f"%{_escape(v)}%", escape="\\") for v in spellings(value)))
    return {
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }[op]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _field(condition: dict[str, Any]) -> sa.ColumnElement[bool]:
    name, op, value = condition["field"], condition["op"], condition["value"]
    column = getattr(Contact, name)
    if op == "is_set":
        return sa.func.coalesce(column, "") != ""
    if op == "not_set":
        return sa.func.coalesce(column, "") == ""
    if name == "created_at":
        # A date: "before" is before its midnight (UTC), "after" after its end.
        day = datetime.combine(
            date.fromisoformat(value), datetime.min.time(), tzinfo=utcnow().tzinfo
        )
        bounds = {"<": column < day, ">=": column >= day}
        end = day + timedelta(days=1)
        bounds.update({"<=": column < end, ">": column >= end})
        return bounds[op]
    return _compare(column, op, value)


def describe_kinds() -> list[dict[str, Any]]:
    """The condition kinds and operators the builder offers (with what is not available)."""
    return [
        {"kind": kind, "available": kind not in NOT_YET, "note": str(NOT_YET.get(kind, ""))}
        for kind in KINDS
    ]
