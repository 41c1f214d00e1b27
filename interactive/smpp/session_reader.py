"""The reader thread of an SMPP session and what it does with each PDU it receives.

:class:`Dispatcher` frames the byte stream, decodes each PDU, settles the request a response
belongs to (by sequence number; generic_nack rules in :mod:`interactive.smpp.session`),
answers the SMSC's enquire_link and unbind, hands deliver_sm/data_sm to the deliver callback,
and answers anything else with generic_nack. It runs on the reader thread only; it takes the
session's lock (``changing``) to touch shared state and never calls back into the caller
under it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from smpplib import consts

from interactive.logs import mask_msisdn
from interactive.smpp import pdu
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import InboundMessage, Responder, SubmitResult
from interactive.smpp.session_state import Outbox
from interactive.smpp.transport import Link, PduFramer

logger = logging.getLogger(__name__)

#: Seconds the reader waits for bytes before looking at ``link.dead`` again.
READ_WAIT = 1.0
#: Requests of the SMSC that need no answer from us.
_IGNORED = frozenset({"alert_notification", "outbind"})


class Dispatcher:
    """Handles the PDUs of one session (see module doc). Dependencies are the session's."""

    def __init__(
        self,
        label: str,
        connection: SmppConnection,
        outbox: Outbox,
        changing: Callable[[], AbstractContextManager[None]],
        emit: Callable[[list[SubmitResult]], None],
        deliver: Callable[[InboundMessage, Responder], int | None],
        send_nack: Callable[[Link, int, int], None],
        mark_dead: Callable[[Link, str], None],
        link_failed: Callable[[Link, str], None],
    ) -> None:
        self.label = label
        self.connection = connection
        self._outbox = outbox
        self._changing = changing
        self._emit = emit
        self._deliver = deliver
        self._send_nack = send_nack
        self._mark_dead = mark_dead  # with the lock held
        self._link_failed = link_failed  # takes the lock

    def read_loop(self, link: Link) -> None:
        """The reader thread of one connection: until end of stream, an error, or ``dead``."""
        framer = PduFramer()
        reason = "connection closed by the SMSC"
        try:
            while not link.dead:
                data = link.transport.receive(READ_WAIT)
                if data is None:
                    continue
                if not data:
                    reason += " mid-PDU" if framer.partial else ""
                    break
                for raw in framer.feed(data):
                    link.last_rx = time.monotonic()
                    self.handle(link, raw)
        except pdu.CommandLengthError as exc:
            reason = f"{exc}: framing lost"
            self._send_nack(link, exc.status, 0)
        except (OSError, ValueError) as exc:
            reason = f"read failed: {exc}"
        except Exception:
            logger.exception("smpp %s: reader failed", self.label)
            reason = "reader failed"
        finally:
            self._link_failed(link, reason)

    def handle(self, link: Link, raw: bytes) -> None:
        """Process one framed PDU; any error costs this PDU only."""
        try:
            decoded = pdu.decode(raw)
        except pdu.UnknownCommandIdError as exc:
            logger.warning("smpp %s: %s", self.label, exc)
            self._send_nack(link, exc.status, exc.sequence)
            return
        except Exception as exc:
            self._on_malformed(link, raw, exc)
            return
        try:
            self._process(link, decoded)
        except Exception:  # a surprise in handling costs this PDU, not the connection
            logger.exception("smpp %s: failed to handle %s", self.label, decoded.command)
            if not decoded.header.is_response:
                self._send_nack(link, consts.SMPP_ESME_RSYSERR, decoded.sequence)

    def _process(self, link: Link, decoded: pdu.DecodedPdu) -> None:
        if decoded.command == "generic_nack":
            self._on_generic_nack(decoded)
        elif decoded.header.is_response:
            message_id = decoded.text("message_id") if "message_id" in decoded.pdu.params else ""
            self._settle(decoded.sequence, decoded.status, message_id or None)
        else:
            self._on_request(link, decoded)

    # -- responses -----------------------------------------------------------------------------
    def _on_malformed(self, link: Link, raw: bytes, exc: Exception) -> None:
        header = pdu.parse_header(raw)
        logger.warning("smpp %s: malformed %s: %s", self.label, header.command, exc)
        if header.is_response:
            # The header still says which request it answers and how it went.
            self._settle(header.sequence, header.status, None)
            return
        status = exc.status if isinstance(exc, pdu.PduError) else consts.SMPP_ESME_RSYSERR
        self._send_nack(link, status, header.sequence)

    def _settle(self, sequence: int, status: int, message_id: str | None) -> None:
        result: SubmitResult | None = None
        window = self._outbox.window
        with self._changing():
            request, late = window.pop(sequence), False
            if request is None:
                request = window.pop_retired(sequence)
                late = request is not None
            if request is None:
                logger.info("smpp %s: response for unknown seq %d ignored", self.label, sequence)
                return
            if request.kind != "submit":
                request.status, request.done = status, True
                return
            if late and request.item is not None:
                self._outbox.withdraw(request.item)
            now = time.monotonic()
            result = self._outbox.on_response(request, status, message_id, now, late=late)
        self._emit([result] if result else [])

    def _on_generic_nack(self, nack: pdu.DecodedPdu) -> None:
        result: SubmitResult | None = None
        window = self._outbox.window
        with self._changing():
            self._outbox.stats.count("generic_nacks_received")
            request = window.pop(nack.sequence) if nack.sequence else None
            late = guessed = False
            if request is None and nack.sequence:
                request = window.pop_retired(nack.sequence)
                late = request is not None
            if request is None:
                request = window.oldest_submit()
                if request is not None:
                    window.pop(request.sequence)
                    guessed = True
            logger.info(
                "smpp %s: generic_nack 0x%02x seq %d → %s",
                self.label,
                nack.status,
                nack.sequence,
                "nothing outstanding" if request is None else f"{request.kind} {request.sequence}",
            )
            if request is None:
                return
            if request.kind != "submit":
                request.status = nack.status or consts.SMPP_ESME_RUNKNOWNERR
                request.done = True
                return
            now = time.monotonic()
            result = self._outbox.on_nack(request, nack.status, now, guessed=guessed, late=late)
        self._emit([result] if result else [])

    # -- requests from the SMSC ------------------------------------------------------------------
    def _on_request(self, link: Link, p: pdu.DecodedPdu) -> None:
        if p.command == "enquire_link":
            with self._changing():
                self._outbox.stats.count("enquire_links_received")
            link.send(pdu.encode("enquire_link_resp", sequence=p.sequence))
        elif p.command == "unbind":
            link.send(pdu.encode("unbind_resp", sequence=p.sequence))
            with self._changing():
                self._outbox.stats.count("unbinds_received")
                self._mark_dead(link, "unbind from the SMSC")
        elif p.command in ("deliver_sm", "data_sm"):
            self._on_inbound(link, p)
        elif p.command in _IGNORED:
            logger.info("smpp %s: %s ignored", self.label, p.command)
        else:
            self._send_nack(link, consts.SMPP_ESME_RINVCMDID, p.sequence)

    def _on_inbound(self, link: Link, p: pdu.DecodedPdu) -> None:
        message = InboundMessage.from_pdu(self.connection.name, p, self.connection.dcs0_alphabet)
        with self._changing():
            self._outbox.stats.count(p.command)
            if message.is_receipt:
                self._outbox.stats.count("receipts")
        if logger.isEnabledFor(logging.DEBUG):  # masking a number costs a hash
            logger.debug(
                "smpp %s: %s seq %d from %s%s",
                self.label,
                p.command,
                p.sequence,
                mask_msisdn(message.source),
                " (receipt)" if message.is_receipt else "",
            )
        responder = Responder(link, p.command, p.sequence)
        status = self._deliver(message, responder)
        if status is not None and not responder.respond(status):
            logger.info(
                "smpp %s: %s seq %d: response not sent (answered already or connection gone)",
                self.label,
                p.command,
                p.sequence,
            )
