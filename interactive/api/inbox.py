"""API routes for the inbox (on the ``api`` blueprint): inbound messages with the router's
decisions, threads with their conversation, and replies from a thread.

422 means a query parameter or the body does not match the document. A reply that is well
formed but may not go answers 409 with the reason as its code: ``empty``,
``not_a_number``, ``erased``, ``blocked``, ``opted_out`` or ``failing`` (the last two only
when the customer's last message is more than 24 hours old; within that window a reply
is transactional). Everything needs the inbox permission (desk and admin keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, g, jsonify, request

from interactive.api import schemas
from interactive.api.callers import Caller
from interactive.api.errors import ApiError
from interactive.api.views import (
    MAX_ID,
    QUERY_PARAMETERS,
    _int_arg,
    api_key_required,
    bp,
    parse_body,
)
from interactive.contacts.models import Contact
from interactive.contacts.service import default_region
from interactive.db import db
from interactive.keywords import inbox
from interactive.keywords.inbox import InboxError, ThreadFilter
from interactive.keywords.models import Decision, InboundMessage, Thread, ThreadState
from interactive.redis_store import get_redis
from interactive.web.models import Permission

QUERY_PARAMETERS.update(
    {
        "api.list_inbound": frozenset(
            {"decision", "thread_id", "rule_id", "campaign_id", "limit", "after"}
        ),
        "api.list_threads": frozenset(
            {"state", "unmatched", "assigned_to", "rule_id", "campaign_id", "q", "limit", "cursor"}
        ),
    }
)

MAX_BIG_ID = 2**63 - 1


def _bad(name: str, message: str) -> ApiError:
    return ApiError(422, message, details=[{"field": name, "message": message}])


def _choice(name: str, values: Sequence[str]) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in values:
        raise _bad(name, f"'{name}' must be one of: {', '.join(values)}.")
    return raw


def _optional_int(name: str, maximum: int) -> int | None:
    if name not in request.args:
        return None
    return _int_arg(name, 0, 1, maximum)


def inbound_out(message: InboundMessage) -> dict[str, Any]:
    return schemas.InboundOut(
        id=message.id,
        thread_id=message.thread_id,
        phone=message.phone,
        source=message.source,
        short_code=message.destination,
        text=message.text,
        parts=message.parts_count,
        partial=message.partial,
        received_at=message.received_at,
        routed_at=message.routed_at,
        decision=message.decision,
        reason=message.reason or "",
        rule_id=message.rule_id,
        contact_id=message.contact_id,
        reply_to_id=message.reply_to_id,
        campaign_id=message.campaign_id,
        variant_id=message.variant_id,
    ).model_dump(mode="json")


def _thread_fields(thread: Thread, contact_name: str | None) -> dict[str, Any]:
    return {
        "id": thread.id,
        "phone": thread.phone,
        "short_code": thread.short_code,
        "contact_id": thread.contact_id,
        "contact_name": contact_name or None,
        "state": thread.state,
        "assigned_to_id": thread.assigned_to_id,
        "unread": thread.unread,
        "last_text": thread.last_text,
        "last_decision": thread.last_decision,
        "last_message_at": thread.last_message_at,
        "last_inbound_at": thread.last_inbound_at,
        "created_at": thread.created_at,
    }


def _thread_or_404(thread_id: int, *, lock: bool = False) -> Thread:
    thread = inbox.get_thread(db.session(), thread_id, lock=lock)
    if thread is None:
        raise ApiError(404, f"No thread with id {thread_id}.")
    return thread


# --- inbound messages -------------------------------------------------------------------------


@bp.route("/inbound")
@api_key_required(Permission.INBOX)
def list_inbound() -> Response:
    decision = _choice("decision", [d.value for d in Decision])
    filters = inbox.InboundFilter(
        decision=Decision(decision) if decision else None,
        thread_id=_optional_int("thread_id", MAX_BIG_ID),
        rule_id=_optional_int("rule_id", MAX_ID),
        campaign_id=_optional_int("campaign_id", MAX_ID),
    )
    limit = _int_arg("limit", 100, 1, 500)
    after = _int_arg("after", 0, 0, MAX_BIG_ID)
    rows = inbox.list_inbound(db.session(), filters, after=after, limit=limit)
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify({"items": [inbound_out(m) for m in rows[:limit]], "next_cursor": next_cursor})


@bp.route("/inbound/<int:inbound_id>")
@api_key_required(Permission.INBOX)
def get_inbound(inbound_id: int) -> Response:
    message = db.session().get(InboundMessage, inbound_id) if inbound_id <= MAX_BIG_ID else None
    if message is None:
        raise ApiError(404, f"No inbound message with id {inbound_id}.")
    return jsonify(inbound_out(message))


# --- threads ----------------------------------------------------------------------------------


@bp.route("/threads")
@api_key_required(Permission.INBOX)
def list_threads() -> Response:
    state = _choice("state", [s.value for s in ThreadState])
    unmatched = _choice("unmatched", ["true", "false"])
    query = request.args.get("q", "")
    if len(query) > 100 or "\x00" in query:
        raise _bad("q", "'q' must be at most 100 characters, without NUL.")
    filters = ThreadFilter(
        unmatched=unmatched == "true",
        state=ThreadState(state) if state else None,
        assigned_to_id=_optional_int("assigned_to", MAX_ID),
        rule_id=_optional_int("rule_id", MAX_ID),
        campaign_id=_optional_int("campaign_id", MAX_ID),
        query=query,
    )
    limit = _int_arg("limit", 50, 1, 200)
    try:
        page = inbox.list_threads(
            db.session(),
            filters,
            cursor=request.args.get("cursor") if "cursor" in request.args else None,
            limit=limit,
            region=default_region(),
        )
    except InboxError:
        raise _bad("cursor", "'cursor' must be a next_cursor this endpoint gave.") from None
    items = [
        schemas.ThreadOut(**_thread_fields(row.thread, row.contact_name)).model_dump(mode="json")
        for row in page.rows
    ]
    return jsonify({"items": items, "next_cursor": page.next_cursor})


@bp.route("/threads/<int:thread_id>")
@api_key_required(Permission.INBOX)
def get_thread(thread_id: int) -> Response:
    session = db.session()
    thread = _thread_or_404(thread_id)
    contact = session.get(Contact, thread.contact_id) if thread.contact_id else None
    policy = inbox.reply_policy(session, thread)
    detail = schemas.ThreadDetail(
        **_thread_fields(thread, contact.name if contact else None),
        messages=[
            schemas.ConversationMessage(
                direction=e.kind,
                id=e.id,
                at=e.at,
                text=e.text,
                decision=e.decision,
                reason=e.reason if e.kind == "in" else None,
                state=e.state,
                traffic=e.traffic,
            )
            for e in inbox.conversation(session, thread)
        ],
        reply=schemas.ReplyPolicyOut(
            allowed=policy.allowed,
            traffic=policy.traffic,
            refusal=policy.refusal,  # type: ignore[arg-type]
            window_ends_at=policy.window_ends_at,
        ),
    )
    return jsonify(detail.model_dump(mode="json"))


@bp.route("/threads/<int:thread_id>/replies", methods=["POST"])
@api_key_required(Permission.INBOX)
def reply_to_thread(thread_id: int) -> tuple[Response, int]:
    body = parse_body(schemas.ThreadReplyIn)
    session = db.session()
    thread = _thread_or_404(thread_id, lock=True)
    api_key: Caller = g.api_key
    try:
        message = inbox.reply(
            session,
            get_redis(),
            str(current_app.config["REDIS_PREFIX"]),
            thread,
            body.text,
            by=f"api key {api_key.id}",
            connections={c.name: c for c in current_app.config["SMPP_CONNECTION_LIST"]},
        )
    except InboxError as exc:
        session.rollback()
        raise ApiError(
            409, exc.message, code=exc.code, details=[{"field": "text", "message": exc.message}]
        ) from None
    session.commit()
    created = schemas.ThreadReplyCreated(
        id=message.id,
        thread_id=thread.id,
        state=message.state,
        parts=message.parts_count,
        encoding=message.encoding,
        to=message.destination,
        traffic=message.traffic,
    )
    return jsonify(created.model_dump(mode="json")), 201
