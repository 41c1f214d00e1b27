"""Encoding, part counting, UCS-2 explanations and MO decoding (3GPP TS 23.038 / 23.040)."""

from __future__ import annotations

import pytest

from interactive.outbound import gsm_tables
from interactive.outbound.decoding import (
    Concat,
    InformationElement,
    decode_mo,
    pack_septets,
    parse_udh,
    unpack_septets,
)
from interactive.outbound.encoding import (
    Hint,
    count_segments,
    join,
    split,
    transliterate,
    why_ucs2,
)

TURKISH_SHORT = "Şahane kampanya: ğüşıöç"
# 96 characters, 20 of them in the Turkish shift table: 116 septets fit one shifted
# message (155) but need two UCS-2 parts (96 > 70).
TURKISH_LONG = "Şahane kampanya: ğüşıöç " * 4


def is_pure_gsm(text: str) -> bool:
    return all(
        ch in gsm_tables.DEFAULT_CODES or ch in gsm_tables.DEFAULT_EXTENSION_CODES for ch in text
    )


# --- Tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "septet"),
    [
        ("@", 0x00),
        ("£", 0x01),
        ("$", 0x02),
        ("¥", 0x03),
        ("Ç", 0x09),
        ("\n", 0x0A),
        ("\r", 0x0D),
        ("Δ", 0x10),
        ("_", 0x11),
        ("É", 0x1F),
        (" ", 0x20),
        ("¤", 0x24),
        ("¡", 0x40),
        ("A", 0x41),
        ("Ä", 0x5B),
        ("§", 0x5F),
        ("¿", 0x60),
        ("a", 0x61),
        ("ü", 0x7E),
        ("à", 0x7F),
    ],
)
def test_default_alphabet_characters_encode_to_their_septet(char, septet):
    (part,) = split(char)
    assert part.payload == bytes([septet])
    assert part.data_coding == 0


@pytest.mark.parametrize(
    ("char", "septet"),
    [
        ("\f", 0x0A),
        ("^", 0x14),
        ("{", 0x28),
        ("}", 0x29),
        ("\\", 0x2F),
        ("[", 0x3C),
        ("~", 0x3D),
        ("]", 0x3E),
        ("|", 0x40),
        ("€", 0x65),
    ],
)
def test_extension_characters_cost_an_escape_and_a_septet(char, septet):
    (part,) = split(char)
    assert part.payload == bytes([0x1B, septet])
    assert count_segments(char).units == 2


@pytest.mark.parametrize(
    ("char", "septet"),
    [("Ğ", 0x47), ("İ", 0x49), ("Ş", 0x53), ("ç", 0x63), ("ğ", 0x67), ("ı", 0x69), ("ş", 0x73)],
)
def test_turkish_single_shift_letters_use_annex_a_2_1_codes(char, septet):
    # padding makes the shift cheaper than UCS-2, so it is chosen
    parts = split(char + "a" * 100, turkish_shift=True)
    assert parts[0].payload[:2] == bytes([0x1B, septet])
    assert parts[0].udh == bytes.fromhex("03240101")


def test_tables_have_128_entries_with_escape_at_0x1b():
    for table in (gsm_tables.DEFAULT_ALPHABET, gsm_tables.TURKISH_LOCKING_SHIFT):
        assert len(table) == 128
        assert table[0x1B] == "\x1b"
    assert "\x1b" not in gsm_tables.DEFAULT_CODES


@pytest.mark.parametrize(
    ("septet", "char"),
    [
        (0x04, "€"),
        (0x07, "ı"),
        (0x0B, "Ğ"),
        (0x0C, "ğ"),
        (0x1C, "Ş"),
        (0x1D, "ş"),
        (0x40, "İ"),
        (0x60, "ç"),
        (0x09, "Ç"),
        (0x24, "¤"),
    ],
)
def test_turkish_locking_shift_table_annex_a_3_1(septet, char):
    decoded = decode_mo(bytes([septet]), 0, udh=bytes.fromhex("03250101"))
    assert decoded.text == char


@pytest.mark.parametrize("char", ["\x1b", "`", "ç", "ş", "á", "\t", "‘", "\u00a0", "₺"])
def test_characters_outside_gsm_force_ucs2(char):
    assert count_segments(char).encoding == "UCS2"


