"""The consent ledger: append-only events, the current-state projection, registration."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts import consent, registry
from interactive.contacts.models import (
    Actor,
    Brand,
    Channel,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Contact,
    Registration,
)

ONAY, RET = ConsentStatus.ONAY, ConsentStatus.RET
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def ids(ctx: Session) -> dict[str, int]:
    brands = [Brand(code="ACME", name="Acme"), Brand(code="BETA", name="Beta")]
    contacts = [Contact(phone=f"+90532{1000000 + n}") for n in range(3)]
    ctx.add_all([*brands, *contacts])
    ctx.flush()
    return {
        "brand": brands[0].id,
        "brand2": brands[1].id,
        **{f"c{n}": c.id for n, c in enumerate(contacts)},
    }


def new(
    contact_id: int,
    brand_id: int,
    status: ConsentStatus,
    at: datetime,
    *,
    actor: Actor = Actor.USER,
    source: str = "HS_WEB",
    channel: Channel = Channel.MESAJ,
) -> consent.NewEvent:
    return consent.NewEvent(
        contact_id=contact_id,
        recipient="+905321000000",
        brand_id=brand_id,
        status=status,
        source=source,
        consent_at=at,
        actor=actor,
        channel=channel,
    )


def events(session: Session) -> list[ConsentEvent]:
    return list(session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)))


def test_a_first_ret_needs_no_registration(ctx: Session, ids: dict[str, int]) -> None:
    written = consent.record(ctx, [new(ids["c0"], ids["brand"], RET, T0)])
    assert len(written) == 1
    (event,) = events(ctx)
    assert event.registration == Registration.NOT_REQUIRED
    assert event.registry_deadline is None
    assert consent.current(ctx, ids["c0"], ids["brand"]) == RET


def test_onay_then_ret_are_both_pending_each_with_its_own_deadline(
    ctx: Session, ids: dict[str, int]
) -> None:
    consent.record(ctx, [new(ids["c0"], ids["brand"], ONAY, T0)])
    later = T0 + timedelta(days=2)  # Wednesday
    consent.record(ctx, [new(ids["c0"], ids["brand"], RET, later)])
    onay, ret = events(ctx)
    assert onay.registration == ret.registration == Registration.PENDING
    assert onay.registry_deadline == registry.registration_deadline(T0)
    assert ret.registry_deadline == registry.registration_deadline(later)
    assert ret.registry_deadline != onay.registry_deadline
    assert consent.current(ctx, ids["c0"], ids["brand"]) == RET


def test_onay_after_ret_is_current_and_same_status_adds_nothing(
    ctx: Session, ids: dict[str, int]
) -> None:
    c, b = ids["c0"], ids["brand"]
    consent.record(ctx, [new(c, b, RET, T0)])
    assert consent.record(ctx, [new(c, b, ONAY, T0 + timedelta(hours=1))])
    assert consent.current(ctx, c, b) == ONAY
    assert consent.record(ctx, [new(c, b, ONAY, T0 + timedelta(hours=2))]) == []
    assert len(events(ctx)) == 2
    # Another brand is independent.
    assert consent.current(ctx, c, ids["brand2"]) is None


def test_an_event_older_than_the_current_state_is_skipped(
    ctx: Session, ids: dict[str, int]
) -> None:
    c, b = ids["c0"], ids["brand"]
    consent.record(ctx, [new(c, b, ONAY, T0)])
    assert consent.record(ctx, [new(c, b, RET, T0 - timedelta(minutes=1))]) == []
    assert consent.current(ctx, c, b) == ONAY
    assert len(events(ctx)) == 1


def test_ret_and_onay_at_the_same_moment_ret_wins(ctx: Session, ids: dict[str, int]) -> None:
    c, b = ids["c0"], ids["brand"]
    # In one call, in either order.
    consent.record(ctx, [new(c, b, RET, T0), new(c, b, ONAY, T0)])
    assert consent.current(ctx, c, b) == RET
    # Across calls: an ONAY at the moment of the current RET does not override it.
    c1 = ids["c1"]
    consent.record(ctx, [new(c1, b, RET, T0)])
    assert consent.record(ctx, [new(c1, b, ONAY, T0)]) == []
    assert consent.current(ctx, c1, b) == RET
    # And a RET at the moment of the current ONAY does.
    c2 = ids["c2"]
    consent.record(ctx, [new(c2, b, ONAY, T0)])
    assert consent.record(ctx, [new(c2, b, RET, T0)])
    assert consent.current(ctx, c2, b) == RET


def test_registry_events_need_no_registration(ctx: Session, ids: dict[str, int]) -> None:
    consent.record(
        ctx, [new(ids["c0"], ids["brand"], ONAY, T0, actor=Actor.REGISTRY, source="IYS_WEB")]
    )
    # A RET after an ONAY the registry holds must be registered.
    consent.record(ctx, [new(ids["c0"], ids["brand"], RET, T0 + timedelta(days=1))])
    onay, ret = events(ctx)
    assert onay.registration == Registration.NOT_REQUIRED
    assert ret.registration == Registration.PENDING


def _states(session: Session) -> set[tuple[int, str, int, str, datetime, int]]:
    rows = session.execute(
        sa.select(
            ConsentState.contact_id,
            ConsentState.channel,
            ConsentState.brand_id,
            ConsentState.status,
            ConsentState.consent_at,
            ConsentState.event_id,
        )
    )
    return {(r[0], str(r[1]), r[2], str(r[3]), r[4], r[5]) for r in rows}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuild_equals_the_incremental_projection(
    ctx: Session, ids: dict[str, int], seed: int
) -> None:
    rng = random.Random(seed)
    contacts = [ids["c0"], ids["c1"], ids["c2"]]
    brands = [ids["brand"], ids["brand2"]]
    for _batch in range(30):
        batch = [
            new(
                rng.choice(contacts),
                rng.choice(brands),
                rng.choice([ONAY, RET]),
                # Few distinct moments, so that ties and out-of-order events happen.
                T0 + timedelta(hours=rng.randrange(12)),
                channel=rng.choice([Channel.MESAJ, Channel.ARAMA]),
            )
            for _ in range(rng.randrange(1, 5))
        ]
        consent.record(ctx, batch)
    incremental = _states(ctx)
    assert incremental
    assert consent.rebuild_states(ctx) == len(incremental)
    assert _states(ctx) == incremental


def test_pending_and_mark_registered(ctx: Session, ids: dict[str, int]) -> None:
    b = ids["brand"]
    consent.record(ctx, [new(ids["c0"], b, ONAY, T0), new(ids["c1"], ids["brand2"], ONAY, T0)])
    pending = ctx.scalars(consent.pending_registrations(ctx, brand_id=b)).all()
    assert [e.contact_id for e in pending] == [ids["c0"]]
    deadline = registry.registration_deadline(T0)
    late = ctx.scalars(
        consent.pending_registrations(ctx, overdue_at=deadline + timedelta(seconds=1))
    )
    assert len(late.all()) == 2
    assert not ctx.scalars(consent.pending_registrations(ctx, overdue_at=deadline)).all()
    assert consent.mark_registered(ctx, [pending[0].id], ref="tx-1") == 1
    assert consent.mark_registered(ctx, [pending[0].id]) == 0
    ctx.expire_all()
    assert pending[0].registration == Registration.REGISTERED
    assert pending[0].registry_ref == "tx-1"


def test_registration_deadline_skips_a_turkish_holiday() -> None:
    # Wednesday 2026-04-22 10:00 Istanbul; Thursday 23 April (National Sovereignty Day) is
    # a holiday: Fri 24, Mon 27, Tue 28 are the three business days.
    taken = datetime(2026, 4, 22, 10, 0, tzinfo=registry.ISTANBUL)
    deadline = registry.registration_deadline(taken)
    assert deadline.astimezone(registry.ISTANBUL).date().isoformat() == "2026-04-28"
    # Without the holiday (a week earlier): Thu 16, Fri 17, Mon 20.
    plain = registry.registration_deadline(taken - timedelta(days=7))
    assert plain.astimezone(registry.ISTANBUL).date().isoformat() == "2026-04-20"
