"""Per-connection SMPP settings and the parser of ``INTERACTIVE_SMPP_CONNECTIONS``.

One :class:`SmppConnection` describes one SMSC account: where to connect, how to bind, the
window and TPS of the contract, the keep-alive and reconnect timers, how long texts are sent
and which ``command_status`` codes mean "try again". The setting is a JSON list of objects
whose keys are the field names below; unknown keys and bad values are refused with a one-line
message that names the connection and the key.

Decisions:
- ``temporary_errors`` defaults to Kannel's set (``smpp_status_to_smscconn_failure_reason``):
  ESME_RSYSERR 0x08, ESME_RMSGQFUL 0x14, ESME_RTHROTTLED 0x58 and ESME_RX_T_APPN 0x64.
  Everything else is permanent. SMSCs differ, hence a setting.
- ``throttle_errors`` (0x58, 0x14) are back-pressure: the bind pauses for ``throttle_pause``
  seconds and the part is requeued at the head of the queue; they are never reported as a
  failure, whether or not they are also listed in ``temporary_errors``.
- ``store_failure_status`` defaults to ESME_RX_T_APPN 0x64 ("ESME receiver temporary
  application error"), what Kannel answers when it cannot queue an MO: it is the code SMSCs
  retry. ESME_RSYSERR 0x08 is retried by fewer SMSCs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

BindMode = Literal["transceiver", "tx_rx"]
LongMessage = Literal["udh8", "udh16", "sar", "payload"]
Dcs0Alphabet = Literal["gsm0338", "latin1"]
DlrIdFormat = Literal["auto", "hex", "decimal"]

SETTING = "INTERACTIVE_SMPP_CONNECTIONS"
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64
DEFAULT_TEMPORARY_ERRORS = frozenset({ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN})
DEFAULT_THROTTLE_ERRORS = frozenset({ESME_RMSGQFUL, ESME_RTHROTTLED})
REQUIRED_KEYS = ("name", "host", "system_id")
#: SMPP relative time has two digits of days (SMPP 3.4 §7.1.1.2); SMSCs cap far lower.
MAX_VALIDITY = 99 * 24 * 3600


class ConnectionSettingError(ValueError):
    """A bad value for one key; ``parse_connections`` adds the connection's name."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class SmppConnection:
    """Settings of one SMSC connection (one bind, or a transmitter + receiver pair).

    Durations are seconds (floats allowed). Values are validated and normalised on creation
    (lists become tuples / frozensets); a bad one raises :class:`ConnectionSettingError`.
    """

    #: Unique name, used in logs, metrics and the admin page.
    name: str
    host: str
    port: int = 2775
    tls: bool = False
    #: Verify the SMSC's certificate and host name (only with ``tls``).
    tls_verify: bool = True
    #: PEM file of the CA(s) to trust instead of the system store (only with ``tls``).
    tls_ca_file: str | None = None
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    #: bind address_range (receivers): which MO destinations the SMSC routes to this bind.
    address_range: str = ""
    #: "transceiver": one bind; "tx_rx": a bind_transmitter plus a bind_receiver.
    bind_mode: BindMode = "transceiver"
    #: How many of those to keep open at once (Kannel's ``instances``), if the account
    #: allows it: each has its own window, and ``tps`` is shared out among them.
    binds: int = 1
    #: Short codes / address ranges served by this connection (used by routing, not by SMPP).
    short_codes: tuple[str, ...] = ()
    #: Most submit_sm awaiting their response at once (some SMSCs want 1).
    window: int = 10
    #: Contract throughput in submits per second (token bucket); 0 = unlimited.
    tps: float = 0.0
    enquire_link_interval: float = 30.0
    #: Longest wait for any response (bind, submit, enquire_link) before giving up on it.
    response_timeout: float = 30.0
    #: No PDU at all from the SMSC for this long means a dead link: close and reconnect.
    inactivity_timeout: float = 180.0
    #: How long a deliberate close waits for unbind_resp.
    unbind_timeout: float = 5.0
    #: First reconnect delay; doubles (with jitter) per failed attempt up to ``reconnect_max``.
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    #: Pause of the bind after a ``throttle_errors`` response.
    throttle_pause: float = 1.0
    #: Source TON/NPI; None = by the address (alphanumeric 5/0, international 1/1, else 0/1).
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int = 1
    dest_npi: int = 1
    #: registered_delivery of submits built by ``build_submit_parts`` (1 = receipt always).
    registered_delivery: int = 1
    #: What DCS 0 means on receive ("SMSC default alphabet"); MT is sent as GSM 03.38.
    dcs0_alphabet: Dcs0Alphabet = "gsm0338"
    #: The SMSC accepts the Turkish national single-shift table (3GPP TS 23.038).
    turkish_shift: bool = False
    #: Long texts as concat UDH (8- or 16-bit ref), SAR TLVs, or one message_payload submit.
    long_message: LongMessage = "udh8"
    temporary_errors: frozenset[int] = DEFAULT_TEMPORARY_ERRORS
    throttle_errors: frozenset[int] = DEFAULT_THROTTLE_ERRORS
    #: deliver_sm_resp / data_sm_resp status when an MO or DLR could not be stored.
    store_failure_status: int = ESME_RX_T_APPN
    #: Hint for matching receipts: ids in submit_sm_resp vs receipts ("auto" tries all forms).
    dlr_id_format: DlrIdFormat = "auto"
    #: Relative validity period in seconds (up to 99 days) for built submits; None = the
    #: SMSC's default.
    validity_period: int | None = None
    #: Resend an informational part whose outcome is unknown (connection lost before the
    #: submit_sm_resp): an OTP or booking confirmation twice beats never. Commercial parts
    #: are never resent blindly.
    resend_unknown_informational: bool = False
    #: Seconds to wait for the missing parts of a concatenated MO before storing what
    #: arrived, flagged partial.
    mo_reassembly_timeout: float = 60.0
    #: What one submitted part costs on this route (shown before a campaign is sent).
    price_per_part: Decimal = Decimal(0)
    #: ISO 4217 code of ``price_per_part``.
    currency: str = "TRY"
    #: The operator appends its routing code (" B001") to alphanumeric-sender bulk SMS on
    #: this route (Turkish operators do): campaigns budget those characters, never add them.
    operator_code: bool = False

    def __post_init__(self) -> None:
        for key, rule in _RULES.items():
            object.__setattr__(self, key, _apply(key, rule, getattr(self, key)))
        if self.reconnect_initial > self.reconnect_max:
            raise ConnectionSettingError("reconnect_initial", "must not exceed reconnect_max")

    @property
    def temporary_statuses(self) -> frozenset[int]:
        """Every status that means "not accepted, may succeed later" (throttles included)."""
        return self.temporary_errors | self.throttle_errors


