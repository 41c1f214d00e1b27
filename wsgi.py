"""WSGI entry point for any server: ``gunicorn wsgi:app`` (``interactive web`` does the same
with its settings)."""

from __future__ import annotations

import sys

from interactive.app import create_app
from interactive.config import ConfigError
from interactive.heap import freeze_startup_heap

try:
    app = create_app()
except ConfigError as exc:
    sys.stderr.write(f"interactive: configuration error: {exc}\n")
    raise SystemExit(2) from None
freeze_startup_heap()
