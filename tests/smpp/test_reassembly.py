"""MO reassembly: orders, duplicates, reference kinds, nonsense headers, timeouts, limits."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from interactive.outbound import gsm_tables
from interactive.outbound.encoding import EncodedPart, split
from interactive.smpp import pdu
from interactive.smpp.reassembly import (
    AssembledMessage,
    MoPart,
    Reassembler,
    mo_part_from_pdu_fields,
)

UDHI = 0x40
SOURCE = "905551112233"
OTHER_SOURCE = "905554445566"
SHORT_CODE = "4664"
SAR_REF, SAR_TOTAL, SAR_SEQ = 0x020C, 0x020E, 0x020F


def udh_part(
    seq: int,
    total: int,
    data: bytes,
    *,
    ref: int = 7,
    wide: bool = False,
    source: str = SOURCE,
    data_coding: int = 0,
    bind: str = "b1",
    caller_id: object = None,
) -> MoPart:
    udh = pdu.concat_udh(ref, total, seq, sixteen_bit=wide)
    return MoPart(
        source_addr=source,
        destination_addr=SHORT_CODE,
        esm_class=UDHI,
        data_coding=data_coding,
        short_message=udh + data,
        bind=bind,
        caller_id=seq if caller_id is None else caller_id,
    )


def sar_part(seq: int, total: int, data: bytes, *, ref: int = 7) -> MoPart:
    return mo_part_from_pdu_fields(
        source_addr=SOURCE.encode(),
        destination_addr=SHORT_CODE.encode(),
        short_message=data,
        tlvs={SAR_REF: ref.to_bytes(2, "big"), SAR_TOTAL: bytes([total]), SAR_SEQ: bytes([seq])},
        caller_id=f"sar-{seq}",
    )


def gsm(text: str) -> bytes:
    return bytes(gsm_tables.DEFAULT_CODES[char] for char in text)


def feed(reassembler: Reassembler, parts: list[MoPart], now: float = 0.0) -> list[AssembledMessage]:
    done = [reassembler.add(part, now) for part in parts]
    return [message for message in done if message is not None]


THREE = [udh_part(1, 3, gsm("Hello ")), udh_part(2, 3, gsm("big ")), udh_part(3, 3, gsm("world"))]


def test_parts_in_order() -> None:
    reassembler = Reassembler()
    assert reassembler.add(THREE[0], 0) is None
    assert reassembler.add(THREE[1], 1) is None
    message = reassembler.add(THREE[2], 2)
    assert message is not None
    assert message.text == "Hello big world"
    assert message.raw == gsm("Hello big world")
    assert (message.total, message.part_count, message.partial) == (3, 3, False)
    assert message.caller_ids == (1, 2, 3)
    assert (message.source_addr, message.destination_addr, message.bind) == (
        SOURCE,
        SHORT_CODE,
        "b1",
    )
    assert len(reassembler) == 0
    assert reassembler.expire(1000) == []


def test_parts_in_reverse_order() -> None:
    [message] = feed(Reassembler(), THREE[::-1])
    assert message.text == "Hello big world"
    assert message.caller_ids == (1, 2, 3)


@given(st.permutations(range(3)))
def test_parts_in_any_order(order: list[int]) -> None:
    reassembler = Reassembler()
    results = [reassembler.add(THREE[index], 0) for index in order]
    assert results[:-1] == [None, None]
    assert results[-1] is not None
    assert results[-1].text == "Hello big world"


def test_duplicates_are_dropped_and_handed_back() -> None:
    reassembler = Reassembler()
    assert reassembler.add(THREE[0], 0) is None
    assert reassembler.add(udh_part(1, 3, gsm("Hello "), caller_id="again"), 1) is None
    assert reassembler.take_duplicates() == ["again"]
    assert reassembler.take_duplicates() == []
    [message] = feed(reassembler, THREE[1:])
    assert message.caller_ids == (1, 2, 3)
    assert message.text == "Hello big world"


def test_retransmission_after_completion_is_not_a_new_message() -> None:
    reassembler = Reassembler(timeout=60)
    feed(reassembler, THREE)
    assert reassembler.add(udh_part(2, 3, gsm("big "), caller_id="late copy"), 30) is None
    assert len(reassembler) == 0
    assert reassembler.take_duplicates() == ["late copy"]
    assert reassembler.expire(500) == []


def test_reference_widths_and_sar_are_separate_groups() -> None:
    reassembler = Reassembler()
    parts = [
        udh_part(1, 2, gsm("eight "), ref=7),
        udh_part(1, 2, gsm("sixteen "), ref=7, wide=True),
        udh_part(2, 2, gsm("bit"), ref=7),
        udh_part(2, 2, gsm("bits"), ref=7, wide=True),
    ]
    assert [m.text for m in feed(reassembler, parts)] == ["eight bit", "sixteen bits"]


def test_sar_tlvs() -> None:
    reassembler = Reassembler()
    assert reassembler.add(sar_part(2, 2, gsm("there")), 0) is None
    message = reassembler.add(sar_part(1, 2, gsm("Hi ")), 0)
    assert message is not None
    assert message.text == "Hi there"
    assert message.caller_ids == ("sar-1", "sar-2")
    assert message.source_addr == SOURCE


def test_sar_tlvs_by_smpplib_name() -> None:
    parts = [
        mo_part_from_pdu_fields(
            source_addr=SOURCE,
            destination_addr=SHORT_CODE,
            short_message=gsm(text),
            tlvs={"sar_msg_ref_num": 300, "sar_total_segments": 2, "sar_segment_seqnum": seq},
        )
        for seq, text in ((1, "by "), (2, "name"))
    ]
    [message] = feed(Reassembler(), parts)
    assert message.text == "by name"


def test_same_reference_from_two_senders_interleaved() -> None:
    reassembler = Reassembler()
    parts = [
        udh_part(1, 2, gsm("first "), source=SOURCE),
        udh_part(1, 2, gsm("second "), source=OTHER_SOURCE),
        udh_part(2, 2, gsm("sender"), source=OTHER_SOURCE),
        udh_part(2, 2, gsm("one"), source=SOURCE),
    ]
    messages = feed(reassembler, parts)
    assert [(m.source_addr, m.text) for m in messages] == [
        (OTHER_SOURCE, "second sender"),
        (SOURCE, "first one"),
    ]


def test_same_reference_on_two_binds() -> None:
    parts = [udh_part(1, 2, gsm("a"), bind="b1"), udh_part(2, 2, gsm("b"), bind="b2")]
    reassembler = Reassembler()
    assert feed(reassembler, parts) == []
    assert len(reassembler) == 2


def test_nonsense_headers_are_single_messages() -> None:
    reassembler = Reassembler()
    for total, seq in ((0, 0), (3, 0), (2, 3), (1, 1), (0, 1)):
        udh = bytes((5, 0x00, 3, 9, total, seq))
        part = MoPart(SOURCE, SHORT_CODE, UDHI, 0, udh + gsm("alone"), caller_id="x")
        message = reassembler.add(part, 0)
        assert message is not None, (total, seq)
        assert (message.text, message.total, message.partial) == ("alone", 1, False)
        assert message.caller_ids == ("x",)
    assert len(reassembler) == 0


def test_nonsense_sar_is_a_single_message() -> None:
    reassembler = Reassembler()
    for total, seq in ((0, 0), (2, 0), (2, 3), (1, 1)):
        message = reassembler.add(sar_part(seq, total, gsm("alone")), 0)
        assert message is not None
        assert message.text == "alone"


def test_truncated_udh_is_kept_as_text() -> None:
    part = MoPart(SOURCE, SHORT_CODE, UDHI, 0, bytes((9, 0, 3)) + gsm("x"))
    message = Reassembler().add(part, 0)
    assert message is not None
    assert message.raw == part.short_message


def test_gsm_escape_pair_split_across_parts() -> None:
    # A non-compliant sender cut between ESC and "e": joined first, it is still "€".
    parts = [udh_part(2, 2, bytes((0x65,)) + gsm("5")), udh_part(1, 2, gsm("price ") + b"\x1b")]
    [message] = feed(Reassembler(), parts)
    assert message.text == "price €5"
    assert not message.replaced


def test_ucs2_surrogate_pair_split_across_parts() -> None:
    encoded = "ok 😀!".encode("utf-16-be")
    cut = len("ok ".encode("utf-16-be")) + 2  # between the two halves of the emoji
    parts = [udh_part(1, 2, encoded[:cut], data_coding=8), udh_part(2, 2, encoded[cut:])]
    [message] = feed(Reassembler(), parts[::-1])
    assert message.text == "ok 😀!"
    assert message.alphabet == "ucs2"
    assert message.data_coding == 8  # the first part's, even though it arrived last


def test_turkish_shift_of_the_first_part_applies() -> None:
    parts = split("ş" * 100 + "ğ" * 100, turkish_shift=True, concat_ref=3)
    assert len(parts) > 1
    [message] = feed(Reassembler(), [_mo(part) for part in reversed(parts)])
    assert message.text == "ş" * 100 + "ğ" * 100


def test_message_payload_wins_over_short_message() -> None:
    part = mo_part_from_pdu_fields(
        source_addr=SOURCE,
        destination_addr=SHORT_CODE,
        short_message=gsm("ignored"),
        tlvs={0x0424: gsm("from payload")},
    )
    message = Reassembler().add(part, 0)
    assert message is not None
    assert message.text == "from payload"


def test_timeout_delivers_what_arrived_flagged_partial() -> None:
    reassembler = Reassembler(timeout=60)
    assert feed(reassembler, [THREE[0]], now=0) == []
    assert feed(reassembler, [THREE[2]], now=10) == []
    assert reassembler.expire(69.9) == []
    [message] = reassembler.expire(70)
    assert message.partial
    assert message.missing == (2,)
    assert message.received == (1, 3)
    assert message.text == "Hello […]world"
    assert message.raw == gsm("Hello world")
    assert message.caller_ids == (1, 3)
    assert len(reassembler) == 0
    # A copy of a delivered part is a duplicate; the missing part, late, is its own message.
    assert reassembler.add(THREE[0], 80) is None
    assert reassembler.add(THREE[1], 81) is None
    [late] = reassembler.expire(141)
    assert (late.text, late.missing) == ("[…]big […]", (1, 3))


def test_each_new_part_extends_the_timeout() -> None:
    reassembler = Reassembler(timeout=60)
    reassembler.add(THREE[0], 0)
    reassembler.add(THREE[1], 50)
    assert reassembler.expire(100) == []
    [message] = reassembler.expire(110)
    assert message.text == "Hello big […]"


def test_oldest_group_is_delivered_when_too_many_are_open() -> None:
    reassembler = Reassembler(max_groups=2)
    for ref in (1, 2, 3):
        assert reassembler.add(udh_part(1, 2, gsm(f"group {ref}"), ref=ref), ref) is None
    assert len(reassembler) == 2
    [evicted] = reassembler.expire(4)  # long before the timeout
    assert (evicted.text, evicted.partial) == ("group 1[…]", True)
    message = reassembler.add(udh_part(2, 2, gsm("!"), ref=3), 5)
    assert message is not None
    assert message.text == "group 3!"


def test_flush_delivers_everything_open() -> None:
    reassembler = Reassembler()
    feed(reassembler, [udh_part(1, 2, gsm("a"), ref=1), udh_part(2, 2, gsm("b"), ref=2)])
    assert [m.text for m in reassembler.flush(0)] == ["a[…]", "[…]b"]
    assert len(reassembler) == 0


# --- property: whatever the encoder sends comes back --------------------------------------


def _mo(part: EncodedPart, caller_id: object = None) -> MoPart:
    return MoPart(
        source_addr=SOURCE,
        destination_addr=SHORT_CODE,
        esm_class=UDHI if part.udh else 0,
        data_coding=part.data_coding,
        short_message=part.udh + part.payload,
        caller_id=caller_id,
    )


PIECES = [*gsm_tables.DEFAULT_CODES, *gsm_tables.DEFAULT_EXTENSION_CODES, *"şğİı“😀👍🏽я"]
# NUL reads as U+FFFD (a text column cannot hold it); the raw bytes keep it.
texts = st.lists(
    st.one_of(
        st.sampled_from(PIECES),
        st.characters(codec="utf-8", exclude_characters="\x00"),
        st.integers(1, 160).map(lambda n: "a" * n),
    ),
    max_size=30,
).map("".join)


@given(texts, st.integers(0, 0xFFFF), st.booleans(), st.booleans(), st.randoms())
def test_reassembling_split_parts_in_any_order_gives_the_text(
    text: str, ref: int, ref_16bit: bool, turkish_shift: bool, rng: random.Random
) -> None:
    parts = split(
        text,
        concat_ref=ref if ref_16bit else ref & 0xFF,
        ref_16bit=ref_16bit,
        turkish_shift=turkish_shift,
    )
    order = list(range(len(parts)))
    rng.shuffle(order)
    reassembler = Reassembler()
    results = [reassembler.add(_mo(parts[index], index), 0) for index in order]
    assert all(result is None for result in results[:-1])
    message = results[-1]
    assert message is not None
    assert message.text == text
    assert message.caller_ids == tuple(range(len(parts)))
    assert not message.partial
    assert len(reassembler) == 0
