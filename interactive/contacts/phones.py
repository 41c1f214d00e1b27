"""Phone numbers for contact imports: parse to E.164, fast enough for a million rows.

``phonenumbers.parse`` + ``is_valid_number`` cost ~40 µs a number; an import of 1M rows
may spend a few µs on each. Every number is still validated; only *how* is cheap.

Whatever the path: surrounding whitespace (NBSP too) is stripped, an Excel float rendered
as text (``5321234567.0``, Turkish ``…,0``) loses its ``.0``, and text with ASCII letters
is ``not_a_number`` (vanity numbers and extensions do not take SMS; letters in a phone
column usually mean a shifted column).

Fast path — when, without the separators `` -./()``, Unicode spaces and dashes, only ASCII
digits remain (optionally after one ``+``):

* ``+<cc><nsn>``, and ``<idd><cc><nsn>`` with the default region's international prefix
  (``+90 (532) 123-45-67``, ``00905321234567``, ``+49 30 123456``), for every calling code
  owned by one region with plain digit prefixes (so not +1, +7, +44, +39, +61 …);
* for such a default region (TR is one): ``<national prefix><nsn>`` (``0532 123 45 67``),
  ``<cc><nsn>`` (``905321234567``) and a bare ``<nsn>`` (``5321234567``), the last two
  told apart exactly as ``phonenumbers.parse`` does.

The national significant number is checked with one regex per length, compiled once from
the region's metadata so that a full match is ``is_valid_number`` (the general description
and any valid type, with their possible lengths). The fast path only ever *accepts*.

Slow path — everything else, and every number the fast path did not accept:
``phonenumbers.parse`` + ``is_valid_number`` behind an LRU cache, so error codes are always
phonenumbers' own verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from flask_babel import lazy_gettext as _l
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.timezone import time_zones_for_number
from phonenumbers.tzdata import TIMEZONE_DATA


class Parsed(NamedTuple):
    """A parsed number: ``e164`` when valid, else ``error`` (a code of :data:`ERROR_CODES`)."""

    e164: str | None
    error: str | None


_MESSAGES: Final = {
    "empty": _l("The phone number is empty."),
    "not_a_number": _l("This does not look like a phone number."),
    "excel_scientific": _l(
        "The number was saved by a spreadsheet in scientific notation (like 5.32E+09) and "
        "its digits are lost. Format the column as text and export the file again."
    ),
    "invalid_country_code": _l("The country code is not valid."),
    "too_short": _l("The phone number is too short."),
    "too_long": _l("The phone number is too long."),
    "invalid_number": _l("This is not a valid phone number."),
}
ERROR_CODES: Final = frozenset(_MESSAGES)
_ERRORS: Final = {code: Parsed(None, code) for code in _MESSAGES}

_PARSE_ERRORS: Final = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_LENGTH_ERRORS: Final = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
}

# Unicode spaces count as separators too, though phonenumbers knows only some of them.
_RARE_SEPARATORS: Final = re.compile(r"[\s./\u2010-\u2015\u2212]")
_SPACE: Final = re.compile(r"\s")
_ASCII_LETTER: Final = re.compile(r"[A-Za-z]")
_SCIENTIFIC: Final = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
_CALLING_CODES: Final = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
_UNKNOWN_ZONE: Final = "Etc/Unknown"
_NON_GEO_REGION: Final = "001"


def error_message(code: str) -> str:
    """The user-facing text for an error code (lazy: translated when rendered)."""
    return _MESSAGES[code]  # a LazyString: str() or formatting translates it


def normalise(raw: str, region: str = "TR") -> Parsed:
    """Parse ``raw`` as written in ``region`` (ISO 3166 code) into E.164, or an error code."""
    text = raw.strip()
    if not text:
        return _ERRORS["empty"]
    if text[-2:] in (".0", ",0") and text[:-2].isdigit() and text.isascii():
        text = text[:-2]
    # str.replace is several times faster than a regex; that is for the rarer separators.
    compact = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    digits = compact[1:] if compact[:1] == "+" else compact
    if not digits.isdigit():
        compact = _RARE_SEPARATORS.sub("", compact)
        digits = compact[1:] if compact[:1] == "+" else compact
    if digits.isdigit() and digits.isascii():
        e164 = _fast_e164(compact, region)
        if e164 is not None:
            return Parsed(e164, None)
        return _slow(compact, region)
    if _SCIENTIFIC.fullmatch(text):
        return _ERRORS["excel_scientific"]
    if _ASCII_LETTER.search(text):
        return _ERRORS["not_a_number"]
    return _slow(_SPACE.sub(" ", text), region)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the fast path needs of one region, taken from phonenumbers' metadata."""

    cc: str
    idd: str
    national_prefix: str
    general: re.Pattern[str]
    max_length: int
    local_lengths: frozenset[int]
    valid_by_length: dict[int, re.Pattern[str]]

    def is_valid(self, nsn: str) -> bool:
        pattern = self.valid_by_length.get(len(nsn))
        return pattern is not None and pattern.fullmatch(nsn) is not None


