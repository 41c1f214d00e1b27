"""A real SMPP 3.4 SMSC over TCP, for development, demos and as the gateway's test peer.

Threads: one acceptor, one timer (receipt delays, retries, late responses, enquire_link), and a
reader plus a writer per connection. Every write goes through the connection's queue, so PDUs
leave in the order they were produced (``DLR before resp`` relies on it) and no caller ever
blocks on a slow client. All state sits behind one condition variable, which is also what the
``wait_*`` helpers wait on: tests never sleep.

This module is the public entry point. The timer, the connections and the protocol they speak
live in ``simulator_session``, the deliver_sm side (receipts, MOs, retries) in
``simulator_delivery``, settings and records in ``simulator_config``, faults in
``simulator_personas``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from interactive.smpp import pdu
from interactive.smpp.simulator_config import (
    ConnectionProfile,
    Delivery,
    DeliveryState,
    ReceivedNack,
    SessionInfo,
    SimulatorConfig,
    SubmittedMessage,
)
from interactive.smpp.simulator_delivery import DeliveryEngine
from interactive.smpp.simulator_personas import Fault, FinalState, Outcome, Persona, Split
from interactive.smpp.simulator_session import Scheduler, Session, SessionHandler

__all__ = [
    "ConnectionProfile",
    "Delivery",
    "DeliveryState",
    "Fault",
    "FinalState",
    "MoHandle",
    "Outcome",
    "Persona",
    "SimulatorConfig",
    "SmscSimulator",
    "SubmittedMessage",
    "run_simulator",
]

logger = logging.getLogger(__name__)


class MoHandle:
    """What :meth:`SmscSimulator.inject_mo` returns: the deliver_sm PDUs it queued."""

    def __init__(self, simulator: SmscSimulator, deliveries: tuple[Delivery, ...]) -> None:
        self.simulator = simulator
        self.deliveries = deliveries

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait until every part was answered for good; True when all were acknowledged OK."""
        self.simulator.wait_for(lambda: all(d.final for d in self.deliveries), timeout)
        return self.acknowledged

    @property
    def acknowledged(self) -> bool:
        return all(d.state is DeliveryState.ACKNOWLEDGED for d in self.deliveries)


