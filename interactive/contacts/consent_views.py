"""Consent pages: registry (İYS) registrations, the suppression list, brands.

Registry: pending and overdue registrations, export of the pending events in the registry's
bulk-upload shape (CSV/JSON), "mark as registered", upload of the registry's change report,
and "send now" when the registry's API is configured (``IYS_*`` settings).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel.dates import format_datetime as babel_format_datetime
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from interactive.contacts import consent, phones, registry, registry_sync, suppression
from interactive.contacts.models import (
    Brand,
    ConsentEvent,
    Registration,
    Suppression,
    SuppressionReason,
)
from interactive.contacts.registry_client import IysClient, IysSettings, RegistryError
from interactive.db import db, utcnow
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("consent", __name__, template_folder="templates")

SHOWN = 500  # rows of a list on a page


class CsrfForm(FlaskForm):
    """Only the CSRF token: for POST buttons."""


class UploadForm(FlaskForm):
    report = FileField(_l("Change report (CSV or JSON)"), validators=[FileRequired()])
    brand = SelectField(_l("Brand of items that name none"), coerce=int, validators=[Optional()])


class BlockForm(FlaskForm):
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=64)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class BrandForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=32), Regexp(r"^[A-Za-z0-9_.-]+$")],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    iys_code = StringField(_l("İYS brand code"), validators=[Optional(), Length(max=32)])
    frequency_cap = IntegerField(
        _l("At most this many commercial messages"),
        validators=[Optional(), NumberRange(min=1, max=1000)],
    )
    frequency_days = IntegerField(
        _l("per this many days"), default=7, validators=[DataRequired(), NumberRange(1, 365)]
    )
    help_text = TextAreaField(_l("Help text (answer to HELP)"), validators=[Length(max=1000)])
    opt_out_text = TextAreaField(_l("Opt-out instruction"), validators=[Length(max=300)])
    opt_out_phrase_policy = SelectField(
        _l("Opt-out phrases (“please stop texting me”)"),
        choices=[
            ("suppress", _l("Stop messages at once")),
            ("review", _l("Hold in the inbox for a person to confirm")),
        ],
        default="suppress",
    )


def _istanbul(value: datetime | None) -> str:
    """A time as the registry sees it (Turkish time), in the user's language."""
    if value is None:
        return "—"
    return babel_format_datetime(
        value, "short", tzinfo=registry.ISTANBUL, locale=get_locale() or "tr"
    )


@bp.app_template_filter("istanbul_time")
def istanbul_time(value: datetime | None) -> str:
    return _istanbul(value)


def _brands() -> list[Brand]:
    return list(db.session().scalars(sa.select(Brand).order_by(Brand.code)))


def _brand_arg() -> int | None:
    raw = request.values.get("brand", "")
    return int(raw) if raw.isdigit() else None


def iys_configured() -> bool:
    config = current_app.config
    return all(config.get(key) for key in ("IYS_URL", "IYS_USERNAME", "IYS_PASSWORD", "IYS_CODE"))


# --- registry ----------------------------------------------------------------------------


@bp.route("/")
@require(Permission.AUDIENCES)
def index() -> ResponseReturnValue:
    return redirect(url_for("consent.registry_page"))


@bp.route("/registry")
@require(Permission.AUDIENCES)
def registry_page(sync: registry_sync.SyncResult | None = None) -> ResponseReturnValue:
    dbs = db.session()
    brand_id = _brand_arg()
    now = utcnow()
    pending = dbs.scalars(consent.pending_registrations(dbs, brand_id=brand_id).limit(SHOWN)).all()
    counts = _counts(now)
    brands = _brands()
    upload = UploadForm()
    upload.brand.choices = [(0, "—")] + [(b.id, f"{b.code} · {b.name}") for b in brands]
    return render_template(
        "consent/registry.html",
        pending=pending,
        counts=counts,
        brands=brands,
        brand_names={b.id: b.code for b in brands},
        brand_id=brand_id,
        now=now,
        until=now.isoformat(),
        upload=upload,
        form=CsrfForm(),
        sync=sync,
        iys_configured=iys_configured(),
    )


def _counts(now: datetime) -> dict[int, tuple[int, int]]:
    """(pending, overdue) per brand id."""
    overdue = sa.case((ConsentEvent.registry_deadline < now, 1), else_=0)
    rows = db.session().execute(
        sa.select(ConsentEvent.brand_id, sa.func.count(), sa.func.sum(overdue))
        .where(ConsentEvent.registration == Registration.PENDING)
        .group_by(ConsentEvent.brand_id)
    )
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}


