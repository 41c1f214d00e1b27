"""The SMSC simulator over real TCP: smpplib's client where it fits, raw sockets for bad traffic.

Every wait is a deadline on a condition (socket timeouts, ``simulator.wait_for``); the
ordering of PDUs on one connection is used to prove that something did *not* happen.
"""

from __future__ import annotations

import itertools
import re
import socket
import struct
import threading
import uuid

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp
from smpplib import consts

from interactive.outbound.decoding import parse_udh
from interactive.smpp import pdu
from interactive.smpp.simulator import SmscSimulator, run_simulator
from interactive.smpp.simulator_config import ConnectionProfile, DeliveryState, SimulatorConfig
from interactive.smpp.simulator_personas import Fault, FinalState, Outcome, Persona, parse_persona

CREDENTIALS = {"acme": "secret", "other": "pw2"}
HANDSET = "905551234567"
SHORT_CODE = "4664"
DEADLINE = 3.0
RECEIPT_RE = re.compile(
    r"id:(?P<id>\S+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} done date:\d{10} "
    r"stat:(?P<stat>[A-Z]+) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


class RawEsme:
    """A minimal ESME on a raw socket; reads time out after DEADLINE seconds."""

    def __init__(self, port: int, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        if receive_buffer is not None:  # before connecting, so the TCP window is small too
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(("127.0.0.1", port))
        self._seq = itertools.count(1)

    def send(self, name: str, *, status: int = 0, sequence: int | None = None, **fields) -> int:
        seq = next(self._seq) if sequence is None else sequence
        self.sock.sendall(pdu.encode(name, sequence=seq, status=status, **fields))
        return seq

    def read_raw(self) -> bytes:
        return pdu.read_pdu_bytes(self.sock)

    def read(self) -> pdu.DecodedPdu:
        return pdu.decode(self.read_raw())

    def bind(self, system_id="acme", password=None, kind="bind_transceiver") -> pdu.DecodedPdu:
        password = CREDENTIALS[system_id] if password is None else password
        self.send(kind, system_id=system_id, password=password)
        return self.read()

    def submit(self, destination: str = HANDSET, text: bytes = b"hello", **fields) -> int:
        fields.setdefault("source_addr", SHORT_CODE)
        return self.send("submit_sm", destination_addr=destination, short_message=text, **fields)

    def ack(self, deliver: pdu.DecodedPdu, status: int = 0) -> None:
        self.send("deliver_sm_resp", sequence=deliver.sequence, status=status)

    def at_eof(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def make_sim():
    sims: list[SmscSimulator] = []

    def factory(**settings) -> SmscSimulator:
        settings.setdefault("credentials", CREDENTIALS)
        sim = SmscSimulator(SimulatorConfig(**settings)).start()
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        sim.stop()


@pytest.fixture
def raw():
    clients: list[RawEsme] = []

    def factory(sim: SmscSimulator, bind: str | None = "acme") -> RawEsme:
        client = RawEsme(sim.port)
        clients.append(client)
        if bind is not None:
            password = CREDENTIALS[bind]
            assert client.bind(bind, password).status == consts.SMPP_ESME_ROK
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def esme():
    """smpplib's own client, bound as a transceiver."""
    clients: list[smpplib.client.Client] = []

    def factory(sim: SmscSimulator, system_id: str = "acme") -> smpplib.client.Client:
        client = smpplib.client.Client(
            "127.0.0.1", sim.port, timeout=DEADLINE, allow_unknown_opt_params=True
        )
        clients.append(client)
        client.connect()
        client.bind_transceiver(system_id=system_id, password=CREDENTIALS[system_id])
        return client

    yield factory
    for client in clients:
        client.disconnect()


def lib_ack(client: smpplib.client.Client, deliver, status: int = 0) -> None:
    resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client, status=status)
    resp.sequence = deliver.sequence
    client.send_pdu(resp)


def lib_submit(client: smpplib.client.Client, destination: str = HANDSET, text=b"hello", **kw):
    kw.setdefault("registered_delivery", 1)
    return client.send_message(
        source_addr=SHORT_CODE, destination_addr=destination, short_message=text, **kw
    )


def assert_no_threads_left() -> None:
    assert [t.name for t in threading.enumerate() if t.name.startswith("smsc-sim")] == []


# -- binds ------------------------------------------------------------------------------------


def test_bind_with_valid_credentials_returns_smsc_system_id(make_sim):
    sim = make_sim(system_id="TESTSMSC")
    client = smpplib.client.Client(
        "127.0.0.1", sim.port, timeout=DEADLINE, allow_unknown_opt_params=True
    )
    client.connect()
    try:
        resp = client.bind_transmitter(system_id="acme", password="secret")
        assert resp.status == 0
        assert resp.system_id == b"TESTSMSC"
        assert sim.wait_for(lambda: [s.bind for s in sim.sessions()] == ["transmitter"])
    finally:
        client.disconnect()


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("acme", "wrong", consts.SMPP_ESME_RINVPASWD),
        ("nobody", "secret", consts.SMPP_ESME_RBINDFAIL),
    ],
)
def test_bind_with_bad_credentials_is_refused(make_sim, system_id, password, status):
    sim = make_sim()
    client = smpplib.client.Client(
        "127.0.0.1", sim.port, timeout=DEADLINE, allow_unknown_opt_params=True
    )
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as caught:
            client.bind_transceiver(system_id=system_id, password=password)
        assert caught.value.args[1] == status
    finally:
        client.disconnect()


