"""The SMPP client session against the simulator over real TCP: binds, submits and every
fault persona seen from the gateway's side. Inbound traffic is in test_session_inbound."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from smpplib import consts

from interactive.smpp.messages import SubmitStatus
from interactive.smpp.pdu import MAX_SEQUENCE
from interactive.smpp.session_state import SessionState
from interactive.smpp.simulator import ConnectionProfile, Fault, Persona
from tests.smpp.session_harness import (
    DEADLINE,
    HANDSET,
    Harness,
    counter,
    part,
    run_harness,
    wait_bound,
    wait_counter,
)

SLOW = "905550000001"
OTHER = "905550000002"


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield from run_harness()


def _profile(*personas: Persona) -> dict[str, ConnectionProfile]:
    return {"acme": ConnectionProfile(personas=personas)}


# -- bind -------------------------------------------------------------------------------------


def test_bind_submit_and_receipt(harness: Harness):
    sim = harness.sim()
    session, recorder = harness.session(sim.port)
    session.submit([part(1, registered_delivery=1)])
    (result,) = recorder.wait_results(1)
    (receipt,) = recorder.wait_messages(1)
    assert result.status is SubmitStatus.ACCEPTED
    assert result.key == 1
    assert result.message_id == sim.submitted()[0].message_id
    assert receipt.is_receipt
    assert receipt.receipted_message_id == result.message_id
    snapshot = session.snapshot()
    assert snapshot.state is SessionState.BOUND
    assert snapshot.counters["accepted"] == 1
    assert snapshot.responses_by_status == {0: 1}
    assert sim.wait_for(lambda: sim.deliveries("receipt")[0].final)


@pytest.mark.parametrize(
    ("password", "personas", "status"),
    [
        ("secret", (Persona(Fault.BIND_REFUSED),), consts.SMPP_ESME_RBINDFAIL),
        ("wrong", (), consts.SMPP_ESME_RINVPASWD),
    ],
)
def test_refused_bind_backs_off_with_growing_capped_delays(harness, password, personas, status):
    sim = harness.sim(profiles=_profile(*personas))
    started = time.monotonic()
    session, _ = harness.session(
        sim.port, bound=False, password=password, reconnect_initial=0.02, reconnect_max=0.08
    )
    assert wait_counter(session, "bind_failures", 6)
    elapsed = time.monotonic() - started
    snapshot = session.snapshot()
    delays = snapshot.backoff_delays
    assert snapshot.state is not SessionState.BOUND
    assert snapshot.last_error == f"bind refused with 0x{status:02x}"
    assert 0.01 <= delays[0] <= 0.02  # half to all of the initial delay (jitter)
    assert all(0.04 <= d <= 0.08 for d in delays[2:5])  # doubled twice, then capped
    assert max(delays) <= 0.08
    assert elapsed >= sum(delays[:5])  # really waited: no hot loop


def test_missing_bind_response_times_out_and_retries(harness: Harness):
    sim = harness.sim(profiles=_profile(Persona(Fault.NO_BIND_RESPONSE)))
    session, _ = harness.session(sim.port, bound=False, response_timeout=0.2)
    assert wait_counter(session, "bind_failures", 2)
    assert session.snapshot().last_error == "no bind response within 0.2s"
    assert counter(session, "binds") == 0


# -- submit outcomes ----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.THROTTLE, Fault.QUEUE_FULL])
def test_throttled_parts_are_requeued_and_all_accepted(harness: Harness, fault: Fault):
    sim = harness.sim(profiles=_profile(Persona(fault, count=3)))
    session, recorder = harness.session(sim.port, throttle_pause=0.1)
    session.submit([part(key, short_message=b"part %d" % key) for key in range(5)])
    results = recorder.wait_results(5)
    assert [r.status for r in results] == [SubmitStatus.ACCEPTED] * 5
    assert {r.key for r in results} == set(range(5))
    assert sum(r.attempts for r in results) == 8
    submitted = sim.wait_for_submits(8)
    assert [s.fault for s in submitted[:3]] == [fault] * 3
    for throttled in submitted[:3]:  # each retry waited for the bind's pause
        retry = next(s for s in submitted[3:] if s.payload == throttled.payload)
        assert (retry.received_at - throttled.received_at).total_seconds() >= 0.09
    assert counter(session, "throttled") == 3
    assert len(recorder.results) == 5  # nothing was ever reported failed


def test_missing_submit_response_is_unknown_and_the_bind_stays_up(harness: Harness):
    sim = harness.sim(destination_personas={SLOW: Persona(Fault.NO_SUBMIT_RESPONSE)})
    session, recorder = harness.session(sim.port, response_timeout=0.3)
    session.submit([part(1, SLOW)])
    (lost,) = recorder.wait_results(1)
    assert lost.status is SubmitStatus.UNKNOWN
    assert lost.detail == "no response within 0.3s"
    session.submit([part(2)])
    assert recorder.wait_results(2)[1].status is SubmitStatus.ACCEPTED
    assert counter(session, "binds") == 1


def test_late_response_within_the_timeout_is_accepted(harness: Harness):
    sim = harness.sim(destination_personas={SLOW: Persona(Fault.LATE_RESPONSE, delay=0.2)})
    session, recorder = harness.session(sim.port, response_timeout=2.0)
    session.submit([part(1, SLOW)])
    (result,) = recorder.wait_results(1)
    assert result.status is SubmitStatus.ACCEPTED
    assert not result.late


def test_response_after_the_timeout_corrects_unknown(harness: Harness):
    sim = harness.sim(destination_personas={SLOW: Persona(Fault.LATE_RESPONSE, delay=0.4)})
    session, recorder = harness.session(sim.port, response_timeout=0.15)
    session.submit([part(1, SLOW)])
    unknown, late = recorder.wait_results(2)
    assert (unknown.status, unknown.late) == (SubmitStatus.UNKNOWN, False)
    assert (late.status, late.late, late.key) == (SubmitStatus.ACCEPTED, True, 1)
    assert late.message_id == sim.submitted()[0].message_id


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (consts.SMPP_ESME_RINVDSTADR, SubmitStatus.REJECTED),
        (consts.SMPP_ESME_RSYSERR, SubmitStatus.TEMPORARY),
    ],
)
def test_generic_nack_with_our_sequence(harness: Harness, status, expected):
    sim = harness.sim(destination_personas={OTHER: Persona(Fault.GENERIC_NACK, status=status)})
    session, recorder = harness.session(sim.port)
    session.submit([part(1, OTHER), part(2)])
    results = {r.key: r for r in recorder.wait_results(2)}
    assert (results[1].status, results[1].command_status) == (expected, status)
    assert results[2].status is SubmitStatus.ACCEPTED


def test_generic_nack_without_sequence_goes_to_the_only_outstanding_submit(harness: Harness):
    persona = Persona(Fault.GENERIC_NACK_NO_SEQUENCE, status=consts.SMPP_ESME_RINVSRCADR)
    sim = harness.sim(destination_personas={OTHER: persona})
    session, recorder = harness.session(sim.port, window=1)
    session.submit([part(1), part(2, OTHER), part(3)])
    results = {r.key: r for r in recorder.wait_results(3)}
    assert results[2].status is SubmitStatus.REJECTED
    assert results[2].command_status == consts.SMPP_ESME_RINVSRCADR
    assert results[1].status is results[3].status is SubmitStatus.ACCEPTED


def test_generic_nack_without_sequence_goes_to_the_oldest_submit(harness: Harness):
    """The documented rule with several outstanding: the oldest gets the nack, and its real
    response, arriving later, is still reported (late); the nacked one times out."""
    personas = {
        SLOW: Persona(Fault.LATE_RESPONSE, delay=0.3),
        OTHER: Persona(Fault.GENERIC_NACK_NO_SEQUENCE, status=consts.SMPP_ESME_RSYSERR),
    }
    sim = harness.sim(destination_personas=personas)
    session, recorder = harness.session(sim.port, response_timeout=0.6)
    session.submit([part(1, SLOW), part(2, OTHER)])
    results = recorder.wait_results(3)
    assert [(r.key, r.status, r.late) for r in results] == [
        (1, SubmitStatus.TEMPORARY, False),
        (1, SubmitStatus.ACCEPTED, True),
        (2, SubmitStatus.UNKNOWN, False),
    ]


def test_connection_dropped_mid_pdu_makes_outstanding_unknown_then_reconnects(harness):
    personas = {
        SLOW: Persona(Fault.LATE_RESPONSE, delay=1.0),
        OTHER: Persona(Fault.DROP_MID_PDU, count=1),
    }
    sim = harness.sim(destination_personas=personas)
    session, recorder = harness.session(sim.port)
    session.submit([part(1, SLOW), part(2, SLOW), part(3, OTHER)])
    results = recorder.wait_results(3)
    assert {r.key: r.status for r in results} == {k: SubmitStatus.UNKNOWN for k in (1, 2, 3)}
    assert all(r.detail.startswith("connection lost: connection closed") for r in results)
    wait_bound(session, binds=2)
    assert counter(session, "connections_lost") == 1
    session.submit([part(4, OTHER)])
    assert recorder.wait_results(4)[3].status is SubmitStatus.ACCEPTED


def test_pdus_written_byte_by_byte_are_reassembled(harness: Harness):
    sim = harness.sim(profiles=_profile(Persona(Fault.SLICED_WRITES)))
    session, recorder = harness.session(sim.port)
    session.submit([part(1, registered_delivery=1)])
    (result,) = recorder.wait_results(1)
    (receipt,) = recorder.wait_messages(1)
    assert result.status is SubmitStatus.ACCEPTED
    assert receipt.receipted_message_id == result.message_id


def test_unknown_command_from_the_smsc_is_nacked_and_the_session_continues(harness):
    sim = harness.sim(destination_personas={OTHER: Persona(Fault.UNKNOWN_COMMAND)})
    session, recorder = harness.session(sim.port)
    session.submit([part(1, OTHER)])
    assert recorder.wait_results(1)[0].status is SubmitStatus.ACCEPTED
    assert sim.wait_for(lambda: len(sim.received_nacks()) == 1)
    assert sim.received_nacks()[0].status == consts.SMPP_ESME_RINVCMDID
    session.submit([part(2)])
    assert recorder.wait_results(2)[1].status is SubmitStatus.ACCEPTED
    assert counter(session, "binds") == 1


@pytest.mark.parametrize("length", [8, 2**31])
def test_bad_command_length_is_nacked_then_the_session_reconnects(harness: Harness, length):
    persona = Persona(Fault.BAD_COMMAND_LENGTH, command_length=length, count=1)
    sim = harness.sim(destination_personas={OTHER: persona})
    session, recorder = harness.session(sim.port)
    session.submit([part(1, OTHER)])
    (result,) = recorder.wait_results(1)
    assert result.status is SubmitStatus.UNKNOWN
    assert sim.wait_for(lambda: len(sim.received_nacks()) == 1)
    nack = sim.received_nacks()[0]
    assert (nack.status, nack.sequence) == (consts.SMPP_ESME_RINVCMDLEN, 0)
    wait_bound(session, binds=2)
    assert "invalid command_length" in (session.snapshot().last_error or "")
    session.submit([part(2, OTHER)])
    assert recorder.wait_results(2)[1].status is SubmitStatus.ACCEPTED


def test_receipt_before_submit_response_both_reach_the_caller(harness: Harness):
    sim = harness.sim(destination_personas={HANDSET: Persona(Fault.DLR_BEFORE_RESP)})
    session, recorder = harness.session(sim.port)
    session.submit([part(1, registered_delivery=1)])
    (receipt,) = recorder.wait_messages(1)
    (result,) = recorder.wait_results(1)
    assert result.status is SubmitStatus.ACCEPTED
    assert receipt.receipted_message_id == result.message_id


# -- window and sequence numbers ----------------------------------------------------------------


def _arrivals(sim) -> list[float]:
    submitted = sim.submitted()
    return [(s.received_at - submitted[0].received_at).total_seconds() for s in submitted]


def test_window_of_one_never_has_two_submits_outstanding(harness: Harness):
    sim = harness.sim(destination_personas={SLOW: Persona(Fault.LATE_RESPONSE, delay=0.15)})
    session, recorder = harness.session(sim.port, window=1)
    session.submit([part(key, SLOW) for key in range(3)])
    recorder.wait_results(3)
    arrivals = _arrivals(sim)
    # Each submit only left after the previous (late) response came in.
    assert all(b - a >= 0.14 for a, b in itertools.pairwise(arrivals))


def test_window_of_ten_holds_the_eleventh_submit(harness: Harness):
    sim = harness.sim(destination_personas={SLOW: Persona(Fault.LATE_RESPONSE, delay=0.5)})
    session, recorder = harness.session(sim.port, window=10)
    session.submit([part(key, SLOW) for key in range(12)])
    session.wait_until(lambda s: s.window_in_use == 10, DEADLINE)
    recorder.wait_results(12)
    arrivals = _arrivals(sim)
    assert max(arrivals[:10]) < 0.4  # ten went at once
    assert min(arrivals[10:]) >= 0.45  # the rest waited for a response


def test_sequence_numbers_wrap_to_one(harness: Harness):
    sim = harness.sim()
    session, recorder = harness.session(sim.port, first_sequence=MAX_SEQUENCE - 1)
    session.submit([part(key) for key in range(3)])
    results = recorder.wait_results(3)
    assert [s.sequence for s in sim.submitted()] == [MAX_SEQUENCE, 1, 2]  # bind took MAX-1
    assert [r.status for r in results] == [SubmitStatus.ACCEPTED] * 3


# -- throughput ------------------------------------------------------------------------------------


def test_tps_limit_is_respected(harness: Harness):
    sim = harness.sim()
    session, recorder = harness.session(sim.port, tps=50, window=50)
    session.submit([part(key) for key in range(60)])
    recorder.wait_results(60)
    arrivals = _arrivals(sim)
    steady = arrivals[5:]  # after the small initial burst
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert 35 <= rate <= 55
    assert arrivals[-1] >= 1.0  # 60 submits at 50/s cannot take less
    assert session.snapshot().tps_measured > 0
