"""Language and time zone per user; translated texts for service error codes."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

LANGUAGES = {"tr": "Türkçe", "en": "English"}

# Service errors carry a stable code; people see these texts.
ERROR_TEXTS = {
    "invalid_email": _l("Enter a valid email address."),
    "email_taken": _l("A user with this email address already exists."),
    "password_too_short": _l("The password must be at least 10 characters long."),
    "password_is_email": _l("The password must not be the email address."),
    "invalid_locale": _l("Unknown language."),
    "invalid_timezone": _l("Unknown time zone."),
    "cannot_demote_self": _l("You cannot remove your own admin rights or deactivate yourself."),
    "last_admin": _l("At least one active admin must remain."),
    "wrong_password": _l("The current password is not correct."),
    "name_required": _l("Enter a name."),
}


ROLE_LABELS = {
    "admin": _l("Admin"),
    "marketer": _l("Marketer"),
    "desk": _l("Desk"),
    "viewer": _l("Viewer"),
}


def role_label(role: object) -> str:
    value = getattr(role, "value", role)
    return str(ROLE_LABELS.get(str(value), value))


def error_text(code: str) -> str:
    text = ERROR_TEXTS.get(code)
    return str(text) if text is not None else code


def select_locale() -> str:
    if current_user and current_user.is_authenticated:
        return str(current_user.locale)
    best = request.accept_languages.best_match(list(LANGUAGES)) if request else None
    return best or str(current_app.config["DEFAULT_LOCALE"])


def select_timezone() -> str:
    if current_user and current_user.is_authenticated:
        return str(current_user.timezone)
    return str(current_app.config["DEFAULT_TIMEZONE"])
