"""Logs: one line per event, request and job ids attached, phone numbers never in full."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from interactive.logs import ContextFilter, JsonFormatter, TextFormatter, mask_msisdn, redact
from tests.helpers import csrf_token


def _record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("interactive.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    ContextFilter().filter(record)
    return record


def test_mask_keeps_a_stable_hash_and_two_digits() -> None:
    masked = mask_msisdn("+905321234567")
    assert "5321234567" not in masked
    assert masked.endswith("..67")
    assert mask_msisdn("905321234567") == masked  # the same number, the same mark
    assert mask_msisdn("+905321234568") != masked


@pytest.mark.parametrize(
    "text",
    ["sent to +905321234567", "from 905321234567 ok", "number 0532 123 45 67 here"],
)
def test_numbers_in_messages_are_masked(text: str) -> None:
    line = TextFormatter().format(_record(text))
    assert "1234567" not in line
    assert "123 45 67" not in line


def test_ids_and_times_are_not_masked() -> None:
    assert redact("job=periodic-flush-16666 took 12 ms") == "job=periodic-flush-16666 took 12 ms"


def test_text_lines_are_single_lines_with_context() -> None:
    line = TextFormatter().format(_record("multi\nline %s", "value", campaign_id=7))
    assert "\n" not in line
    assert 'msg="multi\\nline value"' in line
    assert "campaign_id=7" in line


def test_json_lines_carry_request_and_job_ids(app: Any, client: Any) -> None:
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter().format(record))

    handler = Capture()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("interactive.web.views")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "email": "someone@example.com",
                "password": "not the password",
            },
            headers={"X-Request-ID": "req-12345678"},
        )
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "req-12345678"
    payloads = [json.loads(r) for r in records]
    failed = [p for p in payloads if p["msg"].startswith("sign-in failed")]
    assert len(failed) == 1
    assert failed[0]["request_id"] == "req-12345678"
    assert "someone@example.com" not in records[0]
