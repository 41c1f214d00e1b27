"""What the analytics dashboards draw: plotly figures (as the JSON plotly.js draws) built
from the rows ``interactive.analytics.metrics`` returns. Pure functions: no database, no
request; only the labels are translated, so call them inside an app context."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _

from interactive.analytics.metrics import CampaignTotals, Totals

BLUE = "#0f5c8c"
LIGHT_BLUE = "#5fa8d3"
GREEN = "#1b7f4b"
ORANGE = "#b54708"
PURPLE = "#8250df"
GREY = "#6e7781"
RED = "#b42318"
#: The click kinds in the order the pages list them, with their colours.
CLICK_KINDS = ("clicks_human", "clicks_preview", "clicks_scanner", "clicks_head")
KIND_COLOURS = {
    "clicks_human": BLUE,
    "clicks_preview": ORANGE,
    "clicks_scanner": PURPLE,
    "clicks_head": GREY,
}
TOP = 10


def kind_label(kind: str) -> str:
    """The translated name of a click kind (``clicks_human`` …)."""
    return {
        "clicks_human": _("People"),
        "clicks_preview": _("Link previews"),
        "clicks_scanner": _("Scanners and bots"),
        "clicks_head": _("HEAD and prefetch"),
    }.get(kind, kind)


def _json(figure: Any, height: int = 320, legend: bool = True) -> dict[str, Any]:
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 40 if legend else 10, "b": 10},
        height=height,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 13},
        showlegend=legend,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        hovermode="x unified" if legend else "closest",
    )
    result: dict[str, Any] = json.loads(figure.to_json())
    return result


def _period(value: date | datetime) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


DAY_MS = 86_400_000


def _day_axis(count: int) -> dict[str, Any]:
    """A date axis labelled by day; a tick per day while there are few (plotly would
    otherwise tick fractions of a second around a single day)."""
    axis: dict[str, Any] = {"type": "date", "tickformat": "%Y-%m-%d"}
    if count <= 31:
        axis["dtick"] = DAY_MS
    return axis


def activity_figure(rows: Sequence[tuple[date | datetime, Totals]]) -> dict[str, Any]:
    """Sent, delivered, unique human clickers and conversions per day (lines), revenue
    (bars, on the right axis)."""
    import plotly.graph_objects as go

    days = [_period(day) for day, _t in rows]
    lines = [
        ("sent", _("Sent"), LIGHT_BLUE),
        ("delivered", _("Delivered"), BLUE),
        ("clickers", _("Unique human clickers"), ORANGE),
        ("conversions", _("Conversions"), GREEN),
    ]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=days,
            y=[float(t.revenue) for _d, t in rows],
            name=_("Revenue"),
            marker={"color": "#dcf5e7"},
            yaxis="y2",
        )
    )
    for key, name, colour in lines:
        figure.add_trace(
            go.Scatter(
                x=days,
                y=[getattr(t, key) for _d, t in rows],
                name=name,
                mode="lines+markers",
                line={"color": colour},
                meta=key,
            )
        )
    figure.update_layout(
        yaxis={"rangemode": "tozero", "title": {"text": _("Count")}},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
            "title": {"text": _("Revenue")},
        },
        xaxis=_day_axis(len(days)),
    )
    return _json(figure)


def opt_out_figure(rows: Sequence[tuple[date | datetime, Totals]]) -> dict[str, Any]:
    """Opt-outs per day (bars) and the opt-out rate of that day's deliveries (line, in
    percent on the right axis)."""
    import plotly.graph_objects as go

    days = [_period(day) for day, _t in rows]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(x=days, y=[t.opt_outs for _d, t in rows], name=_("Opt-outs"), marker={"color": RED})
    )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=[t.opt_out_rate for _d, t in rows],
            name=_("Opt-out rate"),
            mode="lines+markers",
            line={"color": GREY},
            yaxis="y2",
        )
    )
    figure.update_layout(
        yaxis={"rangemode": "tozero"},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickformat": ".1%",
            "showgrid": False,
        },
        xaxis=_day_axis(len(days)),
    )
    return _json(figure, height=260)


def top_campaigns(rows: Sequence[CampaignTotals], metric: str) -> list[CampaignTotals]:
    """The campaigns with the highest conversion rate (conversions ÷ delivered,
    ``metric="conversion_rate"``) or revenue (``"revenue"``); campaigns without a value
    are left out, ties by name."""
    if metric == "revenue":
        ranked = [r for r in rows if r.totals.revenue > 0]
        ranked.sort(key=lambda r: (-r.totals.revenue, r.name))
    else:
        ranked = [r for r in rows if r.totals.conversion_rate_delivered is not None]
        ranked.sort(key=lambda r: (-(r.totals.conversion_rate_delivered or 0), r.name))
    return ranked[:TOP]


def top_campaigns_figure(rows: Sequence[CampaignTotals], metric: str) -> dict[str, Any] | None:
    """Horizontal bars of the top campaigns by ``metric`` (see :func:`top_campaigns`), the
    best on top; None when no campaign has a value."""
    import plotly.graph_objects as go

    ranked = top_campaigns(rows, metric)
    if not ranked:
        return None
    if metric == "revenue":
        values: list[float] = [float(r.totals.revenue) for r in ranked]
        colour, tickformat = GREEN, ",.2f"
    else:
        values = [r.totals.conversion_rate_delivered or 0.0 for r in ranked]
        colour, tickformat = BLUE, ".1%"
    figure = go.Figure(
        go.Bar(
            y=[r.name for r in ranked],
            x=values,
            orientation="h",
            marker={"color": colour},
            customdata=[r.campaign_id for r in ranked],
        )
    )
    figure.update_yaxes(autorange="reversed", type="category", automargin=True)
    figure.update_xaxes(rangemode="tozero", tickformat=tickformat)
    return _json(figure, height=max(160, 36 * len(ranked) + 60), legend=False)


def funnel_steps(t: Totals) -> list[tuple[str, str, int]]:
    """(key, translated label, people) of each step of the funnel."""
    return [
        ("targeted", _("Targeted"), t.targeted),
        ("eligible", _("Eligible"), t.eligible),
        ("sent", _("Sent"), t.sent),
        ("delivered", _("Delivered"), t.delivered),
        ("clickers", _("Unique human clickers"), t.clickers),
        ("converters", _("People who converted"), t.converters),
    ]


def funnel_figure(t: Totals) -> dict[str, Any]:
    """targeted → eligible → sent → delivered → unique human clickers → converters."""
    import plotly.graph_objects as go

    steps = funnel_steps(t)
    figure = go.Figure(
        go.Funnel(
            y=[label for _k, label, _v in steps],
            x=[value for _k, _l, value in steps],
            textinfo="value+percent initial",
            marker={"color": BLUE},
            connector={"fillcolor": "#d9e0e8"},
        )
    )
    return _json(figure, legend=False)


def since_send_figure(rows: Sequence[tuple[int, Totals]]) -> dict[str, Any]:
    """Human clicks and conversions in each hour since the send (hour 0: the first hour
    with a message sent)."""
    import plotly.graph_objects as go

    hours = [hour for hour, _t in rows]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=hours,
            y=[t.clicks_human for _h, t in rows],
            name=_("Human clicks"),
            marker={"color": BLUE},
        )
    )
    figure.add_trace(
        go.Bar(
            x=hours,
            y=[t.conversions for _h, t in rows],
            name=_("Conversions"),
            marker={"color": GREEN},
        )
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(
        title={"text": _("Hours since the send")}, dtick=1 if len(hours) <= 24 else None
    )
    figure.update_yaxes(rangemode="tozero")
    return _json(figure, height=280)


def latency_buckets(counts: Mapping[str, int], bounds: Sequence[int]) -> list[tuple[str, int]]:
    """(key, messages) of every latency bucket in order (``bounds`` in seconds, then
    ``inf``), empty buckets included so the histogram keeps its shape."""
    keys = [str(b) for b in bounds] + ["inf"]
    return [(k, int(counts.get(k, 0))) for k in keys]


def latency_label(key: str, bounds: Sequence[int]) -> str:
    """A bucket's name: "≤ 5 s", "≤ 30 min", "> 1 day"."""
    if key == "inf":
        return _("> %(time)s", time=duration(max(bounds)))
    return _("≤ %(time)s", time=duration(int(key)))


