"""Request and response bodies of the API (pydantic); the OpenAPI document uses them."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from interactive.contacts.registry import HS_SOURCES
from interactive.outbound.models import (
    CampaignState,
    Goal,
    PartState,
    RecipientReason,
    RecipientStatus,
    Recurrence,
    Traffic,
)
from interactive.surveys.models import AfterReprompts, SessionState, SurveyStatus, WhenOpen
from interactive.web.service import EMAIL_PATTERN

RoleName = Literal["admin", "marketer", "desk", "viewer"]
LocaleName = Literal["tr", "en"]
# Validated by the service (422 invalid_timezone); the document lists the accepted names.
TimezoneName = Annotated[
    str,
    Field(
        max_length=64,
        description="An IANA time zone name, e.g. Europe/Istanbul.",
        json_schema_extra={"enum": sorted(zoneinfo.available_timezones())},
    ),
]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `validation_failed`.")
    message: str
    details: Any = Field(default=None, description="Per-field problems, when there are any.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiKeyInfo(BaseModel):
    id: int
    name: str
    role: RoleName
    permissions: list[str]


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: RoleName
    active: bool
    locale: LocaleName
    timezone: str
    created_at: datetime
    last_login_at: datetime | None


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: int | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; no name, number or code legitimately has one.
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
# Free text: a NUL is dropped rather than refused.
FreeText = Annotated[str, AfterValidator(lambda value: value.replace("\x00", ""))]


# Documented in the schema, so clients (and schema-driven tests) know a NUL is refused.
NO_NUL = r"^[^\x00]*$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=10, max_length=1024)
    role: RoleName
    name: str = Field(default="", max_length=120, pattern=NO_NUL)
    locale: LocaleName = "tr"
    timezone: TimezoneName = "Europe/Istanbul"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120, pattern=NO_NUL)
    role: RoleName | None = None
    active: bool | None = None
    locale: LocaleName | None = None
    timezone: TimezoneName | None = None


# --- Contacts and consent (interactive/api/contacts.py) -----------------------------------

ConsentStatusName = Literal["ONAY", "RET"]
RecipientTypeName = Literal["BIREYSEL", "TACIR"]
ChannelName = Literal["MESAJ", "ARAMA", "EPOSTA"]
BulkStatus = Literal["created", "updated", "unchanged", "duplicate", "rejected"]


# Sources a brand may report itself; IYS_* sources only come from the registry.
def _hs_source(value: str) -> str:
    if value not in HS_SOURCES:
        raise ValueError("not one of the registry's HS_* sources")
    return value


HsSource = Annotated[
    str,
    AfterValidator(_hs_source),
    Field(
        max_length=40,
        description="Where the consent was taken (the registry's HS_* source codes).",
        json_schema_extra={"enum": sorted(HS_SOURCES)},
    ),
]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand: Text = Field(min_length=1, max_length=32, description="The brand's code.")
    status: ConsentStatusName
    source: HsSource
    consent_at: datetime = Field(
        description="When the consent was given; without an offset it is Turkish time."
    )
    recipient_type: RecipientTypeName = "BIREYSEL"
    evidence: FreeText = Field(
        default="", max_length=2000, description="Free text or a file reference."
    )


class ContactIn(BaseModel):
    """One contact of a bulk upsert; a field left out (or null) is left as it is."""

    model_config = ConfigDict(extra="forbid")

    phone: Text = Field(min_length=1, max_length=64, description="In any usual notation.")
    first_name: Text | None = Field(default=None, max_length=100)
    last_name: Text | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$")
    time_zone: TimezoneName | None = None
    attributes: dict[str, Text | int | float | bool | None] = Field(
        default_factory=dict,
        description="Values of defined attributes by key; null removes one.",
    )
    lists: list[
        Annotated[int, Field(ge=1, le=2**31 - 1)] | Annotated[Text, Field(max_length=120)]
    ] = Field(default_factory=list, max_length=100, description="List ids or names to add it to.")
    consent: ConsentIn | None = None


class ItemError(BaseModel):
    field: str
    code: str
    message: str


class BulkItemResult(BaseModel):
    index: int
    status: BulkStatus
    contact_id: int | None
    errors: list[ItemError]


class BulkResult(BaseModel):
    items: list[BulkItemResult]
    counts: dict[BulkStatus, int]


class ConsentStateOut(BaseModel):
    brand: str
    channel: ChannelName
    status: ConsentStatusName
    consent_at: datetime
    event_id: int


class ContactOut(BaseModel):
    id: int
    phone: str
    first_name: str | None
    last_name: str | None
    language: str | None
    country: str | None
    time_zone: str | None
    time_zone_manual: bool
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    consent: list[ConsentStateOut] = Field(description="The current consent per brand.")
    suppressed: list[str] = Field(description="Why the number is suppressed, if it is.")


class ContactSearch(BaseModel):
    items: list[ContactOut]
    phone_error: str | None = Field(
        description="Why the number given is not a valid phone number (then no items)."
    )


class ConsentEventIn(ConsentIn):
    channel: ChannelName = "MESAJ"


class ConsentEventOut(BaseModel):
    id: int
    brand: str
    channel: ChannelName
    status: ConsentStatusName
    source: str
    recipient_type: RecipientTypeName
    consent_at: datetime
    recorded_at: datetime
    actor: str
    actor_label: str
    evidence: str
    registration: Literal["pending", "registered", "not_required", "failed"]
    registry_deadline: datetime | None
    registered_at: datetime | None


class ConsentLedger(BaseModel):
    items: list[ConsentEventOut]


class ConsentRecorded(BaseModel):
    recorded: bool = Field(description="False when it repeats or predates the current state.")
    event: ConsentEventOut | None
    current: ConsentStatusName | None


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phones: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=1000)
    note: FreeText = Field(default="", max_length=500)


class SuppressionResult(BaseModel):
    index: int
    phone: str | None
    status: Literal["blocked", "already_blocked", "rejected"]
    error: ItemError | None


class SuppressionResults(BaseModel):
    items: list[SuppressionResult]


class SuppressionLifted(BaseModel):
    phone: str
    lifted: bool
    suppressed: list[str] = Field(description="Reasons that still apply.")


# --- Short links (interactive/api/links.py) ---------------------------------------------

LinkStatusName = Literal["active", "disabled", "expired"]
UtmValue = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]


def _datetime_text(value: Any) -> Any:
    # JSON carries times as text; a number is not read as a POSIX time.
    if not isinstance(value, str):
        raise ValueError("a date-time string is required")
    return value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Only at the ends of the calendar (year 1 or 9999 with an offset).
        if value.year == 1:
            return datetime.min.replace(tzinfo=UTC)
        return datetime.max.replace(tzinfo=UTC)


ApiDateTime = Annotated[datetime, BeforeValidator(_datetime_text), AfterValidator(_as_utc)]


class UtmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_term: UtmValue | None = None
    utm_content: UtmValue | None = None


# An absolute http(s) URL: a host name (letters, digits, hyphens; IDNs in their xn-- form)
# or IPv4 address, an optional port, then anything without spaces, controls or backslashes.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
WEB_URL = rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_LABEL}\.)*{_LABEL}\.?(?::{_PORT})?(?:[/?#][^\x00-\x20\x7f\\]*)?$"


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_url: str = Field(
        max_length=2048,
        pattern=WEB_URL,
        description="Where the link leads: an absolute http or https URL.",
    )
    name: str | None = Field(
        default=None, max_length=120, pattern=NO_NUL, description="Shown in the link list."
    )
    expires_at: ApiDateTime | None = Field(
        default=None,
        description="From then on the link answers 410 (or leads to `fallback_url`); "
        "without an offset it is UTC. A time already past makes the link expired at once.",
    )
    fallback_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=WEB_URL,
        description="Where an expired or disabled link leads instead of answering 410.",
    )
    utm: UtmIn | None = Field(
        default=None, description="utm_* parameters appended to the target on each click."
    )


class ClickCounts(BaseModel):
    human: int
    preview: int = Field(description="Link previews (WhatsApp, iMessage, Outlook…).")
    scanner: int = Field(description="URL scanners, scripts and headless browsers.")
    head: int = Field(description="HEAD requests and browser prefetches.")
    total: int


class LinkOut(BaseModel):
    id: int
    code: str
    short_url: str
    target_url: str
    name: str | None
    fallback_url: str | None
    utm: dict[str, str] | None
    expires_at: datetime | None
    status: LinkStatusName
    campaign_id: int | None
    created_at: datetime
    clicks: ClickCounts


# --- Campaigns and single messages (interactive/api/campaigns.py, messages.py) ------------
# Request bodies are strict (no "1" for 1, no 1 for true, no number for a time), so that
# what the server accepts is exactly what the document describes.

STRICT = ConfigDict(extra="forbid", strict=True)
MAX_INT_ID = 2**31 - 1
CampaignTrafficName = Literal["commercial", "informational"]
TrafficName = Literal["informational", "commercial", "transactional"]
GoalName = Literal["clicks", "conversion", "reply"]
RecurrenceName = Literal["none", "daily", "weekly", "monthly"]


def _json_int(value: Any) -> Any:
    # JSON Schema counts 52.0 as an integer; true is not one.
    if isinstance(value, bool):
        raise ValueError("an integer is required")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]
# Bounds before the validator, so that the document shows them as minimum and maximum.
RowId = Annotated[int, Field(ge=1, le=MAX_INT_ID), BeforeValidator(_json_int)]
PerSecond = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_json_int)]
ValidityMinutes = Annotated[int, Field(ge=1, le=99 * 24 * 60), BeforeValidator(_json_int)]
TimeOfDay = Annotated[
    str,
    Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour clock."),
]
UtmKey = Annotated[str, Field(pattern=r"^utm_[a-z_]{1,20}$")]
UtmText = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
# Constraints inside the type, so that they stay in the document when the field is nullable.
RouteName = Annotated[str, Field(max_length=64, pattern=NO_NUL)]
SenderText = Annotated[str, Field(max_length=16, pattern=NO_NUL)]
GoalValue = Annotated[str, Field(max_length=64, pattern=NO_NUL)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255, pattern=NO_NUL)]


def _offset_text(value: Any) -> Any:
    # JSON carries times as text; a number is not read as a POSIX time.
    if not isinstance(value, str):
        raise ValueError("a date-time string with an offset is required")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Valid date-time text (0001-01-01T00:30+01:00) outside Python's range in UTC: the
        # view refuses it as a problem of the campaign, not as malformed input.
        return value


OffsetDateTime = Annotated[
    AwareDatetime,
    BeforeValidator(_offset_text),
    AfterValidator(_in_utc),
    Field(strict=False, description="ISO 8601 with an offset; answered in UTC."),
]


def _drop_defaults(schema: dict[str, Any]) -> None:
    # A field left out of a PATCH keeps its value: there is no default to document.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class AudienceIn(BaseModel):
    model_config = STRICT

    lists: list[RowId] = Field(default_factory=list, max_length=100, description="List ids.")
    segments: list[RowId] = Field(default_factory=list, max_length=100)
    exclude_lists: list[RowId] = Field(default_factory=list, max_length=100)
    exclude_segments: list[RowId] = Field(default_factory=list, max_length=100)


class VariantIn(BaseModel):
    model_config = STRICT

    label: Text = Field(min_length=1, max_length=8, pattern=NO_NUL, examples=["A"])
    share: JsonInt = Field(default=100, ge=0, le=100, description="Percent of the recipients.")
    template: FreeText = Field(
        max_length=5000,
        description="The text, a sandboxed Jinja template: "
        '`Merhaba {{ first_name | default("") }}, ...`. URLs become per-recipient short links.',
    )


class CampaignIn(BaseModel):
    """A whole campaign (create, or replace with PUT). Left out: the defaults below."""

    model_config = STRICT

    name: Text = Field(min_length=1, max_length=200, pattern=NO_NUL)
    traffic: CampaignTrafficName
    variants: list[VariantIn] = Field(min_length=1, max_length=5)
    brand_id: RowId | None = Field(default=None, description="Required for commercial traffic.")
    route: RouteName | None = Field(default=None, description="Default: the first route.")
    sender: SenderText | None = Field(
        default=None, description="Default: the route's first short code."
    )
    goal: GoalName = "clicks"
    goal_value: GoalValue | None = None
    audience: AudienceIn = Field(default_factory=AudienceIn)
    holdout_percent: JsonInt = Field(default=0, ge=0, le=50)
    attribution_days: JsonInt = Field(
        default=7,
        ge=1,
        le=90,
        description="Conversions count up to this many days after the click (last click wins).",
    )
    send_at: OffsetDateTime | None = Field(default=None, description="Null: when scheduled.")
    time_zone: TimezoneName = "Europe/Istanbul"
    recurrence: RecurrenceName = "none"
    recurrence_end: OffsetDateTime | None = None
    window_start: TimeOfDay | None = None
    window_end: TimeOfDay | None = None
    rate_per_second: PerSecond | None = None
    validity_minutes: ValidityMinutes | None = None
    track_links: bool = True
    utm: dict[UtmKey, UtmText] = Field(
        default_factory=dict, max_length=10, json_schema_extra={"additionalProperties": False}
    )


class CampaignPatch(BaseModel):
    """Only the fields given change; null clears a field that may be empty."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_drop_defaults)

    # Typed without None: a field may be left out, but not given as null.
    name: Text = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)  # type: ignore[assignment]
    traffic: CampaignTrafficName = None  # type: ignore[assignment]
    variants: list[VariantIn] = Field(default=None, min_length=1, max_length=5)  # type: ignore[arg-type]
    brand_id: RowId | None = None
    route: RouteName = None  # type: ignore[assignment]
    sender: SenderText = None  # type: ignore[assignment]
    goal: GoalName = None  # type: ignore[assignment]
    goal_value: GoalValue | None = None
    audience: AudienceIn = None  # type: ignore[assignment]
    holdout_percent: JsonInt = Field(default=None, ge=0, le=50)  # type: ignore[assignment]
    attribution_days: JsonInt = Field(default=None, ge=1, le=90)  # type: ignore[assignment]
    send_at: OffsetDateTime | None = None
    time_zone: TimezoneName = None  # type: ignore[assignment]
    recurrence: RecurrenceName = None  # type: ignore[assignment]
    recurrence_end: OffsetDateTime | None = None
    window_start: TimeOfDay | None = None
    window_end: TimeOfDay | None = None
    rate_per_second: PerSecond | None = None
    validity_minutes: ValidityMinutes | None = None
    track_links: bool = None  # type: ignore[assignment]
    utm: dict[UtmKey, UtmText] = Field(
        default=None,  # type: ignore[arg-type]
        max_length=10,
        json_schema_extra={"additionalProperties": False},
    )