def test_second_bind_on_a_bound_session_gets_already_bound(make_sim, raw):
    client = raw(make_sim())
    again = client.bind("acme", "secret", kind="bind_receiver")
    assert again.command == "bind_receiver_resp"
    assert again.status == consts.SMPP_ESME_RALYBND


def test_bind_personas_refused_and_no_response(make_sim, raw):
    profiles = {
        "acme": ConnectionProfile(personas=(Persona(Fault.BIND_REFUSED),)),
        "other": ConnectionProfile(personas=(Persona(Fault.NO_BIND_RESPONSE),)),
    }
    sim = make_sim(profiles=profiles)
    assert raw(sim, bind=None).bind("acme", "secret").status == consts.SMPP_ESME_RBINDFAIL
    silent = raw(sim, bind=None)
    silent.send("bind_transceiver", system_id="other", password="pw2")
    seq = silent.send("enquire_link")
    # The next PDU is the answer to the enquire_link: no bind_resp was ever sent.
    nxt = silent.read()
    assert (nxt.command, nxt.sequence) == ("enquire_link_resp", seq)


def test_submit_before_bind_is_rejected_with_invalid_bind_status(make_sim, raw):
    client = raw(make_sim(), bind=None)
    seq = client.submit()
    resp = client.read()
    assert (resp.command, resp.sequence, resp.status) == (
        "submit_sm_resp",
        seq,
        consts.SMPP_ESME_RINVBNDSTS,
    )


# -- submit, ids, receipts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [("hex", r"[0-9A-F]+"), ("decimal", r"[0-9]+"), ("uuid", r"[0-9a-f-]{36}")],
)
def test_submit_sm_resp_carries_message_id_in_configured_format(make_sim, esme, fmt, pattern):
    sim = make_sim(profiles={"acme": ConnectionProfile(message_id_format=fmt)})
    client = esme(sim)
    lib_submit(client, registered_delivery=0)
    resp = client.read_pdu()
    message_id = resp.message_id.decode()
    assert resp.command == "submit_sm_resp"
    assert resp.status == 0
    assert re.fullmatch(pattern, message_id)
    if fmt == "uuid":
        uuid.UUID(message_id)
    (record,) = sim.wait_for_submits(1)
    assert record.message_id == message_id
    assert record.system_id == "acme"


def test_receipt_arrives_with_tlvs_and_standard_text(make_sim, esme):
    sim = make_sim()
    client = esme(sim)
    lib_submit(client, text=b"Your code is 123456, valid for 5 minutes")
    message_id = client.read_pdu().message_id
    receipt = client.read_pdu()
    lib_ack(client, receipt)
    assert receipt.command == "deliver_sm"
    assert receipt.esm_class == 0x04
    assert receipt.receipted_message_id == message_id
    assert receipt.message_state == consts.SMPP_MESSAGE_STATE_DELIVERED
    assert receipt.source_addr == HANDSET.encode()
    assert receipt.destination_addr == b"4664"
    match = RECEIPT_RE.fullmatch(receipt.short_message.decode())
    assert match is not None
    assert match["id"] == message_id.decode()
    assert match["stat"] == "DELIVRD"
    assert (match["dlvrd"], match["err"], match["text"]) == ("001", "000", "Your code is 123456,")
    (delivery,) = sim.deliveries("receipt")
    assert sim.wait_for(lambda: delivery.final)
    assert delivery.state is DeliveryState.ACKNOWLEDGED


