"""Short-link settings: a required secret in production, a stable one in development."""

from __future__ import annotations

from pathlib import Path

import pytest

from interactive.config import ConfigError, load_config

PRODUCTION = {
    "INTERACTIVE_ENV": "production",
    "INTERACTIVE_SECRET_KEY": "s" * 40,
    "INTERACTIVE_DATABASE_URL": "postgresql+psycopg://db/x",
    "INTERACTIVE_REDIS_URL": "redis://r:6379/0",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("INTERACTIVE_"):
            monkeypatch.delenv(name)


def test_development_keeps_a_generated_secret_in_the_instance_folder(tmp_path: Path) -> None:
    first = load_config(tmp_path)
    assert len(first["SHORTLINK_SECRET"]) >= 32
    assert first["SHORTLINK_SECRET"] != first["SECRET_KEY"]
    assert load_config(tmp_path)["SHORTLINK_SECRET"] == first["SHORTLINK_SECRET"]
    assert (tmp_path / "shortlink_secret").stat().st_mode & 0o777 == 0o600
    assert first["SHORTLINK_BASE_URL"] == ""


def test_production_requires_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="INTERACTIVE_SHORTLINK_SECRET is required"):
        load_config(tmp_path)
    monkeypatch.setenv("INTERACTIVE_SHORTLINK_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_config(tmp_path)
    monkeypatch.setenv("INTERACTIVE_SHORTLINK_SECRET", "k" * 32)
    # Other features may require settings of their own; this one is satisfied.
    problem = ""
    try:
        secret = load_config(tmp_path)["SHORTLINK_SECRET"]
    except ConfigError as exc:
        problem, secret = str(exc), "k" * 32
    assert "SHORTLINK" not in problem
    assert secret == "k" * 32


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://k.example", "https://k.example"),
        ("https://k.example/", "https://k.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("INTERACTIVE_SHORTLINK_BASE_URL", value)
    assert load_config(tmp_path)["SHORTLINK_BASE_URL"] == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SHORTLINK_BASE_URL", "k.example", "must be a URL"),
        ("SHORTLINK_BASE_URL", "https://k.example/s", "scheme and host only"),
        ("SHORTLINK_NOT_FOUND_LIMIT", "0", "at least 1"),
        ("SHORTLINK_CACHE_SECONDS", "soon", "whole number"),
    ],
)
def test_bad_values_name_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"INTERACTIVE_{name}", value)
    with pytest.raises(ConfigError, match=f"INTERACTIVE_{name}.*{message}"):
        load_config(tmp_path)
