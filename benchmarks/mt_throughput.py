"""MT end to end: QUEUED rows → submitted to the built-in simulator → ACCEPTED stored (and,
with --receipts, every part's receipt applied: DELIVERED), through the real gateway.

    .venv/bin/python benchmarks/mt_throughput.py --messages 20000 --window 10
    .venv/bin/python benchmarks/mt_throughput.py --messages 20000 --window 50 --receipts \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres --redis redis://127.0.0.1:6379/14

Without --database/--redis it runs on a temporary SQLite file and an embedded Redis. With
--database it creates (and drops) its own database on that server. Prints parts/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flask import Flask

from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.app import create_app
from interactive.db import db
from interactive.outbound.models import Message, MessagePart, PartState, Traffic
from interactive.outbound.service import outbound_stream
from interactive.smpp.config import SmppConnection
from interactive.smpp.gateway import Gateway
from interactive.streams import publish


def main() -> None:
    args = _arguments()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    url, drop = scratch_database(args.database, folder)
    try:
        migrate.upgrade(url)
        config = {
            "DATABASE_URL": url,
            "REDIS_URL": args.redis,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "REDIS_PREFIX": f"bench{secrets.token_hex(3)}",
            "LOG_LEVEL": "WARNING",
        }
        app = create_app(config, instance_path=folder)
        _run(app, args)
    finally:
        drop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--receipts", action="store_true", help="wait for every receipt")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: embedded)")
    return parser.parse_args()


def _queue(app: Flask, count: int) -> list[int]:
    """Bulk-create QUEUED one-part messages (setup, not timed)."""
    ids: list[int] = []
    with app.app_context(), db.transaction() as session:
        for start in range(0, count, 5000):
            messages = [
                Message(
                    connection="bench",
                    source="4664",
                    destination=f"90532{n:07d}",
                    body=f"Benchmark message {n}",
                    encoding="GSM7",
                    parts_count=1,
                    traffic=Traffic.INFORMATIONAL,
                    parts=[MessagePart(seq=1)],
                )
                for n in range(start, min(start + 5000, count))
            ]
            session.add_all(messages)
            session.flush()
            ids += [m.id for m in messages]
    return ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_simulator(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """The built-in simulator in its own process (as in production, the SMSC does not
    share the gateway's interpreter), ready when it accepts connections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERACTIVE_")}
    env.update(
        INTERACTIVE_INSTANCE_PATH=str(folder / "simulator"),
        INTERACTIVE_SIMULATOR_BIND=f"127.0.0.1:{port}",
        INTERACTIVE_SIMULATOR_SYSTEM_ID="bench",
        INTERACTIVE_SIMULATOR_PASSWORD="bench",
        INTERACTIVE_SIMULATOR_RECEIPT_DELAY="0",
        INTERACTIVE_LOG_LEVEL="warning",
    )
    process = subprocess.Popen([sys.executable, "-m", "interactive", "simulator"], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        threading.Event().wait(0.1)
    process.kill()
    raise SystemExit("the simulator did not start")


def _count(app: Flask, state: PartState) -> int:
    with app.app_context():
        query = (
            sa.select(sa.func.count()).select_from(MessagePart).where(MessagePart.state == state)
        )
        value = int(db.session().scalar(query) or 0)
        db.session.remove()
        return value


def _run(app: Flask, args: argparse.Namespace) -> None:
    ids = _queue(app, args.messages)
    port = _free_port()
    simulator = _start_simulator(port, folder=Path(app.instance_path))
    connection = SmppConnection(
        name="bench",
        host="127.0.0.1",
        port=port,
        system_id="bench",
        password="bench",
        window=args.window,
        registered_delivery=1 if args.receipts else 0,
    )
    gateway = Gateway(app, connection)
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,))
    thread.start()
    target = PartState.DELIVERED if args.receipts else PartState.ACCEPTED
    redis_client = app.extensions["interactive.redis"]
    prefix = app.config["REDIS_PREFIX"]
    started = time.monotonic()
    cpu_started = resource.getrusage(resource.RUSAGE_SELF)
    for chunk in range(0, len(ids), 1000):
        publish(
            redis_client,
            outbound_stream(prefix, "bench"),
            [{"id": i} for i in ids[chunk : chunk + 1000]],
        )
    done = 0
    while done < len(ids):
        threading.Event().wait(0.25)
        done = _count(app, target)
        if time.monotonic() - started > 600:
            print(f"timeout: {done} of {len(ids)} {target.value}", file=sys.stderr)
            break
    elapsed = time.monotonic() - started
    cpu = _cpu_seconds(cpu_started, resource.getrusage(resource.RUSAGE_SELF))
    stop.set()
    thread.join()
    simulator.terminate()
    simulator.wait()
    simulator_cpu = _cpu_seconds(None, resource.getrusage(resource.RUSAGE_CHILDREN))
    backend = app.extensions["interactive.engine"].dialect.name
    print(
        f"backend={backend} window={args.window} receipts={args.receipts} "
        f"parts={done} seconds={elapsed:.2f} parts_per_second={done / elapsed:.0f} "
        f"gateway_cpu_s={cpu:.1f} simulator_cpu_s={simulator_cpu:.1f}"
    )


def _cpu_seconds(before: resource.struct_rusage | None, after: resource.struct_rusage) -> float:
    used = after.ru_utime + after.ru_stime
    return used - (before.ru_utime + before.ru_stime) if before else used


if __name__ == "__main__":
    main()
