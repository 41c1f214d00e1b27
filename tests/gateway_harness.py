"""A gateway thread bound to an in-process SMSC simulator, and router threads, for tests
that send and receive for real."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from interactive.keywords.consumer import Router
from interactive.smpp.config import SmppConnection
from interactive.smpp.gateway import Gateway
from interactive.smpp.simulator import SimulatorConfig, SmscSimulator

SYSTEM_ID = "gw"
PASSWORD = "secret"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for a condition the database shows (no event to wait on across processes)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        pause.wait(0.05)


@pytest.fixture
def run_gateway(app: Flask, live_db: None) -> Iterator[Callable[..., SmscSimulator]]:
    started: list[tuple[SmscSimulator, threading.Event, threading.Thread]] = []

    def start(
        connection_options: dict[str, Any] | None = None, **simulator_options: Any
    ) -> SmscSimulator:
        config = SimulatorConfig(credentials={SYSTEM_ID: PASSWORD}, **simulator_options)
        simulator = SmscSimulator(config).start()
        settings: dict[str, Any] = {
            "name": "sim",
            "host": "127.0.0.1",
            "port": simulator.port,
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "short_codes": ("4664",),
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
            "response_timeout": 2.0,
            **(connection_options or {}),
        }
        connection = SmppConnection(**settings)
        stop = threading.Event()
        thread = threading.Thread(target=Gateway(app, connection).run, args=(stop,))
        thread.start()
        started.append((simulator, stop, thread))
        return simulator

    yield start
    for simulator, stop, thread in started:
        stop.set()
        thread.join(timeout=30)
        simulator.stop()


@pytest.fixture
def run_router(app: Flask, live_db: None) -> Iterator[Callable[[], Router]]:
    """Start the router process's loop in a thread (each call one more router; all are
    stopped at the end of the test)."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start() -> Router:
        router = Router(
            app.extensions["interactive.sessionmaker"],
            app.extensions["interactive.redis"],
            str(app.config["REDIS_PREFIX"]),
        )

        def run(stop: threading.Event) -> None:
            with app.app_context():
                router.run(stop)

        stop = threading.Event()
        thread = threading.Thread(target=run, args=(stop,))
        thread.start()
        started.append((stop, thread))
        return router

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(timeout=30)
