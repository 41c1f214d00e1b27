"""Open conversations: a survey session or booking dialogue that expects the next message.

Surveys and bookings register a provider; the router asks each, in registration order,
whether this sender has an open conversation on this short code, after opt-out, opt-in
and help had their say and before keyword rules. An opt-out ends every open
conversation of the sender on that short code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

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


PROVIDERS: list[Conversation] = []


def register(provider: Conversation) -> None:
    if all(p.name != provider.name for p in PROVIDERS):
        PROVIDERS.append(provider)


def take(inbound: Inbound) -> tuple[str, str] | None:
    """(provider name, reason) of the conversation that took the message, if one did."""
    for provider in PROVIDERS:
        reason = provider.take(inbound)
        if reason is not None:
            return provider.name, reason
    return None


def end_all(inbound: Inbound) -> list[str]:
    return [p.name for p in PROVIDERS if p.end(inbound)]
