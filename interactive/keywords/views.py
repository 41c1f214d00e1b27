"""The inbox pages of the reservation desk and support: the thread list (filters, search,
unread badges), a thread (the conversation with the router's decision on every inbound
message, the contact's consent, the reply box, assignment, review of opt-out phrases),
quick replies, CSV exports, and the small JSON answers the pages poll. The logic is in
``inbox``; this module reads forms, calls it and commits once per request.

Inbound text is written by strangers: templates escape it and the script builds new
messages with ``textContent`` only; CSV cells are neutralised for spreadsheets."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from interactive.contacts.models import SuppressionReason
from interactive.contacts.service import default_region
from interactive.db import db
from interactive.keywords import inbox, review
from interactive.keywords.inbox import Entry, InboxError, ThreadFilter
from interactive.keywords.models import Decision, KeywordRule, QuickReply, Thread, ThreadState
from interactive.outbound import labels
from interactive.outbound.encoding import count_segments, why_ucs2
from interactive.outbound.models import Campaign
from interactive.redis_store import get_redis, key
from interactive.web.auth import require
from interactive.web.csv_safe import neutralise
from interactive.web.models import Permission, User

log = logging.getLogger(__name__)

bp = Blueprint("inbox", __name__, template_folder="templates", static_folder="static")

#: How long the navigation's unread count may be stale (the inbox pages poll it fresh).
UNREAD_CACHE_SECONDS = 10

DECISIONS = {
    Decision.OPT_OUT: _l("Opt-out"),
    Decision.OPT_IN: _l("Opt-in"),
    Decision.HELP: _l("Help"),
    Decision.CONVERSATION: _l("Conversation"),
    Decision.RULE: _l("Keyword rule"),
    Decision.INBOX: _l("No match"),
    Decision.REVIEW: _l("Opt-out to review"),
}
THREAD_STATES = {ThreadState.OPEN: _l("Open"), ThreadState.CLOSED: _l("Closed")}
SUPPRESSIONS = {
    SuppressionReason.OPTED_OUT: _l("Opted out"),
    SuppressionReason.FAILED: _l("Number failing permanently"),
    SuppressionReason.MANUAL: _l("Blocked"),
    SuppressionReason.ERASED: _l("Erased"),
}
VIEWS = ("all", "unmatched", "mine")


class ReplyForm(FlaskForm):
    # An empty reply is the service's to refuse (with its own message).
    text = TextAreaField(_l("Reply"), validators=[Length(max=inbox.MAX_REPLY)])


class QuickReplyForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=80)])
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=inbox.MAX_REPLY)])


class ConfirmForm(FlaskForm):
    """Only the CSRF token: for POST buttons."""


@bp.app_context_processor
def _navigation() -> dict[str, Any]:
    return {"inbox_unread_total": _cached_unread_total}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "decision_label": lambda d: labels.label(DECISIONS, d),
        "state_label": lambda s: labels.label(labels.MESSAGE_STATES, s),
        "thread_state_label": lambda s: labels.label(THREAD_STATES, s),
        "traffic_label": lambda t: labels.label(labels.TRAFFIC, t),
        "suppression_label": lambda r: labels.label(SUPPRESSIONS, r),
        "Decision": Decision,
    }


def _unread_key() -> str:
    return key("inbox", "unread")


def _cached_unread_total() -> int:
    """Threads with unread messages, for the navigation (cached a few seconds: every page
    shows it)."""
    if not current_user.is_authenticated or not current_user.can(Permission.INBOX):
        return 0
    client = get_redis()
    try:
        cached = client.get(_unread_key())
        if cached is not None:
            return int(cached)
    except redis.RedisError:
        cached = None
    total = inbox.unread_counts(db.session()).total
    try:
        client.set(_unread_key(), total, ex=UNREAD_CACHE_SECONDS)
    except redis.RedisError:
        log.warning("inbox: unread count not cached")
    return total


def _forget_unread() -> None:
    try:
        get_redis().delete(_unread_key())
    except redis.RedisError:
        log.warning("inbox: unread count cache not cleared")


def _thread(thread_id: int, *, lock: bool = False) -> Thread:
    thread = inbox.get_thread(db.session(), thread_id, lock=lock)
    if thread is None:
        abort(404)
    return thread


def _when(value: datetime | None) -> str:
    return format_datetime(value, "short") if value is not None else ""


# --- the thread list ------------------------------------------------------------------------


def _filters() -> tuple[ThreadFilter, dict[str, str]]:
    """The list's filters from the query string, and the arguments that keep them."""
    view = request.args.get("view", "all")
    view = view if view in VIEWS else "all"
    state_arg = request.args.get("state", "open")
    state = ThreadState(state_arg) if state_arg in ("open", "closed") else None
    rule_id = request.args.get("rule", type=int)
    campaign_id = request.args.get("campaign", type=int)
    query = request.args.get("q", "")[:100]
    filters = ThreadFilter(
        unmatched=view == "unmatched",
        assigned_to_id=current_user.id if view == "mine" else None,
        state=state,
        rule_id=rule_id,
        campaign_id=campaign_id,
        query=query,
    )
    args = {
        "view": view,
        "state": state.value if state is not None else "all",
        "rule": str(rule_id) if rule_id else "",
        "campaign": str(campaign_id) if campaign_id else "",
        "q": query,
    }
    return filters, {k: v for k, v in args.items() if v}


