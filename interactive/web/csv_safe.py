"""Cells for CSV files that people open in a spreadsheet."""

from __future__ import annotations

import re

_PHONE_LIKE = re.compile(r"^\+\d{6,15}$")


def neutralise(value: str) -> str:
    """A cell a spreadsheet will not run as a formula; phone numbers stay readable."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PHONE_LIKE.match(value):
        return "'" + value
    return value
