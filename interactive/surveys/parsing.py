"""Reading one SMS reply as the answer to one survey question.

``parse(question, text, today=...)`` never raises for any text: it returns an ``Answer``,
either valid (``value`` is JSON-serialisable and ``how`` says how the reply was understood)
or invalid with a ``Reason`` the caller logs and re-prompts on. Nothing here touches the
database or the clock: relative dates count from the ``today`` the caller passes.

Replies are compared in the form ``keywords.matching.normalise(text, fold_accents=True)``
gives, so "HAYIR!", "hayir" and "Hayır." are one word. Rules for replies that could mean
two things (the tests pin each of them):

- Digits beat number words, number words beat stars: "5 ⭐" is 5, "beş ⭐⭐" is 5. Number
  words (0-10, Turkish and English) are never typo-matched: "fine" is one edit from "five"
  and "yeni" from "yedi".
- Scales: "8/10", "10 üzerinden 8", "8 out of 10" give 8 only when 8 is within the bounds
  and the scale written is the question's own top ("4/10" on a 1-5 rating is
  ``wrong_scale``, not 2). Two different numbers ("4 veya 5") are ``ambiguous``.
- Choices: an option is named by its label or synonym (whole phrase, any case or accent),
  by a word only that option has ("sucuklu" for "Sucuklu pizza"), with a Turkish suffix
  ("pideyi") or with one typo (words of 4+ letters). Numbers and letters count only when
  the rest of the reply is filler ("2 numara", "seçenek 2", "1 ve 3 lütfen"): in "saat 3
  gibi" the 3 is not an option. Number words yield to named options ("bir pizza" is
  Pizza). "1-3" is 1 and 3, not 1 to 3; "13" is thirteen, never 1 and 3.
- Numbers: a leading sign is read. With both "." and "," the last one is the decimal mark
  ("1.234,5", "1,234.5"). A lone "," is a Turkish decimal comma ("3,5" is 3.5, "1,000" is
  1.0). A lone "." followed by exactly three digits after a non-zero whole part is Turkish
  thousands ("1.000" is 1000, "1.5" and "0.500" are decimals); repeated separators must
  group by three ("1.000.000"). A number written with a decimal part is a float, else an
  int; ``integer_only`` accepts "3,0" as 3.
- Dates are day first ("05/04" is 5 April). Without a year, the next such date from
  today on; a weekday is the next one after today (today's weekday means next week);
  "haftaya salı" is Tuesday of next calendar week.

Longer than the house ~400 lines: eight small parsers sharing word tables and helpers, kept in
one module as asked; choices, numbers and dates are the cuts if it grows.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from interactive.keywords.matching import MIN_FUZZY_LENGTH, normalise, within_one_edit

logger = logging.getLogger(__name__)

Value = int | float | bool | str | list[int]


class QuestionType(enum.StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    YES_NO = "yes_no"
    RATING = "rating"
    NPS = "nps"
    NUMBER = "number"
    DATE = "date"
    FREE_TEXT = "free_text"


CHOICE_TYPES = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE})


class Reason(enum.StrEnum):
    EMPTY = "empty"  # nothing but spaces or punctuation
    EMOJI_ONLY = "emoji_only"  # only emoji, and none this question understands
    NOT_A_NUMBER = "not_a_number"
    NOT_AN_INTEGER = "not_an_integer"
    OUT_OF_RANGE = "out_of_range"
    WRONG_SCALE = "wrong_scale"  # "4/10" to a 1-5 question
    UNKNOWN_OPTION = "unknown_option"  # names no option (also: neither yes nor no)
    AMBIGUOUS = "ambiguous"  # two different options, numbers, dates, or yes and no
    TOO_MANY = "too_many"
    TOO_FEW = "too_few"
    NOT_A_DATE = "not_a_date"
    UNREADABLE = "unreadable"  # a bug in this module; logged


@dataclass(frozen=True)
class Option:
    label: str
    synonyms: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> Option:
        """A plain string or ``{"label": ..., "synonyms": [...]}``."""
        if isinstance(data, str):
            return cls(data.strip())
        if not isinstance(data, Mapping):
            raise TypeError("an option is a text or an object with a label")
        synonyms = data.get("synonyms") or []
        if isinstance(synonyms, str):
            synonyms = synonyms.split(",")
        if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
            raise TypeError("synonyms are a list of texts")
        label = data.get("label")
        if not isinstance(label, str):
            raise TypeError("an option needs a label")
        return cls(label.strip(), tuple(s.strip() for s in synonyms if s.strip()))

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "synonyms": list(self.synonyms)}


@dataclass(frozen=True)
class Question:
    """What a reply is parsed against. ``min``/``max`` bound rating and number answers
    (a rating is 1-5 unless set; NPS is always 0-10); ``min_choices``/``max_choices``
    bound a multiple choice (at least one unless set)."""

    type: QuestionType
    options: tuple[Option, ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    integer_only: bool = False
    lettered: bool = False
    min_choices: int | None = None
    max_choices: int | None = None

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Question:
        """Build from stored JSON; other keys (``key``, ``text``, ``branches``...) are
        ignored. Raises ``KeyError``, ``TypeError`` or ``ValueError`` for a bad one."""
        if not isinstance(data, Mapping):
            raise TypeError("a question is an object")
        kind = QuestionType(data["type"])
        raw_options = (data.get("options") or []) if kind in CHOICE_TYPES else []
        if not isinstance(raw_options, list):
            raise TypeError("options are a list")
        return cls(
            type=kind,
            options=tuple(Option.from_json(o) for o in raw_options),
            min=_json_number(data.get("min"), "min"),
            max=_json_number(data.get("max"), "max"),
            integer_only=_json_bool(data.get("integer_only"), "integer_only"),
            lettered=_json_bool(data.get("lettered"), "lettered"),
            min_choices=_json_count(data.get("min_choices"), "min_choices"),
            max_choices=_json_count(data.get("max_choices"), "max_choices"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "options": [o.to_json() for o in self.options],
            "min": self.min,
            "max": self.max,
            "integer_only": self.integer_only,
            "lettered": self.lettered,
            "min_choices": self.min_choices,
            "max_choices": self.max_choices,
        }

    def bounds(self) -> tuple[int, int]:
        """The scale of a rating or NPS question."""
        if self.type == QuestionType.NPS:
            return 0, 10
        low = 1 if self.min is None else int(self.min)
        return low, 5 if self.max is None else int(self.max)


def _json_number(value: Any, name: str) -> int | float | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = float(value.strip().replace(",", "."))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} is a number")
    if not math.isfinite(value):
        raise ValueError(f"{name} is a finite number")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _json_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f"{name} is true or false")
    return value


def _json_count(value: Any, name: str) -> int | None:
    number = _json_number(value, name)
    if number is None:
        return None
    if not isinstance(number, int) or number < 0:
        raise ValueError(f"{name} is a whole number of 0 or more")
    return number


def _check(q: Question) -> None:
    if q.min is not None and q.max is not None and q.min > q.max:
        raise ValueError("min is larger than max")
    if q.type in CHOICE_TYPES:
        if not q.options:
            raise ValueError("a choice question needs options")
        if q.lettered and len(q.options) > 26:
            raise ValueError("lettered options stop at z")
        owner: dict[str, int] = {}
        for number, option in enumerate(q.options, 1):
            if not normalise(option.label):
                raise ValueError(f"option {number} has no label")
            for name in (option.label, *option.synonyms):
                if owner.setdefault(normalise(name, fold_accents=True), number) != number:
                    raise ValueError(f"{name!r} names two options")
    if q.type == QuestionType.NPS and (q.min not in (None, 0) or q.max not in (None, 10)):
        raise ValueError("an NPS question is always 0-10")
    if q.type == QuestionType.RATING:
        if not all(b is None or isinstance(b, int) for b in (q.min, q.max)):
            raise ValueError("a rating's bounds are whole numbers")
        low, high = q.bounds()
        if not 0 <= low < high <= 100:
            raise ValueError("a rating goes from a lower to a higher whole number, 0-100")
    low_choices, high_choices = q.min_choices, q.max_choices
    if low_choices is not None and high_choices is not None and low_choices > high_choices:
        raise ValueError("min_choices is larger than max_choices")
    if high_choices == 0:
        raise ValueError("max_choices is at least 1")


@dataclass(frozen=True)
class Answer:
    """A valid answer (``reason`` is None) or an invalid one. ``how`` names the reading:
    number, number_word, letter, ordinal, label, synonym, word (an option's own word,
    maybe inflected), typo, all, none, out_of, stars, emoji, yes_word, no_word, phrase,
    date, month_name, relative, weekday, text; choices join theirs with "+"."""

    value: Value | None = None
    how: str = ""
    reason: Reason | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def _ok(value: Value, how: str) -> Answer:
    return Answer(value, how)


def _invalid(reason: Reason) -> Answer:
    return Answer(reason=reason)


def parse(question: Question, text: str, *, today: date) -> Answer:
    """Read ``text`` as the answer to ``question``. Pure; never raises for any text."""
    try:
        if not text or not text.strip():
            return _invalid(Reason.EMPTY)
        return _PARSERS[question.type](question, text, today)
    except Exception:
        # A reply must never stop the router; the bug is logged (without the text).
        logger.exception("survey reply could not be parsed (question type %s)", question.type)
        return _invalid(Reason.UNREADABLE)


# --- Shared ------------------------------------------------------------------------------------

# Keycaps ("5️⃣") and variation selectors would otherwise glue themselves to digits.
_INVISIBLE = str.maketrans({"\ufe0e": "", "\ufe0f": "", "\u20e3": "", "\u200d": "", "🔟": " 10 "})
_STARS = frozenset("⭐★🌟")
_NUMBER_WORDS = {
    "sifir": 0, "bir": 1, "iki": 2, "uc": 3, "dort": 4, "bes": 5,
    "alti": 6, "yedi": 7, "sekiz": 8, "dokuz": 9, "on": 10,
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_MAX_DIGITS = 15  # beyond this a float loses digits; such replies are out of range


def _words(text: str) -> list[str]:
    folded = normalise(text.translate(_INVISIBLE), fold_accents=True)
    return folded.split(" ") if folded else []


def _nothing(text: str) -> Answer:
    """The reason for a reply with no words: emoji only, or only punctuation."""
    symbols = any(unicodedata.category(c) in ("So", "Sk") for c in text)
    return _invalid(Reason.EMOJI_ONLY if symbols else Reason.EMPTY)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _has_digit(word: str) -> bool:
    return re.search(r"\d", word) is not None


def _inflected(word: str, stem: str) -> bool:
    """``word`` is ``stem`` with a short Turkish suffix ("pideyi", "aralıkta")."""
    return (
        len(stem) >= MIN_FUZZY_LENGTH
        and word.startswith(stem)
        and 0 < len(word) - len(stem) <= 3
        and word[len(stem) :].isalpha()
    )


# --- Rating and NPS ------------------------------------------------------------------------------

_OUT_OF = (
    # (pattern, group of the score, group of the scale)
    (re.compile(r"(?<![\d.,/])(\d{1,3})/(\d{1,3})(?![\d.,/])"), 1, 2),
    (re.compile(r"(?<!\S)(\d{1,3}) (?:uzerinden|ustunden|te|de|ta|da) (\d{1,3})(?!\S)"), 2, 1),
    (re.compile(r"(?<!\S)(\d{1,3}) (?:out of|of) (\d{1,3})(?!\S)"), 1, 2),
)
_DECIMAL = re.compile(r"(\d+)[.,](\d+)")


def _scale(question: Question, text: str, today: date) -> Answer:
    low, high = question.bounds()
    words = _words(text)
    stars = sum(c in _STARS for c in text) if question.type == QuestionType.RATING else 0
    if not words:
        return _in_range(stars, low, high, "stars") if stars else _nothing(text)
    how = "number"
    if not any(_has_digit(w) for w in words):
        how = "number_word"
        words = [str(_NUMBER_WORDS.get(w, w)) for w in words]
    joined = " ".join(words)
    for pattern, score_group, scale_group in _OUT_OF:
        found = pattern.search(joined)
        if found:
            score, scale = int(found.group(score_group)), int(found.group(scale_group))
            if not low <= score <= high:
                return _invalid(Reason.OUT_OF_RANGE)
            return _ok(score, "out_of") if scale == high else _invalid(Reason.WRONG_SCALE)
    values: set[int] = set()
    fraction = False
    for word in words:
        if word.isdecimal():
            values.add(int(word) if len(word) <= _MAX_DIGITS else high + 1)
        elif (decimal := _DECIMAL.fullmatch(word)) is not None:
            if decimal.group(2).strip("0"):
                fraction = True
            elif len(decimal.group(1)) <= _MAX_DIGITS:
                values.add(int(decimal.group(1)))
    if len(values) > 1:
        return _invalid(Reason.AMBIGUOUS)
    if values:
        return _in_range(values.pop(), low, high, how)
    if fraction:
        return _invalid(Reason.NOT_AN_INTEGER)
    return _in_range(stars, low, high, "stars") if stars else _invalid(Reason.NOT_A_NUMBER)


def _in_range(value: int, low: int, high: int, how: str) -> Answer:
    return _ok(value, how) if low <= value <= high else _invalid(Reason.OUT_OF_RANGE)


# --- Number --------------------------------------------------------------------------------------

# A sign only right after a space or the start: in "5-6" the dash separates two numbers.
_NUMBER = re.compile(r"(?:(?<!\S)([+\-−]))?(?<![\d.,/:])(\d(?:[\d.,]*\d)?)(?![\d/:]|[.,]\d)")


def _number(question: Question, text: str, today: date) -> Answer:
    values: list[int | float] = []
    how = "number"
    for found in _NUMBER.finditer(unicodedata.normalize("NFKC", text)):
        digits = found.group(2)
        if sum(c.isdigit() for c in digits) > _MAX_DIGITS:
            return _invalid(Reason.OUT_OF_RANGE)
        value = _read_number(digits)
        if value is not None:
            values.append(-value if found.group(1) in ("-", "−") else value)
    if not values:
        words = _words(text)
        if not words:
            return _nothing(text)
        values = [_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS]
        how = "number_word"
    if not values:
        return _invalid(Reason.NOT_A_NUMBER)
    if len(set(values)) > 1:
        return _invalid(Reason.AMBIGUOUS)
    value = values[0]
    if question.integer_only:
        if isinstance(value, float) and not value.is_integer():
            return _invalid(Reason.NOT_AN_INTEGER)
        value = int(value)
    if (question.min is not None and value < question.min) or (
        question.max is not None and value > question.max
    ):
        return _invalid(Reason.OUT_OF_RANGE)
    return _ok(value, how)


def _grouped(whole: str, separator: str) -> bool:
    return re.fullmatch(rf"\d{{1,3}}(?:{re.escape(separator)}\d{{3}})*", whole) is not None


def _read_number(written: str) -> int | float | None:
    """The value of digits with "." and ","; None when the separators make no number
    (the rule is in the module docstring)."""
    if "." in written and "," in written:
        decimal = "." if written.rfind(".") > written.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        whole, _, fraction = written.rpartition(decimal)
        if decimal in whole or not _grouped(whole, thousands):
            return None
        return float(f"{whole.replace(thousands, '')}.{fraction}")
    separator = "." if "." in written else "," if "," in written else ""
    if not separator:
        return int(written)
    parts = written.split(separator)
    if len(parts) > 2:
        return int(written.replace(separator, "")) if _grouped(written, separator) else None
    whole, fraction = parts
    if separator == "." and len(fraction) == 3 and len(whole) <= 3 and int(whole) != 0:
        return int(whole + fraction)
    return float(f"{whole}.{fraction}")


# --- Single and multiple choice -----------------------------------------------------------------

_FILLER = _word_set(
    """secenek secenegi secim secimim sik sikki option choice numara numarali nolu number no
    nr num lutfen please pls plz cevap cevabim cevabi answer my is it its the i id would like
    ben bence benim tercih tercihim olsun gelsin istiyorum isterim alayim alirim want take
    choose pick sectim secerim seciyorum tesekkurler tesekkur ederim thanks thank you tsk
    sagol sagolun merhaba selam hi hello ok okay tamam ve and ile veya ya da de or also tane
    adet"""
)
# What follows a number: "3'ü" is "3 u", "2.si" is "2 si".
_NUMBER_SUFFIXES = _word_set("u i yu yi e a ye ya si su nci inci uncu ncu nolu")
_ORDINALS = {
    "ilk": 1, "birinci": 1, "ikinci": 2, "ucuncu": 3, "dorduncu": 4, "besinci": 5,
    "altinci": 6, "yedinci": 7, "sekizinci": 8, "dokuzuncu": 9, "onuncu": 10,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_ALL = frozenset({"hepsi", "hepsini", "tumu", "tumunu", "tamami", "all", "both", "ikisi"})
_NONE = frozenset({"hicbiri", "hicbirini", "none", "neither"})
_CHOICE_NUMBER = re.compile(r"(\d+(?:[.,/:]\d+)*)(?:st|nd|rd|th|n?ci|n?cu|inci|uncu)?")


@dataclass(frozen=True)
class _Vocabulary:
    phrases: tuple[tuple[tuple[str, ...], int, str], ...]  # words, option, how; longest first
    own_words: Mapping[str, int]  # words only one option's names use
    known: frozenset[str]  # every word of every name: never a typo of another


@lru_cache(maxsize=256)
def _vocabulary(options: tuple[Option, ...]) -> _Vocabulary:
    phrases: list[tuple[tuple[str, ...], int, str]] = []
    for number, option in enumerate(options, 1):
        names = [("label", option.label)] + [("synonym", s) for s in option.synonyms]
        phrases += [(tuple(_words(name)), number, how) for how, name in names if _words(name)]
    owners: dict[str, set[int]] = {}
    for words, number, _ in phrases:
        for word in words:
            owners.setdefault(word, set()).add(number)
    own = {
        word: next(iter(numbers))
        for word, numbers in owners.items()
        if len(numbers) == 1 and len(word) >= 3 and word not in _FILLER and not _has_digit(word)
    }
    phrases.sort(key=lambda p: -len(p[0]))
    return _Vocabulary(tuple(phrases), own, frozenset(owners))


@dataclass
class _Named:
    """What a choice reply names: options by their words, and numbers or letters."""

    by_name: dict[int, str] = field(default_factory=dict)
    explicit: list[tuple[int, str]] = field(default_factory=list)
    others: int = 0  # words that are neither names, references nor filler
    every: bool = False
    nothing: bool = False


def _named(question: Question, words: Sequence[str]) -> _Named:
    vocabulary = _vocabulary(question.options)
    named = _Named()
    used = [False] * len(words)
    for phrase, number, how in vocabulary.phrases:
        size = len(phrase)
        for start in range(len(words) - size + 1):
            if not any(used[start : start + size]) and tuple(words[start : start + size]) == phrase:
                used[start : start + size] = [True] * size
                named.by_name.setdefault(number, how)
    after_number = False
    for index, word in enumerate(words):
        if used[index]:
            after_number = False
            continue
        was_number, after_number = after_number, False
        if (digits := _CHOICE_NUMBER.fullmatch(word)) is not None:
            parts = re.split(r"[.,/:]", digits.group(1))
            named.explicit += [(int(p) if len(p) <= 4 else 0, "number") for p in parts]
            after_number = True
        elif was_number and word in _NUMBER_SUFFIXES:
            continue
        elif question.lettered and len(word) == 1 and "a" <= word < chr(97 + len(question.options)):
            named.explicit.append((ord(word) - 96, "letter"))
        elif (ordinal := _ordinal(word)) is not None:
            named.explicit.append((ordinal, "ordinal"))
        elif word in _NUMBER_WORDS:
            named.explicit.append((_NUMBER_WORDS[word], "number_word"))
        elif word in _ALL or word in _NONE:
            named.every |= word in _ALL
            named.nothing |= word in _NONE
        elif word in vocabulary.own_words:
            named.by_name.setdefault(vocabulary.own_words[word], "word")
        elif word in _FILLER or word in vocabulary.known:
            continue
        else:
            loose = _loose(word, vocabulary)
            for number, how in loose:
                named.by_name.setdefault(number, how)
            named.others += not loose
    return named


def _ordinal(word: str) -> int | None:
    if word in _ORDINALS:
        return _ORDINALS[word]
    return next((n for stem, n in _ORDINALS.items() if _inflected(word, stem)), None)


def _loose(word: str, vocabulary: _Vocabulary) -> list[tuple[int, str]]:
    """Options ``word`` names with a suffix or one typo."""
    suffixed = [(n, "word") for w, n in vocabulary.own_words.items() if _inflected(word, w)]
    if suffixed or len(word) < MIN_FUZZY_LENGTH:
        return suffixed
    return [
        (n, "typo")
        for w, n in vocabulary.own_words.items()
        if len(w) >= MIN_FUZZY_LENGTH and within_one_edit(word, w)
    ]


def _choice(question: Question, text: str, today: date) -> Answer:
    words = _words(text)
    if not words:
        return _nothing(text)
    named = _named(question, words)
    count = len(question.options)
    explicit = named.explicit
    if named.others:
        explicit = []  # "saat 3 gibi": a number inside a sentence is not an option
    if named.by_name:
        explicit = [(n, how) for n, how in explicit if how != "number_word"]  # "bir pizza"
    if any(not 1 <= n <= count for n, _ in explicit):
        return _invalid(Reason.OUT_OF_RANGE)
    chosen = dict(named.by_name)
    for number, how in explicit:
        chosen.setdefault(number, how)
    multiple = question.type == QuestionType.MULTIPLE_CHOICE
    if named.every and not chosen:
        chosen = {n: "all" for n in range(1, count + 1)}
    if not chosen:
        if multiple and named.nothing:
            return _selection(question, [], "none")
        return _invalid(Reason.UNKNOWN_OPTION)
    if multiple:
        return _selection(question, sorted(chosen), "+".join(sorted(set(chosen.values()))))
    if len(chosen) > 1:
        return _invalid(Reason.AMBIGUOUS)
    (number, how), *_ = chosen.items()
    return _ok(number, how)


def _selection(question: Question, numbers: list[int], how: str) -> Answer:
    least = 1 if question.min_choices is None else question.min_choices
    if len(numbers) < least:
        return _invalid(Reason.TOO_FEW)
    if question.max_choices is not None and len(numbers) > question.max_choices:
        return _invalid(Reason.TOO_MANY)
    return _ok(numbers, how)


# --- Yes / no ------------------------------------------------------------------------------------

_YES = _word_set(
    """evet evt eet evat yes yep yeah yea yup ok okay okey tamam tmm tamamdir olur olr
    sure isterim var katiliyorum aynen dogru"""
)
_NO = _word_set(
    """hayir hayr hyr hayi no nope nah yok yo olmaz istemem istemiyorum asla never degil
    degilim katilmiyorum yanlis"""
)
# Words that make a yes or a no stronger, and alone mean yes: "kesinlikle", "tabii ki hayır".
_STRONG = _word_set("kesinlikle tabii tabi tabiki elbette absolutely definitely certainly")
_YES_PHRASES = ("sorun yok", "problem yok", "no problem", "why not", "neden olmasin", "of course")
_NO_PHRASES = ("not really", "pek degil", "pek sayilmaz", "hic de degil")
_YES_EMOJI = frozenset("👍✅✔☑👌")
_NO_EMOJI = frozenset("👎❌✖🚫⛔")
_LETTERS = {"e": True, "y": True, "h": False, "n": False}


def _yes_no(question: Question, text: str, today: date) -> Answer:
    yes = sum(c in _YES_EMOJI for c in text)
    no = sum(c in _NO_EMOJI for c in text)
    how = "emoji"
    words = _words(text)
    if not words and not yes and not no:
        return _nothing(text)
    if len(words) == 1 and words[0] in _LETTERS:
        return _ok(_LETTERS[words[0]], "yes_word" if _LETTERS[words[0]] else "no_word")
    joined = f" {' '.join(words)} "
    strong = 0
    for phrases, is_yes in ((_YES_PHRASES, True), (_NO_PHRASES, False)):
        for phrase in phrases:
            if f" {phrase} " in joined:
                joined = joined.replace(f" {phrase} ", " ")
                yes, no, how = yes + is_yes, no + (not is_yes), "phrase"
    for word in joined.split():
        squeezed = re.sub(r"(.)\1+", r"\1", word)  # "evettt", "hayırrr", "nooo"
        for form in (word, squeezed):
            if form in _YES or form in _NO or form in _STRONG:
                yes, no, strong = (
                    yes + (form in _YES),
                    no + (form in _NO),
                    strong + (form in _STRONG),
                )
                how = "yes_word" if form in _YES else "no_word" if form in _NO else how
                break
        else:
            typo = _typo_of(word)
            if typo is not None:
                yes, no, how = yes + typo, no + (not typo), "typo"
    if yes and no:
        return _invalid(Reason.AMBIGUOUS)
    if yes or no:
        return _ok(bool(yes), how)
    return _ok(True, "yes_word") if strong else _invalid(Reason.UNKNOWN_OPTION)


def _typo_of(word: str) -> bool | None:
    """True or False when ``word`` (4+ letters) is one edit from one yes or no word."""
    if len(word) < MIN_FUZZY_LENGTH or word in _FILLER:
        return None
    hits = {
        is_yes
        for words, is_yes in ((_YES, True), (_NO, False))
        for known in words
        if len(known) >= MIN_FUZZY_LENGTH and within_one_edit(word, known)
    }
    return hits.pop() if len(hits) == 1 else None


# --- Date ----------------------------------------------------------------------------------------

_NUMERIC_DATE = re.compile(r"(?<![\d.,/-])(\d{1,2})[./-](\d{1,2})(?:[./-](\d{4}|\d{2}))?(?![\d])")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_MONTHS = {
    "ocak": 1, "subat": 2, "mart": 3, "nisan": 4, "mayis": 5, "haziran": 6, "temmuz": 7,
    "agustos": 8, "eylul": 9, "ekim": 10, "kasim": 11, "aralik": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
_MONTH_ABBREVIATIONS = {
    "oca": 1, "sub": 2, "mar": 3, "nis": 4, "haz": 6, "tem": 7, "agu": 8, "eyl": 9,
    "eki": 10, "kas": 11, "ara": 12, "jan": 1, "feb": 2, "apr": 4, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_RELATIVE = {
    "day after tomorrow": 2, "yarindan sonra": 2, "obur gun": 2, "bugun": 0, "today": 0,
    "yarin": 1, "tomorrow": 1, "dun": -1, "yesterday": -1,
}  # fmt: skip
_WEEKDAYS = {
    "pazartesi": 0, "sali": 1, "carsamba": 2, "persembe": 3, "cuma": 4, "cumartesi": 5,
    "pazar": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
    "saturday": 5, "sunday": 6,
}  # fmt: skip
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")


def _date(question: Question, text: str, today: date) -> Answer:
    words = _words(text)
    if not words:
        return _nothing(text)
    found = _written_dates(text, words, today) | _relative_dates(words, today)
    if len(found) > 1:
        return _invalid(Reason.AMBIGUOUS)
    if found:
        (day, how), *_ = found.items()
        return _ok(day.isoformat(), how)
    return _invalid(Reason.NOT_A_DATE)


def _written_dates(text: str, words: Sequence[str], today: date) -> dict[date, str]:
    """ "2026-12-25", "25.12.2026", "25/12", "25 Aralık", "December 25th 2026"; impossible
    ones ("31.02") are left out."""
    found: dict[date, str] = {}
    plain = unicodedata.normalize("NFKC", text)
    for match in _ISO_DATE.finditer(plain):
        year, month, day = map(int, match.groups())
        _put(found, _make(year, month, day), "date")
    for match in _NUMERIC_DATE.finditer(_ISO_DATE.sub(" ", plain)):
        day, month = int(match.group(1)), int(match.group(2))
        _put(found, _day_month(day, month, match.group(3), today), "date")
    for index, word in enumerate(words):
        named_month = _month(word)
        before = _DAY.fullmatch(words[index - 1]) if index else None
        after = _DAY.fullmatch(words[index + 1]) if index + 1 < len(words) else None
        written_day = before or after
        if named_month is not None and written_day is not None:
            following = words[index + 1 : index + 3]
            year_text = next((w for w in following if re.fullmatch(r"\d{4}", w)), None)
            day = int(written_day.group(1))
            _put(found, _day_month(day, named_month, year_text, today), "month_name")
    return found


def _relative_dates(words: Sequence[str], today: date) -> dict[date, str]:
    """ "bugün", "yarın", "öbür gün", "pazartesi", "haftaya salı"."""
    found: dict[date, str] = {}
    joined = f" {' '.join(words)} "
    for phrase, days in _RELATIVE.items():
        if f" {phrase} " in joined:
            joined = joined.replace(f" {phrase} ", " ")
            _put(found, _shift(today, days), "relative")
    next_week = " haftaya " in joined or " gelecek hafta " in joined
    for word in joined.split():
        weekday = _WEEKDAYS.get(word)
        if weekday is None:
            weekday = next((d for w, d in _WEEKDAYS.items() if _inflected(word, w)), None)
        if weekday is not None:
            _put(found, _weekday(today, weekday, next_week=next_week), "weekday")
    return found


def _put(found: dict[date, str], day: date | None, how: str) -> None:
    if day is not None:
        found.setdefault(day, how)


def _shift(today: date, days: int) -> date | None:
    try:
        return today + timedelta(days=days)
    except OverflowError:  # only near year 9999
        return None


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day_month(day: int, month: int, year: str | None, today: date) -> date | None:
    if year is not None:
        return _make(int(year) + (2000 if len(year) == 2 else 0), month, day)
    for candidate in range(today.year, today.year + 8):  # 29 February waits for a leap year
        made = _make(candidate, month, day)
        if made is not None and made >= today:
            return made
    return None


def _month(word: str) -> int | None:
    if word in _MONTHS:
        return _MONTHS[word]
    if word in _MONTH_ABBREVIATIONS:
        return _MONTH_ABBREVIATIONS[word]
    for name, number in _MONTHS.items():
        if _inflected(word, name):
            return number
    if len(word) >= MIN_FUZZY_LENGTH:
        typos = {n for name, n in _MONTHS.items() if len(name) >= 5 and within_one_edit(word, name)}
        return typos.pop() if len(typos) == 1 else None
    return None


def _weekday(today: date, weekday: int, *, next_week: bool) -> date | None:
    if next_week:
        return _shift(today, 7 - today.weekday() + weekday)
    return _shift(today, (weekday - today.weekday() - 1) % 7 + 1)


# --- Free text -----------------------------------------------------------------------------------


def _free_text(question: Question, text: str, today: date) -> Answer:
    return _ok(text.strip(), "text")


_PARSERS = {
    QuestionType.SINGLE_CHOICE: _choice,
    QuestionType.MULTIPLE_CHOICE: _choice,
    QuestionType.YES_NO: _yes_no,
    QuestionType.RATING: _scale,
    QuestionType.NPS: _scale,
    QuestionType.NUMBER: _number,
    QuestionType.DATE: _date,
    QuestionType.FREE_TEXT: _free_text,
}


# --- Re-prompt hints -----------------------------------------------------------------------------


def prompt_options(question: Question) -> list[str]:
    """The valid answers a (re-)prompt lists, e.g. ["1) Pizza", "2) Pide"] or
    ["EVET / HAYIR"]; empty when any text of the right kind will do. Plain GSM-7 text:
    a "≥" would make the whole SMS UCS-2 and halve its length."""
    if question.type in CHOICE_TYPES:
        return [
            f"{chr(96 + n) if question.lettered else n}) {option.label}"
            for n, option in enumerate(question.options, 1)
        ]
    if question.type == QuestionType.YES_NO:
        return ["EVET / HAYIR"]
    if question.type in (QuestionType.RATING, QuestionType.NPS):
        low, high = question.bounds()
        return [f"{low}-{high}"]
    if question.type == QuestionType.NUMBER:
        least, most = question.min, question.max
        if least is not None and most is not None:
            return [f"{least}-{most}"]
        if least is not None:
            return [f">= {least}"]
        if most is not None:
            return [f"<= {most}"]
    return []
