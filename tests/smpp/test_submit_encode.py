"""submit_sm bytes: our encoder against smpplib's objects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interactive.smpp import pdu
from interactive.smpp.messages import SubmitPart

latin1 = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=5)
address = st.text(alphabet="0123456789+", min_size=1, max_size=20)
octet = st.integers(min_value=0, max_value=255)


def smpplib_bytes(part: SubmitPart, sequence: int) -> bytes:
    fields: dict[str, Any] = {
        "service_type": part.service_type,
        "source_addr_ton": part.source_ton,
        "source_addr_npi": part.source_npi,
        "source_addr": part.source,
        "dest_addr_ton": part.dest_ton,
        "dest_addr_npi": part.dest_npi,
        "destination_addr": part.destination,
        "esm_class": part.esm_class,
        "protocol_id": part.protocol_id,
        "priority_flag": part.priority,
        "validity_period": part.validity_period,
        "registered_delivery": part.registered_delivery,
        "data_coding": part.data_coding,
        "short_message": part.short_message,
    }
    if part.message_payload is not None:
        fields["message_payload"] = part.message_payload
    if part.sar is not None:
        ref, total, number = part.sar
        fields.update(sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=number)
    return pdu.encode("submit_sm", sequence=sequence, extra_tlvs=part.extra_tlvs, **fields)


@st.composite
def parts(draw: st.DrawFn) -> SubmitPart:
    payload = draw(st.booleans())
    body = draw(st.binary(max_size=254))
    return SubmitPart(
        key=1,
        source=draw(address),
        destination=draw(address),
        short_message=b"" if payload else body,
        message_payload=body if payload else None,
        esm_class=draw(octet),
        data_coding=draw(octet),
        registered_delivery=draw(octet),
        validity_period=draw(st.sampled_from(["", "000001000000000R", "261124120000000+"])),
        priority=draw(st.integers(0, 3)),
        source_ton=draw(octet),
        source_npi=draw(octet),
        dest_ton=draw(octet),
        dest_npi=draw(octet),
        protocol_id=draw(octet),
        service_type=draw(latin1),
        sar=draw(st.none() | st.tuples(st.integers(0, 65535), octet, octet)),
        extra_tlvs=draw(
            st.lists(st.tuples(st.integers(0x1400, 0x3FFF), st.binary(max_size=8))).map(tuple)
        ),
    )


@given(parts(), st.integers(min_value=1, max_value=0x7FFFFFFF))
def test_the_bytes_are_smpplibs(part: SubmitPart, sequence: int) -> None:
    assert part.encode(sequence) == smpplib_bytes(part, sequence)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"destination": "9" * 21}, "longer than 20"),
        ({"source": "İ"}, "cannot encode"),
        ({"short_message": b"x" * 255}, "254"),
        ({"priority": 256}, "cannot encode"),
    ],
)
def test_fields_that_do_not_fit_are_refused(change: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {"source": "4664", "destination": "905321234567", **change}
    part = SubmitPart(key=1, **fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=problem):
        part.encode(1)