# The types phonenumbers' _number_type_helper tries; matching any one is "valid". Their
# order in the regex changes speed only: mobile first, as contact lists are mostly mobiles.
_TYPES: Final = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip")
_TYPES_2: Final = ("personal_number", "pager", "uan", "voicemail")


@lru_cache(maxsize=64)
def _plan(region: str) -> _Plan | None:
    """The fast path's plan for ``region``, or None when its metadata needs the full parser."""
    region = region.upper()
    meta = PhoneMetadata.metadata_for_region(region, None)
    if meta is None or meta.country_code is None or meta.general_desc is None:
        return None
    if COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code) != (region,):
        return None  # a shared calling code (+1, +7, +44): phonenumbers must pick the region
    cc = str(meta.country_code)
    idd = meta.international_prefix or ""
    prefix = meta.national_prefix_for_parsing or ""
    general = meta.general_desc
    general_pattern = general.national_number_pattern or ""
    lengths = frozenset(general.possible_length)
    local = frozenset(general.possible_length_local_only)
    if (
        not (idd.isdigit() and (prefix == "" or prefix.isdigit()))
        or meta.national_prefix_transform_rule
        or (prefix and cc.startswith(prefix))
        or any(cc[:n] in _CALLING_CODES for n in range(1, len(cc)))
        or lengths & local
        or not general_pattern
    ):
        return None
    by_length: dict[int, list[str]] = {n: [] for n in lengths}
    for name in _TYPES + _TYPES_2:
        desc = getattr(meta, name)
        if desc is None or not desc.national_number_pattern:
            continue
        if name == "mobile" and meta.same_mobile_and_fixed_line_pattern:
            continue  # phonenumbers only tries the fixed-line description then
        for n in lengths if not desc.possible_length else lengths & set(desc.possible_length):
            by_length[n].append(desc.national_number_pattern)
    inside_general = f"(?=(?:{general_pattern})\\Z)"
    valid = {
        n: re.compile(inside_general + "(?:" + "|".join(f"(?:{p})" for p in patterns) + ")")
        for n, patterns in by_length.items()
        if patterns
    }
    return _Plan(cc, idd, prefix, re.compile(general_pattern), max(lengths), local, valid)


def _fast_e164(compact: str, region: str) -> str | None:
    """E.164 for digits (maybe after ``+``) when the fast path can decide; None otherwise.

    Only ever accepts: a number this rejects may still be valid for phonenumbers (a
    national prefix after the country code, a shared calling code), so the caller asks it.
    """
    if compact[0] == "+":
        return _fast_international(compact[1:])
    plan = _plan(region)
    if plan is None:
        return None
    cc, prefix = plan.cc, plan.national_prefix
    if compact.startswith(plan.idd):
        return _fast_international(compact[len(plan.idd) :])
    if prefix and compact.startswith(prefix):
        nsn = compact[len(prefix) :]
    elif compact.startswith(cc):
        # phonenumbers reads the leading digits as the country code only if that turns an
        # impossible national number into a possible one, or the whole is too long.
        nsn = compact[len(cc) :]
        if prefix and nsn.startswith(prefix):
            return None
        whole_fits = plan.general.fullmatch(compact) is not None
        too_long = len(compact) > plan.max_length and len(compact) not in plan.local_lengths
        if not (too_long or (not whole_fits and plan.general.fullmatch(nsn))):
            nsn = compact
    else:
        nsn = compact
    return "+" + cc + nsn if plan.is_valid(nsn) else None


