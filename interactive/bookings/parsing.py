"""Reading a free-text booking request ("REZ yarın 20:00 4 kişi Ahmet adına").

``parse(text, received_at=..., tz=...)`` returns a ``Parsed``: the date, time, party size,
name and note it found, each with a confidence (1.0 for an exact form such as "20:00",
"12.12.2026" or "4 kişi", less for a guess), plus ``cancel`` and the leading ``keyword``.
It never raises for any text and touches neither the database nor the clock. Turkish and
English are read in any case and with or without Turkish letters ("KİŞİ", "kisi", "YARIN",
"obur gun"). Each understood phrase is taken out of the text before the next kind is
looked for; the note is what is left, in the customer's own words.

Rules for what could mean two things (the tests pin each of them):

- Relative dates count from the message's receive time in the venue's zone. A past time
  "today" is still today. A day and month without a year is the next such day from today
  on (in December, "05.01" is next January). A date with a year is taken as written.
- Weekdays: "cuma", "bu cuma", "on Friday" are the coming Friday, today if today is Friday
  (with less confidence). "gelecek cuma", "haftaya cuma", "next Friday" are the Friday of
  next calendar week (weeks start on Monday), however close the coming Friday is.
  "önümüzdeki cuma" is the coming one. "cumartesi" is never "cuma".
- Times: hours 1-11 without "sabah", "akşam", am or pm are evening (a restaurant's
  bookings), with less confidence: "8", "8:30", "saat 8'de" and "8 buçuk" are 20:00, 20:30,
  20:00 and 20:30. A clock time with a two-digit hour is taken as written ("10:30" and
  "08:00" are morning, as is "saat 08"; "saat 10" is 22:00). "öğlen" is 12:00, "öğleden
  sonra 3" 15:00, "gece 11" 23:00; "gece 12" and "midnight" are 00:00 of the same date,
  with low confidence.
- "a:b" is a time and "a/b" a date. "a.b" is a time when a time word goes with it ("saat
  12.12", "8.30 pm") or it cannot be a day and month ("20.00", "12.30"), a date when it
  cannot be a time ("25.12"); when it can be both ("12.12", "20.05") it is a date, unless
  the message already has a date and no time, or ``expect`` says otherwise.
- Party: "4 kişi(lik)", "dört kişi", "4 people", "table for two", "party of 4", "biz 5
  kişiyiz". "for 4" is a party (less sure) unless a time follows ("for 8pm"). "2 kişi daha"
  (two more) is not a party size. In "4 kişi + 1 bebek" the baby goes to the note.
- Corrections: "4 değil 6 kişi", "yarın değil cuma", "6 instead of 4", "not 4 but 6": the
  value before "değil"/"yerine" or after "not"/"instead of" is dropped.
- A number on its own ("20", "3") is read by ``expect`` (the question the customer is
  answering): a party size, an (evening) hour or a day of the month. Without ``expect`` a
  lone 12-23 is an hour, a lone 1-11 an evening hour when a date was given, and a lone
  1-20 a party size when both date and time were given; all with low confidence.
- Name: "Ahmet (Yılmaz) adına", "adım Ayşe", "ismim Ali", "name John", "under the name
  Smith" (up to three words, kept as written); "for John" only when capitalised, with low
  confidence. Lower-case names after a marker are one word.
- Two different values for one field ("20:00 veya 21:00"): the surest one, first on a tie,
  with confidence at most 0.5.

Every pattern is linear: no nested unbounded repetition, and each starts only at a word's
start, so a 50 KB message of one repeated letter is read in milliseconds. Longer than the
house ~400 lines: one pipeline of small stages sharing one reading state, kept together so
the order of the stages (at the bottom) can be read in one place; the word tables
(``vocabulary``) and the position-keeping text (``text``) are already apart, and times are
the next cut if it grows.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

from interactive.bookings import vocabulary as words
from interactive.bookings.text import Text, Token, fold
from interactive.bookings.vocabulary import alternation


class Field(enum.StrEnum):
    DATE = "date"
    TIME = "time"
    PARTY = "party"
    NAME = "name"
    NOTE = "note"


Value = dt.date | dt.time | int | str

EXACT = 1.0
INFERRED = 0.9  # "12.12": the year is inferred; "gelecek cuma"
LIKELY = 0.8  # "for 4", "cuma" said on a Friday
GUESS = 0.7  # "8" read as 20:00, "12.12" that could be a time
WEAK = 0.5  # lone numbers without a question, conflicting values, "gece 12"
MAX_PARTY = 999


@dataclass(frozen=True)
class Parsed:
    """What one message says about a booking; ``None`` where it says nothing."""

    date: dt.date | None = None
    time: dt.time | None = None
    party: int | None = None
    name: str | None = None
    note: str | None = None
    confidence: Mapping[Field, float] = field(default_factory=dict, hash=False)
    cancel: bool = False
    keyword: str | None = None  # the leading "REZ", "Booking"..., as written

    def value(self, which: Field) -> Value | None:
        value: Value | None = getattr(self, which.value)
        return value

    @property
    def found(self) -> frozenset[Field]:
        return frozenset(which for which in Field if self.value(which) is not None)

    def combined(self, change: Parsed) -> Parsed:
        """This request with a later message of the same dialogue applied: every field the
        change has replaces this one's, with its confidence ("saati 21 yap" changes only the
        time); notes add up; a cancel stays."""
        confidence = dict(self.confidence)
        confidence.update({which: change.confidence[which] for which in change.found})
        notes = [n for n in (self.note, change.note) if n]
        return Parsed(
            date=_either(change.date, self.date),
            time=_either(change.time, self.time),
            party=_either(change.party, self.party),
            name=_either(change.name, self.name),
            note="; ".join(dict.fromkeys(notes)) or None,
            confidence=confidence,
            cancel=self.cancel or change.cancel,
            keyword=self.keyword or change.keyword,
        )


def parse(
    text: str,
    *,
    received_at: dt.datetime,
    tz: ZoneInfo | str,
    expect: Field | None = None,
) -> Parsed:
    """Read ``text`` as a booking request received at ``received_at`` (naive means UTC)
    by a venue in zone ``tz``; ``expect`` is the field the customer was just asked for, so
    a bare "3" or "20" can be read. Raises only for an unknown zone name."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=dt.UTC)
    try:
        today = received_at.astimezone(zone).date()
    except OverflowError:  # within hours of datetime.max or datetime.min
        today = received_at.date()
    reading = _Reading(Text(text), today, expect)
    for stage in _STAGES:
        stage(reading)
    return reading.result()


