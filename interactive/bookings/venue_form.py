"""The venue settings form: opening hours typed per weekday ("12:00-15:00, 18:00-23:00"),
closed dates one per line, the slot rules, the keyword that takes bookings, the reply
texts per language. Saving keeps one ``booking`` keyword rule on the venue's short code."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app, flash, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from interactive.bookings.models import Venue
from interactive.bookings.notices import KINDS
from interactive.contacts.models import Brand
from interactive.keywords import rules
from interactive.keywords.models import KeywordRule, MatchMode, ShortCode, Webhook
from interactive.keywords.shortcodes import ensure_short_codes

WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)
ALIASES = ["REZERVASYON", "BOOK", "BOOKING"]
_WINDOW = re.compile(r"^\s*(\d{1,2}[:.]\d{2})\s*-\s*(\d{1,2}[:.]\d{2})\s*$")


class VenueForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    short_code = StringField(_l("Short code"), validators=[InputRequired(), Length(max=21)])
    keyword = StringField(_l("Booking keyword"), default="REZ", validators=[Length(max=64)])
    brand_id = SelectField(_l("Brand"), coerce=int, choices=[])
    time_zone = StringField(_l("Time zone"), default="Europe/Istanbul")
    hours_0 = StringField(WEEKDAYS[0], default="12:00-23:00")
    hours_1 = StringField(WEEKDAYS[1], default="12:00-23:00")
    hours_2 = StringField(WEEKDAYS[2], default="12:00-23:00")
    hours_3 = StringField(WEEKDAYS[3], default="12:00-23:00")
    hours_4 = StringField(WEEKDAYS[4], default="12:00-23:00")
    hours_5 = StringField(WEEKDAYS[5], default="12:00-23:00")
    hours_6 = StringField(WEEKDAYS[6], default="12:00-23:00")
    closed_dates = TextAreaField(_l("Closed dates (one per line, 2026-12-31)"))
    slot_minutes = IntegerField(
        _l("Slot length (minutes)"), default=30, validators=[NumberRange(5, 600)]
    )
    capacity = IntegerField(_l("Covers per slot"), default=40, validators=[NumberRange(0, 10000)])
    max_party = IntegerField(_l("Largest party"), default=10, validators=[NumberRange(1, 1000)])
    lead_minutes = IntegerField(
        _l("Book at least this many minutes ahead"), default=60, validators=[NumberRange(0)]
    )
    ahead_days = IntegerField(
        _l("Book at most this many days ahead"), default=60, validators=[NumberRange(1, 730)]
    )
    auto_confirm = BooleanField(_l("Confirm by itself when there is room"), default=True)
    reminder_hours = IntegerField(
        _l("Reminder this many hours before (0: none)"), default=3, validators=[NumberRange(0, 72)]
    )
    webhook_id = SelectField(_l("Webhook for booking changes"), coerce=int, choices=[])

    @classmethod
    def for_venue(cls, session: Session, venue: Venue | None) -> VenueForm:
        form = cls(obj=venue) if venue is not None else cls()
        form.brand_id.choices = [(0, "—")] + [
            (b.id, b.name) for b in session.scalars(sa.select(Brand).order_by(Brand.name))
        ]
        form.webhook_id.choices = [(0, "—")] + [
            (w.id, w.name) for w in session.scalars(sa.select(Webhook).order_by(Webhook.name))
        ]
        if venue is not None and request.method == "GET":
            form.brand_id.data = venue.brand_id or 0
            form.webhook_id.data = venue.webhook_id or 0
            for day in range(7):
                windows = (venue.hours or {}).get(str(day), [])
                getattr(form, f"hours_{day}").data = ", ".join(f"{a}-{b}" for a, b in windows)
            form.closed_dates.data = "\n".join(venue.closed_dates or [])
            rule = _rule_of(session, venue)
            form.keyword.data = rule.keyword if rule is not None else ""
        return form

    def hour_fields(self) -> list[Any]:
        return [getattr(self, f"hours_{day}") for day in range(7)]


def reply_kinds() -> dict[str, Any]:
    return KINDS


def _hours(form: VenueForm) -> dict[str, list[list[str]]] | None:
    hours: dict[str, list[list[str]]] = {}
    ok = True
    for day, field in enumerate(form.hour_fields()):
        windows = []
        for part in filter(None, (p.strip() for p in (field.data or "").split(","))):
            match = _WINDOW.match(part)
            try:
                if match is None:
                    raise ValueError(part)
                start, end = (
                    time.fromisoformat(m.replace(".", ":").zfill(5)) for m in match.groups()
                )
            except ValueError:
                field.errors = [_("Write windows like 12:00-15:00, 18:00-23:00.")]
                ok = False
                break
            windows.append([f"{start:%H:%M}", f"{end:%H:%M}"])
        hours[str(day)] = windows
    return hours if ok else None


def _closed(form: VenueForm) -> list[str] | None:
    days = []
    for line in filter(None, (row.strip() for row in (form.closed_dates.data or "").splitlines())):
        try:
            days.append(date.fromisoformat(line).isoformat())
        except ValueError:
            form.closed_dates.errors = [_("“%(line)s” is not a date like 2026-12-31.", line=line)]
            return None
    return sorted(set(days))


def _replies() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        for language in ("tr", "en"):
            text = (request.form.get(f"reply-{kind}-{language}") or "").strip()
            if text:
                found.setdefault(kind, {})[language] = text[:1000]
    return found


def save_venue(session: Session, form: VenueForm, venue: Venue | None) -> Venue | None:
    """The venue as the form says, with its keyword rule (None, with the form's errors set
    or flashed, when something is wrong)."""
    hours, closed = _hours(form), _closed(form)
    try:
        ZoneInfo(form.time_zone.data or "")
    except (ZoneInfoNotFoundError, ValueError):
        form.time_zone.errors = [_("Unknown time zone; write one like Europe/Istanbul.")]
        return None
    if hours is None or closed is None:
        return None
    clash = session.scalar(
        sa.select(Venue.id).where(
            Venue.name == form.name.data, Venue.id != (venue.id if venue else -1)
        )
    )
    if clash is not None:
        form.name.errors = [_("Another venue has this name.")]
        return None
    venue = venue or Venue()
    venue.name = (form.name.data or "").strip()
    venue.short_code = (form.short_code.data or "").strip()
    venue.brand_id = form.brand_id.data or None
    venue.time_zone = form.time_zone.data or "Europe/Istanbul"
    venue.hours = hours
    venue.closed_dates = closed
    venue.slot_minutes = form.slot_minutes.data or 30
    venue.capacity = form.capacity.data or 0
    venue.max_party = form.max_party.data or 1
    venue.lead_minutes = form.lead_minutes.data or 0
    venue.ahead_days = form.ahead_days.data or 60
    venue.auto_confirm = bool(form.auto_confirm.data)
    venue.reminder_hours = form.reminder_hours.data or 0
    venue.webhook_id = form.webhook_id.data or None
    venue.replies = _replies()
    session.add(venue)
    session.flush()
    return venue if _keep_rule(session, venue, (form.keyword.data or "").strip()) else None


def _rule_of(session: Session, venue: Venue) -> KeywordRule | None:
    for rule in session.scalars(sa.select(KeywordRule).where(KeywordRule.handler == "booking")):
        if str((rule.settings or {}).get("venue_id")) == str(venue.id):
            return rule
    return None


def _short_code(session: Session, code: str) -> ShortCode:
    """The short code's row, made for the connection that serves it if there is none."""
    found = session.scalar(sa.select(ShortCode).where(ShortCode.code == code))
    if found is not None:
        return found
    connections = current_app.config["SMPP_CONNECTION_LIST"]
    serving = [c.name for c in connections if code in c.short_codes]
    name = serving[0] if serving else (connections[0].name if connections else "simulator")
    return ensure_short_codes(session, [(code, name)])[code]


def _keep_rule(session: Session, venue: Venue, keyword: str) -> bool:
    """One active ``booking`` rule for the venue on its short code (none without a keyword)."""
    rule = _rule_of(session, venue)
    if not keyword:
        if rule is not None:
            rules.delete_rule(session, rule)
        return True
    code = _short_code(session, venue.short_code)
    data = rules.RuleInput(
        short_code_id=code.id,
        keyword=keyword,
        aliases=[a for a in ALIASES if a != keyword.upper()],
        match_mode=MatchMode.FIRST_WORD,
        handler="booking",
        settings={"venue_id": venue.id},
        fuzzy=True,
    )
    try:
        if rule is None:
            rules.create_rule(session, data)
        else:
            rules.update_rule(session, rule, data)
    except rules.RuleError as exc:
        for problem in exc.problems:
            flash(str(problem.message), "error")
        return False
    return True
