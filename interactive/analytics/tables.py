"""The dashboards' key figures and tables, built from what ``metrics`` returns (no
database, no request). Links to the rows behind a number come in as URLs from the view,
which knows which lists exist and which the viewer may open."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import format_percent
from flask_babel import gettext as _

from interactive.analytics import figures, stats
from interactive.analytics.metrics import CampaignTotals, Totals, VariantComparison
from interactive.analytics.report import Cell, Column, Table

Urls = Mapping[str, str | None]


@dataclass
class KeyFigure:
    key: str
    label: str
    value: Cell
    kind: str
    url: str | None = None


def _metric_columns(*keys: str) -> list[Column]:
    """Columns for ``Totals`` figures, named and typed the same in every table."""
    catalogue = {
        "targeted": (_("Targeted"), "count"),
        "sent": (_("Sent"), "count"),
        "delivered": (_("Delivered"), "count"),
        "delivery_rate": (_("Delivery rate"), "rate"),
        "clicks_human": (_("Human clicks"), "count"),
        "clickers": (_("Unique human clickers"), "count"),
        "ctr": (_("CTR"), "rate"),
        "converters": (_("People who converted"), "count"),
        "converter_rate": (_("Converted (people, of delivered)"), "rate"),
        "conversions": (_("Conversions"), "count"),
        "conversion_rate_delivered": (_("Conversion rate (of delivered)"), "rate"),
        "revenue": (_("Revenue"), "money"),
        "cost": (_("Cost"), "money"),
        "roi": (_("ROI"), "rate"),
        "opt_outs": (_("Opt-outs"), "count"),
        "opt_out_rate": (_("Opt-out rate"), "rate"),
    }
    return [Column(key, *catalogue[key]) for key in keys]


def _links(columns: Sequence[Column], urls: Urls) -> dict[str, str | None]:
    """The lists behind a row's cells: each column's figure, where one is listed."""
    return {c.key: urls.get(c.key) for c in columns}


def key_figures(t: Totals, urls: Urls | None = None) -> list[list[KeyFigure]]:
    """The numbers at the top of a dashboard, as cards: the first figure of a card is its
    headline, the others its rates."""
    urls = urls or {}

    def f(key: str, label: str, kind: str = "count") -> KeyFigure:
        return KeyFigure(key, label, getattr(t, key), kind, urls.get(key))

    return [
        [f("sent", _("Sent")), f("parts", _("SMS parts"))],
        [f("delivered", _("Delivered")), f("delivery_rate", _("Delivery rate"), "rate")],
        [f("clickers", _("Unique human clickers")), f("ctr", _("CTR"), "rate")],
        [
            f("conversions", _("Conversions")),
            f("conversion_rate_clicks", _("Of human clicks"), "rate"),
            f("conversion_rate_delivered", _("Of delivered"), "rate"),
        ],
        [
            f("revenue", _("Revenue"), "money"),
            f("revenue_per_delivered", _("Per delivered message"), "money"),
        ],
        [f("cost", _("Cost"), "money"), f("cost_per_conversion", _("Per conversion"), "money")],
        [f("roi", _("ROI"), "rate")],
        [f("opt_outs", _("Opt-outs")), f("opt_out_rate", _("Opt-out rate"), "rate")],
        [f("bot_share", _("Bot share"), "rate"), f("clicks_raw", _("Raw clicks"))],
    ]


def summary_table(cards: Sequence[Sequence[KeyFigure]]) -> Table:
    table = Table(
        "summary",
        _("Key figures"),
        [Column("figure", _("Figure"), "text"), Column("value", _("Value"), "auto")],
    )
    for card in cards:
        for figure in card:
            table.add([figure.label, figure.value], {"value": figure.url})
    return table


def daily_table(
    rows: Sequence[tuple[date | datetime, Totals]],
    urls: Callable[[date | datetime], Urls] = lambda day: {},
) -> Table:
    """The figures per day; ``urls(day)`` lists the rows behind a day's figures."""
    table = Table(
        "daily",
        _("By day"),
        [
            Column("day", _("Day"), "day"),
            *_metric_columns(
                "sent",
                "delivered",
                "delivery_rate",
                "clicks_human",
                "clickers",
                "ctr",
                "conversions",
                "revenue",
                "cost",
                "opt_outs",
                "opt_out_rate",
            ),
        ],
    )
    for day, t in rows:
        table.add(
            [day, *(getattr(t, c.key) for c in table.columns[1:])],
            _links(table.columns[1:], urls(day)),
        )
    return table


def campaigns_table(
    rows: Sequence[CampaignTotals],
    dashboard_url: Callable[[int], str],
    urls: Callable[[int], Urls] = lambda campaign_id: {},
) -> Table:
    """The figures per campaign: its name leads to its dashboard, ``urls(id)`` lists the
    rows behind its figures."""
    table = Table(
        "campaigns",
        _("Campaigns"),
        [
            Column("name", _("Campaign"), "text"),
            *_metric_columns(
                "sent",
                "delivered",
                "delivery_rate",
                "clickers",
                "ctr",
                "conversions",
                "conversion_rate_delivered",
                "revenue",
                "cost",
                "roi",
                "opt_outs",
            ),
        ],
    )
    for row in rows:
        t = row.totals
        links = _links(table.columns[1:], urls(row.campaign_id))
        table.add(
            [row.name, *(getattr(t, c.key) for c in table.columns[1:])],
            {**links, "name": dashboard_url(row.campaign_id)},
        )
    return table