class VariantOut(BaseModel):
    id: int
    label: str
    share: int
    template: str


class AudienceOut(BaseModel):
    lists: list[int]
    segments: list[int]
    exclude_lists: list[int]
    exclude_segments: list[int]


class CampaignOut(BaseModel):
    id: int
    name: str
    state: CampaignState
    traffic: Traffic
    brand_id: int | None
    route: str
    sender: str
    goal: Goal
    goal_value: str | None
    audience: AudienceOut
    holdout_percent: int
    attribution_days: int
    send_at: datetime | None
    time_zone: str
    recurrence: Recurrence
    recurrence_end: datetime | None
    next_run_at: datetime | None = Field(description="When the next run starts (scheduled).")
    window_start: str | None
    window_end: str | None
    rate_per_second: int | None
    validity_minutes: int | None
    track_links: bool
    utm: dict[str, str]
    variants: list[VariantOut]
    created_by: int | None = Field(description="The user who created it (an API key's owner).")
    created_at: datetime
    updated_at: datetime


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: int | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


class FunnelOut(BaseModel):
    targeted: int
    eligible: int
    held_out: int
    deferred: int
    skipped: int
    queued: int
    sent: int
    delivered: int
    failed: int
    clicks: int = Field(description="Human clicks.")
    clicks_raw: int = Field(description="Every click, bots and previews included.")
    clickers: int = Field(description="Recipients with a human click.")
    conversions: int = Field(description="Conversion events.")
    converters: int = Field(description="People with a conversion.")
    revenue: str = Field(description="A decimal number, as text.")
    reasons: dict[str, int] = Field(description="Recipients without a message, by reason.")
    click_rate: float | None = Field(description="Clickers per delivered message.")
    delivery_rate: float | None = Field(description="Delivered per sent message.")


