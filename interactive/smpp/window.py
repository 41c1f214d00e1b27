"""The table of outstanding requests of one SMPP connection, keyed by sequence number.

Sequence numbers run from 1 to 0x7FFFFFFF and wrap to 1; a number still in the table (or
recently retired, see below) is skipped, so a response can never be matched to the wrong
request. The window size limits submits only; bind, unbind and enquire_link always go.

*Retired* requests are submits already reported without a real response (timed out, or
given a sequence-less generic_nack): they are remembered (bounded) so that a response that
still arrives is recognised as late rather than unexpected.

Not thread-safe: the session uses it under its lock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from interactive.smpp.pdu import MAX_SEQUENCE

if TYPE_CHECKING:
    from interactive.smpp.session_state import QueuedPart

RequestKind = Literal["bind", "unbind", "enquire_link", "submit"]
RETIRED_LIMIT = 4096


@dataclass(eq=False)
class Request:
    """One request awaiting its response; the reader sets ``status`` and ``done`` for
    non-submits (bind, unbind, enquire_link), whose senders wait for them."""

    kind: RequestKind
    sequence: int
    sent_at: float
    deadline: float
    item: QueuedPart | None = None
    status: int | None = None
    done: bool = False


class Window:
    """Outstanding requests by sequence number, and the sequence number allocator."""

    def __init__(self, size: int, first_sequence: int = 1) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        if not 1 <= first_sequence <= MAX_SEQUENCE:
            raise ValueError("first_sequence must be within 1..0x7FFFFFFF")
        self.size = size
        self._next = first_sequence
        self._outstanding: dict[int, Request] = {}
        self._retired: OrderedDict[int, Request] = OrderedDict()
        self._submits = 0

    def __len__(self) -> int:
        return len(self._outstanding)

    @property
    def submits_in_flight(self) -> int:
        return self._submits

    @property
    def has_room(self) -> bool:
        return self._submits < self.size

    def next_sequence(self) -> int:
        """The next free sequence number (wraps at 0x7FFFFFFF, skips ones in use)."""
        for _ in range(len(self._outstanding) + len(self._retired) + 1):
            sequence = self._next
            self._next = 1 if sequence >= MAX_SEQUENCE else sequence + 1
            if sequence not in self._outstanding and sequence not in self._retired:
                return sequence
        raise RuntimeError("no free sequence number")  # unreachable: the space is 2**31

    def open(self, kind: RequestKind, now: float, timeout: float) -> Request:
        """Allocate a sequence number and register a request under it."""
        request = Request(kind, self.next_sequence(), now, now + timeout)
        self._outstanding[request.sequence] = request
        if kind == "submit":
            self._submits += 1
        return request

    def get(self, sequence: int) -> Request | None:
        return self._outstanding.get(sequence)

    def pop(self, sequence: int) -> Request | None:
        request = self._outstanding.pop(sequence, None)
        if request is not None and request.kind == "submit":
            self._submits -= 1
        return request

    def oldest_submit(self) -> Request | None:
        """The submit sent first among those outstanding (dicts keep insertion order)."""
        return next((r for r in self._outstanding.values() if r.kind == "submit"), None)

    def retire(self, request: Request) -> None:
        """Remember a reported submit so a response that still arrives is seen as late."""
        self._retired[request.sequence] = request
        while len(self._retired) > RETIRED_LIMIT:
            self._retired.popitem(last=False)

    def pop_retired(self, sequence: int) -> Request | None:
        return self._retired.pop(sequence, None)

    def expired(self, now: float) -> list[Request]:
        """Remove and return every request whose deadline has passed."""
        overdue = [r for r in self._outstanding.values() if r.deadline <= now]
        for request in overdue:
            self.pop(request.sequence)
        return overdue

    def next_deadline(self) -> float | None:
        return min((r.deadline for r in self._outstanding.values()), default=None)

    def drain(self) -> list[Request]:
        """Forget everything (the connection is gone); return what was outstanding."""
        requests = list(self._outstanding.values())
        self._outstanding.clear()
        self._retired.clear()
        self._submits = 0
        return requests
