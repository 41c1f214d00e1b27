"""From a text to the submit_sm parts of one message, the way a connection wants them.

``long_message`` decides how a text longer than one SMS travels:

- "udh8" / "udh16": one submit per part with a concatenation UDH (IEI 0x00 with an 8-bit
  reference, IEI 0x08 with a 16-bit one), from :func:`interactive.outbound.encoding.split`.
- "sar": the same parts without the concatenation IE; the SMSC builds it from the SAR TLVs
  (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum). The parts keep the size of the
  8-bit UDH layout, the header the SMSC will add. A Turkish single-shift IE stays in the UDH.
- "payload": one submit with the whole text in the message_payload TLV; the SMSC splits it.
  It would have to repeat a national-language shift IE in every part, which cannot be relied
  on, so such texts go as UCS-2.

A text that fits one SMS is always one plain submit_sm.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace

from interactive.outbound.decoding import IEI_CONCAT_8, IEI_CONCAT_16, parse_udh
from interactive.outbound.encoding import ESM_CLASS_UDHI, split
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitPart


def relative_validity(seconds: int) -> str:
    """SMPP relative time ``YYMMDDhhmmss000R`` for a validity of ``seconds`` (< 100 days)."""
    days, rest = divmod(seconds, 86400)
    if seconds <= 0 or days >= 100:
        raise ValueError("validity must be between 1 second and 99 days")
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def source_address(source: str, connection: SmppConnection) -> tuple[str, int, int]:
    """(address, TON, NPI) of a sender. Unless the connection fixes them: alphanumeric →
    5/0, "+…" or 10+ digits (international, "+" dropped) → 1/1, short codes → 0/1."""
    address = source.removeprefix("+")
    if not address.isdigit():
        ton, npi = 5, 0
    elif source.startswith("+") or len(address) >= 10:
        ton, npi = 1, 1
    else:
        ton, npi = 0, 1
    if connection.source_ton is not None:
        ton = connection.source_ton
    if connection.source_npi is not None:
        npi = connection.source_npi
    return (address if address.isdigit() else source), ton, npi


def build_submit_parts(
    text: str,
    connection: SmppConnection,
    *,
    key: Hashable,
    source: str,
    destination: str,
    concat_ref: int = 0,
    registered_delivery: int | None = None,
    priority: int = 0,
) -> list[SubmitPart]:
    """The submit parts of one text on ``connection``, in sending order.

    ``concat_ref`` identifies the message among this sender's recent long messages to the
    same handset: the low 8 bits are used with "udh8", the low 16 bits otherwise.
    ``registered_delivery`` defaults to the connection's. Every part carries ``key`` and
    its part number. Raises ValueError for a text needing more than 255 parts. Pure.
    """
    address, ton, npi = source_address(source, connection)
    validity = connection.validity_period
    template = SubmitPart(
        key=key,
        source=address,
        destination=destination.removeprefix("+"),
        source_ton=ton,
        source_npi=npi,
        dest_ton=connection.dest_ton,
        dest_npi=connection.dest_npi,
        registered_delivery=(
            connection.registered_delivery if registered_delivery is None else registered_delivery
        ),
        priority=priority,
        validity_period=relative_validity(validity) if validity else "",
    )
    mode = connection.long_message
    sixteen = mode == "udh16"
    ref = concat_ref & (0xFFFF if sixteen else 0xFF)
    encoded = split(text, turkish_shift=connection.turkish_shift, concat_ref=ref, ref_16bit=sixteen)
    if len(encoded) > 1 and mode == "payload":
        return [_payload_part(text, template)]
    total = len(encoded)
    parts = []
    for number, part in enumerate(encoded, start=1):
        udh, sar = part.udh, None
        if mode == "sar" and total > 1:
            udh, sar = _without_concat(udh), (concat_ref & 0xFFFF, total, number)
        parts.append(
            replace(
                template,
                short_message=udh + part.payload,
                esm_class=ESM_CLASS_UDHI if udh else 0,
                data_coding=part.data_coding,
                sar=sar,
                part_number=number,
                total_parts=total,
            )
        )
    return parts


def _payload_part(text: str, template: SubmitPart) -> SubmitPart:
    encoded = split(text, turkish_shift=False)
    return replace(
        template,
        message_payload=b"".join(part.payload for part in encoded),
        data_coding=encoded[0].data_coding,
    )


def _without_concat(udh: bytes) -> bytes:
    """The UDH minus its concatenation IE (other IEs, e.g. the Turkish shift, stay)."""
    if not udh:
        return udh
    kept = b"".join(
        bytes((ie.iei, len(ie.data))) + ie.data
        for ie in parse_udh(udh).elements
        if ie.iei not in (IEI_CONCAT_8, IEI_CONCAT_16)
    )
    return bytes((len(kept),)) + kept if kept else b""