# --- Counting and splitting --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "part_units", "capacity"),
    [
        ("", "GSM7", [0], 160),
        ("a" * 160, "GSM7", [160], 160),
        ("a" * 161, "GSM7", [153, 8], 153),
        ("a" * 306, "GSM7", [153, 153], 153),
        ("€" * 80, "GSM7", [160], 160),
        # the 77th euro would straddle the boundary: each part carries 152 septets
        ("€" * 81, "GSM7", [152, 10], 153),
        ("a" * 152 + "€" + "a" * 10, "GSM7", [152, 12], 153),
        ("a" * 151 + "€" + "a" * 10, "GSM7", [153, 10], 153),
        ("я" * 70, "UCS2", [70], 70),
        ("я" * 71, "UCS2", [67, 4], 67),
        ("😀" * 35, "UCS2", [70], 70),
        # the emoji's surrogate pair would straddle the boundary
        ("я" * 66 + "😀" + "я" * 5, "UCS2", [66, 7], 67),
        ("я" * 65 + "😀" + "я" * 5, "UCS2", [67, 5], 67),
    ],
)
def test_parts_are_cut_without_splitting_characters(text, encoding, part_units, capacity):
    count = count_segments(text)
    parts = split(text)
    assert (count.encoding, count.parts, count.units, count.capacity) == (
        encoding,
        len(part_units),
        sum(part_units),
        capacity,
    )
    assert [part.units for part in parts] == part_units
    assert join(parts) == text


def test_part_does_not_end_with_a_dangling_escape():
    parts = split("a" * 152 + "€" + "a" * 10)
    assert parts[0].payload[-1] != 0x1B
    assert parts[1].payload[:2] == b"\x1b\x65"
    assert parts[1].text.startswith("€")


def test_empty_text_is_one_empty_part():
    (part,) = split("")
    assert (part.udh, part.payload, part.units, part.text) == (b"", b"", 0, "")


@pytest.mark.parametrize(
    ("text", "turkish_shift", "encoding", "parts", "units", "capacity"),
    [
        (TURKISH_SHORT, False, "UCS2", 1, 23, 70),
        # allowed but not cheaper (one part either way): UCS-2 wins the tie
        (TURKISH_SHORT, True, "UCS2", 1, 23, 70),
        (TURKISH_LONG, False, "UCS2", 2, 96, 67),
        (TURKISH_LONG, True, "GSM7+TR_SHIFT", 1, 116, 155),
        ("Çok güzel", True, "GSM7", 1, 9, 160),
        ("ş😀" + "a" * 100, True, "UCS2", 2, 103, 67),
    ],
)
def test_turkish_shift_only_when_allowed_needed_and_cheaper(
    text, turkish_shift, encoding, parts, units, capacity
):
    count = count_segments(text, turkish_shift)
    assert (count.encoding, count.parts, count.units, count.capacity) == (
        encoding,
        parts,
        units,
        capacity,
    )


def test_turkish_shift_parts_carry_the_shift_ie_and_149_septets():
    text = "ş" + "a" * 200
    count = count_segments(text, turkish_shift=True)
    parts = split(text, turkish_shift=True, concat_ref=7)
    assert (count.encoding, count.parts, count.capacity) == ("GSM7+TR_SHIFT", 2, 149)
    assert [part.units for part in parts] == [149, 53]
    assert [part.udh.hex() for part in parts] == ["080003070201240101", "080003070202240101"]
    assert join(parts) == text


@pytest.mark.parametrize(
    ("text", "ref_16bit", "part_units", "capacity"),
    [
        ("a" * 306, False, [153, 153], 153),
        ("a" * 306, True, [152, 152, 2], 152),
        ("a" * 160, True, [160], 160),
        ("я" * 134, False, [67, 67], 67),
        ("я" * 134, True, [66, 66, 2], 66),
        ("ş" * 2 + "a" * 294, True, [148, 148, 2], 148),
    ],
)
def test_16_bit_reference_costs_one_octet_of_capacity(text, ref_16bit, part_units, capacity):
    count = count_segments(text, True, ref_16bit=ref_16bit)
    parts = split(text, turkish_shift=True, ref_16bit=ref_16bit)
    assert [part.units for part in parts] == part_units
    assert (count.parts, count.capacity) == (len(part_units), capacity)


