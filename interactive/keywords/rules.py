"""Configuring short codes, keyword rules and webhooks, and a dry run of the router.

Every function here validates, writes and flushes; the caller commits. A refusal is a
``RuleError`` listing each problem with the field it concerns (pages show it next to the
field, the API in ``details``). What is refused, and why:

- a short code's opt-out, opt-in and help words are single words with a letter or digit,
  and no word is in two of those lists (the router would have to guess); the confirmation
  word of a double opt-in is one of the opt-in words (the router only confirms on an
  opt-in word); scoped opt-outs ("RET KAMPANYA") point at a brand or list that exists;
  reply templates compile against the variables the router gives them;
- a rule's keyword and aliases are not the short code's opt-out, opt-in or help words
  (those always win: the rule would never fire), and two active rules of a short code never
  share a word at the same time (which one answered would depend on priorities nobody
  set on purpose); a rule that accepts typos has no word that a mistyped opt-out word
  could also reach ("STOPP" must never be answered by a rule STOMP: ``typo_of_both``); a
  regular expression compiles and has at most 300 characters; the handler exists and its
  settings name a list or webhook that exists;
- webhook URLs go to public addresses only unless ``WEBHOOK_ALLOW_PRIVATE`` (SSRF).

``explain`` answers what the router would decide for a text on a short code, without
any effect.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.contacts.models import AttributeDefinition, Brand, ContactList
from interactive.db import utcnow
from interactive.keywords import defaults, handlers, matching, router, shortcodes, webhooks
from interactive.keywords.models import (
    Decision,
    KeywordRule,
    MatchMode,
    PhrasePolicy,
    ShortCode,
    Webhook,
    WebhookDelivery,
)
from interactive.outbound import rendering

MAX_WORD_LENGTH = 64
MAX_WORDS = 100
MAX_PHRASE_LENGTH = 200
MAX_ALIASES = 50
MAX_PATTERN_LENGTH = 300
MAX_REPLY_LENGTH = 1000
MAX_ATTRIBUTION_HOURS = 24 * 30
PRIORITY_RANGE = (-1000, 1000)
LANGUAGES = ("tr", "en")
#: Variables the router offers every reply template, besides the contact's own.
ROUTER_VARIABLES = ("keyword", "short_code", "brand", "code")
#: Variables only some of the short code's replies get.
REPLY_KIND_VARIABLES = {"opt_out_scoped": ("scope",), "opt_in_confirm": ("word",)}
#: Rule settings that name a row, and the table it must be in.
SETTING_TARGETS: dict[str, type[Any]] = {"list_id": ContactList, "webhook_id": Webhook}


@dataclass(frozen=True)
class Problem:
    field: str | None
    message: str


class RuleError(ValueError):
    """What keeps a short code, rule or webhook from being saved: one entry per problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


def _problem(field_name: str | None, message: Any) -> Problem:
    return Problem(field_name, str(message))


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL.
    return text.replace("\x00", "").strip()


def template_variables(session: Session, extra: Iterable[str] = ()) -> list[str]:
    """The variables a reply template may use: the contact's, the router's, ``extra``."""
    keys = session.scalars(sa.select(AttributeDefinition.key)).all()
    return [*rendering.BUILT_IN_VARIABLES, *keys, *ROUTER_VARIABLES, *extra]


def _template_problem(field_name: str, source: str, known: Sequence[str]) -> Problem | None:
    if len(source) > MAX_REPLY_LENGTH:
        return _problem(field_name, _l("At most %(n)d characters.", n=MAX_REPLY_LENGTH))
    try:
        rendering.check_template(source, known)
    except rendering.TemplateError as exc:
        text = str(exc)
        if text.startswith("unknown variable: "):
            name = text.removeprefix("unknown variable: ")
            return _problem(field_name, _l("Unknown variable “%(name)s”.", name=name))
        if exc.line is not None:
            return _problem(field_name, _l("Line %(line)d: %(error)s", line=exc.line, error=text))
        return _problem(field_name, text)
    return None


# --- short codes ------------------------------------------------------------------------------


