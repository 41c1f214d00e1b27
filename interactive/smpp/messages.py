"""Values exchanged between an SMPP session and its caller.

Outbound: the caller hands :class:`SubmitPart` objects to ``SmppSession.submit`` and gets one
:class:`SubmitResult` per part through its result callback. Inbound: every ``deliver_sm`` /
``data_sm`` becomes an :class:`InboundMessage` passed to the deliver callback together with a
:class:`Responder`, which answers it now or later (after a group commit; see
:func:`acknowledge`).
"""

from __future__ import annotations

import enum
import logging
import struct
import threading
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from smpplib import consts

from interactive.outbound.decoding import DecodedText, decode_mo
from interactive.smpp import pdu
from interactive.smpp.config import Dcs0Alphabet

logger = logging.getLogger(__name__)

_KNOWN_TAGS = frozenset(consts.OPTIONAL_PARAMS.values())


@dataclass(frozen=True)
class SubmitPart:
    """One submit_sm as the caller wants it sent.

    ``key`` is opaque to the session and comes back in the result (e.g. the message row id);
    ``part_number`` / ``total_parts`` say which part of a long text this is (1-based).
    ``short_message`` holds UDH + user data (set ``esm_class`` 0x40 when there is a UDH);
    ``message_payload`` replaces it for long payload submits. ``sar`` is
    ``(sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)``. ``validity_period`` is an
    SMPP time string ("" = the SMSC's default). ``extra_tlvs`` are sent as they are.
    """

    key: Hashable
    source: str
    destination: str
    short_message: bytes = b""
    message_payload: bytes | None = None
    esm_class: int = 0
    data_coding: int = 0
    registered_delivery: int = 1
    validity_period: str = ""
    priority: int = 0
    source_ton: int = 0
    source_npi: int = 1
    dest_ton: int = 1
    dest_npi: int = 1
    protocol_id: int = 0
    service_type: str = ""
    sar: tuple[int, int, int] | None = None
    extra_tlvs: tuple[tuple[int, bytes], ...] = ()
    part_number: int = 1
    total_parts: int = 1

    def encode(self, sequence: int) -> bytes:
        """The submit_sm PDU. Raises ValueError when a field cannot be encoded.

        Built with struct rather than smpplib's objects: this runs for every part, and the
        bytes are the same (a test compares the two for any field values)."""
        if len(self.short_message) > 254:
            raise ValueError("short_message longer than 254 octets: use message_payload")
        if self.message_payload is not None and self.short_message:
            raise ValueError("message_payload cannot be used with short_message")
        try:
            body = b"".join(
                (
                    _c_octets(self.service_type, 6),
                    _BYTES2.pack(self.source_ton, self.source_npi),
                    _c_octets(self.source, 21),
                    _BYTES2.pack(self.dest_ton, self.dest_npi),
                    _c_octets(self.destination, 21),
                    _BYTES3.pack(self.esm_class, self.protocol_id, self.priority),
                    b"\0",  # schedule_delivery_time: now
                    _c_octets(self.validity_period, 17),
                    # registered_delivery, replace_if_present_flag, data_coding,
                    # sm_default_msg_id, sm_length
                    _BYTES5.pack(
                        self.registered_delivery, 0, self.data_coding, 0, len(self.short_message)
                    ),
                    self.short_message,
                    self._tlvs(),
                )
            )
        except (struct.error, UnicodeEncodeError) as exc:
            raise ValueError(f"cannot encode submit_sm: {exc}") from exc
        return _SUBMIT_HEADER.pack(len(body) + 16, _SUBMIT_SM, 0, sequence) + body

    def _tlvs(self) -> bytes:
        tlvs = []
        if self.sar is not None:
            ref, total, number = self.sar
            tlvs += [
                (_TAG["sar_msg_ref_num"], ref.to_bytes(2, "big")),
                (_TAG["sar_total_segments"], total.to_bytes(1, "big")),
                (_TAG["sar_segment_seqnum"], number.to_bytes(1, "big")),
            ]
        if self.message_payload:  # an empty payload is left out, as smpplib does
            tlvs.append((_TAG["message_payload"], self.message_payload))
        return pdu.encode_tlvs([*tlvs, *self.extra_tlvs])


_TAG = consts.OPTIONAL_PARAMS
_SUBMIT_SM = pdu.command_id("submit_sm")
_SUBMIT_HEADER = struct.Struct(">LLLL")
_BYTES2 = struct.Struct(">BB")
_BYTES3 = struct.Struct(">BBB")
_BYTES5 = struct.Struct(">BBBBB")


def _c_octets(value: str, size: int) -> bytes:
    """A C-octet string field of at most ``size`` octets including the NUL. Too long is an
    error (smpplib would cut an address short without a word)."""
    data = value.encode("latin-1")
    if len(data) >= size:
        raise ValueError(f"{value!r} is longer than {size - 1} octets")
    return data + b"\0"


class SubmitStatus(enum.StrEnum):
    """What became of one part.

    ACCEPTED: the SMSC took it (``message_id`` set). REJECTED: a permanent error, do not retry.
    TEMPORARY: the SMSC refused it for now (a ``temporary_errors`` code, or a generic_nack
    without status): retry later. UNKNOWN: sent, but the connection was lost or the response
    timed out, so the SMSC may have accepted it; a late response may still follow (``late``).
    NOT_SENT: never written to the SMSC (the session stopped first): safe to resend.
    Throttling (``throttle_errors``) is never a result: the session requeues the part itself.
    """

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TEMPORARY = "temporary"
    UNKNOWN = "unknown"
    NOT_SENT = "not_sent"


