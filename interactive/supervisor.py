"""``interactive up``: the whole product on one machine, in child processes.

It prepares what the children share (the embedded Redis server, the secret key, the
schema), creates the first admin, then starts each process command and prefixes its
output. Ctrl-C (or SIGTERM) stops every child, then the embedded Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType

import sqlalchemy as sa
from flask import Config as FlaskConfig

from interactive import migrate
from interactive.config import default_instance_path, load_config
from interactive.db import database_url
from interactive.logs import configure_logging
from interactive.redis_store import start_embedded_redis, stop_embedded_redis

STOP_TIMEOUT_S = 15


@dataclass
class Child:
    name: str
    args: list[str]
    # Stopped (and waited for) before the others: a gateway unbinds from the SMSC and
    # stores its last results while the simulator and the database are still there.
    stops_first: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def process_commands(config: FlaskConfig) -> list[Child]:
    """web, worker, scheduler, router; the simulator when no SMSC is configured (development);
    one gateway per SMSC connection."""
    python = [sys.executable, "-m", "interactive"]
    children = [
        Child("web", [*python, "web"]),
        Child("worker", [*python, "worker"]),
        Child("scheduler", [*python, "scheduler"]),
        Child("router", [*python, "router"]),
    ]
    if not config["SMPP_CONNECTIONS"] and config["ENV"] == "development":
        children.append(Child("simulator", [*python, "simulator"]))
    for connection in config["SMPP_CONNECTION_LIST"]:
        args = [*python, "gateway", "run", connection.name]
        children.append(Child(f"gw:{connection.name}"[:10], args, stops_first=True))
    return children


def say(text: str) -> None:
    print(f"{'up':<10}| {text}", flush=True)


def run_all_in_one() -> int:
    instance = default_instance_path()
    config = load_config(instance)
    configure_logging(config["LOG_FORMAT"], config["LOG_LEVEL"], "up")
    env = dict(os.environ)
    env["INTERACTIVE_SECRET_KEY"] = str(config["SECRET_KEY"])
    env["INTERACTIVE_INSTANCE_PATH"] = str(instance)
    if not config["REDIS_URL"]:
        env["INTERACTIVE_REDIS_URL"] = start_embedded_redis(instance)
        say(f"embedded Redis at {env['INTERACTIVE_REDIS_URL']}")
    os.environ.update(env)
    url = database_url(config["DATABASE_URL"], instance)
    say(f"database {sa.engine.make_url(url).render_as_string(hide_password=True)}")
    migrate.upgrade(url)
    say("schema is at head")
    ensure_admin()
    say(f"open http://{config['WEB_BIND']}/  (Ctrl-C stops everything)")
    try:
        return supervise(process_commands(config), env)
    finally:
        stop_embedded_redis(instance)


def ensure_admin() -> None:
    """On first start (no users), create the admin and print the login once."""
    from interactive.app import create_app
    from interactive.db import db
    from interactive.web import service
    from interactive.web.models import Role, User

    app = create_app()
    with app.app_context(), db.transaction() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(User)):
            return
        email = app.config["BOOTSTRAP_ADMIN_EMAIL"]
        password = app.config["BOOTSTRAP_ADMIN_PASSWORD"] or secrets.token_urlsafe(12)
        service.create_user(
            session,
            email=email,
            password=password,
            role=Role.ADMIN,
            name="Admin",
            locale=app.config["DEFAULT_LOCALE"],
            timezone=app.config["DEFAULT_TIMEZONE"],
        )
    say("created the first admin; sign in with")
    say(f"    email:    {email}")
    say(f"    password: {password}")
    say("(shown once; change it under your account, or: interactive users set-password EMAIL)")


def _pump(child: Child) -> None:
    assert child.process is not None
    assert child.process.stdout is not None
    for raw in iter(child.process.stdout.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        sys.stdout.write(f"{child.name:<10}| {line}\n")
        sys.stdout.flush()


def supervise(children: list[Child], env: dict[str, str]) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    pumps = []
    for child in children:
        # A new session: the terminal's Ctrl-C reaches only us, and we stop children in order.
        child.process = subprocess.Popen(  # noqa: S603 (our own commands, no shell)
            child.args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pump = threading.Thread(target=_pump, args=(child,), daemon=True)
        pump.start()
        pumps.append(pump)
    failed: Child | None = None
    while not stop.is_set() and failed is None:
        stop.wait(0.5)
        failed = next((c for c in children if c.process and c.process.poll() is not None), None)
    if failed is not None and failed.process is not None:
        say(f"{failed.name} exited with code {failed.process.returncode}; stopping everything")
    else:
        say("stopping")
    stop_children(children)
    for pump in pumps:
        pump.join(timeout=2)
    say("stopped")
    return 1 if failed is not None else 0


def stop_children(children: list[Child]) -> None:
    _stop([c for c in children if c.stops_first])
    _stop([c for c in children if not c.stops_first])


def _stop(children: list[Child]) -> None:
    running = [c for c in children if c.process and c.process.poll() is None]
    for child in running:
        assert child.process is not None
        child.process.send_signal(signal.SIGTERM)
    for child in running:
        assert child.process is not None
        try:
            child.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop in {STOP_TIMEOUT_S}s; killing it")
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
