"""The bookkeeping of one SMPP session, without sockets or threads.

:class:`Outbox` holds the submit queue, the window, the TPS bucket and the throttle pause,
and turns responses, generic_nacks, timeouts and lost connections into
:class:`~interactive.smpp.messages.SubmitResult` values. :class:`SessionStats` holds the
counters and state shown on the admin page.

Nothing here locks: the session calls every method with its lock held and delivers the
returned results to the caller's callback after releasing it.
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitPart, SubmitResult, SubmitStatus
from interactive.smpp.throttle import RateMeter, TokenBucket
from interactive.smpp.window import Request, Window


class SessionState(enum.StrEnum):
    CONNECTING = "connecting"  # first connection attempt, or a bind in progress
    BOUND = "bound"
    RECONNECTING = "reconnecting"  # waiting out the backoff after a failure or a lost link
    DOWN = "down"  # not started, or stopped


@dataclass(frozen=True)
class SessionSnapshot:
    """A consistent copy of a session's state for the admin page (safe to keep)."""

    name: str
    bind: str
    state: SessionState
    since: datetime
    window_in_use: int
    window_size: int
    queued: int
    tps_configured: float
    tps_measured: float
    throttled: bool
    counters: Mapping[str, int]
    responses_by_status: Mapping[int, int]
    last_error: str | None
    last_error_at: datetime | None
    backoff_delays: tuple[float, ...]