@dataclass
class ShortCodeInput:
    brand_id: int | None = None
    opt_out_keywords: list[str] = field(default_factory=list)
    opt_in_keywords: list[str] = field(default_factory=list)
    help_keywords: list[str] = field(default_factory=list)
    opt_out_phrases: list[str] = field(default_factory=list)
    scoped_opt_outs: dict[str, dict[str, Any]] = field(default_factory=dict)
    double_opt_in: bool = False
    confirm_keyword: str = "EVET"
    replies: dict[str, dict[str, str]] = field(default_factory=dict)
    attribution_hours: int = 72

    @classmethod
    def of(cls, code: ShortCode) -> ShortCodeInput:
        """The short code's current settings (to change some of them)."""
        return cls(
            brand_id=code.brand_id,
            opt_out_keywords=list(code.opt_out_keywords or []),
            opt_in_keywords=list(code.opt_in_keywords or []),
            help_keywords=list(code.help_keywords or []),
            opt_out_phrases=list(code.opt_out_phrases or []),
            scoped_opt_outs={k: dict(v) for k, v in (code.scoped_opt_outs or {}).items()},
            double_opt_in=code.double_opt_in,
            confirm_keyword=code.confirm_keyword,
            replies={k: dict(v) for k, v in (code.replies or {}).items()},
            attribution_hours=code.attribution_hours,
        )


WORD_LISTS = (
    ("opt_out_keywords", _l("opt-out words")),
    ("opt_in_keywords", _l("opt-in words")),
    ("help_keywords", _l("help words")),
)


def list_short_codes(session: Session) -> list[ShortCode]:
    return list(session.scalars(sa.select(ShortCode).order_by(ShortCode.code)))


def get_short_code(session: Session, short_code_id: int) -> ShortCode | None:
    return session.get(ShortCode, short_code_id)


def rule_counts(session: Session) -> dict[int, int]:
    """Rules per short code id."""
    rows = session.execute(
        sa.select(KeywordRule.short_code_id, sa.func.count()).group_by(KeywordRule.short_code_id)
    )
    return {int(row[0]): int(row[1]) for row in rows}


def update_short_code(session: Session, code: ShortCode, data: ShortCodeInput) -> ShortCode:
    """Replace the short code's words, replies and settings (its number and connection
    come from the gateway configuration). RuleError lists what is wrong. Flushes."""
    clean = _cleaned_short_code(data)
    problems = short_code_problems(session, clean, code)
    if problems:
        raise RuleError(problems)
    code.brand_id = clean.brand_id
    code.opt_out_keywords = clean.opt_out_keywords
    code.opt_in_keywords = clean.opt_in_keywords
    code.help_keywords = clean.help_keywords
    code.opt_out_phrases = clean.opt_out_phrases
    code.scoped_opt_outs = clean.scoped_opt_outs
    code.double_opt_in = clean.double_opt_in
    code.confirm_keyword = clean.confirm_keyword
    code.replies = clean.replies
    code.attribution_hours = clean.attribution_hours
    session.flush()
    return code


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(_clean(v) for v in values))


def _cleaned_short_code(data: ShortCodeInput) -> ShortCodeInput:
    replies: dict[str, dict[str, str]] = {}
    for kind, texts in data.replies.items():
        kept = {lang: _clean(text) for lang, text in (texts or {}).items() if _clean(text or "")}
        if kept:
            replies[kind] = kept
    return ShortCodeInput(
        brand_id=data.brand_id,
        opt_out_keywords=_unique(data.opt_out_keywords),
        opt_in_keywords=_unique(data.opt_in_keywords),
        help_keywords=_unique(data.help_keywords),
        opt_out_phrases=_unique(data.opt_out_phrases),
        scoped_opt_outs={_clean(k): dict(v) for k, v in data.scoped_opt_outs.items()},
        double_opt_in=data.double_opt_in,
        confirm_keyword=_clean(data.confirm_keyword),
        replies=replies,
        attribution_hours=data.attribution_hours,
    )


def _word_problem(field_name: str, word: str) -> Problem | None:
    folded = defaults.fold_word(word)
    if not folded:
        return _problem(field_name, _l("“%(word)s” has no letters or digits.", word=word))
    if len(word) > MAX_WORD_LENGTH:
        return _problem(
            field_name,
            _l("“%(word)s” is longer than %(n)d characters.", word=word, n=MAX_WORD_LENGTH),
        )
    if " " in folded:
        return _problem(
            field_name,
            _l("“%(word)s” is not a single word; sentences go under opt-out phrases.", word=word),
        )
    return None


