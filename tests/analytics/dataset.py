"""A hand-built campaign whose every figure is known (``EXPECTED``), for the metric, rollup
and dashboard tests.

Campaign "Bahar" (goal: the conversion event ``purchase``; 10 % hold-out; 7-day window)
on route ``sim``, variants A and B, one run started at ``T0``:

- A: c1–c4 sent (c4's message undeliverable, error 11), c10 deferred (quiet hours);
  B: c5–c7 sent (c7 only accepted); c8 skipped (opted out), c9 skipped (no consent);
  c11, c12 held out.
- Parts: c3's message has 2, the others 1. Delivery latency: c1 3 s, c2 40 s, c3 3 s,
  c5 8 s, c6 700 s.
- Clicks: c1 two human clicks (T0+1h, T0+2h) and a preview; c2 a scanner hit; c5 a human
  click (T0+3h) and a HEAD.
- Replies: c3 "EVET" (T0+1h); c6 "RET" (an opt-out, T0+2h), then "tamam".
- Conversions: c1 purchase 100.00 (A) and again 30.00 (A: two events, one person), c5
  purchase 50.50 (B), c1 signup (A, not the goal event), one unattributed purchase;
  hold-out c11 buys 20.00 a day later (a control converter), c12 buys 10 days later
  (outside the window).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy.orm import Session

from interactive.analytics import rollups
from interactive.analytics.models import Conversion, ConversionSource
from interactive.contacts.models import Contact
from interactive.keywords.models import Decision, InboundMessage
from interactive.outbound.models import (
    Campaign,
    CampaignRun,
    CampaignState,
    Goal,
    Message,
    PartState,
    Recipient,
    RecipientReason,
    RecipientStatus,
    RunState,
    Traffic,
    Variant,
)
from interactive.shortlinks.models import Click, ClickKind, Link

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PRICE = Decimal("0.25")  # per part on the route ``sim``

EXPECTED: dict[str, Any] = {
    "targeted": 12,
    "eligible": 8,
    "held_out": 2,
    "not_sent": 2,
    "sent": 7,
    "parts": 8,
    "delivered": 5,
    "failed": 1,
    "clicks_human": 3,
    "clicks_raw": 6,
    "clickers": 2,
    "replies": 3,
    "repliers": 2,
    "opt_outs": 1,
    "conversions": 3,
    "converters": 2,
    "revenue": Decimal("180.50"),
    "cost": Decimal("2.00"),
    "delivery_rate": 5 / 7,
    "ctr": 2 / 5,
    "bot_share": 3 / 6,
    "opt_out_rate": 1 / 5,
    "conversion_rate_clicks": 3 / 3,
    "conversion_rate_delivered": 3 / 5,
    "converter_rate": 2 / 5,
    "revenue_per_delivered": Decimal("36.1000"),
    "cost_per_conversion": Decimal("0.6667"),
    "roi": (180.50 - 2.00) / 2.00,
}
EXPECTED_A = {
    "targeted": 5,
    "deferred": 1,
    "sent": 4,
    "delivered": 3,
    "clickers": 1,
    "conversions": 2,
    "converters": 1,
}
EXPECTED_B = {
    "targeted": 3,
    "deferred": 0,
    "sent": 3,
    "delivered": 2,
    "clickers": 1,
    "conversions": 1,
    "converters": 1,
}
EXPECTED_REASONS = {"opted_out": 1, "no_consent": 1, "quiet_hours": 1}
EXPECTED_FAILURES = {"11": 1}
EXPECTED_LATENCY = {"5": 2, "10": 1, "60": 1, "1800": 1}
EXPECTED_LIFT = {"treated": (7, 2), "control": (2, 1)}


@dataclass
class Built:
    campaign: Campaign
    variants: dict[str, Variant]
    contacts: dict[str, Contact] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    run: CampaignRun | None = None


def build(
    session: Session, name: str = "Bahar", state: CampaignState = CampaignState.COMPLETED
) -> Built:
    """Store the campaign and its raw events (flushes; the caller commits)."""
    campaign = Campaign(
        name=name,
        goal=Goal.CONVERSION,
        goal_value="purchase",
        traffic=Traffic.COMMERCIAL,
        sender="ACME",
        connection="sim",
        holdout_percent=10,
        attribution_days=7,
        state=state,
    )
    session.add(campaign)
    session.flush()
    variants = {
        label: Variant(campaign_id=campaign.id, label=label, share=50, template=f"Bahar {label}")
        for label in ("A", "B")
    }
    session.add_all(variants.values())
    run = CampaignRun(
        campaign_id=campaign.id, number=1, state=RunState.DONE, due_at=T0, started_at=T0
    )
    session.add(run)
    session.flush()
    built = Built(campaign, variants, run=run)
    prefix = f"90532{campaign.id % 1000:03d}"
    for n in range(1, 13):
        contact = Contact(phone=f"+{prefix}{n:04d}")
        session.add(contact)
        built.contacts[f"c{n}"] = contact
    session.flush()

    def recipient(
        who: str,
        variant: str | None,
        status: RecipientStatus,
        reason: RecipientReason | None = None,
        message: Message | None = None,
    ) -> None:
        contact = built.contacts[who]
        session.add(
            Recipient(
                campaign_id=campaign.id,
                run_id=run.id,
                contact_id=contact.id,
                phone=contact.phone,
                variant_id=variants[variant].id if variant else None,
                status=status,
                reason=reason,
                message_id=message.id if message else None,
                decided_at=T0,
            )
        )

    sent = {
        # who: (variant, state, parts, latency seconds, error)
        "c1": ("A", PartState.DELIVERED, 1, 3, None),
        "c2": ("A", PartState.DELIVERED, 1, 40, None),
        "c3": ("A", PartState.DELIVERED, 2, 3, None),
        "c4": ("A", PartState.UNDELIVERABLE, 1, 30, 11),
        "c5": ("B", PartState.DELIVERED, 1, 8, None),
        "c6": ("B", PartState.DELIVERED, 1, 700, None),
        "c7": ("B", PartState.ACCEPTED, 1, None, None),
    }
    for who, (variant, state_, parts, latency, error) in sent.items():
        contact = built.contacts[who]
        submitted = T0 + timedelta(minutes=1)
        message = Message(
            campaign_id=campaign.id,
            variant_id=variants[variant].id,
            contact_id=contact.id,
            connection="sim",
            source="ACME",
            destination=contact.phone,
            body=f"Bahar {variant}",
            encoding="GSM7",
            parts_count=parts,
            traffic=Traffic.COMMERCIAL,
            state=state_,
            error_code=error,
            created_at=T0,
            submitted_at=submitted,
            final_at=submitted + timedelta(seconds=latency) if latency is not None else None,
        )
        session.add(message)
        session.flush()
        built.messages[who] = message
        link = Link(
            secret=12345,
            target_url="https://shop.example/bahar",
            created_at=T0,
            campaign_id=campaign.id,
            run_id=run.id,
            variant_id=message.variant_id,
            contact_id=contact.id,
            message_id=message.id,
        )
        session.add(link)
        session.flush()
        built.links[who] = link
        recipient(who, variant, RecipientStatus.QUEUED, message=message)
    recipient("c10", "A", RecipientStatus.DEFERRED, RecipientReason.QUIET_HOURS)
    recipient("c8", None, RecipientStatus.SKIPPED, RecipientReason.OPTED_OUT)
    recipient("c9", None, RecipientStatus.SKIPPED, RecipientReason.NO_CONSENT)
    recipient("c11", None, RecipientStatus.HELD_OUT, RecipientReason.HOLDOUT)
    recipient("c12", None, RecipientStatus.HELD_OUT, RecipientReason.HOLDOUT)

    clicks = [
        ("c1", ClickKind.HUMAN, T0 + timedelta(hours=1)),
        ("c1", ClickKind.HUMAN, T0 + timedelta(hours=2)),
        ("c1", ClickKind.PREVIEW, T0 + timedelta(minutes=2)),
        ("c2", ClickKind.SCANNER, T0 + timedelta(minutes=1, seconds=5)),
        ("c5", ClickKind.HUMAN, T0 + timedelta(hours=3)),
        ("c5", ClickKind.HEAD, T0 + timedelta(hours=3)),
    ]
    for n, (who, kind, at) in enumerate(clicks):
        link = built.links[who]
        session.add(
            Click(
                link_id=link.id,
                token=f"t{campaign.id}-{n}",
                clicked_at=at,
                method="HEAD" if kind == ClickKind.HEAD else "GET",
                kind=kind,
                campaign_id=campaign.id,
                variant_id=link.variant_id,
                contact_id=link.contact_id,
            )
        )

    replies = [
        ("c3", "EVET", Decision.INBOX, T0 + timedelta(hours=1)),
        ("c6", "RET", Decision.OPT_OUT, T0 + timedelta(hours=2)),
        ("c6", "tamam", Decision.INBOX, T0 + timedelta(hours=2, minutes=1)),
    ]
    for n, (who, text, decision, at) in enumerate(replies):
        message = built.messages[who]
        session.add(
            InboundMessage(
                connection="sim",
                source=message.destination.removeprefix("+"),
                destination="4664",
                text=text,
                raw=text.encode(),
                data_coding=0,
                dedup_key=f"d{campaign.id}-{n}",
                received_at=at,
                routed_at=at,
                phone=message.destination,
                contact_id=message.contact_id,
                decision=decision,
                reply_to_id=message.id,
                campaign_id=campaign.id,
                variant_id=message.variant_id,
            )
        )

    def conversion(
        key: str,
        who: str | None,
        event: str,
        value: str,
        at: datetime,
        attributed: bool,
    ) -> None:
        message = built.messages.get(who or "")
        contact = built.contacts.get(who or "")
        session.add(
            Conversion(
                source=ConversionSource.POSTBACK,
                event=event,
                value=Decimal(value),
                currency="TRY",
                idempotency_key=f"{campaign.id}-{key}",
                occurred_at=at,
                contact_id=contact.id if contact else None,
                phone=contact.phone if contact else None,
                campaign_id=campaign.id if attributed else None,
                variant_id=message.variant_id if attributed and message else None,
                message_id=message.id if attributed and message else None,
            )
        )

    conversion("o1", "c1", "purchase", "100.00", T0 + timedelta(hours=1, minutes=30), True)
    conversion("o2", "c5", "purchase", "50.50", T0 + timedelta(hours=4), True)
    conversion("o3", "c1", "purchase", "30.00", T0 + timedelta(hours=5), True)
    conversion("s1", "c1", "signup", "0", T0 + timedelta(hours=1), True)
    conversion("u1", None, "purchase", "75.00", T0 + timedelta(hours=5), False)
    conversion("h1", "c11", "purchase", "20.00", T0 + timedelta(days=1), False)
    conversion("h2", "c12", "purchase", "10.00", T0 + timedelta(days=10), False)
    session.flush()
    return built


def price_route(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data set's route ``sim`` priced per part (cost = parts × PRICE)."""
    route = replace(
        app.config["SMPP_CONNECTION_LIST"][0], name="sim", price_per_part=PRICE, currency="TRY"
    )
    monkeypatch.setitem(app.config, "SMPP_CONNECTION_LIST", (route,))


def seed(
    session: Session,
    client: redis.Redis,
    name: str = "Bahar",
    state: CampaignState = CampaignState.COMPLETED,
) -> Built:
    """The data set stored, committed and rolled up."""
    built = build(session, name=name, state=state)
    session.commit()
    rollups.refresh(session, client, now=T0 + timedelta(hours=6))
    return built
