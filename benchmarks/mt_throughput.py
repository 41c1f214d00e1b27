"""MT end to end: QUEUED rows → submitted to the built-in simulator → ACCEPTED stored (and,
with --receipts, every part's receipt applied: DELIVERED), through the real gateway.

    .venv/bin/python benchmarks/mt_throughput.py --messages 20000 --window 10
    .venv/bin/python benchmarks/mt_throughput.py --messages 20000 --window 50 --receipts \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres --redis redis://127.0.0.1:6379/14

Without --database/--redis it runs on a temporary SQLite file and an embedded Redis. With
--database it creates (and drops) its own database on that server. Prints parts/s and the
CPU seconds each process used while the clock ran: the gateway's threads (not this
script's own polling), the simulator, and with --database on this host the PostgreSQL
backends of the run's database.

--gateways 2 runs two connections (two binds to the simulator), each served by its own
gateway process with its own outbound stream; the messages are spread over the two.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
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
from interactive.smpp.gateway import Gateway, key_for_status
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
    parser.add_argument("--gateways", type=int, default=1, help="gateway processes (binds)")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: embedded)")
    return parser.parse_args()


def _connection_names(count: int) -> list[str]:
    return ["bench"] if count == 1 else [f"bench{n}" for n in range(1, count + 1)]


def _queue(app: Flask, count: int, connections: list[str]) -> list[int]:
    """Bulk-create QUEUED one-part messages, spread over ``connections`` (setup, not
    timed)."""
    ids: list[int] = []
    with app.app_context(), db.transaction() as session:
        for start in range(0, count, 5000):
            messages = [
                Message(
                    connection=connections[n % len(connections)],
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


def _bench_connection(name: str, port: int, args: argparse.Namespace) -> SmppConnection:
    return SmppConnection(
        name=name,
        host="127.0.0.1",
        port=port,
        system_id="bench",
        password="bench",
        window=args.window,
        registered_delivery=1 if args.receipts else 0,
    )


def _run(app: Flask, args: argparse.Namespace) -> None:
    names = _connection_names(args.gateways)
    ids = _queue(app, args.messages, names)
    port = _free_port()
    simulator = _start_simulator(port, folder=Path(app.instance_path))
    stop = threading.Event()
    thread: threading.Thread | None = None
    children: list[subprocess.Popen[bytes]] = []
    if len(names) == 1:
        gateway = Gateway(app, _bench_connection(names[0], port, args))
        thread = threading.Thread(target=gateway.run, args=(stop,))
        thread.start()
    else:
        children = [_start_gateway(app, name, port, args) for name in names]
        _wait_bound(app, names)
    target = PartState.DELIVERED if args.receipts else PartState.ACCEPTED
    redis_client = app.extensions["interactive.redis"]
    prefix = app.config["REDIS_PREFIX"]
    meters = _Meters(app, simulator.pid, [c.pid for c in children])
    started = time.monotonic()
    for chunk in range(0, len(ids), 1000):
        batch = ids[chunk : chunk + 1000]
        for index, name in enumerate(names):
            mine = batch[index :: len(names)]  # _queue spread them the same way
            publish(redis_client, outbound_stream(prefix, name), [{"id": i} for i in mine])
    done = 0
    while done < len(ids):
        threading.Event().wait(0.25)
        done = _count(app, target)
        if time.monotonic() - started > 600:
            print(f"timeout: {done} of {len(ids)} {target.value}", file=sys.stderr)
            break
    elapsed = time.monotonic() - started
    used = meters.read()
    stop.set()
    if thread is not None:
        thread.join()
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait()
    simulator.terminate()
    simulator.wait()
    backend = app.extensions["interactive.engine"].dialect.name
    print(
        f"backend={backend} window={args.window} receipts={args.receipts} "
        f"gateways={len(names)} parts={done} seconds={elapsed:.2f} "
        f"parts_per_second={done / elapsed:.0f} {used} load={os.getloadavg()[0]:.2f}"
    )


def _start_gateway(
    app: Flask, name: str, port: int, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    """``interactive gateway run NAME`` in its own process, on the run's database and
    Redis, with the connection given through the settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERACTIVE_")}
    connection = {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "system_id": "bench",
        "password": "bench",
        "window": args.window,
        "registered_delivery": 1 if args.receipts else 0,
    }
    env.update(
        INTERACTIVE_INSTANCE_PATH=str(Path(app.instance_path) / f"gateway-{name}"),
        INTERACTIVE_DATABASE_URL=str(app.config["DATABASE_URL"]),
        INTERACTIVE_REDIS_URL=str(app.config["REDIS_URL"]),
        INTERACTIVE_REDIS_PREFIX=str(app.config["REDIS_PREFIX"]),
        INTERACTIVE_SECRET_KEY=str(app.config["SECRET_KEY"]),
        INTERACTIVE_SMPP_CONNECTIONS=json.dumps([connection]),
        INTERACTIVE_LOG_LEVEL="warning",
    )
    command = [sys.executable, "-m", "interactive", "gateway", "run", name]
    return subprocess.Popen(command, env=env)


def _wait_bound(app: Flask, names: list[str]) -> None:
    """Until every gateway process reports its bind up (the clock starts after)."""
    client = app.extensions["interactive.redis"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [client.get(key_for_status(app.config["REDIS_PREFIX"], n)) for n in names]
        if all(s and json.loads(s)["state"] == "bound" for s in states):
            return
        threading.Event().wait(0.1)
    raise SystemExit("the gateways did not bind")


class _Meters:
    """CPU seconds used from now on by the gateway (its threads in this process, or its
    processes), the simulator and, on PostgreSQL on this host, the run's backends. Linux
    /proc; elsewhere only this process's own figure."""

    def __init__(self, app: Flask, simulator: int, gateways: list[int]) -> None:
        self.app = app
        self.simulator = simulator
        self.gateways = gateways
        self.started = self._now()

    def _now(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        figures = {
            # This script's main thread (publishing, polling) is not the gateway.
            "gateway": own.ru_utime + own.ru_stime - time.thread_time(),
            "simulator": _proc_cpu(self.simulator),
        }
        if self.gateways:
            figures["gateway"] = sum(_proc_cpu(pid) for pid in self.gateways)
        backends = _backend_pids(self.app)
        if backends:
            figures["postgresql"] = sum(_proc_cpu(pid) for pid in backends)
        return figures

    def read(self) -> str:
        now = self._now()
        return " ".join(
            f"{name}_cpu_s={value - self.started.get(name, 0.0):.1f}"
            for name, value in now.items()
            if value == value  # NaN: not measurable here
        )


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pids(app: Flask) -> list[int]:
    engine = app.extensions["interactive.engine"]
    if engine.dialect.name != "postgresql" or not Path("/proc").exists():
        return []
    with engine.connect() as connection:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        return [int(pid) for (pid,) in connection.exec_driver_sql(query)]


if __name__ == "__main__":
    main()
