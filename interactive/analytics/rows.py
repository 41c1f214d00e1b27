"""The rows behind the dashboards' numbers: the messages, clicks, conversions and replies a
figure counts, selected by the dashboards' filters exactly as the rollups count them
(``compute``), newest first, a page at a time (the next page starts after the last row's
id) or all of them for an export.

What each list holds, with the figures that lead to it:

- ``messages``: campaign messages by the hour they were submitted (created, while queued);
  ``show`` narrows to ``sent`` (sent, parts, cost), ``delivered`` (delivered; with
  ``latency``, the delivery-latency bucket), ``failed`` or ``queued``.
- ``clicks``: hits on campaign links by when they happened; ``show`` is a click kind
  (``human``: human clicks, and unique human clickers: their people are the clicks'
  phones), ``bots`` (everything not human, the bot share) or ``all`` (raw clicks). With
  ``standalone`` and no brand, campaign or variant chosen, standalone links' hits are
  listed too (the links dashboard counts them).
- ``conversions``: conversions attributed to a campaign that count for its goal (its event
  when the goal names one, replies for a reply goal), by when they happened (conversions,
  people who converted, revenue).
- ``replies``: inbound messages attributed to a campaign, by when they arrived; ``show``
  ``opt_out`` narrows to the opt-outs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from interactive.analytics import compute, metrics
from interactive.analytics.models import Conversion, ConversionSource
from interactive.analytics.report import Cell, Column
from interactive.contacts.models import Contact
from interactive.keywords.models import Decision, InboundMessage
from interactive.outbound.campaigns import FAILED_STATES, QUEUED_STATES, SENT_STATES
from interactive.outbound.models import Campaign, Goal, Message, PartState, Variant
from interactive.shortlinks.models import Click, ClickKind

KINDS = ("messages", "clicks", "conversions", "replies")
#: What ``show`` may be for each list; the first is the default.
SHOWS: dict[str, tuple[str, ...]] = {
    "messages": ("sent", "delivered", "failed", "queued"),
    "clicks": ("human", "preview", "scanner", "head", "bots", "all"),
    "conversions": ("counted",),
    "replies": ("all", "opt_out"),
}
LATENCIES = (*(str(bound) for bound in compute.LATENCY_BUCKETS), "inf")
PAGE = 50
EXPORT_PAGE = 5000


@dataclass(frozen=True)
class Selection:
    """Which rows: the list, its narrowing (``show``), the dashboards' filters (a range of
    UTC instants, brand, campaign, variant), a delivery-latency bucket for delivered
    messages and, for clicks, whether standalone links' hits are included."""

    kind: str
    show: str
    filters: metrics.Filters
    latency: str | None = None
    standalone: bool = False


@dataclass
class Row:
    """One listed row: its id (the page's keyset), its cells, and the ids the view turns
    into links (``campaign``, ``contact``, ``thread``, ``link``)."""

    id: int
    cells: list[Cell]
    refs: dict[str, int | None]


def columns(kind: str) -> list[Column]:
    """The list's columns (the page's, the CSV's and the XLSX's)."""
    when = Column("at", _("When"), "time")
    campaign = Column("campaign", _("Campaign"), "text")
    variant = Column("variant", _("Variant"), "text")
    phone = Column("phone", _("Phone"), "text")
    if kind == "messages":
        return [
            when,
            campaign,
            variant,
            phone,
            Column("state", _("Status"), "text"),
            Column("parts", _("Parts")),
            Column("error", _("Error code"), "text"),
            Column("final", _("Final status at"), "time"),
        ]
    if kind == "clicks":
        return [
            when,
            campaign,
            variant,
            phone,
            Column("kind", _("Who"), "text"),
            Column("method", _("Method"), "text"),
            Column("agent", _("User agent"), "text"),
            Column("referrer", _("Referrer"), "text"),
            Column("link", _("Link"), "text"),
        ]
    if kind == "conversions":
        return [
            when,
            campaign,
            variant,
            phone,
            Column("event", _("Event"), "text"),
            Column("value", _("Value"), "number"),
            Column("currency", _("Currency"), "text"),
            Column("order", _("Order"), "text"),
            Column("source", _("Source"), "text"),
        ]
    return [
        when,
        campaign,
        variant,
        phone,
        Column("text", _("Text"), "text"),
        Column("decision", _("Decision"), "text"),
    ]


# --- selecting --------------------------------------------------------------------------------


def _moment(kind: str) -> Any:
    return {
        "messages": sa.func.coalesce(Message.submitted_at, Message.created_at),
        "clicks": Click.clicked_at,
        "conversions": Conversion.occurred_at,
        "replies": InboundMessage.received_at,
    }[kind]


def _model(kind: str) -> Any:
    return {
        "messages": Message,
        "clicks": Click,
        "conversions": Conversion,
        "replies": InboundMessage,
    }[kind]


