"""Property-based checks of the running API against its own OpenAPI document
(schemathesis): every documented status, content type and body, and never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from interactive.api.openapi import openapi_document
from tests.conftest import make_api_key


@pytest.fixture
def api_key(app: Flask, ctx: Any) -> str:
    return make_api_key("schemathesis")


# The document is built without an app; requests go to the test app through WSGI.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_document(case: Any, app: Flask, api_key: str) -> None:
    # The app is a fixture, so the schema gets it here; its checks (e.g. that a request
    # without the key is refused) then reach the app too.
    case.operation.schema.app = app
    case.operation.app = app
    # A generated query parameter with an empty name, or an empty list as its value, is
    # not sent at all, so the request that arrives is valid: its acceptance says nothing
    # about rejecting bad data.
    unsent = any(name == "" or value == [] for name, value in (case.query or {}).items())
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_key}"},
        excluded_checks=[negative_data_rejection] if unsent else None,
    )
