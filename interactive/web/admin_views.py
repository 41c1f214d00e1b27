"""Admin pages: users and API keys."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from interactive.db import db
from interactive.web import service
from interactive.web.auth import require
from interactive.web.forms import ApiKeyForm, ConfirmForm, UserCreateForm, UserEditForm
from interactive.web.i18n import error_text
from interactive.web.models import ApiKey, Permission, Role, User

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__)


@bp.route("/users")
@require(Permission.USERS)
def users() -> ResponseReturnValue:
    rows = db.session().scalars(sa.select(User).order_by(User.email)).all()
    return render_template("web/admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@require(Permission.USERS)
def user_new() -> ResponseReturnValue:
    form = UserCreateForm()
    if not form.is_submitted():
        form.locale.data = current_user.locale
        form.timezone.data = current_user.timezone
        form.role.data = Role.MARKETER.value
    elif form.validate_on_submit():
        dbs = db.session()
        try:
            user = service.create_user(
                dbs,
                email=form.email.data or "",
                password=form.password.data or "",
                role=Role(form.role.data),
                name=form.name.data or "",
                locale=form.locale.data or "",
                timezone=form.timezone.data or "",
            )
        except service.ServiceError as exc:
            dbs.rollback()
            _field_error(form, exc)
        else:
            dbs.commit()
            flash(_("User %(email)s is created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template("web/admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require(Permission.USERS)
def user_edit(user_id: int) -> ResponseReturnValue:
    dbs = db.session()
    user = dbs.get(User, user_id) or abort(404)
    form = UserEditForm(obj=user)
    if not form.is_submitted():
        form.role.data = user.role.value
    elif form.validate_on_submit():
        try:
            service.update_user(
                dbs,
                user,
                name=form.name.data or "",
                role=Role(form.role.data),
                active=bool(form.active.data),
                locale=form.locale.data,
                timezone=form.timezone.data,
                acting_user_id=current_user.id,
            )
            if form.new_password.data:
                service.set_password(dbs, user, form.new_password.data)
        except service.ServiceError as exc:
            dbs.rollback()
            _field_error(form, exc)
        else:
            dbs.commit()
            log.info("user updated user_id=%s by=%s", user.id, current_user.id)
            flash(_("User %(email)s is saved.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template("web/admin/user_form.html", form=form, user=user)


def _field_error(form: UserCreateForm | UserEditForm, exc: service.ServiceError) -> None:
    field = getattr(form, exc.field or "", None)
    if field is None and exc.field == "password":
        field = getattr(form, "new_password", None)
    text = error_text(exc.message)
    if field is not None:
        field.errors = [*field.errors, text]
    else:
        flash(text, "error")


@bp.route("/api-keys", methods=["GET", "POST"])
@require(Permission.USERS)
def api_keys() -> ResponseReturnValue:
    dbs = db.session()
    form = ApiKeyForm()
    new_token = None
    if not form.is_submitted():
        form.role.data = Role.MARKETER.value
    elif form.validate_on_submit():
        try:
            new_token = service.create_api_key(
                dbs,
                name=form.name.data or "",
                role=Role(form.role.data),
                created_by=current_user._get_current_object(),
            )
        except service.ServiceError as exc:
            dbs.rollback()
            flash(error_text(exc.message), "error")
        else:
            dbs.commit()
            form = ApiKeyForm(formdata=None)
            form.role.data = Role.MARKETER.value
    keys = dbs.scalars(sa.select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
    return render_template(
        "web/admin/api_keys.html",
        form=form,
        keys=keys,
        new_token=new_token,
        confirm=ConfirmForm(),
    )


@bp.route("/api-keys/<int:key_id>/revoke", methods=["POST"])
@require(Permission.USERS)
def api_key_revoke(key_id: int) -> ResponseReturnValue:
    dbs = db.session()
    api_key = dbs.get(ApiKey, key_id) or abort(404)
    if ConfirmForm().validate_on_submit():
        service.revoke_api_key(dbs, api_key)
        dbs.commit()
        flash(_("API key %(name)s is revoked.", name=api_key.name), "success")
    return redirect(url_for("admin.api_keys"))
