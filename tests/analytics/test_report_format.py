"""The dashboards' number formatting: the fast paths write what Babel writes."""

from __future__ import annotations

import pytest
from babel.numbers import format_decimal, format_percent
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
        assert report.count(None) == report.percent(None) == "—"
