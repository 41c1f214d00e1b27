"""Campaigns: saving a draft, the checks before scheduling, the lifecycle (schedule,
pause, resume, cancel), audiences, send windows and recurrences, the recipients list (the funnel is
read from the rollups: ``interactive.analytics.funnel``).

Lifecycle: DRAFT → SCHEDULED → SENDING → COMPLETED, with PAUSED ⇄ SENDING and CANCELLED
from any state before COMPLETED. Pause and cancel act within seconds mid-send: chunk jobs
stop at their next chunk, and the gateway's claim skips messages of a campaign that is
paused or cancelled (cancel also finishes its queued messages as CANCELLED); resume
publishes the still-queued messages again.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
import sqlalchemy as sa
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.contacts import segments as segment_rules
from interactive.contacts.models import AttributeDefinition, Brand, Contact, ListMember, Segment
from interactive.db import utcnow
from interactive.outbound import delivery, rendering
from interactive.outbound.models import (
    Campaign,
    CampaignChunk,
    CampaignRun,
    CampaignState,
    ChunkState,
    Goal,
    Message,
    MessagePart,
    PartState,
    Recipient,
    RecipientReason,
    RecipientStatus,
    Recurrence,
    RunState,
    Traffic,
    Variant,
)
from interactive.outbound.service import outbound_stream
from interactive.streams import publish_after_commit

log = logging.getLogger(__name__)

EDITABLE = (CampaignState.DRAFT, CampaignState.SCHEDULED)
AUDIENCE_KEYS = ("lists", "segments", "exclude_lists", "exclude_segments")
MAX_VARIANTS = 5


class CampaignError(ValueError):
    """What keeps a campaign from being saved or scheduled: one message per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass
class VariantInput:
    label: str
    share: int
    template: str


@dataclass
class CampaignInput:
    """A campaign as a person (or an API client) writes it."""

    name: str
    traffic: Traffic
    sender: str
    connection: str
    variants: list[VariantInput]
    goal: Goal = Goal.CLICKS
    goal_value: str | None = None
    brand_id: int | None = None
    audience: dict[str, list[int]] = field(default_factory=dict)
    holdout_percent: int = 0
    attribution_days: int = 7
    send_at: datetime | None = None
    time_zone: str = "Europe/Istanbul"
    recurrence: Recurrence = Recurrence.NONE
    recurrence_end: datetime | None = None
    window_start: int | None = None
    window_end: int | None = None
    rate_per_second: int | None = None
    validity_minutes: int | None = None
    track_links: bool = True
    utm: dict[str, str] = field(default_factory=dict)
    survey_id: int | None = None


def save(
    session: Session, data: CampaignInput, *, campaign: Campaign | None = None, user_id: int | None
) -> Campaign:
    """Create a draft or change one that has not started (flushes). CampaignError for
    what can never be right (bad sender, shares, zone…); a scheduled campaign that is
    changed goes back to DRAFT and must be scheduled again."""
    problems = _shape_problems(data)
    if problems:
        raise CampaignError(problems)
    if campaign is None:
        campaign = Campaign(created_by=user_id, state=CampaignState.DRAFT)
        session.add(campaign)
    elif campaign.state not in EDITABLE:
        raise CampaignError([str(_l("Only a draft or scheduled campaign can be changed."))])
    campaign.state = CampaignState.DRAFT
    campaign.next_run_at = None
    for name in (
        "name",
        "traffic",
        "sender",
        "connection",
        "goal",
        "goal_value",
        "brand_id",
        "holdout_percent",
        "attribution_days",
        "send_at",
        "time_zone",
        "recurrence",
        "recurrence_end",
        "window_start",
        "window_end",
        "rate_per_second",
        "validity_minutes",
        "track_links",
        "utm",
        "survey_id",
    ):
        setattr(campaign, name, getattr(data, name))
    campaign.audience = {k: sorted(set(data.audience.get(k, []))) for k in AUDIENCE_KEYS}
    existing = {v.label: v for v in campaign.variants}
    wanted = []
    opening = survey_opening(session, data.survey_id) if data.survey_id else ""
    for item in data.variants:
        variant = existing.get(item.label) or Variant(label=item.label)
        variant.share = item.share
        variant.template = item.template if item.template.strip() else opening or item.template
        wanted.append(variant)
    campaign.variants = wanted
    session.flush()
    return campaign