def _page(filters: ThreadFilter, cursor: str | None) -> inbox.ThreadPage:
    try:
        return inbox.list_threads(db.session(), filters, cursor=cursor, region=default_region())
    except InboxError as exc:
        flash(exc.message, "error")
        return inbox.ThreadPage([], None)


@bp.route("/")
@require(Permission.INBOX)
def index() -> ResponseReturnValue:
    session = db.session()
    filters, args = _filters()
    page = _page(filters, request.args.get("after") or None)
    rules = session.execute(
        sa.select(KeywordRule.id, KeywordRule.keyword).order_by(KeywordRule.keyword)
    ).all()
    campaigns = session.execute(
        sa.select(Campaign.id, Campaign.name).order_by(Campaign.id.desc()).limit(100)
    ).all()
    return render_template(
        "inbox/index.html",
        page=page,
        args=args,
        view=args["view"],
        counts=inbox.unread_counts(session, current_user.id),
        rules=rules,
        campaigns=campaigns,
        first_page=not request.args.get("after"),
        row_json=_row_json,
    )


def _row_json(row: inbox.ThreadRow) -> dict[str, Any]:
    thread = row.thread
    return {
        "id": thread.id,
        "url": url_for("inbox.thread", thread_id=thread.id),
        "phone": thread.phone,
        "name": row.contact_name,
        "short_code": thread.short_code,
        "last_text": thread.last_text,
        "decision": thread.last_decision.value if thread.last_decision else "",
        "decision_label": labels.label(DECISIONS, thread.last_decision),
        "at": _when(thread.last_message_at),
        "unread": thread.unread,
        "state": thread.state.value,
        "state_label": labels.label(THREAD_STATES, thread.state),
        "assigned": row.assigned_name,
    }


@bp.route("/threads.json")
@require(Permission.INBOX)
def threads_json() -> ResponseReturnValue:
    """The first page of the list as the page shows it (polled by the list page)."""
    filters, _args = _filters()
    page = _page(filters, None)
    counts = inbox.unread_counts(db.session(), current_user.id)
    return jsonify(
        rows=[_row_json(row) for row in page.rows],
        unread={"total": counts.total, "unmatched": counts.unmatched, "mine": counts.mine},
    )


# --- one thread -----------------------------------------------------------------------------


def _entry_json(thread: Thread, entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key": entry.key,
        "kind": entry.kind,
        "id": entry.id,
        "text": entry.text,
        "at": _when(entry.at),
        "parts": entry.parts,
    }
    if entry.kind == "in":
        item.update(
            decision=entry.decision.value if entry.decision else "",
            decision_label=labels.label(DECISIONS, entry.decision),
            reason=entry.reason,
        )
        if entry.decision == Decision.REVIEW:
            item.update(
                confirm_url=url_for(
                    "inbox.confirm_opt_out", thread_id=thread.id, message_id=entry.id
                ),
                dismiss_url=url_for(
                    "inbox.dismiss_opt_out", thread_id=thread.id, message_id=entry.id
                ),
            )
    else:
        item.update(
            state=entry.state.value if entry.state else "",
            state_label=labels.label(labels.MESSAGE_STATES, entry.state),
            traffic_label=labels.label(labels.TRAFFIC, entry.traffic),
        )
    return item


