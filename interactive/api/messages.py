"""API routes for single messages (on the ``api`` blueprint): one text to one number, and
its delivery state.

``POST /messages`` checks, in this order: the body (422 when it does not match the
document), the idempotency key, the route, sender and brand, the number, the status URL
and finally whether this number may get this kind of message now
(``contacts.eligibility``). Everything after the body answers 409 with a code saying why
(``invalid_number``, ``not_eligible``…): the request is well formed but cannot be carried
out. A commercial message outside the recipient's allowed hours is refused, not deferred
(``not_eligible``, reason ``quiet_hours``, with ``next_allowed_at``): the client decides
whether the text still makes sense then, and nothing holds a message for hours outside the
database. Commercial texts get the brand's opt-out footer, as campaign texts do.

Idempotency: the schema has no place for the key, so it lives in Redis for 24 hours under
``<prefix>:api:idempotency:<api key id>:<sha256 of the key>``, holding the message id and a
fingerprint of the request. The first request claims the key (5 minutes while it runs),
then stores the message id once its transaction commits; a repeat answers 200 with that
message, a repeat with another body 409 ``idempotency_key_reused``, a repeat while the
first still runs 409 ``idempotency_key_in_use``. A refused request frees the key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from flask import Response, current_app, g, jsonify
from sqlalchemy.orm import Session

from interactive.api import schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError
from interactive.api.views import api_key_required, bp, parse_body
from interactive.contacts import eligibility, phones, suppression
from interactive.contacts.eligibility import Reason
from interactive.contacts.models import Brand, Contact, SuppressionReason
from interactive.db import after_commit, db
from interactive.outbound import campaigns, rendering, service, webhooks
from interactive.outbound.models import Message, Traffic
from interactive.redis_store import get_redis, key
from interactive.web.models import Permission

IDEMPOTENCY_TTL = 24 * 3600
IN_FLIGHT_TTL = 300
# Message ids are 64-bit.
MAX_MESSAGE_ID = 2**63 - 1

REFUSALS = {
    Reason.ERASED: "This number was erased at its owner's request; nothing goes to it.",
    Reason.BLOCKED: "This number is blocked.",
    Reason.FAILING: "This number fails permanently.",
    Reason.OPTED_OUT: "This number opted out; only transactional messages go to it.",
    Reason.NO_CONSENT: "This number has not consented to commercial messages of this brand.",
    Reason.CONSENT_REVOKED: "This number withdrew its consent for this brand.",
    Reason.FREQUENCY_CAP: "The brand's frequency cap for this number is reached.",
    Reason.QUIET_HOURS: "Outside the recipient's allowed hours; send it again at next_allowed_at.",
}
# For a number without a contact: its suppression reasons, most serious first.
_SUPPRESSED = (
    (SuppressionReason.ERASED, Reason.ERASED),
    (SuppressionReason.MANUAL, Reason.BLOCKED),
    (SuppressionReason.FAILED, Reason.FAILING),
    (SuppressionReason.OPTED_OUT, Reason.OPTED_OUT),
)

# Free the key only if this request still holds it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _refuse(code: str, message: str, field: str | None, **extra: Any) -> ApiError:
    return ApiError(
        409, message, code=code, details=[{"field": field, "message": message, **extra}]
    )


class _Idempotency:
    """The claim of one idempotency key by one request (see the module docstring)."""

    def __init__(self, client: redis.Redis, api_key_id: int, body: schemas.MessageIn) -> None:
        assert body.idempotency_key is not None
        self.client = client
        digest = hashlib.sha256(body.idempotency_key.encode()).hexdigest()
        self.key = key("api", "idempotency", api_key_id, digest)
        request = body.model_dump(mode="json", exclude={"idempotency_key"})
        self.fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        self.pending = f"pending:{self.fingerprint}"

    def acquire(self) -> int | None:
        """None when this request may go on (it holds the key now); the id of the
        message already created for the key; 409 otherwise."""
        for _ in range(3):
            if self.client.set(self.key, self.pending, nx=True, ex=IN_FLIGHT_TTL):
                return None
            raw = self.client.get(self.key)
            if raw is None:
                continue  # expired in between
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            held, _, fingerprint = text.partition(":")
            if fingerprint != self.fingerprint:
                raise ApiError(
                    409,
                    "This idempotency key was used for a different request.",
                    code="idempotency_key_reused",
                    details=[{"field": "idempotency_key", "message": "used with other values"}],
                )
            if held == "pending":
                break
            return int(held)
        raise ApiError(
            409,
            "A request with this idempotency key is still running; ask again in a moment.",
            code="idempotency_key_in_use",
            details=[{"field": "idempotency_key", "message": "in use"}],
        )

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.pending)

    def forget(self) -> None:
        self.client.delete(self.key)

    def remember_after_commit(self, session: Session, message_id: int) -> None:
        value = f"{message_id}:{self.fingerprint}"
        after_commit(session, lambda: self.client.set(self.key, value, ex=IDEMPOTENCY_TTL))


def _created(message: Message) -> dict[str, Any]:
    return schemas.MessageCreated(
        id=message.id,
        state=message.state,
        parts=message.parts_count,
        encoding=message.encoding,
        to=message.destination,
    ).model_dump(mode="json")


@bp.route("/messages", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def send_message() -> tuple[Response, int]:
    body = parse_body(schemas.MessageIn)
    api_key: Caller = g.api_key
    client = get_redis()
    dbs = db.session()
    claim = _Idempotency(client, api_key.id, body) if body.idempotency_key else None
    while claim is not None:
        existing = claim.acquire()
        if existing is None:
            break
        message = dbs.get(Message, existing)
        if message is not None:
            return jsonify(_created(message)), 200
        claim.forget()  # its message is gone: start afresh
    try:
        message = _queue(dbs, client, body)
    except BaseException:
        dbs.rollback()
        if claim is not None:
            claim.release()
        raise
    if claim is not None:
        claim.remember_after_commit(dbs, message.id)
    dbs.commit()
    return jsonify(_created(message)), 201


def _queue(session: Session, client: redis.Redis, body: schemas.MessageIn) -> Message:
    config = current_app.config
    connections = {c.name: c for c in config["SMPP_CONNECTION_LIST"]}
    route = body.route or next(iter(connections), None)
    if route is None:
        raise _refuse("no_route", "No route (SMSC connection) is configured.", "route")
    connection = connections.get(route)
    if connection is None:
        raise _refuse("unknown_route", f"Unknown route: {route}.", "route")
    codes = tuple(connection.short_codes or ())
    sender = body.sender or (codes[0] if codes else None)
    if sender is None:
        raise _refuse("sender_required", "Give a sender: the route has no short code.", "sender")
    if rendering.check_sender(sender):
        raise _refuse(
            "invalid_sender",
            "The sender must be up to 11 letters and digits, or a number of 3 to 15 digits.",
            "sender",
        )
    brand = None
    if body.brand_id is not None:
        brand = session.get(Brand, body.brand_id)
        if brand is None:
            raise _refuse("unknown_brand", f"No brand with id {body.brand_id}.", "brand_id")
    parsed = phones.normalise(body.to, str(config["DEFAULT_REGION"]))
    if parsed.e164 is None:
        error = parsed.error or "invalid_number"
        raise _refuse("invalid_number", str(phones.error_message(error)), "to", reason=error)
    if body.status_url is not None:
        problem = webhooks.target_problem(body.status_url, production=config["ENV"] == "production")
        if problem is not None:
            raise _refuse("status_url_refused", f"status_url: {problem}.", "status_url")
    traffic = Traffic(body.traffic)
    contact = session.scalar(sa.select(Contact).where(Contact.phone == parsed.e164))
    refusal = _refusal(session, traffic, contact, parsed.e164, brand)
    if refusal is not None:
        reason, not_before = refusal
        raise _refuse(
            "not_eligible",
            REFUSALS[reason],
            "to",
            reason=reason.value,
            next_allowed_at=_iso(not_before),
        )
    text = body.text
    if traffic == Traffic.COMMERCIAL:
        footer = campaigns.footer(
            traffic, brand, connection, str(current_app.config["DEFAULT_LOCALE"])
        )
        if not footer:
            raise _refuse(
                "no_opt_out",
                "The route has no short code for opt-outs; give the brand an opt-out text.",
                "route",
            )
        text = rendering.with_footer(text, footer)
    message = service.queue_message(
        session,
        client,
        str(config["REDIS_PREFIX"]),
        connection=route,
        source=sender,
        destination=parsed.e164,
        body=text,
        traffic=traffic,
        turkish_shift=bool(getattr(connection, "turkish_shift", False)),
        contact_id=contact.id if contact is not None else None,
    )
    if brand is not None:
        # Frequency caps count a brand's commercial messages per number.
        message.brand_id = brand.id
        session.flush()
    if body.status_url is not None:
        webhooks.register(session, client, str(config["REDIS_PREFIX"]), message.id, body.status_url)
    return message


def _refusal(
    session: Session, traffic: Traffic, contact: Contact | None, phone: str, brand: Brand | None
) -> tuple[Reason, datetime | None] | None:
    """Why this number may not get this message now, and (quiet hours) from when it may."""
    if contact is not None:
        verdict = eligibility.may_send(
            session,
            contact.id,
            traffic=traffic,
            brand=brand,
            policy=current_app.config["QUIET_POLICY"],
        )
        if verdict is not None and verdict.reason is not None:
            return verdict.reason, verdict.not_before
        return None
    if traffic == Traffic.COMMERCIAL:
        return Reason.NO_CONSENT, None  # consent is recorded on a contact
    reasons = set(suppression.suppressed(session, [phone]).get(phone, []))
    if traffic == Traffic.TRANSACTIONAL:
        reasons.discard(SuppressionReason.OPTED_OUT)
    return next(((r, None) for s, r in _SUPPRESSED if s in reasons), None)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@bp.route("/messages/<int:message_id>")
@api_key_required(Permission.CAMPAIGNS)
def get_message(message_id: int) -> Response:
    dbs = db.session()
    message = dbs.get(Message, message_id) if message_id <= MAX_MESSAGE_ID else None
    if message is None:
        raise ApiError(404, f"No message with id {message_id}.")
    hook = webhooks.status(get_redis(), str(current_app.config["REDIS_PREFIX"]), message.id)
    out = schemas.MessageOut(
        id=message.id,
        to=message.destination,
        sender=message.source,
        route=message.connection,
        traffic=message.traffic,
        state=message.state,
        encoding=message.encoding,
        error_code=message.error_code,
        campaign_id=message.campaign_id,
        brand_id=message.brand_id,
        created_at=message.created_at,
        submitted_at=message.submitted_at,
        final_at=message.final_at,
        parts=[
            schemas.MessagePartOut(
                seq=part.seq,
                state=part.state,
                error_code=part.error_code,
                submitted_at=part.submitted_at,
                accepted_at=part.accepted_at,
                final_at=part.final_at,
            )
            for part in message.parts
        ],
        status_webhook=None
        if hook is None
        else schemas.StatusWebhookOut(
            url=hook.get("url", ""),
            state=hook.get("state", webhooks.PENDING),  # type: ignore[arg-type]
            attempts=int(hook.get("attempts") or 0),
            last_error=hook.get("last_error") or None,
            delivered_at=_when(hook.get("delivered_at")),
        ),
    )
    return jsonify(out.model_dump(mode="json"))
