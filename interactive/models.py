"""Imports every feature's models so that the metadata is complete (Alembic, tests)."""

from __future__ import annotations

import importlib

FEATURE_MODELS = (
    "interactive.web.models",
    "interactive.contacts.models",
    "interactive.outbound.models",
    "interactive.keywords.models",
    "interactive.shortlinks.models",
    "interactive.analytics.models",
    "interactive.surveys.models",
    "interactive.bookings.models",
)


def load_all_models() -> None:
    for module in FEATURE_MODELS:
        importlib.import_module(module)