@pytest.mark.parametrize(
    ("ref_16bit", "concat_ref", "first_udh"),
    [
        (False, 0x42, "050003420201"),
        (True, 0x1234, "06080412340201"),
    ],
)
def test_concatenation_header(ref_16bit, concat_ref, first_udh):
    parts = split("a" * 200, concat_ref=concat_ref, ref_16bit=ref_16bit)
    assert parts[0].udh.hex() == first_udh
    assert parts[1].udh.hex() == first_udh[:-2] + "02"


def test_single_gsm_part_has_no_header_and_ucs2_is_utf16be():
    assert split("hi")[0].udh == b""
    (part,) = split("hi 😀")
    assert (part.data_coding, part.payload) == (8, "hi 😀".encode("utf-16-be"))


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"concat_ref": 256}, "a"),
        ({"concat_ref": -1}, "a"),
        ({"concat_ref": 65536, "ref_16bit": True}, "a"),
        ({}, "я" * 67 * 256),
    ],
)
def test_split_rejects_bad_reference_or_too_many_parts(kwargs, text):
    with pytest.raises(ValueError, match=r"concat_ref|parts"):
        split(text, **kwargs)


def test_lone_surrogate_is_counted_and_round_trips():
    text = "a\ud800b"
    assert count_segments(text).encoding == "UCS2"
    assert join(split(text)) == text


# --- why_ucs2 and transliterate ----------------------------------------------------------


def test_why_ucs2_names_each_culprit_with_a_hint():
    text = "Fiyat “özel”\u00a0₺5 😀 şık"
    culprits = why_ucs2(text)
    assert [(c.char, c.position, c.hint) for c in culprits] == [
        ("“", 6, Hint.SMART_QUOTE),
        ("”", 11, Hint.SMART_QUOTE),
        ("\u00a0", 12, Hint.NON_BREAKING_SPACE),
        ("₺", 13, Hint.TURKISH_LIRA),
        ("😀", 16, Hint.EMOJI),
        ("ş", 18, Hint.TURKISH_LETTER),
        ("ı", 19, Hint.TURKISH_LETTER),
    ]
    assert culprits[2].name == "NO-BREAK SPACE"
    assert culprits[3].name == "TURKISH LIRA SIGN"
    assert culprits[0].hint == "smart quote"


def test_why_ucs2_with_turkish_shift_skips_shift_table_letters():
    culprits = why_ucs2("şık “x”", turkish_shift=True)
    assert [c.char for c in culprits] == ["“", "”"]


@pytest.mark.parametrize(
    ("char", "hint"),
    [
        ("\u2013", Hint.DASH),
        ("\u2026", Hint.ELLIPSIS),
        ("\u200b", Hint.INVISIBLE),
        ("\u2003", Hint.SPACE),
        ("\u0301", Hint.COMBINING_MARK),
        ("á", Hint.ACCENTED_LETTER),
        ("\t", Hint.CONTROL),
        ("中", Hint.OTHER),
    ],
)
def test_why_ucs2_hints(char, hint):
    (culprit,) = why_ucs2(char)
    assert culprit.hint is hint


def test_why_ucs2_is_empty_for_gsm_text():
    assert why_ucs2("Kampanya [50%] €5 {ok}") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“Merhaba” ‘dünya’", "\"Merhaba\" 'dünya'"),
        ("a\u00a0b\u202fc\u2003d", "a b c d"),
        ("1–2 — 3", "1-2 - 3"),
        ("Bekleyin…", "Bekleyin..."),
        ("₺50", "TL50"),
        ("şğıİŞĞç", "sgiISGc"),
        ("Çok güzel öğün", "Çok güzel ögün"),
        ("café naïve Ångström", "café naive Ångström"),
        ("e\u0301", "é"),
        ("Merhaba 😀👍🏽!", "Merhaba !"),
        ("zero\u200bwidth", "zerowidth"),
        ("½ ﬁ", "1/2 fi"),
        ("中文", "??"),
        ("€ [ok]", "€ [ok]"),
    ],
)
def test_transliterate_gives_a_gsm_alternative(text, expected):
    assert transliterate(text) == expected
    assert is_pure_gsm(transliterate(text))


