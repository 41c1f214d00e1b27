"""The gateway's claim: message ids from the outbound stream → parts to submit.

The parts are marked SUBMITTING and committed before anything is written to the SMSC (a
gateway killed after that leaves them SUBMITTING, and the next start makes them UNKNOWN:
never submitted twice). Suppression is checked right after, for the batch at once: an
opt-out committed before this moment stops the submit. On PostgreSQL the claim is one
statement on a connection that commits each statement as it runs, so a batch of replies
costs three round trips (stream read, claim, suppression check); the few messages that
need more writes (suppressed, unsendable, sent in another number of parts than stored)
get one transaction after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.db import db
from interactive.outbound import service as outbound
from interactive.outbound.models import Traffic
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitPart
from interactive.smpp.parts import build_submit_parts, relative_validity

MAX_VALIDITY_S = 99 * 86400 - 1  # SMPP relative time holds at most 99 days

#: A claimed message that needs one more write: its parts, or why it cannot be sent.
_FollowUp = tuple[outbound.Claimed, list[SubmitPart] | str]


@dataclass
class Claim:
    """What to hand to the session, and which of those messages are informational."""

    to_send: list[SubmitPart] = field(default_factory=list)
    informational: set[int] = field(default_factory=set)


class ClaimInterrupted(Exception):
    """The claim was committed but the parts could not be prepared (suppression set or
    database unreachable): ``claimed`` are SUBMITTING and were never written."""

    def __init__(self, claimed: list[outbound.Claimed]) -> None:
        super().__init__(f"{len(claimed)} claimed message(s) not submitted")
        self.claimed = claimed


class Claimer:
    """Claims for one connection; used from the gateway's feeder thread only."""

    def __init__(
        self, app: Flask, connection: SmppConnection, client: redis.Redis, prefix: str
    ) -> None:
        self.app = app
        self.connection = connection
        self.redis = client
        self.prefix = prefix
        self._autocommit: sa.Engine | None = None

    def start(self) -> None:
        with self.app.app_context():
            self._autocommit = db.autocommit_engine()

    def claim(self, message_ids: list[int]) -> Claim:
        """Claim these messages and build their parts. Raises ClaimInterrupted (its cause
        the error) when claimed parts could not be prepared."""
        with self.app.app_context():
            with self._claiming() as session:
                claimed = outbound.take(session, message_ids)
            try:
                claimed = outbound.check_suppressed(claimed, self._suppressed)
                claim, follow_up = self._build(claimed)
                if follow_up:
                    with db.transaction() as session:
                        claim.to_send += self._follow_up(session, follow_up)
            except Exception as exc:
                raise ClaimInterrupted(claimed) from exc
        return claim

    @contextlib.contextmanager
    def _claiming(self) -> Iterator[Session]:
        """PostgreSQL: a session whose statements commit as they run (the claim is one
        statement: durable in one round trip, no BEGIN and COMMIT). Elsewhere a
        transaction."""
        if self._autocommit is None:
            with db.transaction() as session:
                yield session
            return
        with Session(self._autocommit) as session:
            yield session

    def _suppressed(self, numbers: list[str]) -> set[str]:
        # The set holds E.164 ("+90…"); a message may name the number without the "+".
        spellings = [n if n.startswith("+") else f"+{n}" for n in numbers]
        flags = self.redis.smismember(outbound.suppression_key(self.prefix), [*numbers, *spellings])
        count = len(numbers)
        return {n for i, n in enumerate(numbers) if flags[i] or flags[count + i]}

    def _build(self, claimed: list[outbound.Claimed]) -> tuple[Claim, list[_FollowUp]]:
        """The parts of the claimed messages that need no more writes; the others
        (suppressed, unsendable, or sent in another number of parts than stored) with
        their parts or the reason they cannot be sent."""
        claim = Claim()
        follow_up: list[_FollowUp] = []
        for item in claimed:
            if item.suppressed:
                follow_up.append((item, []))
                continue
            try:
                parts = self._parts(item)
            except ValueError as exc:
                follow_up.append((item, str(exc)))
                continue
            if item.traffic == Traffic.INFORMATIONAL:
                claim.informational.add(item.id)
            if len(parts) != item.parts_count:
                follow_up.append((item, parts))
            elif len(parts) == 1:
                claim.to_send += parts  # the common case
            else:
                # Only the parts claimed now (a retry resends just those the SMSC did not take).
                claim.to_send += [p for p in parts if p.part_number in item.seqs]
        return claim, follow_up

    def _follow_up(self, session: Session, items: list[_FollowUp]) -> list[SubmitPart]:
        """Suppressed and unsendable messages recorded so; stored parts matched to those
        sent (then only the parts claimed now are sent). Flushes."""
        blocked = {item.id for item, _parts in items if item.suppressed}
        if blocked:
            outbound.suppress(session, blocked)
        to_send: list[SubmitPart] = []
        for item, parts in items:
            if isinstance(parts, str):
                outbound.fail(session, item.id, parts)
            elif not item.suppressed:
                outbound.match_parts(session, item, len(parts))
                claimed = outbound.submitting_seqs(session, item.id)
                to_send += [p for p in parts if p.part_number in claimed]
        return to_send

    def _parts(self, item: outbound.Claimed) -> list[SubmitPart]:
        """Raises ValueError for a text that cannot be sent (e.g. more than 255 parts)."""
        parts = build_submit_parts(
            item.body,
            self.connection,
            key=item.id,
            source=item.source,
            destination=item.destination,
            # The same reference on a retry: the handset joins resent parts with the rest.
            concat_ref=item.id & 0xFFFF,
        )
        if item.flash or item.validity_minutes:
            parts = [_per_message_options(p, item) for p in parts]
        return parts


def flash_data_coding(data_coding: int) -> int:
    """The same alphabet with message class 0 (shown at once, not stored by the handset):
    3GPP TS 23.038 general data coding, bit 4 = class present, bits 1..0 = class 0."""
    alphabet = 0x08 if data_coding == 0x08 else 0x00
    return 0x10 | alphabet


def _per_message_options(part: SubmitPart, item: outbound.Claimed) -> SubmitPart:
    changes: dict[str, object] = {}
    if item.flash:
        changes["data_coding"] = flash_data_coding(part.data_coding)
    if item.validity_minutes:
        seconds = min(item.validity_minutes * 60, MAX_VALIDITY_S)
        changes["validity_period"] = relative_validity(seconds)
    return dataclasses.replace(part, **changes)  # type: ignore[arg-type]