def test_receipt_only_when_requested_unless_always(make_sim, raw):
    client = raw(make_sim())
    client.submit(text=b"no receipt", registered_delivery=0)
    client.submit(text=b"receipt", registered_delivery=1)
    commands = [client.read().command for _ in range(3)]
    assert commands == ["submit_sm_resp", "submit_sm_resp", "deliver_sm"]
    always = raw(make_sim(always_receipt=True))
    always.submit(registered_delivery=0)
    assert [always.read().command for _ in range(2)] == ["submit_sm_resp", "deliver_sm"]


def test_failure_rules_by_destination(make_sim, raw):
    rules = {
        "905550000001": Outcome(FinalState.UNDELIV, error_code=5),
        "905550000002": Outcome(submit_status=consts.SMPP_ESME_RINVDSTADR),
    }
    sim = make_sim(failure_rules=rules)
    client = raw(sim)
    client.submit("905550000001", registered_delivery=1)
    client.read()
    receipt = client.read()
    match = RECEIPT_RE.fullmatch(receipt.text("short_message"))
    assert match is not None
    assert (match["stat"], match["err"], match["dlvrd"]) == ("UNDELIV", "005", "000")
    assert receipt.get("message_state") == consts.SMPP_MESSAGE_STATE_UNDELIVERABLE
    assert receipt.get("network_error_code") == b"\x03\x00\x05"
    client.submit("905550000002")
    rejected = client.read()
    assert rejected.status == consts.SMPP_ESME_RINVDSTADR
    assert sim.inbox("905550000002") == []
    assert len(sim.inbox("905550000001")) == 1


def test_failure_rule_callable_and_failure_only_receipts(make_sim, raw):
    def rule(destination: str) -> Outcome | None:
        return Outcome(FinalState.EXPIRED) if destination.endswith("99") else None

    client = raw(make_sim(failure_rules=rule))
    client.submit("905550000000", registered_delivery=2)  # receipt on failure only
    client.submit("905550000099", registered_delivery=2)
    assert [client.read().command for _ in range(2)] == ["submit_sm_resp", "submit_sm_resp"]
    receipt = client.read()
    assert receipt.get("message_state") == consts.SMPP_MESSAGE_STATE_EXPIRED
    assert "stat:EXPIRED" in receipt.text("short_message")


def test_submissions_are_recorded_with_udh_sar_tlvs_and_payload(make_sim, raw):
    sim = make_sim()
    client = raw(sim)
    udh = pdu.concat_udh(7, 2, 1)
    client.submit(text=udh + b"part one", esm_class=0x40, data_coding=0)
    client.submit(
        "905550000003",
        text=b"sar",
        sar_msg_ref_num=300,
        sar_total_segments=2,
        sar_segment_seqnum=2,
        extra_tlvs=[(0x1400, b"vendor")],
    )
    client.send(
        "data_sm", source_addr=SHORT_CODE, destination_addr=HANDSET, message_payload=b"x" * 300
    )
    assert {client.read().command for _ in range(3)} == {"submit_sm_resp", "data_sm_resp"}
    first, second, third = sim.wait_for_submits(3)
    assert first.udh == udh
    assert first.payload == b"part one"
    assert first.esm_class == 0x40
    assert second.sar == (300, 2, 2)
    assert second.tlvs[0x1400] == b"vendor"
    assert third.command == "data_sm"
    assert third.message_payload == b"x" * 300
    assert [m.payload for m in sim.inbox(HANDSET)] == [b"part one", b"x" * 300]
    with pytest.raises(TimeoutError):
        sim.wait_for_submits(4, timeout=0.05)


# -- submit personas ----------------------------------------------------------------------------


def test_throttle_first_n_then_accept(make_sim, raw):
    profile = ConnectionProfile(personas=(Persona(Fault.THROTTLE, count=2),))
    client = raw(make_sim(profiles={"acme": profile}))
    for _ in range(3):
        client.submit()
    statuses = [client.read().status for _ in range(3)]
    assert statuses == [consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RTHROTTLED, 0]


