"""MO → auto-reply, end to end: a keyword MO injected into the SMSC simulator, stored by
the gateway, routed by the router, its auto-reply submitted back to the simulator. Latency is
measured at the simulator: from injecting the MO to receiving the reply's submit_sm.

    .venv/bin/python benchmarks/mo_reply.py --rates 200 --seconds 60
    .venv/bin/python benchmarks/mo_reply.py --rates 200,400,600,800,1000 --seconds 20 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --redis redis://127.0.0.1:6379/13 [--routers 2]

The gateway (``interactive gateway run bench``) and the router(s) (``interactive router``)
are the real commands in processes of their own; the simulator and the paced injector run
here. Each MO comes from its own number, so each reply is matched to its MO by number. Each
rate runs ``--seconds``; the first ``--warmup`` seconds of each are left out of the
percentiles. A rate is "sustained" while every reply arrived and p99 stays under 1 s.

Without --database/--redis it runs on a temporary SQLite file and an embedded Redis (the
defaults of ``interactive up``). With --database it creates (and drops) its own database.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import scratch_database
from interactive import migrate, redis_store
from interactive.app import create_app
from interactive.db import db, make_engine
from interactive.keywords.models import InboundMessage, KeywordRule
from interactive.keywords.shortcodes import ensure_short_codes
from interactive.outbound.models import Message
from interactive.smpp.simulator import SimulatorConfig, SmscSimulator

CODE = "4664"
SYSTEM_ID, PASSWORD = "bench", "bench"
DRAIN_S = 30.0


def main() -> None:
    args = _arguments()
    folder = Path(tempfile.mkdtemp(prefix="bench-mo-reply-"))
    url, drop = scratch_database(args.database, folder)
    redis_url = args.redis or redis_store.start_embedded_redis(folder)
    prefix = f"bench{secrets.token_hex(3)}"
    simulator = SmscSimulator(
        SimulatorConfig(credentials={SYSTEM_ID: PASSWORD}, receipt_delay=0.5)
    ).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate.upgrade(url)
        env = {
            **os.environ,
            "INTERACTIVE_INSTANCE_PATH": str(folder),
            "INTERACTIVE_DATABASE_URL": url,
            "INTERACTIVE_REDIS_URL": redis_url,
            "INTERACTIVE_REDIS_PREFIX": prefix,
            "INTERACTIVE_SECRET_KEY": secrets.token_urlsafe(32),
            "INTERACTIVE_LOG_LEVEL": "WARNING",
            "INTERACTIVE_SMPP_CONNECTIONS": (
                f'[{{"name": "bench", "host": "127.0.0.1", "port": {simulator.port}, '
                f'"system_id": "{SYSTEM_ID}", "password": "{PASSWORD}", '
                f'"short_codes": ["{CODE}"], "window": {args.window}}}]'
            ),
        }
        app = create_app(
            {
                "DATABASE_URL": url,
                "REDIS_URL": redis_url,
                "SECRET_KEY": "x",
                "REDIS_PREFIX": prefix,
            },
            instance_path=folder,
        )
        with app.app_context(), db.transaction() as session:
            code = ensure_short_codes(session, [(CODE, "bench")])[CODE]
            session.add(KeywordRule(short_code_id=code.id, keyword="KAZAN", reply_tr="Tebrikler!"))
        app.extensions["interactive.engine"].dispose()
        python = [sys.executable, "-m", "interactive"]
        processes.append(subprocess.Popen([*python, "gateway", "run", "bench"], env=env))
        for _ in range(args.routers):
            processes.append(subprocess.Popen([*python, "router"], env=env))
        if not simulator.wait_for(lambda: bool(simulator.sessions()), timeout=60):
            raise SystemExit("the gateway did not bind")
        time.sleep(2.0)  # routers up
        backend = "PostgreSQL" if args.database else "SQLite + embedded Redis"
        print(f"backend: {backend}; routers: {args.routers}; window: {args.window}")
        print("rate/s   sent   replies  lost   p50 ms   p95 ms   p99 ms   max ms")
        engine = make_engine(url)
        try:
            for n, rate in enumerate(args.rates):
                ok, sent = _step(simulator, n, rate, args)
                _stages(engine, n, sent, simulator)
                if not ok:
                    break
        finally:
            engine.dispose()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        simulator.stop()
        redis_store.stop_embedded_redis(folder)
        drop()
        shutil.rmtree(folder, ignore_errors=True)


def _step(
    simulator: SmscSimulator, step: int, rate: float, args: argparse.Namespace
) -> tuple[bool, dict[str, float]]:
    """One paced run at ``rate``; prints its figures; False once p99 crossed 1 s. Also
    gives each sender's injection time."""
    simulator.clear_records()
    sent: dict[str, float] = {}  # source number → injected at (epoch seconds)
    started = time.time()
    total = int(rate * args.seconds)
    pause = threading.Event()
    for i in range(total):
        due = started + i / rate
        delay = due - time.time()
        if delay > 0:
            pause.wait(delay)
        number = _number(step, i)
        sent[number] = time.time()
        simulator.inject_mo(number, CODE, "Kazan")
    simulator.wait_for(lambda: len(simulator.submitted()) >= total, timeout=DRAIN_S)
    latencies: list[float] = []
    for submitted in simulator.submitted():
        injected = sent.get(submitted.destination_addr.lstrip("+"))
        if injected is None or injected - started < args.warmup:
            continue
        latencies.append(
            (submitted.received_at - datetime.fromtimestamp(injected, UTC)).total_seconds()
        )
    replies = len(simulator.submitted())
    if not latencies:
        print(f"{rate:>6.0f} {total:>6} {replies:>9}  no replies")
        return False, sent
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p95, p99 = q[49] * 1000, q[94] * 1000, q[98] * 1000
    print(
        f"{rate:>6.0f} {total:>6} {replies:>9} {total - replies:>5} {p50:>8.1f} {p95:>8.1f} "
        f"{p99:>8.1f} {latencies[-1] * 1000:>8.1f}",
        flush=True,
    )
    return replies == total and p99 < 1000, sent