class SmscSimulator:
    """SMPP 3.4 server. ``with SmscSimulator(cfg) as sim:`` starts it and stops it promptly."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._cond = threading.Condition(threading.RLock())
        self._scheduler = Scheduler()
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor: threading.Thread | None = None
        self._sessions: dict[int, Session] = {}
        self._threads: list[threading.Thread] = []
        self._session_ids = itertools.count(1)
        self._delivery = DeliveryEngine(
            self.config, self._sessions, self._changing, self._scheduler.call_later
        )
        self._handler = SessionHandler(
            self.config, self._sessions, self._delivery, self._changing, self._scheduler
        )
        self._state: Literal["new", "running", "stopped"] = "new"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SmscSimulator:
        if self._state != "new":
            raise RuntimeError("a simulator can be started once")
        self._listener = socket.create_server((self.config.host, self.config.port), backlog=16)
        self._port = int(self._listener.getsockname()[1])
        self._state = "running"
        self._scheduler.thread.start()
        self._acceptor = threading.Thread(target=self._accept_loop, name="smsc-sim-accept")
        self._acceptor.daemon = True
        self._acceptor.start()
        logger.info("SMSC simulator listening on %s:%d", self.config.host, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, then join all threads. Idempotent."""
        with self._cond:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
            sessions = list(self._sessions.values())
        self._wake_w.send(b"x")
        if self._acceptor is not None:
            self._acceptor.join(timeout)
        for session in sessions:
            session.shutdown()
        for thread in list(self._threads):
            thread.join(timeout)
        self._scheduler.stop(timeout)
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        logger.info("SMSC simulator stopped")

    def __enter__(self) -> SmscSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (the ephemeral one when the config says 0)."""
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the lock to change state, then wake every ``wait_for``."""
        with self._cond:
            try:
                yield
            finally:
                self._cond.notify_all()

    # -- observation -------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait (no polling) until ``predicate()`` – evaluated under the lock – is true."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def submitted(self) -> list[SubmittedMessage]:
        with self._cond:
            return list(self._handler.submitted)

    def wait_for_submits(self, count: int, timeout: float = 5.0) -> list[SubmittedMessage]:
        """Wait until ``count`` submits arrived since the records were last cleared; returns
        the submits kept (``SimulatorConfig.keep_records``)."""
        handler = self._handler
        if not self.wait_for(lambda: handler.submit_count >= count, timeout):
            raise TimeoutError(f"{handler.submit_count} of {count} submits within {timeout}s")
        return self.submitted()

    def inbox(self, destination: str) -> list[SubmittedMessage]:
        """Accepted messages for one handset, oldest first (of the submits kept)."""
        with self._cond:
            return self._handler.inbox(destination)

    def deliveries(self, kind: Literal["receipt", "mo"] | None = None) -> list[Delivery]:
        with self._cond:
            return [d for d in self._delivery.deliveries if kind is None or d.kind == kind]

    def received_nacks(self) -> list[ReceivedNack]:
        with self._cond:
            return list(self._handler.nacks)

    def sessions(self) -> list[SessionInfo]:
        with self._cond:
            return [s.info() for s in self._sessions.values()]

    def clear_records(self) -> None:
        with self._changing():
            self._handler.clear()
            self._delivery.forget_final()

    # -- actions -----------------------------------------------------------------------------
    def unbind_all(self) -> int:
        """Send ``unbind`` to every bound client; each connection closes on its unbind_resp
        (or after ``unbind_timeout``). Returns how many were asked."""
        with self._changing():
            bound = [s for s in self._sessions.values() if s.bind is not None]
            for session in bound:
                session.send(pdu.encode("unbind", sequence=session.next_sequence()))
                session.bind = None
                self._scheduler.call_later(self.config.unbind_timeout, session.shutdown)
            return len(bound)

    def inject_mo(
        self,
        source: str,
        destination: str,
        message: str | bytes,
        *,
        data_coding: int | None = None,
        udh: bytes | None = None,
        esm_class: int = 0,
        tlvs: Mapping[int, bytes] | None = None,
        split: Split | None = None,
        part_size: int | None = None,
        order: Sequence[int] | None = None,
        duplicate: bool | None = None,
        reference: int | None = None,
        system_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> MoHandle:
        """Queue a mobile-originated message as deliver_sm PDUs to a receiving bind.

        ``split``: "udh8"/"udh16" (concat UDH), "sar" (SAR TLVs) or "payload" (one PDU with
        message_payload); ``part_size`` in octets. ``order``: 1-based part numbers in sending
        order (may repeat or omit parts). ``duplicate``: send every PDU twice. Both default to
        the target profile's CONCAT_MO_OUT_OF_ORDER / DUPLICATE_MO personas. The bind is chosen
        by ``system_id``, else by the profiles' ``address_range``, else any receiver; with none
        bound the PDUs wait for one.
        """
        payload, dcs = pdu.encode_text(message, data_coding)
        deliveries = self._delivery.inject_mo(
            source,
            destination,
            payload,
            dcs,
            udh=udh,
            esm_class=esm_class,
            tlvs=tlvs,
            split=split,
            part_size=part_size,
            order=order,
            duplicate=duplicate,
            reference=reference,
            system_id=system_id,
            fields=fields,
        )
        return MoHandle(self, deliveries)

    # -- connections -------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            readable, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            try:
                conn, addr = self._listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = Session(next(self._session_ids), conn, f"{addr[0]}:{addr[1]}")
            with self._changing():
                if self._state != "running":
                    conn.close()
                    return
                self._sessions[session.id] = session
                threads = session.start_threads(
                    self._handler.read_loop, self._scheduler, self.config.unbind_timeout
                )
                self._threads = [t for t in self._threads if t.is_alive()] + threads
            logger.info("SMPP connection %d from %s", session.id, session.peer)


def run_simulator(
    config: SimulatorConfig,
    stop_event: threading.Event,
    on_started: Callable[[SmscSimulator], None] | None = None,
) -> None:
    """Run a simulator until ``stop_event`` is set (entry point for the CLI command)."""
    with SmscSimulator(config) as simulator:
        if on_started is not None:
            on_started(simulator)
        stop_event.wait()
