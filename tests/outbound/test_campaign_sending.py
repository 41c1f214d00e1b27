"""Campaigns sent for real: chunk jobs, the gateway and the SMSC simulator over TCP;
pause, resume and cancel take effect mid-send."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from interactive.contacts.models import Contact, ContactList, ListMember
from interactive.db import db, utcnow
from interactive.outbound import campaigns, fanout
from interactive.outbound.models import Campaign, Message, PartState, Traffic
from interactive.smpp.config import SmppConnection
from interactive.smpp.simulator import SmscSimulator
from tests.gateway_harness import wait_until

COUNT = 40


def _audience(app: Flask) -> int:
    with app.app_context(), db.transaction() as session:
        audience = ContactList(name="müşteriler")
        session.add(audience)
        session.flush()
        contacts = [
            Contact(phone=f"+9053210{n:05d}", first_name=f"Ad{n}", country="TR")
            for n in range(COUNT)
        ]
        session.add_all(contacts)
        session.flush()
        session.add_all(ListMember(list_id=audience.id, contact_id=c.id) for c in contacts)
        return audience.id


def _start(app: Flask, list_id: int, rate: int) -> int:
    """Save, schedule and expand an informational campaign capped at ``rate`` msg/s."""
    route = {"sim": SmppConnection(name="sim", host="127.0.0.1", short_codes=("4664",))}
    with app.app_context(), db.transaction() as session:
        campaign = campaigns.save(
            session,
            campaigns.CampaignInput(
                name="Randevu hatırlatma",
                traffic=Traffic.INFORMATIONAL,
                sender="4664",
                connection="sim",
                audience={"lists": [list_id]},
                variants=[campaigns.VariantInput("A", 100, "Merhaba {{ first_name }}")],
                rate_per_second=rate,
            ),
            user_id=None,
        )
        campaigns.schedule(session, campaign, route, utcnow())
        campaign_id = campaign.id
    with app.app_context(), db.transaction() as session:
        now = utcnow()
        fanout.start_due_runs(session, now)
        chunks = fanout.release_chunks(session, now)
    for chunk_id in chunks:
        with app.app_context(), db.transaction() as session:
            sending = fanout.Sending.from_app(app.extensions["interactive.redis"])
            sending.connections = route
            fanout.expand_chunk(session, chunk_id, sending)
    return campaign_id


def _states(app: Flask, campaign_id: int) -> dict[PartState, int]:
    with app.app_context():
        rows = db.session().execute(
            sa.select(Message.state, sa.func.count())
            .where(Message.campaign_id == campaign_id)
            .group_by(Message.state)
        )
        found = {state: count for state, count in rows}
        db.session.remove()
        return found


def _act(app: Flask, campaign_id: int, action: Callable[..., Any], *args: Any) -> Any:
    with app.app_context(), db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return action(session, campaign, *args)


def test_pause_holds_the_rest_and_resume_sends_it(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    campaign_id = _start(app, _audience(app), rate=20)  # two seconds of sending
    wait_until(lambda: len(simulator.submitted()) >= 5)
    _act(app, campaign_id, campaigns.pause)
    pause = threading.Event()
    pause.wait(0.5)  # a submit already in the window may still finish
    held_at = len(simulator.submitted())
    pause.wait(1.5)
    assert len(simulator.submitted()) == held_at < COUNT
    assert _states(app, campaign_id).get(PartState.QUEUED, 0) == COUNT - held_at
    client = app.extensions["interactive.redis"]
    _act(app, campaign_id, campaigns.resume, client, app.config["REDIS_PREFIX"])
    wait_until(lambda: _states(app, campaign_id) == {PartState.DELIVERED: COUNT}, timeout=20)
    destinations = [p.destination_addr for p in simulator.submitted()]
    assert len(destinations) == len(set(destinations)) == COUNT  # nobody got it twice


def test_cancel_mid_send_stops_the_rest_for_good(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    campaign_id = _start(app, _audience(app), rate=20)
    wait_until(lambda: len(simulator.submitted()) >= 5)
    cancelled = _act(app, campaign_id, campaigns.cancel, utcnow())
    assert cancelled > 0
    pause = threading.Event()
    pause.wait(0.5)
    sent = len(simulator.submitted())
    pause.wait(1.5)
    assert len(simulator.submitted()) == sent
    states = _states(app, campaign_id)
    assert states.get(PartState.CANCELLED) == cancelled
    assert sum(states.values()) == COUNT
    assert states.get(PartState.QUEUED, 0) == 0
