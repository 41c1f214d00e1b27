"""The composer's form: what a marketer types, turned into a ``campaigns.CampaignInput``
(and back, to edit a saved campaign). Times are typed on the wall clock of the chosen
zone and stored in UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from interactive.contacts.models import Brand, ContactList, Segment
from interactive.outbound import labels
from interactive.outbound.campaigns import MAX_VARIANTS, CampaignInput, VariantInput
from interactive.outbound.models import Campaign, Goal, Recurrence, Traffic
from interactive.web.forms import timezone_choices

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
VALIDITY_MINUTES = (30, 60, 120, 240, 480, 720, 1440, 2880, 4320, 10080)
WHEN_NOW, WHEN_AT, WHEN_RECURRING = "now", "at", "recurring"
TEMPLATE_MAX = 2000


def _optional_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


class VariantForm(Form):
    """One variant (a sub-form: the CSRF token is the composer's)."""

    label = StringField(_l("Label"), validators=[InputRequired(), Length(max=8)])
    share = IntegerField(_l("Share (%)"), validators=[InputRequired(), NumberRange(0, 100)])
    template = TextAreaField(_l("Text"), validators=[Length(max=TEMPLATE_MAX)])


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=200)])
    goal = RadioField(_l("Goal"), choices=[], default=Goal.CLICKS.value)
    goal_value = StringField(
        _l("Conversion event or reply keyword"), validators=[Optional(), Length(max=64)]
    )
    traffic = RadioField(_l("Type"), choices=[], default=Traffic.COMMERCIAL.value)
    survey_id = SelectField(_l("Survey"), coerce=_optional_int, choices=[])
    brand_id = SelectField(_l("Brand"), coerce=_optional_int, choices=[])
    sender = StringField(_l("Sender ID"), validators=[Length(max=16)])
    connection = SelectField(_l("Route"), choices=[])
    lists = SelectMultipleField(_l("Lists"), coerce=int, choices=[])
    segments = SelectMultipleField(_l("Segments"), coerce=int, choices=[])
    exclude_lists = SelectMultipleField(_l("Except the lists"), coerce=int, choices=[])
    exclude_segments = SelectMultipleField(_l("Except the segments"), coerce=int, choices=[])
    variants = FieldList(FormField(VariantForm), min_entries=1, max_entries=MAX_VARIANTS)
    holdout_percent = IntegerField(
        _l("Hold-out (%)"), default=0, validators=[Optional(), NumberRange(0, 50)]
    )
    attribution_days = IntegerField(
        _l("Attribution window (days)"), default=7, validators=[Optional(), NumberRange(1, 90)]
    )
    validity_minutes = SelectField(_l("Validity"), coerce=_optional_int, choices=[])
    track_links = BooleanField(_l("Shorten and track links"), default=True)
    utm_source = StringField("utm_source", validators=[Optional(), Length(max=100)])
    utm_medium = StringField("utm_medium", validators=[Optional(), Length(max=100)])
    utm_campaign = StringField("utm_campaign", validators=[Optional(), Length(max=100)])
    utm_content = StringField("utm_content", validators=[Optional(), Length(max=100)])
    utm_term = StringField("utm_term", validators=[Optional(), Length(max=100)])
    when = RadioField(_l("Send"), choices=[], default=WHEN_NOW)
    send_at = DateTimeLocalField(
        _l("Date and time"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    time_zone = SelectField(_l("Time zone"), choices=timezone_choices)
    recurrence = SelectField(_l("Repeat"), choices=[], default=Recurrence.WEEKLY.value)
    recurrence_end = DateField(_l("Last day"), validators=[Optional()])
    window_start = TimeField(_l("Send only from"), format="%H:%M", validators=[Optional()])
    window_end = TimeField(_l("until"), format="%H:%M", validators=[Optional()])
    rate_per_second = IntegerField(
        _l("Throughput cap (messages/second)"), validators=[Optional(), NumberRange(min=1)]
    )


def campaign_form(
    session: Session,
    connections: Sequence[str],
    *,
    time_zone: str,
    campaign: Campaign | None = None,
) -> CampaignForm:
    """The composer with its choices: filled from the request on a POST, else from
    ``campaign`` (or the defaults of a new one, in ``time_zone``)."""
    form = CampaignForm()
    form.goal.choices = [(g.value, str(labels.GOALS[g])) for g in Goal]
    form.traffic.choices = [
        (t.value, str(labels.TRAFFIC[t])) for t in (Traffic.COMMERCIAL, Traffic.INFORMATIONAL)
    ]
    form.survey_id.choices = [("", _("— no survey —"))] + [
        (survey.id, f"{survey.name} ({survey.short_code})") for survey in _live_surveys(session)
    ]
    form.brand_id.choices = [("", _("— no brand —"))] + [
        (b.id, f"{b.name} ({b.code})")
        for b in session.scalars(sa.select(Brand).order_by(Brand.name))
    ]
    form.connection.choices = [(name, name) for name in connections]
    lists = [
        (i, n)
        for i, n in session.execute(
            sa.select(ContactList.id, ContactList.name).order_by(ContactList.name)
        )
    ]
    segments = [
        (i, n)
        for i, n in session.execute(sa.select(Segment.id, Segment.name).order_by(Segment.name))
    ]
    form.lists.choices = form.exclude_lists.choices = lists
    form.segments.choices = form.exclude_segments.choices = segments
    form.validity_minutes.choices = _validity_choices(
        campaign.validity_minutes if campaign else None
    )
    form.when.choices = [
        (WHEN_NOW, _("As soon as it is scheduled")),
        (WHEN_AT, _("At a date and time")),
        (WHEN_RECURRING, _("Repeatedly")),
    ]
    form.recurrence.choices = [
        (r.value, str(labels.RECURRENCES[r])) for r in Recurrence if r != Recurrence.NONE
    ]
    if not form.is_submitted():
        if campaign is not None:
            fill(form, campaign)
        else:
            form.time_zone.data = time_zone
            if connections:
                form.connection.data = connections[0]
            first = form.variants.entries[0].form
            first.label.data, first.share.data = "A", 100
    return form


def _validity_choices(current: int | None) -> list[tuple[Any, str]]:
    minutes = sorted({*VALIDITY_MINUTES, *([current] if current else [])})
    return [("", _("The route's default"))] + [(m, _duration(m)) for m in minutes]


def _duration(minutes: int) -> str:
    if minutes % 1440 == 0:
        return _("%(n)d days", n=minutes // 1440) if minutes > 1440 else _("1 day")
    if minutes % 60 == 0:
        return _("%(n)d hours", n=minutes // 60) if minutes > 60 else _("1 hour")
    return _("%(n)d minutes", n=minutes)


def _live_surveys(session: Session) -> list[Any]:
    from interactive.surveys.models import Survey, SurveyStatus

    return list(
        session.scalars(
            sa.select(Survey).where(Survey.status == SurveyStatus.LIVE).order_by(Survey.name)
        )
    )


def fill(form: CampaignForm, campaign: Campaign) -> None:
    """Put a saved campaign into the form, its times on its own wall clock."""
    zone = _zone(campaign.time_zone)
    form.name.data = campaign.name
    form.goal.data = campaign.goal.value
    form.goal_value.data = campaign.goal_value or ""
    form.traffic.data = campaign.traffic.value
    form.brand_id.data = campaign.brand_id
    form.survey_id.data = campaign.survey_id
    form.sender.data = campaign.sender
    form.connection.data = campaign.connection
    audience = campaign.audience or {}
    for key in ("lists", "segments", "exclude_lists", "exclude_segments"):
        getattr(form, key).data = list(audience.get(key, []))
    while len(form.variants.entries) < len(campaign.variants):
        form.variants.append_entry()
    for entry, variant in zip(form.variants.entries, campaign.variants, strict=False):
        entry.form.label.data = variant.label
        entry.form.share.data = variant.share
        entry.form.template.data = variant.template
    form.holdout_percent.data = campaign.holdout_percent
    form.attribution_days.data = campaign.attribution_days
    form.validity_minutes.data = campaign.validity_minutes
    form.track_links.data = campaign.track_links
    for key in UTM_KEYS:
        getattr(form, key).data = (campaign.utm or {}).get(key, "")
    form.time_zone.data = campaign.time_zone
    if campaign.recurrence != Recurrence.NONE:
        form.when.data = WHEN_RECURRING
        form.recurrence.data = campaign.recurrence.value
    else:
        form.when.data = WHEN_AT if campaign.send_at else WHEN_NOW
    if campaign.send_at is not None:
        form.send_at.data = campaign.send_at.astimezone(zone).replace(tzinfo=None)
    if campaign.recurrence_end is not None:
        form.recurrence_end.data = campaign.recurrence_end.astimezone(zone).date()
    if campaign.window_start is not None:
        form.window_start.data = _time_of(campaign.window_start)
    if campaign.window_end is not None:
        form.window_end.data = _time_of(campaign.window_end)
    form.rate_per_second.data = campaign.rate_per_second


def to_input(form: CampaignForm) -> tuple[CampaignInput, list[str]]:
    """The campaign the form describes, and what keeps it from making sense (a date
    missing for a scheduled send…). Reads what it can even from an invalid form, so that
    the live preview works while the person is still typing."""
    problems: list[str] = []
    zone_name = form.time_zone.data or "Europe/Istanbul"
    zone = _zone(zone_name)
    when = form.when.data or WHEN_NOW
    send_at = recurrence_end = None
    recurrence = Recurrence.NONE
    if when in (WHEN_AT, WHEN_RECURRING):
        if form.send_at.data is None:
            problems.append(_("Choose the date and time of the sending."))
        else:
            send_at = _utc(form.send_at.data, zone)
    if when == WHEN_RECURRING:
        recurrence = _enum(Recurrence, form.recurrence.data, Recurrence.WEEKLY)
        if form.recurrence_end.data is not None:
            last = datetime.combine(form.recurrence_end.data + timedelta(days=1), time())
            recurrence_end = _utc(last, zone) - timedelta(seconds=1)
    audience = {
        key: [int(v) for v in getattr(form, key).data or []]
        for key in ("lists", "segments", "exclude_lists", "exclude_segments")
    }
    data = CampaignInput(
        name=(form.name.data or "").strip(),
        traffic=_enum(Traffic, form.traffic.data, Traffic.COMMERCIAL),
        sender=(form.sender.data or "").strip(),
        connection=form.connection.data or "",
        variants=variant_inputs(form),
        goal=_enum(Goal, form.goal.data, Goal.CLICKS),
        goal_value=(form.goal_value.data or "").strip() or None,
        brand_id=form.brand_id.data if isinstance(form.brand_id.data, int) else None,
        audience=audience,
        holdout_percent=form.holdout_percent.data or 0,
        attribution_days=form.attribution_days.data or 7,
        send_at=send_at,
        time_zone=zone_name,
        recurrence=recurrence,
        recurrence_end=recurrence_end,
        window_start=_minutes(form.window_start.data),
        window_end=_minutes(form.window_end.data),
        rate_per_second=form.rate_per_second.data,
        validity_minutes=form.validity_minutes.data
        if isinstance(form.validity_minutes.data, int)
        else None,
        track_links=bool(form.track_links.data),
        utm={k: v for k in UTM_KEYS if (v := (getattr(form, k).data or "").strip())},
        survey_id=form.survey_id.data if isinstance(form.survey_id.data, int) else None,
    )
    if data.goal == Goal.CLICKS:
        data.goal_value = None
    return data, problems


def variant_inputs(form: CampaignForm) -> list[VariantInput]:
    return [
        VariantInput(
            label=(entry.form.label.data or "").strip(),
            share=entry.form.share.data if isinstance(entry.form.share.data, int) else 0,
            template=(entry.form.template.data or "").replace("\r\n", "\n"),
        )
        for entry in form.variants.entries
    ]


def _enum(kind: Any, value: Any, default: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return default


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def _minutes(value: time | None) -> int | None:
    return None if value is None else value.hour * 60 + value.minute


def _time_of(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)
