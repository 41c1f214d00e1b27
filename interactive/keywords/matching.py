"""Normalising inbound text and matching it against keywords.

Customers type "İPTAL", "IPTAL", "ıptal", " Stop. " or "rEt" and mean one thing. Before
any comparison the text is NFKC-normalised (full-width letters, ligatures), folded
Turkish-aware (İ, I, ı and i are one letter: a Turkish phone writes "İPTAL" for "iptal", an
English one "IPTAL"), stripped of punctuation and surrounding space, and optionally
accent-folded (ş→s, ğ→g, ç→c, ö→o, ü→u and every other combining mark dropped).

Matching is exact first: an exact match of any keyword beats a fuzzy one, and a word that
is exactly some other keyword is never taken as a typo of this one. Fuzzy means one edit
(insertion, deletion, substitution or two neighbouring letters swapped) and only for
keywords of four letters or more, where one slip still leaves the word recognisable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from interactive.keywords.models import MatchMode

# İ (U+0130), I and ı (U+0131) all become "i" before case folding; "İ".lower() would give
# "i" plus a combining dot, and "I".lower() would never meet "ı".
_TURKISH_I = str.maketrans({"İ": "i", "I": "i", "ı": "i"})
_ACCENTS = str.maketrans({"ş": "s", "ğ": "g", "ç": "c", "ö": "o", "ü": "u", "â": "a", "î": "i"})
# Punctuation between two digits stays ("20:00", "3.5"): it is part of a time or number.
_PUNCT_KEEP = re.compile(r"(?<=\d)[:.,/](?=\d)")
_SPACE = re.compile(r"\s+")
MIN_FUZZY_LENGTH = 4


def normalise(text: str, *, fold_accents: bool = False) -> str:
    """The comparable form of ``text``: NFKC, Turkish-aware case fold, punctuation and
    symbols turned into spaces (except inside numbers), single spaces, no ends."""
    folded = unicodedata.normalize("NFKC", text).translate(_TURKISH_I).casefold()
    kept: list[str] = []
    protected = {m.start() for m in _PUNCT_KEEP.finditer(folded)}
    for index, char in enumerate(folded):
        category = unicodedata.category(char)
        if category[0] in "PSC" and index not in protected:
            kept.append(" ")
        else:
            kept.append(char)
    result = _SPACE.sub(" ", "".join(kept)).strip()
    return fold(result) if fold_accents else result


def fold(text: str) -> str:
    """Accent folding of already normalised text."""
    text = text.translate(_ACCENTS)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion, substitution
    or swap of neighbouring characters (optimal string alignment distance ≤ 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if la > lb:
        a, b = b, a
    # b is one longer: skipping one character of b must give a.
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


@dataclass(frozen=True)
class Pattern:
    """One matchable rule (or built-in word list) in comparable form."""

    key: object  # whatever the caller identifies the rule by
    words: tuple[str, ...]  # keyword and aliases, normalised (accent-folded if asked)
    mode: MatchMode = MatchMode.WHOLE
    regex: re.Pattern[str] | None = None
    fuzzy: bool = False
    fold_accents: bool = True
    priority: int = 0


@dataclass(frozen=True)
class Match:
    key: object
    word: str  # the keyword (or alias) that matched, or the regex
    fuzzy: bool
    priority: int


def pattern(
    key: object,
    keyword: str,
    aliases: Iterable[str] = (),
    *,
    mode: MatchMode = MatchMode.WHOLE,
    regex: str = "",
    fuzzy: bool = False,
    fold_accents: bool = True,
    priority: int = 0,
) -> Pattern:
    words = tuple(
        dict.fromkeys(
            w for w in (normalise(k, fold_accents=fold_accents) for k in (keyword, *aliases)) if w
        )
    )
    compiled = compile_regex(regex) if mode == MatchMode.REGEX else None
    return Pattern(key, words, mode, compiled, fuzzy, fold_accents, priority)


@lru_cache(maxsize=256)
def compile_regex(source: str) -> re.Pattern[str]:
    """Rules' regular expressions run over the normalised text, case-insensitively."""
    return re.compile(source, re.IGNORECASE)


def _exact(p: Pattern, text: str, words: Sequence[str]) -> str | None:
    if p.mode == MatchMode.REGEX:
        if p.regex is not None and p.regex.search(text):
            return p.regex.pattern
        return None
    for keyword in p.words:
        if p.mode == MatchMode.WHOLE and text == keyword:
            return keyword
        if p.mode == MatchMode.PREFIX and text.startswith(keyword):
            return keyword
        if p.mode == MatchMode.FIRST_WORD:
            size = keyword.count(" ") + 1
            if " ".join(words[:size]) == keyword:
                return keyword
    return None


def _candidate(p: Pattern, text: str, words: Sequence[str]) -> str:
    if p.mode == MatchMode.FIRST_WORD:
        return words[0] if words else ""
    return text


def find(patterns: Sequence[Pattern], text: str, *, fuzzy_allowed: bool = True) -> list[Match]:
    """Every pattern ``text`` matches, best first: exact matches (by priority, then the
    longer keyword) before fuzzy ones; fuzzy ones only when nothing matched exactly, the
    word is not exactly another pattern's keyword, and ``fuzzy_allowed``."""
    forms = {False: normalise(text), True: normalise(text, fold_accents=True)}
    split = {flag: form.split(" ") if form else [] for flag, form in forms.items()}
    exact: list[Match] = []
    for p in patterns:
        word = _exact(p, forms[p.fold_accents], split[p.fold_accents])
        if word is not None:
            exact.append(Match(p.key, word, False, p.priority))
    if exact or not fuzzy_allowed:
        return sorted(exact, key=lambda m: (-m.priority, -len(m.word)))
    every_keyword = {w for p in patterns for w in p.words}
    fuzzy: list[Match] = []
    for p in patterns:
        if not p.fuzzy or p.mode not in (MatchMode.WHOLE, MatchMode.FIRST_WORD):
            continue
        candidate = _candidate(p, forms[p.fold_accents], split[p.fold_accents])
        if not candidate or candidate in every_keyword:
            continue
        for keyword in p.words:
            long_word = len(keyword) >= MIN_FUZZY_LENGTH and " " not in keyword
            if long_word and within_one_edit(candidate, keyword):
                fuzzy.append(Match(p.key, keyword, True, p.priority))
                break
    return sorted(fuzzy, key=lambda m: -m.priority)