def top_table(
    rows: Sequence[CampaignTotals],
    metric: str,
    dashboard_url: Callable[[int], str],
    urls: Callable[[int], Urls] = lambda campaign_id: {},
) -> Table:
    """The top campaigns by conversion rate (``metric="conversion_rate"``) or revenue."""
    revenue = metric == "revenue"
    table = Table(
        "top_revenue" if revenue else "top_conversion",
        _("Top campaigns by revenue") if revenue else _("Top campaigns by conversion rate"),
        [
            Column("name", _("Campaign"), "text"),
            Column("value", _("Revenue"), "money")
            if revenue
            else Column("value", _("Conversion rate (of delivered)"), "rate"),
        ],
    )
    for row in figures.top_campaigns(rows, metric):
        value = row.totals.revenue if revenue else row.totals.conversion_rate_delivered
        listed = urls(row.campaign_id).get("revenue" if revenue else "conversions")
        table.add([row.name, value], {"name": dashboard_url(row.campaign_id), "value": listed})
    return table


# --- one campaign ------------------------------------------------------------------------------


def funnel_table(t: Totals, urls: Urls) -> Table:
    """The funnel's steps with each step's rate: eligible of targeted, sent of eligible,
    delivered of sent, unique human clickers (CTR) and people who converted of
    delivered."""
    table = Table(
        "funnel",
        _("Funnel"),
        [
            Column("step", _("Step"), "text"),
            Column("people", _("People")),
            Column("rate", _("Rate"), "rate"),
        ],
    )
    rates = {
        "targeted": None,
        "eligible": t.eligible / t.targeted if t.targeted else None,
        "sent": t.sent / t.eligible if t.eligible else None,
        "delivered": t.delivery_rate,
        "clickers": t.ctr,
        "converters": t.converter_rate,
    }
    for key, label, value in figures.funnel_steps(t):
        table.add([label, value, rates[key]], {"people": urls.get(key)})
    return table


def hours_table(
    rows: Sequence[tuple[int, Totals]], urls: Callable[[int], Urls] = lambda hour: {}
) -> Table:
    """The figures per hour since the send; ``urls(hour)`` lists the rows behind an
    hour's."""
    table = Table(
        "hours",
        _("By hour since the send"),
        [
            Column("hour", _("Hours since the send")),
            Column("sent", _("Sent")),
            Column("delivered", _("Delivered")),
            Column("clicks_human", _("Human clicks")),
            Column("clickers", _("Unique human clickers")),
            Column("conversions", _("Conversions")),
            Column("revenue", _("Revenue"), "money"),
        ],
    )
    for hour, t in rows:
        table.add(
            [hour, *(getattr(t, c.key) for c in table.columns[1:])],
            _links(table.columns[1:], urls(hour)),
        )
    return table


def latency_table(
    counts: Mapping[str, int],
    bounds: Sequence[int],
    url: Callable[[str], str | None] = lambda key: None,
) -> Table:
    table = Table(
        "latency",
        _("Delivery latency"),
        [Column("within", _("Delivered within"), "text"), Column("messages", _("Messages"))],
    )
    for key, n in figures.latency_buckets(counts, bounds):
        table.add([figures.latency_label(key, bounds), n], {"messages": url(key)})
    return table


def variants_table(
    variants: Sequence[tuple[int, str]],
    by_key: Mapping[int, Totals],
    urls: Callable[[int], Urls] = lambda key: {},
) -> Table:
    """Each variant's figures (``variants``: (id, label)), then the recipients decided
    before a variant was chosen (skipped, held out), if any; ``urls(key)`` lists the rows
    behind a variant's figures (key 0: the recipients without a variant)."""
    table = Table(
        "variants",
        _("Variants"),
        [
            Column("variant", _("Variant"), "text"),
            *_metric_columns(
                "targeted",
                "sent",
                "delivered",
                "delivery_rate",
                "clickers",
                "ctr",
                "converters",
                "converter_rate",
                "conversions",
                "conversion_rate_delivered",
                "revenue",
            ),
        ],
    )
    rows = [(key, label, by_key.get(key, Totals())) for key, label in variants]
    if 0 in by_key:
        rows.append((0, _("No variant (not sent or held out)"), by_key[0]))
    for key, label, t in rows:
        table.add(
            [label, *(getattr(t, c.key) for c in table.columns[1:])],
            _links(table.columns[1:], urls(key)),
        )
    return table


def verdict(test: stats.TwoProportions) -> str:
    if not test.enough:
        return _("Not enough data yet")
    if test.significant:
        return _("Significant at %(level)s confidence", level=format_percent(test.confidence))
    return _("No significant difference")


