"""Request and response bodies of the API (pydantic); the OpenAPI document uses them."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=10, max_length=1024)
    role: RoleName
    name: str = Field(default="", max_length=120)
    locale: LocaleName = "tr"
    timezone: TimezoneName = "Europe/Istanbul"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120)
    role: RoleName | None = None
    active: bool | None = None
    locale: LocaleName | None = None
    timezone: TimezoneName | None = None
