"""The SMPP client session: inbound PDUs, acknowledgements, keep-alive, unbind and stop,
TLS, and the transmitter + receiver pair. Against the simulator or a scripted SMSC."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from smpplib import consts

from interactive.smpp import pdu
from interactive.smpp.client import SmppClient
from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitStatus, acknowledge
from interactive.smpp.session import SmppSession
from interactive.smpp.session_state import SessionState
from interactive.smpp.simulator import ConnectionProfile, DeliveryState, Fault, Persona
from tests.smpp.session_harness import (
    DEADLINE,
    HANDSET,
    SHORT_CODE,
    Harness,
    Recorder,
    ScriptedConnection,
    counter,
    part,
    run_harness,
    wait_bound,
    wait_counter,
)

STORE_FAILED = 0x64


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield from run_harness()


def test_mo_is_delivered_and_acknowledged(harness: Harness):
    sim = harness.sim()
    _, recorder = harness.session(sim.port)
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "REZ yarın 20:00 4 kişi")
    (message,) = recorder.wait_messages(1)
    assert handle.wait(DEADLINE)
    assert (message.source, message.destination, message.command) == (
        HANDSET,
        SHORT_CODE,
        "deliver_sm",
    )
    assert not message.is_receipt
    assert message.text().text == "REZ yarın 20:00 4 kişi"


def test_deliver_sm_answered_with_the_status_the_callback_returns(harness: Harness):
    sim = harness.sim(deliver_retry_delay=0.05)
    _, recorder = harness.session(sim.port, store_failure_status=STORE_FAILED)
    answers = iter([STORE_FAILED, 0])
    recorder.deliver_status = lambda message: next(answers)
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "STOP")
    assert handle.wait(DEADLINE)  # the SMSC retried after "could not store"
    first, second = recorder.wait_messages(2)
    assert first.payload == second.payload == b"STOP"
    attempts = handle.deliveries[0].attempts
    assert [a.status for a in attempts] == [STORE_FAILED, 0]


def test_a_failing_deliver_callback_answers_the_store_failure_status(harness: Harness):
    sim = harness.sim(deliver_max_attempts=1)
    _, recorder = harness.session(sim.port, store_failure_status=STORE_FAILED)

    def broken(message):
        raise RuntimeError("database is down")

    recorder.deliver_status = broken
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "EVET")
    assert not handle.wait(DEADLINE)
    assert handle.deliveries[0].attempts[0].status == STORE_FAILED


def test_deferred_acknowledgement_of_a_batch_after_one_commit(harness: Harness):
    sim = harness.sim()
    _, recorder = harness.session(sim.port)
    recorder.deliver_status = lambda message: None  # answer later
    handles = [sim.inject_mo(HANDSET, SHORT_CODE, f"MO {n}") for n in range(3)]
    recorder.wait_messages(3)
    assert all(h.deliveries[0].state is DeliveryState.IN_FLIGHT for h in handles)
    assert acknowledge(recorder.responders) == 3
    assert all(h.wait(DEADLINE) for h in handles)
    assert acknowledge(recorder.responders) == 0  # each PDU is answered once
    assert not recorder.responders[0].respond()


def test_vendor_tlvs_reach_the_callback(harness: Harness):
    profiles = {"acme": ConnectionProfile(personas=(Persona(Fault.VENDOR_TLVS),))}
    sim = harness.sim(profiles=profiles)
    _, recorder = harness.session(sim.port)
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "hello")
    (message,) = recorder.wait_messages(1)
    assert handle.wait(DEADLINE)
    assert message.unknown_tlvs == {pdu.VENDOR_TLV_TAG: b"SIM", 0x1401: b"\x00\x2a"}


def test_smsc_unbind_is_answered_and_the_session_rebinds(harness: Harness):
    sim = harness.sim()
    session, recorder = harness.session(sim.port)
    assert sim.unbind_all() == 1
    wait_bound(session, binds=2)
    assert counter(session, "unbinds_received") == 1
    session.submit([part(1)])
    assert recorder.wait_results(1)[0].status is SubmitStatus.ACCEPTED


def test_enquire_links_are_sent_and_answered(harness: Harness):
    sim = harness.sim(enquire_link_interval=0.05)
    session, _ = harness.session(sim.port, enquire_link_interval=0.05, response_timeout=0.5)
    assert sim.wait_for(lambda: sim.sessions()[0].enquire_links_answered >= 2)
    assert wait_counter(session, "enquire_links_sent", 2)
    assert counter(session, "enquire_links_received") >= 2
    assert counter(session, "binds") == 1  # our own enquire_links were answered


def test_stop_before_start_reports_queued_parts_not_sent():
    recorder = Recorder()
    session = SmppSession(SmppConnection(name="idle", host="127.0.0.1"), recorder.on_result)
    session.submit([part(1), part(2)])
    session.stop()
    assert [r.status for r in recorder.results] == [SubmitStatus.NOT_SENT] * 2
    assert session.snapshot().state is SessionState.DOWN


def test_stop_unbinds_reports_queued_parts_and_leaves_no_threads(harness: Harness):
    sim = harness.sim()
    session, recorder = harness.session(sim.port, tps=1)
    session.submit([part(key) for key in range(4)])
    assert recorder.wait_results(1)[0].status is SubmitStatus.ACCEPTED
    session.stop(DEADLINE)
    results = recorder.wait_results(4)
    assert [r.status for r in results[1:]] == [SubmitStatus.NOT_SENT] * 3
    snapshot = session.snapshot()
    assert snapshot.state is SessionState.DOWN
    assert (snapshot.counters["unbinds_sent"], snapshot.counters["unbind_responses"]) == (1, 1)
    assert sim.wait_for(lambda: sim.sessions() == [])
    with pytest.raises(RuntimeError):
        session.submit([part(9)])
    # The harness fixture asserts that no smpp-* thread is left.


def test_graceful_stop_waits_for_outstanding_responses(harness: Harness):
    slow = "905550000001"
    sim = harness.sim(destination_personas={slow: Persona(Fault.LATE_RESPONSE, delay=0.2)})
    session, recorder = harness.session(sim.port)
    session.submit([part(1, slow)])
    assert session.wait_until(lambda s: s.window_in_use == 1, DEADLINE)
    session.stop(DEADLINE)
    (result,) = recorder.wait_results(1)
    assert result.status is SubmitStatus.ACCEPTED


# -- scripted SMSC: silence and malformed PDUs ----------------------------------------------------


def _silent(conn: ScriptedConnection, p: pdu.DecodedPdu) -> None:
    """Answers nothing after the bind."""


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"enquire_link_interval": 0.1, "response_timeout": 0.2}, "enquire_link unanswered"),
        ({"inactivity_timeout": 0.3}, "nothing received for 0.3s"),
    ],
)
def test_dead_link_is_detected_and_reconnected(harness: Harness, settings, error):
    server = harness.scripted(_silent)
    session, _ = harness.session(server.port, **settings)
    assert server.wait_for(lambda: len(server.connections) >= 2)
    assert error in (session.snapshot().last_error or "")
    assert counter(session, "connections_lost") >= 1


def test_malformed_pdu_costs_one_pdu(harness: Harness):
    def scripted(conn: ScriptedConnection, p: pdu.DecodedPdu) -> None:
        if p.command == "submit_sm":
            body = b"\x00\x01\x01905"  # service_type, TON, NPI, unterminated source_addr
            header = pdu.pack_header(16 + len(body), pdu.command_id("deliver_sm"), 0, 77)
            conn.send(header + body)
            conn.send(pdu.encode("enquire_link", sequence=78))
            conn.send(pdu.encode("submit_sm_resp", sequence=p.sequence, message_id="ABC"))

    server = harness.scripted(scripted)
    session, recorder = harness.session(server.port)
    session.submit([part(1)])
    (result,) = recorder.wait_results(1)
    assert (result.status, result.message_id) == (SubmitStatus.ACCEPTED, "ABC")
    conn = server.connections[0]
    assert server.wait_for(lambda: len(conn.received) >= 4)
    nack, enquire_resp = conn.received[2:4]
    assert (nack.command, nack.sequence) == ("generic_nack", 77)
    assert nack.status == consts.SMPP_ESME_RINVMSGLEN
    assert (enquire_resp.command, enquire_resp.sequence) == ("enquire_link_resp", 78)
    assert counter(session, "binds") == 1


def test_data_sm_is_delivered_and_answered(harness: Harness):
    def scripted(conn: ScriptedConnection, p: pdu.DecodedPdu) -> None:
        if p.command == "enquire_link":
            conn.send(pdu.encode("enquire_link_resp", sequence=p.sequence))
            data_sm = pdu.encode(
                "data_sm",
                sequence=5,
                source_addr=HANDSET,
                destination_addr="4664",
                message_payload=b"EVET",
            )
            conn.send(data_sm)

    server = harness.scripted(scripted)
    session, recorder = harness.session(server.port, enquire_link_interval=0.05)
    (message,) = recorder.wait_messages(1)
    assert (message.command, message.payload) == ("data_sm", b"EVET")
    conn = server.connections[0]
    assert server.wait_for(lambda: any(p.command == "data_sm_resp" for p in conn.received))
    assert counter(session, "data_sm") >= 1


# -- transmitter + receiver pair ------------------------------------------------------------------


def test_tx_rx_pair_submits_on_one_bind_and_receives_on_the_other(harness: Harness):
    sim = harness.sim()
    recorder = Recorder()
    connection = harness.connection(sim.port, bind_mode="tx_rx")
    client = SmppClient(connection, recorder.on_result, recorder.on_deliver)
    for session in client.sessions:
        harness.track(session)
    client.start()
    assert client.wait_bound(DEADLINE)
    assert sorted(str(s.bind) for s in sim.sessions()) == ["receiver", "transmitter"]
    client.submit([part(1, registered_delivery=1)])
    (result,) = recorder.wait_results(1)
    (receipt,) = recorder.wait_messages(1)
    assert receipt.receipted_message_id == result.message_id
    assert counter(client.receiver, "receipts") == 1
    assert counter(client.transmitter, "accepted") == 1
    client.stop(DEADLINE)
    assert [s.state for s in client.snapshots()] == [SessionState.DOWN] * 2


def test_several_binds_share_out_whole_messages_and_the_contract_rate(harness: Harness):
    sim = harness.sim()
    recorder = Recorder()
    connection = harness.connection(sim.port, binds=2, tps=50)
    client = SmppClient(connection, recorder.on_result, recorder.on_deliver)
    for session in client.sessions:
        harness.track(session)
    assert [s.label for s in client.sessions] == ["test/transceiver", "test/transceiver#2"]
    assert [s.connection.tps for s in client.sessions] == [25, 25]
    client.start()
    assert client.wait_bound(DEADLINE)
    long_message = [part(100, part_number=n, registered_delivery=1) for n in (1, 2)]
    client.submit([part(1), *long_message, part(2), part(3)])
    recorder.wait_results(5)
    by_session: dict[int, int] = {}
    for record in sim.submitted():
        by_session[record.session_id] = by_session.get(record.session_id, 0) + 1
    # Messages dealt in turn: 1 and 2 on one bind, both parts of 100 and 3 on the other.
    assert sorted(by_session.values()) == [2, 3]
    parts_of_100 = [r for r in sim.submitted() if r.registered_delivery == 1]
    assert len({r.session_id for r in parts_of_100}) == 1
    receipts = recorder.wait_messages(2)
    assert len(receipts) == 2
    client.stop(DEADLINE)
    assert [s.state for s in client.snapshots()] == [SessionState.DOWN] * 2


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class TlsTerminator:
    """A TLS front for the simulator: one thread per connection shuttles bytes both ways
    (one thread only touches each TLS object)."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.target_port = 0  # set by the test once its simulator runs
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._pump, args=(raw,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _pump(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError), raw:
            tls = self.context.wrap_socket(raw, server_side=True)
            plain = socket.create_connection(("127.0.0.1", self.target_port))
            with plain:
                while True:
                    ready = [tls] if tls.pending() else select.select([tls, plain], [], [])[0]
                    source, sink = (tls, plain) if tls in ready else (plain, tls)
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for thread in self.threads:
            thread.join(DEADLINE)


@pytest.fixture
def tls_front(certificate):
    """Requested before ``harness``, so it closes after the sessions."""
    front = TlsTerminator(*certificate)
    yield front
    front.close()


def test_tls_connection(tls_front: TlsTerminator, harness: Harness, certificate):
    tls_front.target_port = harness.sim().port
    session, recorder = harness.session(tls_front.port, tls=True, tls_ca_file=str(certificate[0]))
    session.submit([part(key, registered_delivery=1) for key in range(20)])
    results = recorder.wait_results(20)
    recorder.wait_messages(20)
    assert {r.status for r in results} == {SubmitStatus.ACCEPTED}
    session.stop(DEADLINE)
    assert counter(session, "unbind_responses") == 1


def test_tls_with_an_untrusted_certificate_does_not_bind(tls_front: TlsTerminator, harness):
    tls_front.target_port = harness.sim().port
    session, _ = harness.session(tls_front.port, bound=False, tls=True)

    def refused(snapshot) -> bool:
        return "CERTIFICATE_VERIFY_FAILED" in (snapshot.last_error or "")

    assert session.wait_until(refused, DEADLINE)
    assert counter(session, "binds") == 0
