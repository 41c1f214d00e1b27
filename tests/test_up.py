"""``interactive up`` brings the product up from nothing; a browser signs in; Ctrl-C
stops every process."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.helpers import clean_env, shot
from tests.test_migrations import scratch_url  # noqa: F401 (fixture)

ADMIN_PASSWORD = "first admin password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Output:
    """Lines of a child's output, waited for by pattern with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        for line in self.seen:
            if regex.search(line):
                return line
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r}; got:\n" + "\n".join(self.seen))
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if regex.search(line):
                return line


Started = tuple[subprocess.Popen[str], Output, str]


@pytest.fixture
def start_up(tmp_path: Path, scratch_url: str) -> Iterator[Callable[[], Started]]:  # noqa: F811
    """Starts ``interactive up`` on this test's instance folder (and, in the PostgreSQL
    run, on a fresh database and the Redis server); every process is killed at the end."""
    port = _free_port()
    env = clean_env()
    env.update(
        INTERACTIVE_INSTANCE_PATH=str(tmp_path / "instance"),
        INTERACTIVE_WEB_BIND=f"127.0.0.1:{port}",
        INTERACTIVE_SIMULATOR_BIND=f"127.0.0.1:{_free_port()}",
        INTERACTIVE_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        INTERACTIVE_DEFAULT_LOCALE="en",
        PYTHONUNBUFFERED="1",
    )
    if TEST_DATABASE_URL:
        assert TEST_REDIS_URL
        env.update(INTERACTIVE_DATABASE_URL=scratch_url, INTERACTIVE_REDIS_URL=TEST_REDIS_URL)
    started: list[subprocess.Popen[str]] = []

    def start() -> Started:
        process = subprocess.Popen(
            [sys.executable, "-m", "interactive", "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process, Output(process), f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_until_ready(output: Output) -> None:
    output.wait_for(r"^web +\| .*Listening at")
    output.wait_for(r"^worker +\| .*Listening on")
    output.wait_for(r"^scheduler +\| .*scheduler is leader")


def _stop(process: subprocess.Popen[str], output: Output) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    output.wait_for(r"^up +\| stopped")


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our own server)
        return dict(json.loads(response.read()))


def test_up_runs_everything_and_ctrl_c_stops_it(
    start_up: Callable[[], Started],
    browser: Browser,
) -> None:
    process, output, base = start_up()
    output.wait_for(r"created the first admin")
    output.wait_for(r"email: +admin@example\.com")
    output.wait_for(r"password: +" + ADMIN_PASSWORD)
    _wait_until_ready(output)

    health = _get_json(f"{base}/healthz")
    assert health["status"] == "ok"
    assert health["workers"] == 1

    page = browser.new_page(locale="en-US")
    try:
        page.goto(base)
        page.get_by_label("Email").fill("admin@example.com")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        assert page.get_by_text("Needs attention").count() == 0
        _round_trip_on_the_handset(page, base)
    finally:
        page.close()

    _stop(process, output)
    # Every child is gone: nothing is left listening.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(base.rsplit(":", 1)[1]))) != 0


def _round_trip_on_the_handset(page: Page, base: str) -> None:
    """Send a phone a message through the gateway and the simulator, see it delivered,
    reply from the phone and see the reply stored: every process of the product at work."""
    page.goto(f"{base}/handset?number=905321234567")
    page.locator("#send-body").fill("Merhaba! Siparişiniz yolda.")
    page.get_by_role("button", name="Send", exact=True).click()
    _refresh_until(page, lambda: page.get_by_test_id("state").first.inner_text() == "delivered")
    page.locator("#reply-text").fill("RET")
    page.get_by_role("button", name="Send reply").click()
    conversation = page.get_by_test_id("conversation")
    _refresh_until(page, lambda: "RET" in conversation.inner_text())
    shot(page, "handset")
    page.goto(f"{base}/gateway")
    page.get_by_text("bound").first.wait_for()
    shot(page, "gateway")


def _refresh_until(page: Page, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.goto(page.url)
        if page.get_by_test_id("state").count() and condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in time:\n{page.content()}")
        page.wait_for_timeout(250)


def test_a_second_start_keeps_the_data(start_up: Callable[[], Started]) -> None:
    process, output, _base = start_up()
    output.wait_for(r"created the first admin")
    _wait_until_ready(output)
    _stop(process, output)

    process, output, base = start_up()
    _wait_until_ready(output)
    assert not any("created the first admin" in line for line in output.seen)
    assert _get_json(f"{base}/healthz")["status"] == "ok"
    _stop(process, output)
