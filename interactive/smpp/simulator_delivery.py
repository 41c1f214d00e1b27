"""deliver_sm originated by the SMSC simulator: receipts, injected MOs, retries and parking.

Each deliver_sm is a :class:`Delivery` record. It is written to a receiving bind, parked until
one binds, sent again after a temporary error, a response timeout or a lost connection, and
failed for good after ``deliver_max_attempts``. The engine never touches a socket: it writes to
:class:`Receiver` objects (the simulator's sessions), and runs under the simulator's lock.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from smpplib import consts

from interactive.logs import mask_msisdn
from interactive.smpp import pdu
from interactive.smpp.simulator_config import (
    ConnectionProfile,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    SimulatorConfig,
    SubmittedMessage,
)
from interactive.smpp.simulator_personas import (
    MESSAGE_STATES,
    FinalState,
    Outcome,
    Split,
    build_mo_parts,
)
from interactive.smpp.simulator_personas import Fault as F

logger = logging.getLogger(__name__)

T = TypeVar("T")

RECEIPT_ESM_CLASS = 0x04  # SMSC delivery receipt (SMPP 3.4 §5.2.12)
VENDOR_TLVS: tuple[tuple[int, bytes], ...] = ((pdu.VENDOR_TLV_TAG, b"SIM"), (0x1401, b"\x00\x2a"))

#: Holds the simulator's lock for a change, then wakes every ``wait_for``.
Changing = Callable[[], AbstractContextManager[None]]
#: Runs an action on the simulator's timer thread after a delay in seconds.
CallLater = Callable[[float, Callable[[], object]], None]


class Receiver(Protocol):
    """The part of a connection deliveries need (``simulator_session.Session`` is one)."""

    id: int
    open: bool
    bind: str | None
    system_id: str | None
    profile: ConnectionProfile
    inflight: dict[int, tuple[Delivery, DeliveryAttempt]]

    def next_sequence(self) -> int: ...

    def send(self, data: bytes, *, close: bool = False, abort: bool = False) -> None: ...


#: Actions due after a fixed delay run together, at most this late: one timer and one taking
#: of the lock per batch instead of one each, with thousands of receipts a second.
BATCH_S = 0.005


class _FixedDelayLine(Generic[T]):
    """Items due ``delay`` seconds after they join, handled under the simulator's lock by
    ``run`` in the order they joined (one delay setting: an item given a shorter delay than
    those ahead waits for them); one timer for the head of the line at a time."""

    def __init__(self, changing: Changing, call_later: CallLater, run: Callable[[T], None]):
        self._changing = changing
        self._call_later = call_later
        self._run = run
        self._items: deque[tuple[float, T]] = deque()
        self._armed = False

    def add(self, delay: float, item: T) -> None:
        """Call with the lock held."""
        self._items.append((time.monotonic() + delay, item))
        if not self._armed:
            self._armed = True
            self._call_later(delay, self._fire)

    def _fire(self) -> None:
        with self._changing():
            items, now = self._items, time.monotonic()
            while items and items[0][0] <= now:
                item = items.popleft()[1]
                try:
                    self._run(item)
                except Exception:
                    logger.exception("simulator delayed action failed")
            if items:
                self._call_later(max(items[0][0] - now, BATCH_S), self._fire)
            else:
                self._armed = False


class DeliveryEngine:
    """Every deliver_sm the simulator originates, and the receivers it may write them to.

    Methods other than the timer callbacks expect the caller to hold the simulator's lock;
    ``receivers`` is the simulator's live map of sessions.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        receivers: Mapping[int, Receiver],
        changing: Changing,
        call_later: CallLater,
    ) -> None:
        self.config = config
        self._receivers = receivers
        self._changing = changing
        self._call_later = call_later
        self._mo_refs = itertools.count(1)
        self.deliveries: list[Delivery] = []
        self._trim_at = 2 * (config.keep_records or 0)
        self._pending: list[Delivery] = []
        self._receipts = _FixedDelayLine[Delivery](changing, call_later, self.start_delivery)
        self._timeouts = _FixedDelayLine[tuple[Receiver, int, DeliveryAttempt]](
            changing, call_later, self._time_out
        )

    def forget_final(self) -> None:
        """Drop the records of deliveries that are done (pending ones are still in play)."""
        self.deliveries = [d for d in self.deliveries if not d.final]

    # -- MO injection --------------------------------------------------------------------------
    def inject_mo(
        self,
        source: str,
        destination: str,
        payload: bytes,
        dcs: int,
        *,
        udh: bytes | None,
        esm_class: int,
        tlvs: Mapping[int, bytes] | None,
        split: Split | None,
        part_size: int | None,
        order: Sequence[int] | None,
        duplicate: bool | None,
        reference: int | None,
        system_id: str | None,
        fields: Mapping[str, Any] | None,
    ) -> tuple[Delivery, ...]:
        """Queue an encoded MO as deliver_sm PDUs (see ``SmscSimulator.inject_mo``)."""
        with self._changing():
            target = self._pick_receiver(system_id, destination)
            profile: ConnectionProfile = (
                self.config.profile_for(system_id)
                if system_id or target is None
                else target.profile
            )
            ref = next(self._mo_refs) if reference is None else reference
            parts = build_mo_parts(
                payload,
                data_coding=dcs,
                esm_class=esm_class,
                udh=udh,
                split=split,
                part_size=part_size,
                reference=ref & (0xFF if split == "udh8" else 0xFFFF),
            )
            if order is None and len(parts) > 1 and profile.persona(F.CONCAT_MO_OUT_OF_ORDER):
                order = range(len(parts), 0, -1)
            if order is not None and any(not 1 <= n <= len(parts) for n in order):
                raise ValueError(f"order must name parts 1..{len(parts)}")
            ordered = [parts[n - 1] for n in order] if order is not None else parts
            if duplicate is None:
                duplicate = profile.persona(F.DUPLICATE_MO) is not None
            base = {"source_addr": source, "destination_addr": destination, "data_coding": dcs}
            base.update(fields or {})
            deliveries: list[Delivery] = []
            for part in ordered:
                for _ in range(2 if duplicate else 1):
                    pdu_fields = {**base, **part.fields, "esm_class": part.esm_class}
                    pdu_fields["short_message"] = part.short_message
                    delivery = Delivery("mo", pdu_fields, tuple((tlvs or {}).items()), system_id)
                    deliveries.append(delivery)
                    self.start_delivery(delivery)
            logger.info("MO injected to %s: %d PDU(s)", mask_msisdn(destination), len(deliveries))
            return tuple(deliveries)

    # -- receipts ------------------------------------------------------------------------------
    def make_receipt(
        self, s: Receiver, record: SubmittedMessage, outcome: Outcome, receipt_id: str
    ) -> Delivery | None:
        requested = record.registered_delivery & 0x03
        failed = outcome.state is not FinalState.DELIVRD
        if not (self.config.always_receipt or requested == 1 or (requested == 2 and failed)):
            return None
        done = record.received_at + timedelta(seconds=self.config.receipt_delay)
        sample = pdu.text_sample(record.data_coding, record.payload)
        stat, err = outcome.state.value, outcome.error_code
        text = pdu.receipt_text(receipt_id, record.received_at, done, stat, err, sample)
        fields: dict[str, Any] = {
            "source_addr": record.destination_addr,
            "source_addr_ton": record.dest_addr_ton,
            "source_addr_npi": record.dest_addr_npi,
            "destination_addr": record.source_addr,
            "dest_addr_ton": record.source_addr_ton,
            "dest_addr_npi": record.source_addr_npi,
            "esm_class": RECEIPT_ESM_CLASS,
            "short_message": text.encode("ascii"),
            "receipted_message_id": receipt_id,
            "message_state": MESSAGE_STATES[outcome.state],
        }
        if outcome.error_code:
            fields["network_error_code"] = pdu.network_error_code(outcome.error_code)
        dest_personas = self.config.personas_for(record.destination_addr)
        vendor = any(p.fault is F.VENDOR_TLVS for p in dest_personas)
        return Delivery(
            "receipt", fields, VENDOR_TLVS if vendor else (), s.system_id, receipt_id, s.id
        )

    def schedule_receipt(self, receipt: Delivery | None) -> None:
        if receipt is None:
            return
        if self.config.receipt_delay <= 0:
            self.start_delivery(receipt)  # queued behind the response just written
        else:
            self._receipts.add(self.config.receipt_delay, receipt)

    # -- deliver_sm ----------------------------------------------------------------------------

    def start_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        keep = self.config.keep_records
        if keep is not None and len(self.deliveries) >= self._trim_at:
            # The newest ``keep`` stay, and every older one still in play; trimmed again
            # only once the list has doubled, however many are in play.
            older, newer = self.deliveries[:-keep], self.deliveries[-keep:]
            self.deliveries = [d for d in older if not d.final] + newer
            self._trim_at = 2 * len(self.deliveries)
        self._send_or_park(delivery)

    def _pick_receiver(
        self, system_id: str | None, destination: str, prefer: int | None = None
    ) -> Receiver | None:
        """``prefer`` (the bind a receipt's submit came on) if it can take it, else a bind
        whose address range matches ``destination``, else any that can."""
        if prefer is not None:
            s = self._receivers.get(prefer)
            if s is not None and _can_receive(s, system_id):
                return s
        candidates = [s for s in self._receivers.values() if _can_receive(s, system_id)]
        if system_id is None:
            for s in candidates:
                if s.profile.address_range and re.fullmatch(s.profile.address_range, destination):
                    return s
        return candidates[0] if candidates else None

    def _send_or_park(self, d: Delivery) -> None:
        s = self._pick_receiver(d.system_id, str(d.fields["destination_addr"]), d.prefer_session)
        if s is None:
            d.state = DeliveryState.PENDING
            self._pending.append(d)
            return
        seq = s.next_sequence()
        extra = d.extra_tlvs + (VENDOR_TLVS if s.profile.persona(F.VENDOR_TLVS) else ())
        raw = pdu.encode("deliver_sm", sequence=seq, extra_tlvs=extra, **d.fields)
        attempt = DeliveryAttempt(seq, s.id, s.system_id or "")
        d.attempts.append(attempt)
        d.state = DeliveryState.IN_FLIGHT
        s.inflight[seq] = (d, attempt)
        s.send(raw)
        self._timeouts.add(self.config.deliver_response_timeout, (s, seq, attempt))

    def pump_pending(self) -> None:
        pending, self._pending = self._pending, []
        for delivery in pending:
            self._send_or_park(delivery)

    def requeue_inflight(self, s: Receiver) -> None:
        """Park what a closing connection never answered, then send whatever can go now."""
        for delivery, attempt in s.inflight.values():
            attempt.outcome = "connection_lost"
            delivery.state = DeliveryState.PENDING
            self._pending.append(delivery)
        s.inflight.clear()
        self.pump_pending()

    def on_delivery_resp(self, s: Receiver, p: pdu.DecodedPdu) -> None:
        entry = s.inflight.pop(p.sequence, None)
        if entry is None:
            logger.debug("connection %d: %s for unknown seq %d", s.id, p.command, p.sequence)
            return
        delivery, attempt = entry
        attempt.status, attempt.outcome = p.status, "answered"
        if p.status == consts.SMPP_ESME_ROK:
            delivery.state = DeliveryState.ACKNOWLEDGED
        elif p.status in self.config.retry_statuses:
            self._retry_or_fail(delivery)
        else:
            delivery.state = DeliveryState.FAILED

    def _retry_or_fail(self, d: Delivery) -> None:
        tried = sum(1 for a in d.attempts if a.outcome in ("answered", "timeout"))
        if tried >= self.config.deliver_max_attempts:
            d.state = DeliveryState.FAILED
            return
        d.state = DeliveryState.RETRY_WAIT
        self._call_later(self.config.deliver_retry_delay, partial(self._retry, d))

    def _retry(self, d: Delivery) -> None:
        with self._changing():
            if d.state is DeliveryState.RETRY_WAIT:
                self._send_or_park(d)

    def _time_out(self, sent: tuple[Receiver, int, DeliveryAttempt]) -> None:
        """A deliver_sm's response time is up: if still unanswered, try again or fail."""
        s, seq, attempt = sent
        entry = s.inflight.get(seq)
        if entry is None or entry[1] is not attempt:
            return
        del s.inflight[seq]
        attempt.outcome = "timeout"
        self._retry_or_fail(entry[0])


def _can_receive(session: Receiver, system_id: str | None) -> bool:
    """Whether an open bind can be sent deliver_sm for ``system_id`` (None: any account)."""
    return (
        session.open
        and session.bind in ("receiver", "transceiver")
        and (system_id is None or session.system_id == system_id)
    )
