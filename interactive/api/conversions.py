"""The server-to-server conversion postback: ``POST /api/v1/conversions``.

Authenticated like every API call (a bearer key with the analytics permission) and signed:
``X-Interactive-Timestamp`` is the time in POSIX seconds and ``X-Interactive-Signature`` is
``sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<raw body>"`` under the API key itself.
A timestamp more than five minutes from now is refused, so a captured request cannot be
replayed later. Every signature problem answers 401 with a code (``signature_missing``,
``timestamp_invalid``, ``timestamp_expired``, ``signature_invalid``,
``signature_mismatch``) and the header named in ``details``.

The conversion is counted once per ``order_id`` (``order:<id>``, shared with the pixel) or
else per ``idempotency_key``: 201 the first time, 200 with the stored conversion (unchanged)
on a replay. Attribution: ``interactive.analytics.attribution``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request

from interactive.analytics import attribution
from interactive.analytics import service as analytics
from interactive.analytics.models import Conversion, ConversionSource
from interactive.api import schemas
from interactive.api.errors import ApiError
from interactive.api.views import api_key_required, bp, parse_body
from interactive.contacts import phones
from interactive.contacts.models import Contact
from interactive.db import db, utcnow
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


def _contact_id(raw: str | None) -> tuple[str | None, int | None]:
    if raw is None:
        return None, None
    parsed = phones.normalise(raw, str(current_app.config["DEFAULT_REGION"]))
    if parsed.e164 is None:
        raise _invalid("phone", f"'phone' is not a phone number ({parsed.error}).")
    contact_id = db.session().scalar(sa.select(Contact.id).where(Contact.phone == parsed.e164))
    return parsed.e164, contact_id


@bp.route("/conversions", methods=["POST"])
@api_key_required(Permission.ANALYTICS)
def create_conversion() -> tuple[Response, int]:
    verify_signature()
    body = parse_body(schemas.ConversionIn)
    idempotency_key = _idempotency_key(body)
    session = db.session()
    existing = session.scalar(
        sa.select(Conversion).where(Conversion.idempotency_key == idempotency_key)
    )
    if existing is not None:
        return jsonify(conversion_out(existing)), 200
    now = utcnow()
    occurred_at = body.occurred_at or now
    if occurred_at > now + attribution.CLOCK_SKEW:
        raise _invalid("occurred_at", "'occurred_at' is in the future.")
    phone, contact_id = _contact_id(body.phone)
    click = attribution.find_token(session, body.ic) if body.ic else None
    secret = str(current_app.config["SHORTLINK_SECRET"])
    link = codec.decode(body.link_code, secret) if body.link_code else None
    found = attribution.attribute(
        session,
        occurred_at,
        click=click,
        link=link,
        message_id=body.message_id,
        contact_id=contact_id,
    )
    row, new = analytics.store(
        session,
        analytics.NewConversion(
            source=ConversionSource.POSTBACK,
            event=body.event,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
            value=body.value,
            currency=body.currency,
            phone=phone,
            contact_id=found.contact_id,
            campaign_id=found.campaign_id,
            variant_id=found.variant_id,
            message_id=found.message_id,
            link_id=found.link_id,
            click_token=body.ic,
            order_id=body.order_id,
        ),
    )
    session.commit()
    log.info(
        "conversion %s id=%s campaign=%s attributed=%s",
        "recorded" if new else "repeated",
        row.id,
        row.campaign_id,
        found.attributed,
    )
    return jsonify(conversion_out(row)), 201 if new else 200
