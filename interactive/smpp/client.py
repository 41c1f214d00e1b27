"""All binds of one configured SMSC connection, behind one object.

``bind_mode`` "transceiver" is one :class:`~interactive.smpp.session.SmppSession`; "tx_rx"
is a bind_transmitter (submits) plus a bind_receiver (MO and receipts), for SMSCs that do not
offer transceivers. ``binds`` opens that many of them (transceivers, or pairs), as an account
that allows several binds lets: submits are dealt out among the transmitting binds that are
up, a message's parts together, and the contract's TPS is shared out among them. The gateway
glue talks to this class and does not care which it is.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable, Iterable

from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitPart
from interactive.smpp.session import DeliverHandler, ResultHandler, SmppSession
from interactive.smpp.session_state import SessionSnapshot, SessionState


class SmppClient:
    """The binds of ``connection``; same callbacks and threading as :class:`SmppSession`
    (``on_result`` is called by the transmitters, ``on_deliver`` by the receivers)."""

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
        count = connection.binds
        # Each transmitting bind keeps its share of the contract's rate.
        share = dataclasses.replace(connection, tps=connection.tps / count)
        transmitters: list[SmppSession] = []
        receivers: list[SmppSession] = []
        for number in range(1, count + 1):
            if connection.bind_mode == "tx_rx":
                transmitters.append(
                    SmppSession(
                        share,
                        on_result,
                        None,
                        bind="transmitter",
                        number=number,
                        first_sequence=first_sequence,
                        rng=rng,
                    )
                )
                receivers.append(
                    SmppSession(
                        connection,
                        on_result,
                        on_deliver,
                        bind="receiver",
                        number=number,
                        first_sequence=first_sequence,
                        rng=rng,
                    )
                )
            else:
                session = SmppSession(
                    share,
                    on_result,
                    on_deliver,
                    number=number,
                    first_sequence=first_sequence,
                    rng=rng,
                )
                transmitters.append(session)
                receivers.append(session)
        self.transmitters = tuple(transmitters)
        self.transmitter, self.receiver = transmitters[0], receivers[0]
        self.sessions: tuple[SmppSession, ...] = tuple(dict.fromkeys(transmitters + receivers))
        self._turn = itertools.count()

    def start(self) -> None:
        """Start every bind (each connects in the background)."""
        for session in self.sessions:
            session.start()

    def stop(self, timeout: float | None = None, *, graceful: bool = True) -> None:
        """Stop every bind (see ``SmppSession.stop``); blocks until their threads ended."""
        for session in self.sessions:
            session.stop(timeout, graceful=graceful)

    def submit(self, parts: Iterable[SubmitPart]) -> None:
        """Queue parts on the transmitting binds (see ``SmppSession.submit``): one bind's
        all of them, or with several, whole messages dealt out in turn among those bound
        (all of them when none is). Every part is encoded before any is queued."""
        if len(self.transmitters) == 1:
            self.transmitter.submit(parts)
            return
        up = [s for s in self.transmitters if s.snapshot().state is SessionState.BOUND]
        binds = up or list(self.transmitters)
        shares: list[list[SubmitPart]] = [[] for _ in binds]
        turn = next(self._turn)
        for index, (_key, group) in enumerate(itertools.groupby(parts, key=lambda p: p.key)):
            shares[(turn + index) % len(binds)].extend(group)
        prepared = [session.prepare(share) for session, share in zip(binds, shares, strict=True)]
        for session, items in zip(binds, prepared, strict=True):
            if items:
                session.enqueue(items)

    def snapshots(self) -> list[SessionSnapshot]:
        return [session.snapshot() for session in self.sessions]

    def wait_bound(self, timeout: float) -> bool:
        """Block until every bind is bound, or ``timeout`` seconds (per bind) passed."""
        return all(
            session.wait_until(lambda s: s.state is SessionState.BOUND, timeout)
            for session in self.sessions
        )
