"""SMPP 3.4 framing and codec helpers on top of smpplib's PDU classes.

smpplib ships a client only, and its parser raises on a TLV that it knows by name but that the
command does not declare (a ``KeyError``), on truncated bodies (``struct.error``) and on unknown
command ids. A server must survive all of these, so this module frames bytes itself, keeps
smpplib's command classes and parameter tables for the field layout, and walks the body with
bounds checks: a bad PDU costs that PDU only.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smpplib import command_codes, consts, smpp
from smpplib.gsm import GSM_CHARACTER_TABLE, gsm_encode
from smpplib.ptypes import flag, ostr

from interactive.smpp import pdu_layout

HEADER_LENGTH = 16
#: Largest PDU we accept. A deliver_sm/submit_sm is at most a few hundred bytes; 64 KiB leaves
#: room for message_payload while refusing absurd lengths before allocating anything.
MAX_COMMAND_LENGTH = 64 * 1024
MAX_SEQUENCE = 0x7FFFFFFF
#: A command id that no SMPP version defines, for the "unknown command" fault.
UNKNOWN_COMMAND_ID = 0x00000FFF
#: A vendor-range TLV tag (0x1400–0x3FFF is reserved for SMSC vendors).
VENDOR_TLV_TAG = 0x1400

_HEADER = struct.Struct(">IIII")
_TLV_HEADER = struct.Struct(">HH")
_TAG_NAMES = {code: name for name, code in consts.OPTIONAL_PARAMS.items()}


class PduError(Exception):
    """A PDU that must be answered with ``generic_nack`` carrying ``status``."""

    def __init__(self, message: str, status: int, sequence: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.sequence = sequence


class CommandLengthError(PduError):
    """command_length below 16 or above the limit: the stream can no longer be trusted."""


class UnknownCommandIdError(PduError):
    """A well-framed PDU whose command id we do not know: nack it and carry on."""


class PduDecodeError(PduError):
    """A known command whose body is malformed: nack it and carry on."""


class ConnectionClosedError(Exception):
    """The peer closed the stream; ``partial`` is True when it stopped inside a PDU."""

    def __init__(self, partial: bool) -> None:
        super().__init__("connection closed mid-PDU" if partial else "connection closed")
        self.partial = partial


@dataclass(frozen=True)
class PduHeader:
    length: int
    command_id: int
    status: int
    sequence: int

    @property
    def command(self) -> str | None:
        return command_name(self.command_id)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)


class PduFields:
    """The fields of a decoded PDU as attributes, named as in smpplib's command classes
    (C-octet strings as bytes, integers as int); ``params`` is that command's parameter
    table. Fields the PDU did not carry are absent (``DecodedPdu.get`` gives the default)."""

    def __init__(self, command: str, params: Mapping[str, Any], values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.command = command
        self.params = params


@dataclass
class DecodedPdu:
    """A parsed PDU: its fields (:class:`PduFields`) plus every TLV as raw bytes (unknown
    included)."""

    header: PduHeader
    command: str
    pdu: Any
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def sequence(self) -> int:
        return self.header.sequence

    @property
    def status(self) -> int:
        return self.header.status

    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self.pdu, name, None)
        return default if value is None else value

    def text(self, name: str) -> str:
        """A C-octet string field as text (smpplib keeps parsed strings as bytes)."""
        value = self.get(name, b"")
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return str(value)


def command_name(command_id: int) -> str | None:
    return _COMMAND_NAMES.get(command_id)


def _first_names() -> dict[int, str]:
    names: dict[int, str] = {}
    for name, code in command_codes.commands.items():
        names.setdefault(code, name)
    return names


_COMMAND_NAMES = _first_names()


def command_id(name: str) -> int:
    return int(command_codes.get_command_code(name))


def parse_header(data: bytes) -> PduHeader:
    if len(data) < HEADER_LENGTH:
        raise CommandLengthError("PDU shorter than its header", consts.SMPP_ESME_RINVCMDLEN)
    return PduHeader(*_HEADER.unpack_from(data))


def pack_header(length: int, command_id: int, status: int, sequence: int) -> bytes:
    return _HEADER.pack(length, command_id, status, sequence)


def _recv_exact(sock: socket.socket, size: int, started: bool) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise ConnectionClosedError(partial=started or bool(chunks))
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_pdu_bytes(sock: socket.socket, max_length: int = MAX_COMMAND_LENGTH) -> bytes:
    """Read exactly one PDU from a blocking socket.

    The length prefix is checked before the body is read, so a hostile ``command_length``
    (e.g. 2**31) never causes an allocation. Raises :class:`CommandLengthError` (the caller
    answers ``generic_nack`` ESME_RINVCMDLEN and drops the connection: framing is lost) or
    :class:`ConnectionClosedError`.
    """
    prefix = _recv_exact(sock, 4, started=False)
    (length,) = struct.unpack(">I", prefix)
    if length < HEADER_LENGTH or length > max_length:
        raise CommandLengthError(f"invalid command_length {length}", consts.SMPP_ESME_RINVCMDLEN)
    return prefix + _recv_exact(sock, length - 4, started=True)


class PduReader:
    """``read_pdu_bytes`` with a receive buffer: one recv brings in as many PDUs as have
    arrived, instead of two system calls per PDU. Same checks, same exceptions."""

    def __init__(self, sock: socket.socket, max_length: int = MAX_COMMAND_LENGTH) -> None:
        self.sock = sock
        self.max_length = max_length
        self._buffer = bytearray()

    def read(self) -> bytes:
        self._fill(4)
        (length,) = struct.unpack_from(">I", self._buffer)
        if length < HEADER_LENGTH or length > self.max_length:
            raise CommandLengthError(
                f"invalid command_length {length}", consts.SMPP_ESME_RINVCMDLEN
            )
        self._fill(length)
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosedError(partial=bool(self._buffer))
            self._buffer += chunk


def split_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """Split an optional-parameter stream into (tag, value) pairs, refusing truncation."""
    tlvs: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise PduDecodeError("truncated TLV header", consts.SMPP_ESME_RINVOPTPARSTREAM)
        tag, length = _TLV_HEADER.unpack_from(data, pos)
        pos += 4
        if pos + length > len(data):
            raise PduDecodeError(f"TLV 0x{tag:04x} overruns PDU", consts.SMPP_ESME_RINVOPTPARSTREAM)
        tlvs.append((tag, data[pos : pos + length]))
        pos += length
    return tlvs


def encode_tlvs(tlvs: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(_TLV_HEADER.pack(tag, len(value)) + value for tag, value in tlvs)


def _parse_mandatory(layout: pdu_layout.Layout, values: dict[str, Any], body: bytes) -> int:
    """Read the mandatory fields from ``body`` into ``values``; return where the TLVs start."""
    pos = 0
    end_of_body = len(body)
    for name, kind, size, len_field in layout.mandatory:
        if pos >= end_of_body:
            break
        if kind is int:
            if pos + size > end_of_body:
                raise PduDecodeError(f"truncated field {name}", consts.SMPP_ESME_RINVMSGLEN)
            values[name] = int.from_bytes(body[pos : pos + size], "big")
            pos += size
        elif kind is str:
            end = body.find(b"\0", pos)
            if end < 0:
                raise PduDecodeError(f"unterminated field {name}", consts.SMPP_ESME_RINVMSGLEN)
            values[name] = body[pos:end]
            pos = end + 1
        elif kind is ostr:
            length = int(values.get(len_field) or 0)
            if pos + length > end_of_body:
                raise PduDecodeError(f"truncated field {name}", consts.SMPP_ESME_RINVMSGLEN)
            values[name] = body[pos : pos + length]
            pos += length
    return pos


def _apply_tlv(params: Mapping[str, Any], values: dict[str, Any], tag: int, value: bytes) -> None:
    """Set a TLV that this command declares; anything else stays only in the raw map."""
    name = _TAG_NAMES.get(tag)
    if name is None or name not in params:
        return
    param = params[name]
    if param.type is int:
        if len(value) == param.size:
            values[name] = int.from_bytes(value, "big")
    elif param.type is str:
        values[name] = value[:-1] if value.endswith(b"\0") else value
    elif param.type is ostr:
        values[name] = value
    elif param.type is flag:
        values[name] = True


def decode(data: bytes) -> DecodedPdu:
    """Parse one framed PDU (as returned by :func:`read_pdu_bytes`) into a :class:`DecodedPdu`."""
    header = parse_header(data)
    if header.length != len(data):
        raise CommandLengthError("command_length does not match data", consts.SMPP_ESME_RINVCMDLEN)
    name = command_name(header.command_id)
    if name is None:
        raise UnknownCommandIdError(
            f"unknown command id 0x{header.command_id:08x}",
            consts.SMPP_ESME_RINVCMDID,
            header.sequence,
        )
    # smpplib's classes give the layout (read once per command); the fields are read here
    # with bounds checks, without building a command object for every PDU.
    layout = pdu_layout.layout(name)
    if layout is None:  # smpplib knows the id but has no class (e.g. outbind)
        raise UnknownCommandIdError(
            f"unsupported command {name}", consts.SMPP_ESME_RINVCMDID, header.sequence
        )
    values = dict(layout.defaults)
    values["sequence"], values["status"] = header.sequence, header.status
    body = data[HEADER_LENGTH:]
    try:
        pos = _parse_mandatory(layout, values, body)
        tlvs = split_tlvs(body[pos:]) if pos < len(body) else []
    except PduError as exc:
        exc.sequence = header.sequence
        raise
    for tag, value in tlvs:
        _apply_tlv(layout.params, values, tag, value)
    fields = PduFields(name, layout.params, values)
    return DecodedPdu(header=header, command=name, pdu=fields, tlvs=dict(tlvs))


def encode(
    name: str,
    *,
    sequence: int,
    status: int = consts.SMPP_ESME_ROK,
    extra_tlvs: Iterable[tuple[int, bytes]] = (),
    **fields: Any,
) -> bytes:
    """Serialise a command with smpplib, optionally appending raw TLVs smpplib cannot build.

    C-octet string fields are ``str`` (smpplib encodes them as Latin-1); ``short_message`` and
    other octet strings are ``bytes``. Responses that carry at most a message_id, and
    header-only PDUs, are built with struct (they are answered for every submit and
    receipt); a test compares the bytes with smpplib's.
    """
    simple = pdu_layout.encode_simple(name, sequence, status, extra_tlvs, fields)
    if simple is None and name in pdu_layout.SHORT_MESSAGE_COMMANDS:
        simple = pdu_layout.encode_short_message(name, sequence, status, fields)
        if simple is not None:
            extra = encode_tlvs(extra_tlvs)
            simple = struct.pack(">I", len(simple) + len(extra)) + simple[4:] + extra
    if simple is not None:
        return simple
    obj = smpp.make_pdu(name, sequence=sequence, status=status, **fields)
    # smpplib's constructor ignores ``sequence`` when its dummy client has one; set it again.
    obj.sequence = sequence
    obj.status = status
    raw: bytes = obj.generate()
    extra = encode_tlvs(extra_tlvs)
    if not extra:
        return raw
    return struct.pack(">I", len(raw) + len(extra)) + raw[4:] + extra


def generic_nack(status: int, sequence: int) -> bytes:
    return pack_header(HEADER_LENGTH, command_id("generic_nack"), status, sequence)


def response_name(request: str) -> str | None:
    name = f"{request}_resp"
    return name if name in command_codes.commands else None


def split_udh(esm_class: int, short_message: bytes) -> tuple[bytes | None, bytes]:
    """Return (UDH including its length octet, payload) when the UDHI bit is set."""
    if not esm_class & consts.SMPP_GSMFEAT_UDHI or not short_message:
        return None, short_message
    end = 1 + short_message[0]
    if end > len(short_message):
        return None, short_message
    return short_message[:end], short_message[end:]


def concat_udh(reference: int, total: int, number: int, *, sixteen_bit: bool = False) -> bytes:
    """UDH with IEI 0x00 (8-bit reference) or 0x08 (16-bit reference)."""
    if sixteen_bit:
        return bytes((6, 0x08, 4, (reference >> 8) & 0xFF, reference & 0xFF, total, number))
    return bytes((5, 0x00, 3, reference & 0xFF, total, number))


def tlv_int(tlvs: Mapping[int, bytes], name: str) -> int | None:
    value = tlvs.get(consts.OPTIONAL_PARAMS[name])
    return None if value is None else int.from_bytes(value, "big")


def encode_text(message: str | bytes, data_coding: int | None) -> tuple[bytes, int]:
    """Encode MO text: GSM 03.38 unpacked when possible, else UCS-2 (bytes pass through)."""
    if isinstance(message, bytes):
        return message, consts.SMPP_ENCODING_DEFAULT if data_coding is None else data_coding
    if data_coding in (None, consts.SMPP_ENCODING_DEFAULT):
        try:
            return gsm_encode(message), consts.SMPP_ENCODING_DEFAULT
        except UnicodeError:
            if data_coding is not None:
                raise
    if data_coding in (None, consts.SMPP_ENCODING_ISO10646):
        return message.encode("utf-16-be"), consts.SMPP_ENCODING_ISO10646
    if data_coding == consts.SMPP_ENCODING_ISO88591:
        return message.encode("latin-1"), data_coding
    raise ValueError(f"pass bytes for data_coding {data_coding}")


def _safe_cut(data: bytes, start: int, size: int, data_coding: int) -> int:
    end = min(start + size, len(data))
    if end == len(data):
        return end
    if data_coding == consts.SMPP_ENCODING_ISO10646:
        end -= (end - start) % 2
        if end - start >= 4 and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2  # never split a surrogate pair
    elif data_coding == consts.SMPP_ENCODING_DEFAULT and data[end - 1] == 0x1B:
        end -= 1  # never split a GSM escape pair
    return end


def split_payload(payload: bytes, data_coding: int, size: int) -> list[bytes]:
    """Cut user data into parts of at most ``size`` octets without breaking a character."""
    if size < 2:
        raise ValueError("part_size too small")
    parts: list[bytes] = []
    pos = 0
    while pos < len(payload) or not parts:
        end = _safe_cut(payload, pos, size, data_coding)
        parts.append(payload[pos:end])
        pos = end
    if len(parts) > 255:
        raise ValueError("message needs more than 255 parts")
    return parts


_GSM_BASIC = GSM_CHARACTER_TABLE[:128]
_NOT_PRINTABLE = re.compile(r"[^ -~]")


def _printable(char: str) -> str:
    return char if " " <= char <= "~" else "?"


#: Unpacked GSM 03.38 octets → the printable ASCII character of the receipt sample.
_GSM_SAMPLE = bytes(
    ord(_printable(_GSM_BASIC[octet] if octet < 128 else "?")) for octet in range(256)
)


def text_sample(data_coding: int, payload: bytes, length: int = 20) -> str:
    """The first ``length`` characters of a message for the receipt's ``text:`` field."""
    if data_coding == consts.SMPP_ENCODING_DEFAULT:
        return payload[: length * 2].translate(_GSM_SAMPLE)[:length].decode("ascii")
    if data_coding == consts.SMPP_ENCODING_ISO10646:
        text = payload[: length * 2].decode("utf-16-be", errors="replace")
    else:
        text = payload.decode("latin-1")
    return _NOT_PRINTABLE.sub("?", text)[:length]


def _smpp_time(moment: datetime) -> str:
    return moment.strftime("%y%m%d%H%M")


def receipt_text(
    message_id: str, submitted: datetime, done: datetime, stat: str, err: int, sample: str
) -> str:
    """The de-facto standard receipt text (SMPP 3.4 appendix B)."""
    delivered = 1 if stat == "DELIVRD" else 0
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered:03d} submit date:{_smpp_time(submitted)} "
        f"done date:{_smpp_time(done)} stat:{stat} err:{err:03d} text:{sample}"
    )


def network_error_code(error_code: int) -> bytes:
    """network_error_code TLV value: type 3 (GSM) + 2-byte code."""
    return bytes((3,)) + (error_code & 0xFFFF).to_bytes(2, "big")
