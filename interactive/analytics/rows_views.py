"""The lists behind the dashboards' numbers (under ``/analytics/rows``): messages, clicks,
conversions and replies, with the dashboards' filters (``start``, ``end``, ``brand``,
``campaign``, ``variant``) and the list's own (``show``, ``latency``, ``hour``: one UTC
hour, ``standalone``), newest first a page at a time, or all of them as CSV or XLSX
(``?format=``). They name people, so they are for those who may open campaigns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from interactive.analytics import figures, report, rows
from interactive.analytics.filters import Chosen, choices, read_filters
from interactive.analytics.models import ConversionSource
from interactive.db import db
from interactive.keywords.views import DECISIONS
from interactive.outbound import labels
from interactive.shortlinks.models import ClickKind
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("analytics_rows", __name__, template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: An XLSX sheet holds 1,048,576 rows, the header included.
XLSX_ROWS = 1_048_575

SOURCES = {
    ConversionSource.POSTBACK: _l("Postback"),
    ConversionSource.PIXEL: _l("Pixel"),
    ConversionSource.REPLY: _l("Reply keyword"),
}


def _titles() -> dict[tuple[str, str], str]:
    return {
        ("messages", "sent"): _("Sent messages"),
        ("messages", "delivered"): _("Delivered messages"),
        ("messages", "failed"): _("Failed messages"),
        ("messages", "queued"): _("Messages not submitted yet"),
        ("clicks", "human"): _("Human clicks"),
        ("clicks", "preview"): _("Link previews"),
        ("clicks", "scanner"): _("Scanner and bot hits"),
        ("clicks", "head"): _("HEAD and prefetch hits"),
        ("clicks", "bots"): _("Hits that were not people"),
        ("clicks", "all"): _("All hits (raw clicks)"),
        ("conversions", "counted"): _("Conversions"),
        ("replies", "all"): _("Replies"),
        ("replies", "opt_out"): _("Opt-outs"),
    }


def _labels() -> rows.Labels:
    return rows.Labels(
        messages=dict(labels.MESSAGE_STATES),
        clicks={kind: figures.kind_label(f"clicks_{kind.value}") for kind in ClickKind},
        sources=dict(SOURCES),
        decisions=dict(DECISIONS),
    )


class RowLinks:
    """The URLs of the lists behind the dashboards' figures, keyed as the figures are
    (``sent``, ``clickers``, ``clicks_preview`` …), for some filters; none for a viewer
    who may not open the lists. Built by string (a dashboard links thousands of cells)."""

    def __init__(self) -> None:
        allowed = current_user.can(Permission.CAMPAIGNS)
        self.bases = (
            {kind: url_for("analytics_rows.index", kind=kind) for kind in rows.KINDS}
            if allowed
            else {}
        )

    def url(self, kind: str, show: str, args: Mapping[str, Any]) -> str | None:
        """One list's URL."""
        if not self.bases:
            return None
        return self._at(kind, show, _query(args))

    def urls(self, args: Mapping[str, Any]) -> dict[str, str | None]:
        if not self.bases:
            return {}
        query = _query(args)

        def at(kind: str, show: str) -> str:
            return self._at(kind, show, query)

        sent, clicks = at("messages", "sent"), at("clicks", "human")
        conversions, replies = at("conversions", "counted"), at("replies", "all")
        return {
            "sent": sent,
            "parts": sent,
            "cost": sent,
            "queued": at("messages", "queued"),
            "delivered": at("messages", "delivered"),
            "failed": at("messages", "failed"),
            "clicks_human": clicks,
            "clickers": clicks,
            "clicks_preview": at("clicks", "preview"),
            "clicks_scanner": at("clicks", "scanner"),
            "clicks_head": at("clicks", "head"),
            "clicks_raw": at("clicks", "all"),
            "total": at("clicks", "all"),
            "bot_share": at("clicks", "bots"),
            "conversions": conversions,
            "converters": conversions,
            "revenue": conversions,
            "replies": replies,
            "repliers": replies,
            "opt_outs": at("replies", "opt_out"),
        }

    def _at(self, kind: str, show: str, query: str) -> str:
        return f"{self.bases[kind]}?show={show}" + (f"&{query}" if query else "")


def _query(args: Mapping[str, Any]) -> str:
    return urlencode({k: v for k, v in args.items() if v is not None})


