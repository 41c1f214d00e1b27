"""The router's cost for a batch of one keyword MO, the batch size of a router that keeps
up (at 200 MO/s each read finds one or two): CPU and wall time per batch, in this process,
with no other load, and on PostgreSQL the CPU of the run's backend per batch.
``mo_reply.py`` measures the whole chain; this measures the router's part of it without the
run-to-run spread of five processes on two cores.

    .venv/bin/python benchmarks/route_batch.py --batches 2000 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --redis redis://127.0.0.1:6379/14

Each batch routes one stored MO ("Kazan", from its own number) to a keyword rule with an
auto-reply, commits and publishes the reply, as ``interactive router`` does
(``Router.route_ids``). The first ``--warmup`` batches are left out.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mt_throughput import _backend_pids, _proc_cpu
from benchmarks.scratch import scratch_database
from interactive import migrate, redis_store
from interactive.app import create_app
from interactive.db import db, utcnow
from interactive.keywords.consumer import Router
from interactive.keywords.models import InboundMessage, KeywordRule
from interactive.keywords.service import add_rows
from interactive.keywords.shortcodes import ensure_short_codes


def main() -> None:
    args = _arguments()
    folder = Path(tempfile.mkdtemp(prefix="bench-route-batch-"))
    url, drop = scratch_database(args.database, folder)
    redis_url = args.redis or redis_store.start_embedded_redis(folder)
    try:
        migrate.upgrade(url)
        app = create_app(
            {
                "DATABASE_URL": url,
                "REDIS_URL": redis_url,
                "SECRET_KEY": "x",
                "REDIS_PREFIX": f"bench{secrets.token_hex(3)}",
            },
            instance_path=folder,
        )
        total = args.warmup + args.batches
        with app.app_context():
            with db.transaction() as session:
                code = ensure_short_codes(session, [("4664", "bench")])["4664"]
                session.add(
                    KeywordRule(short_code_id=code.id, keyword="KAZAN", reply_tr="Tebrikler!")
                )
            with db.transaction() as session:
                now = utcnow()
                ids = add_rows(
                    session,
                    InboundMessage,
                    [
                        {
                            "connection": "bench",
                            "source": f"90539{i:07d}",
                            "destination": "4664",
                            "text": "Kazan",
                            "raw": b"Kazan",
                            "data_coding": 0,
                            "parts_count": 1,
                            "partial": False,
                            "replaced": False,
                            "dedup_key": f"bench-{i}",
                            "received_at": now,
                        }
                        for i in range(total)
                    ],
                )
            router = Router(
                app.extensions["interactive.sessionmaker"],
                app.extensions["interactive.redis"],
                str(app.config["REDIS_PREFIX"]),
            )
            for message_id in ids[: args.warmup]:
                router.route_ids([message_id])
            walls = []
            backends = _backend_pids(app)
            server = sum(_proc_cpu(pid) for pid in backends)
            cpu, wall = time.process_time(), time.perf_counter()
            for message_id in ids[args.warmup :]:
                started = time.perf_counter()
                router.route_ids([message_id])
                walls.append(time.perf_counter() - started)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            server = sum(_proc_cpu(pid) for pid in backends) - server
        app.extensions["interactive.engine"].dispose()
        backend = "PostgreSQL" if args.database else "SQLite"
        print(
            f"{backend}: {args.batches} batches of one MO: CPU {1000 * cpu / args.batches:.2f} ms "
            f"a batch; wall {1000 * wall / args.batches:.2f} ms a batch, median "
            f"{1000 * statistics.median(walls):.2f} ms, p99 "
            f"{1000 * statistics.quantiles(walls, n=100)[98]:.2f} ms"
            + (f"; server CPU {1000 * server / args.batches:.2f} ms a batch" if backends else "")
        )
    finally:
        redis_store.stop_embedded_redis(folder)
        drop()
        shutil.rmtree(folder, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000, help="batches measured")
    parser.add_argument("--warmup", type=int, default=200, help="batches left out first")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: embedded)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
