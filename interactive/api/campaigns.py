"""API routes for campaigns (on the ``api`` blueprint): drafts, the lifecycle, the funnel
and the recipients.

422 means the body or a query parameter does not match the document. A well-formed
request that cannot be carried out answers 409 ``campaign_problems``, with one entry in
``details`` per problem: what keeps the campaign from being saved (shares that do not add
up to 100, an unknown brand, list or route…), from being scheduled (no audience, a
template error…), or a state that does not allow the action. Reading needs the dashboard
permission, everything else the campaigns permission (marketers and admins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from interactive.analytics import funnel as campaign_funnel
from interactive.api import schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError
from interactive.api.views import (
    MAX_ID,
    QUERY_PARAMETERS,
    _int_arg,
    api_key_required,
    bp,
    parse_body,
)
from interactive.contacts.models import Brand, ContactList, Segment
from interactive.db import db, utcnow
from interactive.outbound import campaigns
from interactive.outbound.models import (
    Campaign,
    CampaignState,
    Goal,
    RecipientReason,
    RecipientStatus,
    Recurrence,
    Traffic,
    Variant,
)
from interactive.redis_store import get_redis
from interactive.web.models import Permission

QUERY_PARAMETERS.update(
    {
        "api.list_campaigns": frozenset({"state", "limit", "after"}),
        "api.campaign_recipients": frozenset({"status", "reason", "limit", "after"}),
    }
)

# Recipient ids are 64-bit.
MAX_BIG_ID = 2**63 - 1


def campaign_problems(problems: Sequence[str]) -> ApiError:
    message = problems[0] if len(problems) == 1 else "The campaign has problems; see details."
    return ApiError(
        409,
        message,
        code="campaign_problems",
        details=[{"field": None, "message": problem} for problem in problems],
    )


def _connections() -> dict[str, Any]:
    return {c.name: c for c in current_app.config["SMPP_CONNECTION_LIST"]}


def _campaign_or_404(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    campaign = (
        session.get(Campaign, campaign_id, with_for_update=lock) if campaign_id <= MAX_ID else None
    )
    if campaign is None:
        raise ApiError(404, f"No campaign with id {campaign_id}.")
    return campaign


def _enum_arg(name: str, values: Sequence[str]) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in values:
        raise ApiError(
            422,
            f"'{name}' must be one of: {', '.join(values)}.",
            details=[{"field": name, "message": "not one of the accepted values"}],
        )
    return raw


# --- conversions ------------------------------------------------------------------------------


def _hhmm(minutes: int | None) -> str | None:
    return None if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str | None) -> int | None:
    if text is None:
        return None
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


def campaign_out(campaign: Campaign) -> dict[str, Any]:
    audience = campaign.audience or {}
    return schemas.CampaignOut(
        id=campaign.id,
        name=campaign.name,
        state=campaign.state,
        traffic=campaign.traffic,
        brand_id=campaign.brand_id,
        route=campaign.connection,
        sender=campaign.sender,
        goal=campaign.goal,
        goal_value=campaign.goal_value,
        audience=schemas.AudienceOut(
            **{key: list(audience.get(key, [])) for key in campaigns.AUDIENCE_KEYS}
        ),
        holdout_percent=campaign.holdout_percent,
        attribution_days=campaign.attribution_days,
        send_at=campaign.send_at,
        time_zone=campaign.time_zone,
        recurrence=campaign.recurrence,
        recurrence_end=campaign.recurrence_end,
        next_run_at=campaign.next_run_at,
        window_start=_hhmm(campaign.window_start),
        window_end=_hhmm(campaign.window_end),
        rate_per_second=campaign.rate_per_second,
        validity_minutes=campaign.validity_minutes,
        track_links=campaign.track_links,
        utm=dict(campaign.utm or {}),
        variants=[
            schemas.VariantOut(id=v.id, label=v.label, share=v.share, template=v.template)
            for v in campaign.variants
        ],
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    ).model_dump(mode="json")


def _fields_of(campaign: Campaign) -> dict[str, Any]:
    """A saved campaign in the shape of ``schemas.CampaignIn`` (for PATCH)."""
    audience = campaign.audience or {}
    return {
        "name": campaign.name,
        "traffic": campaign.traffic.value,
        "variants": [
            {"label": v.label, "share": v.share, "template": v.template} for v in campaign.variants
        ],
        "brand_id": campaign.brand_id,
        "route": campaign.connection,
        "sender": campaign.sender,
        "goal": campaign.goal.value,
        "goal_value": campaign.goal_value,
        "audience": {key: list(audience.get(key, [])) for key in campaigns.AUDIENCE_KEYS},
        "holdout_percent": campaign.holdout_percent,
        "attribution_days": campaign.attribution_days,
        "send_at": campaign.send_at,
        "time_zone": campaign.time_zone,
        "recurrence": campaign.recurrence.value,
        "recurrence_end": campaign.recurrence_end,
        "window_start": _hhmm(campaign.window_start),
        "window_end": _hhmm(campaign.window_end),
        "rate_per_second": campaign.rate_per_second,
        "validity_minutes": campaign.validity_minutes,
        "track_links": campaign.track_links,
        "utm": dict(campaign.utm or {}),
    }


def _reference_problems(
    session: Session, fields: dict[str, Any], given: set[str], connections: Mapping[str, Any]
) -> list[str]:
    """Fill in the default route and sender; what the fields name that does not exist."""
    problems: list[str] = []
    if fields["route"] is None:
        fields["route"] = next(iter(connections), None)
        if fields["route"] is None:
            problems.append("No route (SMSC connection) is configured.")
    elif "route" in given and fields["route"] not in connections:
        problems.append(f"Unknown route: {fields['route']}.")
    connection = connections.get(fields["route"] or "")
    if fields["sender"] is None:
        codes = tuple(getattr(connection, "short_codes", ()) or ())
        fields["sender"] = codes[0] if codes else ""
        if not codes and connection is not None:
            problems.append("Give a sender: the route has no short code.")
    # Times in range arrive in UTC; one that is not cannot be stored.
    for name in ("send_at", "recurrence_end"):
        if fields[name] is not None and fields[name].utcoffset():
            problems.append(f"{name} is out of range.")
    brand_id = fields["brand_id"]
    if brand_id is not None and session.get(Brand, brand_id) is None:
        problems.append(f"No brand with id {brand_id}.")
    audience = fields["audience"]
    for keys, model, what in (
        (("lists", "exclude_lists"), ContactList, "list"),
        (("segments", "exclude_segments"), Segment, "segment"),
    ):
        wanted = {i for k in keys for i in audience.get(k, [])}
        if wanted:
            found = set(session.scalars(sa.select(model.id).where(model.id.in_(wanted))))
            missing = sorted(wanted - found)
            if missing:
                problems.append(f"No {what} with id {', '.join(map(str, missing))}.")
    return problems


def _campaign_input(fields: dict[str, Any]) -> campaigns.CampaignInput:
    return campaigns.CampaignInput(
        name=fields["name"],
        traffic=Traffic(fields["traffic"]),
        sender=fields["sender"] or "",
        connection=fields["route"] or "",
        variants=[
            campaigns.VariantInput(label=v["label"], share=v["share"], template=v["template"])
            for v in fields["variants"]
        ],
        goal=Goal(fields["goal"]),
        goal_value=fields["goal_value"],
        brand_id=fields["brand_id"],
        audience={key: list(fields["audience"].get(key, [])) for key in campaigns.AUDIENCE_KEYS},
        holdout_percent=fields["holdout_percent"],
        attribution_days=fields["attribution_days"],
        send_at=fields["send_at"],
        time_zone=fields["time_zone"],
        recurrence=Recurrence(fields["recurrence"]),
        recurrence_end=fields["recurrence_end"],
        window_start=_minutes(fields["window_start"]),
        window_end=_minutes(fields["window_end"]),
        rate_per_second=fields["rate_per_second"],
        validity_minutes=fields["validity_minutes"],
        track_links=fields["track_links"],
        utm=dict(fields["utm"]),
    )


def _save(
    session: Session, fields: dict[str, Any], given: set[str], campaign: Campaign | None
) -> Campaign:
    if campaign is not None and campaign.state not in campaigns.EDITABLE:
        raise campaign_problems([str(_l("Only a draft or scheduled campaign can be changed."))])
    problems = _reference_problems(session, fields, given, _connections())
    if problems:
        raise campaign_problems(problems)
    api_key: Caller = g.api_key
    try:
        saved = campaigns.save(
            session, _campaign_input(fields), campaign=campaign, user_id=api_key.created_by_id
        )
    except campaigns.CampaignError as exc:
        session.rollback()
        raise campaign_problems(exc.problems) from None
    session.commit()
    return saved


# --- routes -----------------------------------------------------------------------------------


@bp.route("/campaigns")
@api_key_required(Permission.DASHBOARD)
def list_campaigns() -> Response:
    state = _enum_arg("state", [s.value for s in CampaignState])
    limit = _int_arg("limit", 50, 1, 200)
    after = _int_arg("after", 0, 0, MAX_ID)
    query = (
        sa.select(Campaign)
        .options(selectinload(Campaign.variants))
        .where(Campaign.id > after)
        .order_by(Campaign.id)
        .limit(limit + 1)
    )
    if state is not None:
        query = query.where(Campaign.state == CampaignState(state))
    rows = db.session().scalars(query).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"items": [campaign_out(c) for c in rows[:limit]], "next_cursor": next_cursor})


@bp.route("/campaigns", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def create_campaign() -> tuple[Response, int]:
    body = parse_body(schemas.CampaignIn)
    campaign = _save(db.session(), body.model_dump(), set(schemas.CampaignIn.model_fields), None)
    return jsonify(campaign_out(campaign)), 201


@bp.route("/campaigns/<int:campaign_id>")
@api_key_required(Permission.DASHBOARD)
def get_campaign(campaign_id: int) -> Response:
    return jsonify(campaign_out(_campaign_or_404(db.session(), campaign_id)))


@bp.route("/campaigns/<int:campaign_id>", methods=["PUT"])
@api_key_required(Permission.CAMPAIGNS)
def replace_campaign(campaign_id: int) -> Response:
    body = parse_body(schemas.CampaignIn)
    dbs = db.session()
    campaign = _campaign_or_404(dbs, campaign_id, lock=True)
    fields = body.model_dump()
    given = set(body.model_fields_set)
    if fields["route"] == campaign.connection:
        given.discard("route")
    saved = _save(dbs, fields, given, campaign)
    return jsonify(campaign_out(saved))


@bp.route("/campaigns/<int:campaign_id>", methods=["PATCH"])
@api_key_required(Permission.CAMPAIGNS)
def update_campaign(campaign_id: int) -> Response:
    body = parse_body(schemas.CampaignPatch)
    dbs = db.session()
    campaign = _campaign_or_404(dbs, campaign_id, lock=True)
    given = set(body.model_fields_set)
    fields = {**_fields_of(campaign), **body.model_dump(include=given)}
    saved = _save(dbs, fields, given, campaign)
    return jsonify(campaign_out(saved))


def _lifecycle(campaign_id: int, action: str) -> Response:
    dbs = db.session()
    campaign = _campaign_or_404(dbs, campaign_id, lock=True)
    now = utcnow()
    try:
        if action == "schedule":
            campaigns.schedule(dbs, campaign, _connections(), now)
        elif action == "unschedule":
            campaigns.unschedule(dbs, campaign)
        elif action == "pause":
            campaigns.pause(dbs, campaign)
        elif action == "resume":
            prefix = str(current_app.config["REDIS_PREFIX"])
            campaigns.resume(dbs, campaign, get_redis(), prefix)
        else:
            campaigns.cancel(dbs, campaign, now)
    except campaigns.CampaignError as exc:
        dbs.rollback()
        raise campaign_problems(exc.problems) from None
    dbs.commit()
    return jsonify(campaign_out(campaign))


@bp.route("/campaigns/<int:campaign_id>/schedule", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def schedule_campaign(campaign_id: int) -> Response:
    """Draft → scheduled (at ``send_at``, or now); 409 with what keeps it from going out."""
    return _lifecycle(campaign_id, "schedule")


@bp.route("/campaigns/<int:campaign_id>/unschedule", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def unschedule_campaign(campaign_id: int) -> Response:
    return _lifecycle(campaign_id, "unschedule")


@bp.route("/campaigns/<int:campaign_id>/pause", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def pause_campaign(campaign_id: int) -> Response:
    return _lifecycle(campaign_id, "pause")


@bp.route("/campaigns/<int:campaign_id>/resume", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def resume_campaign(campaign_id: int) -> Response:
    return _lifecycle(campaign_id, "resume")


@bp.route("/campaigns/<int:campaign_id>/cancel", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def cancel_campaign(campaign_id: int) -> Response:
    return _lifecycle(campaign_id, "cancel")


def _funnel_out(funnel: campaign_funnel.Funnel) -> schemas.FunnelOut:
    return schemas.FunnelOut(
        targeted=funnel.targeted,
        eligible=funnel.eligible,
        held_out=funnel.held_out,
        deferred=funnel.deferred,
        skipped=funnel.skipped,
        queued=funnel.queued,
        sent=funnel.sent,
        delivered=funnel.delivered,
        failed=funnel.failed,
        clicks=funnel.clicks,
        clicks_raw=funnel.clicks_raw,
        clickers=funnel.clickers,
        conversions=funnel.conversions,
        converters=funnel.converters,
        revenue=str(funnel.revenue),
        reasons=dict(funnel.reasons),
        click_rate=funnel.click_rate,
        delivery_rate=funnel.delivery_rate,
    )


@bp.route("/campaigns/<int:campaign_id>/stats")
@api_key_required(Permission.DASHBOARD)
def campaign_stats(campaign_id: int) -> Response:
    dbs = db.session()
    campaign = _campaign_or_404(dbs, campaign_id)
    total, by_variant = campaign_funnel.campaign_funnel(dbs, campaign)
    labels: dict[int | None, str | None] = {
        v.id: v.label
        for v in dbs.scalars(
            sa.select(Variant).where(Variant.campaign_id == campaign.id).order_by(Variant.id)
        )
    }
    # Variants of the campaign first (with an empty funnel before it runs), then any
    # recipients without a variant, then those of variants removed since.
    order = [*labels, *sorted((k for k in by_variant if k not in labels), key=lambda k: k or 0)]
    variants = [
        schemas.VariantFunnel(
            variant_id=variant_id,
            label=labels.get(variant_id),
            funnel=_funnel_out(by_variant.get(variant_id) or campaign_funnel.Funnel()),
        )
        for variant_id in order
    ]
    stats = schemas.CampaignStats(
        campaign_id=campaign.id,
        state=campaign.state,
        funnel=_funnel_out(total),
        variants=variants,
        progress=schemas.ProgressOut(**campaigns.progress(dbs, campaign.id)),
    )
    return jsonify(stats.model_dump(mode="json"))


@bp.route("/campaigns/<int:campaign_id>/recipients")
@api_key_required(Permission.CAMPAIGNS)
def campaign_recipients(campaign_id: int) -> Response:
    status = _enum_arg("status", [s.value for s in RecipientStatus])
    reason = _enum_arg("reason", [r.value for r in RecipientReason])
    limit = _int_arg("limit", 100, 1, 500)
    after = _int_arg("after", 0, 0, MAX_BIG_ID)
    dbs = db.session()
    campaign = _campaign_or_404(dbs, campaign_id)
    rows = campaigns.recipients(
        dbs,
        campaign.id,
        status=RecipientStatus(status) if status else None,
        reason=RecipientReason(reason) if reason else None,
        after_id=after or None,
        limit=limit + 1,
    )
    items = [
        schemas.RecipientOut(
            id=row.id,
            contact_id=row.contact_id,
            phone=row.phone,
            variant_id=row.variant_id,
            status=row.status,
            reason=row.reason,
            not_before=row.not_before,
            message_id=row.message_id,
            message_state=row.message_state,
            decided_at=row.decided_at,
        ).model_dump(mode="json")
        for row in rows[:limit]
    ]
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"items": items, "next_cursor": next_cursor})
