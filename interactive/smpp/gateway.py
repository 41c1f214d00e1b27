"""``interactive gateway run NAME``: one process owns the bind(s) of one SMSC connection.

Four kinds of threads: the SMPP session's own (see ``session``); a *feeder* that claims
message ids from the connection's outbound stream, marks them SUBMITTING (committed before
anything is written to the SMSC), re-checks suppression (``gateway_claim``), and hands the
parts to the session; a *store* thread that stores submit results and receipts in one transaction
(``gateway_store``) every 100 ms, or sooner once receipts fill half the window, and only
then acknowledges them (the deliver_sm_resp of each receipt, the stream entry of a message
whose parts all have an outcome); and an *MO* thread that stores customers' messages as
they come, puts them on the router's stream and then answers their deliver_sm. MOs have a
lane of their own because a reply is waited for: an MO is never held behind a batch of
receipts and submit results.

A stream entry is acknowledged only after its message's outcome is stored; a gateway that
dies leaves its entries pending, and the next one re-claims them (a message already past
QUEUED is not submitted twice: ``outbound.service.take`` skips it).
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TypeVar

import redis
from flask import Flask

from interactive.db import db
from interactive.keywords.service import inbound_stream
from interactive.outbound import service as outbound
from interactive.smpp.client import SmppClient
from interactive.smpp.config import SmppConnection
from interactive.smpp.gateway_claim import Claimer, ClaimInterrupted
from interactive.smpp.gateway_store import Batch, GatewayStore, Stored, is_mo
from interactive.smpp.messages import InboundMessage as Pdu
from interactive.smpp.messages import Responder, SubmitPart, SubmitResult, SubmitStatus
from interactive.streams import Entry, StreamConsumer, default_consumer_name, publish

log = logging.getLogger(__name__)

GROUP = "gateway"
STORE_BATCH = 2000
#: Submit results and receipts are stored at most this often: nobody waits for them (MOs
#: have their own lane), and fewer, larger transactions leave the CPU to the MO path…
REPORTS_EVERY_S = 0.1
#: …unless this share of the connection's window of receipts is waiting for its
#: deliver_sm_resp: an SMSC's window of unanswered deliver_sm holds MOs too.
REPORTS_WINDOW_SHARE = 0.5
RETRY_DELAY_S = 5.0
STATUS_EVERY_S = 1.0

T = TypeVar("T")


@dataclass
class _Pending:
    entry_id: str
    seqs: set[int] = field(default_factory=set)


class Gateway:
    """Runs one connection until ``stop`` is set."""

    def __init__(
        self,
        app: Flask,
        connection: SmppConnection,
        *,
        consumer: str | None = None,
        max_in_flight: int = 5000,
    ) -> None:
        self.app = app
        self.connection = connection
        self.prefix = str(app.config["REDIS_PREFIX"])
        self.redis: redis.Redis = app.extensions["interactive.redis"]
        self.stream = outbound.outbound_stream(self.prefix, connection.name)
        self.consumer = StreamConsumer(
            self.redis,
            self.stream,
            GROUP,
            name=consumer or default_consumer_name(),
            batch_size=500,
            block_ms=200,
        )
        self.store = GatewayStore(app, connection)
        self.claimer = Claimer(app, connection, self.redis, self.prefix)
        self.session = SmppClient(connection, self._on_result, self._on_deliver)
        self.events: queue.Queue[SubmitResult | tuple[Pdu, Responder]] = queue.Queue()
        self.mos: queue.Queue[tuple[Pdu, Responder]] = queue.Queue()
        self.max_in_flight = max_in_flight
        self._pending: dict[int, _Pending] = {}
        self._outstanding = 0  # parts in ``_pending``
        self._delayed: list[tuple[float, str, int]] = []  # (due, entry id, message id)
        # Informational messages in flight (their unknown outcomes may be resent).
        self._informational: set[int] = set()
        self._lock = threading.Condition()
        self._retry: Batch = Batch()
        # Receipts waiting for the store thread; ``_flush`` ends its pause early.
        self._receipts_waiting = 0
        self._receipts_limit = max(1, int(connection.window * REPORTS_WINDOW_SHARE))
        self._flush = threading.Event()

    # --- lifecycle --------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.consumer.ensure_group()
        self.claimer.start()
        with self.app.app_context(), db.transaction() as session:
            interrupted = outbound.mark_interrupted(session, self.connection.name)
        if interrupted:
            log.warning(
                "smpp %s: %d part(s) left SUBMITTING by an earlier run are now UNKNOWN",
                self.connection.name,
                interrupted,
            )
        recovered = self.store.recover()
        if recovered:
            log.info(
                "smpp %s: %d stored MO part(s) waiting for siblings",
                self.connection.name,
                recovered,
            )
        feeder_stop = threading.Event()
        store_stop = threading.Event()
        feeder = threading.Thread(target=self._feed, args=(feeder_stop,), name="gateway-feed")
        storer = threading.Thread(target=self._store_loop, args=(store_stop,), name="gateway-store")
        mo_storer = threading.Thread(target=self._mo_loop, args=(store_stop,), name="gateway-mo")
        self.session.start()
        feeder.start()
        storer.start()
        mo_storer.start()
        log.info("smpp %s: gateway started stream=%s", self.connection.name, self.stream)
        try:
            while not stop.wait(STATUS_EVERY_S):
                self._trim()
                self._publish_status()
        finally:
            feeder_stop.set()
            with self._lock:
                self._lock.notify_all()
            feeder.join()
            # Unbinds; parts never written come back NOT_SENT and return to the queue.
            self.session.stop()
            store_stop.set()
            self._flush.set()
            storer.join()
            mo_storer.join()
            self._publish_status()
            log.info("smpp %s: gateway stopped", self.connection.name)

    # --- session callbacks (session threads) ------------------------------------------

    def _on_result(self, result: SubmitResult) -> None:
        self.events.put(result)

    def _on_deliver(self, message: Pdu, responder: Responder) -> int | None:
        if is_mo(message):
            self.mos.put((message, responder))
            return None  # answered by the MO thread once stored
        self.events.put((message, responder))
        with self._lock:
            self._receipts_waiting += 1
            if self._receipts_waiting >= self._receipts_limit:
                self._flush.set()
        return None  # answered by the store thread once stored

    # --- feeder -----------------------------------------------------------------------

    def _feed(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._lock:
                while self._in_flight() >= self.max_in_flight and not stop.is_set():
                    self._lock.wait(0.5)
            try:
                entries = self.consumer.read()
            except redis.RedisError:
                log.exception("smpp %s: reading the outbound stream failed", self.connection.name)
                stop.wait(1.0)
                continue
            due = self._take_due()
            ready = [*due, *self._hold_back(entries)]
            if ready:
                try:
                    self._submit(ready)
                except Exception:
                    # Entries stay pending (re-claimed later; the claim is idempotent),
                    # and parts already claimed were handed back to the queue.
                    log.exception("smpp %s: claiming messages failed", self.connection.name)
                    stop.wait(1.0)

    def _in_flight(self) -> int:
        return self._outstanding

    def _track(self, message_id: int, entry_id: str, part_number: int) -> None:
        """A part handed to the session: outstanding until its result is stored (call
        with the lock held)."""
        pending = self._pending.setdefault(message_id, _Pending(entry_id))
        if part_number not in pending.seqs:
            pending.seqs.add(part_number)
            self._outstanding += 1

    def _hold_back(self, entries: list[Entry]) -> list[tuple[str, int]]:
        """Entries to submit now; those carrying a future ``not_before`` wait here (still
        pending in the stream, so a crash loses nothing)."""
        now = time.time()
        ready = []
        for entry in entries:
            try:
                message_id = int(entry.fields["id"])
            except (KeyError, ValueError):
                log.error("smpp %s: bad outbound entry %s dropped", self.connection.name, entry.id)
                self.consumer.ack([entry.id])
                continue
            not_before = float(entry.fields.get("not_before", 0) or 0)
            if not_before > now:
                heapq.heappush(self._delayed, (not_before, entry.id, message_id))
            else:
                ready.append((entry.id, message_id))
        return ready

    def _take_due(self) -> list[tuple[str, int]]:
        now = time.time()
        due = []
        while self._delayed and self._delayed[0][0] <= now:
            _due, entry_id, message_id = heapq.heappop(self._delayed)
            due.append((entry_id, message_id))
        return due

    def _submit(self, ready: list[tuple[str, int]]) -> None:
        entry_of = {message_id: entry_id for entry_id, message_id in ready}
        try:
            claim = self.claimer.claim(list(entry_of))
        except ClaimInterrupted as exc:
            # Committed SUBMITTING, never written to the SMSC: back to the queue, the
            # way a stopped session's unsent parts go.
            self._hand_back(exc.claimed, entry_of)
            raise
        to_send = claim.to_send
        sending = {p.key for p in to_send}
        done = [entry_of[m] for m in entry_of if m not in sending]
        with self._lock:
            self._informational |= claim.informational
            for part in to_send:
                message_id = int(part.key)  # type: ignore[call-overload]
                self._track(message_id, entry_of[message_id], part.part_number)
        if done:
            # Already handled before (a re-delivered entry), missing, or suppressed.
            self.consumer.ack(done)
        if to_send:
            self.session.submit(to_send)

    def _hand_back(self, claimed: list[outbound.Claimed], entry_of: dict[int, str]) -> None:
        """Report the claimed parts NOT_SENT: the store thread returns them to QUEUED and
        publishes them again, then acknowledges their entries."""
        results = [
            SubmitResult(
                SubmitPart(item.id, item.source, item.destination, part_number=seq),
                SubmitStatus.NOT_SENT,
                self.connection.name,
                detail="claimed, not submitted",
            )
            for item in claimed
            for seq in sorted(item.seqs)
        ]
        with self._lock:
            for result in results:
                message_id = int(result.key)  # type: ignore[call-overload]
                self._track(message_id, entry_of[message_id], result.part.part_number)
        for result in results:
            self.events.put(result)

    # --- store threads ----------------------------------------------------------------

    def _store_loop(self, stop: threading.Event) -> None:
        """Submit results and receipts: store, then acknowledge."""
        started = time.monotonic()
        while True:
            self._flush.wait(max(0.0, REPORTS_EVERY_S - (time.monotonic() - started)))
            if not stop.is_set():
                self._flush.clear()
            batch = self._collect()
            if not batch:
                if stop.is_set() and self.events.empty():
                    return
                continue
            started = time.monotonic()
            try:
                stored = self.store.store(batch)
            except Exception:
                log.exception("smpp %s: storing a batch failed", self.connection.name)
                self.store.acknowledge(batch, ok=False)
                # Submit results are facts: keep them for the next attempt.
                self._retry.results.extend(batch.results)
                stop.wait(0.5)
                continue
            self.store.acknowledge(batch, ok=True)
            self._after_commit(batch, stored)
            try:
                self.store.analyse_if_due()
            except Exception:  # statistics only: the batch is stored and answered
                log.exception("smpp %s: analysing failed", self.connection.name)

    def _mo_loop(self, stop: threading.Event) -> None:
        """MOs: store, hand to the router, then answer the SMSC."""
        while True:
            batch = Batch(delivers=_drain(self.mos))
            if not batch:
                if stop.is_set() and self.mos.empty():
                    return
                if not len(self.store.reassembler):
                    continue
                # Quiet line, MO parts waiting: a commit delivers the timed-out ones.
            try:
                stored = self.store.store_mos(batch)
            except Exception:
                log.exception("smpp %s: storing MOs failed", self.connection.name)
                self.store.acknowledge(batch, ok=False)
                stop.wait(0.5)
                continue
            self._hand_to_router(stored.inbound_ids)
            self.store.acknowledge(batch, ok=True)

    def _collect(self) -> Batch:
        batch, self._retry = self._retry, Batch()
        if self.connection.resend_unknown_informational:
            with self._lock:
                batch.resend_unknown = frozenset(self._informational)
        for item in _drain(self.events):
            if isinstance(item, SubmitResult):
                batch.results.append(item)
            else:
                batch.delivers.append(item)
        with self._lock:
            self._receipts_waiting -= len(batch.delivers)
        return batch

    def _after_commit(self, batch: Batch, stored: Stored) -> None:
        finished = self._settle(batch.results)
        requeued = set(stored.requeued)
        if requeued:
            due = time.time() + RETRY_DELAY_S
            publish(self.redis, self.stream, [{"id": m, "not_before": due} for m in requeued])
        if finished:
            self.consumer.ack(list(finished.values()))

    def _hand_to_router(self, inbound_ids: list[int]) -> None:
        """Publish stored MOs to the router before the SMSC hears they were taken.

        The rows are committed already: a Redis failure here is logged and the
        deliver_sm is still acknowledged, since a retransmission would only be
        recognised as a duplicate.
        """
        if not inbound_ids:
            return
        try:
            publish(self.redis, inbound_stream(self.prefix), [{"id": i} for i in inbound_ids])
        except Exception:
            log.exception(
                "smpp %s: handing %d MOs to the router failed",
                self.connection.name,
                len(inbound_ids),
            )

    def _settle(self, results: list[SubmitResult]) -> dict[int, str]:
        """Forget parts with an outcome; return message id → stream entry for messages
        that have none left outstanding."""
        finished: dict[int, str] = {}
        with self._lock:
            for result in results:
                message_id = int(result.key)  # type: ignore[call-overload]
                pending = self._pending.get(message_id)
                if pending is None:
                    continue
                if result.part.part_number in pending.seqs:
                    pending.seqs.discard(result.part.part_number)
                    self._outstanding -= 1
                if not pending.seqs:
                    finished[message_id] = pending.entry_id
                    del self._pending[message_id]
                    self._informational.discard(message_id)
            self._lock.notify_all()
        return finished

    # --- status for the admin page ----------------------------------------------------

    def _publish_status(self) -> None:
        binds = [dataclasses.asdict(s) for s in self.session.snapshots()]
        status = _combine(binds)
        status["binds"] = binds
        status["queue_depth"] = self._queue_depth()
        status["updated_at"] = time.time()
        try:
            self.redis.set(
                key_for_status(self.prefix, self.connection.name),
                json.dumps(status, default=str),
                ex=30,
            )
        except redis.RedisError:
            log.warning("smpp %s: status not published", self.connection.name)

    def _trim(self) -> None:
        try:
            self.consumer.trim()
        except redis.RedisError:
            log.warning("smpp %s: outbound stream not trimmed", self.connection.name)

    def _queue_depth(self) -> int:
        try:
            return int(self.redis.xlen(self.stream))
        except redis.RedisError:
            return -1


def _drain(events: queue.Queue[T]) -> list[T]:
    """Whatever arrived while the last batch was being stored (a natural group commit);
    a lone event is taken at once instead of waiting for company. Empty after 0.2 s of
    quiet."""
    try:
        items = [events.get(timeout=0.2)]
    except queue.Empty:
        return []
    while len(items) < STORE_BATCH:
        try:
            items.append(events.get_nowait())
        except queue.Empty:
            break
    return items


def _combine(binds: list[dict[str, object]]) -> dict[str, object]:
    """One line for the admin page: the worst state, summed counters (a transceiver is
    one bind; a transmitter + receiver pair two)."""
    order = ["down", "reconnecting", "connecting", "bound"]
    combined = dict(binds[0])
    combined["state"] = min((str(b["state"]) for b in binds), key=order.index)
    counters: dict[str, int] = {}
    for bind in binds:
        for name, value in dict(bind["counters"]).items():  # type: ignore[call-overload]
            counters[name] = counters.get(name, 0) + int(value)
    combined["counters"] = counters
    return combined


def key_for_status(prefix: str, connection: str) -> str:
    return f"{prefix}:gateway:status:{connection}"