class VariantFunnel(BaseModel):
    variant_id: int | None = Field(description="Null: recipients skipped before a variant.")
    label: str | None
    funnel: FunnelOut


class ProgressOut(BaseModel):
    chunks: int
    done: int


class CampaignStats(BaseModel):
    campaign_id: int
    state: CampaignState
    funnel: FunnelOut
    variants: list[VariantFunnel]
    progress: ProgressOut


class RecipientOut(BaseModel):
    id: int
    contact_id: int
    phone: str
    variant_id: int | None
    status: RecipientStatus
    reason: RecipientReason | None
    not_before: datetime | None = Field(description="When a deferred recipient is sent.")
    message_id: int | None
    message_state: PartState | None
    decided_at: datetime


class RecipientPage(BaseModel):
    items: list[RecipientOut]
    next_cursor: int | None


class MessageIn(BaseModel):
    """One text to one number."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "if": {"properties": {"traffic": {"const": "commercial"}}, "required": ["traffic"]},
            "then": {"required": ["brand_id"], "properties": {"brand_id": {"type": "integer"}}},
        },
    )

    to: Text = Field(
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        description="The number, in any usual notation; without a country code it is of "
        "the DEFAULT_REGION setting.",
    )
    text: Text = Field(min_length=1, max_length=1600, pattern=NO_NUL)
    traffic: TrafficName = Field(
        default="informational",
        description="`commercial` needs the recipient's consent for `brand_id` and the "
        "allowed hours; `informational` goes to every number not suppressed; "
        "`transactional` (codes, answers to the customer's own request) even to a number "
        "that opted out.",
    )
    brand_id: RowId | None = Field(default=None, description="Required for commercial traffic.")
    route: RouteName | None = Field(default=None, description="Default: the first route.")
    sender: SenderText | None = Field(
        default=None, description="Default: the route's first short code."
    )
    status_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\x00-\x20\x7f\\]+$",
        description="Gets a signed POST when the message reaches a final state (https to "
        "a public address in production).",
    )
    idempotency_key: IdempotencyKey | None = Field(
        default=None,
        description="The same key from the same API key within 24 hours answers the "
        "message already created (200) instead of sending another.",
    )

    @model_validator(mode="after")
    def _commercial_needs_a_brand(self) -> MessageIn:
        if self.traffic == "commercial" and self.brand_id is None:
            raise ValueError("brand_id is required for commercial traffic")
        return self


class MessageCreated(BaseModel):
    id: int
    state: PartState
    parts: int = Field(description="How many SMS parts it is sent in.")
    encoding: str = Field(description="GSM7 or UCS2.")
    to: str = Field(description="The number in E.164.")


class MessagePartOut(BaseModel):
    seq: int
    state: PartState
    error_code: int | None
    submitted_at: datetime | None
    accepted_at: datetime | None
    final_at: datetime | None


class StatusWebhookOut(BaseModel):
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class MessageOut(BaseModel):
    id: int
    to: str
    sender: str
    route: str
    traffic: Traffic
    state: PartState
    encoding: str
    error_code: int | None
    campaign_id: int | None
    brand_id: int | None
    created_at: datetime
    submitted_at: datetime | None
    final_at: datetime | None
    parts: list[MessagePartOut]
    status_webhook: StatusWebhookOut | None = Field(
        description="The status webhook, while it is kept (7 days)."
    )


class StatusWebhookPayload(BaseModel):
    """The body POSTed to a message's ``status_url`` once it reaches a final state."""

    id: int = Field(description="The message id; deliveries may repeat, dedupe by it.")
    state: PartState
    error_code: int | None = Field(description="The SMSC's error code, if it gave one.")
    final_at: datetime