@bp.route("/threads/<int:thread_id>")
@require(Permission.INBOX)
def thread(thread_id: int) -> ResponseReturnValue:
    session = db.session()
    current = _thread(thread_id)
    if current.unread:
        inbox.mark_read(session, current)
        session.commit()
        _forget_unread()
    before = request.args.get("before")
    before_at = None
    if before:
        try:
            before_at, _id = inbox.decode_cursor(before)
        except InboxError:
            abort(404)
    entries = inbox.conversation(session, current, before=before_at)
    older = (
        inbox.encode_cursor(entries[0].at, entries[0].id)
        if len(entries) >= inbox.CONVERSATION_LIMIT
        else None
    )
    assigned = session.get(User, current.assigned_to_id) if current.assigned_to_id else None
    return render_template(
        "inbox/thread.html",
        thread=current,
        entries=entries,
        older=older,
        summary=inbox.summary(session, current),
        assigned=assigned,
        users=inbox.inbox_users(session),
        quick_replies=inbox.quick_replies(session),
        reply_form=ReplyForm(),
        confirm=ConfirmForm(),
        entry_json=lambda entry: _entry_json(current, entry),
        can_see_contacts=current_user.can(Permission.AUDIENCES),
    )


@bp.route("/threads/<int:thread_id>/messages.json")
@require(Permission.INBOX)
def messages_json(thread_id: int) -> ResponseReturnValue:
    """The latest messages of a thread with their states (polled by the thread page)."""
    session = db.session()
    current = _thread(thread_id)
    entries = inbox.conversation(session, current, limit=50)
    return jsonify(
        items=[_entry_json(current, entry) for entry in entries],
        unread=current.unread,
        state=current.state.value,
        unread_total=inbox.unread_counts(session).total,
    )


def _posted() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _back(thread_id: int) -> ResponseReturnValue:
    return redirect(url_for("inbox.thread", thread_id=thread_id))


@bp.route("/threads/<int:thread_id>/read", methods=["POST"])
@require(Permission.INBOX)
def read(thread_id: int) -> ResponseReturnValue:
    _posted()
    session = db.session()
    inbox.mark_read(session, _thread(thread_id, lock=True))
    session.commit()
    _forget_unread()
    return jsonify(ok=True)


@bp.route("/threads/<int:thread_id>/reply", methods=["POST"])
@require(Permission.INBOX)
def reply(thread_id: int) -> ResponseReturnValue:
    session = db.session()
    current = _thread(thread_id, lock=True)
    form = ReplyForm()
    if not form.validate_on_submit():
        flash(_("Write a reply of at most 1600 characters."), "error")
        return _back(thread_id)
    connections = {c.name: c for c in current_app.config["SMPP_CONNECTION_LIST"]}
    try:
        message = inbox.reply(
            session,
            get_redis(),
            str(current_app.config["REDIS_PREFIX"]),
            current,
            form.text.data or "",
            by=f"user {current_user.id}",
            connections=connections,
        )
    except InboxError as exc:
        session.rollback()
        flash(exc.message, "error")
        return _back(thread_id)
    session.commit()
    _forget_unread()
    flash(
        ngettext(
            "Reply queued (%(traffic)s): %(num)d part.",
            "Reply queued (%(traffic)s): %(num)d parts.",
            message.parts_count,
            traffic=labels.label(labels.TRAFFIC, message.traffic),
        ),
        "success",
    )
    return _back(thread_id)


@bp.route("/threads/<int:thread_id>/assign", methods=["POST"])
@require(Permission.INBOX)
def assign(thread_id: int) -> ResponseReturnValue:
    _posted()
    session = db.session()
    current = _thread(thread_id, lock=True)
    choice = request.form.get("assignee", "")
    if choice == "me":
        user_id: int | None = current_user.id
    elif choice.isdigit():
        user_id = int(choice)
    else:
        user_id = None
    try:
        inbox.assign(session, current, user_id)
    except InboxError as exc:
        session.rollback()
        flash(exc.message, "error")
        return _back(thread_id)
    session.commit()
    flash(_("Assigned.") if user_id is not None else _("Unassigned."), "success")
    return _back(thread_id)


