"""Property tests: splitting is lossless, consistent with counting and fits the wire."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from interactive.outbound import gsm_tables
from interactive.outbound.decoding import (
    decode_mo,
    pack_septets,
    parse_udh,
    unpack_septets,
)
from interactive.outbound.encoding import (
    count_segments,
    join,
    split,
    transliterate,
)

# Texts drawn from three pools so that every encoding and many part boundaries are hit:
# GSM only (with extension characters), GSM plus Turkish shift letters, and any Unicode
# weighted towards look-alikes and emoji (surrogate pairs). Runs of filler reach more parts.
GSM_PIECES = [*gsm_tables.DEFAULT_CODES, *gsm_tables.DEFAULT_EXTENSION_CODES]
TURKISH_PIECES = [*GSM_PIECES, *"şŞğĞıİç"]
OTHER_PIECES = [*TURKISH_PIECES, *"“”\u00a0₺…—я", "😀", "👍🏽", "🇹🇷"]


def _texts(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    filler = st.integers(1, 160).map(lambda n: "a" * n)
    return st.lists(st.one_of(pieces, filler), max_size=40).map("".join)


texts = st.one_of(
    _texts(st.sampled_from(GSM_PIECES)),
    _texts(st.sampled_from(TURKISH_PIECES)),
    _texts(st.one_of(st.characters(), st.sampled_from(OTHER_PIECES))),
)
options = st.fixed_dictionaries({"turkish_shift": st.booleans(), "ref_16bit": st.booleans()})


def wire_capacity(udh: bytes, data_coding: int) -> int:
    """Units that fit in 140 octets after this UDH, computed independently of the module."""
    if data_coding == 8:
        return (140 - len(udh)) // 2
    header_septets = math.ceil(len(udh) * 8 / 7)
    return 160 - header_septets


@given(texts, options)
def test_split_round_trips(text, opts):
    assert join(split(text, **opts)) == text


@given(texts, options, st.integers(0, 255))
def test_split_agrees_with_count_and_fits_each_part(text, opts, ref):
    count = count_segments(text, opts["turkish_shift"], ref_16bit=opts["ref_16bit"])
    parts = split(text, concat_ref=ref, **opts)
    assert len(parts) == count.parts
    assert sum(part.units for part in parts) == count.units
    assert "".join(part.text for part in parts) == text
    for part in parts:
        assert part.units <= wire_capacity(part.udh, part.data_coding)
        assert part.units <= count.capacity == part.capacity
        bytes_per_unit = 2 if part.data_coding == 8 else 1
        assert len(part.payload) == part.units * bytes_per_unit
        assert bool(part.udh) == (len(parts) > 1 or count.encoding == "GSM7+TR_SHIFT")


@given(texts, options)
def test_parts_never_end_inside_an_escape_or_surrogate_pair(text, opts):
    for part in split(text, **opts):
        if part.data_coding == 0:
            # no shift-table code is 0x1B, so a trailing escape is always a dangling one
            assert not part.payload.endswith(b"\x1b")
        else:
            assert not 0xD800 <= int.from_bytes(part.payload[-2:], "big") <= 0xDBFF


@given(texts, options)
def test_encoding_choice(text, opts):
    count = count_segments(text, opts["turkish_shift"], ref_16bit=opts["ref_16bit"])
    plain = count_segments(text, ref_16bit=opts["ref_16bit"])
    if count.encoding == "GSM7+TR_SHIFT":
        assert opts["turkish_shift"]
        assert count.parts < plain.parts
    else:
        assert count == plain


@given(texts)
def test_transliterate_is_pure_gsm(text):
    result = transliterate(text)
    assert all(
        ch in gsm_tables.DEFAULT_CODES or ch in gsm_tables.DEFAULT_EXTENSION_CODES for ch in result
    )
    assert count_segments(result).encoding == "GSM7"


@given(st.binary(max_size=300), st.integers(0, 255), st.binary(max_size=20))
def test_decoding_arbitrary_bytes_never_raises(payload, data_coding, udh):
    for dcs0 in ("gsm0338", "latin1"):
        decoded = decode_mo(payload, data_coding, dcs0=dcs0, udh=udh)
        assert decoded.raw == payload
        if not decoded.replaced and decoded.alphabet != "ucs2":
            assert "\ufffd" not in decoded.text


@given(st.binary(max_size=40))
def test_parse_udh_never_raises(data):
    udh = parse_udh(data)
    assert udh.length <= len(data)
    assert udh.malformed or not data or udh.length == data[0] + 1


@given(st.binary(max_size=200).map(lambda data: bytes(b & 0x7F for b in data)))
def test_pack_unpack_round_trip(septets):
    packed = pack_septets(septets)
    assert len(packed) == math.ceil(len(septets) * 7 / 8)
    assert unpack_septets(packed, len(septets)) == septets


plain_texts = _texts(st.sampled_from(sorted(gsm_tables.DEFAULT_CODES)))


@given(plain_texts, st.booleans(), st.booleans(), st.integers(0, 255))
def test_plain_texts_split_as_the_general_path_does(text, turkish_shift, ref_16bit, ref):
    from interactive.outbound.encoding import _split_tokens

    general = _split_tokens(text, turkish_shift, ref, ref_16bit)
    assert split(text, turkish_shift=turkish_shift, concat_ref=ref, ref_16bit=ref_16bit) == general


@given(texts, st.booleans(), st.booleans(), st.integers(0, 255))
def test_any_text_splits_as_the_general_path_does(text, turkish_shift, ref_16bit, ref):
    """The shortcuts (default-table text, UCS-2 text of the Basic Multilingual Plane) give
    the parts the token-by-token path gives."""
    from interactive.outbound.encoding import _split_tokens

    general = _split_tokens(text, turkish_shift, ref, ref_16bit)
    assert split(text, turkish_shift=turkish_shift, concat_ref=ref, ref_16bit=ref_16bit) == general


def test_ucs2_text_with_a_lone_surrogate_splits_as_the_general_path_does():
    from interactive.outbound.encoding import _split_tokens

    text = "Kış " * 30 + "\ud83d" + "ş" * 50
    parts = split(text, concat_ref=7)
    assert parts == _split_tokens(text, False, 7, False)
    assert [part.units for part in parts] == [67, 67, 37]
