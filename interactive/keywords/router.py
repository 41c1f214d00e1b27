"""The router: where each inbound message belongs, decided in batches.

The gateway stores an MO, publishes its id on ``<prefix>:inbound`` and only then answers
the SMSC. The router (``interactive router``; several may run) reads that stream with a
consumer group, routes the batch in one transaction and acknowledges the entries after the
commit. Messages whose id never reached the stream (Redis was down at that moment) are
found by the sweep: every inbound message without ``routed_at`` for a few seconds is
routed from the database.

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

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interactive.contacts import phones
from interactive.contacts.models import Brand, Contact
from interactive.db import utcnow
from interactive.keywords import conversations, defaults, handlers, matching
from interactive.keywords.handlers import Inbound
from interactive.keywords.models import (
    Decision,
    InboundMessage,
    KeywordRule,
    OptInRequest,
    PhrasePolicy,
    ShortCode,
    Thread,
    ThreadState,
)
from interactive.keywords.service import inbound_stream
from interactive.outbound.models import Campaign, Goal, Message
from interactive.streams import Entry, StreamConsumer

log = logging.getLogger(__name__)

GROUP = "router"
#: A message not routed this long after it was stored is taken by the sweep.
SWEEP_AFTER = timedelta(seconds=5)
SWEEP_EVERY_S = 5.0
BATCH_SIZE = 200
#: Decisions that need a person: they count as unread and reopen a closed thread.
FOR_PEOPLE = frozenset({Decision.INBOX, Decision.REVIEW})


def code_of(destination: str) -> str:
    """The short code an MO was sent to, as short codes are stored (no "+")."""
    return destination.strip().lstrip("+")


# --- Short codes ---------------------------------------------------------------------------


def short_code_defaults(code: str, connection: str) -> dict[str, Any]:
    return {
        "code": code,
        "connection": connection,
        "opt_out_keywords": list(defaults.OPT_OUT_KEYWORDS),
        "opt_in_keywords": list(defaults.OPT_IN_KEYWORDS),
        "help_keywords": list(defaults.HELP_KEYWORDS),
        "opt_out_phrases": list(defaults.OPT_OUT_PHRASES),
        "scoped_opt_outs": {},
        "double_opt_in": False,
        "confirm_keyword": "EVET",
        "replies": {},
        "attribution_hours": 72,
        "created_at": utcnow(),
    }


def ensure_short_codes(session: Session, pairs: Sequence[tuple[str, str]]) -> dict[str, ShortCode]:
    """The short codes (code, connection) given, created with the default words when new
    (an MO to a number nobody configured still gets opt-out handling). Flushes."""
    wanted = {code_of(code): connection for code, connection in pairs if code_of(code)}
    if not wanted:
        return {}
    found = {
        c.code: c for c in session.scalars(sa.select(ShortCode).where(ShortCode.code.in_(wanted)))
    }
    missing = [short_code_defaults(c, conn) for c, conn in wanted.items() if c not in found]
    if missing:
        session.execute(_insert_ignore(session, ShortCode, ["code"]), missing)
        found.update(
            (c.code, c)
            for c in session.scalars(
                sa.select(ShortCode).where(ShortCode.code.in_([m["code"] for m in missing]))
            )
        )
    return found


def ensure_configured(session: Session, connections: Sequence[Any]) -> dict[str, ShortCode]:
    """A row for every short code the gateway connections declare."""
    return ensure_short_codes(
        session, [(code, c.name) for c in connections for code in c.short_codes]
    )


def _insert_ignore(session: Session, model: Any, keys: list[str]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=keys)


# --- Built-in words ------------------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """A short code's opt-out, opt-in and help words in comparable form."""

    opt_out: frozenset[str]
    opt_in: frozenset[str]
    help: frozenset[str]
    phrases: tuple[str, ...]
    scoped: dict[str, dict[str, Any]]
    confirm: str

    @classmethod
    def of(cls, code: ShortCode) -> Words:
        scoped = json.dumps(code.scoped_opt_outs or {}, sort_keys=True)
        return _words(
            tuple(code.opt_out_keywords or ()),
            tuple(code.opt_in_keywords or ()),
            tuple(code.help_keywords or ()),
            tuple(code.opt_out_phrases or ()),
            scoped,
            code.confirm_keyword or "",
        )


