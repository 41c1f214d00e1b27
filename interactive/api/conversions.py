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

Postbacks come in bursts from shops' servers, so the common case is answered by a WSGI
middleware before Flask (``PostbackMiddleware``): a well-formed, signed postback from a key
this process has verified costs one Redis round trip (``_POSTBACK``: the key set's
generation, the key's use and rate count, and the queueing) and no SQL, a replay one
indexed lookup more. Everything else goes on to the view, which answers it the same
way; a count the middleware already made travels in the WSGI environ, so that nothing is
counted twice.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify, request
from pydantic import ValidationError

from interactive.analytics import attribution, buffer
from interactive.analytics.models import Conversion
from interactive.api import callers, schemas
from interactive.api.errors import ApiError
from interactive.api.views import api_key_required, bp, parse_body
from interactive.app import request_id_of, standard_headers
from interactive.contacts import phones
from interactive.db import db, utcnow
from interactive.logs import current_request_id
from interactive.redis_store import get_redis, key
from interactive.shortlinks import codec
from interactive.web import service
from interactive.web.models import Permission

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Interactive-Timestamp"
SIGNATURE_HEADER = "X-Interactive-Signature"
MAX_AGE_SECONDS = 300
PATH = "/api/v1/conversions"
#: Bodies larger than this go to the view (which takes up to ``MAX_CONTENT_LENGTH``).
MAX_FAST_BODY = 16 * 1024


def _unsigned(code: str, header: str, message: str) -> ApiError:
    return ApiError(401, message, code=code, details=[{"field": header, "message": message}])


def signature(api_key: str, timestamp: str, body: bytes) -> str:
    """The ``X-Interactive-Signature`` value of a postback (what clients compute)."""
    digest = hmac.new(api_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def check_signature(
    timestamp: str, sent: str, api_key: str, body: bytes, now: float | None = None
) -> None:
    """Refuse (401) a postback whose timestamp is missing, malformed or more than five
    minutes off, or whose signature does not match the body under the bearer key: the
    header values as sent, the bearer key and the raw body."""
    timestamp, sent = timestamp.strip(), sent.strip()
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
    expected = signature(api_key, timestamp, body)
    if not hmac.compare_digest(expected.encode(), sent.lower().encode()):
        raise _unsigned(
            "signature_mismatch",
            SIGNATURE_HEADER,
            "The signature does not match: HMAC-SHA256 of '<timestamp>.<raw body>' under "
            "the API key, as sha256=<hex>.",
        )


def verify_signature(now: float | None = None) -> None:
    """:func:`check_signature` for the request being handled."""
    check_signature(
        request.headers.get(TIMESTAMP_HEADER, ""),
        request.headers.get(SIGNATURE_HEADER, ""),
        request.headers.get("Authorization", "").partition(" ")[2].strip(),
        request.get_data(),
        now,
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


def _phone(raw: str | None, region: str) -> str | None:
    if raw is None:
        return None
    parsed = phones.normalise(raw, region)
    if parsed.e164 is None:
        raise _invalid("phone", f"'phone' is not a phone number ({parsed.error}).")
    return parsed.e164


def pending_of(body: schemas.ConversionIn, config: Mapping[str, Any]) -> buffer.Pending:
    """The postback as it is queued; a 422 when it cannot count once, lies in the future
    or names a phone that is not a number."""
    idempotency_key = _idempotency_key(body)
    now = utcnow()
    occurred_at = body.occurred_at or now
    if occurred_at > now + attribution.CLOCK_SKEW:
        raise _invalid("occurred_at", "'occurred_at' is in the future.")
    return buffer.Pending(
        idempotency_key=idempotency_key[:200],
        event=body.event,
        occurred_at=occurred_at,
        value=body.value,
        currency=body.currency,
        click_token=body.ic,
        link=codec.decode(body.link_code, str(config["SHORTLINK_SECRET"]))
        if body.link_code
        else None,
        message_id=body.message_id,
        phone=_phone(body.phone, str(config["DEFAULT_REGION"])),
        order_id=body.order_id,
    )


def answer(status: str, idempotency_key: str, row: Conversion | None) -> dict[str, Any]:
    return schemas.ConversionAccepted(
        status=status,  # type: ignore[arg-type]
        idempotency_key=idempotency_key,
        conversion=None if row is None else schemas.ConversionOut(**conversion_out(row)),
    ).model_dump(mode="json")


@bp.route("/conversions", methods=["POST"])
@api_key_required(Permission.ANALYTICS)
def create_conversion() -> tuple[Response, int]:
    verify_signature()
    pending = pending_of(parse_body(schemas.ConversionIn), current_app.config)
    if buffer.accept(get_redis(), pending):
        return jsonify(answer("accepted", pending.idempotency_key, None)), 202
    return jsonify(replayed(pending.idempotency_key)), 200


def replayed(idempotency_key: str) -> dict[str, Any]:
    """The answer to a replay: the conversion once it is stored."""
    stored = db.session().scalar(
        sa.select(Conversion).where(Conversion.idempotency_key == idempotency_key)
    )
    log.info("conversion repeated key=%s stored=%s", idempotency_key, stored is not None)
    return answer("duplicate", idempotency_key, stored)


# The middleware's one round trip: what ``callers.authenticate`` does for a remembered key
# (the generation, the key's last use, its count in this minute) and, within the limit,
# what ``buffer.accept`` does. KEYS: the generation, the last-use hash, the rate counter,
# the idempotency key's seen key, the stream. ARGV: the generation the key was verified
# under ('' for none), the key's id, now (ISO 8601), the counter's life, the limit, the
# entry, the seen key's life. Answers {0} generation moved on (nothing done), {1, count}
# over the limit, {2, count} a replay, {3, count} queued.
_POSTBACK = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return {0} end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
if count > tonumber(ARGV[5]) then return {1, count} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {2, count} end
redis.call('XADD', KEYS[5], '*', 'c', ARGV[6])
redis.call('SET', KEYS[4], '1', 'EX', ARGV[7])
return {3, count}
"""
STALE, LIMITED, REPLAY, QUEUED = 0, 1, 2, 3


class PostbackMiddleware:
    """Queues a well-formed, signed postback from a remembered key with the analytics
    permission and answers it before Flask (whose request context and hooks cost as much
    again as the rest): 202, or 200 for a replay. Any other request, and any postback that
    fails a check, goes on to the app with its body intact; one over the rate limit goes on
    with what the middleware counted (``callers.COUNTED_KEY``), so that the view refuses it
    without counting it twice."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.script: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("PATH_INFO") == PATH
            and environ.get("REQUEST_METHOD") == "POST"
            and not environ.get("QUERY_STRING")
        ):
            answered = self._postback(environ, start_response)
            if answered is not None:
                return answered
        return self.wsgi_app(environ, start_response)

    def _postback(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        known = callers.remembered(token) if scheme.lower() == "bearer" and token else None
        if known is None or not known.caller.can(Permission.ANALYTICS):
            return None
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        if mimetype != "application/json" or not length.isdigit():
            return None
        if not 0 < int(length) <= MAX_FAST_BODY:
            return None
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # for the view, whatever happens next
        if len(body) != int(length):
            return None
        request_id = request_id_of(environ.get("HTTP_X_REQUEST_ID", ""))
        reset = current_request_id.set(request_id)
        try:
            with self.app.app_context():
                return self._queue(environ, start_response, known, token, body, request_id)
        finally:
            current_request_id.reset(reset)

    def _queue(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        known: callers.Remembered,
        token: str,
        body: bytes,
        request_id: str,
    ) -> Iterable[bytes] | None:
        config = self.app.config
        try:
            check_signature(
                environ.get("HTTP_X_INTERACTIVE_TIMESTAMP", ""),
                environ.get("HTTP_X_INTERACTIVE_SIGNATURE", ""),
                token,
                body,
            )
            parsed = schemas.ConversionIn.model_validate(json.loads(body))
            pending = pending_of(parsed, config)
        except (ApiError, ValueError, ValidationError, RecursionError):
            return None  # the view says what is wrong
        caller = known.caller
        client: redis.Redis = get_redis()
        if self.script is None:
            self.script = client.register_script(_POSTBACK)
        keys = [
            key(*service.API_KEYS_GENERATION),
            key(service.API_KEY_LAST_USED),
            callers.rate_key(caller.id, time.time()),
            buffer.seen_key(pending.idempotency_key),
            key(buffer.STREAM),
        ]
        args = [
            (known.generation or b"").decode(),
            caller.id,
            utcnow().isoformat(),
            2 * callers.RATE_WINDOW_S,
            int(config["API_RATE_LIMIT_PER_MINUTE"]),
            pending.payload(),
            buffer.SEEN_TTL_S,
        ]
        try:
            outcome = self.script(keys=keys, args=args, client=client)
        except redis.RedisError:
            log.warning("postback queue unavailable; the view answers")
            return None
        if outcome[0] == STALE:
            return None  # the view verifies the key again
        # From here on the request is counted: the view, if it answers, counts it no more.
        environ[callers.COUNTED_KEY] = (caller, int(outcome[1]))
        if outcome[0] == LIMITED:
            return None  # the view refuses it (429)
        if outcome[0] == QUEUED:
            status, out = "202 ACCEPTED", answer("accepted", pending.idempotency_key, None)
        else:
            try:
                status, out = "200 OK", replayed(pending.idempotency_key)
            except sa.exc.SQLAlchemyError:
                # The view looks it up again and answers the error as the API does.
                log.warning("replay lookup failed; the view answers", exc_info=True)
                return None
        # As ``jsonify`` writes it, without building a response object.
        compact = {"indent": 2} if self.app.debug else {"separators": (",", ":")}
        data = f"{self.app.json.dumps(out, **compact)}\n".encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        headers += standard_headers(config, request_id).items()
        start_response(status, headers)
        return [data]


@bp.record_once
def _install(state: Any) -> None:
    app: Flask = state.app
    app.wsgi_app = PostbackMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]
