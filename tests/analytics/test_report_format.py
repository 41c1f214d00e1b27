"""The dashboards' number formatting: the fast paths write what Babel writes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_currency, format_decimal, format_percent
from flask import Flask
from flask_babel import force_locale

from interactive.analytics import report


@pytest.mark.parametrize("locale", ["tr", "en"])
def test_counts_and_rates_read_as_babel_writes_them(app: Flask, locale: str) -> None:
    with app.test_request_context(), force_locale(locale):
        for n in (0, 5, 999, 1000, 65_432, 1_234_567, 10**12 + 3):
            assert report.count(n) == format_decimal(n, locale=locale)
        pattern = "%#,##0.0" if locale == "tr" else "#,##0.0%"
        for rate in (0.0, 0.0004, 0.4, 0.12345, 0.5, 1.0, 12.5):
            assert report.percent(rate) == format_percent(rate, format=pattern, locale=locale)
        for amount in ("0", "0.5", "149.90", "1234567.891"):
            for currency in ("TRY", "USD", "EUR"):
                expected = format_currency(Decimal(amount), currency, locale=locale)
                assert report.money(Decimal(amount), currency) == expected
        assert report.count(None) == report.percent(None) == report.money(None, "TRY") == "—"


def test_a_table_body_escapes_its_cells_and_links(app: Flask) -> None:
    table = report.Table("t", "T", [report.Column("name", "Name", "text"), report.Column("n", "N")])
    table.add(["<b>x</b>", 1234], {"n": "/r?a=1&b=<2>"})
    with app.test_request_context(), force_locale("tr"):
        html = str(report.body_html(table, "TRY"))
        empty = str(report.body_html(report.Table("e", "E", table.columns), "TRY"))
    assert html == (
        "<tr><td>&lt;b&gt;x&lt;/b&gt;</td>"
        '<td class="num"><a href="/r?a=1&amp;b=&lt;2&gt;">1.234</a></td></tr>'
    )
    assert empty.startswith('<tr><td colspan="2" class="muted">')