def test_transliteration_table_only_produces_gsm():
    assert all(is_pure_gsm(value) for value in gsm_tables.TRANSLITERATIONS.values())


# --- MO decoding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "dcs", "dcs0", "udh", "text", "alphabet", "replaced"),
    [
        (b"\x00\x02\x09\x24\x1b\x65", 0x00, "gsm0338", b"", "@$Ç¤€", "gsm0338", False),
        (b"caf\xe9", 0x00, "latin1", b"", "café", "latin1", False),
        (b"\x1b\x73\x1b\x69", 0x00, "gsm0338", b"\x03\x24\x01\x01", "şı", "gsm0338", False),
        (b"\x1c\x1d\x40\x60", 0x00, "gsm0338", b"\x03\x25\x01\x01", "Şşİç", "gsm0338", False),
        (b"\x1b\x73", 0x00, "gsm0338", b"", "s", "gsm0338", True),
        (b"Hi!", 0x01, "gsm0338", b"", "Hi!", "ascii", False),
        (b"Hi\x80", 0x01, "gsm0338", b"", "Hi\ufffd", "ascii", True),
        (b"\x00\xff", 0x02, "gsm0338", b"", "\ufffdÿ", "octets", True),
        (b"\xfe\xe7", 0x03, "gsm0338", b"", "þç", "latin1", False),
        (b"\x00\xff", 0x04, "gsm0338", b"", "\ufffdÿ", "octets", True),
        ("şü😀".encode("utf-16-be"), 0x08, "gsm0338", b"", "şü😀", "ucs2", False),
        (b"\xd8\x3d\x00A", 0x08, "gsm0338", b"", "\ufffdA", "ucs2", True),
        (b"\xde\x00\x00A", 0x08, "gsm0338", b"", "\ufffdA", "ucs2", True),
        (b"\x00A\x00", 0x08, "gsm0338", b"", "A\ufffd", "ucs2", True),
        (b"\x00\x02", 0x10, "gsm0338", b"", "@$", "gsm0338", False),
        (b"\x00\x02", 0x11, "latin1", b"", "\ufffd\x02", "latin1", True),
        (b"\xe9", 0x15, "gsm0338", b"", "é", "octets", False),
        (b"\x00\xe9", 0x18, "gsm0338", b"", "é", "ucs2", False),
        (b"\x00\x02", 0x1C, "gsm0338", b"", "\ufffd\x02", "octets", True),
        (b"\x00\x02", 0x30, "gsm0338", b"", "\ufffd\x02", "octets", True),
        (b"\x00\x02", 0x40, "gsm0338", b"", "@$", "gsm0338", False),
        (b"\x00\x02", 0xC0, "gsm0338", b"", "@$", "gsm0338", False),
        (b"\x00\xe9", 0xE0, "gsm0338", b"", "é", "ucs2", False),
        (b"\x00\x02", 0xF0, "gsm0338", b"", "@$", "gsm0338", False),
        (b"\x00\x02", 0xF4, "gsm0338", b"", "\ufffd\x02", "octets", True),
        (b"\x00\xe9", 0xF5, "gsm0338", b"", "\ufffdé", "octets", True),
    ],
)
def test_decode_mo_by_data_coding(payload, dcs, dcs0, udh, text, alphabet, replaced):
    decoded = decode_mo(payload, dcs, dcs0=dcs0, udh=udh)
    assert (decoded.text, decoded.alphabet, decoded.replaced) == (text, alphabet, replaced)
    assert decoded.raw == payload


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"a\x80b", "a\ufffdb"),  # not a septet
        (b"ab\x1b", "ab\ufffd"),  # escape at the end
        (b"\x1b\x41", "A"),  # undefined extension code: main-table character (23.038)
        (b"\x1b\x1b", " "),  # reserved second escape: shown as a space (23.038)
        (b"\x1b\xff", "\ufffd"),
    ],
)
def test_decode_mo_replaces_invalid_gsm_without_raising(payload, text):
    decoded = decode_mo(payload, 0)
    assert (decoded.text, decoded.replaced) == (text, True)