@functools.lru_cache(maxsize=64)
def _words(
    opt_out: tuple[str, ...],
    opt_in: tuple[str, ...],
    help_words: tuple[str, ...],
    phrases: tuple[str, ...],
    scoped: str,
    confirm: str,
) -> Words:
    fold = defaults.fold_word
    return Words(
        opt_out=frozenset(filter(None, map(fold, opt_out))),
        opt_in=frozenset(filter(None, map(fold, opt_in))),
        help=frozenset(filter(None, map(fold, help_words))),
        phrases=tuple(filter(None, map(fold, phrases))),
        scoped={fold(k): v for k, v in json.loads(scoped).items() if fold(k)},
        confirm=fold(confirm),
    )


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    matched: str
    argument: str = ""
    phrase: bool = False
    scope: dict[str, Any] | None = None


def classify(words: Words, text: str) -> Verdict | None:
    """Opt-out, opt-in or help, if ``text`` is one (keywords alone or with filler words,
    "RET <scope>", or an opt-out phrase anywhere in the text)."""
    folded = defaults.fold_word(text)
    if not folded:
        return None
    split = folded.split(" ")
    first, rest = split[0], split[1:]
    plain = all(word in defaults.FILLER for word in rest)
    if first in words.opt_out:
        if plain:
            return Verdict(Decision.OPT_OUT, first)
        if len(rest) == 1 and rest[0] in words.scoped:
            return Verdict(Decision.OPT_OUT, first, rest[0], scope=words.scoped[rest[0]])
    padded = f" {folded} "
    for phrase in words.phrases:
        if f" {phrase} " in padded:
            return Verdict(Decision.OPT_OUT, phrase, phrase=True)
    if plain and first in words.opt_in:
        return Verdict(Decision.OPT_IN, first)
    if plain and first in words.help:
        return Verdict(Decision.HELP, first)
    return None


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


