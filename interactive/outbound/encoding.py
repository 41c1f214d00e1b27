"""SMS text encoding (MT): part counting, splitting, and what forces UCS-2.

Standards: 3GPP TS 23.038 (alphabets, data coding scheme), 3GPP TS 23.040 9.2.3.24 (user
data header information elements), SMPP 3.4 5.2.19 (data_coding). Tables: ``gsm_tables``.

Gateway contract: send each ``EncodedPart`` as one submit_sm with ``data_coding`` as given
and ``short_message = udh + payload``; a non-empty ``udh`` means the UDHI bit (0x40) must be
set in esm_class. GSM payloads are unpacked septets, one per octet, which SMSCs accept with
data_coding 0.

Decisions:
- The Turkish single shift is used only when the route allows it, the text needs it and it
  gives strictly fewer parts than UCS-2. On a tie UCS-2 wins: the cost is the same and
  every handset renders UCS-2, while national language tables are optional in handsets
  (and the shift IE makes the header longer, not shorter).
- Capacity comes from the header actually sent: septets = 160 - ceil(8 * UDH octets / 7)
  (the UDH is padded to a septet boundary), UCS-2 units = (140 - UDH octets) // 2. Hence
  160/153 (152 with a 16-bit ref), 155/149 (148) with the Turkish shift, 70/67 (66) in UCS-2.
- Parts are filled greedily character by character, so an escape pair or a surrogate pair
  is never split; such a part carries one unit less than its capacity.

Decoding of received text (MO) and of user data headers is in ``decoding``; the tables are
in ``gsm_tables``.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from interactive.outbound import gsm_tables as tables
from interactive.outbound.decoding import (
    DCS_GSM7,
    DCS_UCS2,
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    IEI_SINGLE_SHIFT,
    decode_mo,
)

Encoding = Literal["GSM7", "GSM7+TR_SHIFT", "UCS2"]

ESM_CLASS_UDHI = 0x40
MAX_PARTS = 255

_OCTETS_PER_SMS = 140


@dataclass(frozen=True)
class SegmentCount:
    """Encoding, number of parts, units used and the per-part capacity of a text."""

    encoding: Encoding
    parts: int
    units: int  # septets (escapes included) or UTF-16 code units
    capacity: int  # per part: the single-message capacity when parts == 1


@dataclass(frozen=True)
class EncodedPart:
    """One submit_sm. A non-empty ``udh`` requires the UDHI bit (0x40) in esm_class."""

    udh: bytes
    payload: bytes
    data_coding: int
    text: str
    units: int
    capacity: int


@dataclass(frozen=True, slots=True)
class _Token:
    """One character with its encoded form; tokens are never split across parts."""

    text: str
    code: bytes
    units: int


@dataclass(frozen=True)
class _Layout:
    encoding: Encoding
    chunks: tuple[tuple[_Token, ...], ...]
    capacity: int


# --- Counting and splitting (MT) ---------------------------------------------------------


def count_segments(
    text: str, turkish_shift: bool = False, *, ref_16bit: bool = False
) -> SegmentCount:
    """Return the encoding, part count, units and per-part capacity ``split`` would use.

    ``turkish_shift`` says whether the route accepts the Turkish single-shift table;
    ``ref_16bit`` whether concatenated parts carry a 16-bit reference (one octet more).
    Pure function, no side effects.
    """
    if _PLAIN_CHARS.issuperset(text):
        return _count_simple("GSM7", len(text), ref_16bit)
    if _plain_ucs2(text, turkish_shift):
        return _count_simple("UCS2", len(text), ref_16bit)
    layout = _choose_layout(text, turkish_shift, ref_16bit)
    units = sum(token.units for chunk in layout.chunks for token in chunk)
    return SegmentCount(layout.encoding, len(layout.chunks), units, layout.capacity)


@functools.lru_cache(maxsize=8)
def _capacities(encoding: Encoding, ref_16bit: bool) -> tuple[int, int]:
    """(capacity of a single message, capacity of a concatenated part) in units."""
    single = _build_udh(1, 1, 0, ref_16bit=ref_16bit, turkish_shift=False)
    concat = _build_udh(2, 1, 0, ref_16bit=ref_16bit, turkish_shift=False)
    return _capacity(encoding, len(single)), _capacity(encoding, len(concat))


def _count_simple(encoding: Encoding, units: int, ref_16bit: bool) -> SegmentCount:
    """Counting for text whose every character is one unit (nothing to keep together)."""
    single, per_part = _capacities(encoding, ref_16bit)
    if units <= single:
        return SegmentCount(encoding, 1, units, single)
    return SegmentCount(encoding, -(-units // per_part), units, per_part)


def split(
    text: str, *, turkish_shift: bool = False, concat_ref: int = 0, ref_16bit: bool = False
) -> list[EncodedPart]:
    """Encode ``text`` into the parts the gateway submits, in sending order.

    Raises ValueError if ``concat_ref`` does not fit the reference width or the text needs
    more than 255 parts. Empty text gives one empty part.
    """
    _check_ref(concat_ref, ref_16bit)
    if _PLAIN_CHARS.issuperset(text):
        septets = text.translate(_PLAIN_TRANSLATION).encode("latin-1")
        return _split_even(text, septets, "GSM7", concat_ref, ref_16bit)
    if _plain_ucs2(text, turkish_shift):
        return _split_even(text, _utf16(text), "UCS2", concat_ref, ref_16bit)
    return _split_tokens(text, turkish_shift, concat_ref, ref_16bit)


def _split_tokens(
    text: str, turkish_shift: bool, concat_ref: int, ref_16bit: bool
) -> list[EncodedPart]:
    layout = _choose_layout(text, turkish_shift, ref_16bit)
    total = len(layout.chunks)
    if total > MAX_PARTS:
        raise ValueError(f"text needs {total} parts; at most {MAX_PARTS} can be concatenated")
    shift = layout.encoding == "GSM7+TR_SHIFT"
    data_coding = DCS_UCS2 if layout.encoding == "UCS2" else DCS_GSM7
    return [
        EncodedPart(
            udh=_build_udh(total, seq, concat_ref, ref_16bit=ref_16bit, turkish_shift=shift),
            payload=b"".join(token.code for token in chunk),
            data_coding=data_coding,
            text="".join(token.text for token in chunk),
            units=sum(token.units for token in chunk),
            capacity=layout.capacity,
        )
        for seq, chunk in enumerate(layout.chunks, start=1)
    ]


def _split_even(
    text: str, payload: bytes, encoding: Encoding, concat_ref: int, ref_16bit: bool
) -> list[EncodedPart]:
    """``split`` for the most common texts, whose every character is one unit: only
    characters of the default table (one septet each), or UCS-2 text of the Basic
    Multilingual Plane (two octets each). Parts are then plain slices of the text and of
    its ``payload``: the same parts as the general path, without a token per character."""
    width = 2 if encoding == "UCS2" else 1
    data_coding = DCS_UCS2 if encoding == "UCS2" else DCS_GSM7
    single, per_part = _capacities(encoding, ref_16bit)
    if len(text) <= single:
        return [EncodedPart(b"", payload, data_coding, text, len(text), single)]
    total = -(-len(text) // per_part)
    if total > MAX_PARTS:
        raise ValueError(f"text needs {total} parts; at most {MAX_PARTS} can be concatenated")
    return [
        EncodedPart(
            udh=_build_udh(total, seq, concat_ref, ref_16bit=ref_16bit, turkish_shift=False),
            payload=payload[start * width : (start + per_part) * width],
            data_coding=data_coding,
            text=text[start : start + per_part],
            units=len(text[start : start + per_part]),
            capacity=per_part,
        )
        for seq, start in enumerate(range(0, len(text), per_part), start=1)
    ]


def join(parts: Iterable[EncodedPart]) -> str:
    """Decode parts (in the order given) back into the text; ``join(split(t)) == t``."""
    return "".join(_decode_part(part) for part in parts)


def _decode_part(part: EncodedPart) -> str:
    if part.data_coding == DCS_UCS2:
        # surrogatepass mirrors _ucs2_tokens, so even a str holding a lone surrogate
        # round-trips; decode_mo replaces those because they cannot come from a handset.
        return part.payload.decode("utf-16-be", "surrogatepass")
    return decode_mo(part.payload, part.data_coding, udh=part.udh).text


def _choose_layout(text: str, turkish_shift: bool, ref_16bit: bool) -> _Layout:
    gsm = _gsm_tokens(text, tables.DEFAULT_EXTENSION_CODES)
    if gsm is not None:
        return _layout("GSM7", gsm, ref_16bit)
    ucs2 = _layout("UCS2", _ucs2_tokens(text), ref_16bit)
    if turkish_shift:
        turkish = _gsm_tokens(text, tables.TURKISH_SINGLE_SHIFT_CODES)
        if turkish is not None:
            shifted = _layout("GSM7+TR_SHIFT", turkish, ref_16bit)
            if len(shifted.chunks) < len(ucs2.chunks):
                return shifted
    return ucs2


def _gsm_tokens(text: str, shift_codes: Mapping[str, int]) -> list[_Token] | None:
    """Tokens in the default table plus a single-shift table, or None if not encodable."""
    tokens = []
    for char in text:
        token = _PLAIN_TOKENS.get(char)
        if token is not None:
            tokens.append(token)
            continue
        code = shift_codes.get(char)
        if code is None:
            return None
        tokens.append(_Token(char, bytes((tables.ESCAPE, code)), 2))
    return tokens


_PLAIN_TOKENS = {
    char: _Token(char, bytes((code,)), 1) for char, code in tables.DEFAULT_CODES.items()
}
_PLAIN_CHARS = frozenset(tables.DEFAULT_CODES)
# Text with a character outside these needs UCS-2 (without, or with, the Turkish shift).
_GSM_CHARS = _PLAIN_CHARS | frozenset(tables.DEFAULT_EXTENSION_CODES)
_TURKISH_CHARS = _PLAIN_CHARS | frozenset(tables.TURKISH_SINGLE_SHIFT_CODES)
#: The first character outside the Basic Multilingual Plane (two UCS-2 units).
_ASTRAL = "\U00010000"
_PLAIN_TRANSLATION = str.maketrans({char: chr(code) for char, code in tables.DEFAULT_CODES.items()})


def _plain_ucs2(text: str, turkish_shift: bool) -> bool:
    """The text needs UCS-2 (a character outside the GSM tables the route takes) and has
    no surrogate pair: every character is one unit, and none can straddle two parts."""
    return (
        not _GSM_CHARS.issuperset(text)
        and (not turkish_shift or not _TURKISH_CHARS.issuperset(text))
        and max(text) < _ASTRAL
    )


def _utf16(text: str) -> bytes:
    # surrogatepass: a str may hold a lone surrogate; it is sent as the unit it is.
    return text.encode("utf-16-be", "surrogatepass")


def _ucs2_tokens(text: str) -> list[_Token]:
    tokens = []
    for char in text:
        code = _utf16(char)
        tokens.append(_Token(char, code, len(code) // 2))
    return tokens


def _layout(encoding: Encoding, tokens: Sequence[_Token], ref_16bit: bool) -> _Layout:
    shift = encoding == "GSM7+TR_SHIFT"
    single_udh = _build_udh(1, 1, 0, ref_16bit=ref_16bit, turkish_shift=shift)
    single = _capacity(encoding, len(single_udh))
    if sum(token.units for token in tokens) <= single:
        return _Layout(encoding, (tuple(tokens),), single)
    concat_udh = _build_udh(2, 1, 0, ref_16bit=ref_16bit, turkish_shift=shift)
    per_part = _capacity(encoding, len(concat_udh))
    return _Layout(encoding, _fill(tokens, per_part), per_part)


def _fill(tokens: Sequence[_Token], capacity: int) -> tuple[tuple[_Token, ...], ...]:
    chunks: list[tuple[_Token, ...]] = []
    current: list[_Token] = []
    used = 0
    for token in tokens:
        if used + token.units > capacity:
            chunks.append(tuple(current))
            current, used = [], 0
        current.append(token)
        used += token.units
    chunks.append(tuple(current))
    return tuple(chunks)


def _capacity(encoding: Encoding, udh_octets: int) -> int:
    if encoding == "UCS2":
        return (_OCTETS_PER_SMS - udh_octets) // 2
    # The UDH is padded to a septet boundary, so the fill bits are lost too.
    return (_OCTETS_PER_SMS - udh_octets) * 8 // 7


def _build_udh(total: int, seq: int, ref: int, *, ref_16bit: bool, turkish_shift: bool) -> bytes:
    elements = bytearray()
    if total > 1:
        if ref_16bit:
            elements += bytes((IEI_CONCAT_16, 4, ref >> 8, ref & 0xFF, total, seq))
        else:
            elements += bytes((IEI_CONCAT_8, 3, ref, total, seq))
    if turkish_shift:
        elements += bytes((IEI_SINGLE_SHIFT, 1, tables.TURKISH))
    return bytes((len(elements),)) + elements if elements else b""


def _check_ref(concat_ref: int, ref_16bit: bool) -> None:
    bits = 16 if ref_16bit else 8
    if not 0 <= concat_ref < 1 << bits:
        raise ValueError(f"concat_ref {concat_ref} does not fit in {bits} bits")


# --- Explaining and avoiding UCS-2 -------------------------------------------------------


class Hint(StrEnum):
    """Why a character forces UCS-2; a stable key the UI maps to a translated message."""

    SMART_QUOTE = "smart quote"
    NON_BREAKING_SPACE = "non-breaking space"
    SPACE = "unusual space"
    INVISIBLE = "invisible character"
    DASH = "dash"
    ELLIPSIS = "ellipsis"
    TURKISH_LIRA = "Turkish lira sign"
    TURKISH_LETTER = "Turkish letter"
    ACCENTED_LETTER = "accented letter"
    EMOJI = "emoji"
    COMBINING_MARK = "combining mark"
    CONTROL = "control character"
    OTHER = "not in the GSM alphabet"


@dataclass(frozen=True)
class Ucs2Culprit:
    """A character that is not in the GSM tables, with its index in the text."""

    char: str
    position: int
    name: str
    hint: Hint


def why_ucs2(text: str, *, turkish_shift: bool = False) -> list[Ucs2Culprit]:
    """Name every character outside the GSM 03.38 default and extension tables.

    With ``turkish_shift=True`` characters of the Turkish single-shift table are not
    named. Note that ``count_segments`` may still pick UCS-2 for such text when the shift
    saves no part; to explain that choice call this with ``turkish_shift=False``.
    """
    shift_codes = (
        tables.TURKISH_SINGLE_SHIFT_CODES if turkish_shift else tables.DEFAULT_EXTENSION_CODES
    )
    return [
        Ucs2Culprit(char, position, _char_name(char), _hint(char))
        for position, char in enumerate(text)
        if not _is_gsm(char, shift_codes)
    ]


def transliterate(text: str) -> str:
    """Return a GSM 03.38 (default + extension table) alternative to ``text`` for the UI.

    Smart quotes, odd spaces, dashes, the ellipsis, ₺ and Turkish letters get look-alikes;
    other letters lose their accents; emoji and invisible characters are dropped; anything
    else that cannot be approximated becomes '?'.
    """
    return "".join(_gsm_alternative(char) for char in unicodedata.normalize("NFC", text))


def _is_gsm(char: str, shift_codes: Mapping[str, int] = tables.DEFAULT_EXTENSION_CODES) -> bool:
    return char in tables.DEFAULT_CODES or char in shift_codes


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in tables.EMOJI_RANGES)


def _char_name(char: str) -> str:
    return unicodedata.name(char, f"U+{ord(char):04X}")


def _hint(char: str) -> Hint:
    if char == tables.TURKISH_LIRA:
        return Hint.TURKISH_LIRA
    if char == "\u2026":
        return Hint.ELLIPSIS
    for members, hint in (
        (tables.SMART_QUOTES, Hint.SMART_QUOTE),
        (tables.NON_BREAKING_SPACES, Hint.NON_BREAKING_SPACE),
        (tables.INVISIBLE, Hint.INVISIBLE),
        (tables.DASHES, Hint.DASH),
        (tables.TURKISH_LETTERS, Hint.TURKISH_LETTER),
    ):
        if char in members:
            return hint
    return _hint_by_category(char)


def _hint_by_category(char: str) -> Hint:
    if _is_emoji(char):
        return Hint.EMOJI
    category = unicodedata.category(char)
    if category.startswith("Z"):
        return Hint.SPACE
    if category.startswith("M"):
        return Hint.COMBINING_MARK
    if category == "Cc":
        return Hint.CONTROL
    if category == "Cf":
        return Hint.INVISIBLE
    if category.startswith("L") and unicodedata.normalize("NFD", char)[0] != char:
        return Hint.ACCENTED_LETTER
    return Hint.OTHER


def _gsm_alternative(char: str) -> str:
    if _is_gsm(char):
        return char
    if char in tables.TRANSLITERATIONS:
        return tables.TRANSLITERATIONS[char]
    if char in tables.NON_BREAKING_SPACES:
        return " "
    if char in tables.INVISIBLE or _is_emoji(char):
        return ""
    category = unicodedata.category(char)
    if category in ("Zl", "Zp"):
        return "\n"
    if category == "Zs":
        return " "
    if category[0] in "MC":  # stray combining marks, controls, format characters
        return ""
    return _without_accents(char) or "?"


def _without_accents(char: str) -> str:
    """The compatibility decomposition of ``char`` minus marks, or '' if not all GSM."""
    pieces = []
    for piece in unicodedata.normalize("NFKD", char):
        if unicodedata.category(piece).startswith("M"):
            continue
        if _is_gsm(piece):
            pieces.append(piece)
        elif piece in tables.TRANSLITERATIONS:
            pieces.append(tables.TRANSLITERATIONS[piece])
        else:
            return ""
    return "".join(pieces)
