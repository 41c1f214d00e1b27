"""May we send this kind of message to this contact now, and if not, why?

One answer for every sender (campaigns, keywords, surveys, bookings, the API):

- **Commercial**: the contact's current consent for SMS and the brand is ONAY; the number
  is not suppressed; the brand's frequency cap is not reached; and it is inside the
  recipient's allowed hours (quiet hours *defer*: the verdict carries the moment to send).
- **Informational** (order notices, reminders): no consent needed, but any suppression
  stops it: an opt-out (STOP/RET) ends everything except transactional messages.
- **Transactional** (one-time codes, the answer to the customer's own request): goes even
  to a number that opted out; a number that fails permanently, is blocked by a person or
  was erased still gets nothing.

``check`` answers for many contacts in one SQL query (a million in seconds); ``may_send``
for one.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts.models import (
    Brand,
    Channel,
    ConsentState,
    ConsentStatus,
    Contact,
    Suppression,
    SuppressionReason,
)
from interactive.contacts.quiet_hours import QuietHours, QuietPolicy, next_allowed
from interactive.outbound.models import Message, Traffic


class Reason(enum.StrEnum):
    """Why a message may not go now; stable keys the UI translates."""

    ERASED = "erased"
    BLOCKED = "blocked"  # a manual block
    FAILING = "failing"  # permanently failing number
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    CONSENT_REVOKED = "consent_revoked"  # RET for this brand
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"  # deferred to ``not_before``


_SUPPRESSION_REASONS = {
    SuppressionReason.ERASED: Reason.ERASED,
    SuppressionReason.MANUAL: Reason.BLOCKED,
    SuppressionReason.FAILED: Reason.FAILING,
    SuppressionReason.OPTED_OUT: Reason.OPTED_OUT,
}
# Most serious first: the reason reported when a number has several.
_ORDER = [Reason.ERASED, Reason.BLOCKED, Reason.FAILING, Reason.OPTED_OUT]


class Verdict(NamedTuple):
    contact_id: int
    phone: str
    reason: Reason | None = None
    # With QUIET_HOURS: the first moment the message may go (UTC).
    not_before: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None

    @property
    def deferred(self) -> bool:
        return self.reason == Reason.QUIET_HOURS


def check(
    session: Session,
    contact_ids: Iterable[int] | sa.Select[Any],
    *,
    traffic: Traffic,
    brand: Brand | None,
    policy: QuietPolicy,
    at: datetime | None = None,
) -> Iterator[Verdict]:
    """A verdict per contact (in id order) for a message of ``traffic`` from ``brand``
    (required for commercial traffic) at ``at`` (default now). ``contact_ids`` is a list or
    a SELECT of ids (e.g. a segment), evaluated in the same query. Reads only."""
    at = at or datetime.now(UTC)
    if traffic == Traffic.COMMERCIAL and brand is None:
        raise ValueError("a commercial message needs a brand")
    ids = contact_ids if isinstance(contact_ids, sa.Select) else sorted(set(contact_ids))
    query = _query(ids, traffic, brand, at).execution_options(yield_per=20000)
    window = functools.lru_cache(maxsize=4096)(
        lambda tz, country: _quiet(at, tz, policy.for_country(country))
    )
    commercial = traffic == Traffic.COMMERCIAL
    # Core rows, not ORM ones: a million of them is the point.
    rows = session.connection().execute(query)
    for contact_id, phone, time_zone, country, suppressed, consent, recent in rows:
        reason = _suppression_reason(suppressed, traffic) if suppressed else None
        if reason is None and commercial:
            reason = _commercial_reason(consent, recent, brand)
        if reason is not None:
            yield Verdict(contact_id, phone, reason)
            continue
        if commercial:
            not_before = window(time_zone, country)
            if not_before is not None:
                yield Verdict(contact_id, phone, Reason.QUIET_HOURS, not_before)
                continue
        yield Verdict(contact_id, phone)


def may_send(
    session: Session,
    contact_id: int,
    *,
    traffic: Traffic,
    brand: Brand | None,
    policy: QuietPolicy,
    at: datetime | None = None,
) -> Verdict | None:
    """``check`` for one contact; None if there is no such contact."""
    return next(
        iter(check(session, [contact_id], traffic=traffic, brand=brand, policy=policy, at=at)),
        None,
    )


def _query(
    ids: list[int] | sa.Select[Any], traffic: Traffic, brand: Brand | None, at: datetime
) -> sa.Select[Any]:
    """Contacts with their suppression reasons, consent and recent message count. For a
    list of ids, correlated lookups; for a SELECT (a whole audience), joins against
    grouped tables, which the database runs as a few hash joins instead of three index
    probes per contact."""
    commercial = traffic == Traffic.COMMERCIAL and brand is not None
    capped = commercial and brand is not None and bool(brand.frequency_cap)
    since = at - timedelta(days=brand.frequency_days) if brand else at
    reasons = sa.func.aggregate_strings(Suppression.reason, ",")
    recent_where = (
        Message.brand_id == (brand.id if brand else None),
        Message.traffic == Traffic.COMMERCIAL,
        Message.created_at >= since,
    )
    consent_on = (
        ConsentState.contact_id == Contact.id,
        ConsentState.channel == Channel.MESAJ,
        ConsentState.brand_id == (brand.id if brand else None),
    )
    if isinstance(ids, sa.Select):
        blocked = (
            sa.select(Suppression.phone, reasons.label("reasons"))
            .where(Suppression.phone.is_not(None))
            .group_by(Suppression.phone)
            .subquery()
        )
        query = sa.select(
            Contact.id, Contact.phone, Contact.time_zone, Contact.country, blocked.c.reasons
        ).outerjoin(blocked, blocked.c.phone == Contact.phone)
        if commercial:
            query = query.add_columns(ConsentState.status).outerjoin(
                ConsentState, sa.and_(*consent_on)
            )
        else:
            query = query.add_columns(sa.null())
        if capped:
            recent = (
                sa.select(Message.destination, sa.func.count().label("sent"))
                .where(*recent_where)
                .group_by(Message.destination)
                .subquery()
            )
            query = query.add_columns(recent.c.sent).outerjoin(
                recent, recent.c.destination == Contact.phone
            )
        else:
            query = query.add_columns(sa.null())
        return query.where(Contact.id.in_(ids.scalar_subquery())).order_by(Contact.id)
    one_blocked = sa.select(reasons).where(Suppression.phone == Contact.phone).scalar_subquery()
    consent: Any = sa.null()
    if commercial:
        consent = sa.select(ConsentState.status).where(*consent_on).scalar_subquery()
    recent_one: Any = sa.null()
    if capped:
        recent_one = (
            sa.select(sa.func.count())
            .select_from(Message)
            .where(Message.destination == Contact.phone, *recent_where)
            .scalar_subquery()
        )
    columns = (Contact.id, Contact.phone, Contact.time_zone, Contact.country)
    return (
        sa.select(*columns, one_blocked, consent, recent_one)
        .where(Contact.id.in_(ids))
        .order_by(Contact.id)
    )


def _suppression_reason(value: str | None, traffic: Traffic) -> Reason | None:
    if not value:
        return None
    reasons = {_SUPPRESSION_REASONS[SuppressionReason(v)] for v in value.split(",")}
    if traffic == Traffic.TRANSACTIONAL:
        reasons.discard(Reason.OPTED_OUT)
    return next((r for r in _ORDER if r in reasons), None)


def _commercial_reason(
    consent: str | None, recent: int | None, brand: Brand | None
) -> Reason | None:
    if consent is None:
        return Reason.NO_CONSENT
    if consent == ConsentStatus.RET:
        return Reason.CONSENT_REVOKED
    if brand is not None and brand.frequency_cap and (recent or 0) >= brand.frequency_cap:
        return Reason.FREQUENCY_CAP
    return None


def _quiet(at: datetime, tz: str | None, rules: QuietHours) -> datetime | None:
    allowed = next_allowed(at, tz, rules)
    return None if allowed <= at else allowed
