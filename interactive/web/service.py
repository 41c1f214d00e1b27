"""Users, passwords, sign-in throttling and API keys. Flushes, never commits."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from interactive.db import after_commit, utcnow
from interactive.redis_store import get_redis, key
from interactive.web.models import ApiKey, Role, User, new_session_nonce

log = logging.getLogger(__name__)

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps a sign-in with an unknown email as slow as one with a
    known email (no user enumeration by timing)."""
    return _hasher.hash(secrets.token_hex(16))


MIN_PASSWORD_LENGTH = 10
# Staff sign-in addresses: plain ASCII, a dot in the domain. One pattern for the forms,
# the API document and the service, written so that Python and JSON Schema read it alike.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
API_KEY_PREFIX = "ik_"
# Moved on by every revocation: processes that remember verified keys verify them again.
API_KEYS_GENERATION = ("api_keys", "generation")
# A hash of key id → last use (ISO 8601), written to SQL by ``flush_api_key_usage``.
API_KEY_LAST_USED = "api_key_last_used"


class ServiceError(Exception):
    """A request the service refuses; ``code`` is stable, ``field`` names the input."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# --- users -------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError("weak_password", "password_too_short", "password")
    if email and password.lower() == normalise_email(email):
        raise ServiceError("weak_password", "password_is_email", "password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    name: str = "",
    locale: str,
    timezone: str,
) -> User:
    """Create a user (flushes). Raises ServiceError for a taken email, weak password, or an
    unknown locale or time zone."""
    email = normalise_email(email)
    if not re.fullmatch(EMAIL_PATTERN, email) or len(email) > 254:
        raise ServiceError("invalid_email", "invalid_email", "email")
    if get_user_by_email(session, email) is not None:
        raise ServiceError("email_taken", "email_taken", "email")
    check_password_strength(password, email)
    _check_locale_timezone(locale, timezone)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        role=role,
        locale=locale,
        timezone=timezone,
    )
    session.add(user)
    session.flush()
    log.info("user created user_id=%s role=%s", user.id, role.value)
    return user


def _check_locale_timezone(locale: str, timezone: str) -> None:
    if locale not in ("tr", "en"):
        raise ServiceError("invalid_locale", "invalid_locale", "locale")
    if timezone not in zoneinfo.available_timezones():
        raise ServiceError("invalid_timezone", "invalid_timezone", "timezone")


def update_user(
    session: Session,
    user: User,
    *,
    name: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    acting_user_id: int | None = None,
) -> User:
    """Change a user's profile, role or status. An admin cannot demote or deactivate
    themselves, and the last active admin cannot be removed."""
    if locale is not None or timezone is not None:
        _check_locale_timezone(locale or user.locale, timezone or user.timezone)
    losing_admin = user.role == Role.ADMIN and (
        (role is not None and role != Role.ADMIN) or active is False
    )
    if losing_admin:
        if acting_user_id == user.id:
            raise ServiceError("self_demotion", "cannot_demote_self", "role")
        if _active_admin_count(session) <= 1:
            raise ServiceError("last_admin", "last_admin", "role")
    if name is not None:
        user.name = name.strip()
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    if locale is not None:
        user.locale = locale
    if timezone is not None:
        user.timezone = timezone
    session.flush()
    return user


def _active_admin_count(session: Session) -> int:
    query = sa.select(sa.func.count()).where(User.role == Role.ADMIN, User.active.is_(True))
    return int(session.scalar(query) or 0)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None. Rehashes outdated hashes and
    records the sign-in time (flushes)."""
    user = get_user_by_email(session, email)
    if user is None or not user.active:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Change a password after checking the current one; other sessions are signed out
    (the session id carries the change time)."""
    if not _verify(user.password_hash, current):
        raise ServiceError("wrong_password", "wrong_password", "current_password")
    set_password(session, user, new)


def set_password(session: Session, user: User, new: str) -> None:
    check_password_strength(new, user.email)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.session_nonce = new_session_nonce()
    session.flush()


def load_session_user(session: Session, session_id: str) -> User | None:
    """Flask-Login loader: ``"<id>:<session nonce>"``; a stale nonce signs out."""
    user_id, _, nonce = session_id.partition(":")
    if not user_id.isdigit() or not nonce:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active:
        return None
    if not hmac.compare_digest(user.session_nonce, nonce):
        return None
    return user


# --- sign-in throttling --------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    blocked: bool
    retry_after: int  # seconds


def _attempt_keys(ip: str, email: str) -> tuple[str, str]:
    account = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:16]
    return key("login", "ip", ip), key("login", "account", account)


def login_throttle(ip: str, email: str, max_attempts: int) -> Throttle:
    """Whether sign-in from this address or for this account is blocked, and for how
    long. Both counters matter: one stops guessing many accounts, the other one account
    from many addresses."""
    client = get_redis()
    ip_key, account_key = _attempt_keys(ip, email)
    # Several accounts may share an office address: allow it more attempts.
    checks = ((ip_key, max_attempts * 4), (account_key, max_attempts))
    for counter, limit in checks:
        count = int(client.get(counter) or 0)
        if count >= limit:
            ttl = int(client.ttl(counter))
            return Throttle(True, max(ttl, 1))
    return Throttle(False, 0)


def record_failed_login(ip: str, email: str, window_seconds: int) -> None:
    client = get_redis()
    pipe = client.pipeline()
    for counter in _attempt_keys(ip, email):
        # The window starts at the first failure (INCR keeps the expiry the SET gave).
        pipe.set(counter, 0, ex=window_seconds, nx=True)
        pipe.incr(counter)
    pipe.execute()


def clear_failed_logins(ip: str, email: str) -> None:
    get_redis().delete(*_attempt_keys(ip, email))


# --- API keys ------------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, role: Role, created_by: User) -> str:
    """Create a key (flushes) and return its token; only its hash is stored, so the token
    is shown once."""
    if not name.strip():
        raise ServiceError("invalid_name", "name_required", "name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey(
        name=name.strip(),
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        role=role,
        created_by=created_by,
    )
    session.add(api_key)
    session.flush()
    log.info("api key created api_key_id=%s role=%s by=%s", api_key.id, role.value, created_by.id)
    return f"{API_KEY_PREFIX}{prefix}_{secret}"


def revoke_api_key(session: Session, api_key: ApiKey) -> None:
    """Revoke a key (idempotent; flushes)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        session.flush()
        client = get_redis()
        after_commit(session, lambda: client.incr(key(*API_KEYS_GENERATION)))
        log.info("api key revoked api_key_id=%s", api_key.id)


