"""What the SMPP codec reads from smpplib once per command, and the PDUs it writes with
struct instead of smpplib's objects (responses, header-only PDUs, submit_sm/deliver_sm):
these are written for every submit and every receipt, and an smpplib object costs tens of
microseconds each. Every function here returns None for what it does not handle, and
``pdu.encode`` then uses smpplib; tests compare the bytes with smpplib's.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smpplib import command_codes, consts, smpp
from smpplib.ptypes import ostr

HEADER_LENGTH = 16
_HEADER = struct.Struct(">IIII")
_TLV_HEADER = struct.Struct(">HH")
COMMAND_IDS = {name: int(code) for name, code in command_codes.commands.items()}


@dataclass(frozen=True)
class Layout:
    """What decoding one command needs from smpplib's class, read once: its parameter
    table, the mandatory fields in order (name, type, size, length field) and the values
    smpplib's constructor presets."""

    params: Mapping[str, Any]
    order: tuple[str, ...]
    mandatory: tuple[tuple[str, type, int, str], ...]
    defaults: Mapping[str, Any]


@functools.cache
def layout(name: str) -> Layout | None:
    """None when smpplib knows the command id but has no class for it (e.g. outbind)."""
    try:
        template = smpp.make_pdu(name, sequence=1, allow_unknown_opt_params=True)
    except Exception:
        return None
    mandatory = []
    for field_name in template.params_order:
        if template.field_is_optional(field_name):
            break
        param = template.params[field_name]
        size = int(getattr(param, "size", 0) or 0)
        mandatory.append((field_name, param.type, size, str(getattr(param, "len_field", ""))))
    defaults = {
        key: value for key in template.params if (value := getattr(template, key, None)) is not None
    }
    return Layout(template.params, tuple(template.params_order), tuple(mandatory), defaults)


_HEADER_ONLY = frozenset(
    {"enquire_link", "enquire_link_resp", "unbind", "unbind_resp", "generic_nack"}
)
_MESSAGE_ID_RESPONSES = frozenset({"submit_sm_resp", "deliver_sm_resp", "data_sm_resp"})
_MESSAGE_ID_MAX = 65  # octets including the NUL (SMPP 3.4 §5.2.23)


def encode_simple(
    name: str,
    sequence: int,
    status: int,
    extra_tlvs: Iterable[tuple[int, bytes]],
    fields: Mapping[str, Any],
) -> bytes | None:
    """The bytes smpplib would produce for a header-only PDU or a response whose only
    field is message_id; None for anything else."""
    if extra_tlvs:
        return None
    if name in _HEADER_ONLY and not fields:
        body = b""
    elif name in _MESSAGE_ID_RESPONSES and fields.keys() <= {"message_id"}:
        message_id = fields.get("message_id") or ""
        if not isinstance(message_id, str):
            return None
        # smpplib cuts the id to its maximum and writes it as Latin-1 plus a NUL.
        body = message_id[: _MESSAGE_ID_MAX - 1].encode("latin-1") + b"\0"
    else:
        return None
    return _HEADER.pack(HEADER_LENGTH + len(body), COMMAND_IDS[name], status, sequence) + body


SHORT_MESSAGE_COMMANDS = frozenset({"submit_sm", "deliver_sm"})
_INT_FORMATS = {1: ">B", 2: ">H", 4: ">L"}


def encode_short_message(
    name: str, sequence: int, status: int, fields: Mapping[str, Any]
) -> bytes | None:
    """submit_sm/deliver_sm as smpplib writes them (every receipt the simulator sends is
    one), or None when a field is of a kind this does not handle (smpplib then does)."""
    found = layout(name)
    if found is None or not fields.keys() <= found.params.keys() or "sm_length" in fields:
        return None
    short_message = fields.get("short_message")
    if short_message and fields.get("message_payload"):
        return None  # smpplib refuses it
    chunks: list[bytes] = []
    for field_name, kind, size, _len_field in found.mandatory:
        value = fields.get(field_name)
        if field_name == "sm_length":
            value = len(short_message) if short_message else 0
        chunk = _mandatory_chunk(found.params[field_name], kind, size, value)
        if chunk is None:
            return None
        chunks.append(chunk)
    mandatory = {item[0] for item in found.mandatory}
    for field_name in found.order:
        value = fields.get(field_name)
        if field_name in mandatory or value is None:
            continue
        chunk = _tlv_chunk(found.params[field_name], field_name, value)
        if chunk is None:
            return None
        chunks.append(chunk)
    body = b"".join(chunks)
    return _HEADER.pack(HEADER_LENGTH + len(body), COMMAND_IDS[name], status, sequence) + body


def _mandatory_chunk(param: Any, kind: type, size: int, value: Any) -> bytes | None:
    if kind is int:
        if not value:
            return b"\0"  # smpplib writes one NUL for 0 or None
        if size != 1 or not isinstance(value, int) or not 0 < value <= 0xFF:
            return None
        return bytes((value,))
    if kind is str:
        limit = getattr(param, "max", None)
        if limit is None or (value is not None and not isinstance(value, str)):
            return None
        text = value or ""
        if len(text) >= limit:
            text = text[: limit - 1]
        try:
            return text.encode("latin-1") + b"\0"
        except UnicodeEncodeError:
            return None
    if kind is ostr:
        if value and not isinstance(value, bytes):
            return None
        return value or b""
    return None


def _tlv_chunk(param: Any, field_name: str, value: Any) -> bytes | None:
    tag = consts.OPTIONAL_PARAMS[field_name]
    if param.type is int:
        size = getattr(param, "size", 0)
        if not isinstance(value, int) or size not in _INT_FORMATS:
            return None
        if not 0 <= value < 1 << (8 * size):
            return None
        return _TLV_HEADER.pack(tag, size) + value.to_bytes(size, "big")
    if param.type is str:
        limit = getattr(param, "max", None)
        if limit is None or not isinstance(value, str) or not value.isascii():
            return None
        text = value[: limit - 1] if len(value) > limit else value
        if not text:
            return b""
        return _TLV_HEADER.pack(tag, len(text) + 1) + text.encode("ascii") + b"\0"
    if param.type is ostr:
        if not isinstance(value, bytes):
            return None
        return _TLV_HEADER.pack(tag, len(value)) + value if value else b""
    return None