def counted_for_goal() -> sa.ColumnElement[bool]:
    """``compute.conversion_filter`` for every campaign at once (the conversion joined to
    its campaign)."""
    return sa.or_(
        sa.and_(
            Campaign.goal == Goal.CONVERSION,
            sa.func.coalesce(Campaign.goal_value, "") != "",
            Conversion.event == Campaign.goal_value,
        ),
        sa.and_(Campaign.goal == Goal.REPLY, Conversion.source == ConversionSource.REPLY),
        sa.and_(
            Campaign.goal != Goal.REPLY,
            sa.or_(
                Campaign.goal != Goal.CONVERSION, sa.func.coalesce(Campaign.goal_value, "") == ""
            ),
        ),
    )


#: The click kinds each ``show`` of the clicks list holds.
CLICK_KINDS: dict[str, tuple[ClickKind, ...]] = {
    "human": (ClickKind.HUMAN,),
    "preview": (ClickKind.PREVIEW,),
    "scanner": (ClickKind.SCANNER,),
    "head": (ClickKind.HEAD,),
    "bots": (ClickKind.PREVIEW, ClickKind.SCANNER, ClickKind.HEAD),
    "all": tuple(ClickKind),
}


def _narrowing(selection: Selection, dialect: str) -> list[sa.ColumnElement[bool]]:
    show = selection.show
    if selection.kind == "messages":
        states = {
            "sent": SENT_STATES,
            "delivered": frozenset({PartState.DELIVERED}),
            "failed": FAILED_STATES,
            "queued": QUEUED_STATES,
        }[show]
        where: list[sa.ColumnElement[bool]] = [Message.state.in_(sorted(states))]
        if selection.latency is not None and show == "delivered":
            seconds = compute.seconds_between(Message.submitted_at, Message.final_at, dialect)
            where += [
                Message.submitted_at.is_not(None),
                Message.final_at.is_not(None),
                compute.latency_bucket(seconds) == selection.latency,
            ]
        return where
    if selection.kind == "conversions":
        return [counted_for_goal()]
    if selection.kind == "replies":
        return [InboundMessage.decision == Decision.OPT_OUT] if show == "opt_out" else []
    return []


def _newest_first(kind: str) -> bool:
    """Whether the list is ordered by its moment (then id), each newest first, which an
    index serves (clicks: kind and ``clicked_at``, per campaign too; replies:
    ``received_at``); a message's moment (submitted, else created) has no index, and its
    id follows its creation, so messages are ordered by id."""
    return kind != "messages"


def query(
    selection: Selection, dialect: str, *, before: int | None = None, limit: int | None = None
) -> sa.Select[Any]:
    """The rows' select, newest first, after row ``before`` (a keyset page), at most
    ``limit``: the row's id, moment and cells, then the ids behind its links (columns
    ``c0``, ``c1`` …).

    Clicks are selected one kind at a time, each newest first from the index on (kind,
    time) or (campaign, kind, time), and merged: link previews and scanners come within
    seconds of a send and people for days after, so one scan newest first over every kind
    would pass millions of people's clicks to find the last preview."""
    if selection.kind != "clicks":
        return _branch(selection, dialect, None, before, limit)
    kinds = CLICK_KINDS[selection.show]
    if len(kinds) == 1:
        return _branch(selection, dialect, kinds[0], before, limit)
    merged = sa.union_all(
        *(sa.select(_branch(selection, dialect, kind, before, limit).subquery()) for kind in kinds)
    ).subquery()
    select = sa.select(merged).order_by(merged.c.c1.desc(), merged.c.c0.desc())
    return select.limit(limit) if limit is not None else select


