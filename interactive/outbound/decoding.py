"""Decoding of received SMS text (MO): data coding schemes, GSM 03.38 septets with the
national language shift tables, UDH parsing, packed septets.

Standards: 3GPP TS 23.038 (alphabets, data coding scheme), 3GPP TS 23.040 9.2.3.24 (user
data header information elements), SMPP 3.4 5.2.19 (data_coding). Invalid bytes are
replaced (and flagged), never fatal; the raw bytes are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from interactive.outbound import gsm_tables as tables

Dcs0 = Literal["gsm0338", "latin1"]

DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25
_KNOWN_IEIS = frozenset({IEI_CONCAT_8, IEI_CONCAT_16, IEI_SINGLE_SHIFT, IEI_LOCKING_SHIFT})
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class DecodedText:
    """Decoded MO text. ``raw`` keeps the bytes as received; ``replaced`` flags lost bytes."""

    text: str
    raw: bytes
    replaced: bool
    alphabet: str  # "gsm0338", "latin1", "ascii", "ucs2", "octets", "iso8859_5", ...


@dataclass(frozen=True)
class InformationElement:
    iei: int
    data: bytes


@dataclass(frozen=True)
class Concat:
    ref: int
    total: int
    seq: int
    ref_16bit: bool


@dataclass(frozen=True)
class Udh:
    """A parsed user data header. ``length`` is the octets it spans, UDHL included."""

    length: int
    elements: tuple[InformationElement, ...] = ()
    concat: Concat | None = None
    single_shift: int | None = None  # national language identifier, Turkish = 1
    locking_shift: int | None = None
    malformed: bool = False

    @property
    def unknown(self) -> tuple[InformationElement, ...]:
        return tuple(ie for ie in self.elements if ie.iei not in _KNOWN_IEIS)


def decode_mo(
    payload: bytes, data_coding: int, *, dcs0: Dcs0 = "gsm0338", udh: bytes = b""
) -> DecodedText:
    """Decode an MO short message (UDH already removed) to text; never raises on bytes.

    ``dcs0`` is the connection's "SMSC default alphabet", used for every DCS that means the
    GSM 7 bit alphabet (0x00, 0x10-0x13, 0xF0-0xF3, ...). ``udh`` selects the Turkish
    tables through IEs 0x24/0x25. Invalid bytes (and NUL) become U+FFFD and set ``replaced``.
    Raises ValueError only for a ``data_coding`` outside 0-255 or an unknown ``dcs0``.
    """
    if dcs0 not in ("gsm0338", "latin1"):
        raise ValueError(f"unknown default alphabet {dcs0!r}")
    alphabet = _alphabet(data_coding, dcs0)
    if alphabet == "gsm0338":
        text, replaced = _decode_septets(payload, parse_udh(udh))
    else:
        text, replaced = _decode_codec(payload, tables.CODECS[alphabet])
    return DecodedText(text, bytes(payload), replaced, alphabet)


def _alphabet(data_coding: int, dcs0: str) -> str:
    if not 0 <= data_coding <= 0xFF:
        raise ValueError(f"data_coding {data_coding} is not an octet")
    if data_coding == 0x00:
        return dcs0
    if data_coding <= 0x0F:
        return tables.SMPP_ALPHABETS.get(data_coding, "octets")
    if data_coding <= 0x7F:  # general data coding and automatic deletion groups
        if data_coding & 0x20:  # compressed (TS 23.042), not supported by handsets either
            return "octets"
        alphabet = tables.GENERAL_GROUP_ALPHABETS[(data_coding >> 2) & 0x03]
    elif data_coding <= 0xBF:  # reserved coding groups
        return "octets"
    elif data_coding <= 0xDF:  # message waiting indication, discard / store: GSM 7 bit
        alphabet = "default"
    elif data_coding <= 0xEF:  # message waiting indication, store: UCS2
        alphabet = "ucs2"
    else:  # data coding / message class: bit 2 selects 8 bit data
        alphabet = "octets" if data_coding & 0x04 else "default"
    return dcs0 if alphabet == "default" else alphabet


def _decode_codec(payload: bytes, codec: str) -> tuple[str, bool]:
    try:
        text, replaced = payload.decode(codec), False
    except UnicodeDecodeError:  # odd length, lone surrogate, byte outside the charset
        text, replaced = payload.decode(codec, "replace"), True
    if "\x00" in text:  # a text column cannot hold NUL (PostgreSQL): the raw bytes keep it
        text, replaced = text.replace("\x00", _REPLACEMENT), True
    return text, replaced


def _decode_septets(payload: bytes, udh: Udh) -> tuple[str, bool]:
    main = (
        tables.TURKISH_LOCKING_SHIFT
        if udh.locking_shift == tables.TURKISH
        else tables.DEFAULT_ALPHABET
    )
    shift = (
        tables.TURKISH_SINGLE_SHIFT
        if udh.single_shift == tables.TURKISH
        else tables.DEFAULT_EXTENSION
    )
    chars: list[str] = []
    replaced = False
    septets = iter(payload)
    for septet in septets:
        if septet > 0x7F:
            chars.append(_REPLACEMENT)
            replaced = True
        elif septet != tables.ESCAPE:
            chars.append(main[septet])
        else:
            char, known = _shifted(next(septets, None), main, shift)
            chars.append(char)
            replaced = replaced or not known
    return "".join(chars), replaced


def _shifted(septet: int | None, main: str, shift: Mapping[int, str]) -> tuple[str, bool]:
    """The character after an escape and whether the shift table defines it."""
    if septet is None or septet > 0x7F:  # escape at the end, or not a septet
        return _REPLACEMENT, False
    if septet in shift:
        return shift[septet], True
    # TS 23.038 6.2.1.1: ESC ESC is shown as a space, other undefined codes as the
    # main-table character.
    return (" " if septet == tables.ESCAPE else main[septet]), False


def parse_udh(data: bytes) -> Udh:
    """Parse a UDH (UDHL octet first; trailing user data is ignored). Never raises.

    Concatenation (0x00, 0x08) and national shift (0x24, 0x25) IEs are interpreted, the
    last occurrence winning (TS 23.040 9.2.3.24); all IEs are kept in ``elements``. A
    truncated header or an invalid known IE sets ``malformed`` and keeps what parsed.
    """
    if not data:
        return Udh(length=0)
    body = data[1 : 1 + data[0]]
    elements, truncated = _read_elements(body)
    malformed = truncated or len(body) < data[0]
    concat: Concat | None = None
    shifts: dict[int, int] = {}
    for element in elements:
        if element.iei in (IEI_CONCAT_8, IEI_CONCAT_16):
            parsed = _parse_concat(element)
            malformed = malformed or parsed is None
            concat = parsed or concat
        elif element.iei in (IEI_SINGLE_SHIFT, IEI_LOCKING_SHIFT):
            if len(element.data) == 1:
                shifts[element.iei] = element.data[0]
            else:
                malformed = True
    return Udh(
        length=1 + len(body),
        elements=tuple(elements),
        concat=concat,
        single_shift=shifts.get(IEI_SINGLE_SHIFT),
        locking_shift=shifts.get(IEI_LOCKING_SHIFT),
        malformed=malformed,
    )


def _read_elements(body: bytes) -> tuple[list[InformationElement], bool]:
    """The IEs of a UDH body and whether the last one was cut short."""
    elements: list[InformationElement] = []
    position = 0
    while position < len(body):
        if position + 2 > len(body):
            return elements, True
        size = body[position + 1]
        value = body[position + 2 : position + 2 + size]
        if len(value) < size:
            return elements, True
        elements.append(InformationElement(body[position], bytes(value)))
        position += 2 + size
    return elements, False


def _parse_concat(element: InformationElement) -> Concat | None:
    wide = element.iei == IEI_CONCAT_16
    if len(element.data) != (4 if wide else 3):
        return None
    total, seq = element.data[-2], element.data[-1]
    if total == 0 or not 1 <= seq <= total:  # TS 23.040: the IE shall be ignored
        return None
    return Concat(int.from_bytes(element.data[:-2], "big"), total, seq, wide)


# --- Packed septets ----------------------------------------------------------------------


def pack_septets(septets: bytes) -> bytes:
    """Pack septets (values 0-127) into octets, LSB first (TS 23.038 6.1.2.1.1)."""
    packed = bytearray()
    buffer = bits = 0
    for septet in septets:
        if septet > 0x7F:
            raise ValueError(f"{septet:#04x} is not a septet")
        buffer |= septet << bits
        bits += 7
        while bits >= 8:
            packed.append(buffer & 0xFF)
            buffer >>= 8
            bits -= 8
    if bits:
        packed.append(buffer)
    return bytes(packed)


def unpack_septets(data: bytes, count: int) -> bytes:
    """Unpack ``count`` septets (fewer if ``data`` is too short) from packed octets."""
    if count < 0:
        raise ValueError("count must not be negative")
    count = min(count, len(data) * 8 // 7)
    septets = bytearray()
    for index in range(count):
        byte, shift = divmod(index * 7, 8)
        value = data[byte] >> shift
        if shift > 1:
            value |= data[byte + 1] << (8 - shift)
        septets.append(value & 0x7F)
    return bytes(septets)
