"""Translated names of the campaign enums and keys, for pages, JSON answers and exports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from interactive.outbound.encoding import Hint
from interactive.outbound.models import (
    CampaignState,
    Goal,
    PartState,
    RecipientReason,
    RecipientStatus,
    Recurrence,
    Traffic,
)

STATES = {
    CampaignState.DRAFT: _l("Draft"),
    CampaignState.SCHEDULED: _l("Scheduled"),
    CampaignState.SENDING: _l("Sending"),
    CampaignState.PAUSED: _l("Paused"),
    CampaignState.COMPLETED: _l("Completed"),
    CampaignState.CANCELLED: _l("Cancelled"),
}

TRAFFIC = {
    Traffic.COMMERCIAL: _l("Commercial"),
    Traffic.INFORMATIONAL: _l("Informational"),
    Traffic.TRANSACTIONAL: _l("Transactional"),
}

GOALS = {
    Goal.CLICKS: _l("Clicks"),
    Goal.CONVERSION: _l("A conversion event"),
    Goal.REPLY: _l("A reply with a keyword"),
}

RECURRENCES = {
    Recurrence.NONE: _l("Once"),
    Recurrence.DAILY: _l("Daily"),
    Recurrence.WEEKLY: _l("Weekly"),
    Recurrence.MONTHLY: _l("Monthly"),
}

RECIPIENT_STATUSES = {
    RecipientStatus.QUEUED: _l("Message created"),
    RecipientStatus.SKIPPED: _l("Skipped"),
    RecipientStatus.DEFERRED: _l("Deferred"),
    RecipientStatus.HELD_OUT: _l("Held out"),
    RecipientStatus.CANCELLED: _l("Cancelled"),
}

#: The eligibility reasons share these keys (``contacts.eligibility.Reason``).
REASONS = {
    RecipientReason.NO_CONSENT: _l("No consent"),
    RecipientReason.CONSENT_REVOKED: _l("Consent withdrawn (RET)"),
    RecipientReason.OPTED_OUT: _l("Opted out"),
    RecipientReason.BLOCKED: _l("Blocked"),
    RecipientReason.FAILING: _l("Number failing permanently"),
    RecipientReason.ERASED: _l("Erased"),
    RecipientReason.FREQUENCY_CAP: _l("Frequency cap reached"),
    RecipientReason.QUIET_HOURS: _l("Deferred by quiet hours"),
    RecipientReason.SEND_WINDOW: _l("Waiting for the send window"),
    RecipientReason.INVALID_NUMBER: _l("Invalid number"),
    RecipientReason.HOLDOUT: _l("Hold-out (control group)"),
    RecipientReason.TEMPLATE_ERROR: _l("Template error"),
    RecipientReason.CANCELLED: _l("Campaign cancelled"),
}

MESSAGE_STATES = {
    PartState.QUEUED: _l("queued"),
    PartState.SUBMITTING: _l("submitting"),
    PartState.ACCEPTED: _l("sent"),
    PartState.REJECTED: _l("rejected"),
    PartState.UNKNOWN: _l("unknown"),
    PartState.SUPPRESSED: _l("suppressed"),
    PartState.DELIVERED: _l("delivered"),
    PartState.UNDELIVERABLE: _l("undeliverable"),
    PartState.EXPIRED: _l("expired"),
    PartState.DELETED: _l("deleted"),
    PartState.FAILED: _l("failed"),
    PartState.CANCELLED: _l("cancelled"),
}

HINTS = {
    Hint.SMART_QUOTE: _l("smart quote"),
    Hint.NON_BREAKING_SPACE: _l("non-breaking space"),
    Hint.SPACE: _l("unusual space"),
    Hint.INVISIBLE: _l("invisible character"),
    Hint.DASH: _l("long dash"),
    Hint.ELLIPSIS: _l("ellipsis"),
    Hint.TURKISH_LIRA: _l("Turkish lira sign"),
    Hint.TURKISH_LETTER: _l("Turkish letter"),
    Hint.ACCENTED_LETTER: _l("accented letter"),
    Hint.EMOJI: _l("emoji"),
    Hint.COMBINING_MARK: _l("combining mark"),
    Hint.CONTROL: _l("control character"),
    Hint.OTHER: _l("not in the GSM alphabet"),
}

ENCODINGS = {
    "GSM7": _l("GSM 7-bit"),
    "GSM7+TR_SHIFT": _l("GSM 7-bit with the Turkish table"),
    "UCS2": _l("UCS-2 (Unicode)"),
}


def label(table: Mapping[Any, Any], key: object) -> str:
    """The translated name of ``key`` (an enum member or its value) in ``table``, or the
    key itself; "" for None."""
    if key is None:
        return ""
    return str(table.get(key, key))
