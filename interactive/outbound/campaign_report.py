"""What the campaign pages read: counts per campaign for the list, the funnel as rows and
as a plotly figure, the reasons breakdown and the recipients export. Reads only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from interactive.analytics.funnel import Funnel
from interactive.analytics.models import CampaignDay
from interactive.contacts.models import Contact
from interactive.outbound import campaigns, labels
from interactive.outbound.models import (
    Message,
    PartState,
    Recipient,
    RecipientReason,
    RecipientStatus,
)
from interactive.web.csv_safe import neutralise

EXPORT_PAGE = 5000


@dataclass
class Counts:
    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    clicks: int = 0


def counts_by_campaign(session: Session, ids: Sequence[int]) -> dict[int, Counts]:
    """Targeted, sent, delivered and human clicks of each campaign (three grouped queries
    for the whole page of the list; clicks as of the rollups' last refresh)."""
    result = {i: Counts() for i in ids}
    if not ids:
        return result
    for campaign_id, count in session.execute(
        sa.select(Recipient.campaign_id, sa.func.count())
        .where(Recipient.campaign_id.in_(ids))
        .group_by(Recipient.campaign_id)
    ):
        result[campaign_id].targeted = count
    for message_campaign, state, count in session.execute(
        sa.select(Message.campaign_id, Message.state, sa.func.count())
        .where(Message.campaign_id.in_(ids))
        .group_by(Message.campaign_id, Message.state)
    ):
        counts = result.get(message_campaign or 0)
        if counts is None:
            continue
        if state in campaigns.SENT_STATES:
            counts.sent += count
        if state == PartState.DELIVERED:
            counts.delivered += count
    # Clicks from the rollups (refreshed every few seconds): never counted from the raw
    # clicks on a page request.
    for click_campaign, count in session.execute(
        sa.select(CampaignDay.campaign_id, sa.func.sum(CampaignDay.clicks_human))
        .where(CampaignDay.campaign_id.in_(ids))
        .group_by(CampaignDay.campaign_id)
    ):
        if click_campaign in result:
            result[click_campaign].clicks = int(count or 0)
    return result


# --- funnel ---------------------------------------------------------------------------------


@dataclass
class Step:
    key: str
    label: str
    value: int
    rate: float | None  # of the step before (clicks: people who clicked, of delivered)
    extra: str = ""


def steps(f: Funnel) -> list[Step]:
    """targeted → eligible → sent → delivered → human clicks → replies → conversions."""

    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    return [
        Step("targeted", _("Targeted"), f.targeted, None),
        Step("eligible", _("Eligible"), f.eligible, rate(f.eligible, f.targeted)),
        Step("sent", _("Sent"), f.sent, rate(f.sent, f.eligible)),
        Step("delivered", _("Delivered"), f.delivered, f.delivery_rate),
        Step(
            "clicks",
            _("Human clicks"),
            f.clicks,
            f.click_rate,
            _("%(people)d people · %(raw)d raw clicks", people=f.clickers, raw=f.clicks_raw),
        ),
        Step(
            "replies",
            _("Replied"),
            f.repliers,
            rate(f.repliers, f.delivered),
            _("%(count)d messages", count=f.replies),
        ),
        Step("conversions", _("Conversions"), f.conversions, rate(f.conversions, f.delivered)),
    ]


def funnel_figure(f: Funnel) -> dict[str, Any]:
    """A plotly funnel (as the JSON plotly.js draws) of the people at each step."""
    import plotly.graph_objects as go

    names = [
        _("Targeted"),
        _("Eligible"),
        _("Sent"),
        _("Delivered"),
        _("Clicked (people)"),
        _("Converted"),
    ]
    values = [f.targeted, f.eligible, f.sent, f.delivered, f.clickers, f.conversions]
    figure = go.Figure(
        go.Funnel(
            y=names,
            x=values,
            textinfo="value+percent initial",
            marker={"color": "#0f5c8c"},
            connector={"fillcolor": "#d9e0e8"},
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=320,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 14},
    )
    result: dict[str, Any] = json.loads(figure.to_json())
    return result


def reason_rows(f: Funnel) -> list[tuple[str, str, int]]:
    """(key, translated label, count) of why recipients got no message (yet), the hold-out
    included, most frequent first."""
    reasons = dict(f.reasons)
    if f.held_out:
        reasons[RecipientReason.HOLDOUT.value] = f.held_out
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return [(key, labels.label(labels.REASONS, key), count) for key, count in ordered]


# --- recipients export ----------------------------------------------------------------------


def export_rows(
    session: Session,
    campaign_id: int,
    variant_labels: dict[int, str],
    *,
    status: RecipientStatus | None,
    reason: RecipientReason | None,
    variant: int | None = None,
    error: str | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> Iterator[str]:
    """The recipients as CSV text, page by page (a streamed response must not hold a
    cursor across yields); cells a spreadsheet would run as formulas are neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # Excel opens UTF-8 only with a BOM
    writer.writerow(
        [
            _("Phone"),
            _("First name"),
            _("Last name"),
            _("Variant"),
            _("Status"),
            _("Reason"),
            _("Message"),
            _("Not before (UTC)"),
            _("Decided at (UTC)"),
        ]
    )
    after = None
    while True:
        rows = campaigns.recipients(
            session,
            campaign_id,
            status=status,
            reason=reason,
            variant=variant,
            error=error,
            where=where,
            after_id=after,
            limit=EXPORT_PAGE,
        )
        names = _names(session, [r.contact_id for r in rows])
        for row in rows:
            first, last = names.get(row.contact_id, (None, None))
            writer.writerow(
                [
                    neutralise(row.phone or ""),
                    neutralise(first or ""),
                    neutralise(last or ""),
                    neutralise(variant_labels.get(row.variant_id or 0, "")),
                    labels.label(labels.RECIPIENT_STATUSES, row.status),
                    labels.label(labels.REASONS, row.reason),
                    labels.label(labels.MESSAGE_STATES, row.message_state),
                    row.not_before.isoformat() if row.not_before else "",
                    row.decided_at.isoformat() if row.decided_at else "",
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1].id


def _names(session: Session, contact_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
    if not contact_ids:
        return {}
    rows = session.execute(
        sa.select(Contact.id, Contact.first_name, Contact.last_name).where(
            Contact.id.in_(contact_ids)
        )
    )
    return {contact_id: (first, last) for contact_id, first, last in rows}
