"""The gateway end to end: real database, real Redis, the simulator over real TCP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from interactive.db import db
from interactive.keywords.models import InboundMessage
from interactive.keywords.service import inbound_stream
from interactive.outbound import service as outbound
from interactive.outbound.models import DeliveryReceipt, Message, PartState, Traffic
from interactive.smpp import gateway as gateway_module
from interactive.smpp.config import SmppConnection
from interactive.smpp.gateway_store import Batch, GatewayStore
from interactive.smpp.messages import InboundMessage as Pdu
from interactive.smpp.messages import Responder
from interactive.smpp.simulator import (
    ConnectionProfile,
    Fault,
    Persona,
    SimulatorConfig,
    SmscSimulator,
)
from interactive.smpp.simulator_personas import Split
from tests.gateway_harness import PASSWORD, SYSTEM_ID, wait_until
from tests.helpers import clean_env


def queue(
    app: Flask,
    destination: str,
    body: str,
    traffic: Traffic = Traffic.COMMERCIAL,
    **options: Any,
) -> int:
    with app.app_context(), db.transaction() as session:
        message = outbound.queue_message(
            session,
            app.extensions["interactive.redis"],
            app.config["REDIS_PREFIX"],
            connection="sim",
            source="4664",
            destination=destination,
            body=body,
            traffic=traffic,
            **options,
        )
        return message.id


def message_state(app: Flask, message_id: int) -> PartState:
    with app.app_context():
        message = db.session().get(Message, message_id)
        assert message is not None
        state = message.state
        db.session.remove()
        return state


def test_messages_are_submitted_accepted_and_delivered(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    short = queue(app, "905321234567", "Merhaba, siparişiniz yolda.")
    long = queue(app, "905321234568", "Kampanya " * 30)
    wait_until(lambda: message_state(app, short) == PartState.DELIVERED)
    wait_until(lambda: message_state(app, long) == PartState.DELIVERED)
    submits = simulator.submitted()
    assert len(submits) == 1 + 2
    with app.app_context():
        message = db.session().get(Message, long)
        assert message is not None
        assert [p.state for p in message.parts] == [PartState.DELIVERED] * 2
        assert all(p.smsc_id for p in message.parts)
        receipts = db.session().scalars(sa.select(DeliveryReceipt)).all()
        assert len(receipts) == 3
        assert all(r.part_id is not None for r in receipts)


@pytest.mark.parametrize("fault", [Fault.DLR_BEFORE_RESP, Fault.ID_MISMATCH])
def test_receipts_match_early_or_in_another_id_format(
    app: Flask, run_gateway: Callable[..., SmscSimulator], fault: Fault
) -> None:
    run_gateway(profiles={SYSTEM_ID: ConnectionProfile(personas=(Persona(fault),))})
    message_id = queue(app, "905321234567", "Test")
    wait_until(lambda: message_state(app, message_id) == PartState.DELIVERED)


def test_a_number_that_opted_out_gets_only_transactional_messages(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    client = app.extensions["interactive.redis"]
    client.sadd(outbound.suppression_key(app.config["REDIS_PREFIX"]), "+905320000000")
    simulator = run_gateway()
    blocked = queue(app, "905320000000", "Indirim!")
    notice = queue(app, "905320000000", "Kargonuz yola çıktı.", Traffic.INFORMATIONAL)
    answer = queue(app, "905320000000", "Rezervasyonunuz onaylandı.", Traffic.TRANSACTIONAL)
    wait_until(lambda: message_state(app, blocked) == PartState.SUPPRESSED)
    wait_until(lambda: message_state(app, notice) == PartState.SUPPRESSED)
    wait_until(lambda: message_state(app, answer) == PartState.DELIVERED)
    (sent,) = simulator.submitted()
    assert sent.short_message.decode("utf-16-be") == "Rezervasyonunuz onaylandı."


def test_a_claim_interrupted_before_the_submit_returns_its_parts_to_the_queue(
    app: Flask, run_gateway: Callable[..., SmscSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parts are claimed (committed SUBMITTING), then the suppression set cannot be read:
    # nothing goes to a number that was not checked, and the message is sent once later.
    monkeypatch.setattr(gateway_module, "RETRY_DELAY_S", 0.2)
    real = redis.Redis.smismember
    calls: list[object] = []

    def unreachable_once(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise redis.ConnectionError("suppression set unreachable")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "smismember", unreachable_once)
    simulator = run_gateway()
    message_id = queue(app, "905321234567", "Kampanya " * 30)
    wait_until(lambda: message_state(app, message_id) == PartState.DELIVERED)
    assert len(calls) == 2
    assert len(simulator.submitted()) == 2  # both parts, once each


def test_throttled_parts_are_sent_later_never_failed(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    persona = Persona(Fault.THROTTLE, count=3)
    run_gateway(profiles={SYSTEM_ID: ConnectionProfile(personas=(persona,))})
    ids = [queue(app, f"90532123450{n}", f"Mesaj {n}") for n in range(3)]
    wait_until(lambda: all(message_state(app, m) == PartState.DELIVERED for m in ids))


def _inbound(app: Flask) -> list[InboundMessage]:
    with app.app_context():
        rows = list(db.session().scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))
        db.session.remove()
        return rows


def test_mo_is_stored_before_it_is_acknowledged_and_handed_to_the_router(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    handle = simulator.inject_mo("905321234567", "4664", "REZ yarın 20:00 4 kişi")
    assert handle.wait(15)
    rows = _inbound(app)
    assert [r.text for r in rows] == ["REZ yarın 20:00 4 kişi"]
    assert rows[0].source == "905321234567"
    client = app.extensions["interactive.redis"]
    entries = client.xrange(inbound_stream(app.config["REDIS_PREFIX"]))
    assert [int(fields[b"id"]) for _id, fields in entries] == [rows[0].id]


@pytest.mark.parametrize("split", ["udh8", "udh16", "sar"])
def test_concatenated_mo_out_of_order_becomes_one_message(
    app: Flask, run_gateway: Callable[..., SmscSimulator], split: Split
) -> None:
    simulator = run_gateway()
    text = "Merhaba! " * 30  # 270 characters: three parts of 120 octets
    handle = simulator.inject_mo(
        "905321234567",
        "4664",
        text,
        split=split,
        part_size=120,
        order=[3, 1, 2],
    )
    assert handle.wait(15)
    rows = _inbound(app)
    assert len(rows) == 1
    assert rows[0].text == text
    assert rows[0].parts_count == 3
    assert rows[0].partial is False


def test_a_retransmitted_mo_is_stored_once(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    handle = simulator.inject_mo("905321234567", "4664", "EVET", duplicate=True)
    assert handle.wait(15)
    assert [r.text for r in _inbound(app)] == ["EVET"]


def _mo(text: str, at: datetime) -> tuple[Pdu, Responder]:
    body = text.encode()
    pdu = Pdu(
        connection="sim",
        command="deliver_sm",
        sequence=1,
        source="905321234567",
        source_ton=1,
        source_npi=1,
        destination="4664",
        dest_ton=0,
        dest_npi=0,
        esm_class=0,
        data_coding=0,
        short_message=body,
        message_payload=None,
        udh=None,
        payload=body,
        tlvs={},
        received_at=at,
    )
    return pdu, cast(Responder, None)  # stored, not answered, here


def test_retransmissions_are_left_out_within_a_batch_and_across_batches(
    app: Flask, live_db: None
) -> None:
    """The same MO again (the SMSC missed our deliver_sm_resp) is one message, whether it
    comes in the same batch or a later one; after the window it is a new message."""
    store = GatewayStore(app, SmppConnection(name="sim", host="127.0.0.1"))
    now = datetime.now(UTC)
    first = store.store_mos(
        Batch(
            delivers=[_mo("EVET", now), _mo("EVET", now + timedelta(seconds=1)), _mo("HAYIR", now)]
        )
    )
    assert first.mos == 2
    again = store.store_mos(Batch(delivers=[_mo("EVET", now + timedelta(minutes=10))]))
    assert (again.mos, again.inbound_ids) == (0, [])
    later = store.store_mos(Batch(delivers=[_mo("EVET", now + timedelta(minutes=31))]))
    assert later.mos == 1
    rows = _inbound(app)
    assert [r.text for r in rows] == ["EVET", "HAYIR", "EVET"]
    assert [r.id for r in rows] == [*first.inbound_ids, *later.inbound_ids]


def test_kill_9_during_a_send_leaves_every_part_final_or_unknown(
    app: Flask, live_db: None, tmp_path: Any
) -> None:
    """A gateway killed with parts in flight: after a restart nothing is left QUEUED or
    SUBMITTING, and nothing was sent twice (unknown outcomes are not blindly resent)."""
    import json
    import signal
    import subprocess
    import sys

    persona = Persona(Fault.LATE_RESPONSE, delay=0.3)
    simulator = SmscSimulator(
        SimulatorConfig(
            credentials={SYSTEM_ID: PASSWORD},
            profiles={SYSTEM_ID: ConnectionProfile(personas=(persona,))},
        )
    ).start()
    connection = {
        "name": "sim",
        "host": "127.0.0.1",
        "port": simulator.port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "window": 2,
        "response_timeout": 5,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.2,
    }
    env = clean_env()
    env.update(
        INTERACTIVE_DATABASE_URL=app.config["DATABASE_URL"],
        INTERACTIVE_REDIS_URL=app.config["REDIS_URL_EFFECTIVE"],
        INTERACTIVE_REDIS_PREFIX=app.config["REDIS_PREFIX"],
        INTERACTIVE_SECRET_KEY=app.config["SECRET_KEY"],
        INTERACTIVE_INSTANCE_PATH=str(tmp_path),
        INTERACTIVE_SMPP_CONNECTIONS=json.dumps([connection]),
    )
    command = [sys.executable, "-m", "interactive", "gateway", "run", "sim"]
    ids = [queue(app, f"9053200000{n:02d}", f"Kampanya {n}") for n in range(20)]
    first = subprocess.Popen(command, env=env)
    try:
        simulator.wait_for_submits(3, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = subprocess.Popen(command, env=env)
        try:
            open_states = {PartState.QUEUED, PartState.SUBMITTING}
            wait_until(lambda: all(message_state(app, m) not in open_states for m in ids), 30)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        simulator.stop()
    states = {message_state(app, m) for m in ids}
    assert states <= {PartState.DELIVERED, PartState.ACCEPTED, PartState.UNKNOWN}
    destinations = [s.destination_addr for s in simulator.submitted()]
    assert len(destinations) == len(set(destinations)), "a message was sent twice"


def test_a_failed_store_makes_the_smsc_retry_and_loses_nothing(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway(deliver_retry_delay=0.3)
    engine = app.extensions["interactive.engine"]

    def rename(old: str, new: str) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    rename("inbound_messages", "inbound_messages_away")  # storing MOs now fails
    try:
        handle = simulator.inject_mo("905321234567", "4664", "İPTAL")
        refused = 0x64  # the connection's store_failure_status (ESME_RX_T_APPN)
        assert simulator.wait_for(
            lambda: any(
                a.status == refused for d in simulator.deliveries("mo") for a in d.attempts
            ),
            timeout=15,
        )
    finally:
        rename("inbound_messages_away", "inbound_messages")
    assert handle.wait(15)  # retried by the SMSC, then stored and acknowledged
    assert [r.text for r in _inbound(app)] == ["İPTAL"]


def test_mos_are_stored_and_answered_while_receipts_cannot_be(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway(deliver_retry_delay=0.1)
    engine = app.extensions["interactive.engine"]

    def rename(old: str, new: str) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    rename("delivery_receipts", "delivery_receipts_away")  # storing receipts now fails
    try:
        message_id = queue(app, "905321234567", "Siparişiniz yolda.")
        refused = 0x64  # the connection's store_failure_status (ESME_RX_T_APPN)
        assert simulator.wait_for(
            lambda: any(
                a.status == refused for d in simulator.deliveries("receipt") for a in d.attempts
            ),
            timeout=15,
        )
        handle = simulator.inject_mo("905321234568", "4664", "KAZAN")
        assert handle.wait(15)  # stored and answered while receipts keep failing
        assert [r.text for r in _inbound(app)] == ["KAZAN"]
        assert [a.status for d in simulator.deliveries("mo") for a in d.attempts] == [0]
    finally:
        rename("delivery_receipts_away", "delivery_receipts")
    wait_until(lambda: message_state(app, message_id) == PartState.DELIVERED)


def test_a_nul_in_an_mo_or_a_receipt_costs_nothing(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    # Text columns cannot hold NUL on PostgreSQL: before, such a PDU failed its whole batch
    # on every retry.
    mo = simulator.inject_mo("905321234568", "4664", b"KAZAN\x00", data_coding=0x03)
    receipt = (
        b"id:nul1 sub:001 dlvrd:001 submit date:2611240000 done date:2611240000 "
        b"stat:DELIVRD err:000 text:\x00"
    )
    stray = simulator.inject_mo("905321234569", "4664", receipt, esm_class=0x04)
    assert mo.wait(15) and stray.wait(15)
    assert [r.text for r in _inbound(app)] == ["KAZAN\ufffd"]
    assert all(a.status == 0 for d in simulator.deliveries("mo") for a in d.attempts)
    with app.extensions["interactive.engine"].connect() as connection:
        raw = connection.exec_driver_sql(
            "SELECT raw FROM delivery_receipts WHERE smsc_id = 'nul1'"
        ).scalar_one()
    assert raw.endswith("text:\ufffd")


def test_flash_and_validity_per_message(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway()
    message_id = queue(
        app, "905321234567", "Kod: 123456", Traffic.INFORMATIONAL, flash=True, validity_minutes=30
    )
    wait_until(lambda: message_state(app, message_id) == PartState.DELIVERED)
    (sent,) = simulator.submitted()
    assert sent.data_coding == 0x10  # GSM 7-bit, message class 0
    assert sent.validity_period == "000000003000000R"


def test_unknown_outcomes_resent_only_for_informational_traffic_when_configured(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    persona = Persona(Fault.NO_SUBMIT_RESPONSE, count=2)
    simulator = run_gateway(
        {"resend_unknown_informational": True, "response_timeout": 0.5},
        profiles={SYSTEM_ID: ConnectionProfile(personas=(persona,))},
    )
    commercial = queue(app, "905320000001", "Indirim")
    wait_until(lambda: message_state(app, commercial) == PartState.UNKNOWN)
    otp = queue(app, "905320000002", "Kod: 654321", Traffic.INFORMATIONAL)
    wait_until(lambda: message_state(app, otp) == PartState.DELIVERED)
    destinations = [s.destination_addr for s in simulator.submitted()]
    assert destinations.count("905320000001") == 1  # commercial: never resent blindly
    assert destinations.count("905320000002") == 2  # informational: resent once


def test_a_concatenated_mo_missing_a_part_is_delivered_partial_after_the_timeout(
    app: Flask, run_gateway: Callable[..., SmscSimulator]
) -> None:
    simulator = run_gateway({"mo_reassembly_timeout": 0.5})
    text = "Merhaba! " * 30  # three parts of 120 octets; the second never comes
    handle = simulator.inject_mo(
        "905321234567", "4664", text, split="udh8", part_size=120, order=[1, 3]
    )
    assert handle.wait(15)
    wait_until(lambda: len(_inbound(app)) == 1)
    (message,) = _inbound(app)
    assert message.partial is True
    assert message.text.startswith("Merhaba! ")
    assert "[…]" in message.text
