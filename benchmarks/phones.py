"""Measure phone number normalisation for contact imports.

    .venv/bin/python benchmarks/phones.py [--count 1000000] [--sample 20000] [--seed 1] [--repeat 3]

Generates COUNT numbers as real Turkish customer files write them (80 % Turkish mobiles in
ten shapes, 6 % Turkish landlines, 10 % repeats of earlier rows, 2 % invalid, 2 % foreign),
then times ``normalise`` over all of them (cold caches each run; best of REPEAT runs, with
the cyclic GC on and off, as keeping a million results alive makes full collections
expensive), ``timezone_for`` over the valid results, and plain ``phonenumbers.parse`` +
``is_valid_number`` + E.164 formatting over the first SAMPLE rows for comparison. Target:
a few µs a number, so that the phone step fits in an import of 1M rows in ≤ 15 s.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

import phonenumbers

from interactive.contacts import phones

MOBILE_PREFIXES = [f"5{n:02d}" for n in (*range(30, 56), 1, 5, 6, 7)]
LANDLINE_PREFIXES = ["212", "216", "232", "312", "242", "224", "322", "352"]
SHAPES: list[Callable[[str], str]] = [
    lambda n: f"0{n[:3]} {n[3:6]} {n[6:8]} {n[8:]}",
    lambda n: f"0{n}",
    lambda n: f"+90 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}",
    lambda n: f"+90 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}",
    lambda n: f"90{n}",
    lambda n: f"0090{n}",
    lambda n: n,
    lambda n: f"{n}.0",
    lambda n: f"90{n}.0",
    lambda n: f" 0{n[:3]} {n[3:]}\u00a0",
]
INVALID = ["", "n/a", "123", "0123 456 78 90", "0532 123 45", "5.32123E+09", "05321234567890"]
FOREIGN: list[Callable[[random.Random], str]] = [
    lambda r: f"+49 30 {r.randrange(10**6, 10**7)}",
    lambda r: f"+1 415 {r.randrange(200, 1000)} {r.randrange(10**4):04d}",
    lambda r: f"+44 7911 {r.randrange(10**6):06d}",
    lambda r: f"+33 6 {r.randrange(10**8):08d}",
    lambda r: f"+994 50 {r.randrange(10**7):07d}",
]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args(argv)


def generate(count: int, seed: int) -> list[str]:
    """COUNT raw numbers in the mix the module docstring describes."""
    rnd = random.Random(seed)
    rows: list[str] = []
    for _ in range(count):
        roll = rnd.random()
        if roll < 0.80:
            nsn = rnd.choice(MOBILE_PREFIXES) + f"{rnd.randrange(10**7):07d}"
            rows.append(rnd.choice(SHAPES)(nsn))
        elif roll < 0.86:
            nsn = rnd.choice(LANDLINE_PREFIXES) + f"{rnd.randrange(10**7):07d}"
            rows.append(rnd.choice(SHAPES[:4])(nsn))
        elif roll < 0.96 and rows:
            rows.append(rows[rnd.randrange(len(rows))])
        elif roll < 0.98:
            rows.append(rnd.choice(INVALID))
        else:
            rows.append(rnd.choice(FOREIGN)(rnd))
    return rows


def plain(raw: str) -> str | None:
    """The straightforward approach: phonenumbers for every row."""
    try:
        number = phonenumbers.parse(raw, "TR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    rows = generate(args.count, args.seed)

    results: list[phones.Parsed] = []
    timings: dict[str, list[float]] = {"gc on": [], "gc off": []}
    for _ in range(args.repeat):
        for label, collect in (("gc on", True), ("gc off", False)):
            phones._slow.cache_clear()  # every run starts cold
            if not collect:
                gc.disable()
            started = time.perf_counter()
            results = [phones.normalise(raw) for raw in rows]
            timings[label].append(time.perf_counter() - started)
            gc.enable()
    outcomes = Counter(result.error or "valid" for result in results)
    slow = phones._slow.cache_info()
    print(f"normalise: {len(rows):,} numbers, all results kept, best of {args.repeat}")
    for label, runs in timings.items():
        best = min(runs)
        print(
            f"  {label}: {best:.2f} s, {best / len(rows) * 1e6:.2f} µs/number,"
            f" {len(rows) / best:,.0f} numbers/s (median {statistics.median(runs):.2f} s)"
        )
    print(f"  outcomes: {dict(outcomes.most_common())}")
    print(f"  slow path: {slow.misses:,} phonenumbers calls, {slow.hits:,} cache hits")

    valid = [result.e164 for result in results if result.e164 is not None]
    started = time.perf_counter()
    zones = Counter(phones.timezone_for(e164) for e164 in valid)
    elapsed = time.perf_counter() - started
    print(f"timezone_for: {len(valid):,} numbers in {elapsed:.2f} s")
    print(f"  {elapsed / len(valid) * 1e6:.2f} µs/number; top zones {zones.most_common(3)}")

    sample = rows[: args.sample]
    started = time.perf_counter()
    for raw in sample:
        plain(raw)
    elapsed = time.perf_counter() - started
    print(f"plain phonenumbers: {len(sample):,} numbers in {elapsed:.2f} s")
    print(
        f"  {elapsed / len(sample) * 1e6:.2f} µs/number,"
        f" {len(sample) / elapsed:,.0f} numbers/s"
        f" (1M rows ≈ {elapsed / len(sample) * 1e6:.0f} s)"
    )


if __name__ == "__main__":
    main()