# --- Keywords: short codes, keyword rules, webhooks (interactive/api/keywords.py) ----------

MatchModeName = Literal["whole", "first_word", "prefix", "regex"]
DeliveryStateName = Literal["pending", "delivered", "failed"]
KeywordWord = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
ConfirmWord = Annotated[str, Field(min_length=1, max_length=32, pattern=NO_NUL)]
PhraseText = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
ReplyTemplate = Annotated[str, Field(max_length=1000, pattern=NO_NUL)]
ScopeWord = Annotated[str, Field(pattern=r"^[^\x00]{1,64}$")]
SettingName = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
HandlerName = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
WebhookUrl = Annotated[
    str,
    Field(
        max_length=2000,
        pattern=r"^https?://[^\x00-\x20\x7f\\]+$",
        description="Where deliveries are POSTed: http(s) to a public address (https in "
        "production); private, loopback and link-local targets only with the "
        "WEBHOOK_ALLOW_PRIVATE setting.",
    ),
]
WebhookName = Annotated[str, Field(min_length=1, max_length=120, pattern=NO_NUL)]
_WORDS = "Single words; customers' spelling (case, İ/I/ı, accents) does not matter."


class BrandScope(BaseModel):
    model_config = STRICT

    brand_id: RowId


class ListScope(BaseModel):
    model_config = STRICT

    list_id: RowId


class ReplyTexts(BaseModel):
    """A reply in Turkish and English; empty or left out: the shipped, translated text."""

    model_config = STRICT

    tr: ReplyTemplate | None = None
    en: ReplyTemplate | None = None


class ShortCodeReplies(BaseModel):
    """The short code's own replies by kind (templates; variables: the contact's, and
    `keyword`, `short_code`, `brand`, `code`; `scope` for opt_out_scoped, `word` for
    opt_in_confirm)."""

    model_config = STRICT

    opt_out: ReplyTexts | None = None
    opt_out_scoped: ReplyTexts | None = None
    opt_in: ReplyTexts | None = None
    opt_in_confirm: ReplyTexts | None = None
    help: ReplyTexts | None = None


class ShortCodeOut(BaseModel):
    id: int
    code: str
    connection: str = Field(description="The gateway connection it is served by.")
    brand_id: int | None
    opt_out_keywords: list[str]
    opt_in_keywords: list[str]
    help_keywords: list[str]
    opt_out_phrases: list[str]
    scoped_opt_outs: dict[str, dict[str, int]] = Field(
        description='Word after an opt-out word → {"brand_id": n} or {"list_id": n}.'
    )
    double_opt_in: bool
    confirm_keyword: str
    replies: dict[str, dict[str, str]] = Field(description="Kind → language → template.")
    attribution_hours: int
    rule_count: int
    created_at: datetime


class ShortCodeList(BaseModel):
    items: list[ShortCodeOut]


