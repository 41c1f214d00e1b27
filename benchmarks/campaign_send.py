"""Campaign send end to end: from "send now" on a commercial campaign (one tracked link per
recipient) to every part submitted to the built-in simulator (submit_sm_resp stored), then
to every receipt applied, through the processes the product runs.

    .venv/bin/python benchmarks/campaign_send.py --contacts 100000 --workers 2 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --redis redis://127.0.0.1:6379/13

Loads N contacts with fanout.py's loader (90 % with ONAY; not timed), starts
`interactive simulator` (receipts after its usual delay unless --no-receipts),
`interactive gateway run simulator`, W `interactive worker` and `interactive scheduler`,
all on the run's database and Redis prefix, saves the campaign as a draft, then schedules it
for now with `campaigns.schedule` (what the Schedule button and the API's schedule action
call). The clock starts at that commit. Every second the chunks are counted; the parts
(one SQL count over ``message_parts``, a third of a second at 1.8M rows) every 10 s for a
progress line, and every second once the fan-out is done and the gateway's consumer group
has read and acknowledged every id on the outbound stream. Prints when the fan-out
finished, when every part was submitted, when every receipt was applied, CPU seconds per
process and the load average, then checks:
one message per eligible recipient, every part accepted once (the simulator numbers the
submits it accepts, so the highest id it gave is its submit count), one receipt each.

The window of allowed hours is set around the run so that quiet hours defer nobody.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from rq import Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flask import Flask

from benchmarks.fanout import _load, campaign_input
from benchmarks.mt_throughput import _backend_pids, _free_port, _proc_cpu
from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.app import create_app
from interactive.db import db, utcnow
from interactive.outbound import campaigns
from interactive.outbound.models import (
    Campaign,
    CampaignChunk,
    ChunkState,
    DeliveryReceipt,
    Message,
    MessagePart,
    PartState,
    Recipient,
    RecipientStatus,
)
from interactive.outbound.service import outbound_stream
from interactive.redis_store import get_redis
from interactive.shortlinks.models import Link
from interactive.smpp.gateway import key_for_status

CONNECTION = "simulator"
# The simulator numbers the submits it accepts from this value (hex in submit_sm_resp).
SIMULATOR_FIRST_ID = 0x1A2B3C00
SUBMITTED = [
    PartState.ACCEPTED,
    PartState.DELIVERED,
    PartState.UNDELIVERABLE,
    PartState.EXPIRED,
    PartState.DELETED,
    PartState.FAILED,
]


def main() -> None:
    args = _arguments()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    url, drop = scratch_database(args.database, folder)
    prefix = f"bench-{secrets.token_hex(3)}"
    client = redis.Redis.from_url(args.redis)
    settings = _settings(args, url, prefix, folder)
    processes = _Processes(settings)
    try:
        migrate.upgrade(url)
        app = create_app(
            {k.removeprefix("INTERACTIVE_"): v for k, v in settings.items()},
            instance_path=folder / "instance",
        )
        started = time.monotonic()
        _load(app, args.contacts)
        print(f"setup: {args.contacts} contacts in {time.monotonic() - started:.1f} s")
        processes.start(args.workers)
        _wait_ready(app, client, prefix, args.workers, processes)
        _run(app, args, processes)
    finally:
        processes.stop()
        for pattern in (f"{prefix}:*", f"rq:*:{prefix}:*"):  # RQ's registries too
            for name in client.scan_iter(pattern):
                client.delete(name)
        drop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="`interactive worker` processes")
    parser.add_argument("--window", type=int, default=10, help="the connection's SMPP window")
    parser.add_argument("--binds", type=int, default=1, help="transceiver binds, each a window")
    parser.add_argument("--no-receipts", action="store_true", help="registered_delivery 0")
    parser.add_argument("--receipt-delay", type=float, default=1.0, help="the simulator's")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to give up after")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    return parser.parse_args()


def _settings(args: argparse.Namespace, url: str, prefix: str, folder: Path) -> dict[str, str]:
    """The INTERACTIVE_* settings every process of the run shares."""
    port = _free_port()
    connection = {
        "name": CONNECTION,
        "host": "127.0.0.1",
        "port": port,
        "system_id": "bench",
        "password": "bench",
        "short_codes": ["4664"],
        "window": args.window,
        "binds": args.binds,
        "registered_delivery": 0 if args.no_receipts else 1,
        "reconnect_max": 5,
    }
    return {
        "INTERACTIVE_ENV": "development",
        "INTERACTIVE_INSTANCE_PATH": str(folder / "instance"),
        "INTERACTIVE_DATABASE_URL": url,
        "INTERACTIVE_REDIS_URL": args.redis,
        "INTERACTIVE_REDIS_PREFIX": prefix,
        "INTERACTIVE_SECRET_KEY": "b" * 40,
        "INTERACTIVE_SHORTLINK_SECRET": "s" * 40,
        "INTERACTIVE_SHORTLINK_BASE_URL": "https://k.example",
        "INTERACTIVE_LOG_LEVEL": "warning",
        "INTERACTIVE_QUIET_HOURS": _allowed_all_day(),
        "INTERACTIVE_SIMULATOR_BIND": f"127.0.0.1:{port}",
        "INTERACTIVE_SIMULATOR_SYSTEM_ID": "bench",
        "INTERACTIVE_SIMULATOR_PASSWORD": "bench",
        "INTERACTIVE_SIMULATOR_RECEIPT_DELAY": str(args.receipt_delay),
        "INTERACTIVE_SMPP_CONNECTIONS": json.dumps([connection]),
    }


def _allowed_all_day() -> str:
    """Quiet hours that allow all but one minute, 23 hours from now (Istanbul time, the
    contacts' zone); the setting refuses a whole-day window."""
    start = datetime.now(ZoneInfo("Europe/Istanbul")) - timedelta(hours=1)
    end = start - timedelta(minutes=1)
    return f"{start:%H:%M}-{end:%H:%M}"


class _Processes:
    """The product's processes, started as `interactive …` commands."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INTERACTIVE_")}
        self.env.update(settings)
        self.port = int(settings["INTERACTIVE_SIMULATOR_BIND"].rpartition(":")[2])
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = Path(settings["INTERACTIVE_INSTANCE_PATH"]).parent

    def start(self, workers: int) -> None:
        self._spawn("simulator", ["simulator"])
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", self.port)) != 0:
            if time.monotonic() > deadline:
                raise SystemExit("the simulator did not start")
            time.sleep(0.1)
        self._spawn("gateway", ["gateway", "run", CONNECTION])
        for number in range(1, workers + 1):
            self._spawn(f"worker{number}", ["worker"])
        self._spawn("scheduler", ["scheduler"])

    def _spawn(self, name: str, command: list[str]) -> None:
        python = [sys.executable, "-m", "interactive"]
        with (self.logs / f"{name}.log").open("wb") as log:
            self.running[name] = subprocess.Popen(
                [*python, *command], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def pids(self, kind: str) -> list[int]:
        return [p.pid for name, p in self.running.items() if name.startswith(kind)]

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"{name} exited with code {process.returncode}:\n{tail}")

    def stop(self) -> None:
        """The gateway first (it unbinds and stores its last results), then the rest."""
        order = ["gateway", *(n for n in self.running if n != "gateway")]
        for group in (order[:1], order[1:]):
            alive = [self.running[n] for n in group if n in self.running]
            for process in alive:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in alive:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_ready(
    app: Flask, client: redis.Redis, prefix: str, workers: int, processes: _Processes
) -> None:
    """Until the gateway is bound, the workers listen and the scheduler leads."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes.check_alive()
        status = client.get(key_for_status(prefix, CONNECTION))
        bound = bool(status) and json.loads(status or "{}").get("state") == "bound"
        listening = sum(
            any(q.startswith(f"{prefix}:") for q in w.queue_names())
            for w in Worker.all(connection=client)
        )
        leading = client.exists(f"{prefix}:scheduler:heartbeat")
        if bound and listening >= workers and leading:
            return
        time.sleep(0.2)
    raise SystemExit("the processes did not get ready within 60 s")


@dataclass
class _Progress:
    """What one poll saw."""

    seconds: float
    chunks: int
    chunks_done: int
    parts: int
    submitted: int
    delivered: int


@dataclass
class _Cpu:
    """CPU seconds per process from the clock's start (workers with their forked jobs;
    PostgreSQL as the run database's backends seen at each poll, and the whole server)."""

    processes: _Processes
    app: Flask
    start: dict[str, float] = field(default_factory=dict)
    backends: dict[int, tuple[float, float]] = field(default_factory=dict)

    def begin(self) -> None:
        self.start = self._now()
        self.sample_backends(first=True)

    def _now(self) -> dict[str, float]:
        figures = {
            kind: sum(_proc_cpu_children(pid) for pid in self.processes.pids(kind))
            for kind in ("gateway", "simulator", "worker", "scheduler")
        }
        figures["postgresql_server"] = _postgres_server_cpu()
        return figures

    def sample_backends(self, first: bool = False) -> None:
        for pid in _backend_pids(self.app):
            now = _proc_cpu(pid)
            if now != now:  # gone meanwhile
                continue
            base = self.backends[pid][0] if pid in self.backends else (now if first else 0.0)
            self.backends[pid] = (base, now)

    def read(self) -> str:
        now = self._now()
        used = {k: v - self.start.get(k, 0.0) for k, v in now.items()}
        used["postgresql_run_db"] = sum(last - base for base, last in self.backends.values())
        return " ".join(f"{k}={v:.1f}" for k, v in used.items() if v == v)


def _proc_cpu_children(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _postgres_server_cpu() -> float:
    """Every postgres process on this host, with the postmaster's reaped children."""
    stats: dict[str, list[str]] = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = path.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            stats[path.parent.name] = text.rpartition(")")[2].split()
    ticks = 0
    for fields in stats.values():
        ticks += int(fields[11]) + int(fields[12])
        if fields[1] not in stats:  # the postmaster: its exited backends count here
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _draft(app: Flask) -> int:
    """The campaign of fanout.py, saved as a draft (not timed)."""
    with app.app_context(), db.transaction() as session:
        campaign = campaigns.save(session, campaign_input(CONNECTION), user_id=None)
        return campaign.id


def _press_send(app: Flask, campaign_id: int) -> None:
    """Schedule for now, as the campaign page's Schedule button does, and commit."""
    with app.app_context(), db.transaction() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        assert campaign is not None
        connections = {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}
        campaigns.schedule(session, campaign, connections, utcnow())


def _stream_drained(app: Flask) -> bool:
    """Whether the gateway has read and acknowledged every id on the outbound stream (its
    consumer group's lag and pending count are 0): one Redis round trip, where counting
    the parts scans ``message_parts``."""
    stream = outbound_stream(app.config["REDIS_PREFIX"], CONNECTION)
    with app.app_context():
        try:
            groups = get_redis().xinfo_groups(stream)
        except redis.ResponseError:  # no stream yet
            return False
    return bool(groups) and all(
        not g.get("pending") and g.get("lag") in (0, None) and g.get("entries-read") for g in groups
    )


def _chunks(app: Flask) -> tuple[int, int]:
    chunks = sa.select(
        sa.func.count(), sa.func.count().filter(CampaignChunk.state == ChunkState.DONE)
    ).select_from(CampaignChunk)
    with app.app_context():
        total, done = db.session().execute(chunks).one()
        db.session.remove()
    return int(total), int(done)


def _poll(app: Flask, started: float) -> _Progress:
    parts = sa.select(
        sa.func.count(),
        sa.func.count().filter(MessagePart.state.in_(SUBMITTED)),
        sa.func.count().filter(MessagePart.state == PartState.DELIVERED),
    ).select_from(MessagePart)
    chunks = sa.select(
        sa.func.count(), sa.func.count().filter(CampaignChunk.state == ChunkState.DONE)
    ).select_from(CampaignChunk)
    with app.app_context():
        session = db.session()
        total, submitted, delivered = session.execute(parts).one()
        chunk_count, chunks_done = session.execute(chunks).one()
        db.session.remove()
    return _Progress(
        time.monotonic() - started, chunk_count, chunks_done, total, submitted, delivered
    )


def _run(app: Flask, args: argparse.Namespace, processes: _Processes) -> None:
    campaign_id = _draft(app)
    receipts = "off" if args.no_receipts else f"on (delay {args.receipt_delay:g} s)"
    print(
        f"processes: simulator, gateway ({args.binds} bind(s), window {args.window}), "
        f"{args.workers} workers, scheduler; receipts {receipts}; load {_load_average()}; "
        f"logs in {processes.logs}"
    )
    cpu = _Cpu(processes, app)
    cpu.begin()
    started = time.monotonic()
    _press_send(app, campaign_id)
    marks: dict[str, _Progress] = {}
    cpu_at: dict[str, str] = {}
    polling = 0.0
    last = _Progress(0.0, 0, 0, 0, 0, 0)
    next_line = 10.0
    while True:
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
        processes.check_alive()
        before = time.monotonic()
        # The parts are counted every 10 s for the progress line, and every second once
        # the fan-out is done and the gateway has taken every id from the stream (the
        # last submits then only wait for their responses); otherwise the chunks alone.
        chunks, chunks_done = _chunks(app)
        fanned = chunks > 0 and chunks_done == chunks
        seconds = time.monotonic() - started
        if seconds >= next_line or (fanned and ("fanout" not in marks or _stream_drained(app))):
            now = _poll(app, started)
        else:
            now = _Progress(seconds, chunks, chunks_done, last.parts, last.submitted, 0)
        cpu.sample_backends()
        polling += time.monotonic() - before
        fanned_out = now.chunks > 0 and now.chunks_done == now.chunks
        if fanned_out and "fanout" not in marks:
            marks["fanout"] = now
            print(f"fan-out done at {now.seconds:.1f} s: {now.parts} parts queued")
        if fanned_out and now.submitted == now.parts and "submitted" not in marks:
            marks["submitted"] = now
            cpu_at["submitted"] = cpu.read()
            print(f"all {now.parts} parts submitted at {now.seconds:.1f} s")
        if now.seconds >= next_line:
            rate = (now.submitted - last.submitted) / (now.seconds - last.seconds)
            print(
                f"  t={now.seconds:5.0f} s chunks {now.chunks_done}/{now.chunks} "
                f"parts {now.parts} submitted {now.submitted} ({rate:.0f}/s) "
                f"delivered {now.delivered} load {os.getloadavg()[0]:.2f}"
            )
            last, next_line = now, next_line + 10.0
        done = "submitted" in marks and (args.no_receipts or now.delivered == now.parts)
        if done or now.seconds > args.timeout:
            if done and not args.no_receipts:
                marks["delivered"] = now
                cpu_at["delivered"] = cpu.read()
                print(f"all receipts applied at {now.seconds:.1f} s")
            break
    _report(app, args, marks, cpu_at, polling)
    _check(app, campaign_id, args.no_receipts)


def _load_average() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def _report(
    app: Flask,
    args: argparse.Namespace,
    marks: dict[str, _Progress],
    cpu_at: dict[str, str],
    polling: float,
) -> None:
    backend = app.extensions["interactive.engine"].dialect.name
    fanout, submitted = marks.get("fanout"), marks.get("submitted")
    seconds = f"{submitted.seconds:.1f}" if submitted else "timeout"
    print(
        f"backend={backend} contacts={args.contacts} workers={args.workers} "
        f"window={args.window} binds={args.binds} receipts={not args.no_receipts} "
        f"fanout_seconds={f'{fanout.seconds:.1f}' if fanout else 'timeout'} "
        f"parts={submitted.parts if submitted else '?'} submitted_seconds={seconds} "
        f"parts_per_second={submitted.parts / submitted.seconds if submitted else 0:.0f} "
        f"target_met={bool(submitted and submitted.seconds <= 300)}"
    )
    if "delivered" in marks:
        print(f"receipts_applied_seconds={marks['delivered'].seconds:.1f}")
    for name, figures in cpu_at.items():
        print(f"cpu_seconds until {name}: {figures}")
    print(f"polling: {polling:.1f} s in this script's counts (mostly PostgreSQL)")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    print(f"uptime: {uptime.stdout.strip()}")


def _check(app: Flask, campaign_id: int, no_receipts: bool) -> None:
    """One message per eligible recipient, each part accepted once, nothing left behind."""
    with app.app_context():
        session = db.session()

        def count(query: sa.Select[Any]) -> int:
            return int(session.scalar(query) or 0)

        queued = count(
            sa.select(sa.func.count())
            .select_from(Recipient)
            .where(Recipient.campaign_id == campaign_id, Recipient.status == RecipientStatus.QUEUED)
        )
        not_queued = count(
            sa.select(sa.func.count())
            .select_from(Recipient)
            .where(Recipient.campaign_id == campaign_id, Recipient.status != RecipientStatus.QUEUED)
        )
        messages = count(sa.select(sa.func.count()).select_from(Message))
        contacts = count(sa.select(sa.func.count(sa.distinct(Message.contact_id))))
        links = count(sa.select(sa.func.count()).select_from(Link))
        expected_parts = count(sa.select(sa.func.sum(Message.parts_count)))
        parts = count(sa.select(sa.func.count()).select_from(MessagePart))
        states = dict(
            session.execute(
                sa.select(MessagePart.state, sa.func.count()).group_by(MessagePart.state)
            ).all()
        )
        attempts = count(sa.select(sa.func.max(MessagePart.attempts)))
        distinct_ids = count(sa.select(sa.func.count(sa.distinct(MessagePart.smsc_id))))
        highest = session.scalar(sa.select(sa.func.max(MessagePart.smsc_id)))
        receipts = count(sa.select(sa.func.count()).select_from(DeliveryReceipt))
        unmatched = count(
            sa.select(sa.func.count())
            .select_from(DeliveryReceipt)
            .where(DeliveryReceipt.part_id.is_(None))
        )
        db.session.remove()
    simulator_submits = int(highest, 16) - SIMULATOR_FIRST_ID + 1 if highest else 0
    print(
        f"recipients queued={queued} other={not_queued} messages={messages} "
        f"distinct_contacts={contacts} links={links}"
    )
    print(
        f"parts={parts} (expected {expected_parts}) states="
        f"{ {str(k): v for k, v in states.items()} } max_attempts={attempts} "
        f"distinct_smsc_ids={distinct_ids} simulator_submits={simulator_submits} "
        f"receipts={receipts} unmatched={unmatched}"
    )
    assert queued == messages == contacts == links
    assert parts == expected_parts == distinct_ids == simulator_submits
    assert attempts == 1
    assert sum(states.get(s, 0) for s in SUBMITTED) == parts
    if not no_receipts:
        assert states.get(PartState.DELIVERED, 0) == receipts == parts
        assert unmatched == 0
    print("checks passed: one message per eligible recipient, each part submitted once")


if __name__ == "__main__":
    main()