def test_throttle_per_second_and_queue_full_by_destination(make_sim, raw):
    personas = {
        "905550000010": (Persona(Fault.THROTTLE, per_second=1),),
        "905550000011": Persona(Fault.QUEUE_FULL),
    }
    sim = make_sim(destination_personas=personas)
    client = raw(sim)
    for destination in ("905550000010", "905550000010", "905550000011", HANDSET):
        client.submit(destination)
    statuses = [client.read().status for _ in range(4)]
    assert statuses == [0, consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL, 0]
    assert [m.fault for m in sim.submitted()] == [None, Fault.THROTTLE, Fault.QUEUE_FULL, None]


def test_no_response_and_late_response(make_sim, raw):
    personas = {
        "905550000020": Persona(Fault.NO_SUBMIT_RESPONSE),
        "905550000021": Persona(Fault.LATE_RESPONSE, delay=0.5),
    }
    sim = make_sim(destination_personas=personas)
    client = raw(sim)
    client.submit("905550000020")
    late = client.submit("905550000021")
    normal = client.submit(HANDSET)
    assert [client.read().sequence for _ in range(2)] == [normal, late]
    swallowed = sim.submitted()[0]
    assert swallowed.fault is Fault.NO_SUBMIT_RESPONSE
    assert swallowed.command_status == 0


@pytest.mark.parametrize(
    ("fault", "with_sequence"),
    [(Fault.GENERIC_NACK, True), (Fault.GENERIC_NACK_NO_SEQUENCE, False)],
)
def test_generic_nack_instead_of_submit_sm_resp(make_sim, raw, fault, with_sequence):
    persona = Persona(fault, status=consts.SMPP_ESME_RSYSERR)
    client = raw(make_sim(destination_personas={HANDSET: persona}))
    seq = client.submit()
    nack = client.read()
    assert nack.command == "generic_nack"
    assert nack.status == consts.SMPP_ESME_RSYSERR
    assert nack.sequence == (seq if with_sequence else 0)


def test_unknown_command_from_server_expects_generic_nack(make_sim, raw):
    sim = make_sim(destination_personas={HANDSET: Persona(Fault.UNKNOWN_COMMAND)})
    client = raw(sim)
    seq = client.submit()
    header = pdu.parse_header(client.read_raw())
    assert header.command_id == pdu.UNKNOWN_COMMAND_ID
    assert header.command is None
    client.send("generic_nack", status=consts.SMPP_ESME_RINVCMDID, sequence=header.sequence)
    resp = client.read()
    assert (resp.command, resp.sequence) == ("submit_sm_resp", seq)
    assert sim.wait_for(lambda: len(sim.received_nacks()) == 1)
    nack = sim.received_nacks()[0]
    assert (nack.status, nack.sequence) == (consts.SMPP_ESME_RINVCMDID, header.sequence)


@pytest.mark.parametrize("length", [8, 2**31])
def test_bad_command_length_from_server_then_client_reconnects(make_sim, raw, length):
    persona = Persona(Fault.BAD_COMMAND_LENGTH, command_length=length, count=1)
    sim = make_sim(destination_personas={HANDSET: persona})
    client = raw(sim)
    client.submit()
    with pytest.raises(pdu.CommandLengthError):
        client.read_raw()
    client.send("generic_nack", status=consts.SMPP_ESME_RINVCMDLEN, sequence=0)
    client.close()
    assert sim.wait_for(lambda: len(sim.received_nacks()) == 1)
    assert sim.received_nacks()[0].status == consts.SMPP_ESME_RINVCMDLEN
    again = raw(sim)
    again.submit()
    assert again.read().status == 0


def test_drop_connection_mid_pdu(make_sim, raw):
    sim = make_sim(destination_personas={HANDSET: Persona(Fault.DROP_MID_PDU)})
    client = raw(sim)
    client.submit()
    with pytest.raises(pdu.ConnectionClosedError) as caught:
        client.read_raw()
    assert caught.value.partial
    assert sim.wait_for(lambda: sim.sessions() == [])


def test_sliced_writes_are_still_parseable_by_smpplib(make_sim, esme):
    profile = ConnectionProfile(personas=(Persona(Fault.SLICED_WRITES),))
    client = esme(make_sim(profiles={"acme": profile}))
    lib_submit(client)
    resp = client.read_pdu()
    receipt = client.read_pdu()
    lib_ack(client, receipt)
    assert receipt.receipted_message_id == resp.message_id


