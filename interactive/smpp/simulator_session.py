"""Connections of the SMSC simulator: the timer thread, one TCP session, and the protocol.

A :class:`Session` owns a socket, its reader and writer threads and its write queue;
:class:`SessionHandler` is what the reader threads run: it answers binds, submits and
keep-alives, records what was submitted, and hands deliver_sm work to the
:class:`~interactive.smpp.simulator_delivery.DeliveryEngine`.
"""

from __future__ import annotations

import contextlib
import heapq
import hmac
import itertools
import logging
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from smpplib import consts

from interactive.logs import mask_msisdn
from interactive.smpp import pdu
from interactive.smpp.simulator_config import (
    ConnectionProfile,
    Delivery,
    DeliveryAttempt,
    ReceivedNack,
    SessionInfo,
    SimulatorConfig,
    SubmittedMessage,
)
from interactive.smpp.simulator_delivery import Changing, DeliveryEngine
from interactive.smpp.simulator_personas import (
    SUBMIT_FAULTS,
    MessageIds,
    Persona,
    PersonaCounters,
    resolve_outcome,
)
from interactive.smpp.simulator_personas import Fault as F

logger = logging.getLogger(__name__)

_BINDS = frozenset({"bind_transmitter", "bind_receiver", "bind_transceiver"})


