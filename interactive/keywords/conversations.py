"""Open conversations: a survey session or booking dialogue that expects the next message.

Surveys and bookings register a provider; the router asks each, in registration order,
whether this sender has an open conversation on this short code, after opt-out, opt-in
and help had their say and before keyword rules. An opt-out ends every open
conversation of the sender on that short code.

Asking a provider about every message costs a query or more per message. A provider may
therefore also answer, for a whole routing batch at once, which messages it may take
(``candidates``, optional): it is then asked only about those, and about a sender already
seen earlier in the batch (whose earlier message may have opened a conversation, on any
short code). Providers without ``candidates`` are asked about every message.

Most of what a provider looks up for ``candidates`` is which of the batch's senders it is
in touch with on which short code. A provider that names that query (``InTouch``) has it
run together with the other providers' in one statement, which the router runs together
with its own look-up of what the messages reply to: no round trip of their own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from interactive.keywords.handlers import Inbound


class Conversation(Protocol):
    #: Shown in the decision's reason ("survey", "booking").
    name: str

    def take(self, inbound: Inbound) -> str | None:
        """Handle the message if the sender has an open conversation here: return the
        reason to record, or None to let the router go on."""

    def end(self, inbound: Inbound) -> bool:
        """End the sender's open conversation here (after an opt-out); True if one was."""


@runtime_checkable
class Prefetching(Protocol):
    """A provider that can tell, for a batch, which messages it may take."""

    name: str

    def candidates(self, session: Session, inbounds: Sequence[Inbound]) -> set[int]:
        """Ids of the messages among ``inbounds`` (none decided yet) this provider's
        ``take`` may take or change anything for; a superset is fine, a message left out
        is never offered to ``take`` unless its sender wrote earlier in the batch.
        Reads only."""
        ...


@runtime_checkable
class InTouch(Protocol):
    """A provider whose candidates are mostly the messages of senders it is in touch with
    on that short code (an open session, a booking), looked up by a query of its own."""

    name: str

    def in_touch(self, dialect: str) -> sa.SelectBase:
        """The (phone, short code) pairs, in that order, this provider is in touch with
        among the numbers bound as ``phones`` (and short codes as ``codes``), with the
        parameters of ``in_touch_params``. Built once per dialect; reads only."""
        ...

    def in_touch_params(self, inbounds: Sequence[Inbound]) -> dict[str, Any]:
        """The query's own parameters for this batch (named apart from other providers')."""
        ...

    def more_candidates(
        self, session: Session, inbounds: Sequence[Inbound], in_touch: set[int]
    ) -> set[int]:
        """Messages it may also take, beyond those of senders it is in touch with
        (``in_touch``: their ids). Reads only."""
        ...


PROVIDERS: list[Conversation] = []


def register(provider: Conversation) -> None:
    if all(p.name != provider.name for p in PROVIDERS):
        PROVIDERS.append(provider)


@dataclass
class Batch:
    """Which providers to ask about which messages of one routing batch."""

    #: provider name → ids of the messages it may take (providers that cannot tell are
    #: missing: they are asked about every message).
    candidates: dict[str, set[int]] = field(default_factory=dict)
    #: Senders whose messages were decided earlier in the batch.
    seen: set[str] = field(default_factory=set)

    def asks(self, provider: Conversation, inbound: Inbound) -> bool:
        wanted = self.candidates.get(provider.name)
        return wanted is None or inbound.message.id in wanted or inbound.phone in self.seen

    def decided(self, inbound: Inbound) -> None:
        """The message is decided: the sender's next messages in the batch are asked
        about (its effects may have opened a conversation)."""
        self.seen.add(inbound.phone)


def in_touch_providers() -> tuple[InTouch, ...]:
    """The registered providers that name their in-touch query (``InTouch``), in
    registration order."""
    return _kinds(tuple(PROVIDERS))[0]


@functools.lru_cache(maxsize=16)
def _kinds(
    providers: tuple[Conversation, ...],
) -> tuple[tuple[InTouch, ...], tuple[Prefetching, ...]]:
    """The providers that answer a batch by their in-touch query, and those that answer
    by ``candidates``, checked once: a runtime protocol check costs a router tens of
    microseconds each time."""
    in_touch = tuple(p for p in providers if isinstance(p, InTouch))
    prefetching = tuple(
        p for p in providers if isinstance(p, Prefetching) and not isinstance(p, InTouch)
    )
    return in_touch, prefetching


def prefetch(
    session: Session, inbounds: Sequence[Inbound], in_touch: dict[str, set[tuple[str, str]]]
) -> Batch:
    """Ask the providers that can tell which messages of the batch they may take.
    ``in_touch``: provider name → the (phone, short code) pairs of the batch's senders it
    is in touch with, from ``in_touch_query`` (run by the router with its own look-ups)."""
    batch = Batch()
    if not inbounds:
        return batch
    touching, prefetching = _kinds(tuple(PROVIDERS))
    for provider in touching:
        mine = in_touch.get(provider.name, set())
        found = {i.message.id for i in inbounds if (i.phone, i.short_code.code) in mine}
        batch.candidates[provider.name] = found | provider.more_candidates(session, inbounds, found)
    for other in prefetching:
        batch.candidates[other.name] = other.candidates(session, inbounds)
    return batch


def in_touch_params(providers: Sequence[InTouch], inbounds: Sequence[Inbound]) -> dict[str, Any]:
    """The parameters of ``in_touch_query`` for this batch."""
    params: dict[str, Any] = {
        "phones": sorted({i.phone for i in inbounds}),
        "codes": sorted({i.short_code.code for i in inbounds}),
    }
    for provider in providers:
        params.update(provider.in_touch_params(inbounds))
    return params


@functools.lru_cache(maxsize=16)
def in_touch_query(dialect: str, providers: tuple[InTouch, ...]) -> sa.CompoundSelect:
    """(provider name, phone, short code) of every provider's in-touch query."""
    parts = []
    for provider in providers:
        pairs = provider.in_touch(dialect).subquery()
        phone, code = pairs.c
        parts.append(
            sa.select(
                sa.literal(provider.name).label("provider"),
                phone.label("phone"),
                code.label("short_code"),
            )
        )
    return sa.union_all(*parts)


def take(inbound: Inbound, batch: Batch | None = None) -> tuple[str, str] | None:
    """(provider name, reason) of the conversation that took the message, if one did.
    With ``batch``, only providers that may take it are asked."""
    for provider in PROVIDERS:
        if batch is not None and not batch.asks(provider, inbound):
            continue
        reason = provider.take(inbound)
        if reason is not None:
            return provider.name, reason
    return None


def end_all(inbound: Inbound) -> list[str]:
    return [p.name for p in PROVIDERS if p.end(inbound)]