def hour_arg(moment: datetime) -> str:
    """How the ``hour`` parameter names a UTC hour."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")


def _hour(chosen: Chosen) -> datetime | None:
    raw = request.args.get("hour", "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or (moment.minute, moment.second) != (0, 0):
        chosen.errors.append(_("“%(value)s” is not an hour.", value=raw[:40]))
        return None
    return moment.astimezone(UTC)


def _selection(kind: str, chosen: Chosen) -> rows.Selection:
    """The list's own parameters, checked (a bad one is reported and left out), added to
    the filters and to the arguments that keep them."""
    show = request.args.get("show", "")
    if show not in rows.SHOWS[kind]:
        if show:
            chosen.errors.append(_("Unknown list: “%(value)s”.", value=show[:40]))
        show = rows.SHOWS[kind][0]
    chosen.args["show"] = show
    latency = request.args.get("latency") or None
    if latency is not None and (latency not in rows.LATENCIES or kind != "messages"):
        chosen.errors.append(_("Unknown delivery latency: “%(value)s”.", value=latency[:40]))
        latency = None
    if latency is not None:
        chosen.args["latency"] = latency
    filters = chosen.filters
    hour = _hour(chosen)
    if hour is not None:
        filters = replace(filters, start=hour, end=hour + timedelta(hours=1))
        chosen.args["hour"] = hour_arg(hour)
    standalone = kind == "clicks" and request.args.get("standalone") == "1"
    if standalone:
        chosen.args["standalone"] = "1"
    return rows.Selection(kind, show, filters, latency, standalone)


def _table(kind: str, title: str, found: list[rows.Row]) -> report.Table:
    """The page's rows, each linked to what it names that the viewer may open."""
    table = report.Table("rows", title, rows.columns(kind))
    may = {p: current_user.can(p) for p in (Permission.AUDIENCES, Permission.INBOX)}
    may_links = current_user.can(Permission.LINKS)
    for row in found:
        refs = row.refs
        links: dict[str, str | None] = {}
        if refs["campaign"] is not None:
            links["campaign"] = url_for("dashboards.campaign", campaign_id=refs["campaign"])
        if refs["contact"] is not None and may[Permission.AUDIENCES]:
            links["phone"] = url_for("contacts.show", contact_id=refs["contact"])
        if refs["thread"] is not None and may[Permission.INBOX]:
            links["text"] = url_for("inbox.thread", thread_id=refs["thread"])
        if refs["link"] is not None and may_links:
            links["link"] = url_for("shortlinks.show", link_id=refs["link"])
        table.add(row.cells, links)
    return table


@bp.route("/<any(messages, clicks, conversions, replies):kind>")
@require(Permission.ANALYTICS)
def index(kind: str) -> ResponseReturnValue:
    if not current_user.can(Permission.CAMPAIGNS):
        abort(403)
    session = db.session()
    zone = str(get_timezone())
    chosen = read_filters(zone)
    selection = _selection(kind, chosen)
    title = _titles()[(kind, selection.show)]
    names = _labels()
    columns = rows.columns(kind)
    export = request.args.get("format", "")
    if export in ("csv", "xlsx"):
        log.info(
            "analytics rows exported kind=%s show=%s format=%s by=%s",
            kind,
            selection.show,
            export,
            current_user.id,
        )
        filename = f"{kind}-{selection.show}.{export}"
        if export == "xlsx":
            batches = rows.every(session, selection, names, zone, limit=XLSX_ROWS)
            out = report.xlsx_of(title, columns, ([r.cells for r in b] for b in batches))
            return send_file(out, mimetype=XLSX, as_attachment=True, download_name=filename)
        batches = rows.every(session, selection, names, zone)
        return Response(
            stream_with_context(
                report.csv_stream(columns, ([r.cells for r in b] for b in batches))
            ),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    before_raw = request.args.get("before", "")
    before = int(before_raw) if before_raw.isdigit() and len(before_raw) < 19 else None
    found, next_before = rows.page(session, selection, names, zone, before=before)
    args: dict[str, Any] = dict(chosen.args)

    def here(**more: Any) -> str:
        return url_for("analytics_rows.index", kind=kind, **args, **more)

    return render_template(
        "analytics/rows.html",
        kind=kind,
        title=title,
        table=_table(kind, title, found),
        chosen=chosen,
        zone=zone,
        hour_start=selection.filters.start if "hour" in args else None,
        hidden={k: v for k, v in args.items() if k in ("show", "latency", "hour", "standalone")},
        first_url=here() if before is not None else None,
        next_url=here(before=next_before) if next_before is not None else None,
        export_url=lambda fmt: here(format=fmt),
        **choices(chosen),
    )
