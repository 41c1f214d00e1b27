"""API routes for short links (on the ``api`` blueprint): create a standalone link, read
a link with its clicks counted by kind."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify
from flask_babel import force_locale
from sqlalchemy.orm import Session

from interactive.api import schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError
from interactive.api.views import api_key_required, bp, parse_body
from interactive.db import db
from interactive.shortlinks import service, stats
from interactive.shortlinks.models import Link
from interactive.shortlinks.service import LinkError
from interactive.web.models import Permission


def _link_out(session: Session, link: Link) -> dict[str, Any]:
    counts = stats.click_counts(session, [link.id])[link.id]
    code = service.code_for(link)
    return schemas.LinkOut(
        id=link.id,
        code=code,
        short_url=service.short_url(code),
        target_url=link.target_url,
        name=link.name,
        fallback_url=link.fallback_url,
        utm=link.utm,
        expires_at=link.expires_at,
        status=service.status(link),  # type: ignore[arg-type]
        campaign_id=link.campaign_id,
        created_at=link.created_at,
        clicks=schemas.ClickCounts(
            **{kind.value: count for kind, count in counts.items()},
            total=sum(counts.values()),
        ),
    ).model_dump(mode="json")


def _link_error(exc: LinkError) -> ApiError:
    with force_locale("en"):
        message = str(exc.message)
    details = [{"field": exc.field, "message": message}] if exc.field else None
    return ApiError(422, message, code=exc.code, details=details)


@bp.route("/links", methods=["POST"])
@api_key_required(Permission.LINKS)
def create_link() -> tuple[Response, int]:
    body = parse_body(schemas.LinkCreate)
    api_key: Caller = g.api_key
    session = db.session()
    try:
        link = service.create_link(
            session,
            body.target_url,
            name=body.name,
            expires_at=body.expires_at,
            fallback_url=body.fallback_url,
            created_by=api_key.created_by_id,
            utm=body.utm.model_dump(exclude_none=True) if body.utm else None,
        )
    except LinkError as exc:
        session.rollback()
        raise _link_error(exc) from None
    session.commit()
    return jsonify(_link_out(session, link)), 201


@bp.route("/links/<int:link_id>")
@api_key_required(Permission.LINKS)
def get_link(link_id: int) -> Response:
    session = db.session()
    link = service.get_link(session, link_id)
    if link is None:
        raise ApiError(404, f"No link with id {link_id}.")
    return jsonify(_link_out(session, link))
