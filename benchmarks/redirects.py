"""Short-link redirects under load: gunicorn (sync workers, one per core) on 127.0.0.1
against a scratch PostgreSQL database and Redis, hammered by wrk over many codes; then the
same against a bare 302 route for comparison; then the click stream is drained and the
stored clicks are counted against the requests answered (none may be lost).

    .venv/bin/python benchmarks/redirects.py [--links 10000] [--seconds 30] \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres] \
        [--redis redis://127.0.0.1:6379/11]

Needs ``wrk`` (``apt-get install -y wrk``). Steps:

1. A scratch database (created and dropped), migrated; ``--links`` campaign links made
   with ``create_campaign_links`` in chunks of 1,000 (their rate is printed too).
2. gunicorn ``wsgi:app`` with ``--workers`` sync workers; a warm-up run of wrk (fills the
   Redis cache of the links' redirect data, as a campaign's first minutes would), then the
   measured ``wrk -t2 -c16 -d<seconds>s --latency`` with a Lua script picking a random
   code per request.
3. The same wrk run against a bare Flask app whose only route answers 302 (the framework's
   floor: no database, no Redis), and against a bare WSGI callable (the server's floor).
4. The click stream is drained with the drain job's function; every answered request of
   both short-link runs must be a stored click ("lost" must be 0; a few more stored than
   counted is wrk dropping in-flight requests when its time is up).

With --redis its keys are deleted at the end (they carry a prefix of their own).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flask import Flask

from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.app import create_app
from interactive.db import db
from interactive.redis_store import get_redis
from interactive.shortlinks import jobs, service
from interactive.shortlinks.models import Click
from interactive.shortlinks.service import NewLink

ROOT = Path(__file__).resolve().parents[1]
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
BARE_FLASK = """
from flask import Flask

app = Flask(__name__)


@app.route("/<code>")
def follow(code):
    headers = {"Location": "https://shop.example/spring?ic=x", "Cache-Control": "private, no-store"}
    return "", 302, headers
"""
BARE_WSGI = """
def app(environ, start_response):
    start_response("302 Found", [("Location", "https://shop.example/spring?ic=x"),
                                 ("Cache-Control", "private, no-store"),
                                 ("Content-Length", "0")])
    return [b""]
"""
LUA = """
local codes = {%s}
wrk.headers["User-Agent"] = "%s"
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  return wrk.format("GET", "/" .. codes[math.random(#codes)])
end
"""


@dataclass
class WrkResult:
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(url: str, script: Path, seconds: int, threads: int, connections: int) -> WrkResult:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print(out, end="", file=sys.stderr)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non_3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = int(non_3xx.group(1)) if non_3xx else 0
    if socket_errors:
        print(f"    wrk socket errors: {socket_errors.group(1)}")
    return WrkResult(requests, rate, p50, p99, errors)


def start_gunicorn(
    app: str, port: int, workers: int, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--log-level",
            "warning",
            app,
        ],
        cwd=cwd,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(1.0)  # the workers boot after the master listens
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"gunicorn {app} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_links(app: Flask, count: int) -> tuple[list[str], float]:
    codes: list[str] = []
    started = time.perf_counter()
    with app.app_context():
        session = db.session()
        for first in range(0, count, 1000):
            items = [
                NewLink(
                    "https://shop.example/spring?from=sms",
                    campaign_id=1,
                    run_id=1,
                    variant_id=1 + n % 2,
                    contact_id=n,
                    utm={"utm_source": "sms", "utm_campaign": "spring"},
                )
                for n in range(first, min(first + 1000, count))
            ]
            codes += service.create_campaign_links(session, items)
            session.commit()
    return codes, count / (time.perf_counter() - started)


def drain_all(app: Flask) -> int:
    stored = 0
    with app.app_context():
        while True:
            batch = jobs.drain(db.session(), get_redis(), max_batches=1000)
            db.session.remove()
            stored += batch
            if batch == 0:
                return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    folder = Path(tempfile.mkdtemp(prefix="bench-redirects-"))
    url, drop = scratch_database(args.database, folder)
    prefix = f"bench{secrets.token_hex(3)}"
    settings = {
        "DATABASE_URL": url,
        "REDIS_URL": args.redis,
        "REDIS_PREFIX": prefix,
        "SECRET_KEY": "b" * 40,
        "SHORTLINK_SECRET": "s" * 40,
        "LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    app: Flask | None = None
    try:
        migrate.upgrade(url)
        app = create_app(settings, instance_path=folder)
        codes, link_rate = make_links(app, args.links)
        print(f"links created: {len(codes):,} at {link_rate:,.0f}/s (chunks of 1,000)")
        script = folder / "codes.lua"
        script.write_text(LUA % (",".join(f'"{c}"' for c in codes), SAFARI))
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERACTIVE_")}
        env.update({f"INTERACTIVE_{k}": v for k, v in settings.items()})
        env["INTERACTIVE_INSTANCE_PATH"] = str(folder)

        port = free_port()
        processes.append(start_gunicorn("wsgi:app", port, args.workers, env, ROOT))
        base = f"http://127.0.0.1:{port}"
        wrk = (args.threads, args.connections)
        warm = run_wrk(base, script, args.warmup, *wrk)
        print(f"warm-up: {warm.requests:,} requests in {args.warmup} s (fills the link cache)")
        drained_warm = drain_all(app)
        redirects = run_wrk(base, script, args.seconds, *wrk)
        stop(processes.pop())

        (folder / "bare_flask.py").write_text(BARE_FLASK)
        (folder / "bare_wsgi.py").write_text(BARE_WSGI)
        floors = {}
        for name in ("bare_flask", "bare_wsgi"):
            port = free_port()
            processes.append(start_gunicorn(f"{name}:app", port, args.workers, env, folder))
            floors[name] = run_wrk(f"http://127.0.0.1:{port}", script, args.seconds, *wrk)
            stop(processes.pop())

        drained = drained_warm + drain_all(app)
        with app.app_context():
            stored = db.session().scalar(sa.select(sa.func.count()).select_from(Click)) or 0
        answered = warm.requests + redirects.requests

        print(
            f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
            f"{args.workers} sync workers, {len(codes):,} codes\n"
        )
        print(f"{'':24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for label, result in (
            ("short-link redirect", redirects),
            ("bare Flask 302", floors["bare_flask"]),
            ("bare WSGI 302", floors["bare_wsgi"]),
        ):
            print(
                f"{label:24} {result.rate:9,.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
                f"{result.errors:7}"
            )
        share = redirects.rate / floors["bare_flask"].rate
        print(f"\nredirect / bare Flask 302: {share:.0%}")
        print(
            f"clicks: answered {answered:,}, drained {drained:,}, stored {stored:,}, "
            f"lost {max(0, answered - stored):,}"
        )
    finally:
        for process in processes:
            stop(process)
        if app is not None:
            with app.app_context():
                client = get_redis()
                keys = list(client.scan_iter(f"{prefix}:*"))
                if keys:
                    client.delete(*keys)
            app.extensions["interactive.engine"].dispose()
        drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
