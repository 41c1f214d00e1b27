"""Conversion postbacks under load: signed ``POST /api/v1/conversions`` on gunicorn
(``interactive web``: gthread workers, the product's own server settings) against the
analytics data set, from client processes on keep-alive connections; then SQL says whether
every order was stored exactly once.

    .venv/bin/python benchmarks/postbacks.py [--postbacks 20000] [--rounds 3] \
        [--duplicates 0.1] [--redis redis://127.0.0.1:6379/10] \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/interactive_bench]

Steps:

1. The database (default: the data set's own, ``interactive_bench``) is created and
   migrated if needed; without clicks in it, a small data set is generated first
   (``analytics_data.generate`` at scale 0.01). An API key (marketer role) is made for the run.
2. ``--postbacks`` bodies with unique order ids, naming the visitor as shops do: a click
   token of a stored human click (50 %), a link code (20 %), a message id (15 %) or a
   phone (15 %), with an ``occurred_at`` after that click or message (so most are
   attributed). ``--duplicates`` of them are sent again with the same order id: half right
   after the original (on another connection, so the two race), half anywhere in the run.
3. ``interactive web`` on 127.0.0.1 (``--web-workers`` × ``--web-threads``, the API rate
   limit lifted), and a drain process that runs ``analytics.buffer.drain`` every
   ``buffer.DRAIN_EVERY_S`` seconds, as the ``drain-conversions`` job does; a warm-up of
   fresh orders first, then ``--rounds`` measured rounds of ``--postbacks`` orders each:
   ``--processes`` × ``--connections`` client threads on raw keep-alive sockets, each
   request signed when sent (HMAC-SHA256 of "timestamp.body" under the key). Latency is
   from sending the request to reading the whole response. A round starts once the one
   before is all in SQL.
4. Every order id must be stored once: stored conversions = unique order ids, no more, no
   fewer; the first of each answered 202, its replays 200. The stored rate is the orders
   over the time from the first request to the last order in SQL. The rounds' median is
   printed last: on a machine shared with its neighbours one round can be a third off.

The run's conversions, its API key and its Redis keys are removed at the end (``--keep``
keeps the conversions).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.analytics_data import DEFAULT_DATABASE, ensure_database, generate
from interactive import migrate
from interactive.analytics import buffer
from interactive.app import create_app
from interactive.db import db, make_engine
from interactive.redis_store import get_redis
from interactive.shortlinks import codec
from interactive.web import service
from interactive.web.models import ApiKey, Role

PATH = "/api/v1/conversions"
OWNER = "postbacks-bench@example.com"
# Which identifier a postback carries, and its share.
MIX = (("ic", 0.50), ("link_code", 0.20), ("message_id", 0.15), ("phone", 0.15))


@dataclass
class Load:
    """What one client process reports back."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    reconnects: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu_s: float = 0.0


# --- the bodies -----------------------------------------------------------------------------


def _sample(
    connection: sa.Connection, table: str, columns: str, where: str, count: int
) -> list[Any]:
    """About ``count`` random rows of ``table`` (ids drawn below its largest id)."""
    top = int(connection.scalar(sa.text(f"SELECT max(id) FROM {table}")) or 0)
    if top == 0 or count == 0:
        return []
    rows: list[Any] = []
    while len(rows) < count:
        ids = random.sample(range(1, top + 1), min(top, 2 * (count - len(rows)) + 10))
        rows += connection.execute(
            sa.text(f"SELECT {columns} FROM {table} WHERE id = ANY(:ids) AND {where}"),
            {"ids": ids},
        ).all()
        if top <= 2 * count:
            break
    return rows[:count]


