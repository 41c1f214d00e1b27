"""Keyword pages: short codes (their opt-out, opt-in and help words and replies: settings
permission), their keyword rules with a "test a message" box (campaigns permission), and
the webhooks rules forward to, with a test button and their recent deliveries. The logic
is in ``rules`` and ``webhooks``; this module reads forms, calls them and commits once per
request. Webhook secrets are shown once, in the answer to the request that made them."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    Field,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from interactive.contacts.models import Brand, ContactList
from interactive.db import db
from interactive.keywords import defaults, handlers, rules, shortcodes, webhooks
from interactive.keywords.models import (
    Decision,
    KeywordRule,
    MatchMode,
    ShortCode,
    Webhook,
    WebhookDelivery,
)
from interactive.outbound.encoding import count_segments
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("keywords", __name__, template_folder="templates", static_folder="static")

P = ParamSpec("P")
R = TypeVar("R")

MATCH_MODES = {
    MatchMode.FIRST_WORD: _l("First word(s) of the message"),
    MatchMode.WHOLE: _l("The whole message"),
    MatchMode.PREFIX: _l("The message starts with it"),
    MatchMode.REGEX: _l("Regular expression"),
}
DECISIONS = {
    Decision.OPT_OUT: _l("Opt-out"),
    Decision.OPT_IN: _l("Opt-in"),
    Decision.HELP: _l("Help"),
    Decision.RULE: _l("Keyword rule"),
    Decision.INBOX: _l("Inbox"),
    Decision.REVIEW: _l("Held for review"),
    Decision.CONVERSATION: _l("Conversation"),
}
REPLY_LABELS = {
    "opt_out": _l("Opt-out confirmation"),
    "opt_out_scoped": _l("Scoped opt-out confirmation"),
    "opt_in": _l("Opt-in confirmation"),
    "opt_in_confirm": _l("Double opt-in: asking for the confirmation word"),
    "help": _l("Answer to help"),
}
DELIVERY_STATES = {
    webhooks.PENDING: _l("pending"),
    webhooks.DELIVERED: _l("delivered"),
    webhooks.FAILED: _l("failed"),
}


def require_any(*permissions: Permission) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A page for signed-in users whose role has one of ``permissions``."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not any(current_user.can(p) for p in permissions):
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapped)

    return decorate


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "match_modes": MATCH_MODES,
        "decisions": DECISIONS,
        "delivery_states": DELIVERY_STATES,
        "handler_labels": {name: h.label for name, h in handlers.HANDLERS.items()},
    }


class CsrfForm(FlaskForm):
    """Only the CSRF token: for POST buttons."""


def _ssrf() -> dict[str, bool]:
    config = current_app.config
    return {
        "allow_private": bool(config["WEBHOOK_ALLOW_PRIVATE"]),
        "production": config["ENV"] == "production",
    }


def _show_problems(form: FlaskForm, error: rules.RuleError, aliases: dict[str, str]) -> list[str]:
    """Put each problem under its field; return those that belong to no field."""
    general: list[str] = []
    for problem in error.problems:
        name = (problem.field or "").split(".")[0]
        name = aliases.get(problem.field or "", aliases.get(name, name))
        target: Field | None = getattr(form, name, None) if name else None
        if isinstance(target, Field):
            target.errors = [*target.errors, problem.message]
        else:
            general.append(problem.message)
    return general


def _words(text: str | None) -> list[str]:
    """Words typed one per line or separated by commas or spaces."""
    return [w for w in re.split(r"[\s,;]+", text or "") if w]


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# --- short codes ------------------------------------------------------------------------------


@bp.route("/")
@require_any(Permission.CAMPAIGNS, Permission.SETTINGS)
def index() -> ResponseReturnValue:
    session = db.session()
    # Configured short codes get their row (default words) before their first message.
    shortcodes.ensure_configured(session, current_app.config["SMPP_CONNECTION_LIST"])
    session.commit()
    codes = rules.list_short_codes(session)
    brands = {b.id: b for b in session.scalars(sa.select(Brand))}
    return render_template(
        "keywords/index.html",
        codes=codes,
        counts=rules.rule_counts(session),
        brands=brands,
    )


class ShortCodeForm(FlaskForm):
    brand_id = SelectField(_l("Brand"), coerce=int, choices=[])
    opt_out_keywords = TextAreaField(_l("Opt-out words"), validators=[Length(max=5000)])
    opt_in_keywords = TextAreaField(_l("Opt-in words"), validators=[Length(max=5000)])
    help_keywords = TextAreaField(_l("Help words"), validators=[Length(max=5000)])
    opt_out_phrases = TextAreaField(_l("Opt-out phrases"), validators=[Length(max=20000)])
    scoped_opt_outs = TextAreaField(_l("Scoped opt-outs"), validators=[Length(max=5000)])
    double_opt_in = BooleanField(_l("Double opt-in (a second message confirms)"))
    confirm_keyword = StringField(_l("Confirmation word"), validators=[Length(max=32)])
    attribution_hours = IntegerField(
        _l("Attribute replies to a message sent within (hours)"),
        validators=[InputRequired(), NumberRange(0, rules.MAX_ATTRIBUTION_HOURS)],
    )


for _kind in defaults.REPLY_KINDS:
    for _lang in rules.LANGUAGES:
        setattr(
            ShortCodeForm,
            f"reply_{_kind}_{_lang}",
            TextAreaField(
                _l("Turkish") if _lang == "tr" else _l("English"),
                validators=[Length(max=rules.MAX_REPLY_LENGTH)],
            ),
        )


def _scopes_text(session: Any, scoped: dict[str, dict[str, Any]]) -> str:
    lines = []
    for word, target in scoped.items():
        if "brand_id" in target:
            brand = session.get(Brand, target["brand_id"])
            lines.append(f"{word} = brand: {brand.code if brand else target['brand_id']}")
        elif "list_id" in target:
            contact_list = session.get(ContactList, target["list_id"])
            name = contact_list.name if contact_list else target["list_id"]
            lines.append(f"{word} = list: {name}")
    return "\n".join(lines)


def _parse_scopes(session: Any, text: str | None) -> tuple[dict[str, dict[str, int]], list[str]]:
    """``WORD = brand: CODE`` / ``WORD = list: NAME`` lines (ids work too)."""
    scoped: dict[str, dict[str, int]] = {}
    errors: list[str] = []
    for line in _lines(text):
        word, _sep, rest = line.partition("=")
        kind, _colon, name = rest.partition(":")
        word, kind, name = word.strip(), kind.strip().lower(), name.strip()
        target: Brand | ContactList | None = None
        if word and kind in ("brand", "marka"):
            target = session.scalar(sa.select(Brand).where(Brand.code == name))
            if target is None and name.isdigit():
                target = session.get(Brand, int(name))
            if target is not None:
                scoped[word] = {"brand_id": target.id}
        elif word and kind in ("list", "liste"):
            target = session.scalar(sa.select(ContactList).where(ContactList.name == name))
            if target is None and name.isdigit():
                target = session.get(ContactList, int(name))
            if target is not None:
                scoped[word] = {"list_id": target.id}
        if target is None:
            errors.append(
                _("“%(line)s”: write WORD = brand: CODE or WORD = list: NAME.", line=line)
            )
    return scoped, errors


def _default_reply(kind: str, lang: str, code: ShortCode, brand: Brand | None) -> str:
    values = {
        "brand": brand.name if brand else code.code,
        "code": code.code,
        "scope": "KAMPANYA",
        "word": code.confirm_keyword,
    }
    with force_locale(lang):
        return defaults.reply_text(kind, **values)


@bp.route("/short-codes/<int:short_code_id>", methods=["GET", "POST"])
@require(Permission.SETTINGS)
def short_code_edit(short_code_id: int) -> ResponseReturnValue:
    session = db.session()
    code = session.get(ShortCode, short_code_id) or abort(404)
    form = ShortCodeForm()
    brands = list(session.scalars(sa.select(Brand).order_by(Brand.code)))
    form.brand_id.choices = [(0, "—")] + [(b.id, f"{b.code} · {b.name}") for b in brands]
    general: list[str] = []
    if not form.is_submitted():
        _fill_short_code_form(session, form, code)
    elif form.validate():
        scoped, scope_errors = _parse_scopes(session, form.scoped_opt_outs.data)
        form.scoped_opt_outs.errors = list(scope_errors)
        data = rules.ShortCodeInput(
            brand_id=form.brand_id.data or None,
            opt_out_keywords=_words(form.opt_out_keywords.data),
            opt_in_keywords=_words(form.opt_in_keywords.data),
            help_keywords=_words(form.help_keywords.data),
            opt_out_phrases=_lines(form.opt_out_phrases.data),
            scoped_opt_outs=scoped,
            double_opt_in=bool(form.double_opt_in.data),
            confirm_keyword=form.confirm_keyword.data or "",
            replies={
                kind: {
                    lang: getattr(form, f"reply_{kind}_{lang}").data or ""
                    for lang in rules.LANGUAGES
                }
                for kind in defaults.REPLY_KINDS
            },
            attribution_hours=form.attribution_hours.data or 0,
        )
        if not scope_errors:
            try:
                rules.update_short_code(session, code, data)
            except rules.RuleError as exc:
                session.rollback()
                aliases = {
                    f"replies.{k}.{lang}": f"reply_{k}_{lang}"
                    for k in defaults.REPLY_KINDS
                    for lang in rules.LANGUAGES
                }
                general = _show_problems(form, exc, aliases)
            else:
                session.commit()
                flash(_("Short code %(code)s is saved.", code=code.code), "success")
                return redirect(url_for("keywords.index"))
    brand = session.get(Brand, code.brand_id) if code.brand_id else None
    return render_template(
        "keywords/short_code_form.html",
        form=form,
        code=code,
        general=general,
        reply_kinds=[
            (
                kind,
                REPLY_LABELS[kind],
                {lang: _default_reply(kind, lang, code, brand) for lang in rules.LANGUAGES},
            )
            for kind in defaults.REPLY_KINDS
        ],
        variables=rules.template_variables(session),
    )


def _fill_short_code_form(session: Any, form: ShortCodeForm, code: ShortCode) -> None:
    form.brand_id.data = code.brand_id or 0
    form.opt_out_keywords.data = "\n".join(code.opt_out_keywords or [])
    form.opt_in_keywords.data = "\n".join(code.opt_in_keywords or [])
    form.help_keywords.data = "\n".join(code.help_keywords or [])
    form.opt_out_phrases.data = "\n".join(code.opt_out_phrases or [])
    form.scoped_opt_outs.data = _scopes_text(session, code.scoped_opt_outs or {})
    form.double_opt_in.data = code.double_opt_in
    form.confirm_keyword.data = code.confirm_keyword
    form.attribution_hours.data = code.attribution_hours
    for kind in defaults.REPLY_KINDS:
        for lang in rules.LANGUAGES:
            text = ((code.replies or {}).get(kind) or {}).get(lang, "")
            getattr(form, f"reply_{kind}_{lang}").data = text


# --- keyword rules ----------------------------------------------------------------------------


class RuleForm(FlaskForm):
    keyword = StringField(
        _l("Keyword"), validators=[InputRequired(), Length(max=rules.MAX_WORD_LENGTH)]
    )
    aliases = StringField(_l("Also accept (aliases)"), validators=[Length(max=4000)])
    match_mode = SelectField(
        _l("Matches"), choices=[(m.value, label) for m, label in MATCH_MODES.items()]
    )
    pattern = StringField(
        _l("Regular expression"), validators=[Length(max=rules.MAX_PATTERN_LENGTH)]
    )
    priority = IntegerField(
        _l("Priority (higher wins)"),
        default=0,
        validators=[InputRequired(), NumberRange(*rules.PRIORITY_RANGE)],
    )
    fuzzy = BooleanField(_l("Accept one typo (keywords of 4 letters or more)"), default=True)
    fold_accents = BooleanField(_l("Ignore accents (ş = s, ç = c…)"), default=True)
    active = BooleanField(_l("Enabled"), default=True)
    active_from = DateTimeLocalField(
        _l("Active from"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    active_until = DateTimeLocalField(
        _l("Active until"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    handler = SelectField(_l("Then"), choices=[])
    list_id = SelectField(_l("List"), coerce=int, choices=[])
    webhook_id = SelectField(_l("Webhook"), coerce=int, choices=[])
    reply_tr = TextAreaField(
        _l("Reply in Turkish"), validators=[Length(max=rules.MAX_REPLY_LENGTH)]
    )
    reply_en = TextAreaField(
        _l("Reply in English"), validators=[Length(max=rules.MAX_REPLY_LENGTH)]
    )


def _rule_form(session: Any, rule: KeywordRule | None) -> RuleForm:
    form = RuleForm(obj=rule) if rule is not None else RuleForm()
    form.handler.choices = [(name, str(h.label)) for name, h in handlers.HANDLERS.items()]
    form.list_id.choices = [(0, "—")] + [
        (c.id, c.name) for c in session.scalars(sa.select(ContactList).order_by(ContactList.name))
    ]
    form.webhook_id.choices = [(0, "—")] + [(w.id, w.name) for w in rules.list_webhooks(session)]
    if not form.is_submitted():
        if rule is not None:
            form.aliases.data = ", ".join(rule.aliases or [])
            form.match_mode.data = rule.match_mode.value
            form.active_from.data = _local(rule.active_from)
            form.active_until.data = _local(rule.active_until)
            settings = rule.settings or {}
            form.list_id.data = int(settings.get("list_id") or 0)
            form.webhook_id.data = int(settings.get("webhook_id") or 0)
        else:
            form.list_id.data = form.webhook_id.data = 0
    return form


def _zone() -> ZoneInfo:
    return ZoneInfo(str(current_user.timezone or current_app.config["DEFAULT_TIMEZONE"]))


def _local(value: datetime | None) -> datetime | None:
    return value.astimezone(_zone()).replace(tzinfo=None) if value is not None else None


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=_zone()) if value is not None else None


def _rule_input(form: RuleForm, short_code_id: int) -> rules.RuleInput:
    handler = handlers.HANDLERS.get(form.handler.data or "")
    settings: dict[str, Any] = {}
    for name in handler.settings if handler is not None else ():
        field = getattr(form, name, None)
        value = field.data if isinstance(field, Field) else None
        settings[name] = value or ""  # 0 is "—": the service says the setting is missing
    return rules.RuleInput(
        short_code_id=short_code_id,
        keyword=form.keyword.data or "",
        aliases=[a for a in re.split(r"[,\n]+", form.aliases.data or "") if a.strip()],
        match_mode=MatchMode(form.match_mode.data),
        pattern=form.pattern.data or "",
        priority=form.priority.data or 0,
        fuzzy=bool(form.fuzzy.data),
        fold_accents=bool(form.fold_accents.data),
        active=bool(form.active.data),
        active_from=_utc(form.active_from.data),
        active_until=_utc(form.active_until.data),
        handler=form.handler.data or "",
        settings=settings,
        reply_tr=form.reply_tr.data or "",
        reply_en=form.reply_en.data or "",
    )


@bp.route("/short-codes/<int:short_code_id>/rules")
@require(Permission.CAMPAIGNS)
def rules_page(short_code_id: int) -> ResponseReturnValue:
    session = db.session()
    code = session.get(ShortCode, short_code_id) or abort(404)
    text = (request.args.get("text") or "")[:1600]
    explanation = rules.explain(session, code, text) if text.strip() else None
    return render_template(
        "keywords/rules.html",
        code=code,
        rules=rules.list_rules(session, code.id),
        text=text,
        explanation=explanation,
        form=CsrfForm(),
        lists={c.id: c.name for c in session.scalars(sa.select(ContactList))},
        hooks={w.id: w.name for w in rules.list_webhooks(session)},
    )


@bp.route("/short-codes/<int:short_code_id>/rules/new", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def rule_new(short_code_id: int) -> ResponseReturnValue:
    session = db.session()
    code = session.get(ShortCode, short_code_id) or abort(404)
    return _rule_page(session, code, None)


@bp.route("/rules/<int:rule_id>", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def rule_edit(rule_id: int) -> ResponseReturnValue:
    session = db.session()
    rule = session.get(KeywordRule, rule_id) or abort(404)
    code = session.get(ShortCode, rule.short_code_id) or abort(404)
    return _rule_page(session, code, rule)


def _rule_page(session: Any, code: ShortCode, rule: KeywordRule | None) -> ResponseReturnValue:
    form = _rule_form(session, rule)
    general: list[str] = []
    if form.validate_on_submit():
        data = _rule_input(form, code.id)
        try:
            saved = (
                rules.update_rule(session, rule, data)
                if rule is not None
                else rules.create_rule(session, data)
            )
        except rules.RuleError as exc:
            session.rollback()
            aliases = {f"settings.{k}": k for k in rules.SETTING_TARGETS}
            general = _show_problems(form, exc, aliases)
        else:
            session.commit()
            flash(_("Rule %(keyword)s is saved.", keyword=saved.keyword), "success")
            return redirect(url_for("keywords.rules_page", short_code_id=code.id))
    return render_template(
        "keywords/rule_form.html",
        form=form,
        code=code,
        rule=rule,
        general=general,
        variables=rules.template_variables(session),
        handler_settings={name: list(h.settings) for name, h in handlers.HANDLERS.items()},
        confirm=CsrfForm(),
    )


@bp.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@require(Permission.CAMPAIGNS)
def rule_toggle(rule_id: int) -> ResponseReturnValue:
    session = db.session()
    rule = session.get(KeywordRule, rule_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    short_code_id, keyword, enable = rule.short_code_id, rule.keyword, not rule.active
    try:
        rules.set_rule_active(session, rule, enable)
    except rules.RuleError as exc:
        session.rollback()
        for problem in exc.problems:
            flash(problem.message, "error")
    else:
        session.commit()
        text = (
            _("Rule %(keyword)s is enabled.", keyword=keyword)
            if enable
            else _("Rule %(keyword)s is disabled.", keyword=keyword)
        )
        flash(text, "success")
    return redirect(url_for("keywords.rules_page", short_code_id=short_code_id))


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@require(Permission.CAMPAIGNS)
def rule_delete(rule_id: int) -> ResponseReturnValue:
    session = db.session()
    rule = session.get(KeywordRule, rule_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    short_code_id, keyword = rule.short_code_id, rule.keyword
    rules.delete_rule(session, rule)
    session.commit()
    flash(_("Rule %(keyword)s is deleted.", keyword=keyword), "success")
    return redirect(url_for("keywords.rules_page", short_code_id=short_code_id))


@bp.route("/parts")
@require(Permission.CAMPAIGNS)
def parts() -> ResponseReturnValue:
    """Encoding and part count of a reply as typed (template markup counted as written)."""
    text = (request.args.get("text") or "")[: rules.MAX_REPLY_LENGTH]
    count = count_segments(text)
    return jsonify({"parts": count.parts, "encoding": count.encoding, "characters": len(text)})


# --- webhooks ---------------------------------------------------------------------------------


class WebhookForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    url = StringField(_l("URL"), validators=[InputRequired(), Length(max=webhooks.MAX_URL_LENGTH)])
    active = BooleanField(_l("Enabled"), default=True)


@bp.route("/webhooks")
@require(Permission.CAMPAIGNS)
def webhooks_page() -> ResponseReturnValue:
    session = db.session()
    hooks = rules.list_webhooks(session)
    rows = session.execute(
        sa.select(
            WebhookDelivery.webhook_id,
            WebhookDelivery.state,
            sa.func.count(),
        ).group_by(WebhookDelivery.webhook_id, WebhookDelivery.state)
    )
    counts = {(int(r[0]), str(r[1])): int(r[2]) for r in rows}
    return render_template("keywords/webhooks.html", hooks=hooks, counts=counts)


@bp.route("/webhooks/new", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def webhook_new() -> ResponseReturnValue:
    session = db.session()
    form = WebhookForm()
    general: list[str] = []
    if form.validate_on_submit():
        data = rules.WebhookInput(form.name.data or "", form.url.data or "", bool(form.active.data))
        try:
            webhook, secret = rules.create_webhook(session, data, **_ssrf())
        except rules.RuleError as exc:
            session.rollback()
            general = _show_problems(form, exc, {})
        else:
            session.commit()
            flash(_("Webhook %(name)s is saved.", name=webhook.name), "success")
            return _webhook_page(session, webhook, WebhookForm(obj=webhook), secret=secret)
    return render_template("keywords/webhook_new.html", form=form, general=general)


@bp.route("/webhooks/<int:webhook_id>", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def webhook_edit(webhook_id: int) -> ResponseReturnValue:
    session = db.session()
    webhook = session.get(Webhook, webhook_id) or abort(404)
    form = WebhookForm(obj=webhook)
    general: list[str] = []
    if form.validate_on_submit():
        data = rules.WebhookInput(form.name.data or "", form.url.data or "", bool(form.active.data))
        try:
            rules.update_webhook(session, webhook, data, **_ssrf())
        except rules.RuleError as exc:
            session.rollback()
            general = _show_problems(form, exc, {})
        else:
            session.commit()
            flash(_("Webhook %(name)s is saved.", name=webhook.name), "success")
            return redirect(url_for("keywords.webhook_edit", webhook_id=webhook.id))
    return _webhook_page(session, webhook, form, general=general)


def _webhook_page(
    session: Any,
    webhook: Webhook,
    form: WebhookForm,
    *,
    secret: str | None = None,
    general: list[str] | None = None,
) -> ResponseReturnValue:
    return render_template(
        "keywords/webhook.html",
        webhook=webhook,
        form=form,
        general=general or [],
        secret=secret,
        confirm=CsrfForm(),
        deliveries=webhooks.recent_deliveries(session, webhook.id),
        used_by=rules.rules_using_webhook(session, webhook.id),
        codes={c.id: c.code for c in rules.list_short_codes(session)},
    )


@bp.route("/webhooks/<int:webhook_id>/rotate", methods=["POST"])
@require(Permission.CAMPAIGNS)
def webhook_rotate(webhook_id: int) -> ResponseReturnValue:
    session = db.session()
    webhook = session.get(Webhook, webhook_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    secret = rules.rotate_secret(session, webhook)
    session.commit()
    log.info("webhook secret rotated webhook=%s by=%s", webhook.id, current_user.id)
    flash(_("The secret is replaced; the old one no longer works."), "success")
    return _webhook_page(session, webhook, WebhookForm(obj=webhook), secret=secret)


@bp.route("/webhooks/<int:webhook_id>/test", methods=["POST"])
@require(Permission.CAMPAIGNS)
def webhook_test(webhook_id: int) -> ResponseReturnValue:
    session = db.session()
    webhook = session.get(Webhook, webhook_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    delivery = webhooks.send_test(session, webhook, **_ssrf())
    session.commit()
    if delivery.state == webhooks.DELIVERED:
        flash(_("Test delivered: the receiver answered 2xx."), "success")
    else:
        flash(_("Test failed: %(error)s", error=delivery.last_error), "error")
    return redirect(url_for("keywords.webhook_edit", webhook_id=webhook.id))


@bp.route("/webhooks/<int:webhook_id>/delete", methods=["POST"])
@require(Permission.CAMPAIGNS)
def webhook_delete(webhook_id: int) -> ResponseReturnValue:
    session = db.session()
    webhook = session.get(Webhook, webhook_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    name = webhook.name
    try:
        rules.delete_webhook(session, webhook)
    except rules.RuleError as exc:
        session.rollback()
        for problem in exc.problems:
            flash(problem.message, "error")
        return redirect(url_for("keywords.webhook_edit", webhook_id=webhook_id))
    session.commit()
    flash(_("Webhook %(name)s is deleted.", name=name), "success")
    return redirect(url_for("keywords.webhooks_page"))