def parse_connections(value: str) -> tuple[SmppConnection, ...]:
    """Parse the ``INTERACTIVE_SMPP_CONNECTIONS`` setting (a JSON list of objects).

    An empty or blank value means no connection. Raises ValueError with a one-line message
    naming the connection (or its position) and the key. Pure function.
    """
    if not value.strip():
        return ()
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{SETTING}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, list):
        raise ValueError(f"{SETTING}: must be a JSON list of connection objects")
    connections = tuple(_parse_one(index, item) for index, item in enumerate(data, start=1))
    seen: set[str] = set()
    for connection in connections:
        if connection.name in seen:
            raise ValueError(f"{SETTING}: connection {connection.name!r} key 'name': duplicate")
        seen.add(connection.name)
    return connections


def _parse_one(index: int, item: object) -> SmppConnection:
    if not isinstance(item, dict):
        raise ValueError(f"{SETTING}: connection #{index}: must be a JSON object")
    name = item.get("name")
    label = repr(name) if isinstance(name, str) and name.strip() else f"#{index}"
    unknown = sorted(set(item) - _FIELD_NAMES)
    if unknown:
        raise ValueError(f"{SETTING}: connection {label} key {unknown[0]!r}: unknown key")
    for key in REQUIRED_KEYS:
        if key not in item:
            raise ValueError(f"{SETTING}: connection {label} key {key!r}: missing")
    try:
        return SmppConnection(**item)
    except ConnectionSettingError as exc:
        raise ValueError(f"{SETTING}: connection {label} key {exc.key!r}: {exc.reason}") from None


