"""Contact import end to end: a generated file → ``importer.run_import`` → contacts.

    .venv/bin/python benchmarks/import_contacts.py --rows 1000000 [--format xlsx] \
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The file has a phone number (written as people do: 0532…, +90 532…, 90532…), first and last
name, two attributes (a city, text; a birth date, date) and a consent column (ONAY/RET),
with 1 % bad numbers. Without --database it runs on a temporary SQLite file; with
--database it creates (and drops) its own database on that server. The run is measured
from the queued import to DONE (reading, validating, writing, consent events). Prints
seconds, rows/s, the peak RSS of this process and of the largest child process (a large
file is read and parsed in one), and the CPU seconds of both; on a PostgreSQL server on
this machine also those of its backends for the run's database and of its other
processes (WAL writer, checkpointer…), sampled from /proc.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import resource
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import scratch_database
from interactive import migrate
from interactive.app import create_app
from interactive.contacts import importer
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Brand,
    ContactImport,
    ImportStatus,
)
from interactive.db import db
from tests.contacts.xlsx import write_xlsx

HEADER = ["Telefon", "Ad", "Soyad", "Şehir", "Doğum tarihi", "İzin"]
CITIES = ["İstanbul", "İzmir", "Ankara", "Bursa", "Eskişehir", "Muğla"]
NAMES = ["Ayşe", "Fatma", "Ömer", "Çağlar", "Şükrü", "Ali", "Gül", "İbrahim"]


def main() -> None:
    args = _arguments()
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path = folder / f"contacts.{args.format}"
    started = time.perf_counter()
    # In a child process, so that the peak RSS measured below is the import's alone.
    writer = multiprocessing.get_context("spawn").Process(
        target=_write_file, args=(path, args.rows)
    )
    writer.start()
    writer.join()
    print(
        f"file: {path.stat().st_size / 1e6:.1f} MB, {args.rows:,} rows, "
        f"written in {time.perf_counter() - started:.1f} s"
    )
    url, drop = scratch_database(args.database, folder)
    try:
        migrate.upgrade(url)
        config = {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "REDIS_PREFIX": f"bench{secrets.token_hex(3)}",
            "LOG_LEVEL": "WARNING",
        }
        if args.redis:
            config["REDIS_URL"] = args.redis
        app = create_app(config, instance_path=folder)
        with app.app_context():
            import_id = _queue(path)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            server = ServerCPU(sa.engine.make_url(url).database or "") if args.database else None
            cpu_before = os.times()
            started = time.perf_counter()
            status = importer.run_import(import_id, chunk_size=args.chunk)
            seconds = time.perf_counter() - started
            server_cpu = server.stop() if server is not None else None
            cpu = os.times()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            own_cpu = cpu.user + cpu.system - cpu_before.user - cpu_before.system
            child_cpu = sum(cpu[2:4]) - sum(cpu_before[2:4])
            record = db.session().get(ContactImport, import_id)
            assert record is not None
            db.session().refresh(record)
        backend = "PostgreSQL" if args.database else "SQLite"
        print(
            f"{backend} {args.format}: status={status} rows={record.rows_done:,} "
            f"created={record.created:,} rejected={record.rejected:,} "
            f"duplicates={record.duplicates:,} consent_events={record.consent_events:,}"
        )
        print(
            f"{seconds:.1f} s, {record.rows_done / seconds:,.0f} rows/s, "
            f"peak RSS {peak / 1024:.0f} MB (before the run {before / 1024:.0f} MB), "
            f"largest child {child_peak / 1024:.0f} MB; CPU: this process "
            f"{own_cpu:.1f} s, children {child_cpu:.1f} s; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        if server_cpu is not None and server_cpu[0]:
            print(
                f"PostgreSQL CPU: backends of the run {server_cpu[0]:.1f} s, "
                f"its WAL writer, checkpointer and background writer {server_cpu[1]:.1f} s"
            )
    finally:
        drop()


_WRITERS = ("walwriter ", "checkpointer ", "background writer ")


class ServerCPU:
    """CPU seconds of the local PostgreSQL server's processes from now until ``stop``: its
    backends connected to ``database``, and its WAL writer, checkpointer and background
    writer. Sampled every 0.2 s from /proc (a backend that exits between samples loses its
    last 0.2 s)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.start = self._sample()
        self.latest = dict(self.start)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        self._done.set()
        self._thread.join()
        self.latest.update(self._sample())
        backends = others = 0.0
        for pid, (name, seconds) in self.latest.items():
            used = seconds - self.start.get(pid, (name, 0.0))[1]
            if f" {self.database} " in name:
                backends += used
            elif name.endswith(_WRITERS):
                others += used
        return backends, others

    def _run(self) -> None:
        while not self._done.wait(0.2):
            self.latest.update(self._sample())

    @staticmethod
    def _sample() -> dict[int, tuple[str, float]]:
        found = {}
        ticks = os.sysconf("SC_CLK_TCK")
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    name = handle.read().replace(b"\0", b" ").decode(errors="replace")
                if not name.startswith("postgres: "):
                    continue
                with open(f"/proc/{entry.name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
        return found


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--chunk", type=int, default=importer.CHUNK_SIZE)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: embedded)")
    return parser.parse_args()


def _rows(count: int) -> Iterator[list[str]]:
    rng = random.Random(4)
    numbers = rng.sample(range(10_000_000), count)
    for n, number in enumerate(numbers):
        digits = f"53{number:08d}"
        style = n % 3
        phone = (f"0{digits}", f"+90 {digits[:3]} {digits[3:6]} {digits[6:]}", f"90{digits}")[style]
        if n % 100 == 99:
            phone = f"12{n}"  # not a number anywhere
        yield [
            phone,
            NAMES[n % len(NAMES)],
            f"Soyad{n}",
            CITIES[n % len(CITIES)],
            f"{1 + n % 28:02d}.{1 + n % 12:02d}.{1950 + n % 50}",
            "ONAY" if n % 5 else "RET",
        ]


def _write_file(path: Path, count: int) -> None:
    if path.suffix == ".xlsx":
        write_xlsx(path, itertools.chain([HEADER], _rows(count)))
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(HEADER) + "\n")
        for row in _rows(count):
            handle.write(",".join(row) + "\n")


def _queue(path: Path) -> int:
    session = db.session()
    brand = Brand(code="BENCH", name="Bench")
    session.add_all(
        [
            brand,
            AttributeDefinition(key="city", label="City", type=AttributeType.TEXT),
            AttributeDefinition(key="birth_date", label="Birth date", type=AttributeType.DATE),
        ]
    )
    session.flush()
    record = ContactImport(
        filename=path.name,
        path=str(path),
        status=ImportStatus.QUEUED,
        mapping={
            "phone": 0,
            "first_name": 1,
            "last_name": 2,
            "consent": 5,
            "attributes": {"city": 3, "birth_date": 4},
        },
        options={"brand_id": brand.id, "consent_source": "HS_WEB"},
    )
    session.add(record)
    session.commit()
    return record.id


if __name__ == "__main__":
    main()