def _selected(brand: Brand, until: datetime) -> list[ConsentEvent]:
    query = consent.pending_registrations(db.session(), brand_id=brand.id).where(
        ConsentEvent.recorded_at <= until
    )
    return list(db.session().scalars(query))


def _registry_events(
    brand: Brand, events: list[ConsentEvent]
) -> tuple[list[registry.RegistryEvent], int]:
    """The events the registry can take, and how many cannot be exported (not a Turkish
    number, not an HS_* source…): those stay pending for a person to look at."""
    good = []
    for event in events:
        try:
            good.append(
                registry.RegistryEvent(
                    recipient=event.recipient,
                    recipient_type=event.recipient_type.value,
                    channel=event.channel.value,
                    status=event.status.value,
                    source=event.source,
                    consent_at=event.consent_at,
                    brand_code=brand.iys_code or brand.code,
                    ref=event.id,
                )
            )
        except ValueError:
            continue
    return good, len(events) - len(good)


def _until() -> datetime:
    raw = request.values.get("until", "")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return utcnow()
    return parsed if parsed.tzinfo is not None else utcnow()


def _export_brand() -> Brand:
    brand_id = _brand_arg()
    brand = db.session().get(Brand, brand_id) if brand_id else None
    if brand is None:
        abort(404)
    return brand


@bp.route("/registry/export.<kind>")
@require(Permission.AUDIENCES)
def registry_export(kind: str) -> ResponseReturnValue:
    if kind not in ("csv", "json"):
        abort(404)
    brand = _export_brand()
    events, skipped = _registry_events(brand, _selected(brand, _until()))
    if kind == "csv":
        body, mimetype = registry.export_csv(events), "text/csv; charset=utf-8"
    else:
        body, mimetype = registry.export_json(events), "application/json"
    name = f"iys-{brand.code}-{utcnow().strftime('%Y%m%d-%H%M')}.{kind}"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Skipped-Events"] = str(skipped)
    return response


@bp.route("/registry/mark", methods=["POST"])
@require(Permission.AUDIENCES)
def registry_mark() -> ResponseReturnValue:
    if not CsrfForm().validate_on_submit():
        abort(400)
    dbs = db.session()
    ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
    if not ids:
        brand = _export_brand()
        events, _skipped = _registry_events(brand, _selected(brand, _until()))
        ids = [event.ref for event in events if event.ref is not None]
    count = consent.mark_registered(dbs, ids)
    dbs.commit()
    log.info("registrations marked count=%d by=%s", count, current_user.id)
    flash(_("%(count)d events are marked as registered.", count=count), "success")
    return redirect(url_for("consent.registry_page", brand=_brand_arg()))


@bp.route("/registry/upload", methods=["POST"])
@require(Permission.AUDIENCES)
def registry_upload() -> ResponseReturnValue:
    form = UploadForm()
    form.brand.choices = [(0, "—")] + [(b.id, b.code) for b in _brands()]
    if not form.validate_on_submit():
        flash(_("Choose the registry's change report (CSV or JSON)."), "error")
        return redirect(url_for("consent.registry_page"))
    upload = form.report.data
    data = upload.read(20 * 1024 * 1024 + 1)
    if len(data) > 20 * 1024 * 1024:
        flash(_("The file is larger than 20 MB; split it."), "error")
        return redirect(url_for("consent.registry_page"))
    changes, errors = registry.parse_changes(data, upload.filename or "report")
    dbs = db.session()
    result = registry_sync.apply_changes(
        dbs, changes, brand_id=form.brand.data or None, label=f"change report {upload.filename}"
    )
    dbs.commit()
    result.errors = [(-1, str(error)) for error in errors] + [
        (position, reason) for position, reason in result.errors
    ]
    return registry_page(sync=result)


@bp.route("/registry/send", methods=["POST"])
@require(Permission.AUDIENCES)
def registry_send() -> ResponseReturnValue:
    if not CsrfForm().validate_on_submit() or not iys_configured():
        abort(400)
    brand = _export_brand()
    if not brand.iys_code:
        flash(_("Enter the brand's İYS code first."), "error")
        return redirect(url_for("consent.brand_edit", brand_id=brand.id))
    events, _skipped = _registry_events(brand, _selected(brand, _until()))
    config = current_app.config
    client = IysClient(
        IysSettings(
            base_url=config["IYS_URL"],
            username=config["IYS_USERNAME"],
            password=config["IYS_PASSWORD"],
            iys_code=config["IYS_CODE"],
            brand_code=brand.iys_code,
        )
    )
    dbs = db.session()
    try:
        request_ids = client.add_bulk(events)
    except RegistryError as exc:
        flash(_("The registry refused the request: %(error)s", error=str(exc)), "error")
        return redirect(url_for("consent.registry_page", brand=brand.id))
    count = consent.mark_registered(
        dbs, [e.ref for e in events if e.ref is not None], ref=",".join(request_ids)[:64]
    )
    dbs.commit()
    flash(_("%(count)d events are sent to the registry.", count=count), "success")
    return redirect(url_for("consent.registry_page", brand=brand.id))


