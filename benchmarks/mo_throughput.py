"""MO end to end: deliver_sm from an SMSC in its own process → stored by the real gateway
(InboundMessage rows committed) → deliver_sm_resp, at a paced rate or as fast as it goes.

    .venv/bin/python benchmarks/mo_throughput.py --rate 1000 --seconds 30
    .venv/bin/python benchmarks/mo_throughput.py --rate 0 --seconds 30 --window 100
    .venv/bin/python benchmarks/mo_throughput.py --rate 1000 --seconds 30 [--concat] \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --redis redis://127.0.0.1:6379/13

The SMSC side is a small server built on the project's PDU code, in a process of its own
(so it never competes with the gateway for the GIL): it answers the bind, paces MOs with a
token bucket (``--rate`` MOs per second, 0 = no cap: as fast as the window allows) and keeps
at most ``--window`` deliver_sm unanswered, as a real SMSC does. The built-in simulator is
not used because it writes every injected MO at once (no window: its outstanding
deliver_sm are bounded only by its 30 s response timeout) and takes no timestamps.

Latency is per deliver_sm, from just after the SMSC wrote it to just after the SMSC read its
deliver_sm_resp: loopback both ways included, so an upper bound of the gateway's received
→ acknowledged. The gateway-side figure (PDU decoded → response written, taken around
``GatewayStore.acknowledge``) is printed too. The first ``--warmup`` seconds are left out of
the rate and the percentiles. Every MO has a unique text; at the end every injected text
must be stored exactly once ("lost" and "duplicated" must be 0).

Without --database/--redis it runs on a temporary SQLite file and an embedded Redis. With
--database it creates (and drops) its own database on that server; with --redis it deletes
its keys at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flask import Flask
from smpplib import consts

from benchmarks.scratch import scratch_database
from interactive import migrate, redis_store
from interactive.app import create_app
from interactive.db import db
from interactive.keywords.models import InboundMessage, InboundPart
from interactive.smpp import pdu
from interactive.smpp.config import SmppConnection
from interactive.smpp.gateway import Gateway
from interactive.smpp.gateway_store import Batch, GatewayStore, Stored
from interactive.smpp.messages import SubmitPart

HANDSETS = 10_000  # distinct source numbers
DESTINATION = "4664"
CONCAT_FILLER = "Merhaba bu uzun bir yanit mesajidir ve iki parcaya bolunur " * 4
CONCAT_LENGTH = 220  # GSM characters: 153 + 67, two parts with a 16-bit reference UDH
PART_SIZE = 153
BURST_S = 0.01  # token bucket depth: 10 ms of the rate (no catch-up bursts after a stall)
MAX_WRITE = 64  # PDUs per write at most
RETRY_DELAY_S = 0.2  # a refused deliver_sm (store failure) is sent again after this
DRAIN_TIMEOUT_S = 120.0
DELIVER_SM_ID = pdu.command_id("deliver_sm").to_bytes(4, "big")
DELIVER_SM_RESP = pdu.command_id("deliver_sm_resp")


# --- the SMSC side (its own process) ----------------------------------------------------


@dataclass(frozen=True)
class Plan:
    rate: float  # MOs per second; 0 = no cap
    seconds: float
    window: int  # deliver_sm outstanding at most
    concat: bool
    run: str  # in every text, so that texts are unique


def mo_text(plan: Plan, n: int) -> str:
    head = f"MO {plan.run} {n:08d}"
    if not plan.concat:
        return f"{head} EVET"
    return f"{head} {CONCAT_FILLER}"[:CONCAT_LENGTH]


def mo_parts(plan: Plan, n: int) -> list[SubmitPart]:
    """The deliver_sm of MO ``n``: same body layout as submit_sm, so the project's fast
    encoder builds them (``_check_encoder`` proves the bytes equal smpplib's deliver_sm)."""
    payload, dcs = pdu.encode_text(mo_text(plan, n), None)
    source = f"90532{n % HANDSETS:07d}"
    common: dict[str, Any] = {
        "key": n,
        "source": source,
        "destination": DESTINATION,
        "data_coding": dcs,
        "registered_delivery": 0,
        "source_ton": 1,
        "dest_ton": 0,
    }
    if not plan.concat:
        return [SubmitPart(short_message=payload, **common)]
    ref = (n // HANDSETS) & 0xFFFF  # unique per handset for the whole run
    chunks = [payload[:PART_SIZE], payload[PART_SIZE:]]
    return [
        SubmitPart(
            short_message=pdu.concat_udh(ref, 2, i, sixteen_bit=True) + chunk,
            esm_class=consts.SMPP_GSMFEAT_UDHI,
            part_number=i,
            total_parts=2,
            **common,
        )
        for i, chunk in enumerate(chunks, 1)
    ]


def deliver_sm(part: SubmitPart, sequence: int) -> bytes:
    raw = part.encode(sequence)
    return raw[:4] + DELIVER_SM_ID + raw[8:]


def _check_encoder() -> None:
    part = mo_parts(Plan(0, 0, 1, True, "check"), 7)[1]
    expected = pdu.encode(
        "deliver_sm",
        sequence=42,
        source_addr_ton=part.source_ton,
        source_addr_npi=part.source_npi,
        source_addr=part.source,
        dest_addr_ton=part.dest_ton,
        dest_addr_npi=part.dest_npi,
        destination_addr=part.destination,
        esm_class=part.esm_class,
        data_coding=part.data_coding,
        short_message=part.short_message,
    )
    if deliver_sm(part, 42) != expected:
        raise RuntimeError("the fast deliver_sm encoder differs from smpplib's")


class BenchSmsc:
    """One accepted connection: a reader thread answers the gateway's requests and times
    deliver_sm_resp; ``inject`` (the caller's thread) writes MOs within rate and window."""

    def __init__(self, sock: socket.socket, plan: Plan) -> None:
        self.sock = sock
        self.plan = plan
        self.cond = threading.Condition()
        self.write_lock = threading.Lock()
        self.bound = threading.Event()
        self.closed = False
        self.outstanding = 0
        self.max_outstanding = 0
        self.sequence = 0
        self.meta: dict[int, tuple[int, int]] = {}  # seq → (mo, part index)
        self.written: dict[int, float] = {}  # seq → perf_counter after the write
        self.answered: dict[int, tuple[float, int]] = {}  # seq → (perf_counter, status)
        self.retry: deque[tuple[float, int, int]] = deque()  # (due, mo, part index)

    # reader thread
    def read_loop(self) -> None:
        reader = pdu.PduReader(self.sock)
        try:
            while True:
                raw = reader.read()
                now = time.perf_counter()
                header = pdu.parse_header(raw)
                if header.command_id == DELIVER_SM_RESP:
                    self._on_resp(header.sequence, header.status, now)
                elif not self._on_request(raw):
                    return
        except (pdu.ConnectionClosedError, pdu.PduError, OSError):
            return
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def _on_resp(self, seq: int, status: int, now: float) -> None:
        with self.cond:
            if seq not in self.meta or seq in self.answered:
                return
            self.answered[seq] = (now, status)
            self.outstanding -= 1
            if status != consts.SMPP_ESME_ROK:
                self.retry.append((now + RETRY_DELAY_S, *self.meta[seq]))
            self.cond.notify_all()

    def _on_request(self, raw: bytes) -> bool:
        decoded = pdu.decode(raw)
        seq, name = decoded.sequence, decoded.command
        if name.startswith("bind_"):
            self._send(pdu.encode(f"{name}_resp", sequence=seq, system_id="BENCH"))
            self.bound.set()
        elif name == "enquire_link":
            self._send(pdu.encode("enquire_link_resp", sequence=seq))
        elif name == "unbind":
            self._send(pdu.encode("unbind_resp", sequence=seq))
            return False
        elif not decoded.header.is_response:
            self._send(pdu.generic_nack(consts.SMPP_ESME_RINVCMDID, seq))
        return True

    def _send(self, data: bytes) -> None:
        with self.write_lock:
            self.sock.sendall(data)

    # injecting thread
    def inject(self) -> dict[str, Any]:
        plan = self.plan
        per_mo = 2 if plan.concat else 1
        parts_of: dict[int, list[SubmitPart]] = {}
        started = last = time.perf_counter()
        end = started + plan.seconds
        burst = max(1.0, plan.rate * BURST_S)
        tokens = 1.0
        injected = 0
        window_wait = 0.0
        while True:
            now = time.perf_counter()
            injecting = now < end
            if plan.rate and injecting:
                tokens = min(burst, tokens + (now - last) * plan.rate)
                last = now
            with self.cond:
                if self.closed:
                    break
                if not injecting and not self.outstanding and not self.retry:
                    break
                if now > end + DRAIN_TIMEOUT_S:
                    break
                batch = self._due_retries(now)
                free = plan.window - self.outstanding - len(batch)
                count = free // per_mo if injecting else 0
                if plan.rate:
                    count = min(count, int(tokens))
                count = max(0, min(count, MAX_WRITE // per_mo))
                for n in range(injected, injected + count):
                    batch += [(n, i) for i in range(per_mo)]
                if not batch:
                    if injecting and plan.rate and tokens < 1 and free >= per_mo:
                        pause = (1 - tokens) / plan.rate
                    else:
                        pause = 0.05  # woken at once by the next deliver_sm_resp
                    waited = time.perf_counter()
                    self.cond.wait(pause)
                    if free < per_mo:
                        window_wait += time.perf_counter() - waited
                    continue
                seqs = []
                for item in batch:
                    self.sequence += 1
                    self.meta[self.sequence] = item
                    seqs.append(self.sequence)
                self.outstanding += len(batch)
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
            tokens -= count
            for n in range(injected, injected + count):
                parts_of[n] = mo_parts(plan, n)
            injected += count
            data = b"".join(
                deliver_sm(parts_of[n][i], seq) for seq, (n, i) in zip(seqs, batch, strict=True)
            )
            self._send(data)
            written = time.perf_counter()
            for seq in seqs:
                self.written[seq] = written
        with self.cond:
            return {
                "started": started,
                "injected": injected,
                "meta": dict(self.meta),
                "written": dict(self.written),
                "answered": dict(self.answered),
                "max_outstanding": self.max_outstanding,
                "window_wait_s": window_wait,
                "unanswered": self.outstanding,
                "closed": self.closed,
            }

    def _due_retries(self, now: float) -> list[tuple[int, int]]:
        due = []
        while self.retry and self.retry[0][0] <= now:
            _due, n, i = self.retry.popleft()
            due.append((n, i))
        return due


def smsc_main(plan: Plan, pipe: Connection) -> None:
    """Entry point of the SMSC process: port, then the results, through ``pipe``."""
    _check_encoder()
    with socket.create_server(("127.0.0.1", 0)) as server:
        pipe.send(int(server.getsockname()[1]))
        server.settimeout(60)
        sock, _peer = server.accept()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    smsc = BenchSmsc(sock, plan)
    reader = threading.Thread(target=smsc.read_loop, name="smsc-read", daemon=True)
    reader.start()
    if not smsc.bound.wait(60):
        pipe.send({"error": "no bind"})
        return
    result = smsc.inject()
    result["cpu_s"] = _cpu_seconds(None, resource.getrusage(resource.RUSAGE_SELF))
    pipe.send(result)
    reader.join(30)  # until the gateway unbinds
    sock.close()


# --- the gateway side (this process) ------------------------------------------------------


class TimedStore(GatewayStore):
    """The gateway's store, timing each deliver_sm from decoded to response written, and
    each group commit (MOs in it, seconds)."""

    def __init__(self, app: Flask, connection: SmppConnection) -> None:
        super().__init__(app, connection)
        self.samples: list[tuple[datetime, float]] = []  # (received_at, seconds)
        self.commits: list[tuple[int, float]] = []  # (deliver_sm, seconds)

    def store(self, batch: Batch) -> Stored:
        started = time.perf_counter()
        try:
            return super().store(batch)
        finally:
            self.commits.append((len(batch.delivers), time.perf_counter() - started))

    def acknowledge(self, batch: Batch, ok: bool) -> None:
        super().acknowledge(batch, ok)
        now = datetime.now(UTC)
        self.samples += [
            (p.received_at, (now - p.received_at).total_seconds()) for p, _r in batch.delivers
        ]


@dataclass
class Figures:
    seconds: float
    warmup: float
    acknowledged_per_s: float = 0.0
    injected_per_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    refused: int = 0


def main() -> None:
    args = _arguments()
    folder = Path(tempfile.mkdtemp(prefix="bench-mo-"))
    url, drop = scratch_database(args.database, folder)
    prefix = f"bench{secrets.token_hex(3)}"
    app: Flask | None = None
    try:
        migrate.upgrade(url)
        config = {
            "DATABASE_URL": url,
            "REDIS_URL": args.redis,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "REDIS_PREFIX": prefix,
            "LOG_LEVEL": "WARNING",
        }
        app = create_app(config, instance_path=folder)
        _run(app, args)
    finally:
        if app is not None:
            _forget_redis_keys(app, prefix)
            app.extensions["interactive.engine"].dispose()
        redis_store.stop_embedded_redis(folder)
        drop()
        shutil.rmtree(folder, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="MOs per second, 0 = no cap")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3, help="seconds left out of figures")
    parser.add_argument("--window", type=int, default=100, help="deliver_sm outstanding")
    parser.add_argument("--concat", action="store_true", help="2-part concatenated MOs")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: embedded)")
    args = parser.parse_args()
    if args.warmup >= args.seconds:
        parser.error("--warmup must be shorter than --seconds")
    return args


def _forget_redis_keys(app: Flask, prefix: str) -> None:
    client = app.extensions["interactive.redis"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def _run(app: Flask, args: argparse.Namespace) -> None:
    plan = Plan(args.rate, args.seconds, args.window, args.concat, secrets.token_hex(3))
    context = multiprocessing.get_context("spawn")
    pipe, child_end = context.Pipe()
    smsc = context.Process(target=smsc_main, args=(plan, child_end), name="bench-smsc")
    smsc.start()
    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        if not pipe.poll(60):
            raise SystemExit("the SMSC process did not start")
        port = pipe.recv()
        connection = SmppConnection(
            name="bench", host="127.0.0.1", port=port, system_id="bench", password="bench"
        )
        gateway = Gateway(app, connection)
        store = TimedStore(app, connection)
        gateway.store = store
        thread = threading.Thread(target=gateway.run, args=(stop,), name="gateway")
        cpu_started = resource.getrusage(resource.RUSAGE_SELF)
        thread.start()
        if not pipe.poll(args.seconds + DRAIN_TIMEOUT_S + 90):
            raise SystemExit("no result from the SMSC process")
        result = pipe.recv()
        cpu = _cpu_seconds(cpu_started, resource.getrusage(resource.RUSAGE_SELF))
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        smsc.join(30)
        if smsc.is_alive():
            smsc.terminate()
            smsc.join()
    if "error" in result:
        raise SystemExit(f"SMSC: {result['error']}")
    _report(app, args, plan, result, store, cpu)


def _report(
    app: Flask,
    args: argparse.Namespace,
    plan: Plan,
    result: dict[str, Any],
    store: TimedStore,
    gateway_cpu: float,
) -> None:
    figures = _figures(plan, args.warmup, result)
    check = _check(app, plan, result["injected"])
    backend = app.extensions["interactive.engine"].dialect.name
    gateway_side = _gateway_side(store.samples, args.warmup)
    commits = [c for c in store.commits if c[0]]
    mean_batch = sum(n for n, _s in commits) / len(commits) if commits else 0.0
    print(
        f"backend={backend} rate={'none' if not plan.rate else f'{plan.rate:g}'} "
        f"window={plan.window} concat={plan.concat} seconds={plan.seconds:g} "
        f"warmup={args.warmup:g}\n"
        f"injected={result['injected']} stored={check.stored} rows={check.rows} "
        f"lost={result['injected'] - check.stored} duplicated={check.duplicated} "
        f"partial={check.partial} parts={check.parts} parts_unlinked={check.parts_unlinked} "
        f"refused={figures.refused} unanswered={result['unanswered']}\n"
        f"mo_per_s={figures.acknowledged_per_s:.0f} (acknowledged) "
        f"injected_per_s={figures.injected_per_s:.0f} "
        f"max_outstanding={result['max_outstanding']} "
        f"window_full_s={result['window_wait_s']:.1f}\n"
        f"smsc_latency_ms {_percentiles(figures.latencies)}\n"
        f"gateway_latency_ms {_percentiles(gateway_side)}\n"
        f"group_commits={len(commits)} deliver_sm_per_commit={mean_batch:.1f} "
        f"commit_ms {_percentiles([s * 1000 for _n, s in commits])}\n"
        f"gateway_cpu_s={gateway_cpu:.1f} smsc_cpu_s={result['cpu_s']:.1f}"
    )


def _figures(plan: Plan, warmup: float, result: dict[str, Any]) -> Figures:
    """Per MO: written when its first part first was, acknowledged when its last part got
    an OK response. Rates count MOs of the steady window [warmup, seconds]."""
    meta: dict[int, tuple[int, int]] = result["meta"]
    written: dict[int, float] = result["written"]
    answered: dict[int, tuple[float, int]] = result["answered"]
    start = result["started"] + warmup
    end = result["started"] + plan.seconds
    figures = Figures(plan.seconds, warmup)
    first_written: dict[int, float] = {}
    acknowledged: dict[int, float] = {}
    for seq, (n, _part) in meta.items():
        sent = written.get(seq)
        if sent is None:
            continue
        first_written[n] = min(first_written.get(n, sent), sent)
        answer = answered.get(seq)
        if answer is None:
            continue
        read, status = answer
        if status != consts.SMPP_ESME_ROK:
            figures.refused += 1
            continue
        acknowledged[n] = max(acknowledged.get(n, read), read)
        if sent >= start:
            figures.latencies.append((read - sent) * 1000)
    span = end - start
    figures.acknowledged_per_s = sum(1 for t in acknowledged.values() if start <= t < end) / span
    figures.injected_per_s = sum(1 for t in first_written.values() if start <= t < end) / span
    return figures


def _gateway_side(samples: list[tuple[datetime, float]], warmup: float) -> list[float]:
    if not samples:
        return []
    first = min(received for received, _ in samples)
    return [s * 1000 for received, s in samples if (received - first).total_seconds() >= warmup]


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n=0"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"n={len(ordered)} p50={at(0.50):.1f} p95={at(0.95):.1f} p99={at(0.99):.1f} "
        f"max={ordered[-1]:.1f}"
    )


@dataclass
class Check:
    """What the database holds at the end."""

    stored: int  # injected texts found
    rows: int
    duplicated: int  # rows beyond the first of a text
    partial: int
    parts: int  # InboundPart rows (concatenated MOs)
    parts_unlinked: int  # parts not linked to their message


def _check(app: Flask, plan: Plan, injected: int) -> Check:
    """Every injected text stored exactly once, and every part linked to its message."""
    with app.app_context():
        session = db.session()
        query = sa.select(InboundMessage.text, sa.func.count()).group_by(InboundMessage.text)
        counts = {text: int(count) for text, count in session.execute(query)}
        partial = sa.select(sa.func.count()).where(InboundMessage.partial.is_(True))
        parts = sa.select(sa.func.count()).select_from(InboundPart)
        unlinked = parts.where(InboundPart.message_id.is_(None))
        numbers = [int(session.scalar(q) or 0) for q in (partial, parts, unlinked)]
        db.session.remove()
    expected = {mo_text(plan, n) for n in range(injected)}
    unexpected = set(counts) - expected
    if unexpected:
        print(f"unexpected texts stored: {len(unexpected)}", file=sys.stderr)
    return Check(
        stored=sum(1 for text in expected if text in counts),
        rows=sum(counts.values()),
        duplicated=sum(c - 1 for c in counts.values() if c > 1),
        partial=numbers[0],
        parts=numbers[1],
        parts_unlinked=numbers[2],
    )


def _cpu_seconds(before: resource.struct_rusage | None, after: resource.struct_rusage) -> float:
    used = after.ru_utime + after.ru_stime
    return used - (before.ru_utime + before.ru_stime) if before else used


if __name__ == "__main__":
    main()
