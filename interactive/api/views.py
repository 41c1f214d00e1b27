"""The REST API: bearer API keys scoped to a role, JSON in and out, rate-limited."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from interactive.api import callers, schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError
from interactive.api.openapi import openapi_document
from interactive.db import db
from interactive.web import service
from interactive.web.models import ROLE_PERMISSIONS, Permission, Role, User

bp = Blueprint("api", __name__)

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

# Integer primary keys are 32-bit on PostgreSQL.
MAX_ID = 2**31 - 1

# Query parameters each endpoint accepts; anything else is refused (a typo such as
# ?limt=10 must not silently give the default).
QUERY_PARAMETERS = {"api.list_users": frozenset({"limit", "after"})}

# Status codes for service errors raised by API calls.
SERVICE_ERROR_STATUS = {"email_taken": 409, "last_admin": 409}


@bp.before_request
def refuse_unknown_query_parameters() -> None:
    allowed = QUERY_PARAMETERS.get(request.endpoint or "", frozenset())
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(
            422,
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            details=[{"field": name, "message": "not accepted here"} for name in unknown],
        )


def api_key_required(permission: Permission) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Authenticate the bearer key, apply its rate limit, check its role's permission."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            caller = _authenticate()
            if not caller.can(permission):
                raise ApiError(403, f"This key's role ({caller.role.value}) may not do this.")
            g.api_key = caller
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _authenticate() -> Caller:
    """The verified caller, within its rate limit (401 or 429 otherwise)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Send an API key as 'Authorization: Bearer <key>'.")
    counted = request.environ.get(callers.COUNTED_KEY)
    caller, count = counted if counted is not None else callers.authenticate(token.strip())
    if caller is None:
        raise ApiError(401, "The API key is unknown or revoked.")
    limit = current_app.config["API_RATE_LIMIT_PER_MINUTE"]
    if count > limit:
        retry_after = 60 - int(time.time() % 60)
        raise ApiError(
            429,
            f"Rate limit of {limit} requests per minute exceeded.",
            headers={"Retry-After": str(retry_after)},
        )
    return caller


def json_body() -> Any:
    """The request's JSON body; 415 when it is not JSON, 400 when it does not parse."""
    if not request.is_json:
        raise ApiError(415, "Send a JSON body with 'Content-Type: application/json'.")
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes
        payload = None
    if payload is None:
        raise ApiError(400, "The body is not valid JSON.")
    return payload


def parse_body(model: type[M]) -> M:
    payload = json_body()
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or None, "message": err["msg"]}
            for err in exc.errors()
        ]
        raise ApiError(422, "The request body is not valid.", details=details) from None


def _service_error(exc: service.ServiceError) -> ApiError:
    status = SERVICE_ERROR_STATUS.get(exc.code, 422)
    message = exc.message.replace("_", " ")
    details = [{"field": exc.field, "message": message}] if exc.field else None
    return ApiError(status, message, code=exc.code, details=details)


def _user_out(user: User) -> dict[str, Any]:
    return schemas.UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role.value,
        active=user.active,
        locale=user.locale,  # type: ignore[arg-type]
        timezone=user.timezone,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    ).model_dump(mode="json")


def _user_or_404(session: Session, user_id: int) -> User:
    # Ids beyond the column's range cannot exist (and would be a database error).
    user = session.get(User, user_id) if user_id <= MAX_ID else None
    if user is None:
        raise ApiError(404, f"No user with id {user_id}.")
    return user


def _int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # isdigit() alone accepts "³" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise ApiError(
            422,
            f"'{name}' must be a whole number from {minimum} to {maximum}.",
            details=[{"field": name, "message": "out of range"}],
        )
    return int(raw)


@bp.route("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.route("/me")
@api_key_required(Permission.DASHBOARD)
def me() -> Response:
    api_key: Caller = g.api_key
    info = schemas.ApiKeyInfo(
        id=api_key.id,
        name=api_key.name,
        role=api_key.role.value,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[api_key.role]),
    )
    return jsonify(info.model_dump(mode="json"))


@bp.route("/users")
@api_key_required(Permission.USERS)
def list_users() -> Response:
    limit = _int_arg("limit", 50, 1, 200)
    after = _int_arg("after", 0, 0, MAX_ID)
    query = sa.select(User).where(User.id > after).order_by(User.id).limit(limit + 1)
    rows = db.session().scalars(query).all()
    items = [_user_out(u) for u in rows[:limit]]
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"items": items, "next_cursor": next_cursor})


@bp.route("/users", methods=["POST"])
@api_key_required(Permission.USERS)
def create_user() -> tuple[Response, int]:
    body = parse_body(schemas.UserCreate)
    dbs = db.session()
    try:
        user = service.create_user(
            dbs,
            email=body.email,
            password=body.password,
            role=Role(body.role),
            name=body.name,
            locale=body.locale,
            timezone=body.timezone,
        )
    except service.ServiceError as exc:
        dbs.rollback()
        raise _service_error(exc) from None
    dbs.commit()
    return jsonify(_user_out(user)), 201


@bp.route("/users/<int:user_id>")
@api_key_required(Permission.USERS)
def get_user(user_id: int) -> Response:
    return jsonify(_user_out(_user_or_404(db.session(), user_id)))


@bp.route("/users/<int:user_id>", methods=["PATCH"])
@api_key_required(Permission.USERS)
def update_user(user_id: int) -> Response:
    body = parse_body(schemas.UserUpdate)
    dbs = db.session()
    user = _user_or_404(dbs, user_id)
    try:
        service.update_user(
            dbs,
            user,
            name=body.name,
            role=Role(body.role) if body.role else None,
            active=body.active,
            locale=body.locale,
            timezone=body.timezone,
        )
    except service.ServiceError as exc:
        dbs.rollback()
        raise _service_error(exc) from None
    dbs.commit()
    return jsonify(_user_out(user))


# Routes of other features on this blueprint (imported last: they use the helpers above).
from interactive.api import bookings as _bookings  # noqa: E402, F401
from interactive.api import campaigns as _campaigns  # noqa: E402, F401
from interactive.api import contacts as _contacts  # noqa: E402, F401
from interactive.api import conversions as _conversions  # noqa: E402, F401
from interactive.api import inbox as _inbox  # noqa: E402, F401
from interactive.api import keywords as _keywords  # noqa: E402, F401
from interactive.api import links as _links  # noqa: E402, F401
from interactive.api import messages as _messages  # noqa: E402, F401
from interactive.api import surveys as _surveys  # noqa: E402, F401