# --- suppression list --------------------------------------------------------------------


@bp.route("/suppressions")
@require(Permission.AUDIENCES)
def suppressions() -> ResponseReturnValue:
    query = sa.select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())
    searched = (request.args.get("q") or "").strip()[:64]
    if searched:
        parsed = phones.normalise(searched, str(current_app.config.get("DEFAULT_REGION", "TR")))
        digest = suppression.phone_hash(parsed.e164) if parsed.e164 else ""
        query = query.where(Suppression.phone_hash == digest)
    rows = db.session().scalars(query.limit(SHOWN)).all()
    return render_template(
        "consent/suppressions.html",
        rows=rows,
        searched=searched,
        block=BlockForm(),
        form=CsrfForm(),
        Reason=SuppressionReason,
    )


@bp.route("/suppressions/block", methods=["POST"])
@require(Permission.AUDIENCES)
def suppression_block() -> ResponseReturnValue:
    form = BlockForm()
    if form.validate_on_submit():
        region = str(current_app.config.get("DEFAULT_REGION", "TR"))
        parsed = phones.normalise(form.phone.data or "", region)
        if parsed.e164 is None:
            flash(phones.error_message(parsed.error or "invalid_number"), "error")
        else:
            dbs = db.session()
            suppression.add(
                dbs,
                [parsed.e164],
                SuppressionReason.MANUAL,
                note=(form.note.data or "").replace("\x00", ""),
                by=current_user.email,
            )
            dbs.commit()
            flash(_("%(phone)s is blocked.", phone=parsed.e164), "success")
    return redirect(url_for("consent.suppressions"))


@bp.route("/suppressions/<int:row_id>/lift", methods=["POST"])
@require(Permission.AUDIENCES)
def suppression_lift(row_id: int) -> ResponseReturnValue:
    dbs = db.session()
    row = dbs.get(Suppression, row_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    # Only a block a person made can be lifted here; opt-outs are lifted by a new consent.
    if row.reason != SuppressionReason.MANUAL or row.phone is None:
        abort(400)
    suppression.remove(dbs, row.phone, SuppressionReason.MANUAL)
    dbs.commit()
    flash(_("The block on %(phone)s is lifted.", phone=row.phone), "success")
    return redirect(url_for("consent.suppressions"))


# --- brands -------------------------------------------------------------------------------


@bp.route("/brands")
@require(Permission.AUDIENCES)
def brands() -> ResponseReturnValue:
    return render_template("consent/brands.html", brands=_brands())


@bp.route("/brands/new", methods=["GET", "POST"])
@bp.route("/brands/<int:brand_id>", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def brand_edit(brand_id: int | None = None) -> ResponseReturnValue:
    dbs = db.session()
    brand = (dbs.get(Brand, brand_id) or abort(404)) if brand_id is not None else None
    form = BrandForm(obj=brand)
    if form.validate_on_submit():
        code = (form.code.data or "").strip()
        taken = dbs.scalar(sa.select(Brand.id).where(Brand.code == code))
        if taken is not None and (brand is None or taken != brand.id):
            form.code.errors = [*form.code.errors, _("Another brand has this code.")]
        else:
            target = brand or Brand()
            _fill(target, form.data, code)
            dbs.add(target)
            dbs.commit()
            flash(_("Brand %(code)s is saved.", code=code), "success")
            return redirect(url_for("consent.brands"))
    return render_template("consent/brand_form.html", form=form, brand=brand)


def _fill(brand: Brand, data: dict[str, Any], code: str) -> None:
    brand.code = code
    # PostgreSQL text cannot hold NUL.
    brand.name = data["name"].replace("\x00", "").strip()
    brand.iys_code = (data["iys_code"] or "").replace("\x00", "").strip() or None
    brand.frequency_cap = data["frequency_cap"]
    brand.frequency_days = data["frequency_days"] or 7
    brand.help_text = (data["help_text"] or "").replace("\x00", "")
    brand.opt_out_text = (data["opt_out_text"] or "").replace("\x00", "")
    brand.opt_out_phrase_policy = data["opt_out_phrase_policy"] or "suppress"
