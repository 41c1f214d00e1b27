"""What the composer shows while a campaign is typed: each variant rendered for a few
contacts of the audience (short links as placeholders of the real length, the opt-out
footer appended), its encoding, parts and price, the characters that force UCS-2, the
audience size and, on request, how many of it may receive the campaign now. Reads only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from interactive.contacts import eligibility
from interactive.contacts import segments as segment_rules
from interactive.contacts.models import AttributeDefinition, AttributeType, Brand, Contact
from interactive.contacts.quiet_hours import QuietPolicy
from interactive.outbound import campaigns, labels, rendering
from interactive.outbound.campaigns import CampaignInput, VariantInput
from interactive.outbound.encoding import transliterate, why_ucs2
from interactive.outbound.models import RecipientReason, Traffic

SAMPLES = 3
#: Made-up values for an empty audience, in the GSM alphabet so that they never make a
#: text look like UCS-2 by themselves.
MADE_UP = {"first_name": "Deniz", "last_name": "Kaya", "phone": "+905321234567"}
MADE_UP_BY_TYPE: dict[AttributeType, Any] = {
    AttributeType.TEXT: "Istanbul",
    AttributeType.NUMBER: 1250,
    AttributeType.DATE: "2026-06-15",
    AttributeType.BOOLEAN: True,
}


@dataclass
class Route:
    """The chosen connection's part of the estimate."""

    connection: Any

    @property
    def turkish_shift(self) -> bool:
        return bool(getattr(self.connection, "turkish_shift", False))

    @property
    def price(self) -> Decimal:
        return Decimal(getattr(self.connection, "price_per_part", 0) or 0)

    @property
    def currency(self) -> str:
        return str(getattr(self.connection, "currency", "TRY") or "TRY")

    def reserves_code(self, sender: str) -> bool:
        return bool(getattr(self.connection, "operator_code", False)) and bool(
            sender and rendering.is_alphanumeric(sender)
        )


def money(amount: Decimal, currency: str) -> str:
    return str(format_currency(amount, currency))


# --- texts ----------------------------------------------------------------------------------


def preview(
    session: Session,
    data: CampaignInput,
    *,
    connections: Mapping[str, Any],
    short_base: str,
    locale: str,
    audience_count: int | None,
) -> dict[str, Any]:
    """The live preview of ``data`` as JSON-ready data. ``audience_count`` None counts the
    audience (the caller passes the last count back while the audience is unchanged)."""
    route = Route(connections.get(data.connection))
    brand = session.get(Brand, data.brand_id) if data.brand_id else None
    footer = campaigns.footer(data.traffic, brand, route.connection, locale)
    audience_error = None
    samples: list[dict[str, Any]] = []
    if any(data.audience.get(k) for k in ("lists", "segments")):
        try:
            samples = sample_contacts(session, data.audience)
            if audience_count is None:
                audience_count = campaigns.audience_count(session, data.audience)
        except segment_rules.SegmentError as exc:
            audience_error = str(exc)
            audience_count = 0
    else:
        audience_count = 0
    made_up = not samples
    if made_up:
        samples = [made_up_sample(session)]
    known = campaigns.template_variables(session)
    placeholder = rendering.placeholder_short_url(short_base)
    variants = [
        _variant(index, v, samples, known, footer, placeholder, data, route)
        for index, v in enumerate(data.variants)
    ]
    notes = []
    if route.connection is None:
        notes.append(_("Choose a route: the price and the encoding depend on it."))
    elif route.reserves_code(data.sender):
        notes.append(
            _(
                "On this route the operator appends “%(code)s” to texts from an alphanumeric "
                "sender: its %(n)d characters are counted in the parts.",
                code=rendering.OPERATOR_CODE.strip(),
                n=len(rendering.OPERATOR_CODE),
            )
        )
    if data.traffic == Traffic.COMMERCIAL and not footer:
        notes.append(
            _("No opt-out footer: give the brand an opt-out text or use a route with a short code.")
        )
    return {
        "variants": variants,
        "footer": footer,
        "notes": notes,
        "samples_made_up": made_up,
        "audience": {
            "count": audience_count,
            "error": audience_error,
            "text": audience_error
            or _("%(n)s contacts in the audience", n=format_decimal(audience_count or 0)),
        },
        "cost": estimate(data, variants, route, audience_count, eligible=False),
    }


