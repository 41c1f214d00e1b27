"""Fault personas, outcomes and message-building helpers of the built-in SMSC simulator.

A *persona* is a misbehaviour a real SMSC shows (throttling, lost responses, odd framing, ids
that change format between ``submit_sm_resp`` and the receipt, ...). Personas are selected per
bind (``SimulatorConfig.profiles[system_id].personas``) or per destination number
(``SimulatorConfig.destination_personas``, applied to ``submit_sm``/``data_sm``); the config and
record types live in :mod:`interactive.smpp.simulator_config`.
"""

from __future__ import annotations

import enum
import itertools
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from smpplib import consts

from interactive.smpp import pdu

IdFormat = Literal["hex", "decimal", "uuid"]
Split = Literal["udh8", "udh16", "sar", "payload"]
ID_FORMATS: frozenset[str] = frozenset({"hex", "decimal", "uuid"})


class Fault(enum.StrEnum):
    """Bind faults act on bind_*; submit faults on how a submit_sm/data_sm is answered
    (connection-level ones fire on every submit, or the first ``count``); SLICED_WRITES and
    VENDOR_TLVS shape every PDU of the bind; *_MO ones shape ``inject_mo``."""

    NO_BIND_RESPONSE = "no_bind_response"
    BIND_REFUSED = "bind_refused"
    THROTTLE = "throttle"
    QUEUE_FULL = "queue_full"
    NO_SUBMIT_RESPONSE = "no_submit_response"
    LATE_RESPONSE = "late_response"
    GENERIC_NACK = "generic_nack"
    GENERIC_NACK_NO_SEQUENCE = "generic_nack_no_sequence"
    DROP_MID_PDU = "drop_mid_pdu"
    SLICED_WRITES = "sliced_writes"
    UNKNOWN_COMMAND = "unknown_command"
    VENDOR_TLVS = "vendor_tlvs"
    DLR_BEFORE_RESP = "dlr_before_resp"
    ID_MISMATCH = "id_mismatch"
    DUPLICATE_MO = "duplicate_mo"
    CONCAT_MO_OUT_OF_ORDER = "concat_mo_out_of_order"
    BAD_COMMAND_LENGTH = "bad_command_length"


#: Faults that decide how one submit_sm/data_sm is answered (the first one that fires wins).
SUBMIT_FAULTS = frozenset(
    {
        Fault.THROTTLE,
        Fault.QUEUE_FULL,
        Fault.NO_SUBMIT_RESPONSE,
        Fault.LATE_RESPONSE,
        Fault.GENERIC_NACK,
        Fault.GENERIC_NACK_NO_SEQUENCE,
        Fault.DROP_MID_PDU,
        Fault.UNKNOWN_COMMAND,
        Fault.BAD_COMMAND_LENGTH,
        Fault.DLR_BEFORE_RESP,
        Fault.ID_MISMATCH,
    }
)


@dataclass(frozen=True)
class Persona:
    """One fault and its parameters.

    ``count``: only the first ``count`` submits in scope are affected (0 = all of them).
    ``per_second`` (THROTTLE only): accept that many submits per rolling second, throttle the rest.
    ``delay``: LATE_RESPONSE seconds. ``status``: GENERIC_NACK* command_status.
    ``command_length``: BAD_COMMAND_LENGTH header value (8 or 2**31 are the classics).
    ``id_width``: ID_MISMATCH zero padding of the decimal id in the receipt (0 = none).
    """

    fault: Fault
    count: int = 0
    per_second: int = 0
    delay: float = 1.0
    status: int = consts.SMPP_ESME_RSYSERR
    command_length: int = 8
    id_width: int = 0


def parse_persona(spec: str) -> Persona:
    """``"throttle:count=3"`` / ``"late_response:delay=2.5"`` → :class:`Persona` (for the CLI)."""
    name, _, params = spec.partition(":")
    values: dict[str, float | int] = {}
    for item in filter(None, params.split(",")):
        key, _, raw = item.partition("=")
        key = key.strip()
        if key not in {"count", "per_second", "delay", "status", "command_length", "id_width"}:
            raise ValueError(f"unknown persona parameter {key!r}")
        values[key] = float(raw) if key == "delay" else int(raw, 0)
    return Persona(Fault(name.strip()), **values)  # type: ignore[arg-type]


class FinalState(enum.StrEnum):
    DELIVRD = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIV = "UNDELIV"
    ACCEPTD = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTD = "REJECTD"
    ENROUTE = "ENROUTE"


