"""Harness for the SMPP session tests: the simulator over real TCP, sessions with fast timers,
a recorder of the callbacks, and a scripted SMSC for traffic the simulator cannot produce.

Every wait is a condition with a deadline (``Recorder.wait``, ``SmppSession.wait_until``,
``SmscSimulator.wait_for``); nothing sleeps.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from interactive.smpp import pdu
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import InboundMessage, Responder, SubmitPart, SubmitResult
from interactive.smpp.session import SmppSession
from interactive.smpp.session_state import SessionState
from interactive.smpp.simulator import SimulatorConfig, SmscSimulator

CREDENTIALS = {"acme": "secret", "other": "pw2"}
HANDSET = "905551234567"
SHORT_CODE = "4664"
DEADLINE = 5.0
FAST: dict[str, Any] = {
    "response_timeout": 2.0,
    "reconnect_initial": 0.05,
    "reconnect_max": 0.2,
    "throttle_pause": 0.05,
    "unbind_timeout": 1.0,
}


class Recorder:
    """Collects what the session's callbacks receive; ``deliver_status`` picks the answer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.results: list[SubmitResult] = []
        self.messages: list[InboundMessage] = []
        self.responders: list[Responder] = []
        self.deliver_status: Callable[[InboundMessage], int | None] = lambda message: 0

    def on_result(self, result: SubmitResult) -> None:
        with self._cond:
            self.results.append(result)
            self._cond.notify_all()

    def on_deliver(self, message: InboundMessage, responder: Responder) -> int | None:
        with self._cond:
            self.messages.append(message)
            self.responders.append(responder)
            self._cond.notify_all()
        return self.deliver_status(message)

    def wait(self, predicate: Callable[[], bool], timeout: float = DEADLINE) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_results(self, count: int, timeout: float = DEADLINE) -> list[SubmitResult]:
        if not self.wait(lambda: len(self.results) >= count, timeout):
            raise AssertionError(f"{len(self.results)} of {count} results: {self.results}")
        with self._cond:
            return list(self.results)

    def wait_messages(self, count: int, timeout: float = DEADLINE) -> list[InboundMessage]:
        if not self.wait(lambda: len(self.messages) >= count, timeout):
            raise AssertionError(f"{len(self.messages)} of {count} inbound messages")
        with self._cond:
            return list(self.messages)


def part(key: int, destination: str = HANDSET, **fields: Any) -> SubmitPart:
    fields.setdefault("short_message", b"hello")
    fields.setdefault("registered_delivery", 0)
    return SubmitPart(key=key, source=SHORT_CODE, destination=destination, **fields)


def counter(session: SmppSession, name: str) -> int:
    return session.snapshot().counters.get(name, 0)


def wait_counter(session: SmppSession, name: str, value: int, timeout: float = DEADLINE) -> bool:
    return session.wait_until(lambda s: s.counters.get(name, 0) >= value, timeout)


def wait_bound(session: SmppSession, binds: int = 1) -> None:
    def bound(s: Any) -> bool:
        return s.state is SessionState.BOUND and s.counters.get("binds", 0) >= binds

    assert session.wait_until(bound, DEADLINE), session.snapshot()


class Harness:
    """Creates simulators and sessions for one test and stops them all at its end."""

    def __init__(self) -> None:
        self._sims: list[SmscSimulator] = []
        self._sessions: list[SmppSession] = []
        self._servers: list[ScriptedSmsc] = []

    def sim(self, **settings: Any) -> SmscSimulator:
        settings.setdefault("credentials", CREDENTIALS)
        sim = SmscSimulator(SimulatorConfig(**settings)).start()
        self._sims.append(sim)
        return sim

    def connection(self, port: int, **settings: Any) -> SmppConnection:
        values: dict[str, Any] = {"system_id": "acme", "password": "secret", **FAST, **settings}
        return SmppConnection(name="test", host="127.0.0.1", port=port, **values)

    def session(
        self,
        port: int,
        *,
        bound: bool = True,
        first_sequence: int = 1,
        **settings: Any,
    ) -> tuple[SmppSession, Recorder]:
        recorder = Recorder()
        session = SmppSession(
            self.connection(port, **settings),
            recorder.on_result,
            recorder.on_deliver,
            first_sequence=first_sequence,
        )
        self.track(session)
        session.start()
        if bound:
            wait_bound(session)
        return session, recorder

    def track(self, session: SmppSession) -> None:
        self._sessions.append(session)

    def scripted(
        self, handler: Callable[[ScriptedConnection, pdu.DecodedPdu], None]
    ) -> ScriptedSmsc:
        server = ScriptedSmsc(handler)
        self._servers.append(server)
        return server

    def close(self) -> None:
        for session in self._sessions:
            session.stop(DEADLINE, graceful=False)
        for server in self._servers:
            server.close()
        for sim in self._sims:
            sim.stop()


def run_harness() -> Iterator[Harness]:
    """Body of each test module's ``harness`` fixture: closes everything, checks threads."""
    h = Harness()
    try:
        yield h
    finally:
        h.close()
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("smpp-")]
    assert leaked == [], f"threads left running: {leaked}"


class ScriptedConnection:
    """One accepted connection of :class:`ScriptedSmsc`."""

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self.received: list[pdu.DecodedPdu] = []

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)


class ScriptedSmsc:
    """A real TCP server that accepts any bind, answers unbind, and hands every other PDU
    to ``handler``.

    For what the simulator does not do on purpose: falling silent, malformed PDUs.
    """

    def __init__(self, handler: Callable[[ScriptedConnection, pdu.DecodedPdu], None]) -> None:
        self._handler = handler
        self._cond = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.connections: list[ScriptedConnection] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._start(self._accept_loop)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="scripted-smsc", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                if self._closed:
                    sock.close()
                    return
                conn = ScriptedConnection(sock, len(self.connections))
                self.connections.append(conn)
                self._cond.notify_all()
            self._start(self._serve, conn)

    def _serve(self, conn: ScriptedConnection) -> None:
        try:
            while True:
                p = pdu.decode(pdu.read_pdu_bytes(conn.sock))
                with self._cond:
                    conn.received.append(p)
                    self._cond.notify_all()
                if p.command.startswith("bind_"):
                    conn.send(pdu.encode(f"{p.command}_resp", sequence=p.sequence, system_id="X"))
                elif p.command == "unbind":
                    conn.send(pdu.encode("unbind_resp", sequence=p.sequence))
                else:
                    self._handler(conn, p)
        except (OSError, pdu.ConnectionClosedError, pdu.PduError):
            pass
        finally:
            conn.sock.close()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = DEADLINE) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            conns = list(self.connections)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(DEADLINE)