def sample_contacts(session: Session, audience: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Up to three contacts of the audience (the first by id), as template inputs."""
    ids = campaigns.audience_select(session, audience).order_by(Contact.id).limit(SAMPLES)
    rows = session.execute(
        sa.select(Contact.first_name, Contact.last_name, Contact.phone, Contact.attributes)
        .where(Contact.id.in_(ids.scalar_subquery()))
        .order_by(Contact.id)
    )
    return [dict(row._mapping) for row in rows]


def made_up_sample(session: Session) -> dict[str, Any]:
    attributes = {
        key: MADE_UP_BY_TYPE.get(kind, "")
        for key, kind in session.execute(
            sa.select(AttributeDefinition.key, AttributeDefinition.type)
        )
    }
    return {**MADE_UP, "attributes": attributes}


def _variant(
    index: int,
    variant: VariantInput,
    samples: list[dict[str, Any]],
    known: list[str],
    footer: str,
    placeholder: str,
    data: CampaignInput,
    route: Route,
) -> dict[str, Any]:
    shorten = (lambda _url: placeholder) if data.track_links else None
    error = None
    texts: list[tuple[str, str]] = []
    try:
        template = rendering.compile_template(variant.template, known)
        for sample in samples:
            body = template.render(rendering.variables_of(sample))
            who = " ".join(p for p in (sample.get("first_name"), sample.get("last_name")) if p)
            texts.append((who or str(sample.get("phone") or ""), body))
    except rendering.TemplateError as exc:
        error = campaigns.template_problem(variant.label or str(index + 1), exc)
        texts = [("", variant.template)]
    rendered = [
        (who, rendering.with_footer(rendering.replace_urls(body, shorten), footer))
        for who, body in texts
    ]
    costs = [
        rendering.cost_of(
            text,
            turkish_shift=route.turkish_shift,
            reserve_operator_code=route.reserves_code(data.sender),
            price_per_part=route.price,
            currency=route.currency,
        )
        for _who, text in rendered
    ]
    worst = max(
        range(len(costs)),
        key=lambda i: (
            costs[i].count.parts,
            costs[i].count.encoding == "UCS2",
            costs[i].count.units,
        ),
    )
    cost, text = costs[worst], rendered[worst][1]
    culprits = _culprits(
        [
            body
            for (_who, body), c in zip(rendered, costs, strict=True)
            if c.count.encoding == "UCS2"
        ],
        variant.template,
    )
    fixed = transliterate(variant.template)
    return {
        "index": index,
        "label": variant.label,
        "share": variant.share,
        "error": error,
        "samples": [
            {"who": who, "text": body, "parts": c.count.parts}
            for (who, body), c in zip(rendered, costs, strict=True)
        ]
        if error is None
        else [],
        "encoding": cost.count.encoding,
        "encoding_label": labels.label(labels.ENCODINGS, cost.count.encoding),
        "summary": _(
            "%(encoding)s · %(parts)d part(s) · %(units)d units, %(capacity)d per part",
            encoding=labels.label(labels.ENCODINGS, cost.count.encoding),
            parts=cost.count.parts,
            units=cost.count.units,
            capacity=cost.count.capacity,
        ),
        "parts": cost.count.parts,
        "average_parts": sum(c.count.parts for c in costs) / len(costs),
        "units": cost.count.units,
        "capacity": cost.count.capacity,
        "reserved": cost.reserved,
        "characters": len(text),
        "culprits": culprits,
        "transliterated": fixed
        if any(c["in_text"] for c in culprits) and fixed != variant.template
        else None,
        "per_message": money(cost.per_message, route.currency),
        "per_message_text": _(
            "%(price)s per message", price=money(cost.per_message, route.currency)
        ),
    }


def _culprits(texts: list[str], source: str) -> list[dict[str, Any]]:
    """The characters that forced UCS-2 in any of ``texts``, each once with how often it
    occurs in one text at most; ``in_text``: typed in the template (the rest come from the
    footer or a contact's data)."""
    seen: dict[str, dict[str, Any]] = {}
    for text in texts:
        found = why_ucs2(text)
        counts = Counter(c.char for c in found)
        for culprit in found:
            if culprit.char in seen:
                entry = seen[culprit.char]
                entry["count"] = max(entry["count"], counts[culprit.char])
                continue
            seen[culprit.char] = {
                "char": culprit.char,
                "name": culprit.name,
                "hint": labels.label(labels.HINTS, culprit.hint),
                "count": counts[culprit.char],
                "in_text": culprit.char in source,
            }
    return list(seen.values())


def estimate(
    data: CampaignInput,
    variants: list[dict[str, Any]],
    route: Route,
    recipients: int | None,
    *,
    eligible: bool,
) -> dict[str, Any]:
    """Parts and price for ``recipients`` (the audience, or its eligible part): the
    hold-out gets nothing, the rest is split over the variants by share, each message
    counted at its variant's average parts over the samples."""
    result: dict[str, Any] = {
        "recipients": recipients,
        "basis": "eligible" if eligible else "audience",
        "messages": None,
        "parts": None,
        "price_per_part": money(route.price, route.currency),
        "total": None,
        "text": "—",
    }
    if recipients is None or not variants:
        return result
    messages = recipients * (100 - max(0, min(50, data.holdout_percent))) // 100
    shares = sum(max(0, v["share"] or 0) for v in variants) or 1
    parts = sum(
        (
            Decimal(messages) * max(0, v["share"] or 0) / shares * Decimal(str(v["average_parts"]))
            for v in variants
        ),
        Decimal(0),
    ).to_integral_value()
    total = money(route.price * parts, route.currency)
    values = {"parts": format_decimal(int(parts)), "n": format_decimal(messages), "total": total}
    result.update(
        messages=messages,
        parts=int(parts),
        total=total,
        text=_("%(parts)s parts to %(n)s eligible recipients: %(total)s", **values)
        if eligible
        else _("Up to %(parts)s parts to %(n)s recipients: at most %(total)s", **values),
    )
    return result


# --- eligibility ----------------------------------------------------------------------------


def count_eligible(
    session: Session,
    data: CampaignInput,
    *,
    policy: QuietPolicy,
    at: datetime,
) -> dict[str, Any]:
    """How many of the audience may receive the campaign now (those deferred by quiet
    hours included: they get it later) and why the others may not. Walks the whole
    audience: seconds for a million contacts."""
    brand = session.get(Brand, data.brand_id) if data.brand_id else None
    if data.traffic == Traffic.COMMERCIAL and brand is None:
        return {"error": _("Choose a brand: consent is given per brand.")}
    try:
        audience = campaigns.audience_select(session, data.audience)
    except segment_rules.SegmentError as exc:
        return {"error": str(exc)}
    targeted = eligible = deferred = 0
    reasons: Counter[str] = Counter()
    for verdict in eligibility.check(
        session, audience, traffic=data.traffic, brand=brand, policy=policy, at=at
    ):
        targeted += 1
        if not rendering.is_e164(verdict.phone):
            reasons[RecipientReason.INVALID_NUMBER.value] += 1
        elif verdict.reason is None or verdict.deferred:
            eligible += 1
            deferred += int(verdict.deferred)
        else:
            reasons[verdict.reason.value] += 1
    text = _(
        "%(eligible)s of %(targeted)s may receive it",
        eligible=format_decimal(eligible),
        targeted=format_decimal(targeted),
    )
    if deferred:
        text += " " + _(
            "(%(n)s of them later, after their quiet hours)", n=format_decimal(deferred)
        )
    return {
        "error": None,
        "text": text,
        "targeted": targeted,
        "eligible": eligible,
        "deferred": deferred,
        "held_out": eligible * max(0, min(50, data.holdout_percent)) // 100,
        "reasons": [
            {"reason": key, "label": labels.label(labels.REASONS, key), "count": count}
            for key, count in reasons.most_common()
        ],
    }
