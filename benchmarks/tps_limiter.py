"""Measure the SMPP session's TPS limit against the built-in SMSC simulator over TCP.

    .venv/bin/python benchmarks/tps_limiter.py [SECONDS] [--tps 100]

Keeps the session's queue full for SECONDS (default 60) with a window large enough never to
be the limit, then prints the configured rate, the rate the simulator measured (submits
received, first to last, initial burst excluded) and the deviation. Target: within ±5 % of
100/s over 60 s. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time

from interactive.smpp.config import SmppConnection
from interactive.smpp.messages import SubmitPart, SubmitResult
from interactive.smpp.session import SmppSession
from interactive.smpp.session_state import SessionState
from interactive.smpp.simulator import SimulatorConfig, SmscSimulator
from interactive.smpp.throttle import BURST_SECONDS

PASSWORD = secrets.token_hex(4)  # only between this script and its own simulator


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=float, default=60.0)
    parser.add_argument("--tps", type=float, default=100.0)
    return parser.parse_args(argv)


def _parts(count: int, start: int) -> list[SubmitPart]:
    return [
        SubmitPart(
            key=start + n,
            source="4664",
            destination="905550000000",
            short_message=b"benchmark",
            registered_delivery=0,
        )
        for n in range(count)
    ]


def run(seconds: float, tps: float) -> float:
    """Run the measurement; return the measured submits per second."""

    def on_result(result: SubmitResult) -> None:
        """Results do not matter here: the simulator's records are the measurement."""

    with SmscSimulator(SimulatorConfig(credentials={"bench": PASSWORD})) as sim:
        connection = SmppConnection(
            name="bench",
            host="127.0.0.1",
            port=sim.port,
            system_id="bench",
            password=PASSWORD,
            tps=tps,
            window=max(10, int(tps)),
        )
        session = SmppSession(connection, on_result)
        session.start()
        try:
            if not session.wait_until(lambda s: s.state is SessionState.BOUND, 10.0):
                raise SystemExit("could not bind to the simulator")
            batch, sent = max(1, int(tps)), 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                session.submit(_parts(batch, sent))
                sent += batch
                remaining = max(0.0, deadline - time.monotonic())
                session.wait_until(lambda s: s.queued < batch // 2, remaining)
        finally:
            session.stop(10.0, graceful=False)
        submitted = sim.submitted()
    burst = int(max(1.0, tps * BURST_SECONDS))
    steady = submitted[burst:]
    span = (steady[-1].received_at - steady[0].received_at).total_seconds()
    return (len(steady) - 1) / span


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    measured = run(args.seconds, args.tps)
    deviation = (measured - args.tps) / args.tps * 100
    print(f"configured {args.tps:.1f}/s over {args.seconds:g}s")
    print(f"measured   {measured:.2f}/s ({deviation:+.2f} %)")
    return 0 if abs(deviation) <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
