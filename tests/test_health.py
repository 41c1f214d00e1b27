"""/healthz: database, migrations, Redis and queues; 503 when something is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from interactive.app import create_app
from tests.conftest import TEST_DATABASE_URL


def test_healthy(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["database"]["at_head"]
    assert body["database"]["backend"] == ("postgresql" if TEST_DATABASE_URL else "sqlite")
    assert body["redis"] == {"ok": True}
    assert set(body["queues"]) == {"urgent", "default", "reports"}


def test_unreachable_redis_is_reported(app_config: dict[str, Any], tmp_path: Path) -> None:
    broken = create_app(
        {**app_config, "REDIS_URL": "redis://127.0.0.1:1/0"}, instance_path=tmp_path
    )
    response = broken.test_client().get("/healthz")
    body: Any = response.json
    assert response.status_code == 503
    assert body["redis"]["ok"] is False
    assert body["database"]["ok"] is True


def test_pending_migrations_are_reported(app_config: dict[str, Any], tmp_path: Path) -> None:
    empty = create_app(
        {**app_config, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"},
        instance_path=tmp_path,
    )
    response = empty.test_client().get("/healthz")
    body: Any = response.json
    assert response.status_code == 503
    assert body["database"]["at_head"] is False
    assert body["database"]["revision"] is None


def test_the_app_factory_never_migrates(app_config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "untouched.db"
    app: Flask = create_app(
        {**app_config, "DATABASE_URL": f"sqlite:///{path}"}, instance_path=tmp_path
    )
    app.test_client().get("/login")
    engine = sa.create_engine(f"sqlite:///{path}")
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_backend_is_the_one_asked_for(app: Flask) -> None:
    """CI runs the suite twice; this fails if the second run silently fell back."""
    engine = app.extensions["interactive.engine"]
    redis_url = app.config["REDIS_URL_EFFECTIVE"]
    if TEST_DATABASE_URL:
        assert engine.dialect.name == "postgresql"
        assert redis_url.startswith("redis://")
    else:
        assert engine.dialect.name == "sqlite"
        assert redis_url.startswith("unix://")