def test_vendor_tlvs_on_deliver_sm(make_sim, raw, esme):
    profile = ConnectionProfile(personas=(Persona(Fault.VENDOR_TLVS),))
    sim = make_sim(profiles={"acme": profile})
    client = raw(sim)
    client.submit(registered_delivery=1)
    client.read()
    receipt = client.read()
    assert receipt.tlvs[pdu.VENDOR_TLV_TAG] == b"SIM"
    assert receipt.get("receipted_message_id")
    lib_client = esme(sim)  # smpplib skips the unknown tags
    lib_submit(lib_client)
    lib_client.read_pdu()
    assert lib_client.read_pdu().message_state == consts.SMPP_MESSAGE_STATE_DELIVERED


def test_receipt_before_submit_sm_resp(make_sim, esme):
    client = esme(make_sim(destination_personas={HANDSET: Persona(Fault.DLR_BEFORE_RESP)}))
    lib_submit(client)
    first, second = client.read_pdu(), client.read_pdu()
    assert (first.command, second.command) == ("deliver_sm", "submit_sm_resp")
    assert first.receipted_message_id == second.message_id
    lib_ack(client, first)


def test_hex_decimal_id_mismatch(make_sim, raw):
    sim = make_sim(destination_personas={HANDSET: Persona(Fault.ID_MISMATCH, id_width=12)})
    client = raw(sim)
    client.submit(registered_delivery=1)
    resp_id = client.read().text("message_id")
    receipt = client.read()
    receipt_id = receipt.text("receipted_message_id")
    assert re.fullmatch(r"[0-9A-F]*[A-F][0-9A-F]*", resp_id)
    assert len(receipt_id) == 12
    assert receipt_id.startswith("0")
    assert int(receipt_id) == int(resp_id, 16)
    assert f"id:{receipt_id} " in receipt.text("short_message")


def test_persona_spec_parsing():
    assert parse_persona("throttle:count=3") == Persona(Fault.THROTTLE, count=3)
    assert parse_persona("late_response:delay=2.5").delay == 2.5
    with pytest.raises(ValueError, match="unknown"):
        parse_persona("throttle:bogus=1")


# -- MO ---------------------------------------------------------------------------------------


def test_mo_injection_is_acknowledged(make_sim, esme):
    sim = make_sim()
    client = esme(sim)
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "EVET ğ")  # not GSM: UCS-2
    mo = client.read_pdu()
    lib_ack(client, mo)
    assert handle.wait(DEADLINE)
    assert mo.data_coding == 8
    assert mo.short_message.decode("utf-16-be") == "EVET ğ"
    assert (mo.source_addr, mo.destination_addr) == (HANDSET.encode(), SHORT_CODE.encode())


def test_duplicate_mo_gets_new_sequence_numbers(make_sim, raw):
    profile = ConnectionProfile(personas=(Persona(Fault.DUPLICATE_MO),))
    sim = make_sim(profiles={"acme": profile})
    client = raw(sim)
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "STOP")
    first, second = client.read(), client.read()
    for mo in (first, second):
        client.ack(mo)
    assert handle.wait(DEADLINE)
    assert len(handle.deliveries) == 2
    assert first.get("short_message") == second.get("short_message") == b"STOP"
    assert first.sequence != second.sequence


def _reassemble(parts: list[pdu.DecodedPdu], split: str) -> tuple[list[int], bytes]:
    numbered = []
    for part in parts:
        if split == "sar":
            numbered.append((part.get("sar_segment_seqnum"), part.get("short_message")))
        else:
            udh, data = pdu.split_udh(part.get("esm_class"), part.get("short_message"))
            assert udh is not None
            assert udh[1] == (0x08 if split == "udh16" else 0x00)
            concat = parse_udh(udh).concat
            assert concat is not None
            numbered.append((concat.seq, data))
    return [n for n, _ in numbered], b"".join(d for _, d in sorted(numbered))


@pytest.mark.parametrize("split", ["udh8", "udh16", "sar"])
def test_concatenated_mo_out_of_order(make_sim, raw, split):
    profile = ConnectionProfile(personas=(Persona(Fault.CONCAT_MO_OUT_OF_ORDER),))
    sim = make_sim(profiles={"acme": profile})
    client = raw(sim)
    text = "Merhaba, randevumu yarın saat onda istiyorum"
    handle = sim.inject_mo(HANDSET, SHORT_CODE, text, split=split, part_size=32, reference=300)
    parts = [client.read() for _ in range(3)]
    for part in parts:
        client.ack(part)
    order, joined = _reassemble(parts, split)
    assert order == [3, 2, 1]
    assert joined.decode("utf-16-be") == text  # "ı" forces UCS-2
    assert handle.wait(DEADLINE)


