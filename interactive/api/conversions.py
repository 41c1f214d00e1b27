"""The server-to-server conversion postback: ``POST /api/v1/conversions``.

Authenticated like every API call (a bearer key with the analytics permission) and signed:
``X-Interactive-Timestamp`` is the time in POSIX seconds and ``X-Interactive-Signature`` is
``sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<raw body>"`` under the API key itself.
A timestamp more than five minutes from now is refused, so a captured request cannot be
replayed later. Every signature problem answers 401 with a code (``signature_missing``,
``timestamp_invalid``, ``timestamp_expired``, ``signature_invalid``,
``signature_mismatch``) and the header named in ``details``.

A checked postback is queued (``interactive.analytics.buffer``) and answered 202; the
drain attributes and stores it within seconds (``interactive.analytics.attribution``). It
is counted once per ``order_id`` (``order:<id>``, shared with the pixel) or else per
``idempotency_key``: a replay answers 200 with ``duplicate`` and, once stored, the
conversion (unchanged).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request

from interactive.analytics import attribution, buffer
from interactive.analytics.models import Conversion
from interactive.api import schemas
from interactive.api.errors import ApiError
from interactive.api.views import api_key_required, bp, parse_body
from interactive.contacts import phones
from interactive.db import db, utcnow
from interactive.redis_store import get_redis
from interactive.shortlinks import codec
from interactive.web.models import Permission

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Interactive-Timestamp"
SIGNATURE_HEADER = "X-Interactive-Signature"
MAX_AGE_SECONDS = 300


def _unsigned(code: str, header: str, message: str) -> ApiError:
    return ApiError(401, message, code=code, details=[{"field": header, "message": message}])


def signature(api_key: str, timestamp: str, body: bytes) -> str:
    """The ``X-Interactive-Signature`` value of a postback (what clients compute)."""
    digest = hmac.new(api_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(now: float | None = None) -> None:
    """Refuse (401) a postback whose timestamp is missing, malformed or more than five
    minutes off, or whose signature does not match the body under the bearer key."""
    timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
    sent = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not timestamp:
        raise _unsigned(
            "signature_missing", TIMESTAMP_HEADER, f"Send {TIMESTAMP_HEADER} (POSIX seconds)."
        )
    if not sent:
        raise _unsigned(
            "signature_missing", SIGNATURE_HEADER, f"Send {SIGNATURE_HEADER}: sha256=<hex>."
        )
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise _unsigned(
            "timestamp_invalid", TIMESTAMP_HEADER, f"{TIMESTAMP_HEADER} must be POSIX seconds."
        )
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_AGE_SECONDS:
        raise _unsigned(
            "timestamp_expired",
            TIMESTAMP_HEADER,
            f"{TIMESTAMP_HEADER} is more than 5 minutes from the server's time; sign the "
            "request again with the current time.",
        )
    if not sent.startswith("sha256=") or len(sent) != 71:
        raise _unsigned(
            "signature_invalid", SIGNATURE_HEADER, f"{SIGNATURE_HEADER} must be sha256=<64 hex>."
        )
    api_key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    expected = signature(api_key, timestamp, request.get_data())
    if not hmac.compare_digest(expected.encode(), sent.lower().encode()):
        raise _unsigned(
            "signature_mismatch",
            SIGNATURE_HEADER,
            "The signature does not match: HMAC-SHA256 of '<timestamp>.<raw body>' under "
            "the API key, as sha256=<hex>.",
        )


def conversion_out(row: Conversion) -> dict[str, Any]:
    return schemas.ConversionOut(
        id=row.id,
        source=row.source.value,
        event=row.event,
        value=row.value,
        currency=row.currency,
        order_id=row.order_id,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        click_token=row.click_token,
        attributed=any(x is not None for x in (row.campaign_id, row.message_id, row.link_id)),
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        variant_id=row.variant_id,
        message_id=row.message_id,
        link_id=row.link_id,
    ).model_dump(mode="json")


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, message, details=[{"field": field, "message": message}])


def _idempotency_key(body: schemas.ConversionIn) -> str:
    if body.order_id is not None:
        return f"order:{body.order_id}"
    if body.idempotency_key is not None:
        return f"postback:{body.idempotency_key}"
    raise ApiError(
        422,
        "Give order_id or idempotency_key, so that a repeated postback counts once.",
        details=[
            {"field": "order_id", "message": "order_id or idempotency_key is required"},
            {"field": "idempotency_key", "message": "order_id or idempotency_key is required"},
        ],
    )


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    parsed = phones.normalise(raw, str(current_app.config["DEFAULT_REGION"]))
    if parsed.e164 is None:
        raise _invalid("phone", f"'phone' is not a phone number ({parsed.error}).")
    return parsed.e164


def _answer(status: str, idempotency_key: str, row: Conversion | None) -> dict[str, Any]:
    return schemas.ConversionAccepted(
        status=status,  # type: ignore[arg-type]
        idempotency_key=idempotency_key,
        conversion=None if row is None else schemas.ConversionOut(**conversion_out(row)),
    ).model_dump(mode="json")


@bp.route("/conversions", methods=["POST"])
@api_key_required(Permission.ANALYTICS)
def create_conversion() -> tuple[Response, int]:
    verify_signature()
    body = parse_body(schemas.ConversionIn)
    idempotency_key = _idempotency_key(body)
    now = utcnow()
    occurred_at = body.occurred_at or now
    if occurred_at > now + attribution.CLOCK_SKEW:
        raise _invalid("occurred_at", "'occurred_at' is in the future.")
    secret = str(current_app.config["SHORTLINK_SECRET"])
    pending = buffer.Pending(
        idempotency_key=idempotency_key[:200],
        event=body.event,
        occurred_at=occurred_at,
        value=body.value,
        currency=body.currency,
        click_token=body.ic,
        link=codec.decode(body.link_code, secret) if body.link_code else None,
        message_id=body.message_id,
        phone=_phone(body.phone),
        order_id=body.order_id,
    )
    if buffer.accept(get_redis(), pending):
        return jsonify(_answer("accepted", pending.idempotency_key, None)), 202
    stored = db.session().scalar(
        sa.select(Conversion).where(Conversion.idempotency_key == pending.idempotency_key)
    )
    log.info("conversion repeated key=%s stored=%s", pending.idempotency_key, stored is not None)
    return jsonify(_answer("duplicate", pending.idempotency_key, stored)), 200
