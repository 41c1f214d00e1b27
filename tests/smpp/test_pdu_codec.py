"""The PDU codec's own paths (struct, cached layouts) against smpplib's objects: the same
bytes out, the same fields in, for what the gateway and the simulator send every message."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from smpplib import smpp

from interactive.smpp import pdu
from interactive.smpp.simulator_delivery import VENDOR_TLVS

text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=70)
ascii_id = st.text(alphabet="0123456789ABCDEFabcdef-", max_size=70)
octet = st.integers(min_value=0, max_value=255)


def smpplib_bytes(
    name: str, sequence: int, status: int, fields: dict[str, Any], extra: tuple[Any, ...] = ()
) -> bytes:
    obj = smpp.make_pdu(name, sequence=sequence, status=status, **fields)
    obj.sequence, obj.status = sequence, status
    raw: bytes = obj.generate()
    tlvs = pdu.encode_tlvs(extra)
    return raw if not tlvs else (len(raw) + len(tlvs)).to_bytes(4, "big") + raw[4:] + tlvs


@given(
    name=st.sampled_from(["submit_sm_resp", "deliver_sm_resp", "data_sm_resp"]),
    message_id=st.none() | text,
    status=st.sampled_from([0, 0x14, 0x45, 0x58]),
    sequence=st.integers(min_value=1, max_value=pdu.MAX_SEQUENCE),
)
def test_responses_are_smpplibs(
    name: str, message_id: str | None, status: int, sequence: int
) -> None:
    fields: dict[str, Any] = {} if message_id is None else {"message_id": message_id}
    encoded = pdu.encode(name, sequence=sequence, status=status, **fields)
    assert encoded == smpplib_bytes(name, sequence, status, fields)


@given(
    name=st.sampled_from(["deliver_sm", "submit_sm"]),
    addresses=st.tuples(text, text),
    numbers=st.tuples(octet, octet, octet, octet, octet, octet),
    short_message=st.binary(max_size=200),
    receipted_id=st.none() | ascii_id,
    state=st.none() | st.integers(min_value=0, max_value=9),
    error=st.none() | st.binary(min_size=3, max_size=3),
    sar=st.none() | st.tuples(st.integers(0, 0xFFFF), octet, octet),
    vendor=st.booleans(),
)
def test_short_messages_are_smpplibs(
    name: str,
    addresses: tuple[str, str],
    numbers: tuple[int, ...],
    short_message: bytes,
    receipted_id: str | None,
    state: int | None,
    error: bytes | None,
    sar: tuple[int, int, int] | None,
    vendor: bool,
) -> None:
    ton, npi, dest_ton, dest_npi, esm_class, data_coding = numbers
    fields: dict[str, Any] = {
        "source_addr": addresses[0],
        "source_addr_ton": ton,
        "source_addr_npi": npi,
        "destination_addr": addresses[1],
        "dest_addr_ton": dest_ton,
        "dest_addr_npi": dest_npi,
        "esm_class": esm_class,
        "data_coding": data_coding,
        "short_message": short_message,
    }
    if name == "deliver_sm":
        optional = {
            "receipted_message_id": receipted_id,
            "message_state": state,
            "network_error_code": error,
        }
        fields.update({key: value for key, value in optional.items() if value is not None})
    if sar is not None:
        ref, total, number = sar
        fields.update(sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=number)
    extra = VENDOR_TLVS if vendor else ()
    encoded = pdu.encode(name, sequence=9, extra_tlvs=extra, **fields)
    assert encoded == smpplib_bytes(name, 9, 0, fields, extra)


def test_header_only_pdus_are_smpplibs() -> None:
    for name in ("enquire_link", "enquire_link_resp", "unbind", "unbind_resp", "generic_nack"):
        assert pdu.encode(name, sequence=77, status=3) == smpplib_bytes(name, 77, 3, {})


def test_a_receipt_reads_back_field_for_field() -> None:
    fields: dict[str, Any] = {
        "source_addr": "905321234567",
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "destination_addr": "4664",
        "esm_class": 0x04,
        "short_message": b"id:1A2B3C00 sub:001 dlvrd:001 stat:DELIVRD err:000 text:Hi",
        "receipted_message_id": "1A2B3C00",
        "message_state": 2,
        "network_error_code": b"\x03\x00\x00",
    }
    decoded = pdu.decode(pdu.encode("deliver_sm", sequence=5, extra_tlvs=VENDOR_TLVS, **fields))
    assert decoded.command == "deliver_sm"
    assert decoded.sequence == 5
    assert decoded.text("source_addr") == "905321234567"
    assert decoded.get("dest_addr_ton") == 0
    assert decoded.get("esm_class") == 0x04
    assert decoded.get("short_message") == fields["short_message"]
    assert decoded.get("receipted_message_id") == b"1A2B3C00"
    assert decoded.get("message_state") == 2
    assert decoded.tlvs[pdu.VENDOR_TLV_TAG] == b"SIM"  # unknown tags are kept raw
    assert "message_id" not in decoded.pdu.params


def test_a_bind_keeps_smpplibs_defaults_for_what_it_leaves_out() -> None:
    body = b"bench\0secret\0"  # cut short after the password
    header = pdu.pack_header(16 + len(body), pdu.command_id("bind_transceiver"), 0, 1)
    decoded = pdu.decode(header + body)
    assert decoded.get("system_id") == b"bench"
    assert decoded.get("password") == b"secret"
    assert decoded.get("interface_version") == 0x34
