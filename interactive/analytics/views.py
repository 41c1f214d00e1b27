"""The conversion pixel (``GET /p.gif``) and the landing-page script (``GET /ic.js``).

Both live at the root of the app, so the short-link host serves them too. The pixel always
answers the same transparent 1×1 GIF with 200 and ``no-store``, whatever it was sent: it
never reveals whether a token is known. It records a PIXEL conversion only for a click
token the redirect handed out (in SQL or still in the click stream), so that nobody can
invent conversions by making tokens up. Counted once per ``(token, event)``, or once per
order when ``o=`` is given (``order:<o>``, shared with the postback).

Parameters: ``ic`` the click token, ``e`` the event (default ``conversion``), ``v`` the
value, ``c`` the currency (ISO 4217), ``o`` the order id. Malformed ones are dropped.
"""

from __future__ import annotations

import base64
import logging
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory

from interactive.analytics import attribution, buffer
from interactive.analytics import service as analytics
from interactive.analytics.models import ConversionSource
from interactive.db import after_commit, db, utcnow
from interactive.redis_store import get_redis

log = logging.getLogger(__name__)

bp = Blueprint("analytics", __name__)

STATIC = Path(__file__).parent / "static"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}")
_EVENT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
MAX_VALUE = Decimal("999999999999.99")


def _value(raw: str | None) -> Decimal | None:
    if not raw or len(raw) > 20:
        return None
    try:
        value = Decimal(raw.replace(",", ".")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and 0 <= value <= MAX_VALUE else None


def record_pixel(
    token: str, event: str, value: Decimal | None, currency: str | None, order_id: str | None
) -> bool:
    """Record a PIXEL conversion for a known click token (commits); False when the token
    is unknown or the conversion was already counted."""
    session = db.session()
    # Anyone may call the pixel: the token is looked up in SQL only, never by scanning
    # the click stream (a thank-you page comes minutes after the click, long after the
    # flush; the signed postback does scan it).
    click = attribution.find_click(session, None, "", token)
    if click is None:
        return False
    occurred_at = utcnow()
    found = attribution.attribute(session, occurred_at, click=click)
    key = f"order:{order_id}" if order_id else f"pixel:{token}:{event}"
    new = analytics.record(
        session,
        analytics.NewConversion(
            source=ConversionSource.PIXEL,
            event=event,
            idempotency_key=key,
            occurred_at=occurred_at,
            value=value,
            currency=currency if value is not None else None,
            contact_id=found.contact_id,
            campaign_id=found.campaign_id,
            variant_id=found.variant_id,
            message_id=found.message_id,
            link_id=found.link_id,
            click_token=token,
            order_id=order_id,
        ),
    )
    if new:
        # A postback of the same order is then answered as a duplicate at once.
        client = get_redis()
        seen = buffer.seen_key(key)
        after_commit(session, lambda: client.set(seen, "1", ex=buffer.SEEN_TTL_S))
    session.commit()
    return new


@bp.route("/p.gif")
def pixel() -> Response:
    args = request.args
    token = args.get("ic", "")
    event = args.get("e") or "conversion"
    currency = args.get("c", "")
    order_id = (args.get("o") or "").replace("\x00", "")[:128] or None
    if _TOKEN.fullmatch(token) and _EVENT.fullmatch(event):
        try:
            new = record_pixel(
                token,
                event,
                _value(args.get("v")),
                currency.upper() if _CURRENCY.fullmatch(currency) else None,
                order_id,
            )
        except Exception:
            # The page that loads the pixel must not notice: log and answer as always.
            db.session().rollback()
            log.exception("pixel conversion not recorded")
        else:
            if new:
                log.info("pixel conversion recorded event=%s", event)
    response = Response(GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.route("/ic.js")
def script() -> Response:
    response = send_from_directory(STATIC, "ic.js", mimetype="text/javascript", max_age=3600)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
