"""The gateway's group commit: submit results, receipts and MOs stored in one transaction
every few milliseconds, and only then acknowledged (deliver_sm_resp, stream entries).

If the transaction fails, every deliver_sm of the batch is answered with the connection's
``store_failure_status`` (the SMSC retries it) and the submit results are kept for the next
attempt: nothing is acknowledged that is not stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from smpplib import consts

from interactive.db import db
from interactive.keywords import service as inbound_service
from interactive.keywords.models import InboundMessage, InboundPart
from interactive.outbound import delivery
from interactive.outbound import service as outbound
from interactive.outbound.decoding import parse_udh
from interactive.outbound.models import PartState
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import InboundMessage as Pdu
from interactive.smpp.messages import Responder, SubmitResult, SubmitStatus, acknowledge
from interactive.smpp.reassembly import (
    AssembledMessage,
    MoPart,
    Reassembler,
    mo_part_from_pdu_fields,
)
from interactive.smpp.receipts import id_forms, is_receipt, parse_receipt

log = logging.getLogger(__name__)

RESULT_STATES = {
    SubmitStatus.ACCEPTED: PartState.ACCEPTED,
    SubmitStatus.REJECTED: PartState.REJECTED,
    SubmitStatus.UNKNOWN: PartState.UNKNOWN,
    # Never taken by the SMSC: the part goes back to the queue.
    SubmitStatus.TEMPORARY: PartState.QUEUED,
    SubmitStatus.NOT_SENT: PartState.QUEUED,
}


@dataclass
class Batch:
    """What one group commit stores."""

    results: list[SubmitResult] = field(default_factory=list)
    delivers: list[tuple[Pdu, Responder]] = field(default_factory=list)
    # Messages whose parts go back to the queue when their outcome is unknown
    # (informational traffic on a connection with ``resend_unknown_informational``).
    resend_unknown: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.results or self.delivers)


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
        """One transaction for the batch; raises if it could not be committed."""
        stored = Stored()
        with self.app.app_context(), db.transaction() as session:
            self._store_results(session, batch.results, stored, batch.resend_unknown)
            receipts, mos = self._split_delivers(batch.delivers)
            stored.receipts = len(receipts)
            if receipts:
                delivery.record_receipts(session, self.connection.name, receipts)
            for pdu in mos:
                self._store_mo(session, pdu, stored)
            self._store_assembled(session, self.reassembler.expire(time.monotonic()), stored)
        return stored

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
            id_forms=self.normalise(smsc_id) if smsc_id else frozenset(),
            command_status=result.command_status,
            attempts=result.attempts,
        )

    # --- receipts and MOs -------------------------------------------------------------

    def _split_delivers(
        self, delivers: list[tuple[Pdu, Responder]]
    ) -> tuple[list[delivery.ReceiptIn], list[Pdu]]:
        receipts, mos = [], []
        for pdu, _responder in delivers:
            if is_receipt(pdu.esm_class):
                receipts.append(self._receipt(pdu))
            else:
                mos.append(pdu)
        return receipts, mos

    def _receipt(self, pdu: Pdu) -> delivery.ReceiptIn:
        body = pdu.message_payload or pdu.short_message
        receipt = parse_receipt(body, pdu.tlvs, id_hint=self.hint)
        if receipt.problem:
            log.warning(
                "smpp %s: receipt read with problems: %s", self.connection.name, receipt.problem
            )
        return delivery.ReceiptIn(
            smsc_id=receipt.message_id or "",
            id_forms=receipt.id_forms,
            state=receipt.state.value,
            error_code=receipt.error_code,
            raw=body.decode("latin-1"),
            received_at=pdu.received_at,
        )

    def _store_mo(self, session: Any, pdu: Pdu, stored: Stored) -> None:
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
        now = pdu.received_at
        if _is_concatenated(part):
            if inbound_service.seen_recently(session, InboundPart, [key], now):
                return  # a retransmission of a part we stored
            row = InboundPart(
                connection=self.connection.name,
                source=part.source_addr,
                destination=part.destination_addr,
                esm_class=part.esm_class,
                data_coding=part.data_coding,
                short_message=part.short_message,
                message_payload=part.message_payload,
                sar=",".join(map(str, part.sar)) if part.sar else None,
                dedup_key=key,
                received_at=now,
            )
            session.add(row)
            session.flush()
            part = replace(part, caller_id=row.id)
            assembled = self.reassembler.add(part, time.monotonic())
            self.reassembler.take_duplicates()
            if assembled is not None:
                self._store_assembled(session, [assembled], stored)
            return
        if inbound_service.seen_recently(session, InboundMessage, [key], now):
            return  # retransmitted after a lost deliver_sm_resp: one message, one effect
        assembled = self.reassembler.add(part, time.monotonic())
        if assembled is not None:
            self._store_assembled(session, [assembled], stored, dedup=key, received_at=now)

    def _store_assembled(
        self,
        session: Any,
        messages: list[AssembledMessage],
        stored: Stored,
        *,
        dedup: str | None = None,
        received_at: datetime | None = None,
    ) -> None:
        for assembled in messages:
            message = InboundMessage(
                connection=self.connection.name,
                source=assembled.source_addr,
                destination=assembled.destination_addr,
                text=assembled.text,
                raw=assembled.raw,
                data_coding=assembled.data_coding,
                parts_count=max(assembled.total, 1),
                partial=assembled.partial,
                replaced=assembled.replaced,
                dedup_key=dedup or _assembled_key(self.connection.name, assembled),
                received_at=received_at or datetime.now(UTC),
            )
            session.add(message)
            session.flush()
            inbound_service.link_parts(session, message, _int_ids(assembled.caller_ids))
            stored.inbound_ids.append(message.id)
            stored.mos += 1

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
