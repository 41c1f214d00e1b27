"""Structured logging: one line per event, with request id / job id, phone numbers masked.

Configured by the process commands (``interactive up``, ``web``, ``worker``, …), never at
import time. ``text`` gives ``key=value`` lines for people; ``json`` one object per line.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

#: Set per web request (``interactive.app``) and per RQ job (``interactive.queue``).
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_request_id", default=None
)
current_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_job_id", default=None
)

# Anything that looks like a phone number: 10 to 15 digits (spaces allowed), optionally
# with a leading +, standing alone (not part of an id such as "job-12345678901" or a
# stream entry id "1763870000000-0").
_PHONE = re.compile(r"(?<![\w.\-])\+?\d(?:[\d ]{8,17})\d(?![\w.\-])")

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def mask_msisdn(number: str | None) -> str:
    """A loggable stand-in for a phone number: a short hash (to correlate lines) and the
    last two digits (to help a human), never the number itself (KVKK/GDPR)."""
    if not number:
        return "-"
    digits = "".join(ch for ch in number if ch.isdigit())
    digest = hashlib.sha256(digits.encode()).hexdigest()[:10]
    return f"#{digest}..{digits[-2:]}"


def _mask_match(match: re.Match[str]) -> str:
    return mask_msisdn(match.group(0))


def redact(text: str) -> str:
    """Mask every phone-number-like run of digits in free text."""
    return _PHONE.sub(_mask_match, text)


class ContextFilter(logging.Filter):
    """Adds request_id / job_id and masks phone numbers that slipped into a message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        record.job_id = current_job_id.get()
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD_ATTRS and not k.startswith("_") and v is not None
    }


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``2026-11-23T10:00:00.000+00:00 INFO interactive.web msg="..." request_id=...``"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record),
            record.levelname,
            record.name,
            f"msg={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in _extras(record).items()]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in _extras(record).items() if k not in payload})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(fmt: str = "text", level: str = "INFO", process: str | None = None) -> None:
    """Send every logger's records to stderr, one line each. Idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    if process:
        handler.addFilter(_ProcessFilter(process))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_interactive", False):
            root.removeHandler(existing)
    handler._interactive = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # RQ installs its own colourful handler unless its logger already propagates to ours.
    for name in ("rq.worker", "rq.scheduler", "rq.job"):
        rq_logger = logging.getLogger(name)
        rq_logger.handlers.clear()
        rq_logger.propagate = True
    for noisy in ("werkzeug", "urllib3", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class _ProcessFilter(logging.Filter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process_name = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.proc = self.process_name
        return True
