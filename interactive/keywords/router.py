"""The router: where each inbound message belongs, decided in batches.

The gateway stores an MO, publishes its id on ``<prefix>:inbound`` and only then answers
the SMSC; the router process (``keywords.consumer``) reads that stream in batches and
calls ``route`` for each.

The order of decisions, for each message:

1. opt-out, opt-in and help words of the short code. They always win, even inside a
   survey or booking dialogue. An opt-out *phrase* ("artık mesaj atmayın") follows the
   brand's policy: suppress at once, or hold for review in the inbox. The confirmation
   word of a double opt-in (EVET) is also the commonest answer to a survey question:
   inside an open conversation it opts in only when an opt-in is waiting for it.
2. an open conversation of the sender on this short code (survey session, booking
   dialogue);
3. the short code's keyword rules: exact matches first, by priority; fuzzy ones (one typo,
   keywords of four letters or more) only when nothing matched exactly;
4. the inbox.

The decision, its reason (what matched, what else would have, what the handler did) and
the outbound message the reply is attributed to are stored on the message, in the same
transaction as the effects: a message is routed once, whatever happens to the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from interactive.analytics import rollups
from interactive.contacts import phones
from interactive.contacts.models import Brand, Contact
from interactive.db import utcnow
from interactive.keywords import conversations, defaults, handlers, matching, routing_sql
from interactive.keywords.handlers import Inbound
from interactive.keywords.models import (
    Decision,
    InboundMessage,
    KeywordRule,
    OptInRequest,
    PhrasePolicy,
    ShortCode,
)
from interactive.keywords.shortcodes import Verdict, Words, classify, code_of, ensure_short_codes
from interactive.outbound.models import Campaign, Goal

log = logging.getLogger(__name__)


# --- Routing -------------------------------------------------------------------------------


@dataclass
class Routed:
    message_id: int
    decision: Decision
    reason: str
    replies: list[int] = field(default_factory=list)


@dataclass
class _Rules:
    by_id: dict[int, KeywordRule]
    patterns: dict[int, list[matching.Pattern]]  # short code id → patterns


def load_rules(session: Session, code_ids: set[int], now: datetime) -> _Rules:
    rules = list(
        session.scalars(
            sa.select(KeywordRule)
            .where(
                KeywordRule.short_code_id.in_(code_ids),
                KeywordRule.active.is_(True),
                sa.or_(KeywordRule.active_from.is_(None), KeywordRule.active_from <= now),
                sa.or_(KeywordRule.active_until.is_(None), KeywordRule.active_until > now),
            )
            .order_by(KeywordRule.priority.desc(), KeywordRule.id)
        )
    )
    patterns: dict[int, list[matching.Pattern]] = {}
    for rule in rules:
        try:
            compiled = matching.pattern(
                rule.id,
                rule.keyword,
                rule.aliases or (),
                mode=rule.match_mode,
                regex=rule.pattern,
                fuzzy=rule.fuzzy,
                fold_accents=rule.fold_accents,
                priority=rule.priority,
            )
        except Exception:
            log.exception("keyword rule skipped rule=%s", rule.id)
            continue
        patterns.setdefault(rule.short_code_id, []).append(compiled)
    return _Rules({r.id: r for r in rules}, patterns)


class Settings:
    """Short codes and keyword rules as the router reads them, kept ``max_age_s`` seconds
    in a long-running router (a change made in the UI takes effect within that time)."""

    def __init__(self, max_age_s: float = 2.0) -> None:
        self.max_age_s = max_age_s
        self._codes: dict[str, ShortCode] = {}
        self._rules: _Rules = _Rules({}, {})
        self._loaded = -1e9

    def get(
        self, session: Session, messages: Sequence[InboundMessage], now: datetime
    ) -> tuple[dict[str, ShortCode], _Rules]:
        wanted = {code_of(m.destination): m.connection for m in messages}
        fresh = time.monotonic() - self._loaded < self.max_age_s
        if not fresh or any(code not in self._codes for code in wanted):
            if not fresh:
                self._codes = {}
            self._codes.update(ensure_short_codes(session, list(wanted.items())))
            self._rules = load_rules(session, {c.id for c in self._codes.values()}, now)
            self._loaded = time.monotonic()
        return self._codes, self._rules


def language_of(contact: Contact | None, phone: str) -> str:
    if contact is not None and contact.language in ("tr", "en"):
        return contact.language
    return "tr" if phone.startswith("+90") else "en"


def route(
    session: Session,
    client: redis.Redis,
    prefix: str,
    message_ids: Sequence[int],
    *,
    region: str = "TR",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[Routed]:
    """Route these inbound messages (those not routed yet; flushes, the caller commits).
    On PostgreSQL rows another router holds are skipped: that router routes them.
    ``settings`` keeps short codes and rules between batches (the router process);
    without it they are read for this batch."""
    if not message_ids:
        return []
    now = now or utcnow()
    rows = routing_sql.unrouted(session, message_ids)
    if not rows:
        return []
    messages = [message for message, _contact in rows]
    settings = settings or Settings(max_age_s=0)
    codes, rules = settings.get(session, messages, now)
    numbers = {m.id: _phone(m.source, region) for m in messages}
    contacts = _contacts(session, rows, numbers)
    brands = _brands(session, codes)
    words = {code.id: Words.of(code) for code in codes.values()}
    inbounds = []
    for message in messages:
        code, phone = codes[code_of(message.destination)], numbers[message.id]
        inbounds.append(
            Inbound(
                session=session,
                redis=client,
                prefix=prefix,
                message=message,
                phone=phone,
                contact=contacts.get(phone),
                short_code=code,
                brand=brands.get(code.brand_id) if code.brand_id is not None else None,
                language=language_of(contacts.get(phone), phone),
                now=now,
                patterns=rules.patterns.get(code.id, ()),
                rules=rules.by_id,
            )
        )
    replied_to, in_touch = _lookups(session, inbounds, codes)
    for message in messages:
        sent = replied_to.get(message.id)
        if sent is not None:
            _settle(message, reply_to_id=sent[0], campaign_id=sent[1], variant_id=sent[2])
    goals = _reply_goals(session, {sent[1] for sent in replied_to.values() if sent[1]})
    talking = conversations.prefetch(session, inbounds, in_touch)
    routed: list[Routed] = []
    # The routing columns are written by one statement for the batch at the end, not by
    # the unit of work (``_settle``): no flush of the messages while handlers query.
    with session.no_autoflush:
        for inbound in inbounds:
            message, phone = inbound.message, inbound.phone
            # Again: an earlier message of the batch may have created the contact.
            inbound.contact = contacts.get(phone)
            inbound.language = language_of(inbound.contact, phone)
            decision, reason = _decide(inbound, words[inbound.short_code.id], rules, talking)
            talking.decided(inbound)
            goal = goals.get(message.campaign_id) if message.campaign_id else None
            if goal is not None and decision != Decision.OPT_OUT and _reaches(goal, message.text):
                reason += "; " + handlers.record_conversion(inbound, "reply")
            if inbound.contact is not None:
                contacts[phone] = inbound.contact
            _settle(
                message,
                phone=phone,
                contact_id=inbound.contact.id if inbound.contact is not None else None,
                decision=decision,
                reason=reason[:300],
                rule_id=inbound.rule.id if inbound.rule is not None else None,
                routed_at=now,
            )
            routed.append(Routed(message.id, decision, reason, inbound.replies))
        pending = handlers.pending_replies(inbounds)
        session.flush()
        ids = routing_sql.write_routing(
            session,
            messages,
            {i.message.id: i.short_code.code for i in inbounds},
            [item for _inbound, item in pending],
        )
        handlers.replies_queued(pending, ids)
    rollups.touch(session, campaigns={m.campaign_id for m in messages})
    return routed


def _contacts(
    session: Session,
    rows: Sequence[tuple[InboundMessage, Contact | None]],
    numbers: dict[int, str],
) -> dict[str, Contact]:
    """The senders' contacts by number: those the messages' query found, and for a number
    the SQL spelling of the source does not give (a national number…) one more query.
    A number that is not E.164 has no contact."""
    found: dict[str, Contact] = {}
    elsewhere: list[str] = []
    for message, contact in rows:
        phone = numbers[message.id]
        if phone != routing_sql.plain_phone(message.source):
            if phone.startswith("+"):
                elsewhere.append(phone)
        elif contact is not None:
            found[phone] = contact
    return found | routing_sql.contacts_of(session, elsewhere)


def _brands(session: Session, codes: dict[str, ShortCode]) -> dict[int, Brand]:
    brand_ids = {c.brand_id for c in codes.values() if c.brand_id is not None}
    if not brand_ids:
        return {}
    return {b.id: b for b in session.scalars(sa.select(Brand).where(Brand.id.in_(brand_ids)))}


def _settle(message: InboundMessage, **values: Any) -> None:
    """Set routing columns on the loaded message without marking it changed: handlers
    read them, ``routing_sql.write_routing`` stores them."""
    for name, value in values.items():
        set_committed_value(message, name, value)


def _phone(source: str, region: str) -> str:
    parsed = phones.normalise(source if source.startswith("+") else f"+{source}", region)
    if parsed.e164 is None:
        parsed = phones.normalise(source, region)
    return parsed.e164 or source.strip()


def _lookups(
    session: Session, inbounds: Sequence[Inbound], codes: dict[str, ShortCode]
) -> tuple[dict[int, tuple[int, int | None, int | None]], dict[str, set[tuple[str, str]]]]:
    """One statement for the batch (``routing_sql.lookups_query``):

    - for each inbound message, the message it replies to: the latest sent to its number
      within the short code's window, a campaign message preferred over our own replies
      and notices (served by the destination + created_at index);
    - for each conversation provider, the (phone, short code) pairs of the batch's senders
      it is in touch with (``conversations.prefetch``)."""
    messages = [i.message for i in inbounds]
    windows = {
        m.id: m.received_at - timedelta(hours=codes[code_of(m.destination)].attribution_hours or 0)
        for m in messages
    }
    forms = {form for i in inbounds for form in (i.phone, i.phone.removeprefix("+"))}
    providers = conversations.in_touch_providers()
    params = {
        "forms": sorted(forms),
        "since": min(windows.values()),
        "until": max(m.received_at for m in messages),
    }
    if providers:
        params |= conversations.in_touch_params(providers, inbounds)
    rows = session.execute(
        routing_sql.lookups_query(routing_sql.dialect_of(session), providers), params
    ).all()
    by_number: dict[str, list[Any]] = {}
    in_touch: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        if row.kind == routing_sql.SENT:
            by_number.setdefault("+" + row.phone.lstrip("+"), []).append(row)
        else:
            in_touch.setdefault(row.kind, set()).add((row.phone, row.short_code))
    found: dict[int, tuple[int, int | None, int | None]] = {}
    for inbound in inbounds:
        message = inbound.message
        candidates = [
            row
            for row in by_number.get("+" + inbound.phone.lstrip("+"), [])
            if windows[message.id] <= row.created_at <= message.received_at
        ]
        if candidates:
            best = max(candidates, key=lambda r: (r.campaign_id is not None, r.created_at, r.id))
            found[message.id] = (best.id, best.campaign_id, best.variant_id)
    return found, in_touch


def _reply_goals(session: Session, campaign_ids: set[int]) -> dict[int, str]:
    """Campaigns whose goal is a reply: campaign id → the keyword a reply should carry
    ("" for any reply)."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        sa.select(Campaign.id, Campaign.goal_value).where(
            Campaign.id.in_(campaign_ids), Campaign.goal == Goal.REPLY
        )
    )
    return {campaign_id: value or "" for campaign_id, value in rows}