def _load_rules(session: Session, code_ids: set[int], now: datetime) -> _Rules:
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
            self._rules = _load_rules(session, {c.id for c in self._codes.values()}, now)
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
    query = (
        sa.select(InboundMessage)
        .where(InboundMessage.id.in_(list(message_ids)), InboundMessage.routed_at.is_(None))
        .order_by(InboundMessage.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = list(session.scalars(query))
    if not messages:
        return []
    settings = settings or Settings(max_age_s=0)
    codes, rules = settings.get(session, messages, now)
    numbers = {m.id: _phone(m.source, region) for m in messages}
    contacts = {
        c.phone: c
        for c in session.scalars(sa.select(Contact).where(Contact.phone.in_(set(numbers.values()))))
    }
    brand_ids = {c.brand_id for c in codes.values() if c.brand_id is not None}
    brands = (
        {b.id: b for b in session.scalars(sa.select(Brand).where(Brand.id.in_(brand_ids)))}
        if brand_ids
        else {}
    )
    words = {code.id: Words.of(code) for code in codes.values()}
    routed: list[Routed] = []
    inbounds: list[Inbound] = []
    replied_to = _latest_sent(session, messages, numbers, codes)
    goals = _reply_goals(session, {sent[1] for sent in replied_to.values() if sent[1]})
    # One UPDATE of the batch at the end, not one per query a handler makes.
    with session.no_autoflush:
        for message in messages:
            code = codes[code_of(message.destination)]
            phone = numbers[message.id]
            contact = contacts.get(phone)
            inbound = Inbound(
                session=session,
                redis=client,
                prefix=prefix,
                message=message,
                phone=phone,
                contact=contact,
                short_code=code,
                brand=brands.get(code.brand_id) if code.brand_id is not None else None,
                language=language_of(contact, phone),
                now=now,
            )
            sent = replied_to.get(message.id)
            if sent is not None:
                message.reply_to_id, message.campaign_id, message.variant_id = sent
            decision, reason = _decide(inbound, words[code.id], rules)
            goal = goals.get(message.campaign_id) if message.campaign_id else None
            if goal is not None and decision != Decision.OPT_OUT and _reaches(goal, message.text):
                reason += "; " + handlers.record_conversion(inbound, "reply")
            if inbound.contact is not None:
                contacts[phone] = inbound.contact
            message.phone = phone
            message.contact_id = inbound.contact.id if inbound.contact is not None else None
            message.decision = decision
            message.reason = reason[:300]
            message.rule_id = inbound.rule.id if inbound.rule is not None else None
            message.routed_at = now
            routed.append(Routed(message.id, decision, reason, inbound.replies))
            inbounds.append(inbound)
        threads = _threads(session, inbounds)
        for inbound in inbounds:
            inbound.message.thread_id = threads[(inbound.phone, inbound.short_code.code)]
        handlers.send_replies(inbounds)
        session.flush()
    return routed


def _phone(source: str, region: str) -> str:
    parsed = phones.normalise(source if source.startswith("+") else f"+{source}", region)
    if parsed.e164 is None:
        parsed = phones.normalise(source, region)
    return parsed.e164 or source.strip()


def _threads(session: Session, inbounds: Sequence[Inbound]) -> dict[tuple[str, str], int]:
    """Bring the thread of each (phone, short code) up to date with its routed messages
    and return their ids: an INSERT … ON CONFLICT DO UPDATE … RETURNING per thread,
    race-free with other routers. The last message sets the preview and decision; those a
    person must read count as unread and reopen a closed thread."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for inbound in inbounds:
        message = inbound.message
        key = (inbound.phone, inbound.short_code.code)
        row = rows.setdefault(
            key,
            {
                "phone": key[0],
                "short_code": key[1],
                "contact_id": None,
                "state": ThreadState.OPEN,
                "unread": 0,
                "created_at": message.received_at,
            },
        )
        row["contact_id"] = message.contact_id or row["contact_id"]
        row["last_text"] = message.text[:200]
        row["last_decision"] = message.decision
        row["last_message_at"] = message.received_at
        row["last_inbound_at"] = message.received_at
        row["unread"] += 1 if message.decision in FOR_PEOPLE else 0
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (postgresql if postgres else sqlite).insert(Thread)
    table = Thread.__table__.c
    new = insert.excluded
    later = sa.func.greatest if postgres else sa.func.max
    statement = insert.on_conflict_do_update(
        index_elements=["phone", "short_code"],
        set_={
            "contact_id": sa.func.coalesce(table.contact_id, new.contact_id),
            "last_text": new.last_text,
            "last_decision": new.last_decision,
            "last_message_at": later(table.last_message_at, new.last_message_at),
            "last_inbound_at": new.last_inbound_at,
            "unread": table.unread + new.unread,
            "state": sa.case((new.unread > 0, ThreadState.OPEN.value), else_=table.state),
        },
    ).returning(table.id)
    return {key: session.execute(statement, row).scalar_one() for key, row in rows.items()}


def _latest_sent(
    session: Session,
    messages: Sequence[InboundMessage],
    numbers: dict[int, str],
    codes: dict[str, ShortCode],
) -> dict[int, tuple[int, int | None, int | None]]:
    """For each inbound message, the message it replies to: the latest sent to its number
    within the short code's window, a campaign message preferred over our own replies and
    notices. One query for the batch (served by the destination + created_at index)."""
    windows = {
        m.id: m.received_at - timedelta(hours=codes[code_of(m.destination)].attribution_hours or 0)
        for m in messages
    }
    forms = {form for phone in numbers.values() for form in (phone, phone.removeprefix("+"))}
    rows = session.execute(
        sa.select(
            Message.id,
            Message.destination,
            Message.created_at,
            Message.campaign_id,
            Message.variant_id,
        ).where(
            Message.destination.in_(forms),
            Message.created_at >= min(windows.values()),
            Message.created_at <= max(m.received_at for m in messages),
        )
    ).all()
    by_number: dict[str, list[Any]] = {}
    for row in rows:
        by_number.setdefault("+" + row.destination.lstrip("+"), []).append(row)
    found: dict[int, tuple[int, int | None, int | None]] = {}
    for message in messages:
        candidates = [
            row
            for row in by_number.get("+" + numbers[message.id].lstrip("+"), [])
            if windows[message.id] <= row.created_at <= message.received_at
        ]
        if candidates:
            best = max(candidates, key=lambda r: (r.campaign_id is not None, r.created_at, r.id))
            found[message.id] = (best.id, best.campaign_id, best.variant_id)
    return found


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


def _decide(inbound: Inbound, words: Words, rules: _Rules) -> tuple[Decision, str]:
    verdict = classify(words, inbound.message.text)
    if (
        verdict is not None
        and verdict.decision == Decision.OPT_IN
        and verdict.matched == words.confirm
    ) and not _opt_in_waiting(inbound):
        taken = conversations.take(inbound)
        if taken is not None:
            return Decision.CONVERSATION, f"{taken[0]}: {taken[1]}"
    if verdict is not None:
        inbound.matched = verdict.matched
        inbound.argument = verdict.argument
        return _system(inbound, verdict)
    taken = conversations.take(inbound)
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


# --- The process ---------------------------------------------------------------------------


def unrouted(
    session: Session, *, older_than: timedelta = SWEEP_AFTER, limit: int = 500
) -> list[int]:
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            sa.select(InboundMessage.id)
            .where(InboundMessage.routed_at.is_(None), InboundMessage.received_at <= cutoff)
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


@dataclass
class Router:
    """``interactive router``: consume the inbound stream, route, commit, acknowledge."""

    session_factory: Callable[[], Session]
    client: redis.Redis
    prefix: str
    region: str = "TR"
    batch_size: int = BATCH_SIZE
    settings: Settings = field(default_factory=Settings)
    _last_sweep: float = 0.0

    def consumer(self) -> StreamConsumer:
        return StreamConsumer(
            self.client,
            inbound_stream(self.prefix),
            GROUP,
            batch_size=self.batch_size,
            block_ms=500,
        )

    def handle(self, entries: list[Entry]) -> None:
        ids = []
        for entry in entries:
            try:
                ids.append(int(entry.fields["id"]))
            except (KeyError, ValueError):
                log.warning("router: stream entry without a message id entry=%s", entry.id)
        self.route_ids(ids)
        self._maybe_sweep()

    def route_ids(self, ids: list[int]) -> list[Routed]:
        with self.session_factory() as session:
            routed = route(
                session, self.client, self.prefix, ids, region=self.region, settings=self.settings
            )
            session.commit()
        for item in routed:
            log.info(
                "routed inbound=%s decision=%s replies=%s",
                item.message_id,
                item.decision.value,
                len(item.replies),
            )
        return routed

    def sweep(self) -> int:
        self._last_sweep = time.monotonic()
        with self.session_factory() as session:
            ids = unrouted(session)
        if ids:
            log.info("router: sweeping %d unrouted inbound messages", len(ids))
            for start in range(0, len(ids), self.batch_size):
                self.route_ids(ids[start : start + self.batch_size])
        return len(ids)

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep >= SWEEP_EVERY_S:
            try:
                self.sweep()
            except Exception:
                log.exception("router: sweep failed")

    def run(self, stop: threading.Event) -> None:
        consumer = self.consumer()
        log.info("router started stream=%s consumer=%s", consumer.stream, consumer.name)
        self._maybe_sweep()
        consumer.run(self.handle, stop, on_idle=self._maybe_sweep)
        log.info("router stopped")


# --- Review of opt-out phrases --------------------------------------------------------------


def _inbound_for(
    session: Session, client: redis.Redis, prefix: str, message: InboundMessage
) -> Inbound:
    code = ensure_short_codes(session, [(message.destination, message.connection)])[
        code_of(message.destination)
    ]
    phone = message.phone or message.source
    contact = session.scalar(sa.select(Contact).where(Contact.phone == phone))
    brand = session.get(Brand, code.brand_id) if code.brand_id is not None else None
    return Inbound(
        session=session,
        redis=client,
        prefix=prefix,
        message=message,
        phone=phone,
        contact=contact,
        short_code=code,
        brand=brand,
        language=language_of(contact, phone),
        now=utcnow(),
    )


def confirm_review(
    session: Session, client: redis.Redis, prefix: str, message_id: int, by: str
) -> str:
    """A person read an opt-out phrase held for review and confirms it: the opt-out is
    carried out now, as if the message had been a keyword (flushes). Returns the new
    reason; ValueError when the message is not waiting for review."""
    message = session.get(InboundMessage, message_id, with_for_update=True)
    if message is None or message.decision != Decision.REVIEW:
        raise ValueError("not waiting for review")
    inbound = _inbound_for(session, client, prefix, message)
    inbound.matched = "review"
    done = handlers.opt_out(inbound)
    handlers.send_replies([inbound])
    message.decision = Decision.OPT_OUT
    message.reason = f"opt-out phrase confirmed by {by}: {done}"[:300]
    _settle_thread(session, message)
    session.flush()
    return message.reason


def dismiss_review(session: Session, message_id: int, by: str) -> str:
    """The phrase was not an opt-out after all: the message stays in the inbox."""
    message = session.get(InboundMessage, message_id, with_for_update=True)
    if message is None or message.decision != Decision.REVIEW:
        raise ValueError("not waiting for review")
    message.decision = Decision.INBOX
    message.reason = f"opt-out phrase dismissed by {by}"[:300]
    _settle_thread(session, message)
    session.flush()
    return message.reason


def _settle_thread(session: Session, message: InboundMessage) -> None:
    if message.thread_id is None:
        return
    thread = session.get(Thread, message.thread_id)
    if thread is not None and thread.last_inbound_at == message.received_at:
        thread.last_decision = message.decision