def test_mo_explicit_order_with_repeated_part_and_gsm_part_sizes(make_sim, raw):
    sim = make_sim()
    client = raw(sim)
    text = "A" * 200  # GSM default alphabet: 153 + 47 septets with an 8-bit concat UDH
    handle = sim.inject_mo(HANDSET, SHORT_CODE, text, split="udh8", order=[2, 1, 2])
    parts = [client.read() for _ in range(3)]
    for part in parts:
        client.ack(part)
    order, _ = _reassemble(parts, "udh8")
    assert order == [2, 1, 2]
    assert [len(p.get("short_message")) - 6 for p in parts] == [47, 153, 47]
    assert parts[0].get("data_coding") == 0
    assert handle.wait(DEADLINE)


def test_mo_routing_by_system_id_and_address_range(make_sim, raw):
    profiles = {"other": ConnectionProfile(address_range=r"77\d\d")}
    sim = make_sim(profiles=profiles)
    acme, other = raw(sim, "acme"), raw(sim, "other")
    sim.inject_mo(HANDSET, "7701", "to other by range")
    sim.inject_mo(HANDSET, SHORT_CODE, "to acme by system id", system_id="acme")
    assert other.read().get("short_message") == b"to other by range"
    assert acme.read().get("short_message") == b"to acme by system id"


def test_mo_waits_for_a_receiver_and_is_redelivered_after_connection_loss(make_sim, raw):
    sim = make_sim()
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "queued")
    assert handle.deliveries[0].state is DeliveryState.PENDING
    first = raw(sim)
    assert first.read().get("short_message") == b"queued"
    first.close()  # read but never acknowledged
    second = raw(sim)
    again = second.read()
    second.ack(again)
    assert again.get("short_message") == b"queued"
    assert handle.wait(DEADLINE)
    outcomes = [a.outcome for a in handle.deliveries[0].attempts]
    assert outcomes == ["connection_lost", "answered"]


# -- deliver_sm acknowledgement and retries -----------------------------------------------------


def test_receipt_retried_after_temporary_error(make_sim, raw):
    sim = make_sim(deliver_retry_delay=0.05)
    client = raw(sim)
    client.submit(registered_delivery=1)
    client.read()
    first = client.read()
    client.ack(first, status=consts.SMPP_ESME_RX_T_APPN)  # "could not store, try later"
    retried = client.read()
    client.ack(retried)
    assert retried.command == "deliver_sm"
    assert retried.sequence != first.sequence
    assert retried.get("short_message") == first.get("short_message")
    (delivery,) = sim.deliveries("receipt")
    assert sim.wait_for(lambda: delivery.final)
    assert delivery.state is DeliveryState.ACKNOWLEDGED
    assert [a.status for a in delivery.attempts] == [consts.SMPP_ESME_RX_T_APPN, 0]


def test_permanent_error_and_max_attempts_stop_retries(make_sim, raw):
    sim = make_sim(deliver_retry_delay=0.01, deliver_max_attempts=2)
    client = raw(sim)
    permanent = sim.inject_mo(HANDSET, SHORT_CODE, "one")
    client.ack(client.read(), status=consts.SMPP_ESME_RX_P_APPN)
    assert not permanent.wait(DEADLINE)
    assert len(permanent.deliveries[0].attempts) == 1
    temporary = sim.inject_mo(HANDSET, SHORT_CODE, "two")
    for _ in range(2):
        client.ack(client.read(), status=consts.SMPP_ESME_RMSGQFUL)
    assert not temporary.wait(DEADLINE)
    assert temporary.deliveries[0].state is DeliveryState.FAILED
    assert len(temporary.deliveries[0].attempts) == 2


def test_unanswered_deliver_sm_is_resent_after_response_timeout(make_sim, raw):
    sim = make_sim(deliver_response_timeout=0.1, deliver_retry_delay=0.01)
    client = raw(sim)
    handle = sim.inject_mo(HANDSET, SHORT_CODE, "hello?")
    first = client.read()  # not answered
    second = client.read()
    client.ack(second)
    assert second.sequence != first.sequence
    assert handle.wait(DEADLINE)
    assert [a.outcome for a in handle.deliveries[0].attempts] == ["timeout", "answered"]


