"""The OpenAPI 3.1 document of ``/api/v1``, built from the pydantic schemas."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from interactive.api import schemas

MAX_ID = 2**31 - 1  # integer primary keys are 32-bit on PostgreSQL

MODELS: tuple[type[BaseModel], ...] = (
    schemas.ErrorResponse,
    schemas.ApiKeyInfo,
    schemas.UserOut,
    schemas.UserPage,
    schemas.UserCreate,
    schemas.UserUpdate,
    schemas.ContactIn,
    schemas.BulkResult,
    schemas.ContactOut,
    schemas.ContactSearch,
    schemas.ConsentEventIn,
    schemas.ConsentLedger,
    schemas.ConsentRecorded,
    schemas.SuppressionIn,
    schemas.SuppressionResults,
    schemas.SuppressionLifted,
)

ERROR_DESCRIPTIONS = {
    "400": "The body is not valid JSON.",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key's role may not do this.",
    "404": "No such object.",
    "409": "Conflicts with existing data.",
    "415": "The body is not JSON.",
    "422": "The input is not valid; `details` lists the fields.",
    "429": "Rate limit exceeded; see `Retry-After`.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(schemas.ErrorResponse, ERROR_DESCRIPTIONS[code]) for code in codes}


def _schemas() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    components["BulkContactsRequest"] = BULK_REQUEST
    return components


# Items are validated one by one: an object that does not fit ContactIn is reported in its
# own result (status "rejected") and the others still go in, so any object is accepted.
BULK_REQUEST = {
    "type": "object",
    "required": ["items"],
    "additionalProperties": False,
    "properties": {
        "items": {
            "type": "array",
            "maxItems": 10000,
            "items": {"anyOf": [_ref(schemas.ContactIn), {"type": "object"}]},
        }
    },
}
CONTACT_ID = {
    "name": "contact_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}


def _phone_query(description: str) -> dict[str, Any]:
    return {
        "name": "phone",
        "in": "query",
        "required": True,
        "description": description,
        "schema": {"type": "string", "maxLength": 64},
    }


def _contact_paths(request_body: Any) -> dict[str, Any]:
    bulk_body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BulkContactsRequest"}}
        },
    }
    return {
        "/contacts/bulk": {
            "post": {
                "operationId": "upsertContacts",
                "summary": "Create or update up to 10,000 contacts; one result per item, in order.",
                "requestBody": bulk_body,
                "responses": {
                    "200": _json(schemas.BulkResult, "Per-item results and counts."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                },
            }
        },
        "/contacts": {
            "get": {
                "operationId": "findContacts",
                "summary": "Look a contact up by phone number (any usual notation).",
                "parameters": [_phone_query("The number to look up.")],
                "responses": {
                    "200": _json(schemas.ContactSearch, "The contact, if there is one."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            }
        },
        "/contacts/{contact_id}": {
            "parameters": [CONTACT_ID],
            "get": {
                "operationId": "getContact",
                "summary": "One contact with its current consent per brand.",
                "responses": {
                    "200": _json(schemas.ContactOut, "The contact."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
        "/contacts/{contact_id}/consent": {
            "parameters": [CONTACT_ID],
            "get": {
                "operationId": "getContactConsent",
                "summary": "The contact's consent ledger, oldest first.",
                "responses": {
                    "200": _json(schemas.ConsentLedger, "The events."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "post": {
                "operationId": "recordContactConsent",
                "summary": "Record one consent event (ONAY or RET) for a brand.",
                "requestBody": request_body(schemas.ConsentEventIn),
                "responses": {
                    "201": _json(schemas.ConsentRecorded, "The event was recorded."),
                    "200": _json(
                        schemas.ConsentRecorded,
                        "Nothing recorded: it repeats or predates the current state.",
                    ),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                },
            },
        },
        "/suppressions": {
            "post": {
                "operationId": "blockNumbers",
                "summary": "Block numbers by hand (no commercial or informational message).",
                "requestBody": request_body(schemas.SuppressionIn),
                "responses": {
                    "200": _json(schemas.SuppressionResults, "One result per number."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                },
            },
            "delete": {
                "operationId": "liftBlock",
                "summary": "Lift a manual block; other reasons (opt-out, erasure) stay.",
                "parameters": [_phone_query("The blocked number.")],
                "responses": {
                    "200": _json(schemas.SuppressionLifted, "The block is lifted."),
                    **_errors(*AUTH_ERRORS, "404", "422"),
                },
            },
        },
    }


USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
AUTH_ERRORS = ("401", "403", "429")


@functools.cache
def openapi_document() -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": None}}}

    def request_body(model: type[BaseModel]) -> dict[str, Any]:
        return {**body, "content": {"application/json": {"schema": _ref(model)}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "interactive API",
            "version": "1",
            "description": (
                "Authenticate with `Authorization: Bearer <key>` (keys are created by admins "
                "under Admin → API keys and carry a role). Every failure answers "
                '`{"error": {"code", "message", "details"}}`.'
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "paths": {
            "/me": {
                "get": {
                    "operationId": "getMe",
                    "summary": "The API key in use, its role and permissions.",
                    "responses": {
                        "200": _json(schemas.ApiKeyInfo, "The key."),
                        **_errors(*AUTH_ERRORS),
                    },
                }
            },
            "/users": {
                "get": {
                    "operationId": "listUsers",
                    "summary": "Users, by id, a page at a time (admin keys).",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 200,
                                "default": 50,
                            },
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                        },
                    ],
                    "responses": {
                        "200": _json(schemas.UserPage, "A page of users."),
                        **_errors(*AUTH_ERRORS, "422"),
                    },
                },
                "post": {
                    "operationId": "createUser",
                    "summary": "Create a user (admin keys).",
                    "requestBody": request_body(schemas.UserCreate),
                    "responses": {
                        "201": _json(schemas.UserOut, "The new user."),
                        **_errors(*AUTH_ERRORS, "400", "409", "415", "422"),
                    },
                },
            },
            "/users/{user_id}": {
                "parameters": [USER_ID],
                "get": {
                    "operationId": "getUser",
                    "summary": "One user (admin keys).",
                    "responses": {
                        "200": _json(schemas.UserOut, "The user."),
                        **_errors(*AUTH_ERRORS, "404"),
                    },
                },
                "patch": {
                    "operationId": "updateUser",
                    "summary": "Change a user's name, role, status, language or time zone.",
                    "requestBody": request_body(schemas.UserUpdate),
                    "responses": {
                        "200": _json(schemas.UserOut, "The user."),
                        **_errors(*AUTH_ERRORS, "400", "404", "409", "415", "422"),
                    },
                },
            },
            **_contact_paths(request_body),
        },
    }
