"""MO concatenation: joining the parts of a long inbound message (Kannel's model).

Standards: 3GPP TS 23.040 §9.2.3.24.1 (IEI 0x00, 8-bit reference) and §9.2.3.24.8 (IEI
0x08, 16-bit reference); SMPP 3.4 §5.3.2.22-24 (sar_msg_ref_num, sar_total_segments,
sar_segment_seqnum) and §5.3.2.32 (message_payload).

Pure and deterministic: no clock (callers pass ``now``, seconds on any monotonic clock), no
I/O, no threads. ``Reassembler`` is not thread-safe; the gateway's receive loop owns it.

Decisions:
- Group key: bind, source, destination, reference width (8 or 16 bits), reference, total.
  SAR references are 16-bit, so they share the width with IEI 0x08. When a part carries
  both a valid concatenation IE and SAR TLVs the IE wins: it travels end to end.
- A header that cannot describe a concatenation (total 0 or 1, seq 0, seq > total, a
  truncated IE, incomplete SAR TLVs) makes the part a single message, delivered at once.
- Parts are joined as raw user data and decoded once, with the data_coding, default
  alphabet and national shift IEs of the first part (the lowest sequence number present),
  so an escape or surrogate pair a sender split across parts still decodes.
- A group times out ``timeout`` seconds after its last *new* part; ``expire`` then delivers
  what arrived, in order, with ``gap_marker`` where parts are missing and ``missing`` set.
- At most ``max_groups`` groups are open; opening one more delivers the oldest (by first
  part) as partial through the next ``expire`` call. Completed and timed-out keys are
  remembered for ``timeout`` seconds (at most ``max_groups`` of them) so that a part the
  SMSC retransmits after completion is dropped instead of opening a new partial message.
- Dropped duplicates are not lost: ``take_duplicates`` hands their caller ids back so the
  stored rows can be linked or marked.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from interactive.outbound.decoding import Dcs0, decode_mo, parse_udh
from interactive.smpp.pdu import split_udh
from interactive.smpp.receipts import TAG_MESSAGE_PAYLOAD, Tlvs, lookup_tlv

TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
GAP_MARKER = "[…]"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_GROUPS = 1000

#: bind, source, destination, reference width in bits, reference, total
GroupKey = tuple[str, str, str, int, int, int]


@dataclass(frozen=True)
class MoPart:
    """One received deliver_sm/data_sm that is not a receipt.

    ``sar`` is (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) when all three TLVs
    came. ``caller_id`` is opaque (a stored row id, a sequence number) and comes back in
    ``AssembledMessage.caller_ids``. ``dcs0`` is the connection's "SMSC default alphabet".
    """

    source_addr: str
    destination_addr: str
    esm_class: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    message_payload: bytes | None = None
    sar: tuple[int, int, int] | None = None
    bind: str = ""
    caller_id: object = None
    dcs0: Dcs0 = "gsm0338"

    @property
    def body(self) -> bytes:
        """The user data field: message_payload when present (SMPP 3.4 §5.3.2.32)."""
        return self.message_payload if self.message_payload else self.short_message


def mo_part_from_pdu_fields(
    *,
    source_addr: str | bytes,
    destination_addr: str | bytes,
    esm_class: int = 0,
    data_coding: int = 0,
    short_message: bytes = b"",
    message_payload: bytes | None = None,
    tlvs: Tlvs | None = None,
    bind: str = "",
    caller_id: object = None,
    dcs0: Dcs0 = "gsm0338",
) -> MoPart:
    """Build a ``MoPart`` from deliver_sm/data_sm fields as smpplib or ``pdu.decode`` give them.

    Addresses may be bytes (smpplib keeps C-octet strings as bytes). message_payload and the
    SAR TLVs are read from ``tlvs`` (keyed by tag or by name) unless passed. Pure.
    """
    if message_payload is None:
        payload = lookup_tlv(tlvs, TAG_MESSAGE_PAYLOAD, "message_payload")
        message_payload = bytes(payload) if isinstance(payload, bytes | bytearray) else None
    return MoPart(
        source_addr=_address(source_addr),
        destination_addr=_address(destination_addr),
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=bytes(short_message or b""),
        message_payload=message_payload,
        sar=_sar(tlvs),
        bind=bind,
        caller_id=caller_id,
        dcs0=dcs0,
    )


def _address(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _sar(tlvs: Tlvs | None) -> tuple[int, int, int] | None:
    names = (
        (TAG_SAR_MSG_REF_NUM, "sar_msg_ref_num"),
        (TAG_SAR_TOTAL_SEGMENTS, "sar_total_segments"),
        (TAG_SAR_SEGMENT_SEQNUM, "sar_segment_seqnum"),
    )
    values = [_int(lookup_tlv(tlvs, tag, name)) for tag, name in names]
    ref, total, seq = values
    if ref is None or total is None or seq is None:
        return None
    return ref, total, seq


def _int(value: object | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray) and value:
        return int.from_bytes(value, "big")
    return None


@dataclass(frozen=True)
class AssembledMessage:
    """A complete (or, after a timeout, partial) inbound message.

    ``raw`` is the joined user data of the parts received, without headers. ``received`` and
    ``missing`` are sequence numbers; ``caller_ids`` follow ``received``. ``total`` is 1 for a
    message that was not concatenated.
    """

    text: str
    raw: bytes
    data_coding: int
    alphabet: str
    replaced: bool
    source_addr: str
    destination_addr: str
    bind: str
    total: int
    received: tuple[int, ...]
    missing: tuple[int, ...]
    caller_ids: tuple[object, ...]

    @property
    def part_count(self) -> int:
        return len(self.received)

    @property
    def partial(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True)
class _Segment:
    udh: bytes
    user_data: bytes
    data_coding: int
    dcs0: Dcs0
    caller_id: object


@dataclass
class _Group:
    part: MoPart  # the first part received: addresses and bind
    total: int
    deadline: float
    segments: dict[int, _Segment] = field(default_factory=dict)


@dataclass(frozen=True)
class _Header:
    width: int
    ref: int
    total: int
    seq: int


class Reassembler:
    """Joins concatenated MO parts. Not thread-safe: the caller serialises all calls.

    Memory is bounded by ``max_groups`` open groups of at most 255 parts, the same number
    of remembered closed keys, and the messages waiting for ``expire``.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_groups: int = DEFAULT_MAX_GROUPS,
        gap_marker: str = GAP_MARKER,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self.timeout = timeout
        self.max_groups = max_groups
        self.gap_marker = gap_marker
        self._open: OrderedDict[GroupKey, _Group] = OrderedDict()
        self._closed: OrderedDict[GroupKey, tuple[frozenset[int], float]] = OrderedDict()
        self._ready: list[AssembledMessage] = []
        self._duplicates: deque[object] = deque(maxlen=max_groups)

    def __len__(self) -> int:
        """The number of open (incomplete) groups."""
        return len(self._open)

    def add(self, part: MoPart, now: float) -> AssembledMessage | None:
        """Take one part; return the message it completes, or None (held or duplicate).

        A part without a usable concatenation header is returned at once as a message of
        its own. Duplicates are dropped and their caller ids kept for ``take_duplicates``.
        """
        udh, user_data = split_udh(part.esm_class, part.body)
        udh = udh or b""
        header = _header(part, udh)
        seq = header.seq if header else 1
        segment = _Segment(udh, user_data, part.data_coding, part.dcs0, part.caller_id)
        if header is None:
            return self._assemble(part, 1, {1: segment})
        self._forget_closed(now)
        group_key: GroupKey = (
            part.bind,
            part.source_addr,
            part.destination_addr,
            header.width,
            header.ref,
            header.total,
        )
        group = self._open.get(group_key)
        if self._is_duplicate(group_key, group, seq):
            self._duplicates.append(part.caller_id)
            return None
        if group is None:
            group = self._open[group_key] = _Group(part, header.total, now + self.timeout)
            self._evict_over_limit(now)
        group.segments[seq] = segment
        group.deadline = now + self.timeout
        if len(group.segments) < group.total:
            return None
        del self._open[group_key]
        return self._close(group_key, group, now)

    def expire(self, now: float) -> list[AssembledMessage]:
        """Deliver groups whose timeout passed, flagged partial, plus any evicted groups.

        Ordered by when they were due. Call it regularly (e.g. on the gateway's timer tick).
        """
        due = sorted(
            (group.deadline, key) for key, group in self._open.items() if group.deadline <= now
        )
        ready, self._ready = self._ready, []
        for _, key in due:
            ready.append(self._close(key, self._open.pop(key), now))
        self._forget_closed(now)
        return ready

    def flush(self, now: float) -> list[AssembledMessage]:
        """Deliver every open group now (e.g. when the bind shuts down), oldest first."""
        ready, self._ready = self._ready, []
        while self._open:
            key, group = self._open.popitem(last=False)
            ready.append(self._close(key, group, now))
        return ready

    def take_duplicates(self) -> list[object]:
        """Caller ids of parts dropped as duplicates since the last call (oldest first)."""
        taken = list(self._duplicates)
        self._duplicates.clear()
        return taken

    # -- internals ----------------------------------------------------------------------

    def _is_duplicate(self, key: GroupKey, group: _Group | None, seq: int) -> bool:
        if group is not None and seq in group.segments:
            return True
        closed = self._closed.get(key)
        return closed is not None and seq in closed[0]

    def _close(self, key: GroupKey, group: _Group, now: float) -> AssembledMessage:
        seen, _ = self._closed.pop(key, (frozenset(), 0.0))
        self._closed[key] = (seen | frozenset(group.segments), now + self.timeout)
        while len(self._closed) > self.max_groups:
            self._closed.popitem(last=False)
        return self._assemble(group.part, group.total, group.segments)

    def _forget_closed(self, now: float) -> None:
        # Entries are appended in closing order, so the oldest deadline is first.
        while self._closed:
            key, (_, until) = next(iter(self._closed.items()))
            if until > now:
                return
            del self._closed[key]

    def _evict_over_limit(self, now: float) -> None:
        while len(self._open) > self.max_groups:
            key, group = self._open.popitem(last=False)
            self._ready.append(self._close(key, group, now))

    def _assemble(
        self, part: MoPart, total: int, segments: Mapping[int, _Segment]
    ) -> AssembledMessage:
        received = tuple(sorted(segments))
        first = segments[received[0]]
        pieces: list[str] = []
        replaced = False
        alphabet = ""
        expected = 1
        for run in _runs(received):
            if run[0] != expected:
                pieces.append(self.gap_marker)
            data = b"".join(segments[seq].user_data for seq in run)
            decoded = decode_mo(data, first.data_coding, dcs0=first.dcs0, udh=first.udh)
            pieces.append(decoded.text)
            replaced = replaced or decoded.replaced
            alphabet = decoded.alphabet
            expected = run[-1] + 1
        if expected <= total:
            pieces.append(self.gap_marker)
        return AssembledMessage(
            text="".join(pieces),
            raw=b"".join(segments[seq].user_data for seq in received),
            data_coding=first.data_coding,
            alphabet=alphabet,
            replaced=replaced,
            source_addr=part.source_addr,
            destination_addr=part.destination_addr,
            bind=part.bind,
            total=total,
            received=received,
            missing=tuple(seq for seq in range(1, total + 1) if seq not in segments),
            caller_ids=tuple(segments[seq].caller_id for seq in received),
        )


def _header(part: MoPart, udh: bytes) -> _Header | None:
    """The concatenation header of a part (UDH IE first, then SAR), None if unusable."""
    concat = parse_udh(udh).concat if udh else None
    if concat is not None and concat.total > 1:
        return _Header(16 if concat.ref_16bit else 8, concat.ref, concat.total, concat.seq)
    if part.sar is not None:
        ref, total, seq = part.sar
        if 0 <= ref <= 0xFFFF and 1 < total <= 0xFF and 1 <= seq <= total:
            return _Header(16, ref, total, seq)
    return None


def _runs(seqs: Iterable[int]) -> list[list[int]]:
    """Consecutive runs of sorted sequence numbers: [1, 2, 4] -> [[1, 2], [4]]."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and runs[-1][-1] == seq - 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return runs
