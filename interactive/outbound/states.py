"""The delivery state machine of a part, and how a message follows its parts.

Transitions are monotonic: a state only moves to one of higher rank, so duplicates and
out-of-order events (a late ENROUTE after DELIVERED, a second submit_sm_resp) change
nothing. The one way back, SUBMITTING → QUEUED for a part the SMSC never took (throttled
away, not sent), is taken explicitly by the gateway, never by an event.
"""

from __future__ import annotations

from collections.abc import Iterable

from interactive.outbound.models import PartState as S

FINAL = frozenset(
    {
        S.REJECTED,
        S.SUPPRESSED,
        S.DELIVERED,
        S.UNDELIVERABLE,
        S.EXPIRED,
        S.DELETED,
        S.FAILED,
        S.CANCELLED,
    }
)

RANK = {
    S.QUEUED: 0,
    S.SUBMITTING: 1,
    # Outcome unknown (connection lost before the response): a late response or a
    # receipt may still tell.
    S.UNKNOWN: 2,
    S.ACCEPTED: 3,
    **{state: 4 for state in FINAL},
}

#: Receipt states (``interactive.smpp.receipts.State`` values) → part states.
RECEIPT_STATES = {
    "ENROUTE": S.ACCEPTED,
    "ACCEPTED": S.ACCEPTED,
    "DELIVERED": S.DELIVERED,
    "EXPIRED": S.EXPIRED,
    "DELETED": S.DELETED,
    "UNDELIVERABLE": S.UNDELIVERABLE,
    "REJECTED": S.REJECTED,
    "SKIPPED": S.FAILED,
}

# When parts disagree, the message shows the least advanced, then the worst outcome.
_MESSAGE_ORDER = [
    S.QUEUED,
    S.SUBMITTING,
    S.UNKNOWN,
    S.ACCEPTED,
    S.SUPPRESSED,
    S.CANCELLED,
    S.REJECTED,
    S.FAILED,
    S.UNDELIVERABLE,
    S.EXPIRED,
    S.DELETED,
    S.DELIVERED,
]


def part_advance(current: S, new: S) -> S:
    """The state after an event saying ``new``; a final state never changes."""
    if current in FINAL:
        return current
    return new if RANK[new] > RANK[current] else current


def message_state(parts: Iterable[S]) -> S:
    """A message is as far as its least advanced part; once all parts are final, it is
    DELIVERED only if every part is, otherwise the first failure among its parts."""
    states = list(parts)
    if not states:
        return S.QUEUED
    if all(state in FINAL for state in states):
        failures = [s for s in states if s != S.DELIVERED]
        if not failures:
            return S.DELIVERED
        return min(failures, key=_MESSAGE_ORDER.index)
    return min((s for s in states if s not in FINAL), key=_MESSAGE_ORDER.index)