def _fast_international(digits: str) -> str | None:
    """E.164 for ``<cc><nsn>`` as written after ``+`` or the international prefix."""
    cc = _calling_code(digits)
    plan = _plan_for_code(cc) if cc is not None else None
    if plan is None:
        return None
    nsn = digits[len(plan.cc) :]
    if plan.national_prefix and nsn.startswith(plan.national_prefix):
        return None  # "+90 (0) 532…": phonenumbers strips it only if the rest fits
    return "+" + digits if plan.is_valid(nsn) else None


@lru_cache(maxsize=512)
def _plan_for_code(cc: str) -> _Plan | None:
    regions = COUNTRY_CODE_TO_REGION_CODE[int(cc)]
    return _plan(regions[0]) if len(regions) == 1 and regions[0] != _NON_GEO_REGION else None


@lru_cache(maxsize=1 << 16)
def _slow(text: str, region: str) -> Parsed:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return _ERRORS[_PARSE_ERRORS.get(exc.error_type, "not_a_number")]
    if phonenumbers.is_valid_number(number):
        return Parsed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None)
    reason = phonenumbers.is_possible_number_with_reason(number)
    return _ERRORS[_LENGTH_ERRORS.get(reason, "invalid_number")]


def _calling_code(digits: str) -> str | None:
    """The calling code at the start of ``digits`` (no ``+``); the codes are prefix-free."""
    for end in (1, 2, 3):
        if digits[:end] in _CALLING_CODES:
            return digits[:end]
    return None


def country_of(e164: str) -> str | None:
    """The region (ISO 3166 code) of an E.164 number; None if unknown or non-geographic."""
    fixed = _region_of_code(e164[:4])
    if fixed is not None:
        return None if fixed[0] == _NON_GEO_REGION else fixed[0]
    number = _parse_e164(e164)  # a shared calling code: the number decides
    return phonenumbers.region_code_for_number(number) if number is not None else None


@lru_cache(maxsize=4096)
def _region_of_code(head: str) -> tuple[str | None] | None:
    """``(region,)`` when the calling code in ``head`` (``+`` and 3 digits) decides it."""
    cc = _calling_code(head[1:]) if head[:1] == "+" else None
    if cc is None:
        return (None,)
    regions = COUNTRY_CODE_TO_REGION_CODE[int(cc)]
    return (regions[0],) if len(regions) == 1 else None


@lru_cache(maxsize=1 << 14)
def _parse_e164(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164)
    except NumberParseException:
        return None


def timezone_for(e164: str) -> str | None:
    """An IANA time zone for a valid E.164 number (the first real one if several), or None.

    Countries whose every prefix maps to one zone list (TR, DE…) are answered from a
    per-country cache without looking at the number; others ask phonenumbers, cached.
    """
    fixed = _zone_of_code(e164[:4])
    return fixed[0] if fixed is not None else _number_zone(e164)


@lru_cache(maxsize=4096)
def _zone_of_code(head: str) -> tuple[str | None] | None:
    """``(zone,)`` when the calling code in ``head`` decides it: one zone list for all."""
    cc = _calling_code(head[1:]) if head[:1] == "+" else None
    if cc is None:
        return (None,)
    if cc not in TIMEZONE_DATA:
        return None
    lists = {zones for prefix, zones in TIMEZONE_DATA.items() if prefix.startswith(cc)}
    return (_first_real_zone(TIMEZONE_DATA[cc]),) if len(lists) == 1 else None


@lru_cache(maxsize=1 << 14)
def _number_zone(e164: str) -> str | None:
    number = _parse_e164(e164)
    return _first_real_zone(tuple(time_zones_for_number(number))) if number is not None else None


@lru_cache(maxsize=1024)
def _first_real_zone(zones: tuple[str, ...]) -> str | None:
    for name in zones:
        if name == _UNKNOWN_ZONE:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue  # a name this system's tz database lacks (Europe/Kyiv on an old one)
        return name
    return None