def test_decode_mo_rejects_bad_arguments():
    with pytest.raises(ValueError, match="data_coding"):
        decode_mo(b"", 256)
    with pytest.raises(ValueError, match="default alphabet"):
        decode_mo(b"", 0, dcs0="utf8")  # type: ignore[arg-type]


# --- UDH parsing -------------------------------------------------------------------------


def test_parse_udh_reads_8_and_16_bit_concatenation():
    short = parse_udh(b"\x05\x00\x03\x42\x03\x02user data")
    wide = parse_udh(b"\x06\x08\x04\x12\x34\x03\x03")
    assert (short.length, short.concat) == (6, Concat(0x42, 3, 2, ref_16bit=False))
    assert (wide.length, wide.concat) == (7, Concat(0x1234, 3, 3, ref_16bit=True))
    assert not short.malformed
    assert not wide.malformed


def test_parse_udh_reads_shifts_and_keeps_unknown_elements():
    udh = parse_udh(bytes.fromhex("11 0003010201 240101 250101 0a0400010203"))
    assert udh.concat == Concat(1, 2, 1, ref_16bit=False)
    assert (udh.single_shift, udh.locking_shift) == (1, 1)
    assert udh.unknown == (InformationElement(0x0A, bytes.fromhex("00010203")),)
    assert len(udh.elements) == 4
    assert not udh.malformed


@pytest.mark.parametrize(
    ("data", "elements", "concat"),
    [
        (b"\x05\x00\x03\x01", 0, None),  # declared longer than the data
        (b"\x08\x24\x01\x01\x00\x05\x01", 1, None),  # last IE cut short
        (b"\x04\x24\x01\x01\x00", 1, None),  # trailing IEI without length
        (b"\x05\x00\x03\x01\x02\x00", 1, None),  # seq 0
        (b"\x05\x00\x03\x01\x02\x03", 1, None),  # seq > total
        (b"\x05\x00\x03\x01\x00\x00", 1, None),  # total 0
        (b"\x04\x00\x02\x01\x02", 1, None),  # wrong IE length
        (b"\x04\x24\x02\x01\x01", 1, None),  # wrong shift IE length
        # an invalid repeat of the concatenation IE does not erase the valid one
        (b"\x0a\x00\x03\x05\x02\x01\x00\x03\x05\x02\x09", 2, Concat(5, 2, 1, False)),
    ],
)
def test_parse_udh_flags_malformed_headers_and_keeps_what_parsed(data, elements, concat):
    udh = parse_udh(data)
    assert udh.malformed
    assert len(udh.elements) == elements
    assert udh.concat == concat


def test_parse_udh_of_nothing_is_empty():
    udh = parse_udh(b"")
    assert (udh.length, udh.elements, udh.malformed) == (0, (), False)


def test_split_headers_parse_back():
    parts = split("ş" + "a" * 200, turkish_shift=True, concat_ref=0x1234, ref_16bit=True)
    udh = parse_udh(parts[1].udh)
    assert udh.concat == Concat(0x1234, 2, 2, ref_16bit=True)
    assert udh.single_shift == 1
    assert udh.length == len(parts[1].udh)


# --- Packed septets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("septets", "packed"),
    [
        (b"", ""),
        (b"hellohello", "e8329bfd4697d9ec37"),  # TS 23.038 / SMS PDU textbook example
        (b"\x7f" * 8, "ffffffffffffff"),
        (b"a", "61"),
    ],
)
def test_pack_and_unpack_septets(septets, packed):
    assert pack_septets(septets).hex() == packed
    assert unpack_septets(bytes.fromhex(packed), len(septets)) == septets


def test_unpack_stops_at_the_end_of_data_and_pack_rejects_octets():
    assert unpack_septets(bytes.fromhex("e832"), 10) == b"he"
    with pytest.raises(ValueError, match="septet"):
        pack_septets(b"\x80")
    with pytest.raises(ValueError, match="negative"):
        unpack_septets(b"", -1)
