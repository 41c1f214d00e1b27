"""API routes for short codes, keyword rules and webhooks (on the ``api`` blueprint).

422 means the body or a query parameter does not match the document. A well-formed
request that cannot be carried out answers 409 with one entry in ``details`` per problem
(``field`` and ``message``): a rule word that is an opt-out word of its short code, two
active rules sharing a word, a regular expression that does not compile, a list or webhook
that does not exist, a webhook URL that is not public… (``rules.RuleError``). Messages are
in English. Reading short codes and everything about rules and webhooks needs the
campaigns permission; changing a short code's words and replies the settings permission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Response, current_app, jsonify
from flask_babel import force_locale
from sqlalchemy.orm import Session

from interactive.api import schemas
from interactive.api.errors import ApiError
from interactive.api.views import (
    MAX_ID,
    QUERY_PARAMETERS,
    _int_arg,
    api_key_required,
    bp,
    parse_body,
)
from interactive.db import db
from interactive.keywords import rules, webhooks
from interactive.keywords.models import (
    KeywordRule,
    MatchMode,
    ShortCode,
    Webhook,
    WebhookDelivery,
)
from interactive.web.models import Permission

QUERY_PARAMETERS.update({"api.list_keyword_rules": frozenset({"short_code_id", "limit", "after"})})

T = TypeVar("T")


def _problems(exc: rules.RuleError, code: str) -> ApiError:
    problems = exc.problems
    message = problems[0].message if len(problems) == 1 else "There are problems; see details."
    return ApiError(
        409,
        message,
        code=code,
        details=[{"field": p.field, "message": p.message} for p in problems],
    )


def _run(session: Session, code: str, action: Callable[[], T]) -> T:
    """Call a service (messages in English), commit; RuleError → 409 after a rollback."""
    try:
        with force_locale("en"):
            result = action()
    except rules.RuleError as exc:
        session.rollback()
        raise _problems(exc, code) from None
    session.commit()
    return result


def _ssrf_settings() -> dict[str, bool]:
    config = current_app.config
    return {
        "allow_private": bool(config["WEBHOOK_ALLOW_PRIVATE"]),
        "production": config["ENV"] == "production",
    }


def _get(session: Session, model: type[T], row_id: int, what: str) -> T:
    row = session.get(model, row_id) if row_id <= MAX_ID else None
    if row is None:
        raise ApiError(404, f"No {what} with id {row_id}.")
    return row


# --- short codes ------------------------------------------------------------------------------


def _short_code_out(code: ShortCode, counts: dict[int, int]) -> dict[str, Any]:
    return schemas.ShortCodeOut(
        id=code.id,
        code=code.code,
        connection=code.connection,
        brand_id=code.brand_id,
        opt_out_keywords=list(code.opt_out_keywords or []),
        opt_in_keywords=list(code.opt_in_keywords or []),
        help_keywords=list(code.help_keywords or []),
        opt_out_phrases=list(code.opt_out_phrases or []),
        scoped_opt_outs=dict(code.scoped_opt_outs or {}),
        double_opt_in=code.double_opt_in,
        confirm_keyword=code.confirm_keyword,
        replies=dict(code.replies or {}),
        attribution_hours=code.attribution_hours,
        rule_count=counts.get(code.id, 0),
        created_at=code.created_at,
    ).model_dump(mode="json")


@bp.route("/short-codes")
@api_key_required(Permission.CAMPAIGNS)
def list_short_codes() -> Response:
    session = db.session()
    counts = rules.rule_counts(session)
    items = [_short_code_out(c, counts) for c in rules.list_short_codes(session)]
    return jsonify({"items": items})


@bp.route("/short-codes/<int:short_code_id>")
@api_key_required(Permission.CAMPAIGNS)
def get_short_code(short_code_id: int) -> Response:
    session = db.session()
    code = _get(session, ShortCode, short_code_id, "short code")
    return jsonify(_short_code_out(code, rules.rule_counts(session)))


@bp.route("/short-codes/<int:short_code_id>", methods=["PATCH"])
@api_key_required(Permission.SETTINGS)
def update_short_code(short_code_id: int) -> Response:
    body = parse_body(schemas.ShortCodePatch)
    session = db.session()
    code = _get(session, ShortCode, short_code_id, "short code")
    data = rules.ShortCodeInput.of(code)
    given = body.model_fields_set
    for name in given - {"replies", "scoped_opt_outs"}:
        setattr(data, name, getattr(body, name))
    if "scoped_opt_outs" in given:
        data.scoped_opt_outs = {
            word: target.model_dump() for word, target in body.scoped_opt_outs.items()
        }
    if "replies" in given:
        data.replies = {
            kind: {lang: text for lang, text in texts.items() if text}
            for kind, texts in body.replies.model_dump(exclude_none=True).items()
        }
    _run(session, "short_code_problems", lambda: rules.update_short_code(session, code, data))
    return jsonify(_short_code_out(code, rules.rule_counts(session)))


# --- keyword rules ----------------------------------------------------------------------------


def _rule_out(rule: KeywordRule, code: str) -> dict[str, Any]:
    return schemas.KeywordRuleOut(
        id=rule.id,
        short_code_id=rule.short_code_id,
        short_code=code,
        keyword=rule.keyword,
        aliases=list(rule.aliases or []),
        match_mode=rule.match_mode.value,
        pattern=rule.pattern,
        priority=rule.priority,
        fuzzy=rule.fuzzy,
        fold_accents=rule.fold_accents,
        active=rule.active,
        active_from=rule.active_from,
        active_until=rule.active_until,
        handler=rule.handler,
        settings=dict(rule.settings or {}),
        reply_tr=rule.reply_tr,
        reply_en=rule.reply_en,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    ).model_dump(mode="json")


def _one_rule_out(session: Session, rule: KeywordRule) -> dict[str, Any]:
    code = session.get(ShortCode, rule.short_code_id)
    return _rule_out(rule, code.code if code is not None else "")


def _rule_input(fields: dict[str, Any]) -> rules.RuleInput:
    fields = dict(fields)
    fields["match_mode"] = MatchMode(fields["match_mode"])
    return rules.RuleInput(**fields)


@bp.route("/keyword-rules")
@api_key_required(Permission.CAMPAIGNS)
def list_keyword_rules() -> Response:
    short_code_id = _int_arg("short_code_id", 0, 1, MAX_ID) or None
    limit = _int_arg("limit", 50, 1, 200)
    after = _int_arg("after", 0, 0, MAX_ID)
    query = (
        sa.select(KeywordRule, ShortCode.code)
        .join(ShortCode, ShortCode.id == KeywordRule.short_code_id)
        .where(KeywordRule.id > after)
        .order_by(KeywordRule.id)
        .limit(limit + 1)
    )
    if short_code_id is not None:
        query = query.where(KeywordRule.short_code_id == short_code_id)
    rows = db.session().execute(query).all()
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    items = [_rule_out(rule, code) for rule, code in rows[:limit]]
    return jsonify({"items": items, "next_cursor": next_cursor})


@bp.route("/keyword-rules", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def create_keyword_rule() -> tuple[Response, int]:
    body = parse_body(schemas.KeywordRuleIn)
    session = db.session()
    data = _rule_input(body.model_dump())
    rule = _run(session, "rule_problems", lambda: rules.create_rule(session, data))
    return jsonify(_one_rule_out(session, rule)), 201


@bp.route("/keyword-rules/<int:rule_id>")
@api_key_required(Permission.CAMPAIGNS)
def get_keyword_rule(rule_id: int) -> Response:
    session = db.session()
    return jsonify(_one_rule_out(session, _get(session, KeywordRule, rule_id, "keyword rule")))


@bp.route("/keyword-rules/<int:rule_id>", methods=["PUT"])
@api_key_required(Permission.CAMPAIGNS)
def replace_keyword_rule(rule_id: int) -> Response:
    body = parse_body(schemas.KeywordRuleIn)
    session = db.session()
    rule = _get(session, KeywordRule, rule_id, "keyword rule")
    data = _rule_input(body.model_dump())
    _run(session, "rule_problems", lambda: rules.update_rule(session, rule, data))
    return jsonify(_one_rule_out(session, rule))


@bp.route("/keyword-rules/<int:rule_id>", methods=["PATCH"])
@api_key_required(Permission.CAMPAIGNS)
def update_keyword_rule(rule_id: int) -> Response:
    body = parse_body(schemas.KeywordRulePatch)
    session = db.session()
    rule = _get(session, KeywordRule, rule_id, "keyword rule")
    current = vars(rules.RuleInput.of(rule))
    data = _rule_input({**current, **body.model_dump(include=set(body.model_fields_set))})
    _run(session, "rule_problems", lambda: rules.update_rule(session, rule, data))
    return jsonify(_one_rule_out(session, rule))


@bp.route("/keyword-rules/<int:rule_id>", methods=["DELETE"])
@api_key_required(Permission.CAMPAIGNS)
def delete_keyword_rule(rule_id: int) -> tuple[str, int]:
    session = db.session()
    rule = _get(session, KeywordRule, rule_id, "keyword rule")
    _run(session, "rule_problems", lambda: rules.delete_rule(session, rule))
    return "", 204


# --- webhooks ---------------------------------------------------------------------------------


def _delivery_counts(session: Session, ids: list[int]) -> dict[tuple[int, str], int]:
    if not ids:
        return {}
    rows = session.execute(
        sa.select(WebhookDelivery.webhook_id, WebhookDelivery.state, sa.func.count())
        .where(
            WebhookDelivery.webhook_id.in_(ids),
            WebhookDelivery.state.in_([webhooks.PENDING, webhooks.FAILED]),
        )
        .group_by(WebhookDelivery.webhook_id, WebhookDelivery.state)
    )
    return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}


def _webhook_fields(
    webhook: Webhook, counts: dict[tuple[int, str], int], secret: str | None
) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "active": webhook.active,
        "created_at": webhook.created_at,
        "pending_deliveries": counts.get((webhook.id, webhooks.PENDING), 0),
        "failed_deliveries": counts.get((webhook.id, webhooks.FAILED), 0),
        "secret": secret,
    }


def _delivery_out(delivery: WebhookDelivery) -> schemas.WebhookDeliveryOut:
    return schemas.WebhookDeliveryOut(
        id=delivery.id,
        inbound_id=delivery.inbound_id,
        state=delivery.state,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


def _webhook_detail(session: Session, webhook: Webhook, secret: str | None) -> dict[str, Any]:
    counts = _delivery_counts(session, [webhook.id])
    recent = webhooks.recent_deliveries(session, webhook.id, limit=20)
    return schemas.WebhookDetail(
        **_webhook_fields(webhook, counts, secret),
        recent_deliveries=[_delivery_out(d) for d in recent],
    ).model_dump(mode="json")


@bp.route("/webhooks")
@api_key_required(Permission.CAMPAIGNS)
def list_webhooks() -> Response:
    session = db.session()
    hooks = rules.list_webhooks(session)
    counts = _delivery_counts(session, [h.id for h in hooks])
    items = [
        schemas.WebhookOut(**_webhook_fields(h, counts, None)).model_dump(mode="json")
        for h in hooks
    ]
    return jsonify({"items": items})


@bp.route("/webhooks", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def create_webhook() -> tuple[Response, int]:
    body = parse_body(schemas.WebhookIn)
    session = db.session()
    data = rules.WebhookInput(body.name, body.url, body.active)
    webhook, secret = _run(
        session,
        "webhook_problems",
        lambda: rules.create_webhook(session, data, **_ssrf_settings()),
    )
    return jsonify(_webhook_detail(session, webhook, secret)), 201


@bp.route("/webhooks/<int:webhook_id>")
@api_key_required(Permission.CAMPAIGNS)
def get_webhook(webhook_id: int) -> Response:
    session = db.session()
    webhook = _get(session, Webhook, webhook_id, "webhook")
    return jsonify(_webhook_detail(session, webhook, None))


@bp.route("/webhooks/<int:webhook_id>", methods=["PATCH"])
@api_key_required(Permission.CAMPAIGNS)
def update_webhook(webhook_id: int) -> Response:
    body = parse_body(schemas.WebhookPatch)
    session = db.session()
    webhook = _get(session, Webhook, webhook_id, "webhook")
    given = body.model_fields_set
    data = rules.WebhookInput(
        body.name if "name" in given else webhook.name,
        body.url if "url" in given else webhook.url,
        body.active if "active" in given else webhook.active,
    )
    rotate = bool(body.rotate_secret) if "rotate_secret" in given else False

    def save() -> str | None:
        rules.update_webhook(session, webhook, data, **_ssrf_settings())
        return rules.rotate_secret(session, webhook) if rotate else None

    secret = _run(session, "webhook_problems", save)
    return jsonify(_webhook_detail(session, webhook, secret))


@bp.route("/webhooks/<int:webhook_id>", methods=["DELETE"])
@api_key_required(Permission.CAMPAIGNS)
def delete_webhook(webhook_id: int) -> tuple[str, int]:
    session = db.session()
    webhook = _get(session, Webhook, webhook_id, "webhook")
    _run(session, "webhook_problems", lambda: rules.delete_webhook(session, webhook))
    return "", 204


@bp.route("/webhooks/<int:webhook_id>/test", methods=["POST"])
@api_key_required(Permission.CAMPAIGNS)
def test_webhook(webhook_id: int) -> Response:
    """POST a signed sample body to the webhook now; the answer says how it went."""
    session = db.session()
    webhook = _get(session, Webhook, webhook_id, "webhook")
    delivery = webhooks.send_test(session, webhook, **_ssrf_settings())
    session.commit()
    result = schemas.WebhookTestResult(
        ok=delivery.state == webhooks.DELIVERED, delivery=_delivery_out(delivery)
    )
    return jsonify(result.model_dump(mode="json"))
