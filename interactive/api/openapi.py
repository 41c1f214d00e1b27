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
    return components


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
        },
    }