# -- validation rules ---------------------------------------------------------------------------

Rule = Callable[[Any], Any]


def _apply(key: str, rule: Rule, value: Any) -> Any:
    try:
        return rule(value)
    except ValueError as exc:
        raise ConnectionSettingError(key, str(exc)) from None


def _text(max_length: int | None = None, *, required: bool = False) -> Rule:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if required and not value.strip():
            raise ValueError("must not be empty")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value

    return check


def _integer(low: int, high: int) -> Rule:
    def check(value: Any) -> int:
        if isinstance(value, str) and value.lower().startswith("0x"):
            try:
                value = int(value, 16)
            except ValueError:
                raise ValueError("must be an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _seconds(*, allow_zero: bool = False) -> Rule:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise ValueError("must be a positive number" + (" or 0" if allow_zero else ""))
        return float(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(*options: str) -> Rule:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError("must be one of " + ", ".join(repr(o) for o in options))
        return str(value)

    return check


def _optional(rule: Rule) -> Rule:
    def check(value: Any) -> Any:
        return None if value is None else rule(value)

    return check


def _price(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        price = Decimal(str(value))
    except ArithmeticError:
        raise ValueError("must be a number") from None
    if not price.is_finite() or price < 0:
        raise ValueError("must be a number of at least 0")
    return price


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError("must be a three-letter currency code such as TRY")
    return value


def _status_codes(value: Any) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError("must be a list of command_status codes")
    status = _integer(0, 0xFFFFFFFF)
    return frozenset(status(code) for code in value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError("must be a list of strings")
    items = tuple(value)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise ValueError("must be a list of non-empty strings")
    return items


# SMPP 3.4 §5.2 limits (C-octet strings, NUL excluded).
_RULES: Mapping[str, Rule] = {
    "name": _text(64, required=True),
    "host": _text(255, required=True),
    "port": _integer(1, 65535),
    "tls": _boolean,
    "tls_verify": _boolean,
    "tls_ca_file": _optional(_text(4096, required=True)),
    "system_id": _text(15),
    "password": _text(8),
    "system_type": _text(12),
    "address_range": _text(40),
    "bind_mode": _choice("transceiver", "tx_rx"),
    "binds": _integer(1, 16),
    "short_codes": _strings,
    "window": _integer(1, 1000),
    "tps": _seconds(allow_zero=True),
    "enquire_link_interval": _seconds(),
    "response_timeout": _seconds(),
    "inactivity_timeout": _seconds(),
    "unbind_timeout": _seconds(),
    "reconnect_initial": _seconds(),
    "reconnect_max": _seconds(),
    "throttle_pause": _seconds(allow_zero=True),
    "source_ton": _optional(_integer(0, 6)),
    "source_npi": _optional(_integer(0, 18)),
    "dest_ton": _integer(0, 6),
    "dest_npi": _integer(0, 18),
    "registered_delivery": _integer(0, 0x1F),
    "dcs0_alphabet": _choice("gsm0338", "latin1"),
    "turkish_shift": _boolean,
    "long_message": _choice("udh8", "udh16", "sar", "payload"),
    "temporary_errors": _status_codes,
    "throttle_errors": _status_codes,
    "store_failure_status": _integer(1, 0xFFFFFFFF),
    "dlr_id_format": _choice("auto", "hex", "decimal"),
    "validity_period": _optional(_integer(1, MAX_VALIDITY)),
    "resend_unknown_informational": _boolean,
    "mo_reassembly_timeout": _seconds(),
    "price_per_part": _price,
    "currency": _currency,
    "operator_code": _boolean,
}
_FIELD_NAMES = frozenset(f.name for f in fields(SmppConnection))
assert set(_RULES) == _FIELD_NAMES, "every SmppConnection field needs a validation rule"
