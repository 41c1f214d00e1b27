"""The dashboards' filters: read from the query string (days in the viewer's time zone,
brand, campaign, variant), checked, and the options of the filter form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import request
from flask_babel import gettext as _

from interactive.analytics import metrics
from interactive.contacts.models import Brand
from interactive.db import db
from interactive.outbound.models import Campaign, Variant

_MAX_ID = 2**31 - 1
_FIRST_DAY, _LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


@dataclass
class Chosen:
    """The filters read from the query string, the arguments that keep them (for links
    and exports), and what was wrong with the others."""

    filters: metrics.Filters
    args: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    campaign: Campaign | None = None


def _day(name: str, errors: list[str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw[:10]) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not _FIRST_DAY <= day <= _LAST_DAY:
        errors.append(_("“%(value)s” is not a date (YYYY-MM-DD).", value=raw[:40]))
        return None
    return day


def _id(name: str, errors: list[str], what: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if raw.isdigit() and 0 < int(raw) <= _MAX_ID:
        return int(raw)
    errors.append(_("Unknown %(what)s: “%(value)s”.", what=what, value=raw[:40]))
    return None


def _utc_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def read_filters(zone: str) -> Chosen:
    """The page's filters from ``request.args``: days in ``zone`` turned into the UTC
    hours ``metrics`` selects ([start of the first day, start of the day after the last))."""
    session = db.session()
    errors: list[str] = []
    args: dict[str, str] = {}
    start, end = _day("start", errors), _day("end", errors)
    if start and end and start > end:
        errors.append(_("The start date is after the end date."))
        start = end = None
    brand_id = _id("brand", errors, _("brand"))
    if brand_id is not None and session.get(Brand, brand_id) is None:
        errors.append(_("Unknown %(what)s: “%(value)s”.", what=_("brand"), value=brand_id))
        brand_id = None
    campaign_id = _id("campaign", errors, _("campaign"))
    campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        errors.append(_("Unknown %(what)s: “%(value)s”.", what=_("campaign"), value=campaign_id))
        campaign_id = None
    variant_id = _id("variant", errors, _("variant"))
    if variant_id is not None:
        variant = session.get(Variant, variant_id)
        if variant is None or (campaign_id is not None and variant.campaign_id != campaign_id):
            errors.append(_("Unknown %(what)s: “%(value)s”.", what=_("variant"), value=variant_id))
            variant_id = None
    for name, value in (
        ("start", start),
        ("end", end),
        ("brand", brand_id),
        ("campaign", campaign_id),
        ("variant", variant_id),
    ):
        if value is not None:
            args[name] = value.isoformat() if isinstance(value, date) else str(value)
    filters = metrics.Filters(
        start=_utc_midnight(start, zone) if start else None,
        end=_utc_midnight(end + timedelta(days=1), zone) if end else None,
        brand_id=brand_id,
        campaign_id=campaign_id,
        variant_id=variant_id,
        zone=zone,
    )
    return Chosen(filters, args, errors, campaign)


def choices(chosen: Chosen) -> dict[str, Any]:
    """The options of the filter form: brands, recent campaigns, the chosen campaign's
    variants."""
    session = db.session()
    brands = session.execute(sa.select(Brand.id, Brand.name).order_by(Brand.name)).all()
    campaigns = session.execute(
        sa.select(Campaign.id, Campaign.name).order_by(Campaign.id.desc()).limit(200)
    ).all()
    variants = chosen.campaign.variants if chosen.campaign is not None else []
    return {"brands": brands, "campaigns": campaigns, "variants": variants}