def test_a_client_that_stops_reading_stalls_only_its_own_connection(make_sim, raw):
    """Writes go out from the handling thread while the socket takes them, and queue behind
    whatever waits once it does not: the other connections are served meanwhile, and the
    stalled one gets every PDU in order when it reads again."""
    sim = make_sim(deliver_response_timeout=60)
    stalled = RawEsme(sim.port, receive_buffer=4096)
    assert stalled.bind().status == consts.SMPP_ESME_ROK
    (session,) = sim._sessions.values()
    session.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    texts = [f"MO {n:04d} " + "x" * 140 for n in range(1000)]  # far more than the buffers
    for text in texts:
        sim.inject_mo(HANDSET, SHORT_CODE, text, system_id="acme")
    assert session._queued > 0  # the socket stopped taking them: the writer thread has them
    other = raw(sim, "other")
    other.submit()
    assert other.read().command == "submit_sm_resp"
    received: list[str] = []
    while len(received) < len(texts):
        deliver = stalled.read()
        received.append(deliver.get("short_message").decode("ascii"))
        stalled.ack(deliver)
    assert received == texts
    stalled.close()


# -- server-initiated PDUs ----------------------------------------------------------------------


def test_periodic_enquire_link_and_unbind_all(make_sim, raw):
    sim = make_sim(enquire_link_interval=0.05)
    client = raw(sim)
    enquire = client.read()
    assert enquire.command == "enquire_link"
    client.send("enquire_link_resp", sequence=enquire.sequence)
    assert sim.wait_for(lambda: sim.sessions()[0].enquire_links_answered >= 1)
    assert sim.unbind_all() == 1
    unbind = client.read()
    while unbind.command == "enquire_link":  # one may have been on its way
        client.send("enquire_link_resp", sequence=unbind.sequence)
        unbind = client.read()
    assert unbind.command == "unbind"
    client.send("unbind_resp", sequence=unbind.sequence)
    assert client.at_eof()
    assert sim.wait_for(lambda: sim.sessions() == [])


def test_unanswered_enquire_links_drop_the_connection(make_sim, raw):
    sim = make_sim(enquire_link_interval=0.02, enquire_link_max_missed=2)
    client = raw(sim)
    assert [client.read().command for _ in range(2)] == ["enquire_link", "enquire_link"]
    assert client.at_eof()
    assert sim.wait_for(lambda: sim.sessions() == [])


def test_client_unbind_is_answered_then_closed(make_sim, raw):
    client = raw(make_sim())
    seq = client.send("unbind")
    resp = client.read()
    assert (resp.command, resp.sequence) == ("unbind_resp", seq)
    assert client.at_eof()


# -- robustness against the client ------------------------------------------------------------


@pytest.mark.parametrize("length", [8, 15, 64 * 1024 + 1, 2**31])
def test_bad_command_length_from_client_is_nacked_and_dropped(make_sim, raw, length):
    sim = make_sim()
    client = raw(sim)
    client.sock.sendall(struct.pack(">IIII", length, 4, 0, 99))
    nack = client.read()
    assert (nack.command, nack.status) == ("generic_nack", consts.SMPP_ESME_RINVCMDLEN)
    assert client.at_eof()
    fresh = raw(sim)  # the server itself is fine
    fresh.submit()
    assert fresh.read().status == 0


def test_unknown_command_and_malformed_pdus_cost_one_pdu(make_sim, raw):
    sim = make_sim()
    client = raw(sim)
    client.sock.sendall(pdu.pack_header(16, 0x00000FFE, 0, 41))
    nack = client.read()
    assert (nack.command, nack.status, nack.sequence) == (
        "generic_nack",
        consts.SMPP_ESME_RINVCMDID,
        41,
    )
    truncated = pdu.encode(
        "submit_sm", sequence=42, source_addr="1", destination_addr="2", short_message=b"x" * 10
    )[:-4]
    client.sock.sendall(struct.pack(">I", len(truncated)) + truncated[4:])
    assert client.read().sequence == 42  # a nack for that PDU only
    overrun = pdu.encode("submit_sm", sequence=43, source_addr="1", destination_addr="2")
    client.sock.sendall(struct.pack(">I", len(overrun) + 4) + overrun[4:] + b"\x14\x00\x00\x09")
    bad_tlv = client.read()
    assert (bad_tlv.command, bad_tlv.status, bad_tlv.sequence) == (
        "generic_nack",
        consts.SMPP_ESME_RINVOPTPARSTREAM,
        43,
    )
    # A TLV smpplib knows but submit_sm does not declare (message_state) is tolerated too.
    seq = client.submit(extra_tlvs=[(0x0427, b"\x02"), (0x1400, b"?")])
    resp = client.read()
    assert (resp.command, resp.status, resp.sequence) == ("submit_sm_resp", 0, seq)
    seq = client.send("enquire_link")
    assert client.read().sequence == seq