def _reaches(goal: str, text: str) -> bool:
    """A reply carries the campaign's goal keyword when its first word is that keyword
    (compared as the router compares keywords); any reply does when none is set."""
    wanted = defaults.fold_word(goal)
    if not wanted:
        return bool(text.strip())
    words = defaults.fold_word(text).split(" ")
    return " ".join(words[: wanted.count(" ") + 1]) == wanted


def _decide(
    inbound: Inbound, words: Words, rules: _Rules, talking: conversations.Batch | None = None
) -> tuple[Decision, str]:
    verdict = classify(words, inbound.message.text)
    if (
        verdict is not None
        and verdict.decision == Decision.OPT_IN
        and verdict.matched == words.confirm
    ) and not _opt_in_waiting(inbound):
        taken = conversations.take(inbound, talking)
        if taken is not None:
            return Decision.CONVERSATION, f"{taken[0]}: {taken[1]}"
    if verdict is not None:
        inbound.matched = verdict.matched
        inbound.argument = verdict.argument
        return _system(inbound, verdict)
    taken = conversations.take(inbound, talking)
    if taken is not None:
        return Decision.CONVERSATION, f"{taken[0]}: {taken[1]}"
    near = _near_opt_out(words, inbound.message.text)
    patterns = rules.patterns.get(inbound.short_code.id, [])
    matches = matching.find(patterns, inbound.message.text, fuzzy_allowed=near is None)
    if matches:
        return Decision.RULE, _apply_rule(inbound, rules, matches)
    if near is not None:
        return Decision.INBOX, f"looks like the opt-out word {near.upper()}: for a person to read"
    return Decision.INBOX, "no keyword matched"