def verify_api_key(session: Session, token: str) -> ApiKey | None:
    """The active key for a bearer token, or None."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    api_key = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if api_key is None or api_key.revoked_at is not None:
        return None
    if not hmac.compare_digest(api_key.secret_hash, _hash_secret(secret)):
        return None
    return api_key


def note_api_key_use(api_key_id: int, pipe: redis.client.Pipeline | None = None) -> None:
    """Remember when a key was last used, in Redis (in ``pipe`` when given): no SQL write
    per API request; the scheduler's flush job writes these in one batch."""
    target = pipe if pipe is not None else get_redis()
    target.hset(key(API_KEY_LAST_USED), str(api_key_id), utcnow().isoformat())


def flush_api_key_usage(session: Session) -> int:
    """Write buffered last-used times to the database (flushes); returns keys updated.
    Safe to run twice: only later times overwrite."""
    client = get_redis()
    buffer_key = key(API_KEY_LAST_USED)
    processing_key = key(API_KEY_LAST_USED, "processing")
    # A batch left by a crashed run goes first; new uses wait for the next run.
    if not client.exists(processing_key) and client.exists(buffer_key):
        client.rename(buffer_key, processing_key)
    raw: dict[bytes, bytes] = client.hgetall(processing_key)  # type: ignore[assignment]
    updated = 0
    for raw_id, raw_time in raw.items():
        used_at = datetime.fromisoformat(raw_time.decode()).astimezone(UTC)
        api_key = session.get(ApiKey, int(raw_id))
        if api_key is not None and (api_key.last_used_at is None or api_key.last_used_at < used_at):
            api_key.last_used_at = used_at
            updated += 1
    session.flush()
    after_commit(session, lambda: client.delete(processing_key))
    return updated
