"""The gateway's group commits, and only then the acknowledgements (deliver_sm_resp,
stream entries). Two lanes, each in its own thread and transactions: MOs (``store_mos``),
so that a customer's message is never held behind a batch of receipts, and submit results
with receipts (``store``), every few milliseconds.

If a transaction fails, every deliver_sm of its batch is answered with the connection's
``store_failure_status`` (the SMSC retries it) and the submit results are kept for the next
attempt: nothing is acknowledged that is not stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from smpplib import consts

from interactive.db import analyse_grown, db
from interactive.keywords import service as inbound_service
from interactive.keywords.models import InboundMessage, InboundPart
from interactive.keywords.service import RETRANSMIT_WINDOW
from interactive.outbound import delivery
from interactive.outbound import service as outbound
from interactive.outbound.decoding import parse_udh
from interactive.outbound.models import DeliveryReceipt, PartState, SmscId
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import InboundMessage as Pdu
from interactive.smpp.messages import Responder, SubmitResult, SubmitStatus, acknowledge
from interactive.smpp.reassembly import (
    AssembledMessage,
    MoPart,
    Reassembler,
    mo_part_from_pdu_fields,
)
from interactive.smpp.receipts import IdHint, id_forms, id_key, is_receipt, parse_receipt

log = logging.getLogger(__name__)

# How often the store thread checks whether the tables it fills have outgrown their
# statistics (one catalogue query).
ANALYSE_EVERY_S = 10.0
FILLED_TABLES = (SmscId.__tablename__, DeliveryReceipt.__tablename__)

RESULT_STATES = {
    SubmitStatus.ACCEPTED: PartState.ACCEPTED,
    SubmitStatus.REJECTED: PartState.REJECTED,
    SubmitStatus.UNKNOWN: PartState.UNKNOWN,
    # Never taken by the SMSC: the part goes back to the queue.
    SubmitStatus.TEMPORARY: PartState.QUEUED,
    SubmitStatus.NOT_SENT: PartState.QUEUED,
}


@dataclass(frozen=True)
class _Incoming:
    """One MO deliver_sm of a batch, read once."""

    part: MoPart
    key: str
    received_at: datetime
    concatenated: bool


#: A message to store: the assembled text, its dedup key (None: derive it from the joined
#: parts) and when it was received.
_ToStore = tuple[AssembledMessage, str | None, datetime]


@dataclass
class Batch:
    """What one group commit stores: submit results and receipts, or MOs."""

    results: list[SubmitResult] = field(default_factory=list)
    delivers: list[tuple[Pdu, Responder]] = field(default_factory=list)
    # Messages whose parts go back to the queue when their outcome is unknown
    # (informational traffic on a connection with ``resend_unknown_informational``).
    resend_unknown: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.results or self.delivers)


def is_mo(pdu: Pdu) -> bool:
    """A deliver_sm that carries a customer's message (not a delivery receipt)."""
    return not is_receipt(pdu.esm_class)


@dataclass
class Stored:
    """What the commit made durable, for the side effects that follow it."""

    message_ids: set[int] = field(default_factory=set)  # messages with results
    requeued: list[int] = field(default_factory=list)  # to publish again, later
    inbound_ids: list[int] = field(default_factory=list)  # for the router
    receipts: int = 0
    mos: int = 0