class ShortCodePatch(BaseModel):
    """Only the fields given change; lists and `replies` are replaced whole."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_drop_defaults)

    brand_id: RowId | None = None
    opt_out_keywords: list[KeywordWord] = Field(
        default=None,  # type: ignore[arg-type]
        min_length=1,
        max_length=100,
        description=_WORDS,
    )
    opt_in_keywords: list[KeywordWord] = Field(default=None, max_length=100)  # type: ignore[arg-type]
    help_keywords: list[KeywordWord] = Field(default=None, max_length=100)  # type: ignore[arg-type]
    opt_out_phrases: list[PhraseText] = Field(
        default=None,  # type: ignore[arg-type]
        max_length=100,
        description="Sentences that mean stop, found anywhere in a message.",
    )
    scoped_opt_outs: dict[ScopeWord, BrandScope | ListScope] = Field(
        default=None,  # type: ignore[arg-type]
        max_length=20,
        json_schema_extra={"additionalProperties": False},
    )
    double_opt_in: bool = None  # type: ignore[assignment]
    confirm_keyword: ConfirmWord = None  # type: ignore[assignment]
    replies: ShortCodeReplies = None  # type: ignore[assignment]
    attribution_hours: JsonInt = Field(default=None, ge=0, le=720)  # type: ignore[assignment]


class KeywordRuleIn(BaseModel):
    """A whole keyword rule (create, or replace with PUT). Left out: the defaults below."""

    model_config = STRICT

    short_code_id: RowId
    keyword: KeywordWord = Field(description="For a regex rule, only its name.")
    aliases: list[KeywordWord] = Field(default_factory=list, max_length=50)
    match_mode: MatchModeName = Field(
        default="first_word",
        description="whole: the whole message; first_word: its first word(s); prefix: it "
        "starts with the keyword; regex: `pattern` matches the normalised text.",
    )
    pattern: str = Field(
        default="", max_length=300, pattern=NO_NUL, description="Only for match_mode regex."
    )
    priority: JsonInt = Field(default=0, ge=-1000, le=1000, description="Higher wins.")
    fuzzy: bool = Field(default=True, description="Accept one typo (keywords of 4+ letters).")
    fold_accents: bool = True
    active: bool = True
    active_from: OffsetDateTime | None = None
    active_until: OffsetDateTime | None = None
    handler: HandlerName = Field(
        default="auto_reply",
        description="auto_reply, subscribe (settings.list_id), unsubscribe "
        "(settings.list_id), webhook (settings.webhook_id).",
    )
    settings: dict[SettingName, RowId] = Field(
        default_factory=dict, max_length=10, json_schema_extra={"additionalProperties": False}
    )
    reply_tr: ReplyTemplate = ""
    reply_en: ReplyTemplate = ""


class KeywordRulePatch(BaseModel):
    """Only the fields given change; `aliases` and `settings` are replaced whole."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_drop_defaults)

    short_code_id: RowId = None  # type: ignore[assignment]
    keyword: KeywordWord = None  # type: ignore[assignment]
    aliases: list[KeywordWord] = Field(default=None, max_length=50)  # type: ignore[arg-type]
    match_mode: MatchModeName = None  # type: ignore[assignment]
    pattern: str = Field(default=None, max_length=300, pattern=NO_NUL)  # type: ignore[assignment]
    priority: JsonInt = Field(default=None, ge=-1000, le=1000)  # type: ignore[assignment]
    fuzzy: bool = None  # type: ignore[assignment]
    fold_accents: bool = None  # type: ignore[assignment]
    active: bool = None  # type: ignore[assignment]
    active_from: OffsetDateTime | None = None
    active_until: OffsetDateTime | None = None
    handler: HandlerName = None  # type: ignore[assignment]
    settings: dict[SettingName, RowId] = Field(
        default=None,  # type: ignore[arg-type]
        max_length=10,
        json_schema_extra={"additionalProperties": False},
    )
    reply_tr: ReplyTemplate = None  # type: ignore[assignment]
    reply_en: ReplyTemplate = None  # type: ignore[assignment]


class KeywordRuleOut(BaseModel):
    id: int
    short_code_id: int
    short_code: str
    keyword: str
    aliases: list[str]
    match_mode: MatchModeName
    pattern: str
    priority: int
    fuzzy: bool
    fold_accents: bool
    active: bool
    active_from: datetime | None
    active_until: datetime | None
    handler: str
    settings: dict[str, Any]
    reply_tr: str
    reply_en: str
    created_at: datetime
    updated_at: datetime


class KeywordRulePage(BaseModel):
    items: list[KeywordRuleOut]
    next_cursor: int | None


class WebhookIn(BaseModel):
    model_config = STRICT

    name: WebhookName
    url: WebhookUrl
    active: bool = True


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_drop_defaults)

    name: WebhookName = None  # type: ignore[assignment]
    url: WebhookUrl = None  # type: ignore[assignment]
    active: bool = None  # type: ignore[assignment]
    rotate_secret: bool = Field(  # type: ignore[assignment]
        default=None,
        description="true: a new secret, answered once in `secret`; the old one stops "
        "working at once.",
    )


class WebhookDeliveryOut(BaseModel):
    id: int
    inbound_id: int | None = Field(description="The inbound message; null for a test.")
    state: DeliveryStateName
    attempts: int
    next_attempt_at: datetime
    last_error: str
    delivered_at: datetime | None
    created_at: datetime


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    active: bool
    created_at: datetime
    pending_deliveries: int
    failed_deliveries: int
    secret: str | None = Field(
        description="The signing key (HMAC-SHA256 of `<X-Interactive-Timestamp>.<body>`, "
        "sent as `X-Interactive-Signature: sha256=<hex>`); only in the answer to its "
        "creation and to a rotation, null otherwise."
    )