def duration(seconds: int) -> str:
    if seconds < 60:
        return _("%(n)d s", n=seconds)
    if seconds < 3600:
        return _("%(n)d min", n=seconds // 60)
    if seconds < 86400:
        return _("%(n)d h", n=seconds // 3600)
    return _("%(n)d d", n=seconds // 86400)


def latency_figure(counts: Mapping[str, int], bounds: Sequence[int]) -> dict[str, Any]:
    """Delivered messages by time from submission to the delivery receipt."""
    import plotly.graph_objects as go

    buckets = latency_buckets(counts, bounds)
    figure = go.Figure(
        go.Bar(
            x=[latency_label(k, bounds) for k, _n in buckets],
            y=[n for _k, n in buckets],
            marker={"color": BLUE},
            text=[n for _k, n in buckets],
            textposition="auto",
        )
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(rangemode="tozero")
    return _json(figure, height=260, legend=False)


def click_kinds_figure(t: Totals) -> dict[str, Any]:
    """One campaign's raw clicks by kind: people, link previews, scanners, HEAD."""
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Bar(
            x=[kind_label(k) for k in CLICK_KINDS],
            y=[getattr(t, k) for k in CLICK_KINDS],
            marker={"color": [KIND_COLOURS[k] for k in CLICK_KINDS]},
            text=[getattr(t, k) for k in CLICK_KINDS],
            textposition="auto",
        )
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(rangemode="tozero")
    return _json(figure, height=260, legend=False)


def link_clicks_figure(rows: Sequence[tuple[date, Mapping[str, int]]]) -> dict[str, Any]:
    """Clicks per day, stacked by kind (people, previews, scanners, HEAD)."""
    import plotly.graph_objects as go

    days = [day.isoformat() for day, _c in rows]
    figure = go.Figure()
    for kind in CLICK_KINDS:
        figure.add_trace(
            go.Bar(
                x=days,
                y=[int(counts.get(kind, 0)) for _d, counts in rows],
                name=kind_label(kind),
                marker={"color": KIND_COLOURS[kind]},
                meta=kind,
            )
        )
    figure.update_layout(barmode="stack", xaxis=_day_axis(len(days)), yaxis={"rangemode": "tozero"})
    return _json(figure)