class GatewayStore:
    """Stores batches for one connection. Called from the gateway's store thread only."""

    def __init__(self, app: Flask, connection: SmppConnection) -> None:
        self.app = app
        self.connection = connection
        self.reassembler = Reassembler(timeout=connection.mo_reassembly_timeout)
        self.hint = connection.dlr_id_format
        self._autocommit_engine: sa.Engine | None = None
        self._analysed_at = time.monotonic()

    def normalise(self, smsc_id: str) -> frozenset[str]:
        return id_forms(smsc_id, self.hint)

    def recover(self) -> int:
        """Rebuild open concatenation groups from stored parts after a restart."""
        since = datetime.now(UTC) - timedelta(hours=1)
        with self.app.app_context(), db.transaction() as session:
            parts = inbound_service.open_parts(session, self.connection.name, since)
            now = time.monotonic()
            for row in parts:
                self.reassembler.add(self._mo_part(row), now)
            return len(parts)

    def store(self, batch: Batch) -> Stored:
        """Submit results and receipts in one transaction; raises if it could not be
        committed. MOs go through ``store_mos``."""
        stored = Stored()
        with self.app.app_context(), db.transaction() as session:
            self._store_results(session, batch.results, stored, batch.resend_unknown)
            receipts = [self._receipt(pdu) for pdu, _responder in batch.delivers]
            stored.receipts = len(receipts)
            if receipts:
                delivery.record_receipts(session, self.connection.name, receipts)
        return stored

    def analyse_if_due(self) -> None:
        """Every ``ANALYSE_EVERY_S``: analyse the tables the gateway fills as they grow
        (``db.analyse_grown``); its receipts are looked up by SMSC id in them."""
        now = time.monotonic()
        if now - self._analysed_at < ANALYSE_EVERY_S:
            return
        self._analysed_at = now
        with self.app.app_context():
            analysed = analyse_grown(db.engine, FILLED_TABLES)
        if analysed:
            log.info("smpp %s: analysed %s", self.connection.name, ", ".join(analysed))

    def store_mos(self, batch: Batch) -> Stored:
        """The batch's MOs, and concatenated MOs whose missing parts timed out, in one
        transaction; raises if it could not be committed. Called from one thread only
        (the reassembler is not shared).

        On PostgreSQL a batch of single-part MOs with no concatenation open is one
        statement that commits as it runs (retransmissions left out by the statement
        itself): one round trip instead of BEGIN, look-up, insert and COMMIT."""
        stored = Stored()
        with self.app.app_context():
            incoming = [self._incoming(pdu) for pdu, _responder in batch.delivers]
            autocommit = self._autocommit()
            if autocommit is not None and not self._concatenating(incoming):
                with autocommit.connect() as connection:
                    self._store_singles(connection, incoming, stored)
                return stored
            with db.transaction() as session:
                messages = self._store_mos(session, incoming)
                expired = self.reassembler.expire(time.monotonic())
                messages += [(m, None, datetime.now(UTC)) for m in expired]
                self._store_messages(session, messages, stored)
        return stored

    def _autocommit(self) -> sa.Engine | None:
        """``db.autocommit_engine()``, kept (call inside the app context)."""
        if self._autocommit_engine is None:
            self._autocommit_engine = db.autocommit_engine()
        return self._autocommit_engine

    def _concatenating(self, incoming: list[_Incoming]) -> bool:
        """Parts to join or groups still open (their timeout is checked with each batch)."""
        return bool(len(self.reassembler)) or any(item.concatenated for item in incoming)

    def _store_singles(
        self, connection: sa.Connection, incoming: list[_Incoming], stored: Stored
    ) -> None:
        first: dict[str, _Incoming] = {}
        for item in incoming:
            first.setdefault(item.key, item)  # a repeat inside the batch is a retransmission
        messages: list[_ToStore] = []
        for item in first.values():
            assembled = self.reassembler.add(item.part, time.monotonic())
            if assembled is not None:
                messages.append((assembled, item.key, item.received_at))
        ids = inbound_service.add_fresh_messages(connection, self._message_rows(messages))
        stored.inbound_ids += ids
        stored.mos += len(ids)

    def acknowledge(self, batch: Batch, ok: bool) -> None:
        status = consts.SMPP_ESME_ROK if ok else self.connection.store_failure_status
        acknowledge((responder for _pdu, responder in batch.delivers), status)

    # --- submit results ---------------------------------------------------------------

    def _store_results(
        self,
        session: Any,
        results: list[SubmitResult],
        stored: Stored,
        resend: frozenset[int] = frozenset(),
    ) -> None:
        if not results:
            return
        parts = [self._part_result(r, resend) for r in results]
        delivery.record_results(session, self.connection.name, parts, self.normalise)
        stored.message_ids = {p.message_id for p in parts}
        back = {p.message_id for p in parts if p.state == PartState.QUEUED}
        stored.requeued = outbound.requeue(session, back) if back else []

    def _part_result(self, result: SubmitResult, resend: frozenset[int]) -> delivery.PartResult:
        smsc_id = result.message_id if result.status == SubmitStatus.ACCEPTED else None
        message_id = int(result.key)  # type: ignore[call-overload]
        state = RESULT_STATES[result.status]
        if state == PartState.UNKNOWN and not result.late and message_id in resend:
            state = PartState.QUEUED
        return delivery.PartResult(
            message_id=message_id,
            seq=result.part.part_number,
            state=state,
            smsc_id=smsc_id,
            id_forms=_one_key(smsc_id, self.hint),
            command_status=result.command_status,
            attempts=result.attempts,
        )

    # --- receipts and MOs -------------------------------------------------------------

    def _receipt(self, pdu: Pdu) -> delivery.ReceiptIn:
        body = pdu.message_payload or pdu.short_message
        receipt = parse_receipt(body, pdu.tlvs, id_hint=self.hint, details=False)
        if receipt.problem:
            log.warning(
                "smpp %s: receipt read with problems: %s", self.connection.name, receipt.problem
            )
        return delivery.ReceiptIn(
            # A text column cannot hold NUL (PostgreSQL): one such receipt would fail its
            # whole batch on every retry.
            smsc_id=(receipt.message_id or "").replace("\x00", "\ufffd"),
            id_forms=receipt.id_forms,
            state=receipt.state.value,
            error_code=receipt.error_code,
            raw=body.decode("latin-1").replace("\x00", "\ufffd"),
            received_at=pdu.received_at,
        )

    def _store_mos(self, session: Any, incoming: list[_Incoming]) -> list[_ToStore]:
        """Store the batch's new parts (one INSERT), then feed every new MO to the
        reassembler in arrival order; return the messages that are now complete."""
        if not incoming:
            return []
        incoming = self._fresh(session, incoming)
        rows = [self._part_row(item) for item in incoming if item.concatenated]
        part_ids = iter(inbound_service.add_rows(session, InboundPart, rows))
        messages: list[_ToStore] = []
        for item in incoming:
            if item.concatenated:
                part = replace(item.part, caller_id=next(part_ids))
                assembled = self.reassembler.add(part, time.monotonic())
                self.reassembler.take_duplicates()
                if assembled is not None:
                    messages.append((assembled, None, datetime.now(UTC)))
                continue
            assembled = self.reassembler.add(item.part, time.monotonic())
            if assembled is not None:
                messages.append((assembled, item.key, item.received_at))
        return messages

    def _incoming(self, pdu: Pdu) -> _Incoming:
        part = mo_part_from_pdu_fields(
            source_addr=pdu.source,
            destination_addr=pdu.destination,
            esm_class=pdu.esm_class,
            data_coding=pdu.data_coding,
            short_message=pdu.short_message,
            message_payload=pdu.message_payload,
            tlvs=pdu.tlvs,
            bind=self.connection.name,
            dcs0=self.connection.dcs0_alphabet,
        )
        key = inbound_service.dedup_key(
            self.connection.name,
            part.source_addr,
            part.destination_addr,
            bytes((part.esm_class, part.data_coding)),
            part.short_message,
            part.message_payload or b"",
            repr(part.sar).encode(),
        )
        return _Incoming(part, key, pdu.received_at, _is_concatenated(part))

    def _fresh(self, session: Any, items: list[_Incoming]) -> list[_Incoming]:
        """Drop retransmissions (sent again after a lost deliver_sm_resp: one message, one
        effect): a key stored within the retransmit window, or seen earlier in this batch.
        One query per table for the whole batch."""
        last: dict[tuple[bool, str], datetime] = {}
        for concatenated, model in ((True, InboundPart), (False, InboundMessage)):
            group = [item for item in items if item.concatenated is concatenated]
            if not group:
                continue
            since = min(item.received_at for item in group) - RETRANSMIT_WINDOW
            found = inbound_service.last_received(session, model, (i.key for i in group), since)
            last.update(((concatenated, key), at) for key, at in found.items())
        fresh = []
        for item in items:
            ident = (item.concatenated, item.key)
            previous = last.get(ident)
            if previous is not None and previous >= item.received_at - RETRANSMIT_WINDOW:
                continue
            last[ident] = item.received_at
            fresh.append(item)
        return fresh

    def _part_row(self, item: _Incoming) -> dict[str, Any]:
        part = item.part
        return {
            "connection": self.connection.name,
            "source": part.source_addr,
            "destination": part.destination_addr,
            "esm_class": part.esm_class,
            "data_coding": part.data_coding,
            "short_message": part.short_message,
            "message_payload": part.message_payload,
            "sar": ",".join(map(str, part.sar)) if part.sar else None,
            "dedup_key": item.key,
            "received_at": item.received_at,
        }

    def _store_messages(self, session: Any, messages: list[_ToStore], stored: Stored) -> None:
        """One INSERT for the messages, one UPDATE linking their stored parts."""
        if not messages:
            return
        ids = inbound_service.add_rows(session, InboundMessage, self._message_rows(messages))
        links = {
            part_id: message_id
            for (assembled, _dedup, _at), message_id in zip(messages, ids, strict=True)
            for part_id in _int_ids(assembled.caller_ids)
        }
        inbound_service.link_parts(session, links)
        stored.inbound_ids += ids
        stored.mos += len(ids)

    def _message_rows(self, messages: list[_ToStore]) -> list[dict[str, Any]]:
        return [
            {
                "connection": self.connection.name,
                "source": assembled.source_addr,
                "destination": assembled.destination_addr,
                "text": assembled.text,
                "raw": assembled.raw,
                "data_coding": assembled.data_coding,
                "parts_count": max(assembled.total, 1),
                "partial": assembled.partial,
                "replaced": assembled.replaced,
                "dedup_key": dedup or _assembled_key(self.connection.name, assembled),
                "received_at": received_at,
            }
            for assembled, dedup, received_at in messages
        ]

    def _mo_part(self, row: InboundPart) -> MoPart:
        sar = tuple(int(v) for v in row.sar.split(",")) if row.sar else None
        return MoPart(
            source_addr=row.source,
            destination_addr=row.destination,
            esm_class=row.esm_class,
            data_coding=row.data_coding,
            short_message=row.short_message,
            message_payload=row.message_payload,
            sar=sar,  # type: ignore[arg-type]
            bind=self.connection.name,
            caller_id=row.id,
            dcs0=self.connection.dcs0_alphabet,
        )


def _one_key(smsc_id: str | None, hint: IdHint) -> frozenset[str]:
    key = id_key(smsc_id, hint) if smsc_id else None
    return frozenset({key}) if key else frozenset()


def _is_concatenated(part: MoPart) -> bool:
    if part.sar is not None and part.sar[1] > 1:
        return True
    if not part.esm_class & 0x40 or not part.body:
        return False
    concat = parse_udh(part.body).concat
    return concat is not None and concat.total > 1


def _assembled_key(connection: str, message: AssembledMessage) -> str:
    return inbound_service.dedup_key(
        connection, message.source_addr, message.destination_addr, message.raw
    )


def _int_ids(values: tuple[object, ...]) -> list[int]:
    return [v for v in values if isinstance(v, int)]
