"""Short codes and their built-in words: the rows (created with the default words for any
number an MO arrives on) and the opt-out, opt-in and help words in comparable form."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interactive.db import utcnow
from interactive.keywords import defaults
from interactive.keywords.models import Decision, ShortCode


def code_of(destination: str) -> str:
    """The short code an MO was sent to, as short codes are stored (no "+")."""
    return destination.strip().lstrip("+")


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
        session.execute(insert_ignore(session, ShortCode, ["code"]), missing)
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


def insert_ignore(session: Session, model: Any, keys: list[str]) -> Any:
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