@dataclass(frozen=True)
class SubmitResult:
    """The outcome of one part. ``late`` marks a response that came after the part was
    already reported (UNKNOWN after a timeout, or given a sequence-less generic_nack): it
    corrects the earlier result. ``attempts`` counts submits including throttled ones."""

    part: SubmitPart
    status: SubmitStatus
    connection: str
    command_status: int | None = None
    message_id: str | None = None
    sequence: int | None = None
    attempts: int = 0
    late: bool = False
    detail: str = ""

    @property
    def key(self) -> Hashable:
        return self.part.key


@dataclass(frozen=True)
class InboundMessage:
    """A deliver_sm or data_sm as received: every field raw, every TLV kept (unknown ones
    included, by tag), the UDH split from the user data when the UDHI bit is set."""

    connection: str
    command: str
    sequence: int
    source: str
    source_ton: int
    source_npi: int
    destination: str
    dest_ton: int
    dest_npi: int
    esm_class: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    udh: bytes | None
    payload: bytes
    tlvs: Mapping[int, bytes]
    dcs0_alphabet: Dcs0Alphabet = "gsm0338"
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_pdu(
        cls, connection: str, p: pdu.DecodedPdu, dcs0_alphabet: Dcs0Alphabet = "gsm0338"
    ) -> InboundMessage:
        esm_class = int(p.get("esm_class", 0))
        short_message = bytes(p.get("short_message", b""))
        payload_tlv = p.get("message_payload")
        udh, payload = pdu.split_udh(esm_class, short_message or payload_tlv or b"")
        return cls(
            connection=connection,
            command=p.command,
            sequence=p.sequence,
            source=p.text("source_addr"),
            source_ton=int(p.get("source_addr_ton", 0)),
            source_npi=int(p.get("source_addr_npi", 0)),
            destination=p.text("destination_addr"),
            dest_ton=int(p.get("dest_addr_ton", 0)),
            dest_npi=int(p.get("dest_addr_npi", 0)),
            esm_class=esm_class,
            data_coding=int(p.get("data_coding", 0)),
            short_message=short_message,
            message_payload=None if payload_tlv is None else bytes(payload_tlv),
            udh=udh,
            payload=payload,
            tlvs=dict(p.tlvs),
            dcs0_alphabet=dcs0_alphabet,
        )

    @property
    def is_receipt(self) -> bool:
        """An SMSC delivery receipt (esm_class bit 0x04; some SMSCs send 0x44)."""
        return bool(self.esm_class & 0x04)

    @property
    def unknown_tlvs(self) -> dict[int, bytes]:
        """TLVs that SMPP 3.4 does not define (vendor tags), kept raw."""
        return {tag: value for tag, value in self.tlvs.items() if tag not in _KNOWN_TAGS}

    @property
    def receipted_message_id(self) -> str | None:
        value = self.tlvs.get(consts.OPTIONAL_PARAMS["receipted_message_id"])
        return None if value is None else value.rstrip(b"\0").decode("latin-1")

    @property
    def message_state(self) -> int | None:
        return pdu.tlv_int(self.tlvs, "message_state")

    @property
    def sar(self) -> tuple[int, int, int] | None:
        names = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")
        values = [pdu.tlv_int(self.tlvs, name) for name in names]
        if any(v is None for v in values):
            return None
        ref, total, number = (int(v or 0) for v in values)
        return ref, total, number

    def text(self) -> DecodedText:
        """The user data decoded with this connection's DCS 0 alphabet (never raises)."""
        return decode_mo(
            self.payload, self.data_coding, dcs0=self.dcs0_alphabet, udh=self.udh or b""
        )


class Channel(Protocol):
    """Where responses go: one TCP connection of a session (gone after a reconnect)."""

    label: str

    def send(self, data: bytes) -> bool: ...


class Responder:
    """Answers one deliver_sm/data_sm, once, on the connection it arrived on.

    Thread-safe; may be used from any thread after the deliver callback returned None. If the
    connection has closed meanwhile, ``respond`` returns False and the SMSC redelivers the PDU
    on a new connection (that is how SMPP works: unanswered PDUs are retried).
    """

    def __init__(self, channel: Channel, command: str, sequence: int) -> None:
        self.channel = channel
        self.command = command
        self.sequence = sequence
        self._lock = threading.Lock()
        self._answered: int | None = None

    @property
    def answered(self) -> bool:
        return self._answered is not None

    def claim(self, status: int) -> bytes | None:
        """Mark answered and return the response PDU, or None when already answered."""
        with self._lock:
            if self._answered is not None:
                return None
            self._answered = status
        return pdu.encode(f"{self.command}_resp", sequence=self.sequence, status=status)

    def respond(self, status: int = consts.SMPP_ESME_ROK) -> bool:
        """Send the response with ``status`` (0 = stored). Idempotent: later calls do nothing
        and return False. Returns whether the response was written."""
        raw = self.claim(status)
        return raw is not None and self.channel.send(raw)


def acknowledge(responders: Iterable[Responder], status: int = consts.SMPP_ESME_ROK) -> int:
    """Answer many PDUs at once (after one commit): one write per connection.

    Returns how many responses were written; already answered responders are skipped.
    Thread-safe.
    """
    batches: dict[int, tuple[Channel, list[bytes]]] = {}
    for responder in responders:
        raw = responder.claim(status)
        if raw is not None:
            batches.setdefault(id(responder.channel), (responder.channel, []))[1].append(raw)
    written = 0
    for channel, chunks in batches.values():
        if channel.send(b"".join(chunks)):
            written += len(chunks)
        else:
            logger.info(
                "smpp %s: %d response(s) not sent, connection gone", channel.label, len(chunks)
            )
    return written
