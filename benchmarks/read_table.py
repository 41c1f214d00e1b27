"""Measure how fast contact files are read: rows per second for CSV and XLSX.

    .venv/bin/python benchmarks/read_table.py [--csv-rows 1000000] [--xlsx-rows 100000]

Writes a CSV (UTF-8, 6 columns, every 50th row with a quoted comma and line break) and an
XLSX (the same columns, phones as numbers, written by ``tests/contacts/xlsx.py``) into a
temporary folder, then times ``open_table`` plus iterating every row, and
``total_estimate()`` on its own. Prints rows/s and the process's peak RSS so far. Not part
of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from interactive.contacts.readers import open_table

ROOT = Path(__file__).resolve().parent.parent
CITIES = ["İstanbul", "Ankara", "İzmir", "Bursa", "Muğla", "Çanakkale"]


def _records(count: int) -> Iterator[list[str | int]]:
    yield ["Ad", "Soyad", "Telefon", "E-posta", "Şehir", "Not"]
    for n in range(count):
        note = "VIP, arayın\nakşam" if n % 50 == 0 else ""
        yield [f"Ayşe{n}", "Yılmaz", 905300000000 + n, f"a{n}@example.com", CITIES[n % 6], note]


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(_records(count))


def write_xlsx(path: Path, count: int) -> None:
    sys.path.insert(0, str(ROOT))  # the writer is a test helper, not part of the package
    from tests.contacts.xlsx import write_xlsx as write

    write(path, ([float(v) if isinstance(v, int) else v for v in r] for r in _records(count)))


def measure(label: str, path: Path, count: int) -> None:
    started = time.perf_counter()
    with open_table(path) as table:
        opened = time.perf_counter()
        rows = sum(1 for _ in table.rows())
        finished = time.perf_counter()
        estimate_started = time.perf_counter()
        estimate = table.total_estimate()
        estimate_seconds = time.perf_counter() - estimate_started
    assert rows == count, (rows, count)
    seconds = finished - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s "
        f"(open {opened - started:.2f} s; size {path.stat().st_size / 2**20:.0f} MiB; "
        f"total_estimate {estimate:,} in {estimate_seconds * 1000:.0f} ms; "
        f"peak RSS so far {peak_mib:,.0f} MiB)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        csv_path, xlsx_path = Path(folder) / "contacts.csv", Path(folder) / "contacts.xlsx"
        write_csv(csv_path, args.csv_rows)
        measure("CSV", csv_path, args.csv_rows)
        write_xlsx(xlsx_path, args.xlsx_rows)
        measure("XLSX", xlsx_path, args.xlsx_rows)


if __name__ == "__main__":
    main()