def significance_table(comparisons: Sequence[VariantComparison]) -> Table:
    table = Table(
        "significance",
        _("Variant comparison"),
        [
            Column("variant", _("Variant"), "text"),
            Column("baseline", _("Against"), "text"),
            Column("metric", _("Measure"), "text"),
            Column("rate", _("Rate"), "rate"),
            Column("baseline_rate", _("Baseline rate"), "rate"),
            Column("difference", _("Difference"), "rate"),
            Column("low", _("Difference, low end of CI"), "rate"),
            Column("high", _("Difference, high end of CI"), "rate"),
            Column("p_value", _("p-value"), "pvalue"),
            Column("result", _("Result"), "text"),
        ],
    )
    for c in comparisons:
        test = c.test
        table.add(
            [
                c.label,
                c.baseline,
                _("CTR") if c.metric == "ctr" else _("People who converted ÷ delivered"),
                test.rate_a,
                test.rate_b,
                test.difference,
                test.low,
                test.high,
                test.p_value,
                verdict(test),
            ]
        )
    return table


def lift_table(lift: stats.Lift | None, urls: Urls) -> Table:
    table = Table(
        "lift",
        _("Hold-out lift"),
        [
            Column("treated", _("Sent a message")),
            Column("treated_converters", _("Converted")),
            Column("treated_rate", _("Conversion rate"), "rate"),
            Column("control", _("Held out")),
            Column("control_converters", _("Converted (held out)")),
            Column("control_rate", _("Conversion rate (held out)"), "rate"),
            Column("relative", _("Relative lift"), "rate"),
            Column("low", _("Difference, low end of CI"), "rate"),
            Column("high", _("Difference, high end of CI"), "rate"),
            Column("p_value", _("p-value"), "pvalue"),
            Column("result", _("Result"), "text"),
        ],
    )
    if lift is not None:
        test = lift.test
        table.add(
            [
                test.n_a,
                test.successes_a,
                lift.treated_rate,
                test.n_b,
                test.successes_b,
                lift.control_rate,
                lift.relative if test.enough else None,
                test.low,
                test.high,
                test.p_value,
                verdict(test),
            ],
            {
                "treated": urls.get("treated"),
                "treated_converters": urls.get("treated_converters"),
                "control": urls.get("held_out"),
                "control_converters": urls.get("control_converters"),
            },
        )
    return table


def clicks_table(t: Totals, urls: Urls | None = None) -> Table:
    table = Table(
        "clicks",
        _("Clicks by kind"),
        [
            Column("kind", _("Who"), "text"),
            Column("clicks", _("Clicks")),
            Column("share", _("Share"), "rate"),
        ],
    )
    raw = t.clicks_raw
    for kind in figures.CLICK_KINDS:
        n = getattr(t, kind)
        table.add(
            [figures.kind_label(kind), n, n / raw if raw else None],
            {"clicks": (urls or {}).get(kind)},
        )
    return table


def reasons_table(
    counts: Mapping[str, int], label: Callable[[str], str], url: Callable[[str], str | None]
) -> Table:
    table = Table(
        "reasons",
        _("Why recipients got no message"),
        [Column("reason", _("Reason"), "text"), Column("recipients", _("Recipients"))],
    )
    for key, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add([label(key), n], {"recipients": url(key)})
    return table


def failures_table(counts: Mapping[str, int], url: Callable[[str], str | None]) -> Table:
    """Failed messages by error code ("" when none was given); ``url(code)`` lists the
    recipients whose message failed so."""
    table = Table(
        "failures",
        _("Failures by error code"),
        [Column("code", _("Error code"), "text"), Column("messages", _("Messages"))],
    )
    for key, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add([key or _("none given"), n], {"messages": url(key)})
    return table


def replies_table(t: Totals, urls: Urls) -> Table:
    table = Table(
        "replies",
        _("Replies and opt-outs"),
        [
            Column("replies", _("Replies")),
            Column("repliers", _("People who replied")),
            Column("opt_outs", _("Opt-outs")),
            Column("opt_out_rate", _("Opt-out rate"), "rate"),
        ],
    )
    table.add(
        [t.replies, t.repliers, t.opt_outs, t.opt_out_rate],
        {
            "replies": urls.get("replies"),
            "repliers": urls.get("replies"),
            "opt_outs": urls.get("replies"),
        },
    )
    return table


# --- links -------------------------------------------------------------------------------------


def link_clicks_table(
    rows: Sequence[tuple[date, Mapping[str, int]]],
    urls: Callable[[date], Urls] = lambda day: {},
) -> Table:
    """Clicks per day by kind; ``urls(day)`` lists a day's hits of each kind."""
    table = Table(
        "clicks",
        _("Clicks by day"),
        [
            Column("day", _("Day"), "day"),
            *(Column(k, figures.kind_label(k)) for k in figures.CLICK_KINDS),
            Column("total", _("All clicks")),
            Column("human_share", _("By people"), "rate"),
        ],
    )
    for day, counts in rows:
        values = [int(counts.get(k, 0)) for k in figures.CLICK_KINDS]
        total = sum(values)
        table.add(
            [day, *values, total, values[0] / total if total else None],
            _links(table.columns[1:-1], urls(day)),
        )
    return table
