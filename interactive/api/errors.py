"""JSON errors for every API failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

# Stable codes clients can branch on, by HTTP status.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
}


class ApiError(HTTPException):
    """Raise from API views: a status, a stable code, a message and optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.error_code = code or CODES.get(status, "error")
        self.details = details
        self.extra_headers = headers or {}


def error_body(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def api_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    if isinstance(exc, ApiError):
        body = error_body(status, exc.error_code, exc.description or "", exc.details)
        headers = dict(exc.extra_headers)
    else:
        message = exc.description or exc.name
        if status == 500:
            message = "Internal error; it is logged."
        body = error_body(status, CODES.get(status, "error"), message)
        headers = {k: v for k, v in exc.get_response().headers.items() if k in ("Allow",)}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="interactive"'
    return response


def datetime_arg(name: str) -> datetime | None:
    """The query parameter ``name`` as an aware UTC datetime (a naive one is taken as UTC);
    None when absent; a 422 naming the parameter when it is not ISO 8601."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            422,
            f"'{name}' must be a date and time (ISO 8601, e.g. 2026-04-01T00:00:00Z).",
            details=[{"field": name, "message": "not a date and time"}],
        ) from None