def _near_opt_out(words: Words, text: str) -> str | None:
    """The opt-out word the message's first word is, or is one typo away from (words of
    four letters or more): such a message is never answered by a rule's typo match, and
    when no rule matches it exactly, a person reads it."""
    folded = defaults.fold_word(text)
    first = folded.split(" ")[0] if folded else ""
    if not first:
        return None
    if first in words.opt_out:
        return first
    for word in words.opt_out:
        if len(word) >= matching.MIN_FUZZY_LENGTH and matching.within_one_edit(first, word):
            return word
    return None


def _opt_in_waiting(inbound: Inbound) -> bool:
    return (
        inbound.session.scalar(
            sa.select(OptInRequest.id)
            .where(
                OptInRequest.phone == inbound.phone,
                OptInRequest.short_code_id == inbound.short_code.id,
                OptInRequest.confirmed_at.is_(None),
                OptInRequest.requested_at >= inbound.now - handlers.CONFIRM_WITHIN,
            )
            .limit(1)
        )
        is not None
    )


def _system(inbound: Inbound, verdict: Verdict) -> tuple[Decision, str]:
    word = verdict.matched.upper()
    if verdict.decision == Decision.OPT_OUT:
        if verdict.phrase:
            policy = inbound.brand.opt_out_phrase_policy if inbound.brand is not None else None
            if policy == PhrasePolicy.REVIEW:
                return Decision.REVIEW, f"opt-out phrase {verdict.matched!r}: held for review"
            return Decision.OPT_OUT, f"opt-out phrase {verdict.matched!r}: " + handlers.opt_out(
                inbound
            )
        label = f"{word} {verdict.argument.upper()}" if verdict.scope else word
        return Decision.OPT_OUT, f"opt-out {label}: " + handlers.opt_out(
            inbound, scope=verdict.scope
        )
    if verdict.decision == Decision.OPT_IN:
        return Decision.OPT_IN, f"opt-in {word}: " + handlers.opt_in(inbound)
    return Decision.HELP, f"help {word}: " + handlers.help_reply(inbound)


def _apply_rule(inbound: Inbound, rules: _Rules, matches: list[matching.Match]) -> str:
    best = matches[0]
    rule = rules.by_id[int(best.key)]  # type: ignore[call-overload]
    inbound.rule = rule
    inbound.matched = best.word
    how = "fuzzy" if best.fuzzy else rule.match_mode.value
    reason = f"rule {rule.keyword!r} ({how}, priority {rule.priority})"
    others = [rules.by_id[int(m.key)].keyword for m in matches[1:]]  # type: ignore[call-overload]
    if others:
        reason += f"; also matched {', '.join(repr(o) for o in others)}"
    handler = handlers.HANDLERS.get(rule.handler)
    if handler is None:
        return reason + f"; unknown handler {rule.handler!r}"
    done = handler.run(inbound, dict(rule.settings or {}))
    if done:
        reason += f"; {handler.name}: {done}"
    template = rule.reply_tr if inbound.language == "tr" else rule.reply_en
    template = template or rule.reply_tr or rule.reply_en
    if template.strip():
        text = handlers.render(template, inbound)
        if text:
            inbound.reply(text)
            reason += "; replied"
    return reason
