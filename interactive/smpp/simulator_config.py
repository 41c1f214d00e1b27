"""Configuration and records of the built-in SMSC simulator.

``SimulatorConfig`` and its per-bind ``ConnectionProfile`` say how the SMSC behaves; the records
(``SubmittedMessage``, ``Delivery``, ``ReceivedNack``, ``SessionInfo``) are what it saw and did,
for tests and demos to inspect.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from smpplib import consts

from interactive.smpp import pdu
from interactive.smpp.simulator_personas import ID_FORMATS, FailureRules, Fault, IdFormat, Persona


@dataclass(frozen=True)
class ConnectionProfile:
    """Per-bind behaviour, chosen by the bind's system_id."""

    message_id_format: IdFormat = "hex"
    receipt_id_format: IdFormat | None = None
    receipt_id_width: int = 0
    personas: tuple[Persona, ...] = ()
    #: Regex of destination numbers whose MO goes to this system_id's receivers.
    address_range: str | None = None

    def __post_init__(self) -> None:
        for fmt in (self.message_id_format, self.receipt_id_format):
            if fmt is not None and fmt not in ID_FORMATS:
                raise ValueError(f"unknown message id format {fmt!r}")
        if self.address_range is not None:
            re.compile(self.address_range)

    def persona(self, fault: Fault) -> Persona | None:
        return next((p for p in self.personas if p.fault is fault), None)

    def id_formats(self, persona: Persona | None) -> tuple[IdFormat, IdFormat, int]:
        """(submit_sm_resp format, receipt format, receipt zero padding) of one message."""
        mismatch = persona if persona and persona.fault is Fault.ID_MISMATCH else None
        if mismatch is not None:
            return "hex", "decimal", mismatch.id_width
        receipt_format = self.receipt_id_format or self.message_id_format
        return self.message_id_format, receipt_format, self.receipt_id_width