@bp.route("/threads/<int:thread_id>/<any(close, reopen):step>", methods=["POST"])
@require(Permission.INBOX)
def lifecycle(thread_id: int, step: str) -> ResponseReturnValue:
    _posted()
    session = db.session()
    current = _thread(thread_id, lock=True)
    if step == "close":
        inbox.close(session, current)
        text = _("Thread closed: a new message from the customer opens it again.")
    else:
        inbox.reopen(session, current)
        text = _("Thread reopened.")
    session.commit()
    _forget_unread()
    flash(text, "success")
    return _back(thread_id)


@bp.route("/threads/<int:thread_id>/messages/<int:message_id>/confirm-opt-out", methods=["POST"])
@require(Permission.INBOX)
def confirm_opt_out(thread_id: int, message_id: int) -> ResponseReturnValue:
    return _review(thread_id, message_id, confirm=True)


@bp.route("/threads/<int:thread_id>/messages/<int:message_id>/not-opt-out", methods=["POST"])
@require(Permission.INBOX)
def dismiss_opt_out(thread_id: int, message_id: int) -> ResponseReturnValue:
    return _review(thread_id, message_id, confirm=False)


def _review(thread_id: int, message_id: int, *, confirm: bool) -> ResponseReturnValue:
    _posted()
    session = db.session()
    current = _thread(thread_id)
    by = current_user.name or current_user.email
    try:
        message = inbox.review_message(session, current, message_id)
        if confirm:
            prefix = str(current_app.config["REDIS_PREFIX"])
            review.confirm_review(session, get_redis(), prefix, message.id, by)
        else:
            review.dismiss_review(session, message.id, by)
    except (InboxError, ValueError):
        session.rollback()
        flash(str(inbox.ERRORS["not_in_review"]), "error")
        return _back(thread_id)
    session.commit()
    log.info(
        "opt-out review %s inbound=%s by=%s",
        "confirmed" if confirm else "dismissed",
        message_id,
        current_user.id,
    )
    flash(
        _("Opt-out confirmed: the number is suppressed.")
        if confirm
        else _("Marked as not an opt-out: the message stays in the inbox."),
        "success",
    )
    return _back(thread_id)


@bp.route("/segments", methods=["POST"])
@require(Permission.INBOX)
def segments() -> ResponseReturnValue:
    """The reply box's live counter: encoding, parts, and what forces UCS-2."""
    _posted()
    text = request.form.get("text", "")[: inbox.MAX_REPLY * 2]
    code = request.form.get("short_code", "")
    shift = False
    for connection in current_app.config["SMPP_CONNECTION_LIST"]:
        if code in getattr(connection, "short_codes", ()):
            shift = bool(getattr(connection, "turkish_shift", False))
    count = count_segments(text, shift) if text else None
    culprits = sorted({c.char for c in why_ucs2(text, turkish_shift=shift)})[:5]
    summary = ""
    if count is not None:
        summary = ngettext(
            "%(encoding)s · %(num)d part · %(units)d/%(capacity)d",
            "%(encoding)s · %(num)d parts · %(units)d/%(capacity)d",
            count.parts,
            encoding=labels.label(labels.ENCODINGS, count.encoding),
            units=count.units,
            capacity=count.capacity * count.parts,
        )
    note = (
        _("Unicode because of: %(chars)s", chars=" ".join(culprits))
        if culprits and count is not None and count.encoding == "UCS2"
        else ""
    )
    return jsonify(
        encoding=count.encoding if count else "",
        parts=count.parts if count else 0,
        units=count.units if count else 0,
        summary=summary,
        note=note,
        too_long=len(text) > inbox.MAX_REPLY,
    )


# --- exports --------------------------------------------------------------------------------