# --- Reading -------------------------------------------------------------------------------------


@dataclass
class _Reading:
    text: Text
    today: dt.date
    expect: Field | None
    found: dict[Field, list[tuple[Value, float]]] = field(default_factory=dict)
    cancel: bool = False
    keyword: str | None = None

    def add(self, which: Field, value: Value | None, confidence: float) -> bool:
        if value is None:
            return False
        self.found.setdefault(which, []).append((value, confidence))
        return True

    def has(self, which: Field) -> bool:
        return which in self.found

    def scan(self, pattern: re.Pattern[str], handler: _Handler) -> None:
        """Offer every match to ``handler``; what it accepts is taken out of the text."""
        spans = [m.span() for m in pattern.finditer(self.text.folded) if handler(self, m)]
        if spans:
            self.text.remove(spans)

    def result(self) -> Parsed:
        chosen = {which: _choose(values) for which, values in self.found.items()}
        note = _note(self.text)
        if note:
            chosen[Field.NOTE] = (note, EXACT)
        values = {which: value for which, (value, _) in chosen.items()}
        return Parsed(
            date=_typed(values.get(Field.DATE), dt.date),
            time=_typed(values.get(Field.TIME), dt.time),
            party=_typed(values.get(Field.PARTY), int),
            name=_typed(values.get(Field.NAME), str),
            note=note,
            confidence={which: confidence for which, (_, confidence) in chosen.items()},
            cancel=self.cancel,
            keyword=self.keyword,
        )


_Handler = Callable[[_Reading, re.Match[str]], bool]
_T = TypeVar("_T")


def _either(preferred: _T | None, fallback: _T | None) -> _T | None:
    return fallback if preferred is None else preferred


def _typed(value: Value | None, kind: type[_T]) -> _T | None:
    return value if isinstance(value, kind) else None


def _choose(values: Sequence[tuple[Value, float]]) -> tuple[Value, float]:
    value, confidence = max(values, key=lambda candidate: candidate[1])
    if any(other != value for other, _ in values):
        confidence = min(confidence, WEAK)
    return value, confidence


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else words.NUMBERS.get(text)


def _shift(today: dt.date, days: int) -> dt.date | None:
    try:
        return today + dt.timedelta(days=days)
    except OverflowError:
        return None


