"""One SMPP bind, kept up like Kannel keeps it: window, TPS, keep-alive, watchdog, reconnect.

Threads (named ``smpp-<connection>/<bind>``): a *control* thread connects, binds, writes
submits within the window and the TPS budget, sends enquire_link, expires requests, watches
for a dead link, unbinds on stop and reconnects with backoff; per connection a *reader*
thread (``...-read``) parses PDUs, matches responses by sequence number, answers the SMSC's
requests and calls the deliver callback. Writes from any thread are serialised by the
transport. All shared state is guarded by one condition variable; callbacks are never
called while holding it.

Protocol rules:
- A PDU that fails to parse costs that PDU: requests are answered with ``generic_nack``
  (ESME_RINVCMDID for unknown command ids), a malformed response is settled from its header.
  A bad ``command_length`` (< 16 or > 64 KiB) loses framing: ``generic_nack``
  ESME_RINVCMDLEN, then the connection is dropped and re-established.
- ``generic_nack`` in place of a response: matched by its sequence number when it carries one
  of ours. With sequence 0 (or one we do not know) it goes to the **oldest outstanding
  submit**: an SMSC reads PDUs in order, and with ``window`` 1 the match is exact. That part
  stays retired, so its real submit_sm_resp, if one follows, is still reported (``late``).
- No PDU for ``inactivity_timeout`` seconds, or an enquire_link unanswered after
  ``response_timeout``, means a dead link: close and reconnect.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from smpplib import consts

from interactive.logs import mask_msisdn
from interactive.smpp import pdu
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import InboundMessage, Responder, SubmitPart, SubmitResult
from interactive.smpp.session_reader import Dispatcher
from interactive.smpp.session_state import Outbox, QueuedPart, SessionSnapshot, SessionState
from interactive.smpp.throttle import Backoff
from interactive.smpp.transport import Link, Transport
from interactive.smpp.window import Request, Window

logger = logging.getLogger(__name__)

BindKind = Literal["transceiver", "transmitter", "receiver"]
#: Called once per part with its outcome (see ``SmppSession``).
ResultHandler = Callable[[SubmitResult], None]
#: Returns the status to answer now, or None to answer later through the responder.
DeliverHandler = Callable[[InboundMessage, Responder], int | None]

READER_JOIN = 5.0
_MONOTONIC = time.monotonic


class SmppSession:
    """Owns one bind to one SMSC, from ``start()`` until ``stop()``.

    ``on_result(result)`` is called once per submitted part (plus once more for a late
    response, see :class:`~interactive.smpp.messages.SubmitResult`), from the session's
    threads, one call at a time per session. ``on_deliver(message, responder)`` is called on
    the reader thread for every deliver_sm/data_sm: return the command_status to answer now
    (0 after storing, ``connection.store_failure_status`` if storing failed), or None and
    call ``responder.respond()`` / :func:`~interactive.smpp.messages.acknowledge` later, from
    any thread (group commit). An exception in it answers ``store_failure_status``. Callbacks
    must be quick and must not call ``stop()``. ``first_sequence`` is for tests (wrap-around).
    """

    def __init__(
        self,
        connection: SmppConnection,
        on_result: ResultHandler,
        on_deliver: DeliverHandler | None = None,
        *,
        bind: BindKind = "transceiver",
        number: int = 1,
        first_sequence: int = 1,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.connection = connection
        self.bind = bind
        self.label = f"{connection.name}/{bind}" + (f"#{number}" if number > 1 else "")
        self._on_result = on_result
        self._on_deliver = on_deliver
        self._cond = threading.Condition()
        self._callback_lock = threading.Lock()
        self._outbox = Outbox(connection, Window(connection.window, first_sequence))
        self._stats = self._outbox.stats
        self._backoff = Backoff(connection.reconnect_initial, connection.reconnect_max, rng)
        self._dispatcher = Dispatcher(
            self.label,
            connection,
            self._outbox,
            self._changing,
            self._emit,
            self._deliver,
            self._send_nack,
            self._mark_dead,
            self._link_failed,
        )
        self._thread: threading.Thread | None = None
        self._started = self._stopping = False
        self._graceful = True

    # -- public API --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the control thread; it connects and binds in the background."""
        with self._cond:
            if self._started:
                raise RuntimeError(f"session {self.label} already started")
            self._started = True
        self._thread = threading.Thread(target=self._run, name=f"smpp-{self.label}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None, *, graceful: bool = True) -> None:
        """Stop taking parts from the queue; when ``graceful``, wait for outstanding responses
        (at most ``response_timeout``); unbind (waiting up to ``unbind_timeout`` for
        unbind_resp), close and join every thread. Queued parts are reported NOT_SENT,
        unanswered ones UNKNOWN. A TCP connect in progress is not interrupted (it gives up
        after ``response_timeout``). Idempotent; blocks the caller up to ``timeout``."""
        with self._changing():
            self._stopping = True
            self._graceful = self._graceful and graceful
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._finish()

    def submit(self, parts: Iterable[SubmitPart]) -> None:
        """Queue parts for sending, in order; never blocks (watch ``snapshot().queued``).

        Every part is encoded first: ValueError (nothing queued) if one cannot be. Raises
        RuntimeError once ``stop()`` was called. Thread-safe.
        """
        self.enqueue(self.prepare(parts))

    def prepare(self, parts: Iterable[SubmitPart]) -> list[QueuedPart]:
        """Encode parts for ``enqueue`` (ValueError if one cannot be). Thread-safe."""
        return self._outbox.prepare(parts)

    def enqueue(self, items: list[QueuedPart]) -> None:
        """Queue prepared parts (see ``submit``). Thread-safe."""
        with self._changing():
            if self._stopping:
                raise RuntimeError(f"session {self.label} is stopped")
            self._outbox.add(items)

    def snapshot(self) -> SessionSnapshot:
        """The session's state and counters for the admin page. Thread-safe."""
        with self._cond:
            return self._outbox.snapshot(self.bind, _MONOTONIC())

    def wait_until(self, predicate: Callable[[SessionSnapshot], bool], timeout: float) -> bool:
        """Block until ``predicate(snapshot)`` holds (re-checked on every change) or timeout."""
        deadline = _MONOTONIC() + timeout
        with self._cond:
            while not predicate(self._outbox.snapshot(self.bind, _MONOTONIC())):
                remaining = deadline - _MONOTONIC()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # -- control thread ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        with self._cond:
            try:
                yield
            finally:
                self._cond.notify_all()

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._connect_once()
            except Exception:  # a bug must not end the bind for good
                logger.exception("smpp %s: session error", self.label)
            if self._stopping:
                break
            delay = self._backoff.next_delay()
            with self._changing():
                self._stats.backoff_delays.append(round(delay, 4))
                self._stats.set_state(SessionState.RECONNECTING)
            logger.info("smpp %s: reconnecting in %.2fs", self.label, delay)
            with self._cond:
                self._cond.wait_for(lambda: self._stopping, delay)
        self._finish()

    def _finish(self) -> None:
        with self._changing():
            results = self._outbox.flush_unsent("session stopped")
            self._stats.set_state(SessionState.DOWN)
        self._emit(results)
        logger.info("smpp %s: stopped", self.label)

    def _connect_once(self) -> None:
        connection = self.connection
        with self._changing():
            self._stats.set_state(SessionState.CONNECTING)
        try:
            transport = Transport.connect(connection, connection.response_timeout)
        except OSError as exc:
            self._error(f"connect to {connection.host}:{connection.port} failed: {exc}")
            with self._changing():
                self._stats.count("connect_failures")
            return
        link = Link(transport, self.label, _MONOTONIC(), self._link_failed)
        reader = threading.Thread(
            target=self._dispatcher.read_loop,
            args=(link,),
            name=f"smpp-{self.label}-read",
            daemon=True,
        )
        reader.start()
        try:
            if self._bind(link):
                self._serve(link)
                self._unbind(link)
        finally:
            self._teardown(link, reader)

    def _bind(self, link: Link) -> bool:
        c = self.connection
        with self._changing():
            request = self._outbox.window.open("bind", _MONOTONIC(), c.response_timeout)
        raw = pdu.encode(
            f"bind_{self.bind}",
            sequence=request.sequence,
            system_id=c.system_id,
            password=c.password,
            system_type=c.system_type,
            interface_version=0x34,
            addr_ton=0,
            addr_npi=0,
            address_range=c.address_range,
        )
        if not link.send(raw):
            return False
        status = self._await(link, request, c.response_timeout, abort_on_stop=True)
        if status != consts.SMPP_ESME_ROK:
            with self._changing():
                self._stats.count("bind_failures")
            if status is not None:
                self._error(f"bind refused with 0x{status:02x}")
            elif not link.dead and not self._stopping:
                self._error(f"no bind response within {c.response_timeout:g}s")
            return False
        with self._changing():
            link.bound = True
            self._stats.count("binds")
            self._stats.set_state(SessionState.BOUND)
        self._backoff.reset()
        logger.info("smpp %s: bound to %s", self.label, link.transport.peer)
        return True

    def _await(
        self, link: Link, request: Request, timeout: float, *, abort_on_stop: bool
    ) -> int | None:
        """Wait for the response to a bind/unbind; its status, or None (timeout, link lost)."""
        with self._cond:
            self._cond.wait_for(
                lambda: request.done or link.dead or (abort_on_stop and self._stopping), timeout
            )
            if not request.done:
                self._outbox.window.pop(request.sequence)
            return request.status if request.done else None

    def _serve(self, link: Link) -> None:
        """The bound loop: expire, keep alive, write submits; returns when the link is dead
        or a stop was asked (and, if graceful, every submit was answered)."""
        while True:
            outgoing: list[bytes] = []
            with self._cond:
                now = _MONOTONIC()
                if link.dead or self._stop_now():
                    return
                results = self._check_timers(link, now)
                wait: float | None = None
                if not link.dead and not self._stopping:
                    # Every submit the window and the bucket allow now, in one write.
                    request, wait = self._outbox.take(now)
                    while request is not None:
                        if request.item is not None:
                            outgoing.append(request.item.pdu(request.sequence))
                        request, wait = self._outbox.take(now)
                if not link.dead and self._enquire_due(link, now):
                    outgoing.append(self._open_enquire_link(link, now))
                if not (results or outgoing or link.dead):
                    self._cond.wait(self._next_wake(link, now, wait))
                    continue
                self._cond.notify_all()
            self._emit(results)
            if outgoing:
                link.send(b"".join(outgoing))

    def _stop_now(self) -> bool:
        return self._stopping and not (self._graceful and self._outbox.window.submits_in_flight)

    def _check_timers(self, link: Link, now: float) -> list[SubmitResult]:
        c = self.connection
        results, others = self._outbox.expire(now)
        if any(r.kind == "enquire_link" for r in others):
            self._mark_dead(link, f"enquire_link unanswered for {c.response_timeout:g}s")
        elif now - link.last_rx >= c.inactivity_timeout:
            self._mark_dead(link, f"nothing received for {c.inactivity_timeout:g}s")
        return results

    def _enquire_due(self, link: Link, now: float) -> bool:
        return now - link.last_enquire >= self.connection.enquire_link_interval

    def _open_enquire_link(self, link: Link, now: float) -> bytes:
        link.last_enquire = now
        request = self._outbox.window.open("enquire_link", now, self.connection.response_timeout)
        self._stats.count("enquire_links_sent")
        return pdu.encode("enquire_link", sequence=request.sequence)

    def _next_wake(self, link: Link, now: float, take_wait: float | None) -> float:
        c = self.connection
        deadlines = [
            link.last_rx + c.inactivity_timeout,
            link.last_enquire + c.enquire_link_interval,
        ]
        deadline = self._outbox.window.next_deadline()
        if deadline is not None:
            deadlines.append(deadline)
        if take_wait is not None:
            deadlines.append(now + take_wait)
        return max(0.0, min(deadlines) - now)

    def _unbind(self, link: Link) -> None:
        """A deliberate close: unbind and wait briefly for unbind_resp."""
        if link.dead or not self._stopping:
            return
        with self._changing():
            timeout = self.connection.unbind_timeout
            request = self._outbox.window.open("unbind", _MONOTONIC(), timeout)
            self._stats.count("unbinds_sent")
        sent = link.send(pdu.encode("unbind", sequence=request.sequence))
        if sent and self._await(link, request, timeout, abort_on_stop=False) is not None:
            with self._changing():
                self._stats.count("unbind_responses")
        logger.info("smpp %s: unbound", self.label)

    def _teardown(self, link: Link, reader: threading.Thread) -> None:
        with self._cond:
            self._mark_dead(link, "closed by us", error=False)
        link.transport.shutdown()
        reader.join(READER_JOIN)
        if reader.is_alive():
            logger.warning("smpp %s: reader still busy in a callback after close", self.label)
        link.transport.close()
        with self._changing():
            lost = link.bound and not self._stopping
            if lost:
                self._stats.count("connections_lost")
            link.bound = False
            results = self._outbox.connection_lost(f"connection lost: {link.reason}")
        self._emit(results)

    # -- link failures ---------------------------------------------------------------------------
    def _mark_dead(self, link: Link, reason: str, *, error: bool = True) -> None:
        """Call with the lock held: the link is unusable; the control loop will close it.
        ``error``: worth showing as the last error (not a close we asked for)."""
        if link.dead:
            return
        link.dead, link.reason = True, reason
        error = error and not self._stopping
        if error:
            self._stats.error(reason)
        log = logger.warning if error and link.bound else logger.info
        log("smpp %s: connection down: %s", self.label, reason)
        self._cond.notify_all()

    def _link_failed(self, link: Link, reason: str) -> None:
        with self._cond:
            self._mark_dead(link, reason)

    def _error(self, message: str) -> None:
        with self._changing():
            self._stats.error(message)
        logger.warning("smpp %s: %s", self.label, message)

    # -- reader thread helpers -------------------------------------------------------------------
    def _send_nack(self, link: Link, status: int, sequence: int) -> None:
        with self._changing():
            self._stats.count("generic_nacks_sent")
        logger.info("smpp %s: generic_nack 0x%02x for seq %d", self.label, status, sequence)
        link.send(pdu.generic_nack(status, sequence))

    # -- callbacks -------------------------------------------------------------------------------
    def _emit(self, results: list[SubmitResult]) -> None:
        if not results:
            return
        debug = logger.isEnabledFor(logging.DEBUG)  # masking a number costs a hash
        with self._callback_lock:
            for result in results:
                if debug:
                    logger.debug(
                        "smpp %s: part to %s %s status=%s id=%s late=%s",
                        self.label,
                        mask_msisdn(result.part.destination),
                        result.status,
                        result.command_status,
                        result.message_id,
                        result.late,
                    )
                try:
                    self._on_result(result)
                except Exception:
                    logger.exception("smpp %s: result callback failed", self.label)

    def _deliver(self, message: InboundMessage, responder: Responder) -> int | None:
        if self._on_deliver is None:
            logger.warning("smpp %s: no deliver handler, %s refused", self.label, message.command)
            return self.connection.store_failure_status
        try:
            return self._on_deliver(message, responder)
        except Exception:
            logger.exception("smpp %s: deliver callback failed", self.label)
            return self.connection.store_failure_status
