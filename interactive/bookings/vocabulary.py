"""Words the booking parser knows, in folded form.

Folded (``text.fold``) means lower case the Turkish way and without accents: "KİŞİ", "kişi"
and "KISI" are all "kisi", "Aralık" is "aralik", "öbür gün" is "obur gun".
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TR_UNITS = {
    "bir": 1, "iki": 2, "uc": 3, "dort": 4, "dord": 4, "bes": 5, "alti": 6, "yedi": 7,
    "sekiz": 8, "dokuz": 9,
}  # fmt: skip
_EN_NUMBERS = (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip


def _numbers() -> dict[str, int]:
    # "dord" is the stem of "dörde", "dördü": the suffix softens the final t.
    numbers = dict(_TR_UNITS)
    for tens_word, tens in (("on", 10), ("yirmi", 20)):
        numbers[tens_word] = tens
        for unit_word, unit in _TR_UNITS.items():
            numbers[f"{tens_word} {unit_word}"] = tens + unit
            numbers[f"{tens_word}{unit_word}"] = tens + unit
    numbers["otuz"] = 30
    return numbers


TR_NUMBERS = _numbers()
EN_NUMBERS = {word: number for number, word in enumerate(_EN_NUMBERS, 1)}
NUMBERS = TR_NUMBERS | EN_NUMBERS

MONTHS_TR = {
    "ocak": 1, "subat": 2, "mart": 3, "nisan": 4, "mayis": 5, "haziran": 6, "temmuz": 7,
    "agustos": 8, "eylul": 9, "ekim": 10, "kasim": 11, "aralik": 12,
}  # fmt: skip
MONTHS_EN = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
MONTH_ABBREVIATIONS_TR = {
    "oca": 1, "sub": 2, "mar": 3, "nis": 4, "may": 5, "haz": 6, "tem": 7, "agu": 8, "eyl": 9,
    "eki": 10, "kas": 11, "ara": 12,
}  # fmt: skip
MONTH_ABBREVIATIONS_EN = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
MONTHS = MONTHS_TR | MONTHS_EN | MONTH_ABBREVIATIONS_TR | MONTH_ABBREVIATIONS_EN

WEEKDAYS = {
    "pazartesi": 0, "sali": 1, "carsamba": 2, "persembe": 3, "cuma": 4, "cumartesi": 5,
    "pazar": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
    "saturday": 5, "sunday": 6,
}  # fmt: skip
# Only after "on", "this", "next"...: "sun" and "sat" are ordinary English words.
WEEKDAY_ABBREVIATIONS = {
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip
WEEKDAY_MODIFIERS = (
    "bu", "this coming", "this", "coming", "on", "onumuzdeki", "gelecek", "haftaya",
    "gelecek hafta", "gelecek haftaki", "gelecek haftanin", "onumuzdeki hafta",
    "onumuzdeki haftaki", "onumuzdeki haftanin", "next", "next week", "next week's",
)  # fmt: skip
NEXT_WEEK_MODIFIERS = frozenset(
    m for m in WEEKDAY_MODIFIERS if m.startswith(("gelecek", "haftaya", "next", "onumuzdeki "))
)

# "tonight", "bu akşam" are periods of the day (they may carry a time): see PERIODS.
RELATIVE_DAYS = {
    "bugun": 0, "bu gun": 0, "today": 0, "yarin": 1, "tomorrow": 1, "yarindan sonra": 2,
    "obur gun": 2, "oburgun": 2, "ertesi gun": 2, "day after tomorrow": 2,
    "the day after tomorrow": 2, "haftaya bugun": 7,
}  # fmt: skip

PERIODS = (
    "sabah", "ogleden sonra", "ogle", "ikindi", "aksam", "gece", "morning", "afternoon",
    "evening", "tonight", "night",
)  # fmt: skip

KEYWORDS = frozenset(
    {"rez", "rezervasyon", "rezerv", "rsv", "rzv", "book", "booking", "reservation", "reserve"}
)
CANCEL_WORDS = frozenset({"iptal", "cancel"})
NEGATIVE_CANCEL_VERBS = frozenset(
    {"etme", "etmeyin", "etmeyiniz", "etmeyelim", "etmesin", "edilmesin", "edilmeyecek"}
)

# Words that carry no request of their own: dropped from either end of the note, and a
# note made only of them is no note ("yarın için" leaves "için", "4 kişi lütfen" leaves
# "lütfen").
EDGE_FILLER = _word_set(
    """
    merhaba mrb mrhb slm selam selamlar iyi gunler aksamlar hello hi hey dear good
    rez rezerve reserve reservation reservations booking book a an the table masa masaya
    masayi bir yer yapmak yaptirmak yap yapin yapalim yapar yapabilir yapabilirmiyim
    misiniz musunuz miyiz mumkun mu mi istiyorum istiyoruz isterim isteriz ederim ederiz
    ediyorum rica i i'd id we we'd would like to want can could for at on in ve and ile
    saat saati biz benim my our veya or olsun olalim olacagiz olacak al alalim alin change
    make it move tarih tarihi but instead actually sorry pardon tane kisi kisilik people
    adina adim ismim name
    """
)
LEADING_FILLER = frozenset({"icin", "de", "da", "ayrica", "also"})
POLITE = _word_set(
    """
    lutfen please pls plz tesekkurler tesekkur tesekkurederim thanks thank you thx sagol
    sagolun saygilar
    """
)
FILLER_STEMS = ("rezervasyon", "ayirt", "yaptir", "degistir")

# Given names that are also words above: a name when capitalised ("Can Yılmaz adına").
ALSO_NAMES = frozenset({"can"})

# "Ahmet adına": the name comes before the marker.
NAME_BEFORE = frozenset({"adina", "ismine", "adiyla", "namina"})
# "adım Ayşe", "under the name Smith": the name follows; longest first.
NAME_AFTER = (
    ("under", "the", "name", "of"), ("under", "the", "name"), ("my", "name", "is"),
    ("ad", "soyad"), ("ad", "soyadi"), ("isim", "soyisim"), ("name", "is"), ("adsoyad",),
    ("adim",), ("ismim",), ("isim",), ("name",), ("name's",), ("under",),
)  # fmt: skip
# "for John": a name only if capitalised, and trusted less.
NAME_AFTER_WEAK = (("for",),)
NAME_AFTER_FIRST = frozenset(marker[0] for marker in NAME_AFTER + NAME_AFTER_WEAK)

PARTY_UNITS = frozenset({"kisi", "kisilik", "people", "person", "persons", "pax", "guests"})
TIME_WORDS = frozenset(
    {"saat", "bucuk", "ceyrek", "gece", "yarisi", "noon", "midnight", "midday", "oglen"}
)


def is_filler(key: str) -> bool:
    return (
        key in EDGE_FILLER or key in LEADING_FILLER or key in POLITE or key.startswith(FILLER_STEMS)
    )


KNOWN = frozenset(
    EDGE_FILLER
    | LEADING_FILLER
    | POLITE
    | KEYWORDS
    | CANCEL_WORDS
    | NAME_BEFORE
    | {word for marker in NAME_AFTER + NAME_AFTER_WEAK for word in marker}
    | {word for phrase in NUMBERS for word in phrase.split()}
    | set(MONTHS)
    | set(WEEKDAYS)
    | set(WEEKDAY_ABBREVIATIONS)
    | {word for phrase in RELATIVE_DAYS for word in phrase.split()}
    | {word for phrase in PERIODS for word in phrase.split()}
    | PARTY_UNITS
    | TIME_WORDS
    | {"degil", "yerine", "not", "lazim", "olur", "daha"}
    # "for Dinner" is no name
    | {"dinner", "lunch", "breakfast", "brunch", "birthday", "anniversary", "christmas"}
)


def alternation(words: Iterable[str]) -> str:
    """A regular-expression alternation of literal words, longest first, so that
    "cumartesi" is tried before "cuma" and "on bir" before "on"."""
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