def _branch(
    selection: Selection,
    dialect: str,
    click_kind: ClickKind | None,
    before: int | None,
    limit: int | None,
) -> sa.Select[Any]:
    kind, filters = selection.kind, selection.filters
    model = _model(kind)
    moment = _moment(kind)
    campaign_filtered = (
        filters.brand_id is not None
        or filters.campaign_id is not None
        or filters.variant_id is not None
    )
    standalone = kind == "clicks" and selection.standalone and not campaign_filtered
    heads: list[Any] = [model.id, moment, Campaign.name, Variant.label]
    cells: list[Any]
    extra: list[Any]
    if kind == "messages":
        cells = [
            Message.destination,
            Message.state,
            Message.parts_count,
            Message.error_code,
            Message.final_at,
        ]
        contact, extra = Message.contact_id, [sa.null(), sa.null()]
    elif kind == "clicks":
        cells = [
            Contact.phone,
            Click.kind,
            Click.method,
            Click.user_agent,
            Click.referrer,
            Click.link_id,
        ]
        contact, extra = Click.contact_id, [sa.null(), Click.link_id]
    elif kind == "conversions":
        cells = [
            sa.func.coalesce(Conversion.phone, Contact.phone),
            Conversion.event,
            Conversion.value,
            Conversion.currency,
            Conversion.order_id,
            Conversion.source,
        ]
        contact, extra = Conversion.contact_id, [sa.null(), sa.null()]
    else:
        cells = [
            sa.func.coalesce(InboundMessage.phone, InboundMessage.source),
            InboundMessage.text,
            InboundMessage.decision,
        ]
        contact, extra = InboundMessage.contact_id, [InboundMessage.thread_id, sa.null()]
    columns = [*heads, *cells, model.campaign_id, contact, *extra]
    select = sa.select(*(column.label(f"c{i}") for i, column in enumerate(columns)))
    select = (
        select.select_from(model)
        .join(Campaign, Campaign.id == model.campaign_id, isouter=standalone)
        .outerjoin(Variant, Variant.id == model.variant_id)
    )
    if kind in ("clicks", "conversions"):
        select = select.outerjoin(Contact, Contact.id == contact)
    where = _narrowing(selection, dialect)
    if click_kind is not None:
        where.append(Click.kind == click_kind)
    if filters.start is not None:
        where.append(moment >= filters.start)
    if filters.end is not None:
        where.append(moment < filters.end)
    if filters.brand_id is not None:
        where.append(Campaign.brand_id == filters.brand_id)
    if filters.campaign_id is not None:
        where.append(model.campaign_id == filters.campaign_id)
    if filters.variant_id is not None:
        where.append(model.variant_id == filters.variant_id)
    if before is not None:
        where.append(_older_than(kind, before))
    select = select.where(*where)
    if _newest_first(kind):
        select = select.order_by(moment.desc(), model.id.desc())
    else:
        select = select.order_by(model.id.desc())
    return select.limit(limit) if limit is not None else select


def _older_than(kind: str, before: int) -> sa.ColumnElement[bool]:
    """The rows after row ``before`` in the list's order (a keyset page)."""
    model, moment = _model(kind), _moment(kind)
    if not _newest_first(kind):
        return model.id < before
    at = sa.select(moment).where(model.id == before).scalar_subquery()
    # The first condition is the index's range; the second breaks ties on the moment.
    return sa.and_(moment <= at, sa.or_(moment < at, model.id < before))


def _row(kind: str, values: Sequence[Any], zone: ZoneInfo, labels: Labels) -> Row:
    row_id, at, campaign, variant, *rest = values
    *cells, campaign_id, contact_id, thread_id, link_id = rest
    shown: list[Cell] = [_local(at, zone), campaign, variant]
    if kind == "messages":
        phone, state, parts, error, final = cells
        shown += [phone, labels.message(state), parts, "" if error is None else str(error)]
        shown.append(_local(final, zone))
    elif kind == "clicks":
        phone, click_kind, method, agent, referrer, link = cells
        shown += [phone, labels.click(click_kind), method, agent, referrer, str(link)]
    elif kind == "conversions":
        phone, event, value, currency, order, source = cells
        shown += [phone, event, value, currency, order, labels.source(source)]
    else:
        phone, text, decision = cells
        shown += [phone, text, labels.decision(decision)]
    refs = {"campaign": campaign_id, "contact": contact_id, "thread": thread_id, "link": link_id}
    return Row(row_id, shown, refs)


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return moment.astimezone(zone) if moment is not None else None


@dataclass(frozen=True)
class Labels:
    """The translated names of the values the lists show (passed in: the tables live with
    their packages' views)."""

    messages: dict[Any, str]
    clicks: dict[Any, str]
    sources: dict[Any, str]
    decisions: dict[Any, str]

    def message(self, state: Any) -> str:
        return str(self.messages.get(state, state or ""))

    def click(self, kind: Any) -> str:
        return str(self.clicks.get(kind, kind or ""))

    def source(self, source: Any) -> str:
        return str(self.sources.get(source, source or ""))

    def decision(self, decision: Any) -> str:
        return str(self.decisions.get(decision, decision or ""))


def page(
    session: Session,
    selection: Selection,
    labels: Labels,
    zone: str,
    *,
    before: int | None = None,
    limit: int | None = None,
) -> tuple[list[Row], int | None]:
    """A page of rows (``PAGE`` unless ``limit``), newest first, older than ``before`` (an
    id); and the id to ask the next page with, or None when this is the last."""
    limit = limit or PAGE
    dialect = session.get_bind().dialect.name
    found = session.execute(query(selection, dialect, before=before, limit=limit + 1)).all()
    tz = ZoneInfo(zone)
    rows = [_row(selection.kind, values, tz, labels) for values in found[:limit]]
    more = len(found) > limit
    return rows, rows[-1].id if more and rows else None


def every(
    session: Session, selection: Selection, labels: Labels, zone: str, *, limit: int | None = None
) -> Iterator[list[Row]]:
    """All the rows, a page at a time (an export must not hold a cursor across the
    response's yields), at most ``limit`` of them."""
    before: int | None = None
    left = limit
    while left is None or left > 0:
        size = EXPORT_PAGE if left is None else min(EXPORT_PAGE, left)
        rows, before = page(session, selection, labels, zone, before=before, limit=size)
        if rows:
            yield rows
        if left is not None:
            left -= len(rows)
        if before is None:
            return