def _make(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _next_day_month(today: dt.date, day: int, month: int) -> dt.date | None:
    for year in range(today.year, min(today.year + 8, dt.MAXYEAR) + 1):
        made = _make(year, month, day)  # 29 February waits for a leap year
        if made is not None and made >= today:
            return made
    return None


def _next_day_of_month(today: dt.date, day: int) -> dt.date | None:
    for ahead in range(3):  # 31st: this month or one of the next two has it
        month_index = today.month - 1 + ahead
        made = _make(today.year + month_index // 12, month_index % 12 + 1, day)
        if made is not None and made >= today:
            return made
    return None


def _could_be_day_month(day: int, month: int) -> bool:
    return _make(2000, month, day) is not None  # a leap year: 29.02 counts


# --- Patterns ------------------------------------------------------------------------------------

_NUMW = alternation(words.NUMBERS)
_EN_NUMW = alternation(words.EN_NUMBERS)
_PERIODS = alternation(words.PERIODS)
_DAYWORDS = alternation([*words.WEEKDAYS, *words.RELATIVE_DAYS])
_START = r"(?<![\w'.:/])"  # a number or word starts here, not inside "12.12" or "abc"
_AMPM = r"(?P<ampm>[ap])\.?m\b\.?"

_CANCEL = re.compile(
    r"(?<![\w'])(?P<neg>(?:don't|dont|do\snot)\s)?"
    r"(?:iptal|cancel(?:led|ed|lation)?|vazgec[a-z]{0,6})(?:\s(?P<verb>e[dt][a-z]{0,12}))?"
    r"(?:\s(?:(?:my|our|the)\s)?(?:booking|reservation|table|rez))?(?![\w])"
)
_OLD_VALUE = (
    rf"(?:[0-9]{{1,2}}(?:[:.][0-9]{{2}})?(?:\s?[ap]m)?|{_NUMW})(?:'?[a-z]{{1,3}})?"
    rf"(?:\s(?:kisi[a-z]{{0,6}}|people|pax))?|(?:{_DAYWORDS})(?:'?[a-z]{{1,4}})?"
)
_CORRECTION = re.compile(
    rf"(?<![\w'])(?:(?:{_OLD_VALUE})\s(?:degil|yerine)|(?:instead\sof|not)\s(?:{_OLD_VALUE}))"
    r"(?![\w])"
)

_DATE_END = r"(?:'?[a-z]{1,3})?(?![\w]|[./:-][0-9])"
_FULL_DATE = re.compile(
    _START
    + r"(?P<d>[0-9]{1,2})(?P<sep>[./-])(?P<m>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4}|[0-9]{2})"
    + _DATE_END
)
_ISO_DATE = re.compile(_START + r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})" + _DATE_END)
_SLASH_DATE = re.compile(_START + r"(?P<d>[0-9]{1,2})/(?P<m>[0-9]{1,2})" + _DATE_END)
_YEAR = r"(?:,?\s(?P<y>[0-9]{4})(?:'?[a-z]{1,3})?(?![\w]))?"
_DAY_MONTH = re.compile(
    _START + r"(?P<d>[0-9]{1,2})(?:\.|'?(?:st|nd|rd|th))?\s?(?:of\s)?"
    rf"(?P<month>{alternation(words.MONTHS)})(?P<suffix>'?[a-z]{{1,3}}|\.)?(?![\w])" + _YEAR
)
_MONTHS_FIRST = alternation([*words.MONTHS_EN, *words.MONTHS_TR, *words.MONTH_ABBREVIATIONS_EN])
_MONTH_DAY = re.compile(
    rf"(?<![\w'])(?P<month>{_MONTHS_FIRST})\.?,?\s"
    r"(?P<d>[0-9]{1,2})(?:'?(?:st|nd|rd|th))?"
    r"(?![\w]|[./:][0-9]|\s?(?:kisi|people|pax|persons?|guests?)(?![\w]))" + _YEAR
)
_DAY_OF_MONTH = re.compile(
    r"(?<![\w'])(?:(?:(?:on\s)?the\s)?(?P<d>[0-9]{1,2})(?:st|nd|rd|th)(?![\w])(?!\sof)"
    r"|ayin\s(?P<tr>[0-9]{1,2})'?[a-z]{0,5}(?![\w]))"
)
_RELATIVE = re.compile(
    rf"(?<![\w'])(?P<word>{alternation(words.RELATIVE_DAYS)})"
    r"(?:'?(?:y?[ae]|n?[dt][ae]n?|k[iu]))?(?![\w])"
)
_WEEKDAY = re.compile(
    rf"(?<![\w'])(?:(?P<mod>{alternation(words.WEEKDAY_MODIFIERS)})\s)?"
    rf"(?P<day>{alternation([*words.WEEKDAYS, *words.WEEKDAY_ABBREVIATIONS])})\.?"
    r"(?:'?(?:y?[ae]|[dt][ae]n?|ki|l[ae]ri?))?(?:\sgun[a-z]{0,4})?(?![\w])"
)

_PARTY = re.compile(
    rf"""{_START}(?:biz\s)?(?P<n>[0-9]{{1,3}}|{_NUMW})\s?
    (?:kisi'?[a-z]{{0,8}}|people|persons?|pax|ppl|guests?|adults?|yetiskin[a-z]{{0,4}})
    (?:\s(?:bir\s)?masa[a-z]{{0,4}})?(?![\w])(?!\s(?:daha|more|extra|fazla)(?![\w]))""",
    re.X,
)
_GROUP = re.compile(
    r"(?<![\w'])(?:(?:party|group|table)\sof|we(?:'re|\sare|'ll\sbe|\swill\sbe)"
    rf"|kisi\ssayisi[a-z]{{0,3}})\s(?P<n>[0-9]{{1,3}}|{_NUMW})"
    r"(?![\w]|[:.][0-9])(?!\s?(?:[ap]\.?m\b|o'?clock))"
)
_FOR = re.compile(
    rf"(?<![\w'])(?P<table>(?:a\s)?table\s)?for\s(?P<n>[0-9]{{1,3}}|{_EN_NUMW})"
    r"(?![\w]|[:.][0-9])(?!\s?(?:[ap]\.?m\b|o'?clock))"
)

_TIME = re.compile(
    rf"""{_START}
    (?:(?:(?P<this>bu|this)\s)?(?P<period>{_PERIODS})[a-z]{{0,7}}\s)?
    (?:(?P<at>saat[a-z]{{0,2}}|at|around|about|by)\s)?
    (?P<h>[0-9]{{1,2}}|{_NUMW})
    (?:(?P<sep>[:.])(?P<m>[0-9]{{2}})|\s(?P<spaced>00|15|30|45))?
    (?:\s?{_AMPM})?
    (?P<half>\s?bucuk)?
    (?P<suffix>'?(?:[dt][ae]n?|y?[ae])(?![\w])|\s(?:de|da|te|ta)(?![\w]))?
    (?:\s(?P<after>gibi|civari[a-z]{{0,3}}|sularinda|o'?clock|sharp))?
    (?:\s(?P<period2>in\sthe\s(?:morning|afternoon|evening)|aksam[a-z]{{0,3}}))?
    (?![\w]|[./:-][0-9])""",
    re.X,
)
_HALF_PAST = re.compile(
    rf"""(?<![\w'])(?:(?:at|around|about)\s)?
    (?P<kind>half\spast|quarter\spast|quarter\sto)\s(?P<h>[0-9]{{1,2}}|{_EN_NUMW})
    (?:\s?{_AMPM})?(?:\s(?P<period2>in\sthe\s(?:morning|afternoon|evening)|tonight))?
    (?![\w])""",
    re.X,
)
_QUARTER = re.compile(
    rf"""(?<![\w'])(?:(?P<period>{_PERIODS})[a-z]{{0,7}}\s)?(?:saat[a-z]{{0,2}}\s)?
    (?P<h>[0-9]{{1,2}}|{_NUMW})'?(?:y?[aeiu])?\s(?P<kind>ceyrek\sgece|ceyrek\svar)(?![\w])""",
    re.X,
)
_LONE_PERIOD = re.compile(
    rf"""(?<![\w'])(?:(?P<this>bu|this)\s)?(?:
        (?P<meal>(?:ogle|aksam)\syemeg[a-z]{{0,4}})
        |(?P<noon>ogle\svakti|oglen[a-z]{{0,4}}|ogle(?:yin|de)?|noon|midday)
        |(?P<midnight>gece\syarisi[a-z]{{0,4}}|midnight)
        |(?P<other>(?:{_PERIODS})[a-z]{{0,7}}|in\sthe\s(?:morning|afternoon|evening))
    )(?![\w])""",
    re.X,
)
_DAY_OR_TIME = re.compile(
    _START + r"(?P<a>[0-9]{1,2})\.(?P<b>[0-9]{1,2})(?:'?[a-z]{1,3})?(?![\w]|[./:][0-9])"
)
_BARE = re.compile(r"(?<!\S)(?P<n>[0-9]{1,3})[.,!?;]?(?!\S)")
_BARE_WORD = re.compile(rf"^\s?(?P<n>{_NUMW})[.!?]?\s?$")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:[-'’.][^\W\d_]+)*\.?")
_NAME_SUFFIX = re.compile(r"['’][a-zçğıöşü]{1,5}$")


# --- Keyword, cancel, corrections ----------------------------------------------------------------


def _leading(r: _Reading) -> None:
    """A leading "REZ", "Booking" (also after "IPTAL") is removed and kept as the keyword."""
    for token in itertools.islice(r.text.tokens(), 2):
        if token.key in words.KEYWORDS:
            r.keyword = token.raw
            r.text.remove([(token.start, token.end)])
            return
        if token.key not in words.CANCEL_WORDS:
            return


def _on_cancel(r: _Reading, m: re.Match[str]) -> bool:
    if m["neg"] or (m["verb"] or "") in words.NEGATIVE_CANCEL_VERBS:
        return False
    r.cancel = True
    return True


def _drop(r: _Reading, m: re.Match[str]) -> bool:
    return True


# --- Dates ---------------------------------------------------------------------------------------


def _on_numeric_date(r: _Reading, m: re.Match[str]) -> bool:
    day, month = int(m["d"]), int(m["m"])
    year = m.groupdict().get("y")
    if year is None:
        return r.add(Field.DATE, _next_day_month(r.today, day, month), INFERRED)
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    return r.add(Field.DATE, _make(full_year, month, day), EXACT)


def _on_named_month(r: _Reading, m: re.Match[str]) -> bool:
    name, suffix = m["month"], m.groupdict().get("suffix")
    if suffix and suffix != "." and name not in words.MONTHS_TR:
        return False  # "4 maybe" is not 4 May; only Turkish month names take suffixes
    day, month = int(m["d"]), words.MONTHS[name]
    if m["y"] is None:
        return r.add(Field.DATE, _next_day_month(r.today, day, month), INFERRED)
    return r.add(Field.DATE, _make(int(m["y"]), month, day), EXACT)


def _on_day_of_month(r: _Reading, m: re.Match[str]) -> bool:
    day = int(m["d"] or m["tr"])
    return r.add(Field.DATE, _next_day_of_month(r.today, day), INFERRED)


def _on_relative(r: _Reading, m: re.Match[str]) -> bool:
    return r.add(Field.DATE, _shift(r.today, words.RELATIVE_DAYS[m["word"]]), EXACT)


def _on_weekday(r: _Reading, m: re.Match[str]) -> bool:
    modifier = m["mod"]
    weekday = words.WEEKDAYS.get(m["day"])
    if weekday is None:
        if modifier is None:
            return False
        weekday = words.WEEKDAY_ABBREVIATIONS[m["day"]]
    today = r.today.weekday()
    if modifier in words.NEXT_WEEK_MODIFIERS:
        return r.add(Field.DATE, _shift(r.today, 7 - today + weekday), INFERRED)
    ahead = (weekday - today) % 7
    return r.add(Field.DATE, _shift(r.today, ahead), EXACT if ahead else LIKELY)


# --- Party ---------------------------------------------------------------------------------------


def _add_party(r: _Reading, text: str, confidence: float) -> bool:
    size = _number(text)
    return size is not None and 1 <= size <= MAX_PARTY and r.add(Field.PARTY, size, confidence)


def _on_party(r: _Reading, m: re.Match[str]) -> bool:
    return _add_party(r, m["n"], EXACT)


def _on_for(r: _Reading, m: re.Match[str]) -> bool:
    return _add_party(r, m["n"], EXACT if m["table"] else LIKELY)


# --- Times ---------------------------------------------------------------------------------------


class _Period(enum.Enum):
    MORNING = "morning"
    NOON = "noon"
    EVENING = "evening"
    NIGHT = "night"


_PERIOD_WORDS = (
    ("tonight", _Period.EVENING), ("sabah", _Period.MORNING), ("morning", _Period.MORNING),
    ("ogle", _Period.NOON), ("ikindi", _Period.NOON), ("afternoon", _Period.NOON),
    ("aksam", _Period.EVENING), ("evening", _Period.EVENING), ("gece", _Period.NIGHT),
    ("night", _Period.NIGHT),
)  # fmt: skip


def _period(text: str | None) -> _Period | None:
    if text:
        for word, period in _PERIOD_WORDS:
            if word in text:
                return period
    return None


def _hour(hour: int, period: _Period | None, *, padded: bool) -> tuple[int, float]:
    """The 24-hour hour meant by ``hour`` said with ``period`` ("akşam 8" is 20)."""
    if hour >= 13 or (hour == 0 and padded):
        return hour, EXACT
    if period is None:
        if padded or hour == 12:
            return hour, EXACT
        return (hour + 12, GUESS) if hour else (0, WEAK)
    if period is _Period.MORNING:
        return hour, EXACT if hour else WEAK
    if period is _Period.NOON:
        return (hour + 12, EXACT) if 1 <= hour <= 7 else (hour, EXACT if hour == 12 else GUESS)
    if period is _Period.EVENING:
        return (hour + 12, EXACT) if 1 <= hour <= 11 else (0, WEAK)
    if 5 <= hour <= 11:
        return hour + 12, INFERRED
    return (0, WEAK) if hour in (0, 12) else (hour, GUESS)


def _add_time(
    r: _Reading,
    hour: int,
    minute: int,
    *,
    period: _Period | None = None,
    ampm: str | None = None,
    padded: bool = False,
    at_most: float = EXACT,
) -> bool:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return False
    if ampm:
        if not 1 <= hour <= 12:
            return False
        resolved, confidence = hour % 12 + (12 if ampm == "p" else 0), EXACT
    else:
        resolved, confidence = _hour(hour, period, padded=padded)
    return r.add(Field.TIME, dt.time(resolved, minute), min(confidence, at_most))


def _said_as_time(m: re.Match[str]) -> bool:
    """Whether a word around the number says it is a time, not a count or a date."""
    if any(m[g] for g in ("period", "period2", "at", "ampm", "half", "after", "spaced")):
        return True
    if m["sep"]:
        return m["sep"] == ":"  # "12.12'de" may be a date as well as a time
    suffix = m["suffix"]
    if not suffix:
        return False
    if m["h"].isdigit():
        return True
    # Number words are everyday words with suffixes too ("ona" to him, "bir de" also): only
    # an attached "-de" makes one a time ("sekizde"), and never "birde" or "onda".
    return suffix.lstrip("'") in ("de", "da", "te", "ta") and m["h"] not in ("bir", "on")


def _on_time(r: _Reading, m: re.Match[str]) -> bool:
    hour = _number(m["h"])
    minutes = m["m"] or m["spaced"]
    minute = int(minutes) if minutes else (30 if m["half"] else 0)
    if hour is None or (m["half"] and minutes):
        return False
    if not _said_as_time(m) and (m["sep"] != "." or _could_be_day_month(hour, minute)):
        return False  # a lone number, or "12.12" left for _on_day_or_time
    period_word = m["period"] or m["period2"]
    if m["this"] or period_word == "tonight":
        r.add(Field.DATE, r.today, EXACT)
    padded = len(m["h"]) == 2 and (m["h"].startswith("0") or minutes is not None)
    return _add_time(r, hour, minute, period=_period(period_word), ampm=m["ampm"], padded=padded)


def _on_half_past(r: _Reading, m: re.Match[str]) -> bool:
    hour = _number(m["h"])
    if hour is None:
        return False
    kind = m["kind"]
    minute = 30 if kind.startswith("half") else 15
    if kind == "quarter to":
        hour, minute = (hour - 1) or 12, 45
    return _add_time(r, hour, minute, period=_period(m["period2"]), ampm=m["ampm"])


def _on_quarter(r: _Reading, m: re.Match[str]) -> bool:
    hour = _number(m["h"])
    if hour is None:
        return False
    if m["kind"].endswith("var"):
        hour, minute = (hour - 1) or 12, 45
    else:
        minute = 15
    return _add_time(r, hour, minute, period=_period(m["period"]))


def _on_lone_period(r: _Reading, m: re.Match[str]) -> bool:
    if m["this"] or (m["other"] or "").startswith("tonight"):
        r.add(Field.DATE, r.today, EXACT)
    if m["noon"]:
        r.add(Field.TIME, dt.time(12), EXACT if m["noon"] in ("noon", "midday") else INFERRED)
    elif m["midnight"]:
        r.add(Field.TIME, dt.time(0), WEAK)
    return True


def _on_day_or_time(r: _Reading, m: re.Match[str]) -> bool:
    first, second = int(m["a"]), int(m["b"])
    day = _next_day_month(r.today, first, second)
    if len(m["b"]) != 2 or first > 23:
        return r.add(Field.DATE, day, INFERRED)
    padded = len(m["a"]) == 2
    if day is None:
        return _add_time(r, first, second, padded=padded)
    has_date, has_time = r.has(Field.DATE), r.has(Field.TIME)
    if r.expect is Field.TIME or (r.expect is not Field.DATE and has_date and not has_time):
        return _add_time(r, first, second, padded=padded, at_most=INFERRED if r.expect else GUESS)
    sure = r.expect is Field.DATE or (has_time and not has_date)
    return r.add(Field.DATE, day, INFERRED if sure else GUESS)


# --- Lone numbers --------------------------------------------------------------------------------


def _guess(r: _Reading, number: int) -> bool:
    """A number said on its own: what ``expect`` asked for, else a careful guess."""
    expect = r.expect
    if expect is Field.PARTY:
        return not r.has(Field.PARTY) and _add_party(r, str(number), INFERRED)
    if expect is Field.TIME:
        return not r.has(Field.TIME) and _add_time(r, number, 0, at_most=INFERRED)
    if expect is Field.DATE:
        return not r.has(Field.DATE) and r.add(
            Field.DATE, _next_day_of_month(r.today, number), GUESS
        )
    if expect is not None:
        return False
    if not r.has(Field.TIME) and (12 <= number <= 23 or (1 <= number <= 11 and r.has(Field.DATE))):
        return _add_time(r, number, 0, at_most=WEAK)
    if not r.has(Field.PARTY) and r.has(Field.TIME) and r.has(Field.DATE) and number <= 20:
        return _add_party(r, str(number), WEAK)
    return False


def _on_bare(r: _Reading, m: re.Match[str]) -> bool:
    following = r.text.next_word(m.end())
    if following and following[0].isalpha() and not words.is_filler(following):
        return False  # "1 bebek": the number counts something else
    return _guess(r, int(m["n"]))


def _on_bare_word(r: _Reading, m: re.Match[str]) -> bool:
    number = _number(m["n"])
    return r.expect in (Field.PARTY, Field.TIME) and number is not None and _guess(r, number)


# --- Names ---------------------------------------------------------------------------------------


def _name_like(token: Token) -> bool:
    return (
        len(token.raw) <= 40
        and (token.key not in words.KNOWN or (token.key in words.ALSO_NAMES and _capital(token)))
        and not token.key.startswith(words.FILLER_STEMS)
        and _NAME_WORD.fullmatch(token.raw) is not None
    )


def _capital(token: Token) -> bool:
    return token.raw[:1].isupper()


def _name_text(tokens: Sequence[Token]) -> str:
    return " ".join(_NAME_SUFFIX.sub("", token.raw) for token in tokens)


def _following_name(text: Text, tokens: Sequence[Token], start: int, *, capital: bool) -> int:
    """How many tokens from ``start`` make a name: up to three capitalised words, or one
    lower-case word unless ``capital`` is required."""
    if start >= len(tokens) or (capital and not _capital(tokens[start])):
        return 0
    first_capital = _capital(tokens[start])
    taken = 0
    for index in range(start, min(start + 3, len(tokens))):
        token, previous = tokens[index], tokens[index - 1]
        if not text.adjacent(previous, token) or (taken and previous.closes):
            break
        if not _name_like(token) or (taken and not (first_capital and _capital(token))):
            break
        taken += 1
    return taken


def _preceding_name(text: Text, tokens: Sequence[Token], end: int, floor: int) -> int:
    """How many tokens before ``end`` (and from ``floor`` on) make a name: up to three
    words, all capitalised if the last one is."""
    taken = 0
    for index in range(end - 1, max(end - 4, floor - 1), -1):
        token = tokens[index]
        if not text.adjacent(token, tokens[index + 1]) or token.closes or not _name_like(token):
            break
        if taken and _capital(tokens[end - 1]) and not _capital(token):
            break
        taken += 1
    return taken


# (marker, confidence, whether the name must be capitalised)
_NAME_MARKERS = [(m, EXACT, False) for m in words.NAME_AFTER] + [
    (m, WEAK, True) for m in words.NAME_AFTER_WEAK
]


def _name_after_marker(r: _Reading, tokens: Sequence[Token], index: int) -> int:
    if tokens[index].key not in words.NAME_AFTER_FIRST:
        return 0
    for marker, confidence, capital in _NAME_MARKERS:
        size = len(marker)
        marked = tokens[index : index + size]
        if tuple(t.key for t in marked) != marker:
            continue
        if any(not r.text.adjacent(a, b) for a, b in itertools.pairwise(marked)):
            continue
        taken = _following_name(r.text, tokens, index + size, capital=capital)
        if taken:
            name = tokens[index + size : index + size + taken]
            r.add(Field.NAME, _name_text(name), confidence)
            return size + taken
    return 0


def _names(r: _Reading) -> None:
    tokens = list(r.text.tokens())
    spans = []
    index = floor = 0
    while index < len(tokens):
        size = _name_after_marker(r, tokens, index)
        if size:
            spans.append((tokens[index].start, tokens[index + size - 1].end))
            index = floor = index + size
            continue
        if tokens[index].key in words.NAME_BEFORE:
            taken = _preceding_name(r.text, tokens, index, floor)
            if taken:
                r.add(Field.NAME, _name_text(tokens[index - taken : index]), EXACT)
                spans.append((tokens[index - taken].start, tokens[index].end))
                floor = index + 1
        index += 1
    if spans:
        r.text.remove(spans)


def _expected_name(r: _Reading) -> None:
    """A bare answer to "adınız?": the words left, if they look like a name."""
    if r.expect is not Field.NAME or r.has(Field.NAME):
        return
    tokens = [t for t in r.text.tokens() if not words.is_filler(t.key)]
    if 1 <= len(tokens) <= 4 and all(
        len(t.raw) <= 40 and _NAME_WORD.fullmatch(t.raw) for t in tokens
    ):
        r.add(Field.NAME, _name_text(tokens), INFERRED)
        r.text.remove([(t.start, t.end) for t in tokens])


# --- Note ----------------------------------------------------------------------------------------

_NOTE_EDGES = " .,;:!?¡¿-–—+=*/|_~…"


def _note(text: Text) -> str | None:
    """The words nothing was understood from, without filler at either end ("için" only at
    the start: "doğum günü için" keeps it); none when only filler and thanks are left."""
    left = text.leftover()
    keys = [fold(word.strip(_NOTE_EDGES)) for word in left]
    start, end = 0, len(left)
    while start < end and (keys[start] in words.LEADING_FILLER or _edge_filler(keys[start])):
        start += 1
    while end > start and _edge_filler(keys[end - 1]):
        end -= 1
    if all(words.is_filler(key) for key in keys[start:end]):
        return None
    return " ".join(left[start:end]).strip(_NOTE_EDGES) or None


def _edge_filler(key: str) -> bool:
    return key in words.EDGE_FILLER or key.startswith(words.FILLER_STEMS)


# --- Stages --------------------------------------------------------------------------------------

_Stage = Callable[[_Reading], None]


def _scanning(pattern: re.Pattern[str], handler: _Handler) -> _Stage:
    def stage(r: _Reading) -> None:
        r.scan(pattern, handler)

    return stage


# Specific before general: a date or party phrase is gone before a lone number is guessed
# at, and "4 kişi" is taken before "akşam 4" could be read as a time.
_STAGES: tuple[_Stage, ...] = (
    _leading,
    _scanning(_CANCEL, _on_cancel),
    _scanning(_CORRECTION, _drop),
    _scanning(_FULL_DATE, _on_numeric_date),
    _scanning(_ISO_DATE, _on_numeric_date),
    _scanning(_SLASH_DATE, _on_numeric_date),
    _scanning(_DAY_MONTH, _on_named_month),
    _scanning(_MONTH_DAY, _on_named_month),
    _scanning(_DAY_OF_MONTH, _on_day_of_month),
    _scanning(_RELATIVE, _on_relative),
    _scanning(_WEEKDAY, _on_weekday),
    _scanning(_PARTY, _on_party),
    _scanning(_GROUP, _on_party),
    _scanning(_HALF_PAST, _on_half_past),
    _scanning(_QUARTER, _on_quarter),
    _scanning(_TIME, _on_time),
    _scanning(_LONE_PERIOD, _on_lone_period),
    _scanning(_DAY_OR_TIME, _on_day_or_time),
    _scanning(_FOR, _on_for),
    _names,
    _scanning(_BARE, _on_bare),
    _scanning(_BARE_WORD, _on_bare_word),
    _expected_name,
)
