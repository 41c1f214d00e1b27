"""Delivery receipts: recognition, parsing across SMSC styles, id matching, state ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interactive.smpp import pdu, receipts
from interactive.smpp.receipts import (
    RANK,
    State,
    advance,
    id_forms,
    id_key,
    is_intermediate_notification,
    is_receipt,
    parse_receipt,
)

RECEIPTED_MESSAGE_ID = 0x001E
NETWORK_ERROR_CODE = 0x0423
MESSAGE_PAYLOAD = 0x0424
MESSAGE_STATE = 0x0427


# --- esm_class ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("esm_class", "receipt", "intermediate"),
    [
        (0x04, True, False),  # SMSC delivery receipt
        (0x44, True, False),  # ... with UDHI set
        (0x84, True, False),  # ... with reply path set
        (0x00, False, False),  # plain MO
        (0x40, False, False),  # MO with UDH
        (0x08, False, False),  # SME delivery acknowledgement
        (0x10, False, False),  # SME manual/user acknowledgement
        (0x20, False, True),  # intermediate delivery notification
        (0x0C, False, False),  # reserved type with bit 2 set
        (0x24, False, False),  # reserved type with bit 2 set
    ],
)
def test_message_type(esm_class: int, receipt: bool, intermediate: bool) -> None:
    assert is_receipt(esm_class) is receipt
    assert is_intermediate_notification(esm_class) is intermediate


# --- parsing -----------------------------------------------------------------------------

STANDARD = (
    b"id:1A2B3C00 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 "
    b"stat:DELIVRD err:000 text:Hello world"
)

CASES: list[tuple[str, bytes, dict[Any, Any], dict[str, Any]]] = [
    (
        "appendix B text",
        STANDARD,
        {},
        {
            "message_id": "1A2B3C00",
            "state": State.DELIVERED,
            "error_code": 0,
            "submitted": 1,
            "delivered": 1,
            "submit_date": datetime(2024, 1, 31, 12, 0, tzinfo=UTC),
            "done_date": datetime(2024, 1, 31, 12, 1, tzinfo=UTC),
            "text": "Hello world",
            "problem": None,
        },
    ),
    (
        "TLVs only",
        b"",
        {RECEIPTED_MESSAGE_ID: b"1a2b3c00\x00", MESSAGE_STATE: b"\x02"},
        {"message_id": "1a2b3c00", "state": State.DELIVERED, "text": None, "problem": None},
    ),
    (
        "TLVs and text disagree: TLVs win",
        STANDARD.replace(b"DELIVRD", b"UNDELIV"),
        {RECEIPTED_MESSAGE_ID: b"999\x00", MESSAGE_STATE: b"\x02"},
        {"message_id": "999", "state": State.DELIVERED, "problem": None},
    ),
    (
        "TLVs by smpplib name, network error code",
        b"",
        {
            "receipted_message_id": b"00A1B2",
            "message_state": 5,
            "network_error_code": b"\x03\x00\x01",
        },
        {"state": State.UNDELIVERABLE, "error_code": 1, "network_type": 3, "problem": None},
    ),
    (
        "network_error_code wins over err:",
        STANDARD.replace(b"DELIVRD err:000", b"UNDELIV err:034"),
        {NETWORK_ERROR_CODE: b"\x03\x00\x0b"},
        {"state": State.UNDELIVERABLE, "error_code": 11, "error_text": "034"},
    ),
    (
        "uppercase keys, lowercase stat",
        b"ID:77 SUB:001 DLVRD:000 SUBMIT DATE:2402291530 DONE DATE:2403010000 "
        b"STAT:undeliv ERR:001 TEXT:Hi",
        {},
        {
            "message_id": "77",
            "state": State.UNDELIVERABLE,
            "error_code": 1,
            "delivered": 0,
            "submit_date": datetime(2024, 2, 29, 15, 30, tzinfo=UTC),
            "text": "Hi",
            "problem": None,
        },
    ),
    (
        "underscore dates with seconds, hex err",
        b"id:77 submit_date:240131120005 done_date:240131120107 stat:EXPIRED err:0C1",
        {},
        {
            "state": State.EXPIRED,
            "error_code": 0xC1,
            "submit_date": datetime(2024, 1, 31, 12, 0, 5, tzinfo=UTC),
            "done_date": datetime(2024, 1, 31, 12, 1, 7, tzinfo=UTC),
            "problem": None,
        },
    ),
    (
        "fields reordered, text not last",
        b"stat:REJECTD id:42 err:000 text:hi there sub:001 done date:2401311201",
        {},
        {
            "message_id": "42",
            "state": State.REJECTED,
            "text": "hi there",
            "submitted": 1,
            "done_date": datetime(2024, 1, 31, 12, 1, tzinfo=UTC),
        },
    ),
    (
        "sample that looks like fields",
        b"id:42 sub:001 dlvrd:001 stat:DELIVRD err:000 text:stat:UNDELIV id:666 err:9",
        {},
        {
            "message_id": "42",
            "state": State.DELIVERED,
            "error_code": 0,
            "text": "stat:UNDELIV id:666 err:9",
        },
    ),
    (
        "minimal: only id and an intermediate stat",
        b"id:42 stat:ACCEPTD",
        {},
        {"state": State.ACCEPTED, "submitted": None, "submit_date": None, "problem": None},
    ),
    (
        "BUFFRED is en route",
        b"id:42 stat:BUFFRED",
        {},
        {"state": State.ENROUTE},
    ),
    (
        "SMPP 5.0 SKIPPED by TLV",
        b"",
        {RECEIPTED_MESSAGE_ID: b"42", MESSAGE_STATE: b"\x09"},
        {"state": State.SKIPPED},
    ),
    (
        "receipt text in message_payload",
        b"",
        {MESSAGE_PAYLOAD: b"id:55 stat:DELETED err:000"},
        {"message_id": "55", "state": State.DELETED},
    ),
    (
        "invalid message_state falls back to stat:",
        b"id:42 stat:EXPIRED",
        {MESSAGE_STATE: b"\x2a"},
        {"state": State.EXPIRED, "problem": "unknown message_state 42"},
    ),
]


@pytest.mark.parametrize(
    ("short_message", "tlvs", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_parse_receipt(
    short_message: bytes, tlvs: dict[Any, Any], expected: dict[str, Any]
) -> None:
    receipt = parse_receipt(short_message, tlvs)
    assert {name: getattr(receipt, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("short_message", "problem"),
    [
        (b"", "no message id; no state"),
        (b"\xff\xfe\x00garbage \x1b", "no message id; no state"),
        (b"id:42 stat:FOOBAR err:000", "unknown stat 'FOOBAR'"),
        (b"stat:DELIVRD", "no message id"),
        (b"id: stat:", "no message id"),
    ],
)
def test_malformed_receipts_never_raise(short_message: bytes, problem: str) -> None:
    receipt = parse_receipt(short_message)
    assert receipt.problem is not None
    assert problem in receipt.problem
    if "stat" in problem or "state" in problem:
        assert receipt.state is State.UNKNOWN
        assert not receipt.final


def test_unreadable_fields_are_named_but_keep_the_state() -> None:
    receipt = parse_receipt(
        b"id:42 sub:abc submit date:2413991200 done date:24 stat:DELIVRD err:zz!"
    )
    assert receipt.state is State.DELIVERED
    assert receipt.final
    assert receipt.submitted is None
    assert receipt.submit_date is None
    assert receipt.done_date is None
    assert receipt.error_code is None
    assert receipt.problem == (
        "unreadable err 'zz!'; unreadable sub 'abc'; "
        "unreadable submit date '2413991200'; unreadable done date '24'"
    )


def test_bad_network_error_code_falls_back_to_err() -> None:
    receipt = parse_receipt(b"id:1 stat:UNDELIV err:005", {NETWORK_ERROR_CODE: b"\x03"})
    assert receipt.error_code == 5
    assert receipt.problem == "network_error_code of 1 octets"


@given(st.binary(max_size=300), st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=8)))
def test_any_bytes_parse_without_raising(short_message: bytes, tlvs: dict[int, bytes]) -> None:
    receipt = parse_receipt(short_message, tlvs)
    assert receipt.state in State
    assert (receipt.problem is None) or receipt.problem


# Tokens the shortcut takes (a key-like "stat:" inside one included); the rest fall back.
_TOKEN = st.text(st.sampled_from("0123456789abcdefXYZ:-_.\x00İstat"), min_size=1, max_size=12)


@given(
    st.lists(_TOKEN, min_size=7, max_size=7),
    st.text(st.sampled_from("ab :,;\x00\nidstaterxt"), max_size=40),
    st.sampled_from(["text", "Text"]),
)
def test_the_canonical_layout_reads_as_the_general_reading(
    values: list[str], sample: str, text_key: str
) -> None:
    keys = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")
    body = " ".join(f"{key}:{value}" for key, value in zip(keys, values, strict=True))
    body += f" {text_key}:{sample}"
    fast = receipts._text_fields(body)
    assert fast == receipts._general_text_fields(body)


def test_receipt_without_details_reads_what_the_gateway_stores() -> None:
    full = parse_receipt(STANDARD, id_hint="hex")
    brief = parse_receipt(STANDARD, id_hint="hex", details=False)
    assert (brief.message_id, brief.id_forms, brief.state, brief.error_code) == (
        full.message_id,
        full.id_forms,
        full.state,
        full.error_code,
    )
    assert brief.submit_date is None and brief.text is None and brief.submitted is None
    bad_date = parse_receipt(b"id:1 submit date:99 stat:DELIVRD err:000", details=False)
    assert bad_date.problem is None  # not read, so not reported
    assert parse_receipt(b"id:1 stat:NOPE", details=False).problem == "unknown stat 'NOPE'"


def test_dates_are_read_in_the_smsc_time_zone_and_returned_in_utc() -> None:
    istanbul = timezone(timedelta(hours=3))
    receipt = parse_receipt(STANDARD, tz=istanbul)
    assert receipt.submit_date == datetime(2024, 1, 31, 9, 0, tzinfo=UTC)
    assert receipt.submit_date is not None
    assert receipt.submit_date.tzinfo is UTC


def test_simulator_receipts_round_trip() -> None:
    submitted = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)
    text = pdu.receipt_text("0001A2B3", submitted, submitted, "UNDELIV", 11, "Merhaba: id:x")
    receipt = parse_receipt(text.encode("ascii"))
    assert receipt.message_id == "0001A2B3"
    assert receipt.state is State.UNDELIVERABLE
    assert receipt.error_code == 11
    assert receipt.done_date == submitted
    assert receipt.text == "Merhaba: id:x"


def test_receipt_carries_id_forms_with_the_hint() -> None:
    auto = parse_receipt(b"id:0041394 stat:DELIVRD")
    assert auto.id_forms == id_forms("0041394")
    hinted = parse_receipt(b"id:0041394 stat:DELIVRD", id_hint="decimal")
    assert hinted.id_forms == {"41394"}


# --- id forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_id", "hint", "forms"),
    [
        ("00A1B2", "auto", {"a1b2", "41394"}),
        ("12345", "auto", {"12345", "74565", "3039"}),
        ("0012345", "auto", {"12345", "74565", "3039"}),
        (" 0xZ-9 ", "auto", {"0xz-9"}),
        ("0", "auto", {"0"}),
        ("000", "auto", {"0"}),
        ("", "auto", set()),
        ("\x00", "auto", set()),
        (
            "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
            "auto",
            {
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                "3f2504e04f8911d39a0c0305e82c3301",
                str(0x3F2504E04F8911D39A0C0305E82C3301),
            },
        ),
        ("00A1B2", "hex", {"41394"}),
        ("12345", "hex", {"74565"}),
        ("0012345", "decimal", {"12345"}),
        ("A1B2", "decimal", {"a1b2"}),  # not decimal: the id itself
        ("00A1B2", "opaque", {"00a1b2"}),
    ],
)
def test_id_forms(message_id: str, hint: Any, forms: set[str]) -> None:
    assert id_forms(message_id, hint) == forms


def test_unknown_hint_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown id hint"):
        id_forms("1", "octal")  # type: ignore[arg-type]


def _hex(n: int, padding: int, upper: bool) -> str:
    text = "0" * padding + format(n, "x")
    return text.upper() if upper else text


ids = st.integers(0, 2**128)
paddings = st.integers(0, 6)


@given(ids, paddings, paddings, st.booleans())
def test_hex_and_decimal_spellings_of_one_id_match(
    n: int, hex_pad: int, dec_pad: int, upper: bool
) -> None:
    hex_id = _hex(n, hex_pad, upper)
    dec_id = "0" * dec_pad + str(n)
    assert id_forms(hex_id) & id_forms(dec_id)
    assert id_forms(hex_id, "hex") & id_forms(dec_id)
    assert id_forms(hex_id) & id_forms(dec_id, "decimal")
    assert id_forms(hex_id, "hex") & id_forms(dec_id, "decimal")
    # Each spelling is found among the other's forms: one lookup key is enough.
    assert (hex_id.lstrip("0").lower() or "0") in id_forms(dec_id)
    assert (dec_id.lstrip("0") or "0") in id_forms(hex_id)


@given(ids, paddings, paddings, st.booleans())
def test_one_key_of_the_submit_id_is_found_by_the_receipts_forms(
    n: int, hex_pad: int, dec_pad: int, upper: bool
) -> None:
    hex_id = _hex(n, hex_pad, upper)
    dec_id = "0" * dec_pad + str(n)
    for submitted, receipt in [(hex_id, dec_id), (dec_id, hex_id), (hex_id, hex_id.lower())]:
        assert id_key(submitted) in id_forms(receipt)
    assert id_key(hex_id, "hex") in id_forms(dec_id, "decimal")
    assert id_key(dec_id, "decimal") in id_forms(hex_id, "hex")


def test_uuid_key_is_found_by_another_spelling() -> None:
    assert id_key("0F2504E0-4F89-11D3-9A0C-0305E82C3301") in id_forms(
        "0f2504e04f8911d39a0c0305e82c3301"
    )
    assert id_key("") is None


@given(ids, paddings, paddings, st.booleans(), st.booleans())
def test_padding_and_case_of_one_format_match(
    n: int, pad_a: int, pad_b: int, upper_a: bool, upper_b: bool
) -> None:
    assert id_forms(_hex(n, pad_a, upper_a)) & id_forms(_hex(n, pad_b, upper_b))
    assert id_forms(_hex(n, pad_a, upper_a), "hex") == id_forms(_hex(n, pad_b, upper_b), "hex")


@given(ids, ids)
def test_hinted_ids_match_only_the_same_number(n: int, m: int) -> None:
    same = id_forms(format(n, "X"), "hex") & id_forms(str(m), "decimal")
    assert bool(same) is (n == m)


def test_auto_can_pair_different_messages_and_hints_prevent_it() -> None:
    # An all-digit id has two readings, and hex "bdf" (3039) shares a spelling with the
    # decimal id 12345 (0x3039): the documented false-match risk of "auto".
    assert id_forms("3039") & id_forms("3039")
    assert id_forms("bdf") & id_forms("12345")
    assert not id_forms("3039", "hex") & id_forms("3039", "decimal")
    assert not id_forms("bdf", "hex") & id_forms("12345", "decimal")


def test_uuids_match_regardless_of_case_and_dashes() -> None:
    upper = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert id_forms(upper) & id_forms(upper.lower())
    assert id_forms(upper) & id_forms(upper.replace("-", ""))


# --- state ordering ----------------------------------------------------------------------

FINALS = [s for s in State if s.final]


def test_final_states() -> None:
    assert set(FINALS) == {
        State.DELIVERED,
        State.EXPIRED,
        State.DELETED,
        State.UNDELIVERABLE,
        State.REJECTED,
        State.SKIPPED,
    }
    assert not State.ENROUTE.final
    assert not State.ACCEPTED.final
    assert not State.UNKNOWN.final
    assert set(RANK) == set(State)


@pytest.mark.parametrize(
    ("current", "new", "result"),
    [
        (None, State.ENROUTE, State.ENROUTE),
        (None, State.DELIVERED, State.DELIVERED),
        (State.ENROUTE, State.DELIVERED, State.DELIVERED),
        (State.DELIVERED, State.ENROUTE, State.DELIVERED),  # late ENROUTE
        (State.DELIVERED, State.ACCEPTED, State.DELIVERED),  # late ACCEPTD
        (State.DELIVERED, State.DELIVERED, State.DELIVERED),  # duplicate
        (State.DELIVERED, State.UNDELIVERABLE, State.DELIVERED),  # conflict: first stays
        (State.EXPIRED, State.DELIVERED, State.EXPIRED),
        (State.ENROUTE, State.ACCEPTED, State.ENROUTE),  # same rank: no change
        (State.ACCEPTED, State.ENROUTE, State.ACCEPTED),
        (State.ENROUTE, State.UNKNOWN, State.UNKNOWN),
        (State.UNKNOWN, State.ENROUTE, State.UNKNOWN),
        (State.UNKNOWN, State.DELIVERED, State.DELIVERED),  # unknown is not final
        (State.REJECTED, State.UNKNOWN, State.REJECTED),
    ],
)
def test_advance(current: State | None, new: State, result: State) -> None:
    assert advance(current, new) is result


@given(st.lists(st.sampled_from(list(State)), min_size=1))
def test_advance_is_monotonic(events: list[State]) -> None:
    state: State | None = None
    for event in events:
        previous = state
        state = advance(state, event)
        if previous is not None:
            assert RANK[state] >= RANK[previous]
            if previous.final:
                assert state is previous
    assert state is not None
    assert RANK[state] == max(RANK[event] for event in events)
    first_final = next((event for event in events if event.final), None)
    if first_final is not None:
        assert state is first_final
