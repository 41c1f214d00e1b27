"""The dashboards' figures and tables, built by pure functions from the metrics' rows:
each trace carries the values it was given, in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from flask import Flask
from flask_babel import force_locale

from interactive.analytics import compute, figures, report, stats, tables
from interactive.analytics.metrics import CampaignTotals, Totals, VariantComparison


@pytest.fixture(autouse=True)
def _request(app: Flask) -> Iterator[None]:
    """Labels are translated: English, as a visitor sees them in the tests."""
    with app.test_request_context():
        yield


def _totals(**values: object) -> Totals:
    t = Totals()
    for name, value in values.items():
        setattr(t, name, value)
    return t


def _trace(figure: dict, name: str) -> dict:
    return next(t for t in figure["data"] if t.get("name") == name)


def test_the_funnel_shows_the_people_at_each_step() -> None:
    t = _totals(targeted=12, eligible=8, sent=7, delivered=5, clickers=2, converters=2)
    figure = figures.funnel_figure(t)
    (trace,) = figure["data"]
    assert trace["type"] == "funnel"
    assert trace["x"] == [12, 8, 7, 5, 2, 2]
    assert trace["y"] == [
        "Targeted",
        "Eligible",
        "Sent",
        "Delivered",
        "Unique human clickers",
        "People who converted",
    ]


def test_activity_over_time_has_a_line_per_count_and_revenue_bars() -> None:
    rows = [
        (
            date(2026, 11, 2),
            _totals(sent=7, delivered=5, clickers=2, conversions=2, revenue=Decimal("150.50")),
        ),
        (date(2026, 11, 3), _totals(sent=1, delivered=1)),
    ]
    figure = figures.activity_figure(rows)
    assert _trace(figure, "Sent")["x"] == ["2026-11-02", "2026-11-03"]
    assert _trace(figure, "Sent")["y"] == [7, 1]
    assert _trace(figure, "Delivered")["y"] == [5, 1]
    assert _trace(figure, "Unique human clickers")["y"] == [2, 0]
    assert _trace(figure, "Conversions")["y"] == [2, 0]
    revenue = _trace(figure, "Revenue")
    assert revenue["type"] == "bar" and revenue["y"] == [150.5, 0.0]
    assert revenue["yaxis"] == "y2"


def test_opt_outs_per_day_with_their_rate() -> None:
    rows = [
        (date(2026, 11, 2), _totals(delivered=5, opt_outs=1)),
        (date(2026, 11, 3), _totals(delivered=0, opt_outs=0)),
    ]
    figure = figures.opt_out_figure(rows)
    assert _trace(figure, "Opt-outs")["y"] == [1, 0]
    assert _trace(figure, "Opt-out rate")["y"] == [0.2, None]


def test_top_campaigns_are_ranked_best_first_and_leave_out_empty_ones() -> None:
    rows = [
        CampaignTotals(3, "Kış", _totals(delivered=10, conversions=1, revenue=Decimal("500"))),
        CampaignTotals(2, "Bahar", _totals(delivered=5, conversions=2, revenue=Decimal("150.50"))),
        CampaignTotals(1, "Taslak", _totals()),  # nothing delivered: no rate, no revenue
    ]
    by_rate = figures.top_campaigns_figure(rows, "conversion_rate")
    assert by_rate is not None
    (trace,) = by_rate["data"]
    assert trace["y"] == ["Bahar", "Kış"] and trace["x"] == [0.4, 0.1]
    assert trace["customdata"] == [2, 3]
    by_revenue = figures.top_campaigns_figure(rows, "revenue")
    assert by_revenue is not None
    assert by_revenue["data"][0]["y"] == ["Kış", "Bahar"]
    assert by_revenue["data"][0]["x"] == [500.0, 150.5]
    assert figures.top_campaigns_figure(rows[2:], "revenue") is None


def test_clicks_and_conversions_per_hour_since_the_send() -> None:
    rows = [
        (0, _totals(sent=7)),
        (1, _totals(clicks_human=1, conversions=1)),
        (3, _totals(clicks_human=1)),
    ]
    figure = figures.since_send_figure(rows)
    assert _trace(figure, "Human clicks")["x"] == [0, 1, 3]
    assert _trace(figure, "Human clicks")["y"] == [0, 1, 1]
    assert _trace(figure, "Conversions")["y"] == [0, 1, 0]


def test_the_latency_histogram_keeps_empty_buckets_in_order() -> None:
    counts = {"5": 2, "10": 1, "60": 1, "1800": 1, "inf": 3}
    figure = figures.latency_figure(counts, compute.LATENCY_BUCKETS)
    (trace,) = figure["data"]
    assert trace["x"] == [
        "≤ 5 s",
        "≤ 10 s",
        "≤ 30 s",
        "≤ 1 min",
        "≤ 5 min",
        "≤ 30 min",
        "≤ 1 h",
        "≤ 6 h",
        "≤ 1 d",
        "> 1 d",
    ]
    assert trace["y"] == [2, 1, 0, 1, 0, 1, 0, 0, 0, 3]
    table = tables.latency_table(counts, compute.LATENCY_BUCKETS)
    assert [row[1] for row in table.rows] == trace["y"]


def test_clicks_by_kind_for_a_campaign_and_per_day_for_links() -> None:
    t = _totals(clicks_human=3, clicks_preview=1, clicks_scanner=1, clicks_head=1)
    (trace,) = figures.click_kinds_figure(t)["data"]
    assert trace["x"] == ["People", "Link previews", "Scanners and bots", "HEAD and prefetch"]
    assert trace["y"] == [3, 1, 1, 1]
    days = [
        (
            date(2026, 11, 2),
            {"clicks_human": 3, "clicks_preview": 1, "clicks_scanner": 1, "clicks_head": 1},
        ),
        (
            date(2026, 11, 4),
            {"clicks_human": 0, "clicks_preview": 2, "clicks_scanner": 0, "clicks_head": 0},
        ),
    ]
    figure = figures.link_clicks_figure(days)
    assert figure["layout"]["barmode"] == "stack"
    assert _trace(figure, "People")["y"] == [3, 0]
    assert _trace(figure, "Link previews")["y"] == [1, 2]
    assert _trace(figure, "People")["x"] == ["2026-11-02", "2026-11-04"]
    table = tables.link_clicks_table(days, lambda day: {"clicks_human": f"/h/{day}"})
    assert table.rows[0][-2:] == [6, 0.5] and table.rows[1][-2:] == [2, 0.0]
    assert table.link(1, "clicks_human") == "/h/2026-11-04"
    assert table.link(1, "clicks_preview") is None


def test_the_funnel_table_gives_each_steps_rate() -> None:
    t = _totals(targeted=12, eligible=8, sent=7, delivered=5, clickers=2, converters=2)
    table = tables.funnel_table(t, {"targeted": "/recipients"})
    assert [row[1] for row in table.rows] == [12, 8, 7, 5, 2, 2]
    assert table.rows[0][2] is None
    assert table.rows[1][2] == pytest.approx(8 / 12)
    assert table.rows[3][2] == pytest.approx(5 / 7)
    assert table.rows[4][2] == pytest.approx(2 / 5)
    assert table.link(0, "people") == "/recipients" and table.link(1, "people") is None


def test_the_significance_table_says_when_there_is_not_enough_data() -> None:
    few = stats.two_proportions(1, 3, 1, 2, min_sample=100)
    many = stats.two_proportions(300, 1000, 200, 1000, min_sample=100)
    table = tables.significance_table(
        [VariantComparison("B", "A", "ctr", few), VariantComparison("C", "A", "ctr", many)]
    )
    assert table.rows[0][-1] == "Not enough data yet"
    assert table.rows[0][5:9] == [None, None, None, None]
    assert table.rows[1][-1] == "Significant at 95% confidence"
    assert table.rows[1][5] == pytest.approx(0.1)
    low, high, p_value = table.rows[1][6:9]
    assert isinstance(low, float) and isinstance(high, float) and isinstance(p_value, float)
    assert low < 0.1 < high
    assert p_value < 0.001


def test_page_cells_are_formatted_in_the_viewers_language() -> None:
    assert report.text(5 / 7, "rate", "TRY") == "71.4%"
    assert report.text(Decimal("150.50"), "money", "TRY") == "TRY150.50"
    assert report.text(1234, "count", "TRY") == "1,234"
    assert report.text(0.0321, "pvalue", "TRY") == "0.032"
    assert report.text(None, "rate", "TRY") == "—"
    assert report.text(date(2026, 11, 2), "day", "TRY") == "Nov 2, 2026"
    with force_locale("tr"):
        assert report.text(5 / 7, "rate", "TRY") == "%71,4"
        assert report.text(Decimal("150.50"), "money", "TRY") == "₺150,50"