class Scheduler:
    """One timer thread for every delayed action (a ``threading.Timer`` each would leak)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._ids = itertools.count()
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name="smsc-sim-timer", daemon=True)

    def call_later(self, delay: float, action: Callable[[], object]) -> None:
        with self._cond:
            if not self._stopped:
                due = time.monotonic() + delay
                heapq.heappush(self._heap, (due, next(self._ids), action))
                if self._heap[0][0] == due:  # otherwise the thread wakes earlier anyway
                    self._cond.notify()

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                action = heapq.heappop(self._heap)[2]
            try:
                action()
            except Exception:
                logger.exception("simulator timer action failed")


@dataclass(frozen=True)
class _Write:
    data: bytes
    close: bool = False  # half-close after writing (unbind_resp, generic_nack before a drop)
    abort: bool = False  # shut both directions right after writing (drop mid-PDU)


class Session:
    """One TCP connection. Mutable fields are guarded by the simulator's lock."""

    def __init__(self, session_id: int, sock: socket.socket, peer: str) -> None:
        self.id, self.sock, self.peer = session_id, sock, peer
        self.open = True
        self.bind: str | None = None  # "transmitter" | "receiver" | "transceiver"
        self.system_id: str | None = None
        self.profile = ConnectionProfile()
        self.sliced = False
        self.inflight: dict[int, tuple[Delivery, DeliveryAttempt]] = {}
        self.enquire_outstanding: set[int] = set()
        self.enquire_sent = self.enquire_answered = 0
        self._sequence = 0
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        # Guards ``_queued``: writes handed to the writer thread and not yet written.
        self._write_lock = threading.Lock()
        self._queued = 0

    def info(self) -> SessionInfo:
        return SessionInfo(
            self.id,
            self.peer,
            self.bind,
            self.system_id,
            self.enquire_sent,
            self.enquire_answered,
        )

    def next_sequence(self) -> int:
        self._sequence = self._sequence % pdu.MAX_SEQUENCE + 1
        return self._sequence

    def start_threads(
        self, read_loop: Callable[[Session], None], scheduler: Scheduler, linger: float
    ) -> list[threading.Thread]:
        name = f"smsc-sim-{self.id}"
        reader = threading.Thread(target=read_loop, args=(self,), name=f"{name}-read", daemon=True)
        self._writer = threading.Thread(
            target=self._write_loop, args=(scheduler, linger), name=f"{name}-write", daemon=True
        )
        reader.start()
        self._writer.start()
        return [reader, self._writer]

    def send(self, data: bytes, *, close: bool = False, abort: bool = False) -> None:
        """Write ``data`` in order after everything sent before. A plain PDU with nothing
        waiting before it goes out from the caller's thread if the socket takes it
        without blocking (a thread hand-off fewer per PDU); the rest of it, and anything
        while the writer thread has work, is queued for that thread, so a client that
        stops reading stalls its own writer and never the caller."""
        if not self.open:
            return
        with self._write_lock:
            if not (self._queued or close or abort or self.sliced):
                try:
                    sent = self.sock.send(data, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.shutdown()
                    return
                if sent == len(data):
                    return
                data = data[sent:]
            self._queued += 1
            self._queue.put(_Write(data, close, abort))

    def shutdown(self, how: int = socket.SHUT_RDWR) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(how)

    def drain(self) -> None:
        """Discard input until the peer closes, so our last PDU is not lost to a TCP reset."""
        with contextlib.suppress(OSError):
            while self.sock.recv(4096):
                pass

    def finish(self) -> None:
        """Called by the reader on its way out: flush the writer, then close the socket."""
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join(1.0)
            self.shutdown()
            self._writer.join()
        self.sock.close()

    def _write_loop(self, scheduler: Scheduler, linger: float) -> None:
        while (item := self._queue.get()) is not None:
            try:
                if self.sliced:  # one byte per send, TCP_NODELAY: the client must reassemble
                    for i in range(len(item.data)):
                        self.sock.sendall(item.data[i : i + 1])
                elif item.data:
                    self.sock.sendall(item.data)
            except OSError:
                self.shutdown()
                return
            with self._write_lock:
                self._queued -= 1
            if item.abort:
                self.shutdown()
            elif item.close:
                self.shutdown(socket.SHUT_WR)
                scheduler.call_later(linger, self.shutdown)


class SessionHandler:
    """The SMSC side of the protocol on every connection; owns the records of what arrived.

    ``read_loop`` runs on each session's reader thread and handles PDUs under the simulator's
    lock (``changing``); timer callbacks take the lock themselves.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        sessions: dict[int, Session],
        deliveries: DeliveryEngine,
        changing: Changing,
        scheduler: Scheduler,
    ) -> None:
        self.config = config
        self._sessions = sessions
        self._deliveries = deliveries
        self._changing = changing
        self._scheduler = scheduler
        self._message_ids = MessageIds()
        self._counters = PersonaCounters()
        self.submitted: deque[SubmittedMessage] = deque(maxlen=config.keep_records)
        self.submit_count = 0  # since the records were last cleared, kept or not
        self.nacks: list[ReceivedNack] = []

    def inbox(self, destination: str) -> list[SubmittedMessage]:
        """The accepted submits to ``destination`` among those kept, oldest first."""
        return [
            record
            for record in self.submitted
            if record.destination_addr == destination
            and record.command_status == consts.SMPP_ESME_ROK
        ]

    def clear(self) -> None:
        self.submitted.clear()
        self.submit_count = 0
        self.nacks.clear()

    def read_loop(self, s: Session) -> None:
        reader = pdu.PduReader(s.sock, self.config.max_command_length)
        try:
            while True:
                try:
                    raw = reader.read()
                except pdu.CommandLengthError as exc:
                    # Framing is lost: nack, flush, half-close, read until the client leaves.
                    logger.warning("connection %d: %s, dropping it", s.id, exc)
                    s.send(pdu.generic_nack(exc.status, 0), close=True)
                    s.drain()
                    return
                self._handle_raw(s, raw)
        except (pdu.ConnectionClosedError, OSError) as exc:
            logger.debug("connection %d closed: %s", s.id, exc)
        finally:
            self._close_session(s)

    def _handle_raw(self, s: Session, raw: bytes) -> None:
        try:
            decoded = pdu.decode(raw)
        except pdu.PduError as exc:
            logger.warning("connection %d: bad PDU: %s", s.id, exc)
            s.send(pdu.generic_nack(exc.status, exc.sequence))
            return
        except Exception:  # any smpplib surprise costs this PDU only
            logger.exception("connection %d: undecodable PDU", s.id)
            s.send(pdu.generic_nack(consts.SMPP_ESME_RSYSERR, pdu.parse_header(raw).sequence))
            return
        with self._changing():
            try:
                self._dispatch(s, decoded)
            except Exception:
                logger.exception("connection %d: failed to handle %s", s.id, decoded.command)
                if not decoded.header.is_response:
                    s.send(pdu.generic_nack(consts.SMPP_ESME_RSYSERR, decoded.sequence))

    def _close_session(self, s: Session) -> None:
        with self._changing():
            s.open = False
            s.bind = None
            self._sessions.pop(s.id, None)
            self._deliveries.requeue_inflight(s)
        s.finish()
        logger.info("SMPP connection %d closed", s.id)

    # -- protocol ----------------------------------------------------------------------------
    def _dispatch(self, s: Session, p: pdu.DecodedPdu) -> None:
        name, seq = p.command, p.sequence
        if name in _BINDS:
            self._on_bind(s, p)
        elif name == "enquire_link":
            s.send(pdu.encode("enquire_link_resp", sequence=seq))
        elif name == "enquire_link_resp":
            if seq in s.enquire_outstanding:
                s.enquire_outstanding.discard(seq)
                s.enquire_answered += 1
        elif name == "generic_nack":
            self.nacks.append(ReceivedNack(s.id, s.system_id, p.status, seq))
            logger.info("connection %d: generic_nack 0x%02x seq %d", s.id, p.status, seq)
            self._deliveries.on_delivery_resp(s, p)
        elif name in ("deliver_sm_resp", "data_sm_resp"):
            self._deliveries.on_delivery_resp(s, p)
        elif name == "unbind_resp":
            s.send(b"", abort=True)
        elif p.header.is_response:
            logger.debug("connection %d: ignoring %s", s.id, name)
        elif s.bind is None and name in ("unbind", "submit_sm", "data_sm"):
            s.send(pdu.encode(f"{name}_resp", sequence=seq, status=consts.SMPP_ESME_RINVBNDSTS))
        elif name == "unbind":
            s.bind = None
            s.send(pdu.encode("unbind_resp", sequence=seq), close=True)
        elif name == "submit_sm" and s.bind == "receiver":
            s.send(pdu.encode("submit_sm_resp", sequence=seq, status=consts.SMPP_ESME_RINVBNDSTS))
        elif name in ("submit_sm", "data_sm"):
            self._on_submit(s, p)
        else:  # query_sm, alert_notification, ...: not offered by this SMSC
            s.send(pdu.generic_nack(consts.SMPP_ESME_RINVCMDID, seq))

    def _on_bind(self, s: Session, p: pdu.DecodedPdu) -> None:
        resp = f"{p.command}_resp"
        system_id = p.text("system_id")
        profile = self.config.profile_for(system_id)
        expected = self.config.credentials.get(system_id)
        if s.bind is not None:
            status = consts.SMPP_ESME_RALYBND
        elif profile.persona(F.NO_BIND_RESPONSE):
            logger.info("connection %d: persona no_bind_response for %s", s.id, system_id)
            return
        elif expected is None:
            status = consts.SMPP_ESME_RBINDFAIL  # do not reveal which system_ids exist
        elif not hmac.compare_digest(expected.encode("latin-1", "replace"), p.get("password", b"")):
            status = consts.SMPP_ESME_RINVPASWD
        elif profile.persona(F.BIND_REFUSED):
            status = consts.SMPP_ESME_RBINDFAIL
        else:
            status = consts.SMPP_ESME_ROK
        if status == consts.SMPP_ESME_ROK:
            s.bind, s.system_id, s.profile = p.command.removeprefix("bind_"), system_id, profile
            s.sliced = profile.persona(F.SLICED_WRITES) is not None
        logger.info("connection %d: %s as %s → 0x%02x", s.id, p.command, system_id, status)
        sysid = self.config.system_id
        s.send(pdu.encode(resp, sequence=p.sequence, status=status, system_id=sysid))
        if status == consts.SMPP_ESME_ROK:
            if self.config.enquire_link_interval:
                interval = self.config.enquire_link_interval
                self._scheduler.call_later(interval, partial(self._enquire, s))
            self._deliveries.pump_pending()

    def _submit_persona(self, s: Session, destination: str) -> Persona | None:
        scopes = (
            (("dest", destination), self.config.personas_for(destination)),
            (("session", s.id), s.profile.personas),
        )
        for scope, personas in scopes:
            for persona in personas:
                if persona.fault in SUBMIT_FAULTS and self._counters.fires(scope, persona):
                    return persona
        return None

    def _on_submit(self, s: Session, p: pdu.DecodedPdu) -> None:
        resp_name, seq = f"{p.command}_resp", p.sequence
        destination = p.text("destination_addr")
        persona = self._submit_persona(s, destination)
        fault = persona.fault if persona else None
        outcome = resolve_outcome(self.config.failure_rules, destination)
        status = outcome.submit_status
        if fault is F.THROTTLE:
            status = consts.SMPP_ESME_RTHROTTLED
        elif fault is F.QUEUE_FULL:
            status = consts.SMPP_ESME_RMSGQFUL
        elif persona is not None and fault in (F.GENERIC_NACK, F.GENERIC_NACK_NO_SEQUENCE):
            status = persona.status
        resp_id = receipt_id = None
        if status == consts.SMPP_ESME_ROK:
            resp_id, receipt_id = self._message_ids.new(*s.profile.id_formats(persona))
        record = self._record_submit(s, p, status, resp_id, fault)
        if fault in (F.GENERIC_NACK, F.GENERIC_NACK_NO_SEQUENCE):
            s.send(pdu.generic_nack(status, seq if fault is F.GENERIC_NACK else 0))
            return
        resp = pdu.encode(resp_name, sequence=seq, status=status, message_id=resp_id or "")
        if status != consts.SMPP_ESME_ROK:
            s.send(resp)
            return
        receipt = self._deliveries.make_receipt(s, record, outcome, receipt_id or "")
        if fault is F.LATE_RESPONSE and persona is not None:
            self._scheduler.call_later(persona.delay, partial(self._late_resp, s, resp, receipt))
            return
        if fault is F.DROP_MID_PDU:
            s.send(resp[: len(resp) // 2], abort=True)
        elif fault is F.BAD_COMMAND_LENGTH and persona is not None:
            s.send(pdu.pack_header(persona.command_length, pdu.command_id(resp_name), 0, seq))
        elif fault is F.DLR_BEFORE_RESP:
            if receipt is not None:
                self._deliveries.start_delivery(receipt)
                receipt = None
            s.send(resp)
        elif fault is F.UNKNOWN_COMMAND:
            unknown = pdu.pack_header(16, pdu.UNKNOWN_COMMAND_ID, 0, s.next_sequence())
            s.send(unknown)
            s.send(resp)
        elif fault is not F.NO_SUBMIT_RESPONSE:
            s.send(resp)
        self._deliveries.schedule_receipt(receipt)

    def _late_resp(self, s: Session, resp: bytes, receipt: Delivery | None) -> None:
        with self._changing():
            s.send(resp)
            self._deliveries.schedule_receipt(receipt)

    def _record_submit(
        self, s: Session, p: pdu.DecodedPdu, status: int, message_id: str | None, fault: F | None
    ) -> SubmittedMessage:
        record = SubmittedMessage.from_pdu(p, s.system_id or "", s.id, status, message_id, fault)
        self.submitted.append(record)
        self.submit_count += 1
        if logger.isEnabledFor(logging.DEBUG):  # masking a number costs a hash
            logger.debug(
                "submit from %s to %s: status 0x%02x id %s fault %s",
                record.system_id,
                mask_msisdn(record.destination_addr),
                status,
                message_id,
                fault,
            )
        return record

    def _enquire(self, s: Session) -> None:
        with self._changing():
            if not s.open or s.bind is None:
                return
            if len(s.enquire_outstanding) >= self.config.enquire_link_max_missed:
                logger.warning("connection %d: enquire_link unanswered, dropping it", s.id)
                s.shutdown()
                return
            seq = s.next_sequence()
            s.enquire_outstanding.add(seq)
            s.enquire_sent += 1
            s.send(pdu.encode("enquire_link", sequence=seq))
            interval = self.config.enquire_link_interval or 0
            self._scheduler.call_later(interval, partial(self._enquire, s))
