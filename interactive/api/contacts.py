"""API routes for contacts, consent and the suppression list (on the ``api`` blueprint).

The bulk upsert answers 200 with one result per item, in order: a bad item never fails
the others. Consent given through the API is recorded with actor "api" and the key's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, g, jsonify, request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from interactive.api import schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError
from interactive.api.views import (
    MAX_ID,
    QUERY_PARAMETERS,
    api_key_required,
    bp,
    json_body,
    parse_body,
)
from interactive.contacts import bulk, consent, phones, registry, suppression
from interactive.contacts.models import (
    Actor,
    Brand,
    Channel,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Contact,
    RecipientType,
    SuppressionReason,
)
from interactive.db import db
from interactive.web.models import Permission

QUERY_PARAMETERS.update(
    {"api.find_contacts": frozenset({"phone"}), "api.lift_suppression": frozenset({"phone"})}
)


def _phone_arg() -> str:
    raw = request.args.get("phone")
    if raw is None or len(raw) > 64:
        raise ApiError(
            422,
            "Give the number as 'phone' (at most 64 characters).",
            details=[{"field": "phone", "message": "required, at most 64 characters"}],
        )
    return raw


def _region() -> str:
    return str(current_app.config.get("DEFAULT_REGION", "TR"))


def _actor_label() -> str:
    api_key: Caller = g.api_key
    return f"API key {api_key.name}"


def _aware(value: datetime) -> datetime:
    # A consent time without an offset is the registry's (Turkish) time.
    return value if value.tzinfo is not None else value.replace(tzinfo=registry.ISTANBUL)


def _pydantic_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]),
            "code": str(err["type"]),
            "message": str(err["msg"]),
        }
        for err in exc.errors()
    ]


def _item_input(model: schemas.ContactIn) -> bulk.ItemInput:
    given = model.consent
    return bulk.ItemInput(
        phone=model.phone,
        first_name=model.first_name,
        last_name=model.last_name,
        language=model.language,
        time_zone=model.time_zone,
        attributes=model.attributes,
        lists=model.lists,
        consent=None
        if given is None
        else bulk.ConsentInput(
            brand=given.brand,
            status=ConsentStatus(given.status),
            source=given.source,
            consent_at=_aware(given.consent_at),
            recipient_type=RecipientType(given.recipient_type),
            evidence=given.evidence,
        ),
    )


@bp.route("/contacts/bulk", methods=["POST"])
@api_key_required(Permission.AUDIENCES)
def bulk_upsert_contacts() -> Response:
    payload = json_body()
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise ApiError(
            422,
            'Send {"items": [...]} with up to 10,000 contacts.',
            details=[{"field": "items", "message": "a list is required"}],
        )
    extra = sorted(set(payload) - {"items"})
    if extra:
        raise ApiError(
            422,
            "The request body is not valid.",
            details=[{"field": name, "message": "not accepted here"} for name in extra],
        )
    raw_items: list[Any] = payload["items"]
    if len(raw_items) > bulk.MAX_ITEMS:
        # 422 rather than 413: the body is within the size limit, the list is too long.
        raise ApiError(
            422,
            f"At most {bulk.MAX_ITEMS:,} contacts per request; this one has "
            f"{len(raw_items):,}. Split it into several requests.",
            code="too_many_items",
            details=[{"field": "items", "message": f"at most {bulk.MAX_ITEMS} items"}],
        )
    not_objects = [n for n, item in enumerate(raw_items) if not isinstance(item, dict)]
    if not_objects:
        raise ApiError(
            422,
            "Every item must be a JSON object.",
            details=[
                {"field": f"items.{n}", "message": "not an object"} for n in not_objects[:100]
            ],
        )
    results: list[dict[str, Any]] = [{} for _ in raw_items]
    valid: list[tuple[int, bulk.ItemInput]] = []
    for index, item in enumerate(raw_items):
        try:
            valid.append((index, _item_input(schemas.ContactIn.model_validate(item))))
        except ValidationError as exc:
            results[index] = {
                "index": index,
                "status": "rejected",
                "contact_id": None,
                "errors": _pydantic_errors(exc),
            }
    dbs = db.session()
    done = bulk.upsert(
        dbs, [item for _n, item in valid], region=_region(), actor_label=_actor_label()
    )
    dbs.commit()
    for (index, _item), result in zip(valid, done, strict=True):
        results[index] = {
            "index": index,
            "status": result.status,
            "contact_id": result.contact_id,
            "errors": result.errors,
        }
    counts = dict.fromkeys(("created", "updated", "unchanged", "duplicate", "rejected"), 0)
    for result_row in results:
        counts[result_row["status"]] += 1
    return jsonify({"items": results, "counts": counts})


def _contact_or_404(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id) if contact_id <= MAX_ID else None
    if contact is None:
        raise ApiError(404, f"No contact with id {contact_id}.")
    return contact


def _contact_out(session: Session, contact: Contact) -> dict[str, Any]:
    states = session.execute(
        sa.select(ConsentState, Brand.code)
        .join(Brand, Brand.id == ConsentState.brand_id)
        .where(ConsentState.contact_id == contact.id)
        .order_by(Brand.code, ConsentState.channel)
    ).all()
    reasons = suppression.suppressed(session, [contact.phone]).get(contact.phone, [])
    return schemas.ContactOut(
        id=contact.id,
        phone=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name,
        language=contact.language,
        country=contact.country,
        time_zone=contact.time_zone,
        time_zone_manual=contact.time_zone_manual,
        attributes=dict(contact.attributes or {}),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        consent=[
            schemas.ConsentStateOut(
                brand=code,
                channel=state.channel.value,
                status=state.status.value,
                consent_at=state.consent_at,
                event_id=state.event_id,
            )
            for state, code in states
        ],
        suppressed=sorted(reason.value for reason in reasons),
    ).model_dump(mode="json")


@bp.route("/contacts")
@api_key_required(Permission.AUDIENCES)
def find_contacts() -> Response:
    raw = _phone_arg()
    parsed = phones.normalise(raw, _region())
    if parsed.e164 is None:
        message = str(phones.error_message(parsed.error or "invalid_number"))
        return jsonify({"items": [], "phone_error": message})
    dbs = db.session()
    contact = dbs.scalar(sa.select(Contact).where(Contact.phone == parsed.e164))
    items = [_contact_out(dbs, contact)] if contact is not None else []
    return jsonify({"items": items, "phone_error": None})


@bp.route("/contacts/<int:contact_id>")
@api_key_required(Permission.AUDIENCES)
def get_contact(contact_id: int) -> Response:
    dbs = db.session()
    return jsonify(_contact_out(dbs, _contact_or_404(dbs, contact_id)))


def _event_out(event: ConsentEvent, brand_code: str) -> dict[str, Any]:
    return schemas.ConsentEventOut(
        id=event.id,
        brand=brand_code,
        channel=event.channel.value,
        status=event.status.value,
        source=event.source,
        recipient_type=event.recipient_type.value,
        consent_at=event.consent_at,
        recorded_at=event.recorded_at,
        actor=event.actor.value,
        actor_label=event.actor_label,
        evidence=event.evidence,
        registration=event.registration.value,
        registry_deadline=event.registry_deadline,
        registered_at=event.registered_at,
    ).model_dump(mode="json")


@bp.route("/contacts/<int:contact_id>/consent")
@api_key_required(Permission.AUDIENCES)
def contact_consent_ledger(contact_id: int) -> Response:
    dbs = db.session()
    contact = _contact_or_404(dbs, contact_id)
    rows = dbs.execute(
        sa.select(ConsentEvent, Brand.code)
        .join(Brand, Brand.id == ConsentEvent.brand_id)
        .where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.consent_at, ConsentEvent.id)
    ).all()
    return jsonify({"items": [_event_out(event, code) for event, code in rows]})


@bp.route("/contacts/<int:contact_id>/consent", methods=["POST"])
@api_key_required(Permission.AUDIENCES)
def record_contact_consent(contact_id: int) -> tuple[Response, int]:
    dbs = db.session()
    contact = _contact_or_404(dbs, contact_id)
    body = parse_body(schemas.ConsentEventIn)
    brand = dbs.scalar(sa.select(Brand).where(Brand.code == body.brand))
    if brand is None:
        raise ApiError(
            422,
            f"No brand with code {body.brand!r}.",
            code="unknown_brand",
            details=[{"field": "brand", "message": "unknown brand code"}],
        )
    consent_at = _aware(body.consent_at)
    if consent_at < registry.REGISTRY_EPOCH:
        raise ApiError(
            422,
            "The registry refuses consents before 2015-05-01.",
            details=[{"field": "consent_at", "message": "too early"}],
        )
    channel = Channel(body.channel)
    ids = consent.record(
        dbs,
        [
            consent.NewEvent(
                contact_id=contact.id,
                recipient=contact.phone,
                brand_id=brand.id,
                status=ConsentStatus(body.status),
                source=body.source,
                consent_at=consent_at,
                actor=Actor.API,
                channel=channel,
                recipient_type=RecipientType(body.recipient_type),
                actor_label=_actor_label(),
                evidence=body.evidence,
            )
        ],
    )
    dbs.commit()
    event = dbs.get(ConsentEvent, ids[0]) if ids else None
    current = consent.current(dbs, contact.id, brand.id, channel)
    answer = {
        "recorded": event is not None,
        "event": _event_out(event, brand.code) if event is not None else None,
        "current": current.value if current is not None else None,
    }
    return jsonify(answer), 201 if event is not None else 200


@bp.route("/suppressions", methods=["POST"])
@api_key_required(Permission.AUDIENCES)
def block_numbers() -> Response:
    body = parse_body(schemas.SuppressionIn)
    dbs = db.session()
    parsed = [phones.normalise(raw, _region()) for raw in body.phones]
    numbers = [p.e164 for p in parsed if p.e164 is not None]
    before = suppression.suppressed(dbs, numbers)
    suppression.add(dbs, numbers, SuppressionReason.MANUAL, note=body.note, by=_actor_label())
    dbs.commit()
    items = []
    for index, result in enumerate(parsed):
        if result.e164 is None:
            code = result.error or "invalid_number"
            error = {
                "field": f"phones.{index}",
                "code": code,
                "message": str(phones.error_message(code)),
            }
            items.append({"index": index, "phone": None, "status": "rejected", "error": error})
            continue
        already = SuppressionReason.MANUAL in before.get(result.e164, ())
        status = "already_blocked" if already else "blocked"
        items.append({"index": index, "phone": result.e164, "status": status, "error": None})
    return jsonify({"items": items})


@bp.route("/suppressions", methods=["DELETE"])
@api_key_required(Permission.AUDIENCES)
def lift_suppression() -> Response:
    raw = _phone_arg()
    parsed = phones.normalise(raw, _region())
    if parsed.e164 is None:
        raise ApiError(404, "There is no manual block for this number (it is not a valid number).")
    dbs = db.session()
    lifted = suppression.remove(dbs, parsed.e164, SuppressionReason.MANUAL)
    if not lifted:
        dbs.rollback()
        raise ApiError(404, "There is no manual block for this number.")
    dbs.commit()
    left = suppression.suppressed(dbs, [parsed.e164]).get(parsed.e164, [])
    return jsonify(
        {"phone": parsed.e164, "lifted": True, "suppressed": sorted(r.value for r in left)}
    )
