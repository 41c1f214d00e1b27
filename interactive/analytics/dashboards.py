"""The analytics dashboards (under ``/analytics``): the overview, one campaign, and the
short links' clicks.

Every figure is read from the rollups through ``interactive.analytics.metrics``, never
from the raw clicks and messages at request time. Each page answers in four shapes
chosen by ``?format=``: the page, ``json`` (what the page polls while a campaign is
sending: numbers, figures and table bodies), and ``csv`` / ``xlsx`` of one of its tables
(``&table=<name>``). Filters are GET parameters: ``start`` and ``end`` (days in the
viewer's time zone, both included), ``brand``, ``campaign`` and ``variant`` (ids); a bad
one is reported on the page and left out, never an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, format_percent, get_timezone
from flask_babel import gettext as _
from flask_login import current_user

from interactive.analytics import compute, figures, metrics, report, rollups, stats, tables
from interactive.analytics.filters import Chosen, choices, read_filters
from interactive.analytics.report import Table
from interactive.analytics.rows_views import RowLinks, hour_arg
from interactive.db import db
from interactive.outbound import labels
from interactive.outbound.models import Campaign, CampaignState, Goal, RecipientStatus
from interactive.redis_store import get_redis
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint(
    "dashboards",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

#: Seconds between two polls of a page while a campaign is sending.
POLL_S = 10
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"currency": _currency(), "zone": _zone()}


@bp.app_template_global("analytics_cell")
def _cell(cell: report.Cell, kind: str, currency: str) -> str:
    return report.text(cell, kind, currency)


bp.add_app_template_global(report.body_html, "analytics_table_body")


# --- shared ------------------------------------------------------------------------------------


def _zone() -> str:
    return str(get_timezone())


def _prices() -> metrics.Prices:
    return metrics.Prices.of(current_app.config["SMPP_CONNECTION_LIST"])


def _currency() -> str:
    for connection in current_app.config.get("SMPP_CONNECTION_LIST") or ():
        return str(getattr(connection, "currency", "") or "TRY")
    return "TRY"


def _refreshed() -> datetime | None:
    try:
        return rollups.refreshed_at(get_redis())
    except Exception:  # the page still shows the figures it has
        log.warning("analytics: cannot read when the rollups were refreshed", exc_info=True)
        return None


def _sending(chosen: Chosen | None = None, campaign_id: int | None = None) -> bool:
    """Whether a campaign the page shows is sending (the page then polls)."""
    query = sa.select(Campaign.id).where(Campaign.state == CampaignState.SENDING).limit(1)
    filters = chosen.filters if chosen is not None else metrics.Filters(campaign_id=campaign_id)
    if filters.campaign_id is not None:
        query = query.where(Campaign.id == filters.campaign_id)
    if filters.brand_id is not None:
        query = query.where(Campaign.brand_id == filters.brand_id)
    return db.session().scalar(query) is not None


def _campaign_urls(campaign_id: int, listed: RowLinks) -> dict[str, str | None]:
    """Where the rows behind a campaign's numbers are listed, for this viewer: its
    recipients for the figures that count people (targeted, held out, not sent, clickers,
    converters), the analytics lists for the messages, clicks, conversions and replies."""
    urls = listed.urls({"campaign": campaign_id})
    if current_user.can(Permission.CAMPAIGNS):

        def recipients(**args: Any) -> str:
            return url_for("campaigns.show", campaign_id=campaign_id, _anchor="recipients", **args)

        urls.update(
            targeted=recipients(),
            eligible=recipients(status="eligible"),
            held_out=recipients(status=RecipientStatus.HELD_OUT.value),
            not_sent=recipients(status=RecipientStatus.SKIPPED.value),
            clickers=recipients(engaged="clicked"),
            converters=recipients(engaged="converted"),
            treated=recipients(status=RecipientStatus.QUEUED.value),
            treated_converters=recipients(
                status=RecipientStatus.QUEUED.value, engaged="converted_in_window"
            ),
            control_converters=recipients(
                status=RecipientStatus.HELD_OUT.value, engaged="converted_in_window"
            ),
        )
    return urls


def _dashboard_url(campaign_id: int) -> str:
    return url_for("dashboards.campaign", campaign_id=campaign_id)


def _campaign_page_url(campaign_id: int) -> str:
    if not current_user.can(Permission.CAMPAIGNS):
        return _dashboard_url(campaign_id)
    return url_for("campaigns.show", campaign_id=campaign_id)


@dataclass
class Page:
    """What one dashboard shows: key figures, figures by name, tables by name."""

    cards: list[list[tables.KeyFigure]]
    figures: dict[str, dict[str, Any] | None]
    tables: dict[str, Table]
    live: bool


def _respond(page: Page, template: str, export_name: str, **context: Any) -> ResponseReturnValue:
    kind = request.args.get("format", "html")
    if kind in ("csv", "xlsx"):
        table = page.tables.get(request.args.get("table", ""))
        if table is None:
            abort(404)
        return _export(table, kind, f"{export_name}-{table.name}.{kind}")
    if kind == "json":
        return jsonify(_payload(page))
    endpoint = request.endpoint or "dashboards.overview"
    view_args: dict[str, Any] = request.view_args or {}
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("format", "table")}

    def export_url(kind: str, table: str) -> str:
        return url_for(endpoint, **view_args, **args, format=kind, table=table)

    return render_template(
        template,
        page=page,
        refreshed=_refreshed(),
        poll_url=url_for(endpoint, **view_args, **args, format="json"),
        export_url=export_url,
        poll_ms=POLL_S * 1000,
        **context,
    )


def _payload(page: Page) -> dict[str, Any]:
    """The polled JSON: formatted numbers, figures and the tables' rendered bodies."""
    currency = _currency()
    numbers = {f.key: report.text(f.value, f.kind, currency) for card in page.cards for f in card}
    refreshed = _refreshed()
    return {
        "live": page.live,
        "numbers": numbers,
        "figures": page.figures,
        "tables": {name: str(report.body_html(t, currency)) for name, t in page.tables.items()},
        "refreshed": refreshed.isoformat() if refreshed else None,
        "refreshed_text": _(
            "Figures as of %(when)s; they are updated every few seconds.",
            when=format_datetime(refreshed, "short"),
        )
        if refreshed
        else _("Figures have not been computed yet."),
    }