class WebhookDetail(WebhookOut):
    recent_deliveries: list[WebhookDeliveryOut] = Field(description="The latest 20.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookTestResult(BaseModel):
    ok: bool = Field(description="The receiver answered 2xx.")
    delivery: WebhookDeliveryOut


class KeywordWebhookPayload(BaseModel):
    """The body POSTed to a keyword rule's webhook for each matching inbound message."""

    event: Literal["inbound.message", "webhook.test"]
    id: int | None = Field(description="The inbound message id (dedupe by it); null for a test.")
    from_: str = Field(alias="from", description="The sender, E.164 when it parses.")
    to: str = Field(description="The short code.")
    text: str
    received_at: datetime
    keyword: str | None
    rule_id: int | None
    contact_id: int | None
    campaign_id: int | None = Field(description="The campaign the message replies to.")


# --- Inbox: inbound messages and threads (interactive/api/inbox.py) -----------------------

from interactive.keywords.models import Decision, ThreadState  # noqa: E402

ReplyRefusal = Literal["not_a_number", "erased", "blocked", "opted_out", "failing"]


class InboundOut(BaseModel):
    id: int
    thread_id: int | None = Field(description="Null until the router has taken it.")
    phone: str | None = Field(description="The sender in E.164 (null until routed).")
    source: str = Field(description="The sender as the SMSC gave it.")
    short_code: str
    text: str
    parts: int
    partial: bool = Field(description="Some parts never arrived; the text is what came.")
    received_at: datetime
    routed_at: datetime | None
    decision: Decision | None = Field(description="Where the router sent it.")
    reason: str = Field(description="Why: what matched, what else would have, what was done.")
    rule_id: int | None
    contact_id: int | None
    reply_to_id: int | None = Field(description="The outbound message it answers.")
    campaign_id: int | None
    variant_id: int | None


class InboundPage(BaseModel):
    items: list[InboundOut]
    next_cursor: int | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


class ThreadOut(BaseModel):
    id: int
    phone: str
    short_code: str
    contact_id: int | None
    contact_name: str | None
    state: ThreadState
    assigned_to_id: int | None = Field(description="The user working it.")
    unread: int = Field(description="Messages for a person nobody has read yet.")
    last_text: str
    last_decision: Decision | None
    last_message_at: datetime
    last_inbound_at: datetime | None
    created_at: datetime


class ThreadPage(BaseModel):
    items: list[ThreadOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next (older) page; null on the last page."
    )


class ConversationMessage(BaseModel):
    direction: Literal["in", "out"] = Field(description="From the customer, or to them.")
    id: int = Field(description="An inbound message id, or an outbound message id.")
    at: datetime
    text: str
    decision: Decision | None = Field(description="Inbound messages: the router's decision.")
    reason: str | None = Field(description="Inbound messages: why.")
    state: PartState | None = Field(description="Outbound messages: the delivery state.")
    traffic: Traffic | None = Field(description="Outbound messages.")


class ReplyPolicyOut(BaseModel):
    allowed: bool
    traffic: Traffic | None = Field(
        description="`transactional` within 24 hours of the customer's last message, "
        "`informational` after."
    )
    refusal: ReplyRefusal | None
    window_ends_at: datetime | None = Field(
        description="Until when a reply is transactional (null when that time is past)."
    )


class ThreadDetail(ThreadOut):
    messages: list[ConversationMessage] = Field(
        description="The latest 200 messages, oldest first: the thread's inbound messages "
        "and every outbound message to its number."
    )
    reply: ReplyPolicyOut


class ThreadReplyIn(BaseModel):
    model_config = STRICT

    text: Text = Field(min_length=1, max_length=1600, pattern=NO_NUL)


class ThreadReplyCreated(BaseModel):
    id: int
    thread_id: int
    state: PartState
    parts: int
    encoding: str
    to: str
    traffic: Traffic


# --- Surveys: building, the lifecycle, sessions and results (interactive/api/surveys.py) --

QuestionTypeName = Literal[
    "single_choice", "multiple_choice", "yes_no", "rating", "nps", "number", "date", "free_text"
]
_SURVEY_TEXT = Annotated[str, Field(max_length=1000, pattern=NO_NUL)]
_SURVEY_LABEL = Annotated[str, Field(min_length=1, max_length=160, pattern=NO_NUL)]
_HOURS = Annotated[int, Field(ge=1, le=24 * 90), BeforeValidator(_json_int)] | None
_COUNT = Annotated[int, Field(ge=0, le=26), BeforeValidator(_json_int)] | None
_BOUND = Annotated[int, Field(ge=-(10**9), le=10**9), BeforeValidator(_json_int)] | None


class SurveyOptionIn(BaseModel):
    model_config = STRICT

    label: _SURVEY_LABEL
    synonyms: list[_SURVEY_LABEL] = Field(default=[], max_length=20)


class SurveyBranchIn(BaseModel):
    model_config = STRICT

    when: _SURVEY_LABEL | bool | JsonInt | list[_SURVEY_LABEL | JsonInt] = Field(
        description="The answer (or any of these answers) that takes this branch."
    )
    goto: str = Field(
        max_length=32, description="The key of a later question, or `end` to end the survey."
    )


class SurveyQuestionIn(BaseModel):
    model_config = STRICT

    key: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_]{1,32}$",
        description="Stable across versions, so results line up; `q<n>` when left out.",
    )
    type: QuestionTypeName
    text: Annotated[str, Field(min_length=1, max_length=1000, pattern=NO_NUL)]
    reprompt: _SURVEY_TEXT = Field(default="", description="Asked after an invalid answer.")
    options: list[_SURVEY_LABEL | SurveyOptionIn] = Field(
        default=[], max_length=26, description="Choices (single and multiple choice only)."
    )
    min: _BOUND = None
    max: _BOUND = None
    integer_only: bool = False
    lettered: bool = Field(default=False, description="Options are answered with A, B, C…")
    min_choices: _COUNT = None
    max_choices: _COUNT = None
    branches: list[SurveyBranchIn] = Field(default=[], max_length=26)
    next: str | None = Field(
        default=None, max_length=32, description="The question after this one, or `end`."
    )


