"""Admin page of the gateway's connections, and the handset page (development and demos)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from interactive.db import db
from interactive.keywords.models import InboundMessage
from interactive.outbound import service as outbound
from interactive.outbound.decoding import DCS_UCS2
from interactive.outbound.models import Message, Traffic
from interactive.redis_store import get_redis
from interactive.smpp.gateway import key_for_status
from interactive.streams import publish
from interactive.web.auth import require
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("gateway", __name__, template_folder="templates")

NUMBER = Regexp(r"^\+?[0-9]{3,15}$")


def simulator_stream(prefix: str) -> str:
    """MOs typed on the handset page, injected by the simulator process."""
    return f"{prefix}:simulator:mo"


def handset_enabled() -> bool:
    config = current_app.config
    return bool(config["ENV"] == "development" and not config["SMPP_CONNECTIONS"])


@bp.route("/gateway")
@require(Permission.GATEWAY)
def status() -> ResponseReturnValue:
    client = get_redis()
    prefix = current_app.config["REDIS_PREFIX"]
    rows = []
    for connection in current_app.config["SMPP_CONNECTION_LIST"]:
        raw = client.get(key_for_status(prefix, connection.name))
        state: dict[str, Any] | None = json.loads(raw) if raw else None
        rows.append({"connection": connection, "status": state, "since": _since(state)})
    return render_template("smpp/status.html", rows=rows)


def _since(state: dict[str, Any] | None) -> datetime | None:
    if not state or not state.get("since"):
        return None
    return datetime.fromisoformat(str(state["since"])).astimezone(UTC)


class SendForm(FlaskForm):
    body = TextAreaField(label="", validators=[DataRequired(), Length(max=1600)])


class ReplyForm(FlaskForm):
    short_code = StringField(label="", validators=[DataRequired(), NUMBER])
    text = TextAreaField(label="", validators=[DataRequired(), Length(max=1600)])


@bp.route("/handset", methods=["GET", "POST"])
@require(Permission.CAMPAIGNS)
def handset() -> ResponseReturnValue:
    if not handset_enabled():
        abort(404)
    number = (request.values.get("number") or "905321234567").strip().removeprefix("+")
    if not NUMBER.regex.match(number):
        abort(400)
    connection = current_app.config["SMPP_CONNECTION_LIST"][0]
    send, reply = SendForm(prefix="send"), ReplyForm(prefix="reply")
    short_code = connection.short_codes[0] if connection.short_codes else "4664"
    if request.method == "GET":
        reply.short_code.data = short_code
    elif request.form.get("form_name") == "send" and send.validate_on_submit():
        session = db.session()
        outbound.queue_message(
            session,
            get_redis(),
            current_app.config["REDIS_PREFIX"],
            connection=connection.name,
            source=short_code,
            destination=number,
            body=send.body.data or "",
            traffic=Traffic.INFORMATIONAL,
            turkish_shift=connection.turkish_shift,
        )
        session.commit()
        flash(_("Message queued."), "success")
        return redirect(url_for("gateway.handset", number=number))
    elif request.form.get("form_name") == "reply" and reply.validate_on_submit():
        publish(
            get_redis(),
            simulator_stream(current_app.config["REDIS_PREFIX"]),
            [
                {
                    "source": number,
                    "destination": reply.short_code.data or "",
                    "text": reply.text.data or "",
                }
            ],
        )
        flash(_("Reply sent from the handset."), "success")
        return redirect(url_for("gateway.handset", number=number))
    return render_template(
        "smpp/handset.html",
        number=number,
        conversation=_conversation(number),
        send=send,
        reply=reply,
    )


def _conversation(number: str, limit: int = 50) -> list[dict[str, Any]]:
    session = db.session()
    forms = [number, f"+{number}"]  # the gateway stores either spelling
    sent = session.scalars(
        sa.select(Message)
        .where(Message.destination.in_(forms))
        .order_by(Message.id.desc())
        .limit(limit)
    )
    received = session.scalars(
        sa.select(InboundMessage)
        .where(InboundMessage.source.in_(forms))
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    items = [
        {
            "direction": "in",  # to the handset
            "at": m.created_at,
            "text": m.body,
            "state": m.state.value,
            "parts": m.parts_count,
            "encoding": m.encoding,
        }
        for m in sent
    ]
    items += [
        {
            "direction": "out",  # from the handset
            "at": m.received_at,
            "text": m.text,
            "to": m.destination,
            "parts": m.parts_count,
            "encoding": "UCS2" if m.data_coding == DCS_UCS2 else "GSM7",
        }
        for m in received
    ]
    return sorted(items, key=lambda item: item["at"])[-limit:]
