"""Audience pages: contacts (list, page, timeline, data-subject export and erasure), lists,
attribute definitions and the segment builder (with a live count)."""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from interactive.contacts import segments, service
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Brand,
    ConsentState,
    ContactList,
    ListMember,
    Segment,
)
from interactive.contacts.segments import SegmentError
from interactive.contacts.service import ContactError, ContactFilter, ContactInput
from interactive.db import db
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("contacts", __name__, template_folder="templates", static_folder="static")


class ContactForm(FlaskForm):
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=40)])
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[Optional(), Length(max=100)])
    language = StringField(_l("Language"), validators=[Optional(), Length(max=8)])
    time_zone = StringField(_l("Time zone"), validators=[Optional(), Length(max=64)])


class NameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])


class AttributeForm(FlaskForm):
    key = StringField(_l("Key"), validators=[DataRequired(), Length(max=64)])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=120)])
    type = SelectField(_l("Type"), choices=lambda: _type_choices())


def _type_choices() -> list[tuple[str, str]]:
    labels = {
        AttributeType.TEXT: _l("Text"),
        AttributeType.NUMBER: _l("Number"),
        AttributeType.DATE: _l("Date"),
        AttributeType.BOOLEAN: _l("Yes/no"),
    }
    return [(kind.value, str(label)) for kind, label in labels.items()]


class MembershipForm(FlaskForm):
    list_id = SelectField(_l("List"), coerce=int, choices=[])


class EraseForm(FlaskForm):
    confirm = StringField(_l("Type the phone number to confirm"), validators=[DataRequired()])


class SegmentForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    definition = TextAreaField(_l("Definition (JSON)"), validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """A POST with only a CSRF token (delete, remove)."""


def _filters() -> ContactFilter:
    return ContactFilter(
        query=request.args.get("q", "")[:100],
        list_id=request.args.get("list", type=int),
        segment_id=request.args.get("segment", type=int),
        brand_id=request.args.get("brand", type=int),
        consent=request.args.get("consent")
        if request.args.get("consent") in ("ONAY", "RET", "none")
        else None,
    )


@bp.route("/")
@require(Permission.AUDIENCES)
def index() -> ResponseReturnValue:
    session = db.session()
    filters = _filters()
    try:
        page = service.search(
            session,
            filters,
            after=request.args.get("after", type=int),
            before=request.args.get("before", type=int),
        )
    except (ContactError, SegmentError) as exc:
        flash(str(exc.message), "error")
        page = service.Page([], None, None)
    args = {k: v for k, v in request.args.items() if k not in ("after", "before") and v}
    return render_template(
        "contacts/index.html",
        page=page,
        filters=filters,
        args=args,
        lists=session.scalars(sa.select(ContactList).order_by(ContactList.name)).all(),
        segments=session.scalars(sa.select(Segment).order_by(Segment.name)).all(),
        brands=session.scalars(sa.select(Brand).order_by(Brand.name)).all(),
    )


def _input(form: ContactForm, definitions: list[AttributeDefinition]) -> ContactInput:
    return ContactInput(
        phone=form.phone.data or "",
        first_name=form.first_name.data,
        last_name=form.last_name.data,
        language=form.language.data,
        time_zone=form.time_zone.data,
        attributes={d.key: request.form.get(f"attr_{d.key}", "") for d in definitions},
    )


def _definitions() -> list[AttributeDefinition]:
    return list(
        db.session().scalars(sa.select(AttributeDefinition).order_by(AttributeDefinition.label))
    )


def _show_error(form: FlaskForm, exc: ContactError, attr_errors: dict[str, str]) -> None:
    text = str(exc.message)
    if exc.field and exc.field.startswith("attr:"):
        attr_errors[exc.field[5:]] = text
        return
    field = getattr(form, exc.field or "", None)
    if field is not None:
        field.errors = [*field.errors, text]
    else:
        flash(text, "error")


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def new() -> ResponseReturnValue:
    session = db.session()
    form, definitions = ContactForm(), _definitions()
    attr_errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            contact = service.create_contact(session, _input(form, definitions))
        except ContactError as exc:
            session.rollback()
            _show_error(form, exc, attr_errors)
        else:
            session.commit()
            flash(_("Contact added."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
    return render_template(
        "contacts/form.html",
        form=form,
        definitions=definitions,
        values=request.form,
        attr_errors=attr_errors,
    )


@bp.route("/<int:contact_id>", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def show(contact_id: int) -> ResponseReturnValue:
    session = db.session()
    contact = session.get(service.Contact, contact_id) or abort(404)
    definitions = _definitions()
    form = ContactForm(obj=contact)
    attr_errors: dict[str, str] = {}
    if request.method == "GET" and not contact.time_zone_manual:
        form.time_zone.data = ""
    if form.validate_on_submit():
        try:
            service.update_contact(session, contact.id, _input(form, definitions))
        except ContactError as exc:
            session.rollback()
            _show_error(form, exc, attr_errors)
        else:
            session.commit()
            flash(_("Contact saved."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
    session.refresh(contact)
    member_of = session.scalars(
        sa.select(ContactList)
        .join(ListMember, ListMember.list_id == ContactList.id)
        .where(ListMember.contact_id == contact.id)
        .order_by(ContactList.name)
    ).all()
    membership = MembershipForm()
    membership.list_id.choices = [
        (lst.id, lst.name)
        for lst in session.scalars(sa.select(ContactList).order_by(ContactList.name))
        if lst not in member_of
    ]
    states = session.execute(
        sa.select(ConsentState, Brand.name)
        .join(Brand, Brand.id == ConsentState.brand_id)
        .where(ConsentState.contact_id == contact.id)
        .order_by(Brand.name, ConsentState.channel)
    ).all()
    brands = dict(session.execute(sa.select(Brand.id, Brand.name)).all())
    timeline = service.timeline(session, contact.id, before=request.args.get("before"))
    return render_template(
        "contacts/show.html",
        contact=contact,
        form=form,
        definitions=definitions,
        values=request.form
        if request.method == "POST"
        else {d.key: contact.attributes.get(d.key, "") for d in definitions},
        attr_errors=attr_errors,
        member_of=member_of,
        membership=membership,
        confirm=ConfirmForm(),
        erase=EraseForm(),
        states=states,
        brands=brands,
        timeline=timeline,
    )


@bp.route("/<int:contact_id>/lists", methods=["POST"])
@require(Permission.AUDIENCES)
def add_to_list(contact_id: int) -> ResponseReturnValue:
    session = db.session()
    form = MembershipForm()
    list_id = request.form.get("list_id", type=int)
    if form.validate_on_submit() or list_id is not None:
        if list_id is None or session.get(ContactList, list_id) is None:
            abort(400)
        service.add_members(session, list_id, [contact_id])
        session.commit()
    return redirect(url_for("contacts.show", contact_id=contact_id))


@bp.route("/<int:contact_id>/lists/<int:list_id>/remove", methods=["POST"])
@require(Permission.AUDIENCES)
def remove_from_list(contact_id: int, list_id: int) -> ResponseReturnValue:
    session = db.session()
    if ConfirmForm().validate_on_submit():
        service.remove_members(session, list_id, [contact_id])
        session.commit()
    return redirect(url_for("contacts.show", contact_id=contact_id))


@bp.route("/<int:contact_id>/export.json")
@require(Permission.AUDIENCES)
def export(contact_id: int) -> ResponseReturnValue:
    session = db.session()
    contact = session.get(service.Contact, contact_id) or abort(404)
    document = service.export_number(session, contact.phone)
    log.info("data-subject export contact_id=%s by=%s", contact_id, current_user.id)
    body = json.dumps(document, ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


@bp.route("/<int:contact_id>/erase", methods=["POST"])
@require(Permission.AUDIENCES)
def erase(contact_id: int) -> ResponseReturnValue:
    session = db.session()
    contact = session.get(service.Contact, contact_id) or abort(404)
    form = EraseForm()
    typed = service.phones.normalise(form.confirm.data or "", service.default_region()).e164
    if not form.validate_on_submit() or typed != contact.phone:
        flash(_("The number typed does not match; nothing was erased."), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id))
    summary = service.erase_number(session, contact.phone, by=f"user:{current_user.id}")
    session.commit()
    flash(
        _(
            "The contact is erased: %(messages)d messages and %(inbound)d replies scrubbed; "
            "the number is blocked.",
            messages=summary["messages"],
            inbound=summary["inbound"],
        ),
        "success",
    )
    return redirect(url_for("contacts.index"))


# --- Lists and attributes -----------------------------------------------------------------


@bp.route("/lists", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def lists() -> ResponseReturnValue:
    session = db.session()
    form = NameForm()
    if form.validate_on_submit():
        try:
            service.create_list(session, form.name.data or "")
        except ContactError as exc:
            session.rollback()
            form.name.errors = [*form.name.errors, str(exc.message)]
        else:
            session.commit()
            flash(_("List created."), "success")
            return redirect(url_for("contacts.lists"))
    return render_template(
        "contacts/lists.html",
        form=form,
        rows=service.lists_with_counts(session),
        confirm=ConfirmForm(),
    )


@bp.route("/lists/<int:list_id>/rename", methods=["POST"])
@require(Permission.AUDIENCES)
def list_rename(list_id: int) -> ResponseReturnValue:
    session = db.session()
    form = NameForm()
    if form.validate_on_submit():
        try:
            service.rename_list(session, list_id, form.name.data or "")
        except ContactError as exc:
            session.rollback()
            flash(str(exc.message), "error")
        else:
            session.commit()
    return redirect(url_for("contacts.lists"))


@bp.route("/lists/<int:list_id>/delete", methods=["POST"])
@require(Permission.AUDIENCES)
def list_delete(list_id: int) -> ResponseReturnValue:
    session = db.session()
    if ConfirmForm().validate_on_submit():
        service.delete_list(session, list_id)
        session.commit()
        flash(_("List deleted; its contacts stay."), "success")
    return redirect(url_for("contacts.lists"))


@bp.route("/attributes", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def attributes() -> ResponseReturnValue:
    session = db.session()
    form = AttributeForm()
    if form.validate_on_submit():
        try:
            service.create_attribute(
                session, form.key.data or "", form.label.data or "", AttributeType(form.type.data)
            )
        except ContactError as exc:
            session.rollback()
            form.key.errors = [*form.key.errors, str(exc.message)]
        else:
            session.commit()
            flash(_("Attribute created."), "success")
            return redirect(url_for("contacts.attributes"))
    return render_template(
        "contacts/attributes.html", form=form, rows=_definitions(), confirm=ConfirmForm()
    )


@bp.route("/attributes/<int:attribute_id>/delete", methods=["POST"])
@require(Permission.AUDIENCES)
def attribute_delete(attribute_id: int) -> ResponseReturnValue:
    session = db.session()
    if ConfirmForm().validate_on_submit():
        service.delete_attribute(session, attribute_id)
        session.commit()
    return redirect(url_for("contacts.attributes"))


# --- Segments -----------------------------------------------------------------------------


@bp.route("/segments")
@require(Permission.AUDIENCES)
def segments_index() -> ResponseReturnValue:
    rows = db.session().scalars(sa.select(Segment).order_by(Segment.name)).all()
    return render_template("contacts/segments.html", rows=rows)


@bp.route("/segments/new", methods=["GET", "POST"])
@bp.route("/segments/<int:segment_id>", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def segment_edit(segment_id: int | None = None) -> ResponseReturnValue:
    session = db.session()
    segment = session.get(Segment, segment_id) if segment_id is not None else None
    if segment_id is not None and segment is None:
        abort(404)
    form = SegmentForm(obj=segment)
    if request.method == "GET":
        definition = segment.definition if segment else {"match": "all", "conditions": []}
        form.definition.data = json.dumps(definition, ensure_ascii=False)
    elif form.validate_on_submit():
        try:
            checked = segments.validate(session, json.loads(form.definition.data or ""))
        except (ValueError, RecursionError, SegmentError) as exc:
            form.definition.errors = [*form.definition.errors, str(getattr(exc, "message", exc))]
        else:
            taken = session.scalar(
                sa.select(Segment.id).where(
                    Segment.name == form.name.data, Segment.id != (segment_id or 0)
                )
            )
            if taken:
                form.name.errors = [
                    *form.name.errors,
                    _("A segment with this name already exists."),
                ]
            else:
                segment = segment or Segment()
                segment.name, segment.definition = (form.name.data or "").strip(), checked
                session.add(segment)
                session.commit()
                flash(_("Segment saved."), "success")
                return redirect(url_for("contacts.segment_edit", segment_id=segment.id))
    return render_template(
        "contacts/segment_form.html", form=form, segment=segment, **_builder_choices()
    )


def _builder_choices() -> dict[str, Any]:
    session = db.session()
    return {
        "builder": {
            "attributes": [
                {"key": d.key, "label": d.label, "type": d.type.value} for d in _definitions()
            ],
            "lists": [
                {"id": i, "name": n}
                for i, n in session.execute(sa.select(ContactList.id, ContactList.name))
            ],
            "brands": [
                {"id": i, "name": n} for i, n in session.execute(sa.select(Brand.id, Brand.name))
            ],
            "fields": list(segments.FIELD_OPS),
            "ops": {t.value: list(ops) for t, ops in segments.OPS_BY_TYPE.items()},
            "kinds": segments.describe_kinds(),
        }
    }


@bp.route("/segments/count")
@require(Permission.AUDIENCES)
def segment_count() -> ResponseReturnValue:
    """The live count of the builder: ``definition`` (JSON) in the query string."""
    session = db.session()
    try:
        definition = json.loads(request.args.get("definition", ""))
        total = segments.count(session, definition)
    except SegmentError as exc:
        return jsonify(error=str(exc.message), index=exc.index), 400
    except (ValueError, RecursionError):
        return jsonify(error=_("The definition is not valid JSON.")), 400
    return jsonify(count=total)