class SurveyIn(BaseModel):
    """A survey's settings and questions (PUT replaces them all)."""

    model_config = STRICT

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=NO_NUL)]
    short_code: str = Field(pattern=r"^\+?[0-9A-Za-z]{1,20}$")
    questions: list[SurveyQuestionIn] = Field(min_length=1, max_length=50)
    brand_id: RowId | None = None
    intro: _SURVEY_TEXT = ""
    completion: _SURVEY_TEXT = Field(default="", description="Sent after the last answer.")
    keyword: str | None = Field(
        default=None, pattern=r"^\w{1,64}$", description="A word that starts the survey."
    )
    traffic: TrafficName = "informational"
    when_open: Literal["queue", "replace", "refuse"] = Field(
        default="queue", description="What starting it does while another survey is open."
    )
    max_reprompts: Annotated[int, Field(ge=0, le=10), BeforeValidator(_json_int)] = 2
    after_reprompts: Literal["skip", "end"] = "skip"
    remind_after_hours: _HOURS = 4
    question_expiry_hours: _HOURS = 24
    expiry_hours: _HOURS = 72


class SurveyOut(BaseModel):
    id: int
    name: str
    status: SurveyStatus
    short_code: str
    brand_id: int | None
    intro: str
    completion: str
    keyword: str | None
    traffic: Traffic
    when_open: WhenOpen
    max_reprompts: int
    after_reprompts: AfterReprompts
    remind_after_hours: int | None
    question_expiry_hours: int | None
    expiry_hours: int | None
    version: int | None = Field(description="The number of the current version.")
    questions: list[dict[str, Any]]
    sessions: int = Field(description="Sessions started on any version.")
    created_at: datetime
    updated_at: datetime


class SurveyPage(BaseModel):
    items: list[SurveyOut]
    next_cursor: int | None


def _one_of_schema(schema: dict[str, Any]) -> None:
    _drop_defaults(schema)
    schema["oneOf"] = [{"required": ["phone"]}, {"required": ["contact_id"]}]


class SurveySessionIn(BaseModel):
    """Start the survey for one number or one contact (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_one_of_schema)

    phone: Annotated[str, Field(min_length=1, max_length=64)] | SkipJsonSchema[None] = None
    contact_id: (
        Annotated[int, Field(ge=1, le=2**63 - 1), BeforeValidator(_json_int)] | SkipJsonSchema[None]
    ) = None

    @model_validator(mode="before")
    @classmethod
    def _one_of(cls, data: Any) -> Any:
        if isinstance(data, dict) and len({"phone", "contact_id"} & set(data)) != 1:
            raise ValueError("give either phone or contact_id")
        return data


class SurveySessionOut(BaseModel):
    id: int
    survey_id: int
    version_id: int
    phone: str
    contact_id: int | None
    campaign_id: int | None
    trigger: str
    state: SessionState
    question_key: str | None = Field(description="The question awaiting an answer.")
    started_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None
    end_reason: str


class SurveyFunnelOut(BaseModel):
    started: int
    completed: int
    expired: int
    opted_out: int
    ended: int
    open: int
    queued: int


class QuestionResultOut(BaseModel):
    key: str
    text: str
    type: str
    sent: int
    answered: int
    reprompted: int
    skipped: int
    median_response_s: float | None
    counts: dict[str, int] = Field(description="Respondents per answer.")
    texts: list[str] = Field(description="Free-text answers, latest first.")
    nps: dict[str, Any] | None
    mean: float | None


class SurveyResults(BaseModel):
    survey_id: int
    funnel: SurveyFunnelOut
    questions: list[QuestionResultOut]


class RespondentOut(BaseModel):
    session_id: int
    phone: str
    contact_id: int | None
    campaign_id: int | None
    state: SessionState
    started_at: datetime
    ended_at: datetime | None
    answers: dict[str, Any] = Field(description="Each question's answer (null: none).")


class RespondentPage(BaseModel):
    items: list[RespondentOut]
    next_cursor: int | None


# --- Bookings: venues, bookings and a day's availability (interactive/api/bookings.py) -----

from interactive.bookings.models import BookingState  # noqa: E402
from interactive.bookings.service import Refusal  # noqa: E402

BookingLanguage = Literal["tr", "en"]
BookingTransition = Literal["confirmed", "declined", "cancelled", "no_show"]
MAX_PARTY = 1000  # the documented bound; each venue's own max_party refuses larger ones
Party = Annotated[int, Field(ge=1, le=MAX_PARTY), BeforeValidator(_json_int)]
BookingName = Annotated[str, Field(max_length=120, pattern=NO_NUL)]
BookingNote = Annotated[FreeText, Field(max_length=500)]
DeclineReason = Annotated[str, Field(max_length=300, pattern=NO_NUL)]


class VenueOut(BaseModel):
    id: int
    name: str
    short_code: str
    brand_id: int | None
    time_zone: str
    hours: dict[str, list[list[str]]] = Field(
        description='Opening windows by weekday (Monday "0" … Sunday "6"), local '
        '`[["12:00", "23:00"], …]`; a window that ends at or before it starts runs past '
        "midnight."
    )
    closed_dates: list[str] = Field(description="ISO dates without bookings.")
    slot_minutes: int
    capacity: int = Field(description="Covers per slot.")
    max_party: int
    lead_minutes: int = Field(description="Bookings at least this far ahead.")
    ahead_days: int = Field(description="Bookings at most this far ahead.")
    auto_confirm: bool = Field(description="false: requests wait (pending) for the desk.")
    reminder_hours: int = Field(description="The customer's reminder before the time (0: none).")
    webhook_id: int | None = Field(description="Gets a signed POST on every booking change.")
    created_at: datetime


class VenuePage(BaseModel):
    items: list[VenueOut]
    next_cursor: int | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


class BookingOut(BaseModel):
    """A booking; the same object as the `booking` of the venue's webhook body."""

    id: int
    venue_id: int
    phone: str = Field(description="E.164.")
    contact_id: int | None
    name: str
    party: int
    starts_at: datetime = Field(description="UTC.")
    local_time: datetime = Field(description="The same moment in the venue's time zone.")
    state: BookingState
    note: str
    source: str = Field(description="sms, desk or api.")
    source_text: str = Field(description="The customer's own words (SMS bookings).")
    reason: str = Field(description="Why it was declined.")
    created_at: datetime
    updated_at: datetime