def _export(table: Table, kind: str, name: str) -> ResponseReturnValue:
    log.info("analytics table exported table=%s kind=%s by=%s", table.name, kind, current_user.id)
    if kind == "xlsx":
        return send_file(
            report.as_xlsx(table), mimetype=XLSX, as_attachment=True, download_name=name
        )
    return Response(
        report.as_csv(table),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- pages -------------------------------------------------------------------------------------


@bp.route("/")
@require(Permission.ANALYTICS)
def overview() -> ResponseReturnValue:
    session = db.session()
    zone = _zone()
    chosen = read_filters(zone)
    prices = _prices()
    days = metrics.series(session, chosen.filters, prices, zone)
    campaigns = metrics.by_campaign(session, chosen.filters, prices)
    total = metrics.summed(c.totals for c in campaigns)
    listed = RowLinks()
    args = chosen.args

    def day_urls(day: date | datetime) -> tables.Urls:
        on = (day.date() if isinstance(day, datetime) else day).isoformat()
        return listed.urls({**args, "start": on, "end": on})

    def campaign_urls(campaign_id: int) -> tables.Urls:
        return listed.urls({**args, "campaign": campaign_id})

    cards = tables.key_figures(total, listed.urls(args))
    page = Page(
        cards=cards,
        figures={
            "activity": figures.activity_figure(days) if days else None,
            "opt_outs": figures.opt_out_figure(days) if days else None,
            "top_conversion": figures.top_campaigns_figure(campaigns, "conversion_rate"),
            "top_revenue": figures.top_campaigns_figure(campaigns, "revenue"),
        },
        tables={
            t.name: t
            for t in (
                tables.summary_table(cards),
                tables.daily_table(days, day_urls),
                tables.top_table(campaigns, "conversion_rate", _dashboard_url, campaign_urls),
                tables.top_table(campaigns, "revenue", _dashboard_url, campaign_urls),
                tables.campaigns_table(campaigns, _dashboard_url, campaign_urls),
            )
        },
        live=_sending(chosen),
    )
    return _respond(page, "analytics/overview.html", "analytics", chosen=chosen, **choices(chosen))


@bp.route("/campaigns/<int:campaign_id>")
@require(Permission.ANALYTICS)
def campaign(campaign_id: int) -> ResponseReturnValue:
    session = db.session()
    found = session.get(Campaign, campaign_id)
    if found is None:
        abort(404)
    prices = _prices()
    total = metrics.totals(session, metrics.Filters(campaign_id=found.id), prices)
    by_variant = metrics.by_variant(session, metrics.Filters(campaign_id=found.id), prices)
    started, since = metrics.hours_since_send(session, found.id, prices)
    latency = metrics.breakdown(session, found.id, "latency")
    reasons = metrics.breakdown(session, found.id, "reason")
    failures = metrics.breakdown(session, found.id, "failure")
    lift = metrics.lift(session, found.id)
    goal_metric = "ctr" if found.goal == Goal.CLICKS else "conversion"
    comparisons = metrics.compare_variants(found.variants, by_variant, goal_metric)
    listed = RowLinks()
    urls = _campaign_urls(found.id, listed)
    can_list = current_user.can(Permission.CAMPAIGNS)

    def hour_urls(offset: int) -> tables.Urls:
        if started is None:
            return {}
        hour = hour_arg(started + timedelta(hours=offset))
        return listed.urls({"campaign": found.id, "hour": hour})

    def variant_urls(key: int) -> tables.Urls:
        """A variant's messages and conversions, and its recipients for the figures that
        count people (key 0: the recipients decided before a variant was chosen)."""
        found_urls = dict(listed.urls({"campaign": found.id, "variant": key})) if key else {}
        found_urls.update(
            targeted=recipients_url(variant=key),
            clickers=recipients_url(variant=key, engaged="clicked"),
            converters=recipients_url(variant=key, engaged="converted"),
        )
        return found_urls

    def latency_url(key: str) -> str | None:
        return listed.url("messages", "delivered", {"campaign": found.id, "latency": key})

    def recipients_url(**args: Any) -> str | None:
        if not can_list:
            return None
        return url_for("campaigns.show", campaign_id=found.id, _anchor="recipients", **args)

    bounds = compute.LATENCY_BUCKETS
    page = Page(
        cards=tables.key_figures(total, urls),
        figures={
            "funnel": figures.funnel_figure(total) if total.targeted else None,
            "since_send": figures.since_send_figure(since) if since else None,
            "latency": figures.latency_figure(latency, bounds) if latency else None,
            "clicks": figures.click_kinds_figure(total) if total.clicks_raw else None,
        },
        tables={
            t.name: t
            for t in (
                tables.funnel_table(total, urls),
                tables.variants_table(
                    [(v.id, v.label) for v in found.variants], by_variant, variant_urls
                ),
                tables.significance_table(comparisons),
                tables.lift_table(lift, urls),
                tables.hours_table(since, hour_urls),
                tables.latency_table(latency, bounds, latency_url),
                tables.clicks_table(total, urls),
                tables.reasons_table(
                    reasons,
                    lambda key: labels.label(labels.REASONS, key),
                    lambda key: recipients_url(reason=key),
                ),
                tables.failures_table(failures, lambda key: recipients_url(error=key or "none")),
                tables.replies_table(total, urls),
            )
        },
        live=found.state == CampaignState.SENDING,
    )
    return _respond(
        page,
        "analytics/campaign.html",
        f"campaign-{found.id}",
        campaign=found,
        goal_metric=goal_metric,
        min_sample=metrics.MIN_SAMPLE,
        confidence=format_percent(stats.CONFIDENCE),
        lift=lift,
        comparisons=comparisons,
        campaign_url=_campaign_page_url(found.id) if can_list else None,
        state_label=labels.label(labels.STATES, found.state),
        goal_label=labels.label(labels.GOALS, found.goal),
    )


@bp.route("/links")
@require(Permission.ANALYTICS)
def links() -> ResponseReturnValue:
    session = db.session()
    zone = _zone()
    chosen = read_filters(zone)
    days = metrics.link_series(session, chosen.filters, zone)
    listed = RowLinks()
    args = {**chosen.args, "standalone": "1"}
    urls = listed.urls(args)

    def day_urls(day: date) -> tables.Urls:
        return listed.urls({**args, "start": day.isoformat(), "end": day.isoformat()})

    total = metrics.Totals()
    for _when, counts in days:
        for kind in figures.CLICK_KINDS:
            setattr(total, kind, getattr(total, kind) + counts.get(kind, 0))
    cards = [
        [
            tables.KeyFigure(
                "clicks_raw", _("All clicks"), total.clicks_raw, "count", urls.get("clicks_raw")
            ),
            tables.KeyFigure(
                "bot_share", _("Bot share"), total.bot_share, "rate", urls.get("bot_share")
            ),
        ],
        *(
            [
                tables.KeyFigure(
                    kind, figures.kind_label(kind), getattr(total, kind), "count", urls.get(kind)
                )
            ]
            for kind in figures.CLICK_KINDS
        ),
    ]
    page = Page(
        cards=cards,
        figures={"clicks": figures.link_clicks_figure(days) if days else None},
        tables={"clicks": tables.link_clicks_table(days, day_urls)},
        live=_sending(chosen),
    )
    return _respond(
        page, "analytics/links.html", "analytics-links", chosen=chosen, **choices(chosen)
    )
