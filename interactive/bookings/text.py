"""Message text in a comparable form that still knows where each letter came from.

The parser matches its patterns against the folded text ("Yarın AKŞAM 8'de" becomes
"yarin aksam 8'de") and removes what it understood; the note and the customer's name are
then cut from the original text, with the customer's own spelling and case. Every
character of the folded text therefore carries the index of the original character it came
from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

# İ (U+0130), I and ı (U+0131) are one letter: a Turkish phone writes "KİŞİ", an English
# one "KISI". "İ".lower() would give "i" plus a combining dot, so they are mapped first.
_TURKISH_I = str.maketrans({"İ": "i", "I": "i", "ı": "i"})
_ACCENTS = str.maketrans({"ş": "s", "ğ": "g", "ç": "c", "ö": "o", "ü": "u", "â": "a", "î": "i"})
_APOSTROPHES = frozenset("'’‘`´ʼ′")
_SYNTHETIC = -1  # the single space left where understood text was removed
_TOKEN = re.compile(r"\S+")


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """One character of NFKC text in folded form: lower case the Turkish way, accents
    dropped, any decimal digit as an ASCII digit, apostrophes as "'", spaces, control and
    format characters (RTL marks, zero-width joiners) as " ". May be empty (a lone
    combining mark)."""
    if char in _APOSTROPHES:
        return "'"
    if char.isspace() or unicodedata.category(char)[0] in "CZ":
        return " "
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    folded = char.translate(_TURKISH_I).casefold().translate(_ACCENTS)
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFD", folded)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    return "".join(fold_char(char) for char in unicodedata.normalize("NFKC", text))


def strip_punctuation(word: str) -> str:
    """``word`` without punctuation or math symbols ("+", "=") at either end."""
    start, end = 0, len(word)
    while start < end and _is_punctuation(word[start]):
        start += 1
    while end > start and _is_punctuation(word[end - 1]):
        end -= 1
    return word[start:end]


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char) in {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm"}


@dataclass(frozen=True)
class Token:
    start: int  # in the folded text
    end: int
    key: str  # folded, without punctuation at the ends
    raw: str  # as the customer wrote it, without punctuation at the ends
    closes: bool  # ends with punctuation ("Ahmet,"): a name or phrase stops here


class Text:
    """The folded text of one message; ``remove`` takes understood spans out of it."""

    def __init__(self, message: str) -> None:
        self.original = unicodedata.normalize("NFKC", message)
        chars: list[str] = []
        origins: list[int] = []
        for index, char in enumerate(self.original):
            folded = fold_char(char)
            if folded == " " and (not chars or chars[-1] == " "):
                continue
            chars.extend(folded)
            origins.extend([index] * len(folded))
        self.folded = "".join(chars)
        self.origins = origins
        self.consumed = bytearray(len(self.original))

    def remove(self, spans: list[tuple[int, int]]) -> None:
        """Take the spans of the folded text out, each leaving one space that remembers
        something stood there."""
        text, origins = self.folded, self.origins
        pieces: list[str] = []
        kept: list[int] = []
        position = 0
        for first, end in sorted(spans):
            start = max(first, position)
            if end <= start:
                continue
            for origin in origins[start:end]:
                if origin >= 0:
                    self.consumed[origin] = 1
            head = text[position:start].rstrip(" ")
            pieces.append(head)
            kept.extend(origins[position : position + len(head)])
            if head or not kept or kept[-1] != _SYNTHETIC:
                pieces.append(" ")
                kept.append(_SYNTHETIC)
            position = end
            while position < len(text) and text[position] == " ":
                position += 1
        pieces.append(text[position:])
        kept.extend(origins[position:])
        self.folded = "".join(pieces)
        self.origins = kept

    def tokens(self) -> Iterator[Token]:
        """The words of the folded text, punctuation-only ones left out."""
        for match in _TOKEN.finditer(self.folded):
            start, end = match.span()
            raw = self.original[self.origins[start] : self.origins[end - 1] + 1]
            key = strip_punctuation(match.group())
            if key:
                closes = raw[-1] != ":" and _is_punctuation(raw[-1])
                yield Token(start, end, key, strip_punctuation(raw), closes)

    def adjacent(self, left: Token, right: Token) -> bool:
        """True when nothing understood was removed between the two tokens."""
        return _SYNTHETIC not in self.origins[left.end : right.start]

    def next_word(self, position: int) -> str | None:
        """The folded word right after ``position``, unless something understood was
        removed in between."""
        match = _TOKEN.search(self.folded, position)
        if match is None or _SYNTHETIC in self.origins[position : match.start()]:
            return None
        return strip_punctuation(match.group())

    def leftover(self) -> list[str]:
        """The original words nothing was understood from, punctuation-only ones left out."""
        chars = []
        previous_consumed = False
        for index, char in enumerate(self.original):
            consumed = bool(self.consumed[index]) or (
                previous_consumed and unicodedata.combining(char) > 0
            )
            previous_consumed = consumed
            chars.append(" " if consumed or fold_char(char) == " " else char)
        return [word for word in "".join(chars).split() if strip_punctuation(word)]