class BookingEventOut(BaseModel):
    id: int
    at: datetime
    kind: str = Field(description="requested, confirmed, changed, declined, cancelled…")
    actor: str = Field(description="customer, desk, api or system.")
    user_id: int | None
    detail: str


class BookingDetail(BookingOut):
    events: list[BookingEventOut] = Field(description="Who did what, oldest first.")


class BookingPage(BaseModel):
    items: list[BookingOut]
    next_cursor: int | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


class BookingIn(BaseModel):
    """A booking made for a customer; it must fit the venue's hours, rules and room."""

    model_config = STRICT

    venue_id: RowId
    phone: Text = Field(
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        description="The customer's number in any usual notation; without a country code "
        "it is of the DEFAULT_REGION setting.",
    )
    party: Party
    starts_at: OffsetDateTime = Field(
        description="ISO 8601 with an offset (a time without one is refused); answered in UTC."
    )
    name: BookingName = ""
    note: BookingNote = ""
    language: BookingLanguage | None = Field(
        default=None,
        description="Of the customer's SMS; default: the contact's language, else Turkish.",
    )
    notify: bool = Field(
        default=True,
        description="Send the customer the SMS that it is confirmed, or that the desk will "
        "confirm it.",
    )


def _patch_schema(schema: dict[str, Any]) -> None:
    _drop_defaults(schema)
    schema["if"] = {"required": ["reason"]}
    schema["then"] = {"required": ["state"], "properties": {"state": {"const": "declined"}}}


class BookingPatch(BaseModel):
    """Only the fields given change: the time, party, name and note must fit as a new
    request would (the booking's own covers do not count against it); `state` moves it
    on."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_patch_schema)

    # Typed without None: a field may be left out, but not given as null.
    starts_at: OffsetDateTime = None  # type: ignore[assignment]
    party: Party = None  # type: ignore[assignment]
    name: BookingName = Field(  # type: ignore[assignment]
        default=None, description="Empty keeps the current name."
    )
    note: BookingNote = Field(  # type: ignore[assignment]
        default=None, description="Empty keeps the current note."
    )
    state: BookingTransition = Field(
        default=None,  # type: ignore[arg-type]
        description="confirmed or declined: a pending request; cancelled: a pending or "
        "confirmed booking; no_show: a confirmed booking once its time has come.",
    )
    reason: DeclineReason = Field(  # type: ignore[assignment]
        default=None, description="Only with `declined`: told to the customer."
    )
    notify: bool = Field(  # type: ignore[assignment]
        default=None,
        description="false: the customer gets no SMS about this change (default true).",
    )

    @model_validator(mode="after")
    def _reason_needs_a_decline(self) -> BookingPatch:
        if "reason" in self.model_fields_set and self.state != "declined":
            raise ValueError("reason goes with state declined")
        return self


class SlotOut(BaseModel):
    starts_at: datetime = Field(description="UTC.")
    local_time: datetime = Field(description="In the venue's time zone.")
    covers: int = Field(description="Covers held by pending and confirmed bookings.")
    capacity: int
    fits: bool = Field(description="A booking of `party` people can be made now.")
    refusal: Refusal | None = Field(description="Why it cannot (null when it fits).")


class AvailabilityOut(BaseModel):
    venue_id: int
    date: str = Field(description="The venue's day (ISO date).")
    time_zone: str
    party: int
    slots: list[SlotOut] = Field(description="The day's slots in order; none on a closed day.")


# --- Conversions: the signed postback (interactive/api/conversions.py) -------------------

ClickToken = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
LinkCode = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{10,24}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. TRY.")]
Amount = Annotated[Decimal, Field(ge=0, le=999_999_999_999, max_digits=14, decimal_places=2)]


class ConversionIn(BaseModel):
    """A conversion the shop's server saw. Name the visitor by one or more of `ic`,
    `link_code`, `message_id` and `phone` (the most precise one that attributes it wins);
    give `order_id` or `idempotency_key` so that a repeated postback counts once."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        examples=["purchase"],
        description="What happened: purchase, signup…",
    )
    value: Amount | None = Field(default=None, description="Two decimals at most.")
    currency: Currency | None = None
    order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=NO_NUL,
        description="The shop's order number; the same order counts once (postback or pixel).",
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=160,
        pattern=NO_NUL,
        description="Counts the conversion once when there is no order id.",
    )
    occurred_at: ApiDateTime | None = Field(
        default=None, description="When it happened (default: now); without an offset, UTC."
    )
    ic: ClickToken | None = Field(
        default=None, description="The click token the redirect appended to the landing URL."
    )
    link_code: LinkCode | None = Field(default=None, description="A short link's code.")
    message_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        default=None, description="The id of the SMS the visitor got."
    )
    phone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        description="The visitor's number: attributed to their last click, else their "
        "latest campaign message, within the attribution window.",
    )


class ConversionOut(BaseModel):
    id: int
    source: Literal["postback", "pixel", "reply"]
    event: str
    value: Decimal | None
    currency: str | None
    order_id: str | None
    occurred_at: datetime
    recorded_at: datetime
    click_token: str | None
    attributed: bool = Field(description="Tied to a campaign, message or link.")
    contact_id: int | None
    campaign_id: int | None
    variant_id: int | None
    message_id: int | None
    link_id: int | None


class ConversionAccepted(BaseModel):
    status: Literal["accepted", "duplicate"] = Field(
        description="accepted: queued, stored within seconds; duplicate: this order id or "
        "idempotency key was already accepted (counted once)."
    )
    idempotency_key: str = Field(
        description="What the conversion is counted once by: order:<order_id> or "
        "postback:<idempotency_key>."
    )
    conversion: ConversionOut | None = Field(
        description="The stored conversion with its attribution, on a duplicate once stored."
    )