def short_code_problems(session: Session, data: ShortCodeInput, code: ShortCode) -> list[Problem]:
    """Everything wrong with ``data`` as the settings of ``code`` (empty: it can be saved)."""
    problems: list[Problem] = []
    if data.brand_id is not None and session.get(Brand, data.brand_id) is None:
        problems.append(_problem("brand_id", _l("No brand with id %(id)d.", id=data.brand_id)))
    owner: dict[str, str] = {}  # folded word → the list it is in
    labels = dict(WORD_LISTS)
    for name, label in WORD_LISTS:
        words: list[str] = getattr(data, name)
        if len(words) > MAX_WORDS:
            problems.append(_problem(name, _l("At most %(n)d words.", n=MAX_WORDS)))
        for word in words:
            problem = _word_problem(name, word)
            if problem is not None:
                problems.append(problem)
                continue
            folded = defaults.fold_word(word)
            if folded in owner and owner[folded] != name:
                problems.append(
                    _problem(
                        name,
                        _l(
                            "“%(word)s” is in two lists: %(a)s and %(b)s.",
                            word=word,
                            a=labels[owner[folded]],
                            b=label,
                        ),
                    )
                )
            owner.setdefault(folded, name)
    if not data.opt_out_keywords:
        problems.append(
            _problem("opt_out_keywords", _l("A short code needs at least one opt-out word."))
        )
    problems += _phrase_problems(data.opt_out_phrases)
    problems += _confirm_problems(data, owner)
    problems += _scope_problems(session, data.scoped_opt_outs)
    problems += _reply_problems(session, data.replies)
    if not 0 <= data.attribution_hours <= MAX_ATTRIBUTION_HOURS:
        problems.append(
            _problem(
                "attribution_hours",
                _l("Between 0 and %(n)d hours.", n=MAX_ATTRIBUTION_HOURS),
            )
        )
    problems += _rules_taking_words(session, code, owner)
    return problems


def _phrase_problems(phrases: Sequence[str]) -> list[Problem]:
    problems = []
    if len(phrases) > MAX_WORDS:
        problems.append(_problem("opt_out_phrases", _l("At most %(n)d phrases.", n=MAX_WORDS)))
    for phrase in phrases:
        if not defaults.fold_word(phrase):
            problems.append(
                _problem("opt_out_phrases", _l("“%(word)s” has no letters or digits.", word=phrase))
            )
        elif len(phrase) > MAX_PHRASE_LENGTH:
            problems.append(
                _problem(
                    "opt_out_phrases",
                    _l("A phrase has at most %(n)d characters.", n=MAX_PHRASE_LENGTH),
                )
            )
    return problems


def _confirm_problems(data: ShortCodeInput, owner: dict[str, str]) -> list[Problem]:
    confirm = data.confirm_keyword
    if not confirm and not data.double_opt_in:
        return []
    problem = _word_problem("confirm_keyword", confirm)
    if problem is not None:
        return [problem]
    if len(confirm) > 32:
        return [_problem("confirm_keyword", _l("At most %(n)d characters.", n=32))]
    folded = defaults.fold_word(confirm)
    if data.double_opt_in and owner.get(folded) != "opt_in_keywords":
        return [
            _problem(
                "confirm_keyword",
                _l("With double opt-in, the confirmation word must be one of the opt-in words."),
            )
        ]
    return []


