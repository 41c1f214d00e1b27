"""Forms of the web package (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

import zoneinfo
from functools import cache

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from interactive.web.i18n import LANGUAGES
from interactive.web.models import Role
from interactive.web.service import EMAIL_PATTERN

PASSWORD_LENGTH = _l("The password must be at least 10 characters long.")


@cache
def timezone_choices() -> list[tuple[str, str]]:
    return [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz]


def role_choices() -> list[tuple[str, str]]:
    labels = {
        Role.ADMIN: _l("Admin: everything, users and settings"),
        Role.MARKETER: _l("Marketer: audiences, campaigns, links, surveys, analytics"),
        Role.DESK: _l("Desk: inbox and bookings"),
        Role.VIEWER: _l("Viewer: read-only dashboards"),
    }
    return [(role.value, str(labels[role])) for role in Role]


def language_choices() -> list[tuple[str, str]]:
    return list(LANGUAGES.items())


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField(_l("Keep me signed in on this device"))


class LogoutForm(FlaskForm):
    """Sign-out is a POST so that another site cannot sign a user out with a link."""


class SectionForm(FlaskForm):
    """One of several forms on a page; a hidden ``form_name`` field says which was sent."""

    def submit_ok(self, name: str) -> bool:
        return request.form.get("form_name") == name and self.validate_on_submit()


class PreferencesForm(SectionForm):
    name = StringField(_l("Name"), validators=[Length(max=120)])
    locale = SelectField(_l("Language"), choices=language_choices)
    timezone = SelectField(_l("Time zone"), choices=timezone_choices)


class ChangePasswordForm(SectionForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=10, max=1024, message=PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The passwords differ."))],
    )


class UserCreateForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(),
            Regexp(EMAIL_PATTERN, message=_l("Enter a valid email address.")),
            Length(max=254),
        ],
    )
    name = StringField(_l("Name"), validators=[Length(max=120)])
    role = SelectField(_l("Role"), choices=role_choices)
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(), Length(min=10, max=1024, message=PASSWORD_LENGTH)],
    )
    locale = SelectField(_l("Language"), choices=language_choices)
    timezone = SelectField(_l("Time zone"), choices=timezone_choices)


class UserEditForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=120)])
    role = SelectField(_l("Role"), choices=role_choices)
    active = BooleanField(_l("Active (may sign in)"))
    locale = SelectField(_l("Language"), choices=language_choices)
    timezone = SelectField(_l("Time zone"), choices=timezone_choices)
    new_password = PasswordField(
        _l("New password (leave empty to keep)"),
        validators=[Optional(), Length(min=10, max=1024, message=PASSWORD_LENGTH)],
    )


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=role_choices)


class ConfirmForm(FlaskForm):
    """A bare form for POST buttons (revoke, …): only the CSRF token."""