def _csv(rows: Iterable[list[str]], header: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # Excel opens UTF-8 only with a BOM
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([neutralise(cell) for cell in row])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _download(rows: Iterator[str], name: str) -> Response:
    return Response(
        stream_with_context(rows),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/threads/<int:thread_id>.csv")
@require(Permission.INBOX)
def export_thread(thread_id: int) -> ResponseReturnValue:
    session = db.session()
    current = _thread(thread_id)
    entries = inbox.conversation(session, current, limit=100_000)
    header = [
        _("Time (UTC)"),
        _("Direction"),
        _("Number"),
        _("Short code"),
        _("Text"),
        _("Decision"),
        _("Reason"),
        _("Delivery"),
    ]
    rows = (
        [
            e.at.isoformat(),
            _("received") if e.kind == "in" else _("sent"),
            current.phone,
            current.short_code,
            e.text,
            labels.label(DECISIONS, e.decision),
            e.reason,
            labels.label(labels.MESSAGE_STATES, e.state),
        ]
        for e in entries
    )
    log.info("inbox thread exported thread=%s by=%s", current.id, current_user.id)
    return _download(_csv(rows, header), f"thread-{current.id}.csv")


@bp.route("/inbound.csv")
@require(Permission.INBOX)
def export_inbound() -> ResponseReturnValue:
    """Inbound messages, newest first: all, the unmatched ones, or those of a keyword rule
    or a campaign."""
    filters = inbox.InboundFilter(
        unmatched=request.args.get("view") == "unmatched",
        rule_id=request.args.get("rule", type=int),
        campaign_id=request.args.get("campaign", type=int),
    )
    header = [
        _("Received (UTC)"),
        _("Number"),
        _("Short code"),
        _("Text"),
        _("Decision"),
        _("Reason"),
        _("Keyword rule"),
        _("Campaign"),
        _("Thread"),
    ]
    rows = (
        [
            m.received_at.isoformat(),
            m.phone or m.source,
            m.destination,
            m.text,
            labels.label(DECISIONS, m.decision),
            m.reason or "",
            str(m.rule_id or ""),
            str(m.campaign_id or ""),
            str(m.thread_id or ""),
        ]
        for m in inbox.iter_inbound(db.session(), filters)
    )
    log.info("inbox inbound exported by=%s", current_user.id)
    return _download(_csv(rows, header), "inbound.csv")


# --- quick replies --------------------------------------------------------------------------


@bp.route("/quick-replies", methods=["GET", "POST"])
@require(Permission.INBOX)
def quick_replies() -> ResponseReturnValue:
    session = db.session()
    form = QuickReplyForm()
    if form.validate_on_submit():
        try:
            inbox.create_quick_reply(session, form.title.data or "", form.body.data or "")
        except InboxError as exc:
            session.rollback()
            flash(exc.message, "error")
        else:
            session.commit()
            flash(_("Quick reply added."), "success")
            return redirect(url_for("inbox.quick_replies"))
    elif form.is_submitted():
        flash(_("Give a title (at most 80 characters) and a text."), "error")
    return render_template(
        "inbox/quick_replies.html",
        form=form,
        items=inbox.quick_replies(session),
        confirm=ConfirmForm(),
    )


def _quick(quick_id: int) -> QuickReply:
    quick = db.session().get(QuickReply, quick_id) if quick_id <= 2**31 - 1 else None
    if quick is None:
        abort(404)
    return quick


@bp.route("/quick-replies/<int:quick_id>", methods=["POST"])
@require(Permission.INBOX)
def edit_quick_reply(quick_id: int) -> ResponseReturnValue:
    _posted()
    session = db.session()
    quick = _quick(quick_id)
    try:
        inbox.update_quick_reply(
            session, quick, request.form.get("title", ""), request.form.get("body", "")
        )
    except InboxError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        session.commit()
        flash(_("Quick reply saved."), "success")
    return redirect(url_for("inbox.quick_replies"))


@bp.route("/quick-replies/<int:quick_id>/delete", methods=["POST"])
@require(Permission.INBOX)
def delete_quick_reply(quick_id: int) -> ResponseReturnValue:
    _posted()
    session = db.session()
    inbox.delete_quick_reply(session, _quick(quick_id))
    session.commit()
    flash(_("Quick reply deleted."), "success")
    return redirect(url_for("inbox.quick_replies"))