def test_query_sm_is_not_offered(make_sim, raw):
    client = raw(make_sim())
    seq = client.send("query_sm", message_id="1", source_addr="1")
    nack = client.read()
    assert (nack.command, nack.status, nack.sequence) == (
        "generic_nack",
        consts.SMPP_ESME_RINVCMDID,
        seq,
    )


# -- lifecycle --------------------------------------------------------------------------------


def test_stop_closes_everything_and_leaves_no_threads(raw):
    sim = SmscSimulator(SimulatorConfig(credentials=CREDENTIALS, enquire_link_interval=30))
    with sim:
        idle = raw(sim)
        half = raw(sim, bind=None)
        half.sock.sendall(struct.pack(">I", 100) + b"\x00" * 10)  # stuck mid-PDU
        sim.inject_mo(HANDSET, SHORT_CODE, "never acknowledged")
        assert idle.read().command == "deliver_sm"  # in flight when we stop
        assert sim.wait_for(lambda: len(sim.sessions()) == 2)
    assert idle.at_eof()
    assert half.at_eof()
    assert_no_threads_left()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=DEADLINE).close()


def test_run_simulator_until_stop_event():
    stop = threading.Event()
    started: list[SmscSimulator] = []
    ready = threading.Event()

    def on_started(sim: SmscSimulator) -> None:
        started.append(sim)
        ready.set()

    config = SimulatorConfig(credentials=CREDENTIALS)
    runner = threading.Thread(target=run_simulator, args=(config, stop, on_started))
    runner.start()
    try:
        assert ready.wait(DEADLINE)
        client = RawEsme(started[0].port)
        assert client.bind().status == 0
        client.close()
    finally:
        stop.set()
        runner.join(DEADLINE)
    assert not runner.is_alive()
    assert_no_threads_left()


# -- codec --------------------------------------------------------------------------------------


def test_split_never_breaks_surrogate_pairs_or_gsm_escapes():
    emoji = "a😀b".encode("utf-16-be")  # 2 + 4 + 2 octets
    assert pdu.split_payload(emoji, 8, 4) == [emoji[:2], emoji[2:6], emoji[6:]]
    gsm, _ = pdu.encode_text("ab€", 0)  # € is an escape pair 1B 65
    assert pdu.split_payload(gsm, 0, 3) == [b"ab", b"\x1b\x65"]


def test_config_validation():
    with pytest.raises(ValueError, match="port"):
        SimulatorConfig(port=70000)
    with pytest.raises(ValueError, match="password"):
        SimulatorConfig(credentials={"acme": "much-too-long"})
    with pytest.raises(ValueError, match="format"):
        ConnectionProfile(message_id_format="octal")  # type: ignore[arg-type]


def test_a_bounded_simulator_keeps_the_newest_submits_and_counts_them_all(make_sim, raw):
    sim = make_sim(always_receipt=True, keep_records=2)
    client = raw(sim)
    for n in range(6):
        client.submit(text=f"m{n}".encode())
        for _ in range(2):  # the response and the receipt, acknowledged before the next
            message = client.read()
            if message.command == "deliver_sm":
                client.ack(message)
    kept = sim.wait_for_submits(6)
    assert [m.payload for m in kept] == [b"m4", b"m5"]
    assert [m.payload for m in sim.inbox(HANDSET)] == [b"m4", b"m5"]
    assert sim.wait_for(lambda: len(sim.deliveries()) == 2 and sim.deliveries()[-1].final)
    newest = {m.message_id for m in kept}
    assert {d.message_id for d in sim.deliveries("receipt")} == newest
    sim.clear_records()
    with pytest.raises(TimeoutError):
        sim.wait_for_submits(1, timeout=0.2)


def test_keep_records_must_be_positive():
    with pytest.raises(ValueError, match="keep_records"):
        SimulatorConfig(keep_records=0)