def _shape_problems(data: CampaignInput) -> list[str]:
    problems: list[str] = []
    if not data.name.strip():
        problems.append(str(_l("A campaign needs a name.")))
    sender_problem = rendering.check_sender(data.sender)
    if sender_problem == "too_long":
        problems.append(str(_l("An alphanumeric sender ID has at most 11 characters.")))
    elif sender_problem:
        problems.append(str(_l("The sender ID must be up to 11 letters and digits, or a number.")))
    if not data.variants:
        problems.append(str(_l("A campaign needs a message.")))
    if len(data.variants) > MAX_VARIANTS:
        problems.append(str(_l("At most %(n)d variants.", n=MAX_VARIANTS)))
    labels = [v.label for v in data.variants]
    if len(set(labels)) != len(labels):
        problems.append(str(_l("Each variant needs its own label.")))
    if data.variants and sum(v.share for v in data.variants) != 100:
        problems.append(str(_l("The variants' shares must add up to 100%.")))
    if any(v.share < 0 or v.share > 100 for v in data.variants):
        problems.append(str(_l("A share is between 0 and 100%.")))
    if not 0 <= data.holdout_percent <= 50:
        problems.append(str(_l("The hold-out is between 0 and 50%.")))
    if not 1 <= data.attribution_days <= 90:
        problems.append(str(_l("The attribution window is between 1 and 90 days.")))
    try:
        ZoneInfo(data.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(str(_l("Unknown time zone: %(zone)s", zone=data.time_zone)))
    if (data.window_start is None) != (data.window_end is None):
        problems.append(str(_l("A send window needs a start and an end.")))
    for minute in (data.window_start, data.window_end):
        if minute is not None and not 0 <= minute < 24 * 60:
            problems.append(str(_l("A send window is given in times of day.")))
    if data.window_start is not None and data.window_start == data.window_end:
        problems.append(str(_l("A send window cannot start and end at the same time.")))
    if data.rate_per_second is not None and data.rate_per_second <= 0:
        problems.append(str(_l("The throughput cap must be a positive number.")))
    if data.validity_minutes is not None and not 1 <= data.validity_minutes <= 99 * 24 * 60:
        problems.append(str(_l("The validity is between 1 minute and 99 days.")))
    if data.goal != Goal.CLICKS and not (data.goal_value or "").strip():
        problems.append(str(_l("Name the conversion event or the reply keyword of the goal.")))
    if data.recurrence != Recurrence.NONE and data.send_at is None:
        problems.append(str(_l("A recurring campaign needs its first date and time.")))
    for key in data.utm:
        if not re.fullmatch(r"utm_[a-z_]{1,20}", key):
            problems.append(str(_l("Unknown UTM parameter: %(key)s", key=key)))
    return problems


def problems_before_scheduling(
    session: Session, campaign: Campaign, connections: Mapping[str, Any], now: datetime
) -> list[str]:
    """Everything that keeps a saved campaign from going out, for the person to fix."""
    problems: list[str] = []
    connection = connections.get(campaign.connection)
    if connection is None:
        problems.append(str(_l("Choose a route (SMSC connection).")))
    brand = session.get(Brand, campaign.brand_id) if campaign.brand_id else None
    if campaign.traffic == Traffic.COMMERCIAL:
        if brand is None:
            problems.append(str(_l("A commercial campaign needs a brand (consent is per brand).")))
        if (
            connection is not None
            and not connection.short_codes
            and not (brand and brand.opt_out_text)
        ):
            problems.append(
                str(_l("The route has no short code for opt-outs; give the brand an opt-out text."))
            )
    if not any(campaign.audience.get(k) for k in ("lists", "segments")):
        problems.append(str(_l("Choose at least one list or segment.")))
    if campaign.survey_id is not None:
        problems += _survey_problems(session, campaign)
    try:
        audience_select(session, campaign.audience)
    except segment_rules.SegmentError as exc:
        problems.append(str(exc))
    known = template_variables(session)
    for variant in campaign.variants:
        try:
            rendering.check_template(variant.template, known)
        except rendering.TemplateError as exc:
            problems.append(template_problem(variant.label, exc))
        if not variant.template.strip():
            problems.append(str(_l("Variant %(label)s has no text.", label=variant.label)))
    if campaign.send_at is not None and campaign.send_at < now - timedelta(minutes=1):
        problems.append(str(_l("The send time is in the past.")))
    end, start = campaign.recurrence_end, campaign.send_at
    if end is not None and start is not None and end <= start:
        problems.append(str(_l("The recurrence ends before it starts.")))
    return problems


def template_problem(label: str, error: rendering.TemplateError) -> str:
    text = str(error)
    if text.startswith("unknown variable: "):
        name = text.removeprefix("unknown variable: ")
        return str(_l("Variant %(label)s: unknown variable “%(name)s”.", label=label, name=name))
    if error.line is not None:
        return str(
            _l(
                "Variant %(label)s, line %(line)d: %(error)s",
                label=label,
                line=error.line,
                error=text,
            )
        )
    return str(_l("Variant %(label)s: %(error)s", label=label, error=text))


def schedule(
    session: Session, campaign: Campaign, connections: Mapping[str, Any], now: datetime
) -> None:
    """DRAFT → SCHEDULED (to start at ``send_at``, or at once); CampaignError with the
    problems otherwise. Flushes."""
    if campaign.state != CampaignState.DRAFT:
        raise CampaignError([str(_l("Only a draft can be scheduled."))])
    problems = problems_before_scheduling(session, campaign, connections, now)
    if problems:
        raise CampaignError(problems)
    campaign.state = CampaignState.SCHEDULED
    campaign.next_run_at = campaign.send_at or now
    session.flush()
    log.info("campaign scheduled campaign_id=%s at=%s", campaign.id, campaign.next_run_at)


def unschedule(session: Session, campaign: Campaign) -> None:
    if campaign.state != CampaignState.SCHEDULED:
        raise CampaignError([str(_l("Only a scheduled campaign can go back to draft."))])
    campaign.state = CampaignState.DRAFT
    campaign.next_run_at = None
    session.flush()


def pause(session: Session, campaign: Campaign) -> None:
    if campaign.state != CampaignState.SENDING:
        raise CampaignError([str(_l("Only a campaign that is sending can be paused."))])
    campaign.state = CampaignState.PAUSED
    session.flush()
    log.info("campaign paused campaign_id=%s", campaign.id)


def resume(session: Session, campaign: Campaign, client: redis.Redis, prefix: str) -> int:
    """PAUSED → SENDING; its messages still QUEUED are published again (after commit) and
    its pending chunks go on. Returns how many messages were published."""
    if campaign.state != CampaignState.PAUSED:
        raise CampaignError([str(_l("Only a paused campaign can be resumed."))])
    campaign.state = CampaignState.SENDING
    session.execute(
        sa.update(CampaignChunk)
        .where(
            CampaignChunk.state == ChunkState.QUEUED,
            CampaignChunk.run_id.in_(
                sa.select(CampaignRun.id).where(CampaignRun.campaign_id == campaign.id)
            ),
        )
        .values(state=ChunkState.PENDING)
        .execution_options(synchronize_session=False)
    )
    ids = list(
        session.scalars(
            sa.select(Message.id)
            .where(Message.campaign_id == campaign.id, Message.state == PartState.QUEUED)
            .order_by(Message.id)
        )
    )
    if ids:
        stream = outbound_stream(prefix, campaign.connection)
        if campaign.rate_per_second:
            base = utcnow().timestamp()
            step = 1.0 / campaign.rate_per_second
            items: list[dict[str, Any]] = [
                {"id": m, "not_before": base + i * step} for i, m in enumerate(ids)
            ]
        else:
            items = [{"id": m} for m in ids]
        publish_after_commit(session, client, stream, items)
    session.flush()
    log.info("campaign resumed campaign_id=%s republished=%s", campaign.id, len(ids))
    return len(ids)


def cancel(session: Session, campaign: Campaign, now: datetime) -> int:
    """Stop a campaign for good: nothing more is expanded or submitted; its messages not
    yet submitted are CANCELLED, its deferred recipients too. Returns how many messages
    were cancelled. Flushes."""
    if campaign.state in (CampaignState.COMPLETED, CampaignState.CANCELLED):
        raise CampaignError([str(_l("This campaign has already ended."))])
    campaign.state = CampaignState.CANCELLED
    campaign.next_run_at = None
    session.flush()  # the gateway's claim sees CANCELLED from here on
    runs = sa.select(CampaignRun.id).where(CampaignRun.campaign_id == campaign.id)
    session.execute(
        sa.update(CampaignChunk)
        .where(
            CampaignChunk.run_id.in_(runs),
            CampaignChunk.state.in_([ChunkState.PENDING, ChunkState.QUEUED]),
        )
        .values(state=ChunkState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(CampaignRun)
        .where(
            CampaignRun.campaign_id == campaign.id,
            CampaignRun.state.in_([RunState.EXPANDING, RunState.SENT]),
        )
        .values(state=RunState.CANCELLED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(Recipient)
        .where(Recipient.campaign_id == campaign.id, Recipient.status == RecipientStatus.DEFERRED)
        .values(status=RecipientStatus.CANCELLED, reason=RecipientReason.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    message_ids = set(
        session.scalars(
            sa.update(MessagePart)
            .where(
                MessagePart.state == PartState.QUEUED,
                MessagePart.message_id.in_(
                    sa.select(Message.id).where(
                        Message.campaign_id == campaign.id, Message.state == PartState.QUEUED
                    )
                ),
            )
            .values(state=PartState.CANCELLED, final_at=now)
            .returning(MessagePart.message_id)
            .execution_options(synchronize_session=False)
        )
    )
    if message_ids:
        delivery.roll_up(session, message_ids)
    log.info("campaign cancelled campaign_id=%s messages=%s", campaign.id, len(message_ids))
    return len(message_ids)


# --- audience, window, recurrence -----------------------------------------------------------


def audience_select(session: Session, audience: Mapping[str, Sequence[int]]) -> sa.Select[Any]:
    """SELECT of the contact ids of an audience: in any included list or segment, in no
    excluded one. SegmentError for a segment that cannot be evaluated."""
    include = _membership(session, audience.get("lists", ()), audience.get("segments", ()))
    exclude = _membership(
        session, audience.get("exclude_lists", ()), audience.get("exclude_segments", ())
    )
    query = sa.select(Contact.id).where(include if include is not None else sa.false())
    if exclude is not None:
        query = query.where(~exclude)
    return query


def _membership(
    session: Session, list_ids: Sequence[int], segment_ids: Sequence[int]
) -> sa.ColumnElement[bool] | None:
    clauses: list[sa.ColumnElement[bool]] = []
    if list_ids:
        clauses.append(
            Contact.id.in_(
                sa.select(ListMember.contact_id).where(ListMember.list_id.in_(list(list_ids)))
            )
        )
    if segment_ids:
        for segment in session.scalars(sa.select(Segment).where(Segment.id.in_(segment_ids))):
            clauses.append(segment_rules.to_where(session, segment.definition))
    if not clauses:
        return None
    return sa.or_(*clauses)


def audience_count(session: Session, audience: Mapping[str, Sequence[int]]) -> int:
    query = audience_select(session, audience)
    return int(session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)


def in_window(campaign: Campaign, now: datetime) -> bool:
    """Inside the campaign's send window (its own wall clock); no window: always."""
    if campaign.window_start is None or campaign.window_end is None:
        return True
    local = now.astimezone(ZoneInfo(campaign.time_zone))
    minute = local.hour * 60 + local.minute
    start, end = campaign.window_start, campaign.window_end
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # a window across midnight


def window_opens(campaign: Campaign, now: datetime) -> datetime:
    """The next moment the send window opens (UTC)."""
    zone = ZoneInfo(campaign.time_zone)
    local = now.astimezone(zone)
    start = campaign.window_start or 0
    day = local.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
    if day <= local:
        day = (day + timedelta(days=1)).replace(hour=start // 60, minute=start % 60)
    return day.replace(tzinfo=zone).astimezone(now.tzinfo)


def next_occurrence(campaign: Campaign, previous: datetime) -> datetime | None:
    """After a run due at ``previous``: the next one on the campaign's wall clock (a
    monthly one on the 31st goes on the month's last day), or None."""
    if campaign.recurrence == Recurrence.NONE:
        return None
    zone = ZoneInfo(campaign.time_zone)
    local = previous.astimezone(zone)
    if campaign.recurrence == Recurrence.DAILY:
        nxt = local.replace(tzinfo=None) + timedelta(days=1)
    elif campaign.recurrence == Recurrence.WEEKLY:
        nxt = local.replace(tzinfo=None) + timedelta(days=7)
    else:
        anchor = (campaign.send_at or previous).astimezone(zone).day
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        day = min(anchor, calendar.monthrange(year, month)[1])
        nxt = local.replace(tzinfo=None, year=year, month=month, day=day)
    result = nxt.replace(tzinfo=zone).astimezone(previous.tzinfo)
    if campaign.recurrence_end is not None and result > campaign.recurrence_end:
        return None
    return result


# --- texts ----------------------------------------------------------------------------------


def _survey_problems(session: Session, campaign: Campaign) -> list[str]:
    """A survey campaign needs a live survey answered on the campaign's sender."""
    from interactive.surveys.models import Survey, SurveyStatus

    survey = session.get(Survey, campaign.survey_id)
    if survey is None or survey.status != SurveyStatus.LIVE:
        return [str(_l("The campaign's survey must be live."))]
    if campaign.sender.lstrip("+") != survey.short_code:
        return [
            str(
                _l(
                    "Replies to a survey campaign come back to its sender: send it from %(code)s.",
                    code=survey.short_code,
                )
            )
        ]
    return []


def survey_opening(session: Session, survey_id: int) -> str:
    """The text a survey campaign sends: the survey's intro and first question."""
    from interactive.surveys import service as surveys
    from interactive.surveys.models import Survey, SurveyVersion

    survey = session.get(Survey, survey_id)
    version = session.get(SurveyVersion, survey.current_version_id or 0) if survey else None
    if survey is None or version is None or not version.questions:
        return ""
    text = surveys.ask_text(version.questions[0])
    return f"{survey.intro.strip()}\n{text}".strip()


def template_variables(session: Session) -> list[str]:
    keys = session.scalars(sa.select(AttributeDefinition.key)).all()
    return [*rendering.BUILT_IN_VARIABLES, *keys]


def footer(traffic: Traffic, brand: Brand | None, connection: Any, locale: str) -> str:
    """The opt-out instruction appended to commercial texts (campaigns and the messages
    API): the brand's own, or ours with the route's short code; "" when there is none."""
    if traffic != Traffic.COMMERCIAL:
        return ""
    if brand is not None and brand.opt_out_text.strip():
        return brand.opt_out_text.strip()
    codes = getattr(connection, "short_codes", ()) if connection is not None else ()
    if not codes:
        return ""
    with force_locale(locale):
        return gettext("To stop receiving SMS, send RET to %(code)s.", code=codes[0])


def utm_of(campaign: Campaign) -> dict[str, str]:
    """The UTM parameters appended to the campaign's link targets."""
    utm = {
        "utm_source": "sms",
        "utm_medium": "sms",
        "utm_campaign": _slug(campaign.name) or f"campaign-{campaign.id}",
    }
    utm.update(campaign.utm or {})
    return utm


def _slug(name: str) -> str:
    folded = name.lower().translate(str.maketrans("şçğöüıİ", "scgouii"))
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:60]


# --- message states and recipients ---------------------------------------------------------

SENT_STATES = frozenset(
    {
        PartState.ACCEPTED,
        PartState.UNKNOWN,
        PartState.DELIVERED,
        PartState.UNDELIVERABLE,
        PartState.EXPIRED,
        PartState.DELETED,
    }
)
#: Not submitted yet.
QUEUED_STATES = frozenset({PartState.QUEUED, PartState.SUBMITTING})
#: Rejected, or submitted and not delivered.
FAILED_STATES = frozenset(
    {
        PartState.REJECTED,
        PartState.UNDELIVERABLE,
        PartState.EXPIRED,
        PartState.DELETED,
        PartState.FAILED,
    }
)


def recipients(
    session: Session,
    campaign_id: int,
    *,
    status: RecipientStatus | None = None,
    reason: RecipientReason | None = None,
    variant: int | None = None,
    error: str | None = None,
    where: sa.ColumnElement[bool] | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Any]:
    """A page of recipients (keyset by id) with their message's state. ``variant``: a
    variant's id, or 0 for recipients decided before a variant was chosen; ``error``: those
    whose message failed, ``"any"`` way, with ``"none"`` (no error code given) or with that
    error code; ``where``: a further condition on the recipient (``analytics.funnel.engaged``)."""
    query = (
        sa.select(
            Recipient.id,
            Recipient.contact_id,
            Recipient.phone,
            Recipient.variant_id,
            Recipient.status,
            Recipient.reason,
            Recipient.not_before,
            Recipient.message_id,
            Recipient.decided_at,
            Message.state.label("message_state"),
        )
        .outerjoin(Message, Message.id == Recipient.message_id)
        .where(Recipient.campaign_id == campaign_id)
        .order_by(Recipient.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(Recipient.status == status)
    if reason is not None:
        query = query.where(Recipient.reason == reason)
    if variant is not None:
        query = query.where(
            Recipient.variant_id == variant if variant else Recipient.variant_id.is_(None)
        )
    if error is not None:
        query = query.where(Message.state.in_(FAILED_STATES))
        if error == "none":
            query = query.where(Message.error_code.is_(None))
        elif error != "any":
            query = query.where(Message.error_code == int(error))
    if where is not None:
        query = query.where(where)
    if after_id is not None:
        query = query.where(Recipient.id > after_id)
    return list(session.execute(query).all())


def progress(session: Session, campaign_id: int) -> dict[str, int]:
    """Chunks done of all chunks, for the progress bar."""
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(CampaignChunk.state == ChunkState.DONE),
        )
        .join(CampaignRun, CampaignRun.id == CampaignChunk.run_id)
        .where(CampaignRun.campaign_id == campaign_id)
    ).one()
    return {"chunks": int(row[0]), "done": int(row[1])}