def _scope_problems(session: Session, scoped: dict[str, dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    for word, target in scoped.items():
        problem = _word_problem("scoped_opt_outs", word)
        if problem is not None:
            problems.append(problem)
            continue
        keys = set(target) if isinstance(target, dict) else set()
        value = target.get("brand_id", target.get("list_id")) if keys else None
        if len(keys) != 1 or not keys <= {"brand_id", "list_id"} or not _is_id(value):
            problems.append(
                _problem(
                    "scoped_opt_outs",
                    _l("“%(word)s” must name one brand or one list.", word=word),
                )
            )
            continue
        model = Brand if "brand_id" in keys else ContactList
        if session.get(model, value) is None:
            message = (
                _l("No brand with id %(id)d.", id=value)
                if model is Brand
                else _l("No list with id %(id)d.", id=value)
            )
            problems.append(_problem("scoped_opt_outs", message))
    return problems


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _reply_problems(session: Session, replies: dict[str, dict[str, str]]) -> list[Problem]:
    problems: list[Problem] = []
    for kind, texts in replies.items():
        if kind not in defaults.REPLY_KINDS:
            problems.append(_problem("replies", _l("Unknown reply kind “%(kind)s”.", kind=kind)))
            continue
        known = template_variables(session, REPLY_KIND_VARIABLES.get(kind, ()))
        for lang, text in texts.items():
            name = f"replies.{kind}.{lang}"
            if lang not in LANGUAGES:
                problems.append(_problem(name, _l("Replies are in Turkish (tr) or English (en).")))
                continue
            problem = _template_problem(name, text, known)
            if problem is not None:
                problems.append(problem)
    return problems


def _rules_taking_words(session: Session, code: ShortCode, owner: dict[str, str]) -> list[Problem]:
    """Rules of ``code`` whose words would become opt-out, opt-in or help words."""
    problems = []
    stops = sorted(_typo_prone(w for w, name in owner.items() if name == "opt_out_keywords"))
    for rule in _rules_of(session, code.id):
        fuzzy = _fuzzy_words(rule.keyword, rule.aliases or [], rule.match_mode, rule.fuzzy)
        near = [(w, s) for w in sorted(fuzzy) for s in stops if typo_of_both(w, s)]
        if near:
            problems.append(_near_opt_out("opt_out_keywords", *near[0]))
        for word in _rule_words(rule.keyword, rule.aliases or [], rule.match_mode):
            if word in owner:
                problems.append(
                    _problem(
                        None,
                        _l(
                            "“%(word)s” is a keyword of rule %(rule)s; change the rule first.",
                            word=word.upper(),
                            rule=rule.keyword,
                        ),
                    )
                )
    return problems


# --- keyword rules ----------------------------------------------------------------------------


@dataclass
class RuleInput:
    short_code_id: int
    keyword: str
    aliases: list[str] = field(default_factory=list)
    match_mode: MatchMode = MatchMode.FIRST_WORD
    pattern: str = ""
    priority: int = 0
    fuzzy: bool = True
    fold_accents: bool = True
    active: bool = True
    active_from: datetime | None = None
    active_until: datetime | None = None
    handler: str = "auto_reply"
    settings: dict[str, Any] = field(default_factory=dict)
    reply_tr: str = ""
    reply_en: str = ""

    @classmethod
    def of(cls, rule: KeywordRule) -> RuleInput:
        """The rule as it is (to change some of its fields)."""
        return cls(
            short_code_id=rule.short_code_id,
            keyword=rule.keyword,
            aliases=list(rule.aliases or []),
            match_mode=rule.match_mode,
            pattern=rule.pattern,
            priority=rule.priority,
            fuzzy=rule.fuzzy,
            fold_accents=rule.fold_accents,
            active=rule.active,
            active_from=rule.active_from,
            active_until=rule.active_until,
            handler=rule.handler,
            settings=dict(rule.settings or {}),
            reply_tr=rule.reply_tr,
            reply_en=rule.reply_en,
        )


def _rules_of(session: Session, short_code_id: int) -> list[KeywordRule]:
    return list(
        session.scalars(
            sa.select(KeywordRule)
            .where(KeywordRule.short_code_id == short_code_id)
            .order_by(KeywordRule.priority.desc(), KeywordRule.keyword, KeywordRule.id)
        )
    )


def list_rules(session: Session, short_code_id: int) -> list[KeywordRule]:
    """The rules of a short code, highest priority first (the order the router tries)."""
    return _rules_of(session, short_code_id)


def get_rule(session: Session, rule_id: int) -> KeywordRule | None:
    return session.get(KeywordRule, rule_id)


def create_rule(session: Session, data: RuleInput) -> KeywordRule:
    """A new rule (RuleError lists what is wrong). Flushes."""
    rule = KeywordRule()
    return _save_rule(session, rule, data)


def update_rule(session: Session, rule: KeywordRule, data: RuleInput) -> KeywordRule:
    """Replace every field of ``rule`` (RuleError lists what is wrong). Flushes."""
    return _save_rule(session, rule, data)


def set_rule_active(session: Session, rule: KeywordRule, active: bool) -> KeywordRule:
    """Enable or disable a rule; enabling checks for a clash with other active rules."""
    data = RuleInput.of(rule)
    data.active = active
    return _save_rule(session, rule, data)


def delete_rule(session: Session, rule: KeywordRule) -> None:
    """Delete the rule (messages it routed keep their decision and reason). Flushes."""
    session.delete(rule)
    session.flush()


def _save_rule(session: Session, rule: KeywordRule, data: RuleInput) -> KeywordRule:
    clean = _cleaned_rule(data)
    problems = rule_problems(session, clean, rule.id)
    if problems:
        raise RuleError(problems)
    for name in (
        "short_code_id",
        "keyword",
        "aliases",
        "match_mode",
        "pattern",
        "priority",
        "fuzzy",
        "fold_accents",
        "active",
        "active_from",
        "active_until",
        "handler",
        "settings",
        "reply_tr",
        "reply_en",
    ):
        setattr(rule, name, getattr(clean, name))
    if rule.id is None:
        session.add(rule)
    session.flush()
    return rule


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:30+01:00: refused by rule_problems
        return value


def _cleaned_rule(data: RuleInput) -> RuleInput:
    settings = dict(data.settings)
    for name in SETTING_TARGETS:
        value = settings.get(name)
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            settings[name] = int(value.strip())
    return RuleInput(
        short_code_id=data.short_code_id,
        keyword=_clean(data.keyword),
        aliases=[a for a in _unique(data.aliases) if a],
        match_mode=MatchMode(data.match_mode),
        pattern=_clean(data.pattern) if data.match_mode == MatchMode.REGEX else "",
        priority=data.priority,
        fuzzy=data.fuzzy,
        fold_accents=data.fold_accents,
        active=data.active,
        active_from=_utc(data.active_from),
        active_until=_utc(data.active_until),
        handler=data.handler,
        settings=settings,
        reply_tr=_clean(data.reply_tr),
        reply_en=_clean(data.reply_en),
    )


def _rule_words(keyword: str, aliases: Iterable[str], mode: MatchMode) -> set[str]:
    """The words a rule answers to, as the router compares them across rules (folded);
    a regular-expression rule has none (its keyword is only a name)."""
    if mode == MatchMode.REGEX:
        return set()
    return {w for w in (defaults.fold_word(k) for k in (keyword, *aliases)) if w}


def _fuzzy_words(keyword: str, aliases: Iterable[str], mode: MatchMode, fuzzy: bool) -> set[str]:
    """The words of a rule that accept a typo (``matching.find``'s conditions)."""
    if not fuzzy or mode not in (MatchMode.WHOLE, MatchMode.FIRST_WORD):
        return set()
    words = _rule_words(keyword, aliases, mode)
    return {w for w in words if len(w) >= matching.MIN_FUZZY_LENGTH and " " not in w}


def _one_edit_away(word: str, alphabet: set[str]) -> set[str]:
    """``word`` and every string one edit from it over ``alphabet``."""
    out = {word}
    for i in range(len(word) + 1):
        for letter in alphabet:
            out.add(word[:i] + letter + word[i:])
        if i < len(word):
            out.add(word[:i] + word[i + 1 :])
            for letter in alphabet:
                out.add(word[:i] + letter + word[i + 1 :])
        if i < len(word) - 1:
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return out


def _typo_prone(words: Iterable[str]) -> set[str]:
    """Opt-out words whose typos are still recognisable (the length from which
    ``matching`` accepts typos at all: one slip in RET or DUR makes another word)."""
    return {w for w in words if len(w) >= matching.MIN_FUZZY_LENGTH}


def typo_of_both(word: str, stop: str) -> bool:
    """Whether one text could be a typo of (or exactly) ``stop`` and a typo of ``word``:
    then a fuzzy rule on ``word`` would take a mistyped opt-out ("STOPP" → rule STOMP).
    A letter in neither word stands for every such letter (NUL)."""
    alphabet = set(word) | set(stop) | {"\x00"}
    return any(matching.within_one_edit(text, word) for text in _one_edit_away(stop, alphabet))


def _overlap(
    a: tuple[datetime | None, datetime | None], b: tuple[datetime | None, datetime | None]
) -> bool:
    """Whether two active periods [from, until) share a moment (None: unbounded)."""
    (a_from, a_until), (b_from, b_until) = a, b
    starts_before_b_ends = a_from is None or b_until is None or a_from < b_until
    b_starts_before_a_ends = b_from is None or a_until is None or b_from < a_until
    return starts_before_b_ends and b_starts_before_a_ends


def rule_problems(session: Session, data: RuleInput, rule_id: int | None = None) -> list[Problem]:
    """Everything wrong with ``data`` as a rule (``rule_id``: the rule it replaces)."""
    problems: list[Problem] = []
    code = session.get(ShortCode, data.short_code_id) if _is_id(data.short_code_id) else None
    if code is None:
        problems.append(
            _problem("short_code_id", _l("No short code with id %(id)s.", id=data.short_code_id))
        )
    problems += _word_field_problems(data)
    if data.match_mode == MatchMode.REGEX:
        problems += _pattern_problems(data.pattern)
    if not PRIORITY_RANGE[0] <= data.priority <= PRIORITY_RANGE[1]:
        problems.append(
            _problem(
                "priority",
                _l("Between %(low)d and %(high)d.", low=PRIORITY_RANGE[0], high=PRIORITY_RANGE[1]),
            )
        )
    for name in ("active_from", "active_until"):
        value = getattr(data, name)
        if value is not None and value.utcoffset():
            problems.append(_problem(name, _l("This time is out of range.")))
    if (
        data.active_from is not None
        and data.active_until is not None
        and data.active_until <= data.active_from
    ):
        problems.append(_problem("active_until", _l("The end must be after the start.")))
    problems += _handler_problems(session, data.handler, data.settings)
    known = template_variables(session)
    for name in ("reply_tr", "reply_en"):
        problem = _template_problem(name, getattr(data, name), known)
        if problem is not None:
            problems.append(problem)
    if code is not None and not any(p.field in ("keyword", "aliases") for p in problems):
        problems += _clash_problems(session, code, data, rule_id)
    return problems


def _word_field_problems(data: RuleInput) -> list[Problem]:
    problems: list[Problem] = []
    if not matching.normalise(data.keyword, fold_accents=data.fold_accents):
        problems.append(_problem("keyword", _l("The keyword needs a letter or digit.")))
    elif len(data.keyword) > MAX_WORD_LENGTH:
        problems.append(_problem("keyword", _l("At most %(n)d characters.", n=MAX_WORD_LENGTH)))
    if len(data.aliases) > MAX_ALIASES:
        problems.append(_problem("aliases", _l("At most %(n)d aliases.", n=MAX_ALIASES)))
    for alias in data.aliases:
        if not matching.normalise(alias, fold_accents=data.fold_accents):
            problems.append(
                _problem("aliases", _l("“%(word)s” has no letters or digits.", word=alias))
            )
        elif len(alias) > MAX_WORD_LENGTH:
            problems.append(
                _problem(
                    "aliases",
                    _l(
                        "“%(word)s” is longer than %(n)d characters.",
                        word=alias,
                        n=MAX_WORD_LENGTH,
                    ),
                )
            )
    return problems


def _pattern_problems(pattern: str) -> list[Problem]:
    if not pattern:
        return [_problem("pattern", _l("A regular-expression rule needs a pattern."))]
    if len(pattern) > MAX_PATTERN_LENGTH:
        return [_problem("pattern", _l("At most %(n)d characters.", n=MAX_PATTERN_LENGTH))]
    try:
        re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as exc:
        return [
            _problem("pattern", _l("Not a valid regular expression: %(error)s", error=str(exc)))
        ]
    return []


def _handler_problems(session: Session, name: str, settings: dict[str, Any]) -> list[Problem]:
    handler = handlers.HANDLERS.get(name)
    if handler is None:
        return [_problem("handler", _l("Unknown handler “%(name)s”.", name=name))]
    problems: list[Problem] = []
    for key in sorted(set(settings) - set(handler.settings)):
        problems.append(
            _problem(f"settings.{key}", _l("This handler has no setting “%(name)s”.", name=key))
        )
    for key in handler.settings:
        value = settings.get(key)
        target = SETTING_TARGETS.get(key)
        if value is None or value == "":
            problems.append(_problem(f"settings.{key}", _l("This handler needs this setting.")))
        elif target is not None and (not _is_id(value) or session.get(target, value) is None):
            message = (
                _l("No list with id %(id)s.", id=value)
                if target is ContactList
                else _l("No webhook with id %(id)s.", id=value)
            )
            problems.append(_problem(f"settings.{key}", message))
    return problems


def _clash_problems(
    session: Session, code: ShortCode, data: RuleInput, rule_id: int | None
) -> list[Problem]:
    words = _rule_words(data.keyword, data.aliases, data.match_mode)
    if not words:
        return []
    problems: list[Problem] = []
    system = shortcodes.Words.of(code)
    for word in sorted(words):
        for kind, taken in (
            (_l("an opt-out word"), system.opt_out),
            (_l("an opt-in word"), system.opt_in),
            (_l("a help word"), system.help),
        ):
            if word in taken:
                problems.append(
                    _problem(
                        _word_field(data, word),
                        _l(
                            "“%(word)s” is %(kind)s of short code %(code)s: those always "
                            "win, so this rule would never see it.",
                            word=word.upper(),
                            kind=kind,
                            code=code.code,
                        ),
                    )
                )
    fuzzy = _fuzzy_words(data.keyword, data.aliases, data.match_mode, data.fuzzy)
    for word in sorted(fuzzy - system.opt_out - system.opt_in - system.help):
        for stop in sorted(_typo_prone(system.opt_out)):
            if typo_of_both(word, stop):
                problems.append(_near_opt_out("fuzzy", word, stop))
                break
    if not data.active:
        return problems
    period = (data.active_from, data.active_until)
    for other in _rules_of(session, code.id):
        if other.id == rule_id or not other.active:
            continue
        if not _overlap(period, (other.active_from, other.active_until)):
            continue
        shared = words & _rule_words(other.keyword, other.aliases or [], other.match_mode)
        for word in sorted(shared):
            problems.append(
                _problem(
                    _word_field(data, word),
                    _l(
                        "“%(word)s” is already a keyword of rule %(rule)s at the same time.",
                        word=word.upper(),
                        rule=other.keyword,
                    ),
                )
            )
    return problems


def _near_opt_out(field_name: str | None, word: str, stop: str) -> Problem:
    return _problem(
        field_name,
        _l(
            "“%(word)s” is one typo away from what a mistyped opt-out word %(stop)s can "
            "look like: turn off “accept one typo” for it, so that someone who wants to "
            "stop is never answered by a rule.",
            word=word.upper(),
            stop=stop.upper(),
        ),
    )


def _word_field(data: RuleInput, folded: str) -> str:
    return "keyword" if defaults.fold_word(data.keyword) == folded else "aliases"


# --- webhooks ---------------------------------------------------------------------------------


@dataclass
class WebhookInput:
    name: str
    url: str
    active: bool = True


# The target checks of ``outbound.webhooks`` answer in English, for logs and the API;
# people read these.
URL_PROBLEMS = {
    "not a valid URL": _l("This is not a valid URL."),
    "only http and https URLs are accepted": _l("Only http and https URLs are accepted."),
    "an https URL is required": _l("An https URL is required."),
    "the URL has no host": _l("The URL has no host."),
    "credentials in the URL are not accepted": _l("Credentials in the URL are not accepted."),
    "the host name does not resolve": _l("The host name does not resolve."),
    "the host is a private, loopback or reserved address": _l(
        "The host is a private, loopback or reserved address; webhooks go to public addresses only."
    ),
}


def list_webhooks(session: Session) -> list[Webhook]:
    return list(session.scalars(sa.select(Webhook).order_by(Webhook.name)))


def get_webhook(session: Session, webhook_id: int) -> Webhook | None:
    return session.get(Webhook, webhook_id)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def webhook_problems(
    session: Session,
    data: WebhookInput,
    webhook_id: int | None,
    *,
    allow_private: bool,
    production: bool,
    check_url: bool = True,
) -> list[Problem]:
    """What keeps ``data`` from being saved. ``check_url``: resolve and check the URL
    (a new one, or a webhook being enabled again)."""
    problems: list[Problem] = []
    if not data.name:
        problems.append(_problem("name", _l("A webhook needs a name.")))
    elif len(data.name) > 120:
        problems.append(_problem("name", _l("At most %(n)d characters.", n=120)))
    else:
        taken = session.scalar(sa.select(Webhook.id).where(Webhook.name == data.name))
        if taken is not None and taken != webhook_id:
            problems.append(_problem("name", _l("Another webhook has this name.")))
    why = (
        webhooks.url_problem(data.url, allow_private=allow_private, production=production)
        if check_url
        else None
    )
    if why is not None:
        message = URL_PROBLEMS.get(why) or _l("This URL cannot receive webhooks: %(why)s", why=why)
        problems.append(_problem("url", message))
    return problems


def create_webhook(
    session: Session, data: WebhookInput, *, allow_private: bool, production: bool
) -> tuple[Webhook, str]:
    """A new webhook with a new secret; returns both (the secret is shown once). Flushes."""
    data = WebhookInput(_clean(data.name), _clean(data.url), data.active)
    problems = webhook_problems(
        session, data, None, allow_private=allow_private, production=production
    )
    if problems:
        raise RuleError(problems)
    secret = new_secret()
    webhook = Webhook(name=data.name, url=data.url, secret=secret, active=data.active)
    session.add(webhook)
    session.flush()
    return webhook, secret


def update_webhook(
    session: Session,
    webhook: Webhook,
    data: WebhookInput,
    *,
    allow_private: bool,
    production: bool,
) -> Webhook:
    """Change a webhook's name, URL or state. A new URL, or the URL of a webhook being
    enabled again, is checked (each delivery checks it in any case: a webhook whose host
    stopped resolving can still be renamed or disabled). Flushes."""
    data = WebhookInput(_clean(data.name), _clean(data.url), data.active)
    problems = webhook_problems(
        session,
        data,
        webhook.id,
        allow_private=allow_private,
        production=production,
        check_url=data.url != webhook.url or (data.active and not webhook.active),
    )
    if problems:
        raise RuleError(problems)
    webhook.name, webhook.url, webhook.active = data.name, data.url, data.active
    session.flush()
    return webhook


def rotate_secret(session: Session, webhook: Webhook) -> str:
    """A new secret for ``webhook`` (the old one stops working at once). Flushes."""
    webhook.secret = new_secret()
    session.flush()
    return webhook.secret


def rules_using_webhook(session: Session, webhook_id: int) -> list[KeywordRule]:
    rules = session.scalars(sa.select(KeywordRule).where(KeywordRule.handler == "webhook"))
    return [r for r in rules if (r.settings or {}).get("webhook_id") == webhook_id]


def delete_webhook(session: Session, webhook: Webhook) -> None:
    """Delete a webhook and its deliveries; refused while a rule forwards to it."""
    users = rules_using_webhook(session, webhook.id)
    if users:
        raise RuleError(
            [
                _problem(
                    None,
                    _l(
                        "Rules forward to this webhook: %(rules)s. Change them first.",
                        rules=", ".join(r.keyword for r in users),
                    ),
                )
            ]
        )
    session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    session.delete(webhook)
    session.flush()


# --- dry run ----------------------------------------------------------------------------------


@dataclass
class Explanation:
    """What the router would do with a text on a short code (from an unknown sender with
    no open conversation)."""

    decision: Decision
    normalised: str
    matched: str = ""  # the word, phrase or regular expression
    rule: KeywordRule | None = None
    fuzzy: bool = False
    also: list[KeywordRule] = field(default_factory=list)  # other rules that matched
    scope: dict[str, Any] | None = None  # of a scoped opt-out
    phrase: bool = False  # an opt-out phrase, not a keyword
    idle: list[KeywordRule] = field(default_factory=list)  # rules not in effect that match


def explain(
    session: Session, code: ShortCode, text: str, *, now: datetime | None = None
) -> Explanation:
    """The router's decision for ``text`` on ``code``, without any effect: opt-out,
    opt-in or help (``shortcodes.classify``), else the rule ``matching.find`` picks, else the
    inbox. Reads only."""
    now = now or utcnow()
    normalised = matching.normalise(text)
    verdict = shortcodes.classify(shortcodes.Words.of(code), text)
    if verdict is not None:
        decision = verdict.decision
        if verdict.phrase:
            brand = session.get(Brand, code.brand_id) if code.brand_id is not None else None
            if brand is not None and brand.opt_out_phrase_policy == PhrasePolicy.REVIEW:
                decision = Decision.REVIEW
        return Explanation(
            decision,
            normalised,
            matched=verdict.matched,
            scope=verdict.scope,
            phrase=verdict.phrase,
        )
    # The router's own loading, so that the dry run cannot drift from the real thing.
    loaded = router.load_rules(session, {code.id}, now)
    matches = matching.find(loaded.patterns.get(code.id, []), text)
    idle = _idle_matches(session, code, text, set(loaded.by_id))
    if not matches:
        return Explanation(Decision.INBOX, normalised, idle=idle)
    best = matches[0]
    return Explanation(
        Decision.RULE,
        normalised,
        matched=best.word,
        rule=loaded.by_id[int(best.key)],  # type: ignore[call-overload]
        fuzzy=best.fuzzy,
        also=[loaded.by_id[int(m.key)] for m in matches[1:]],  # type: ignore[call-overload]
        idle=idle,
    )


def _idle_matches(
    session: Session, code: ShortCode, text: str, in_effect: set[int]
) -> list[KeywordRule]:
    """Rules of ``code`` disabled or outside their period that would match ``text``."""
    idle = [r for r in _rules_of(session, code.id) if r.id not in in_effect]
    patterns = []
    for rule in idle:
        try:
            patterns.append(
                matching.pattern(
                    rule.id,
                    rule.keyword,
                    rule.aliases or (),
                    mode=rule.match_mode,
                    regex=rule.pattern,
                    fuzzy=rule.fuzzy,
                    fold_accents=rule.fold_accents,
                    priority=rule.priority,
                )
            )
        except (re.error, OverflowError, RecursionError):
            continue
    by_id = {r.id: r for r in idle}
    return [by_id[int(m.key)] for m in matching.find(patterns, text)]  # type: ignore[call-overload]