def _number(step: int, i: int) -> str:
    """The ``i``-th sender of a step: a valid Turkish mobile number (as real senders are:
    it parses, so the router looks its contact up with the message), one per MO."""
    return f"9053{step % 10}{i:07d}"


def _stages(engine: sa.Engine, step: int, sent: dict[str, float], simulator: SmscSimulator) -> None:
    """Medians of the four stages, from the rows' own timestamps and the simulator's:
    injected → stored (simulator, SMPP, gateway), stored → routed (stream + router), routed →
    claimed (outbound stream + the gateway's claim), claimed → received (submit_sm on the wire
    to the simulator). Every process is on this host, so the clocks agree."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                InboundMessage.source,
                InboundMessage.received_at,
                InboundMessage.routed_at,
                Message.submitted_at,
            )
            .join(Message, Message.destination == InboundMessage.phone)
            .where(InboundMessage.source.like(_number(step, 0)[:5] + "%"))
        ).all()
    arrived = {s.destination_addr.lstrip("+"): s.received_at for s in simulator.submitted()}
    stages: dict[str, list[float]] = {"stored": [], "routed": [], "claimed": [], "received": []}
    for r in rows:
        source = r.source.lstrip("+")
        if source in sent:
            injected = datetime.fromtimestamp(sent[source], UTC)
            stages["stored"].append((r.received_at - injected).total_seconds())
        if r.routed_at:
            stages["routed"].append((r.routed_at - r.received_at).total_seconds())
        if r.submitted_at and r.routed_at:
            stages["claimed"].append((r.submitted_at - r.routed_at).total_seconds())
        if r.submitted_at and source in arrived:
            stages["received"].append((arrived[source] - r.submitted_at).total_seconds())
    if all(stages.values()):
        medians = {k: statistics.median(v) * 1000 for k, v in stages.items()}
        print(
            f"         p50 injected → stored {medians['stored']:.1f} ms; "
            f"stored → routed {medians['routed']:.1f} ms; "
            f"routed → claimed {medians['claimed']:.1f} ms; "
            f"claimed → received {medians['received']:.1f} ms"
        )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="200", help="MOs per second, comma-separated steps")
    parser.add_argument("--seconds", type=float, default=60, help="length of each step")
    parser.add_argument("--warmup", type=float, default=3, help="seconds left out of each step")
    parser.add_argument("--routers", type=int, default=1, help="router processes")
    parser.add_argument("--window", type=int, default=50, help="the gateway's submit window")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: embedded)")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    return args


if __name__ == "__main__":
    main()
