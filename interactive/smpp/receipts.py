"""Delivery receipts: recognising them, parsing them, matching their ids, ordering states.

Standards: SMPP 3.4 §5.2.12 (esm_class message type), §5.2.28 (message_state values),
§5.3.2.12 (receipted_message_id), §5.3.2.31 (network_error_code), §5.3.2.35 (message_state
TLV), Appendix B (the de-facto receipt text); SMPP 5.0 §4.7.15 adds SKIPPED (9).

Pure functions, no I/O. Decisions:

- ``is_receipt`` looks at the whole message-type field (bits 2-5 of esm_class), so 0x04 and
  0x44 (UDHI set) are receipts while an intermediate delivery notification (0x20) is not:
  it reports progress, never an outcome. ``is_intermediate_notification`` recognises it; the
  gateway may still parse one with ``parse_receipt`` and feed its (non-final) state through
  ``advance``.
- TLVs win over the text: ``receipted_message_id`` over ``id:``, ``message_state`` over
  ``stat:``, ``network_error_code`` over ``err:``. A receipt that disagrees with itself is
  read from its TLVs without complaint.
- ``parse_receipt`` never raises on what the SMSC sent. Anything it could not read is named in
  ``Receipt.problem``; a receipt without a readable state gets ``State.UNKNOWN``.
- UNKNOWN is *not* final (SMPP 5.0: "may be intermediate or permanent"), and ACCEPTED is not
  final either: SMSCs send ACCEPTD as "accepted by the network", the way Kannel reads it.
  So neither can freeze a message, and a later definite outcome still lands.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, cast

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

ESM_MESSAGE_TYPE_MASK = 0x3C  # SMPP 3.4 §5.2.12: bits 5-2
ESM_DELIVERY_RECEIPT = 0x04
ESM_INTERMEDIATE_NOTIFICATION = 0x20

#: TLVs as decoded by ``pdu.decode`` (tag -> raw bytes) or by name as smpplib keeps them.
Tlvs = Mapping[int, bytes] | Mapping[str, Any]
IdHint = Literal["auto", "hex", "decimal", "opaque"]
ID_HINTS: frozenset[str] = frozenset({"auto", "hex", "decimal", "opaque"})


class State(StrEnum):
    """Message state of a receipt, named after SMPP 3.4 §5.2.28 (stored by value)."""

    ENROUTE = "ENROUTE"
    DELIVERED = "DELIVERED"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIVERABLE = "UNDELIVERABLE"
    ACCEPTED = "ACCEPTED"
    UNKNOWN = "UNKNOWN"
    REJECTED = "REJECTED"
    SKIPPED = "SKIPPED"

    @property
    def final(self) -> bool:
        """True for an outcome that no later receipt may change."""
        return RANK[self] == FINAL_RANK

    @property
    def rank(self) -> int:
        return RANK[self]


#: The rank table behind ``advance``: a state only ever moves to a strictly higher rank.
#: Intermediate (1) < UNKNOWN (2) < final (3). States of equal rank never replace each other,
#: so the first of two conflicting finals stays (the event log keeps both).
FINAL_RANK = 3
RANK: Mapping[State, int] = MappingProxyType(
    {
        State.ENROUTE: 1,
        State.ACCEPTED: 1,
        State.UNKNOWN: 2,
        State.DELIVERED: FINAL_RANK,
        State.EXPIRED: FINAL_RANK,
        State.DELETED: FINAL_RANK,
        State.UNDELIVERABLE: FINAL_RANK,
        State.REJECTED: FINAL_RANK,
        State.SKIPPED: FINAL_RANK,
    }
)

#: message_state values (SMPP 3.4 §5.2.28; 0 SCHEDULED and 9 SKIPPED are SMPP 5.0).
MESSAGE_STATES: Mapping[int, State] = MappingProxyType(
    {
        0: State.ENROUTE,
        1: State.ENROUTE,
        2: State.DELIVERED,
        3: State.EXPIRED,
        4: State.DELETED,
        5: State.UNDELIVERABLE,
        6: State.ACCEPTED,
        7: State.UNKNOWN,
        8: State.REJECTED,
        9: State.SKIPPED,
    }
)

#: ``stat:`` values: Appendix B's seven-letter codes, the spelled-out names some SMSCs use,
#: and BUFFRED (Kannel reads it as "still buffered", i.e. en route).
STATS: Mapping[str, State] = MappingProxyType(
    {
        "ENROUTE": State.ENROUTE,
        "BUFFRED": State.ENROUTE,
        "BUFFERED": State.ENROUTE,
        "DELIVRD": State.DELIVERED,
        "DELIVERED": State.DELIVERED,
        "EXPIRED": State.EXPIRED,
        "DELETED": State.DELETED,
        "UNDELIV": State.UNDELIVERABLE,
        "UNDELIVERABLE": State.UNDELIVERABLE,
        "ACCEPTD": State.ACCEPTED,
        "ACCEPTED": State.ACCEPTED,
        "UNKNOWN": State.UNKNOWN,
        "REJECTD": State.REJECTED,
        "REJECTED": State.REJECTED,
        "SKIPPED": State.SKIPPED,
    }
)


def advance(current: State | None, new: State) -> State:
    """The state after ``new`` arrives: ``new`` only if it ranks strictly higher (see RANK).

    A late ENROUTE/ACCEPTED never undoes a final state, a duplicate is a no-op, and of two
    conflicting final states the first one kept stays. Pure; accepts any arrival order.
    """
    if current is None or RANK[new] > RANK[current]:
        return new
    return current


def is_receipt(esm_class: int) -> bool:
    """True when the message type is "SMSC delivery receipt" (0x04, also with UDHI: 0x44)."""
    return esm_class & ESM_MESSAGE_TYPE_MASK == ESM_DELIVERY_RECEIPT


def is_intermediate_notification(esm_class: int) -> bool:
    """True for an intermediate delivery notification (0x20): progress, never an outcome."""
    return esm_class & ESM_MESSAGE_TYPE_MASK == ESM_INTERMEDIATE_NOTIFICATION


# --- Id normalisation --------------------------------------------------------------------

_HEX_DIGITS = re.compile(r"[0-9a-f]+")
_DEC_DIGITS = re.compile(r"[0-9]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_DIGITS = 100  # SMPP ids are at most 64 octets; also keeps int() far from its limit


def id_key(message_id: str, hint: IdHint = "auto") -> str | None:
    """The one key to index a submit_sm_resp id by: its own spelling (lowercased, no
    leading zeros) when that is among its forms, else its decimal form. By the guarantee
    of ``id_forms`` the key is among the forms of any receipt id that denotes the same id,
    so looking up all forms of a receipt id finds it. None for an empty id."""
    forms = id_forms(message_id, hint)
    if not forms:
        return None
    own = message_id.strip().strip("\x00").strip().lower().lstrip("0") or "0"
    if own in forms:
        return own
    # A UUID: every spelling of it shares the decimal form of its value.
    return min(forms, key=lambda form: (not form.isdigit(), form))


def id_forms(message_id: str, hint: IdHint = "auto") -> frozenset[str]:
    """Every key to index or look up a message id by; same id (any spelling) => shared key.

    The id is stripped of spaces and NULs and lowercased. Then, by ``hint``:

    - ``"auto"``: each plausible value ``v`` of the id (its hexadecimal reading when it is
      all hex digits, its decimal reading when it is all decimal digits) contributes two
      spellings, ``str(v)`` and ``format(v, "x")``, neither with leading zeros. "00A1B2" gives
      {"a1b2", "41394"}; "12345" gives {"12345", "74565", "3039"}. A UUID gives itself plus
      the spellings of its 128-bit value; anything else gives itself.
    - ``"hex"`` / ``"decimal"``: the id is known to be written that way; one key, ``str(v)``.
      An id that does not parse that way falls back to itself.
    - ``"opaque"``: the id itself, lowercased (no zero stripping, no numbers).

    Guarantee (tested): if two ids denote the same number written in hex or decimal, with any
    zero padding and case, their forms intersect whenever both use "auto", or one uses
    "auto" and the other its true format, or both use their true formats. In "auto" each
    id's own spelling (lowercased, no leading zeros) is also among the other's forms, so
    indexing all forms of the submit_sm_resp id and looking up one key works too.

    False matches: in "auto", two *different* ids can share a key, because an all-digit id
    has two readings (submit id "3039" meaning 0x3039 = 12345 and receipt id "3039" meaning
    3039 share "3039"), and because a hex spelling can equal a decimal one (hex "bdf" = 3039
    and decimal "12345" = 0x3039 share "3039"). With sequential numeric ids that pairs up
    messages sent hours apart. Setting the connection's submit_sm_resp and receipt id
    formats (Kannel's msg-id-type) and passing them as hints leaves one decimal key per id,
    so two hinted ids match only if they are the same number.
    Raises ValueError only for an unknown ``hint`` (a configuration error).
    """
    if hint not in ID_HINTS:
        raise ValueError(f"unknown id hint {hint!r}")
    text = message_id.strip().strip("\x00").strip().lower()
    if not text:
        return frozenset()
    if hint == "opaque":
        return frozenset({text})
    if hint == "auto" and _UUID.fullmatch(text):
        return frozenset({text, *_spellings(int(text.replace("-", ""), 16))})
    values = _numeric_values(text, hint)
    if not values:
        return frozenset({text})
    if hint == "auto":
        return frozenset(form for value in values for form in _spellings(value))
    return frozenset(str(value) for value in values)


def _numeric_values(text: str, hint: IdHint) -> set[int]:
    if len(text.lstrip("0")) > _MAX_DIGITS:
        return set()
    values: set[int] = set()
    if hint in ("auto", "hex") and _HEX_DIGITS.fullmatch(text):
        values.add(int(text, 16))
    if hint in ("auto", "decimal") and _DEC_DIGITS.fullmatch(text):
        values.add(int(text, 10))
    return values


def _spellings(value: int) -> tuple[str, str]:
    return str(value), format(value, "x")


# --- Parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """A parsed delivery receipt. Dates are aware datetimes in UTC.

    ``message_id`` is as given (TLV first, else ``id:``), ``id_forms`` its keys for matching.
    ``error_code`` comes from network_error_code (then ``network_type`` is set, e.g. 3 = GSM)
    or else from ``err:`` (``error_text`` keeps that field as sent). ``problem`` names what
    could not be read; None means the receipt parsed cleanly.
    """

    message_id: str
    id_forms: frozenset[str]
    state: State
    error_code: int | None = None
    network_type: int | None = None
    error_text: str | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    text: str | None = None
    problem: str | None = None

    @property
    def final(self) -> bool:
        return self.state.final


def parse_receipt(
    short_message: bytes,
    tlvs: Tlvs | None = None,
    *,
    tz: tzinfo = UTC,
    id_hint: IdHint = "auto",
    details: bool = True,
) -> Receipt:
    """Read a deliver_sm/data_sm receipt; never raises on its content.

    ``tz`` is the SMSC's time zone for the text dates; ``id_hint`` goes to ``id_forms``. When
    ``short_message`` is empty the text is taken from a message_payload TLV. Without
    ``details`` only the id, state and error are read (the counts, dates and text sample
    stay None, and are not checked): what the gateway stores besides the raw text, which
    it reads thousands of times a second. Pure function.
    """
    problems: list[str] = []
    body = short_message or _as_bytes(lookup_tlv(tlvs, TAG_MESSAGE_PAYLOAD, "message_payload"))
    fields = _text_fields(body.decode("latin-1"))
    message_id = _tlv_text(lookup_tlv(tlvs, TAG_RECEIPTED_MESSAGE_ID, "receipted_message_id"))
    if not message_id:
        message_id = fields.get("id", "")
    if not message_id:
        problems.append("no message id")
    state = _state(tlvs, fields, problems)
    error_code, network_type = _error(tlvs, fields.get("err"), problems)
    read: dict[str, Any] = {}
    if details:
        read = {
            "submitted": _count(fields, "sub", problems),
            "delivered": _count(fields, "dlvrd", problems),
            "submit_date": _date(fields, "submit date", tz, problems),
            "done_date": _date(fields, "done date", tz, problems),
            "text": fields.get("text"),
        }
    return Receipt(
        message_id=message_id,
        id_forms=id_forms(message_id, id_hint),
        state=state,
        error_code=error_code,
        network_type=network_type,
        error_text=fields.get("err"),
        **read,
        problem="; ".join(problems) or None,
    )


def lookup_tlv(tlvs: Tlvs | None, tag: int, name: str) -> object | None:
    """A TLV's value from a map keyed by tag (``pdu.decode``) or by smpplib name."""
    if not tlvs:
        return None
    table = cast(Mapping[object, object], tlvs)
    value = table.get(tag)
    return table.get(name) if value is None else value


def _as_bytes(value: object | None) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    return b""


def _tlv_text(value: object | None) -> str:
    """A C-octet string TLV (trailing NUL optional) as text."""
    if isinstance(value, int):
        return str(value)
    return _as_bytes(value).decode("latin-1").strip("\x00").strip()


def _tlv_int(value: object | None) -> int | None:
    if isinstance(value, int):
        return value
    raw = _as_bytes(value)
    return int.from_bytes(raw, "big") if raw else None


def _state(tlvs: Tlvs | None, fields: Mapping[str, str], problems: list[str]) -> State:
    code = _tlv_int(lookup_tlv(tlvs, TAG_MESSAGE_STATE, "message_state"))
    if code is not None:
        if code in MESSAGE_STATES:
            return MESSAGE_STATES[code]
        problems.append(f"unknown message_state {code}")
    stat = fields.get("stat")
    if stat is None:
        problems.append("no state")
        return State.UNKNOWN
    state = STATS.get(stat.upper())
    if state is None:
        problems.append(f"unknown stat {stat[:16]!r}")
        return State.UNKNOWN
    return state


def _error(
    tlvs: Tlvs | None, err: str | None, problems: list[str]
) -> tuple[int | None, int | None]:
    """(error code, network type) from network_error_code, else from ``err:``."""
    raw = _as_bytes(lookup_tlv(tlvs, TAG_NETWORK_ERROR_CODE, "network_error_code"))
    if len(raw) == 3:  # §5.3.2.31: network type octet + 2-octet error code
        return int.from_bytes(raw[1:], "big"), raw[0]
    if raw:
        problems.append(f"network_error_code of {len(raw)} octets")
    if not err:
        return None, None
    # Appendix B leaves err: SMSC-specific: usually 3 decimal digits, hex from some SMSCs.
    if _DEC_DIGITS.fullmatch(err):
        return int(err), None
    if _HEX_DIGITS.fullmatch(err.lower()) and len(err) <= 8:
        return int(err, 16), None
    problems.append(f"unreadable err {err[:16]!r}")
    return None, None


def _count(fields: Mapping[str, str], key: str, problems: list[str]) -> int | None:
    value = fields.get(key)
    if value is None:
        return None
    if _DEC_DIGITS.fullmatch(value) and len(value) <= 9:
        return int(value)
    problems.append(f"unreadable {key} {value[:16]!r}")
    return None


def _date(fields: Mapping[str, str], key: str, tz: tzinfo, problems: list[str]) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss (Appendix B) in ``tz``, returned in UTC."""
    value = fields.get(key)
    if value is None:
        return None
    if _DEC_DIGITS.fullmatch(value) and len(value) in (10, 12):
        parts = [int(value[i : i + 2]) for i in range(0, len(value), 2)]
        year, month, day, hour, minute = parts[:5]
        second = parts[5] if len(parts) == 6 else 0
        try:
            local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            pass
        else:
            return local.astimezone(UTC)
    problems.append(f"unreadable {key} {value[:16]!r}")
    return None


# Keys start the text or follow a separator; "submit_date" and "submitdate" exist too.
_KEY = re.compile(
    r"(?:^|(?<=[\s,;]))(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)


# The fields in Appendix B's order, one space apart: read with one match, and the same
# fields as the general reading below gives (a property test checks it).
_CANONICAL_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")
_VALUE = r"([^\s,;]+)"  # one token, and no separator a key could follow
_CANONICAL = re.compile(
    rf"id:{_VALUE} sub:{_VALUE} dlvrd:{_VALUE} submit date:{_VALUE} done date:{_VALUE} "
    rf"stat:{_VALUE} err:{_VALUE} [Tt]ext:(.*)",
    re.DOTALL,
)


@functools.lru_cache(maxsize=256)
def _key_name(raw: str) -> str:
    # Cached: a handful of spellings, read several times in every receipt.
    return re.sub(r"[ _]?date$", " date", raw.lower())


def _text_fields(text: str) -> dict[str, str]:
    """The ``key:value`` fields of an Appendix B receipt text, in any order and case.

    The first occurrence of a key wins. Every value but ``text:`` is one token. ``text:`` runs
    to the next key not seen yet, so a sample that itself contains "stat:..." or "id:..."
    after the real fields stays part of the sample.
    """
    canonical = _CANONICAL.fullmatch(text)
    if canonical is None:
        return _general_text_fields(text)
    # The layout of Appendix B's example, as most SMSCs send it.
    values = canonical.groups()
    fields = dict(zip(_CANONICAL_KEYS, values[:-1], strict=True))
    fields["text"] = values[-1].rstrip("\x00")
    return fields


def _general_text_fields(text: str) -> dict[str, str]:
    matches = list(_KEY.finditer(text))
    fields: dict[str, str] = {}
    index = 0
    while index < len(matches):
        match = matches[index]
        key = _key_name(match.group(1))
        index += 1
        if key in fields:
            continue
        if key == "text":
            end, index = _text_end(text, matches, index, fields)
            sample = text[match.end() : end]
            fields[key] = (sample if end == len(text) else sample.rstrip()).rstrip("\x00")
            continue
        end = matches[index].start() if index < len(matches) else len(text)
        tokens = text[match.end() : end].split()
        fields[key] = tokens[0] if tokens else ""
    return fields


def _text_end(
    text: str, matches: list[re.Match[str]], index: int, seen: Mapping[str, str]
) -> tuple[int, int]:
    """Where a ``text:`` value ends and the index of the match that follows it."""
    for position in range(index, len(matches)):
        key = _key_name(matches[position].group(1))
        if key not in seen and key != "text":
            return matches[position].start(), position
    return len(text), len(matches)
