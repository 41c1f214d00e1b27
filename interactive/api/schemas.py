"""Request and response bodies of the API (pydantic); the OpenAPI document uses them."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from interactive.contacts.registry import HS_SOURCES
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