MESSAGE_STATES: Mapping[FinalState, int] = MappingProxyType(
    {
        FinalState.ENROUTE: consts.SMPP_MESSAGE_STATE_ENROUTE,
        FinalState.DELIVRD: consts.SMPP_MESSAGE_STATE_DELIVERED,
        FinalState.EXPIRED: consts.SMPP_MESSAGE_STATE_EXPIRED,
        FinalState.DELETED: consts.SMPP_MESSAGE_STATE_DELETED,
        FinalState.UNDELIV: consts.SMPP_MESSAGE_STATE_UNDELIVERABLE,
        FinalState.ACCEPTD: consts.SMPP_MESSAGE_STATE_ACCEPTED,
        FinalState.UNKNOWN: consts.SMPP_MESSAGE_STATE_UNKNOWN,
        FinalState.REJECTD: consts.SMPP_MESSAGE_STATE_REJECTED,
    }
)


@dataclass(frozen=True)
class Outcome:
    """What happens to a message for a destination: a submit-time status or a final state."""

    state: FinalState = FinalState.DELIVRD
    error_code: int = 0
    submit_status: int = consts.SMPP_ESME_ROK


DELIVERED = Outcome()
FailureRules = Mapping[str, Outcome] | Callable[[str], Outcome | None]


def resolve_outcome(rules: FailureRules, destination: str) -> Outcome:
    found = rules(destination) if callable(rules) else rules.get(destination)
    return found or DELIVERED


class PersonaCounters:
    """Firing state of count- and rate-limited personas, per scope (a session or a number)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[object, int], int] = {}
        self._windows: dict[tuple[object, int], deque[float]] = {}

    def fires(self, scope: object, persona: Persona) -> bool:
        key = (scope, id(persona))
        if persona.fault is Fault.THROTTLE and persona.per_second > 0:
            now = time.monotonic()
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) < persona.per_second:
                window.append(now)
                return False
            return True
        if persona.count <= 0:
            return True
        hits = self._hits.get(key, 0)
        if hits >= persona.count:
            return False
        self._hits[key] = hits + 1
        return True


def format_message_id(value: int, fmt: IdFormat, width: int = 0) -> str:
    if fmt == "hex":
        return f"{value:X}"
    if fmt == "decimal":
        return str(value).zfill(width)
    return str(uuid.UUID(int=value & ((1 << 128) - 1)))


class MessageIds:
    """Ids of accepted messages: one value each, in the submit_sm_resp and the receipt format."""

    def __init__(self) -> None:
        self._values = itertools.count(0x1A2B3C00)

    def new(self, resp_format: IdFormat, receipt_format: IdFormat, width: int) -> tuple[str, str]:
        uses_uuid = "uuid" in (resp_format, receipt_format)
        value = uuid.uuid4().int if uses_uuid else next(self._values)
        return (
            format_message_id(value, resp_format),
            format_message_id(value, receipt_format, width),
        )


def _default_part_size(data_coding: int, split: Split) -> int:
    udh = {"udh8": 6, "udh16": 7}.get(split, 0)
    if data_coding == consts.SMPP_ENCODING_DEFAULT:
        return 160 - udh - (1 if udh else 0)  # septets, unpacked: 153 / 152 / 160
    return 140 - udh - (udh % 2 if data_coding == consts.SMPP_ENCODING_ISO10646 else 0)


@dataclass(frozen=True)
class MoPart:
    """The deliver_sm fields of one MO part (``number`` is 1-based)."""

    number: int
    esm_class: int
    short_message: bytes
    fields: Mapping[str, object]


def build_mo_parts(
    payload: bytes,
    *,
    data_coding: int,
    esm_class: int,
    udh: bytes | None,
    split: Split | None,
    part_size: int | None,
    reference: int,
) -> list[MoPart]:
    if split is None:
        body = (udh or b"") + payload
        if len(body) > 254:
            raise ValueError("MO longer than 254 octets: pass split=...")
        flags = esm_class | (consts.SMPP_GSMFEAT_UDHI if udh else 0)
        return [MoPart(1, flags, body, {})]
    if split == "payload":
        return [MoPart(1, esm_class, b"", {"message_payload": (udh or b"") + payload})]
    size = part_size or _default_part_size(data_coding, split)
    chunks = pdu.split_payload(payload, data_coding, size)
    total = len(chunks)
    parts: list[MoPart] = []
    for number, chunk in enumerate(chunks, start=1):
        if split == "sar":
            sar = {
                "sar_msg_ref_num": reference & 0xFFFF,
                "sar_total_segments": total,
                "sar_segment_seqnum": number,
            }
            parts.append(MoPart(number, esm_class, chunk, sar))
        else:
            header = pdu.concat_udh(reference, total, number, sixteen_bit=split == "udh16")
            flags = esm_class | consts.SMPP_GSMFEAT_UDHI
            parts.append(MoPart(number, flags, header + chunk, {}))
    return parts