class SessionStats:
    """Counters of one session. Names: submits, accepted, rejected, temporary, unknown,
    not_sent, late_responses, throttled, generic_nacks_received, generic_nacks_sent,
    deliver_sm, data_sm, receipts, enquire_links_sent, enquire_links_received,
    unbinds_sent, unbind_responses, unbinds_received, binds, bind_failures,
    connect_failures, connections_lost. ``responses`` counts responses by command_status."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.responses: Counter[int] = Counter()
        self.state = SessionState.DOWN
        self.since = datetime.now(UTC)
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.backoff_delays: deque[float] = deque(maxlen=10)

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def set_state(self, state: SessionState) -> bool:
        if state is self.state:
            return False
        self.state = state
        self.since = datetime.now(UTC)
        return True

    def error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = datetime.now(UTC)


@dataclass(eq=False)
class QueuedPart:
    """A part waiting in (or sent from) the queue; ``raw`` is its PDU with sequence 0."""

    part: SubmitPart
    order: int
    raw: bytes
    attempts: int = 0

    def pdu(self, sequence: int) -> bytes:
        return self.raw[:12] + sequence.to_bytes(4, "big") + self.raw[16:]


@dataclass
class Outbox:
    """Submit queue, window, bucket and throttle pause of one session (see module doc)."""

    connection: SmppConnection
    window: Window
    stats: SessionStats = field(default_factory=SessionStats)
    queue: deque[QueuedPart] = field(default_factory=deque)
    paused_until: float = 0.0

    def __post_init__(self) -> None:
        self.bucket = TokenBucket(self.connection.tps)
        self.meter = RateMeter()
        self._order = itertools.count()

    # -- queue -----------------------------------------------------------------------------
    def prepare(self, parts: Iterable[SubmitPart]) -> list[QueuedPart]:
        """Encode every part (raising ValueError before anything is queued)."""
        return [QueuedPart(part, 0, part.encode(0)) for part in parts]

    def add(self, items: Iterable[QueuedPart]) -> None:
        for item in items:
            item.order = next(self._order)
            self.queue.append(item)

    def requeue(self, item: QueuedPart) -> None:
        """Put a throttled part back at the head, keeping the original order among those."""
        index = 0
        while index < len(self.queue) and self.queue[index].order < item.order:
            index += 1
        self.queue.insert(index, item)

    def take(self, now: float) -> tuple[Request | None, float | None]:
        """The next submit to write (registered in the window), or the seconds to wait
        before one may go (None = until something changes)."""
        if not self.queue or not self.window.has_room:
            return None, None
        if now < self.paused_until:
            return None, self.paused_until - now
        wait = self.bucket.take(now)
        if wait > 0:
            return None, wait
        item = self.queue.popleft()
        item.attempts += 1
        request = self.window.open("submit", now, self.connection.response_timeout)
        request.item = item
        self.meter.record(now)
        self.stats.count("submits")
        return request, None

    # -- outcomes ----------------------------------------------------------------------------
    def on_response(
        self, request: Request, status: int, message_id: str | None, now: float, *, late: bool
    ) -> SubmitResult | None:
        """A submit_sm_resp; None when the part was requeued (throttled)."""
        self.stats.responses[status] += 1
        if late:
            self.stats.count("late_responses")
        return self._settle(request, status, message_id, now, late=late, nack=False)

    def on_nack(
        self, request: Request, status: int, now: float, *, guessed: bool, late: bool = False
    ) -> SubmitResult | None:
        """A generic_nack in place of the submit_sm_resp. ``guessed``: it carried no usable
        sequence and was given to the oldest outstanding submit, which stays retired so that
        its real response, if any, is still reported (late)."""
        self.stats.responses[status] += 1
        if guessed:
            self.window.retire(request)
        return self._settle(request, status, None, now, late=late, nack=True)

    def withdraw(self, item: QueuedPart) -> None:
        """Take a part out of the queue (a late response settled it after a requeue)."""
        if item in self.queue:
            self.queue.remove(item)

    def expire(self, now: float) -> tuple[list[SubmitResult], list[Request]]:
        """Submits past the response timeout become UNKNOWN (and retired, awaiting a late
        response); other overdue requests are returned for the session to judge."""
        results: list[SubmitResult] = []
        others: list[Request] = []
        for request in self.window.expired(now):
            if request.kind != "submit":
                others.append(request)
                continue
            self.window.retire(request)
            detail = f"no response within {self.connection.response_timeout:g}s"
            results.append(self._result(request, SubmitStatus.UNKNOWN, detail=detail))
        return results, others

    def connection_lost(self, reason: str) -> list[SubmitResult]:
        """Every outstanding submit becomes UNKNOWN; other requests are marked done."""
        results = []
        for request in self.window.drain():
            request.done = True
            if request.kind == "submit":
                results.append(self._result(request, SubmitStatus.UNKNOWN, detail=reason))
        return results

    def flush_unsent(self, reason: str) -> list[SubmitResult]:
        """Everything still queued becomes NOT_SENT (the session is stopping)."""
        results = [self._make(item, SubmitStatus.NOT_SENT, detail=reason) for item in self.queue]
        self.queue.clear()
        return results

    def _settle(
        self,
        request: Request,
        status: int,
        message_id: str | None,
        now: float,
        *,
        late: bool,
        nack: bool,
    ) -> SubmitResult | None:
        assert request.item is not None
        if status == 0 and not nack:
            return self._result(request, SubmitStatus.ACCEPTED, status, message_id, late=late)
        if status in self.connection.throttle_errors and not late:
            self.stats.count("throttled")
            self.paused_until = max(self.paused_until, now + self.connection.throttle_pause)
            self.requeue(request.item)
            return None
        if status in self.connection.temporary_statuses or (nack and status == 0):
            return self._result(request, SubmitStatus.TEMPORARY, status, late=late)
        return self._result(request, SubmitStatus.REJECTED, status, late=late)

    def _result(
        self,
        request: Request,
        status: SubmitStatus,
        command_status: int | None = None,
        message_id: str | None = None,
        *,
        late: bool = False,
        detail: str = "",
    ) -> SubmitResult:
        assert request.item is not None
        return self._make(
            request.item,
            status,
            command_status=command_status,
            message_id=message_id,
            sequence=request.sequence,
            late=late,
            detail=detail,
        )

    def _make(
        self,
        item: QueuedPart,
        status: SubmitStatus,
        *,
        command_status: int | None = None,
        message_id: str | None = None,
        sequence: int | None = None,
        late: bool = False,
        detail: str = "",
    ) -> SubmitResult:
        self.stats.count(status.value)
        return SubmitResult(
            part=item.part,
            status=status,
            connection=self.connection.name,
            command_status=command_status,
            message_id=message_id,
            sequence=sequence,
            attempts=item.attempts,
            late=late,
            detail=detail,
        )

    # -- admin view --------------------------------------------------------------------------
    def snapshot(self, bind: str, now: float) -> SessionSnapshot:
        stats = self.stats
        return SessionSnapshot(
            name=self.connection.name,
            bind=bind,
            state=stats.state,
            since=stats.since,
            window_in_use=self.window.submits_in_flight,
            window_size=self.window.size,
            queued=len(self.queue),
            tps_configured=self.connection.tps,
            tps_measured=round(self.meter.rate(now), 2),
            throttled=now < self.paused_until,
            counters=dict(stats.counters),
            responses_by_status=dict(stats.responses),
            last_error=stats.last_error,
            last_error_at=stats.last_error_at,
            backoff_delays=tuple(stats.backoff_delays),
        )
