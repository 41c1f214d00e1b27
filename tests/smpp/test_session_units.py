"""The pieces of the SMPP session that need no socket: settings, building submit parts, the
token bucket, backoff, the window and PDU framing. Plus long messages through the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from smpplib import consts

from interactive.outbound.decoding import parse_udh
from interactive.outbound.encoding import join, split
from interactive.smpp import pdu
from interactive.smpp.config import SmppConnection, parse_connections
from interactive.smpp.messages import SubmitPart, SubmitStatus
from interactive.smpp.parts import build_submit_parts, relative_validity, source_address
from interactive.smpp.pdu import MAX_SEQUENCE
from interactive.smpp.throttle import Backoff, RateMeter, TokenBucket
from interactive.smpp.transport import PduFramer
from interactive.smpp.window import Window
from tests.smpp.session_harness import HANDSET, Harness, run_harness


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield from run_harness()


# -- settings -----------------------------------------------------------------------------------

MINIMAL = {"name": "turkcell", "host": "smsc.example", "system_id": "acme"}


def _parse(*items: dict) -> tuple[SmppConnection, ...]:
    return parse_connections(json.dumps(list(items)))


def test_parse_connections_with_defaults_and_overrides():
    first, second = _parse(
        MINIMAL,
        {
            **MINIMAL,
            "name": "vodafone",
            "window": 1,
            "tps": 100,
            "temporary_errors": ["0x58", 8],
            "short_codes": ["4664", "3338"],
            "bind_mode": "tx_rx",
            "binds": 3,
        },
    )
    assert (first.port, first.window, first.tps, first.bind_mode) == (2775, 10, 0.0, "transceiver")
    assert first.temporary_errors == frozenset({0x08, 0x14, 0x58, 0x64})
    assert first.throttle_errors == frozenset({0x14, 0x58})
    assert first.store_failure_status == consts.SMPP_ESME_RX_T_APPN
    assert (first.enquire_link_interval, first.inactivity_timeout) == (30.0, 180.0)
    assert second.temporary_errors == frozenset({0x58, 0x08})
    assert second.short_codes == ("4664", "3338")
    assert (second.window, second.tps, second.bind_mode) == (1, 100.0, "tx_rx")
    assert (first.binds, second.binds) == (1, 3)
    assert parse_connections("  ") == ()


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{**MINIMAL, "windw": 3}], "connection 'turkcell' key 'windw': unknown key"),
        ([{**MINIMAL, "window": 0}], "connection 'turkcell' key 'window': must be between"),
        ([{**MINIMAL, "binds": 0}], "connection 'turkcell' key 'binds': must be between"),
        ([{**MINIMAL, "tps": "fast"}], "connection 'turkcell' key 'tps': must be a number"),
        ([{**MINIMAL, "tls": "yes"}], "connection 'turkcell' key 'tls': must be true or false"),
        ([{**MINIMAL, "long_message": "x"}], "key 'long_message': must be one of 'udh8'"),
        ([{**MINIMAL, "temporary_errors": "0x58"}], "key 'temporary_errors': must be a list"),
        ([{**MINIMAL, "reconnect_initial": 90}], "key 'reconnect_initial': must not exceed"),
        ([{"name": "x", "system_id": "a"}], "connection 'x' key 'host': missing"),
        ([{**MINIMAL, "name": ""}], "connection #1 key 'name': must not be empty"),
        ([MINIMAL, MINIMAL], "connection 'turkcell' key 'name': duplicate"),
        ([[1]], "connection #1: must be a JSON object"),
    ],
)
def test_bad_connection_settings_name_the_connection_and_the_key(items, message):
    with pytest.raises(ValueError, match="INTERACTIVE_SMPP_CONNECTIONS") as caught:
        parse_connections(json.dumps(items))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_json_and_secrets_are_not_echoed():
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_connections("[{")
    with pytest.raises(ValueError, match="must be a JSON list"):
        parse_connections("{}")
    with pytest.raises(ValueError, match="password") as caught:
        _parse({**MINIMAL, "password": "much-too-long-secret"})
    assert "key 'password': must be at most 8 characters" in str(caught.value)
    assert "much-too-long-secret" not in str(caught.value)


# -- building parts --------------------------------------------------------------------------------

LONG = "Kampanya! " * 20  # 200 GSM characters: two parts
TURKISH = "Şubat ayında ğ ı İ ş indirimi " * 6  # needs the Turkish shift (or UCS-2)


def _connection(**settings) -> SmppConnection:
    return SmppConnection(name="t", host="h", **settings)


def _build(text: str, **settings):
    connection = _connection(**settings)
    return build_submit_parts(
        text, connection, key="m1", source="4664", destination="+905551234567", concat_ref=300
    )


@pytest.mark.parametrize(("mode", "iei", "ref"), [("udh8", 0x00, 300 & 0xFF), ("udh16", 0x08, 300)])
def test_concatenated_parts_carry_udh(mode, iei, ref):
    parts = _build(LONG, long_message=mode)
    assert [(p.part_number, p.total_parts) for p in parts] == [(1, 2), (2, 2)]
    for number, p in enumerate(parts, start=1):
        assert p.esm_class == 0x40
        assert p.short_message[1] == iei
        concat = parse_udh(p.short_message[: p.short_message[0] + 1]).concat
        assert concat is not None
        assert (concat.ref, concat.total, concat.seq) == (ref, 2, number)
    assert parts[0].destination == HANDSET
    assert (parts[0].dest_ton, parts[0].dest_npi, parts[0].key) == (1, 1, "m1")


def test_sar_parts_have_tlvs_and_no_concat_udh_but_keep_the_turkish_shift():
    parts = _build(LONG, long_message="sar")
    assert [p.sar for p in parts] == [(300, 2, 1), (300, 2, 2)]
    assert all(p.esm_class == 0 for p in parts)
    assert parts[0].short_message.startswith(b"Kampanya")
    shifted = _build(TURKISH, long_message="sar", turkish_shift=True)
    assert len(shifted) > 1
    udh = parse_udh(shifted[0].short_message[: shifted[0].short_message[0] + 1])
    assert (udh.concat, udh.single_shift) == (None, 1)
    assert shifted[0].esm_class == 0x40


def test_payload_mode_sends_one_submit_and_ucs2_for_turkish():
    (single,) = _build(LONG, long_message="payload")
    assert single.short_message == b""
    assert single.message_payload == b"".join(p.payload for p in split(LONG))
    (turkish,) = _build(TURKISH, long_message="payload", turkish_shift=True)
    assert turkish.data_coding == 8
    assert turkish.message_payload == TURKISH.encode("utf-16-be")


def test_short_text_is_one_plain_part_with_validity_and_sender_type():
    (only,) = _build("Merhaba", long_message="payload", validity_period=2 * 86400 + 61)
    assert (only.short_message, only.esm_class, only.sar) == (b"Merhaba", 0, None)
    assert only.validity_period == "000002000101000R"
    assert (only.source, only.source_ton, only.source_npi) == ("4664", 0, 1)
    assert source_address("ACME", _connection()) == ("ACME", 5, 0)
    assert source_address("+905551234567", _connection()) == (HANDSET, 1, 1)
    assert source_address("4664", _connection(source_ton=3, source_npi=0)) == ("4664", 3, 0)
    with pytest.raises(ValueError, match="99 days"):
        relative_validity(100 * 86400)


def test_parts_round_trip_to_the_text():
    parts = _build(TURKISH, turkish_shift=True)
    encoded = split(TURKISH, turkish_shift=True, concat_ref=300 & 0xFF)
    assert [p.short_message for p in parts] == [e.udh + e.payload for e in encoded]
    assert join(encoded) == TURKISH


@pytest.mark.parametrize("mode", ["sar", "payload", "udh16"])
def test_long_messages_reach_the_simulator(harness: Harness, mode):
    sim = harness.sim()
    session, recorder = harness.session(sim.port, long_message=mode)
    parts = build_submit_parts(
        LONG, session.connection, key=1, source="4664", destination=HANDSET, concat_ref=7
    )
    session.submit(parts)
    results = recorder.wait_results(len(parts))
    assert {r.status for r in results} == {SubmitStatus.ACCEPTED}
    payload = b"".join(m.payload for m in sim.inbox(HANDSET))
    assert payload == b"".join(e.payload for e in split(LONG))
    if mode == "sar":
        assert [m.sar for m in sim.inbox(HANDSET)] == [(7, 2, 1), (7, 2, 2)]


def test_unencodable_parts_are_refused_before_queueing(harness: Harness):
    sim = harness.sim()
    session, _ = harness.session(sim.port)
    with pytest.raises(ValueError, match="254"):
        session.submit([SubmitPart(key=1, source="1", destination="2", short_message=b"x" * 300)])
    assert session.snapshot().queued == 0


# -- rate control -------------------------------------------------------------------------------


def test_token_bucket_allows_a_small_burst_then_the_rate():
    bucket = TokenBucket(100)  # burst of 5
    assert [bucket.take(10.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(10.0) == pytest.approx(0.01)
    assert bucket.take(10.005) == pytest.approx(0.005)
    assert bucket.take(10.01) == 0.0
    sent, now = 0, 20.0
    while now < 80.0:  # 60 s driven by the bucket's own waits
        wait = bucket.take(now)
        sent += wait == 0.0
        now += wait
    assert 6000 <= sent <= 6006
    assert TokenBucket(0).take(0.0) == 0.0


def test_rate_meter_measures_the_recent_rate():
    meter = RateMeter(horizon=10.0)
    for i in range(500):
        meter.record(100.0 + i / 50)
    assert meter.rate(110.0) == pytest.approx(50, rel=0.05)
    assert meter.rate(200.0) == 0.0


def test_backoff_doubles_with_jitter_and_is_capped():
    high = Backoff(1.0, 60.0, rng=lambda: 1.0)
    assert [high.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    low = Backoff(1.0, 60.0, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.5, 1, 2]
    low.reset()
    assert low.next_delay() == 0.5


# -- window and framing -------------------------------------------------------------------------


def test_sequence_numbers_wrap_and_skip_ones_in_use():
    window = Window(10, first_sequence=MAX_SEQUENCE)
    held = window.open("submit", 0.0, 30.0)
    timed_out = window.open("submit", 0.0, 30.0)
    assert (held.sequence, timed_out.sequence) == (MAX_SEQUENCE, 1)  # wrapped
    window.pop(timed_out.sequence)
    window.retire(timed_out)  # a late response may still come for it
    window._next = MAX_SEQUENCE  # as if 2**31 numbers had gone by since
    assert window.next_sequence() == 2  # neither the outstanding nor the retired one


def test_window_counts_submits_only_and_expires():
    window = Window(2)
    window.open("enquire_link", 0.0, 1.0)
    window.open("submit", 0.0, 5.0)
    assert window.has_room
    window.open("submit", 0.5, 5.0)
    assert not window.has_room
    assert [r.kind for r in window.expired(1.0)] == ["enquire_link"]
    assert window.oldest_submit() is not None
    assert window.oldest_submit().sent_at == 0.0
    assert len(window.expired(5.6)) == 2
    assert window.has_room


def test_framer_reassembles_slices_and_refuses_bad_lengths():
    raws = [pdu.encode("enquire_link", sequence=n) for n in (1, 2)]
    framer = PduFramer()
    stream = b"".join(raws)
    out = [raw for i in range(len(stream)) for raw in framer.feed(stream[i : i + 1])]
    assert out == raws
    assert not framer.partial
    bad = raws[0] + (2**31).to_bytes(4, "big")
    fed = framer.feed(bad)
    assert next(fed) == raws[0]  # what came before the bad header is still delivered
    with pytest.raises(pdu.CommandLengthError):
        next(fed)