def make_bodies(
    connection: sa.Connection,
    count: int,
    prefix: str,
    shortlink_secret: str,
    mix: tuple[tuple[str, float], ...] = MIX,
) -> list[bytes]:
    """``count`` postback bodies with order ids ``<prefix><n>``, in random order."""
    wanted = dict.fromkeys(("ic", "link_code", "message_id", "phone"), 0)
    wanted.update({name: round(count * share) for name, share in mix})
    wanted[mix[0][0]] += count - sum(wanted.values())
    now = datetime.now(UTC) - timedelta(minutes=1)
    found: list[tuple[str, Any, datetime]] = []
    for token, at in _sample(
        connection, "clicks", "token, clicked_at", "kind = 'human'", wanted["ic"]
    ):
        found.append(("ic", token, at + timedelta(minutes=random.uniform(1, 180))))
    links = _sample(connection, "links", "id, secret, created_at", "true", wanted["link_code"])
    codes = codec.encode_many([(row[0], row[1]) for row in links], shortlink_secret)
    for code, row in zip(codes, links, strict=True):
        found.append(("link_code", code, row[2] + timedelta(hours=random.uniform(1, 48))))
    for message_id, at in _sample(
        connection, "messages", "id, submitted_at", "submitted_at IS NOT NULL", wanted["message_id"]
    ):
        found.append(("message_id", message_id, at + timedelta(hours=random.uniform(1, 48))))
    for phone, at in _sample(
        connection,
        "messages",
        "destination, submitted_at",
        "submitted_at IS NOT NULL",
        wanted["phone"],
    ):
        found.append(("phone", phone, at + timedelta(hours=random.uniform(1, 72))))
    if len(found) < count:
        raise SystemExit(f"the data set gave {len(found):,} visitors for {count:,} postbacks")
    random.shuffle(found)
    bodies = []
    for n, (name, value, at) in enumerate(found[:count]):
        body = {
            "event": "purchase",
            "value": f"{random.uniform(10, 500):.2f}",
            "currency": "TRY",
            "order_id": f"{prefix}{n}",
            "occurred_at": min(at, now).isoformat(),
            name: value,
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def with_replays(bodies: list[bytes], share: float) -> list[bytes]:
    """The bodies plus ``share`` of them again (the same bytes: a replayed postback), half
    right after their original, half anywhere."""
    keyed = [(float(n), body) for n, body in enumerate(bodies)]
    replays = min(len(bodies), round(len(bodies) * share))
    for n in random.sample(range(len(bodies)), replays):
        at = n + 0.5 if random.random() < 0.5 else random.uniform(0, len(bodies))
        keyed.append((at, bodies[n]))
    keyed.sort(key=lambda pair: pair[0])
    return [body for _, body in keyed]


# --- the client -----------------------------------------------------------------------------


def _signed(api_key: str, body: bytes) -> bytes:
    """The whole request, signed now (HMAC-SHA256 of "timestamp.body" under the key)."""
    stamp = str(int(time.time()))
    digest = hmac.new(api_key.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {api_key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Interactive-Timestamp: {stamp}\r\n"
        f"X-Interactive-Signature: sha256={digest.hexdigest()}\r\n\r\n"
    )
    return head.encode() + body


class Client:
    """A keep-alive HTTP/1.1 connection that sends whole requests and reads the status and
    body of each answer (``Content-Length`` framed, as the server answers): a load
    generator that leaves the CPU to the server (``http.client`` costs as much again)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.pending = b""

    def exchange(self, request: bytes) -> int:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pending = b""
        self.sock.sendall(request)
        buffer = self.pending
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._recv()
        lines = buffer[:end].split(b"\r\n")
        rest = buffer[end + 4 :]
        status = int(lines[0].split(b" ", 2)[1])
        length = next(
            int(line.partition(b":")[2])
            for line in lines[1:]
            if line[:15].lower() == b"content-length:"
        )
        while len(rest) < length:
            rest += self._recv()
        self.pending = rest[length:]
        if any(line.lower() == b"connection: close" for line in lines[1:]):
            self.close()
        return status

    def _recv(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def _send_all(
    port: int, api_key: str, bodies: list[bytes], load: Load, lock: threading.Lock
) -> None:
    client = Client(port)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    reconnects = 0
    for body in bodies:
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                status = client.exchange(_signed(api_key, body))
            except (ConnectionError, ValueError, StopIteration, IndexError):
                # The server closed a kept-alive connection; a postback is safe to resend.
                client.close()
                reconnects += 1
                if attempt == 2:
                    raise
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            break
    client.close()
    with lock:
        load.statuses.update(statuses)
        load.latencies_ms += latencies
        load.reconnects += reconnects


def client_process(
    port: int,
    api_key: str,
    shares: list[list[bytes]],
    barrier: Barrier,
    results: Any,
) -> None:
    """One client process: a thread per connection, each sending its share in order."""
    load, lock = Load(), threading.Lock()
    threads = [
        threading.Thread(target=_send_all, args=(port, api_key, share, load, lock))
        for share in shares
    ]
    barrier.wait()
    cpu, load.started = time.process_time(), time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        # Always answer: the parent waits for every process's figures.
        load.finished, load.cpu_s = time.monotonic(), time.process_time() - cpu
        results.put(load)


def drive(port: int, api_key: str, requests: list[bytes], processes: int, connections: int) -> Load:
    """Send ``requests`` over ``processes`` × ``connections`` keep-alive connections (dealt
    round robin, so neighbours are in flight together); the merged figures."""
    context = multiprocessing.get_context("fork")
    total = processes * connections
    shares = [requests[n::total] for n in range(total)]
    barrier, results = context.Barrier(processes + 1), context.Queue()
    children = [
        context.Process(
            target=client_process,
            args=(port, api_key, shares[p * connections : (p + 1) * connections], barrier, results),
        )
        for p in range(processes)
    ]
    for child in children:
        child.start()
    barrier.wait()
    loads = [results.get() for _ in children]
    for child in children:
        child.join()
    merged = Load(started=min(x.started for x in loads), finished=max(x.finished for x in loads))
    for x in loads:
        merged.statuses.update(x.statuses)
        merged.latencies_ms += x.latencies_ms
        merged.reconnects += x.reconnects
        merged.cpu_s += x.cpu_s
    return merged


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_web(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "interactive", "web", "--bind", f"127.0.0.1:{port}"]
    # stdout carries gunicorn's access log: a line per request, not wanted here.
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("interactive web exited")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("interactive web did not start")


def server_cpu_s(pid: int) -> float:
    """CPU seconds of the gunicorn master and its live workers (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for each in (pid, *map(int, children)):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def drain_process(settings: dict[str, str], folder: Path, stop: Any) -> None:
    """Store what the API accepted, every ``DRAIN_EVERY_S`` seconds, until ``stop``."""
    app = create_app(settings, instance_path=folder)
    with app.app_context():
        while not stop.is_set():
            started = time.monotonic()
            buffer.drain(db.session(), get_redis())
            db.session.remove()
            stop.wait(max(0.0, buffer.DRAIN_EVERY_S - (time.monotonic() - started)))


def wait_stored(engine: sa.Engine, prefix: str, unique: int, timeout_s: float = 300) -> float:
    """Poll until every order is in SQL; the monotonic time it was seen (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if _stored(connection, prefix)[1] >= unique:
                return time.monotonic()
        time.sleep(0.1)
    return time.monotonic()


# --- the run --------------------------------------------------------------------------------


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stored(connection: sa.Connection, prefix: str) -> tuple[int, int, int]:
    row = connection.execute(
        sa.text(
            "SELECT count(*), count(DISTINCT order_id), count(campaign_id) FROM conversions "
            "WHERE order_id LIKE :pattern"
        ),
        {"pattern": f"{prefix}%"},
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _make_key(session: Any) -> tuple[str, int]:
    owner = service.get_user_by_email(session, OWNER) or service.create_user(
        session,
        email=OWNER,
        password=secrets.token_urlsafe(16),
        role=Role.ADMIN,
        locale="en",
        timezone="Europe/Istanbul",
    )
    token = service.create_api_key(
        session, name="postbacks benchmark", role=Role.MARKETER, created_by=owner
    )
    session.commit()
    api_key = service.verify_api_key(session, token)
    assert api_key is not None
    return token, api_key.id


def report(
    load: Load,
    unique: int,
    replays: int,
    stored: tuple[int, int, int],
    server_cpu: float,
    all_stored_at: float,
) -> tuple[float, float, bool]:
    """Print a round's figures; returns (accepted/s, requests/s, exactly once)."""
    seconds = load.finished - load.started
    ordered = sorted(load.latencies_ms)
    answered = len(ordered)
    created = load.statuses.get(202, 0)
    rows, distinct, attributed = stored
    print(
        f"\nrequests: {answered:,} in {seconds:.2f} s = {answered / seconds:,.0f}/s "
        f"({unique:,} orders + {replays:,} replays); accepted {created / seconds:,.0f}/s"
    )
    to_sql = all_stored_at - load.started
    print(
        f"stored in SQL: every order {to_sql:.2f} s after the first request "
        f"= {distinct / to_sql:,.0f}/s"
    )
    if ordered:
        print(
            f"latency ms: p50 {_percentile(ordered, 0.50):.1f}  "
            f"p95 {_percentile(ordered, 0.95):.1f}  "
            f"p99 {_percentile(ordered, 0.99):.1f}  max {ordered[-1]:.1f}  "
            f"mean {statistics.fmean(ordered):.1f}"
        )
    statuses = ", ".join(f"{status}: {count:,}" for status, count in sorted(load.statuses.items()))
    print(f"answers: {statuses}; reconnects {load.reconnects}")
    print(
        f"CPU seconds: gunicorn {server_cpu:.1f}, clients {load.cpu_s:.1f} (drain: see its process)"
    )
    print(
        f"stored: {rows:,} conversions for {distinct:,} distinct order ids of {unique:,} sent "
        f"(duplicates {rows - distinct:,}, lost {unique - distinct:,}); attributed {attributed:,}"
    )
    ok = rows == distinct == unique and created == unique and load.statuses.get(200, 0) == replays
    print("exactly once: yes" if ok else "exactly once: NO")
    return created / seconds, answered / seconds, ok


def main() -> None:
    args = _arguments()
    ensure_database(args.database)
    migrate.upgrade(args.database)
    engine = make_engine(args.database)
    with engine.connect() as connection:
        empty = not connection.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM clicks)"))
    if empty:
        print("no analytics data: generating a small set (scale 0.01)")
        generate(args.database, 0.01)

    folder = Path(tempfile.mkdtemp(prefix="bench-postbacks-"))
    redis_prefix = f"bench{secrets.token_hex(3)}"
    settings = {
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "REDIS_PREFIX": redis_prefix,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SHORTLINK_SECRET": secrets.token_urlsafe(24),
        "LOG_LEVEL": "WARNING",
        "WEB_WORKERS": str(args.web_workers),
        "WEB_THREADS": str(args.web_threads),
        # One shop's key sends all of it: the per-key limit (600 a minute) would be the
        # figure measured otherwise.
        "API_RATE_LIMIT_PER_MINUTE": str(10**9),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERACTIVE_")}
    env.update({f"INTERACTIVE_{k}": v for k, v in settings.items()})
    env["INTERACTIVE_INSTANCE_PATH"] = str(folder)
    app = create_app(settings, instance_path=folder)
    run = f"pb{secrets.token_hex(3)}-"  # order ids: <run>m<n> measured, <run>w<n> warm-up
    process: subprocess.Popen[bytes] | None = None
    drainer: Any = None
    key_id = 0
    try:
        with app.app_context():
            api_key, key_id = _make_key(db.session())
        with engine.connect() as connection:
            secret = settings["SHORTLINK_SECRET"]
            rounds = [
                make_bodies(connection, args.postbacks, f"{run}m{r}-", secret)
                for r in range(args.rounds)
            ]
            warm = make_bodies(connection, args.warmup, f"{run}w", secret)

        port = free_port()
        process = start_web(env, port)
        context = multiprocessing.get_context("fork")
        stop = context.Event()
        drainer = context.Process(target=drain_process, args=(settings, folder, stop))
        drainer.start()
        print(
            f"interactive web: {args.web_workers} workers × {args.web_threads} threads; clients: "
            f"{args.processes} processes × {args.connections} connections; database "
            f"{sa.engine.make_url(args.database).database}"
        )
        drive(port, api_key, warm, args.processes, args.connections)
        figures = []
        for r, bodies in enumerate(rounds):
            requests = with_replays(bodies, args.duplicates)
            replays = len(requests) - len(bodies)
            cpu_before, drain_before = server_cpu_s(process.pid), server_cpu_s(drainer.pid)
            load = drive(port, api_key, requests, args.processes, args.connections)
            server_cpu = server_cpu_s(process.pid) - cpu_before
            all_stored_at = wait_stored(engine, f"{run}m{r}-", len(bodies))
            with engine.connect() as connection:
                stored = _stored(connection, f"{run}m{r}-")
            print(f"\nround {r + 1} of {len(rounds)}:", end="")
            figures.append(report(load, len(bodies), replays, stored, server_cpu, all_stored_at))
            print(f"CPU seconds: drain process {server_cpu_s(drainer.pid) - drain_before:.1f}")
        stop.set()
        drainer.join(timeout=30)
        accepted = sorted(f[0] for f in figures)
        print(
            f"\naccepted/s by round: {', '.join(f'{f[0]:,.0f}' for f in figures)}; "
            f"median {statistics.median(accepted):,.0f}; requests/s median "
            f"{statistics.median(f[1] for f in figures):,.0f}; exactly once in every round: "
            f"{'yes' if all(f[2] for f in figures) else 'NO'}"
        )
    finally:
        if drainer is not None and drainer.is_alive():
            drainer.terminate()
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        _clean_up(app, engine, run, key_id, redis_prefix, keep=args.keep)
        shutil.rmtree(folder, ignore_errors=True)


def _clean_up(
    app: Any, engine: sa.Engine, run: str, key_id: int, redis_prefix: str, *, keep: bool
) -> None:
    with app.app_context():
        session = db.session()
        api_key = session.get(ApiKey, key_id) if key_id else None
        if api_key is not None:
            service.revoke_api_key(session, api_key)
            session.commit()
        client = get_redis()
        keys = list(client.scan_iter(f"{redis_prefix}:*"))
        if keys:
            client.delete(*keys)
        app.extensions["interactive.engine"].dispose()
    if not keep:
        with engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM conversions WHERE order_id LIKE :pattern"),
                {"pattern": f"{run}%"},
            )
    engine.dispose()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postbacks", type=int, default=20_000, help="unique orders sent")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share sent again")
    parser.add_argument("--warmup", type=int, default=500, help="orders sent before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds of --postbacks")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=4, help="connections per process")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--keep", action="store_true", help="keep the run's conversions")
    return parser.parse_args()


if __name__ == "__main__":
    main()
