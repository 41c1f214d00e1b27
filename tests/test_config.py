"""Settings: defaults work with no configuration; bad settings stop start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interactive.config import ConfigError, load_config
from tests.helpers import clean_env


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INTERACTIVE_"):
            monkeypatch.delenv(name)


def test_defaults_need_no_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    config = load_config(tmp_path)
    assert config["ENV"] == "development"
    assert config["DATABASE_URL"] is None
    assert config["REDIS_URL"] is None
    # A development secret is generated once and kept for every process of this instance.
    assert len(config["SECRET_KEY"]) >= 32
    assert load_config(tmp_path)["SECRET_KEY"] == config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert config["SESSION_COOKIE_SECURE"] is False


def test_environment_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("INTERACTIVE_WEB_WORKERS", "5")
    monkeypatch.setenv("INTERACTIVE_DEFAULT_LOCALE", "en")
    monkeypatch.setenv("INTERACTIVE_DATABASE_URL", "postgresql://u@db/x")
    config = load_config(tmp_path)
    assert config["WEB_WORKERS"] == 5
    assert config["DEFAULT_LOCALE"] == "en"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INTERACTIVE_ENV": "production"}, "INTERACTIVE_SECRET_KEY is required"),
        (
            {"INTERACTIVE_ENV": "production", "INTERACTIVE_SECRET_KEY": "x" * 40},
            "INTERACTIVE_DATABASE_URL is required",
        ),
        (
            {
                "INTERACTIVE_ENV": "production",
                "INTERACTIVE_SECRET_KEY": "short",
                "INTERACTIVE_DATABASE_URL": "postgresql+psycopg://db/x",
                "INTERACTIVE_REDIS_URL": "redis://r:6379/0",
            },
            "INTERACTIVE_SECRET_KEY must be at least 32 characters",
        ),
        ({"INTERACTIVE_ENV": "staging"}, "INTERACTIVE_ENV must be one of"),
        ({"INTERACTIVE_WEB_WORKERS": "many"}, "INTERACTIVE_WEB_WORKERS must be a whole number"),
        ({"INTERACTIVE_WEB_WORKERS": "0"}, "INTERACTIVE_WEB_WORKERS must be at least 1"),
        ({"INTERACTIVE_DEFAULT_TIMEZONE": "Mars/Base"}, "INTERACTIVE_DEFAULT_TIMEZONE"),
        ({"INTERACTIVE_DATABASE_URL": "mysql://x/y"}, "INTERACTIVE_DATABASE_URL must be a URL"),
        ({"INTERACTIVE_REDIS_URL": "localhost:6379"}, "INTERACTIVE_REDIS_URL must be a URL"),
        ({"INTERACTIVE_SESSION_COOKIE_SECURE": "maybe"}, "must be true or false"),
    ],
)
def test_bad_settings_name_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    _clean_env(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(tmp_path)
    assert "\n" not in str(caught.value)


def test_production_cookies_are_secure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("INTERACTIVE_ENV", "production")
    monkeypatch.setenv("INTERACTIVE_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("INTERACTIVE_DATABASE_URL", "postgresql+psycopg://db/x")
    monkeypatch.setenv("INTERACTIVE_REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("INTERACTIVE_SHORTLINK_SECRET", "k" * 32)
    monkeypatch.setenv("INTERACTIVE_WEBHOOK_SECRET", "w" * 40)
    assert load_config(tmp_path)["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("command", [["web"], ["worker"], ["scheduler"], ["up"], ["db", "check"]])
def test_commands_print_one_line_for_a_bad_setting(tmp_path: Path, command: list[str]) -> None:
    env = clean_env()
    env.update(INTERACTIVE_ENV="production", INTERACTIVE_INSTANCE_PATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "interactive", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "interactive: configuration error: INTERACTIVE_SECRET_KEY is required when "
        "INTERACTIVE_ENV=production"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_every_setting_is_documented_in_env_example() -> None:
    from interactive.config import Config

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].removeprefix("INTERACTIVE_")
        for line in example.splitlines()
        if line.startswith("INTERACTIVE_")
    }
    settings = {name for name in vars(Config) if name.isupper()}
    assert settings <= documented, settings - documented
    assert documented - settings <= {"INSTANCE_PATH"}


def test_the_example_file_itself_is_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    for line in example.splitlines():
        if line.startswith("INTERACTIVE_") and not line.startswith("INTERACTIVE_INSTANCE_PATH"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    config = load_config(tmp_path)
    assert config["DEFAULT_LOCALE"] == "tr"
    assert config["SESSION_COOKIE_SECURE"] is False