def _frozen_map(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulator instance (port 0 = ephemeral; see ``SmscSimulator.port``)."""

    host: str = "127.0.0.1"
    port: int = 0
    system_id: str = "SIMSMSC"
    credentials: Mapping[str, str] = field(default_factory=dict)
    default_profile: ConnectionProfile = field(default_factory=ConnectionProfile)
    profiles: Mapping[str, ConnectionProfile] = field(default_factory=dict)
    #: destination number → persona(s) applied to submit_sm/data_sm for that number.
    destination_personas: Mapping[str, Persona | tuple[Persona, ...]] = field(default_factory=dict)
    failure_rules: FailureRules = field(default_factory=dict)
    always_receipt: bool = False
    receipt_delay: float = 0.0
    deliver_retry_delay: float = 5.0
    deliver_max_attempts: int = 3
    deliver_response_timeout: float = 30.0
    #: deliver_sm_resp statuses treated as "stored nothing, try again later"; others are final.
    retry_statuses: frozenset[int] = frozenset(
        {
            consts.SMPP_ESME_RSYSERR,
            consts.SMPP_ESME_RMSGQFUL,
            consts.SMPP_ESME_RTHROTTLED,
            consts.SMPP_ESME_RX_T_APPN,
        }
    )
    enquire_link_interval: float | None = None
    enquire_link_max_missed: int = 3
    unbind_timeout: float = 5.0
    max_command_length: int = pdu.MAX_COMMAND_LENGTH
    #: How many submits, and finished deliveries, are kept for inspection (the oldest go
    #: first); None keeps every one. A simulator that runs for days needs a bound, or it
    #: holds every message ever sent to it.
    keep_records: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be 0..65535")
        if self.deliver_max_attempts < 1:
            raise ValueError("deliver_max_attempts must be at least 1")
        delays = (self.receipt_delay, self.deliver_retry_delay, self.deliver_response_timeout)
        if min(delays) < 0 or (self.enquire_link_interval or 1) <= 0:
            raise ValueError("delays must not be negative")
        if not pdu.HEADER_LENGTH <= self.max_command_length <= pdu.MAX_COMMAND_LENGTH:
            raise ValueError("max_command_length must be within 16..64 KiB")
        if self.keep_records is not None and self.keep_records < 1:
            raise ValueError("keep_records must be at least 1")
        for system_id, password in self.credentials.items():
            # SMPP 3.4 limits (C-octet strings incl. NUL): longer values can never bind.
            if len(system_id) > 15 or len(password) > 8:
                raise ValueError(f"system_id ≤ 15 and password ≤ 8 characters ({system_id!r})")
        object.__setattr__(self, "credentials", _frozen_map(self.credentials))
        object.__setattr__(self, "profiles", _frozen_map(self.profiles))
        personas = {
            dest: (value,) if isinstance(value, Persona) else tuple(value)
            for dest, value in self.destination_personas.items()
        }
        object.__setattr__(self, "destination_personas", _frozen_map(personas))
        if not callable(self.failure_rules):
            object.__setattr__(self, "failure_rules", _frozen_map(self.failure_rules))

    def personas_for(self, destination: str) -> tuple[Persona, ...]:
        found = self.destination_personas.get(destination, ())
        return (found,) if isinstance(found, Persona) else found

    def profile_for(self, system_id: str | None) -> ConnectionProfile:
        if system_id is None:
            return self.default_profile
        return self.profiles.get(system_id, self.default_profile)


@dataclass(frozen=True)
class SubmittedMessage:
    """One submit_sm/data_sm as received; ``command_status`` is what the SMSC decided (0 =
    accepted, even when a persona then lost or delayed the response)."""

    command: str
    system_id: str
    session_id: int
    sequence: int
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    udh: bytes | None
    payload: bytes  # user data without the UDH, from short_message or message_payload
    tlvs: Mapping[int, bytes]
    sar: tuple[int, int, int] | None  # (sar_msg_ref_num, total, seqnum)
    command_status: int
    message_id: str | None
    fault: Fault | None
    received_at: datetime
    validity_period: str = ""  # as sent: "" (SMSC default), absolute or relative time

    @classmethod
    def from_pdu(
        cls,
        p: pdu.DecodedPdu,
        system_id: str,
        session_id: int,
        status: int,
        message_id: str | None,
        fault: Fault | None,
    ) -> SubmittedMessage:
        """The record of a decoded submit_sm/data_sm, received now on ``session_id``."""
        esm_class = int(p.get("esm_class", 0))
        short_message, payload_tlv = p.get("short_message", b""), p.get("message_payload")
        udh, payload = pdu.split_udh(esm_class, short_message or payload_tlv or b"")
        sar_names = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")
        ref, total, number = (p.get(name) for name in sar_names)
        return cls(
            command=p.command,
            system_id=system_id,
            session_id=session_id,
            sequence=p.sequence,
            source_addr=p.text("source_addr"),
            source_addr_ton=int(p.get("source_addr_ton", 0)),
            source_addr_npi=int(p.get("source_addr_npi", 0)),
            destination_addr=p.text("destination_addr"),
            dest_addr_ton=int(p.get("dest_addr_ton", 0)),
            dest_addr_npi=int(p.get("dest_addr_npi", 0)),
            esm_class=esm_class,
            registered_delivery=int(p.get("registered_delivery", 0)),
            data_coding=int(p.get("data_coding", 0)),
            short_message=short_message,
            message_payload=payload_tlv,
            udh=udh,
            payload=payload,
            tlvs=dict(p.tlvs),
            sar=None if None in (ref, total, number) else (ref, total, number),
            command_status=status,
            message_id=message_id,
            fault=fault,
            received_at=datetime.now(UTC),
            validity_period=p.text("validity_period"),
        )


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for a receiving bind
    IN_FLIGHT = "in_flight"
    RETRY_WAIT = "retry_wait"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"


@dataclass
class DeliveryAttempt:
    sequence: int
    session_id: int
    system_id: str
    status: int | None = None
    outcome: Literal["sent", "answered", "timeout", "connection_lost"] = "sent"


@dataclass(eq=False)
class Delivery:
    """One deliver_sm we originate (a receipt or an MO part) and every attempt to deliver it.
    Mutated under the simulator's lock: read it after a ``wait_*`` call returns."""

    kind: Literal["receipt", "mo"]
    fields: dict[str, Any]
    extra_tlvs: tuple[tuple[int, bytes], ...] = ()
    system_id: str | None = None
    message_id: str | None = None
    prefer_session: int | None = None
    state: DeliveryState = DeliveryState.PENDING
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in (DeliveryState.ACKNOWLEDGED, DeliveryState.FAILED)


@dataclass(frozen=True)
class ReceivedNack:
    session_id: int
    system_id: str | None
    status: int
    sequence: int


@dataclass(frozen=True)
class SessionInfo:
    id: int
    peer: str
    bind: str | None
    system_id: str | None
    enquire_links_sent: int
    enquire_links_answered: int
