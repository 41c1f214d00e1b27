"""Character tables for SMS text encoding.

Source: 3GPP TS 23.038 ("Alphabets and language-specific information"):
- 6.2.1   GSM 7 bit default alphabet,
- 6.2.1.1 GSM 7 bit default alphabet extension table,
- A.2.1   Turkish national language single shift table,
- A.3.1   Turkish national language locking shift table.
National language identifier for Turkish is 1 (TS 23.038 6.2.1.2.4); it is carried in the
UDH information elements 0x24 (single shift) and 0x25 (locking shift) of TS 23.040 9.2.3.24.

The main tables are 128-character strings indexed by septet value. Position 0x1B is the
escape to the single-shift table and is not a character, so it is never used for lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

ESCAPE = 0x1B
TURKISH = 0x01

# 6.2.1, rows of 16 septets: 0x00 '@', 0x02 '$', 0x09 'Ç' (capital; some handsets show 'ç'),
# 0x1B escape, 0x24 '¤' (not '$'), 0x40 '¡', 0x5F '§', 0x60 '¿', 0x7F 'à'.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# A.3.1: the default table with €, ı, Ğ, ğ, Ş, ş, İ and ç in place of
# è, ì, Ø, ø, Æ, æ, ¡ and ¿.
TURKISH_LOCKING_SHIFT = (
    "@£$¥€éùıòÇ\nĞğ\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "İABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "çabcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# 6.2.1.1: each costs two septets (ESC + code). 0x1B after an escape is reserved and
# 0x0D is "CR2"; neither is a character.
DEFAULT_EXTENSION: Mapping[int, str] = MappingProxyType(
    {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }
)

# A.2.1: the default extension characters plus the Turkish letters.
TURKISH_SINGLE_SHIFT: Mapping[int, str] = MappingProxyType(
    {
        **DEFAULT_EXTENSION,
        0x47: "Ğ",
        0x49: "İ",
        0x53: "Ş",
        0x63: "ç",
        0x67: "ğ",
        0x69: "ı",
        0x73: "ş",
    }
)


def reverse_main(table: str) -> Mapping[str, int]:
    """Map each character of a main table to its septet, skipping the escape position."""
    return MappingProxyType({ch: code for code, ch in enumerate(table) if code != ESCAPE})


def reverse_shift(table: Mapping[int, str]) -> Mapping[str, int]:
    """Map each character of a single-shift table to the septet that follows ESC."""
    return MappingProxyType({ch: code for code, ch in table.items()})


DEFAULT_CODES = reverse_main(DEFAULT_ALPHABET)
DEFAULT_EXTENSION_CODES = reverse_shift(DEFAULT_EXTENSION)
TURKISH_SINGLE_SHIFT_CODES = reverse_shift(TURKISH_SINGLE_SHIFT)

# --- Characters that look like GSM but are not (used by why_ucs2 and transliterate). ---

SMART_QUOTES: Mapping[str, str] = MappingProxyType(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark (also the typographic apostrophe)
        "\u201a": "'",  # single low-9 quotation mark
        "\u201b": "'",  # single high-reversed-9 quotation mark
        "\u2032": "'",  # prime
        "\u2039": "'",  # single left-pointing angle quotation mark
        "\u203a": "'",  # single right-pointing angle quotation mark
        "\u00b4": "'",  # acute accent, often typed as an apostrophe
        "`": "'",  # grave accent is not in GSM 03.38
        "\u201c": '"',  # left double quotation mark
        "\u201d": '"',  # right double quotation mark
        "\u201e": '"',  # double low-9 quotation mark
        "\u201f": '"',  # double high-reversed-9 quotation mark
        "\u2033": '"',  # double prime
        "\u00ab": '"',  # left-pointing double angle quotation mark
        "\u00bb": '"',  # right-pointing double angle quotation mark
    }
)

NON_BREAKING_SPACES = frozenset("\u00a0\u2007\u202f")

# Zero-width characters pasted from word processors and web pages: soft hyphen, zero-width
# space / non-joiner / joiner, word joiner and byte order mark.
INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")

DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212")

TURKISH_LIRA = "\u20ba"

# Letters of the Turkish alphabet missing from the default table; ç is one of them because
# 0x09 is the capital Ç. Mapped to the unaccented letter, as Turkish users write without
# diacritics (a lowercase word with 'Ç' in the middle reads worse than a plain 'c').
TURKISH_LETTERS: Mapping[str, str] = MappingProxyType(
    {"ş": "s", "Ş": "S", "ğ": "g", "Ğ": "G", "ı": "i", "İ": "I", "ç": "c"}
)

# Explicit replacements used by transliterate before falling back to Unicode decomposition.
TRANSLITERATIONS: Mapping[str, str] = MappingProxyType(
    {
        **SMART_QUOTES,
        **TURKISH_LETTERS,
        **dict.fromkeys(DASHES, "-"),
        "\u2026": "...",
        TURKISH_LIRA: "TL",
        "\t": " ",
        "\u00a9": "(c)",
        "\u00ae": "(R)",
        "\u2122": "TM",
        "\u2022": "-",
        "\u00b7": ".",
        "\u00d7": "x",
        "\u00f7": "/",
        "\u2044": "/",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u0142": "l",
        "\u0141": "L",
        "\u0111": "d",
        "\u0110": "D",
        "\u00f0": "d",
        "\u00d0": "D",
        "\u00fe": "th",
        "\u00de": "TH",
    }
)

# Code point ranges treated as emoji (pictographs, dingbats, symbols, flags, skin tones,
# variation selectors and tag characters that only appear inside emoji sequences).
EMOJI_RANGES: tuple[tuple[int, int], ...] = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2300, 0x23FF),
    (0x2B00, 0x2BFF),
    (0xFE00, 0xFE0F),
    (0xE0000, 0xE007F),
)

# --- Data coding (MO decoding) ---

# SMPP 3.4 5.2.19 redefines data_coding 0x01-0x0F; unlisted values (JIS, pictograms, ...)
# are shown as octets rather than guessed.
SMPP_ALPHABETS: Mapping[int, str] = MappingProxyType(
    {
        0x01: "ascii",
        0x02: "octets",
        0x03: "latin1",
        0x04: "octets",
        0x06: "iso8859_5",
        0x07: "iso8859_8",
        0x08: "ucs2",
    }
)

# TS 23.038 clause 4, general data coding group, bits 3..2: GSM 7 bit default alphabet
# ("default": the connection's DCS 0 setting), 8 bit data, UCS2, reserved.
GENERAL_GROUP_ALPHABETS = ("default", "octets", "ucs2", "octets")

# Python codec for each alphabet; 8 bit data is shown byte for byte as Latin-1.
CODECS: Mapping[str, str] = MappingProxyType(
    {
        "latin1": "latin-1",
        "octets": "latin-1",
        "ascii": "ascii",
        "ucs2": "utf-16-be",
        "iso8859_5": "iso8859_5",
        "iso8859_8": "iso8859_8",
    }
)
