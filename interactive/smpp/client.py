"""All binds of one configured SMSC connection, behind one object.

``bind_mode`` "transceiver" is one :class:`~interactive.smpp.session.SmppSession`; "tx_rx"
is a bind_transmitter (submits) plus a bind_receiver (MO and receipts), for SMSCs that do not
offer transceivers. The gateway glue talks to this class and does not care which it is.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitPart
from interactive.smpp.session import DeliverHandler, ResultHandler, SmppSession
from interactive.smpp.session_state import SessionSnapshot, SessionState


class SmppClient:
    """The binds of ``connection``; same callbacks and threading as :class:`SmppSession`
    (``on_result`` is called by the transmitter, ``on_deliver`` by the receiver)."""

    def __init__(
        self,
        connection: SmppConnection,
        on_result: ResultHandler,
        on_deliver: DeliverHandler | None = None,
        *,
        first_sequence: int = 1,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.connection = connection
        if connection.bind_mode == "tx_rx":
            self.transmitter = SmppSession(
                connection,
                on_result,
                None,
                bind="transmitter",
                first_sequence=first_sequence,
                rng=rng,
            )
            self.receiver = SmppSession(
                connection,
                on_result,
                on_deliver,
                bind="receiver",
                first_sequence=first_sequence,
                rng=rng,
            )
            self.sessions: tuple[SmppSession, ...] = (self.transmitter, self.receiver)
        else:
            self.transmitter = self.receiver = SmppSession(
                connection, on_result, on_deliver, first_sequence=first_sequence, rng=rng
            )
            self.sessions = (self.transmitter,)

    def start(self) -> None:
        """Start every bind (each connects in the background)."""
        for session in self.sessions:
            session.start()

    def stop(self, timeout: float | None = None, *, graceful: bool = True) -> None:
        """Stop every bind (see ``SmppSession.stop``); blocks until their threads ended."""
        for session in self.sessions:
            session.stop(timeout, graceful=graceful)

    def submit(self, parts: Iterable[SubmitPart]) -> None:
        """Queue parts on the transmitting bind (see ``SmppSession.submit``)."""
        self.transmitter.submit(parts)

    def snapshots(self) -> list[SessionSnapshot]:
        return [session.snapshot() for session in self.sessions]

    def wait_bound(self, timeout: float) -> bool:
        """Block until every bind is bound, or ``timeout`` seconds (per bind) passed."""
        return all(
            session.wait_until(lambda s: s.state is SessionState.BOUND, timeout)
            for session in self.sessions
        )
