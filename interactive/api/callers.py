"""Who is calling the API: bearer keys verified in SQL once per process, then remembered.

A verified key is kept in this process (by a SHA-256 of its token) together with the
generation of the key set it was verified under. Revoking a key moves the generation on
(``service.revoke_api_key``), so every process verifies its keys again on their next use;
an entry is also forgotten after ``TTL_S`` seconds, should Redis lose the generation.

A request with a remembered key costs one Redis round trip and no SQL: the generation,
the key's last use and its rate-limit counter travel in one pipeline.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

import redis

from interactive.db import db
from interactive.redis_store import get_redis, key
from interactive.web import service
from interactive.web.models import ROLE_PERMISSIONS, ApiKey, Permission, Role

TTL_S = 60.0
MAX_REMEMBERED = 10_000
RATE_WINDOW_S = 60
#: Where a middleware that already counted the request leaves ``(caller, count)`` for
#: the view (``interactive.api.conversions``), so that it is counted once.
COUNTED_KEY = "interactive.api.counted"


@dataclass(frozen=True, slots=True)
class Caller:
    """An API key that passed verification (what the views may know of it)."""

    id: int
    name: str
    role: Role
    created_by_id: int | None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @classmethod
    def of(cls, api_key: ApiKey) -> Caller:
        return cls(api_key.id, api_key.name, api_key.role, api_key.created_by_id)


@dataclass(frozen=True, slots=True)
class Remembered:
    caller: Caller
    generation: bytes | None
    until: float


_remembered: dict[str, Remembered] = {}
_lock = threading.Lock()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def rate_key(caller_id: int, now: float) -> str:
    """The counter of the key's requests in the window of ``now``."""
    return key("api", "rate", caller_id, int(now // RATE_WINDOW_S))


def remembered(token: str) -> Remembered | None:
    """The caller of a token verified in this process and not yet due to be verified
    again, with the generation it was verified under; None otherwise."""
    return _remembered_by(_digest(token))


def _remembered_by(digest: str) -> Remembered | None:
    known = _remembered.get(digest)
    return known if known is not None and known.until > time.monotonic() else None


def _count_use(
    client: redis.Redis, caller: Caller, *, generation: bool
) -> tuple[bytes | None, int]:
    """Note the key's use and count it in this minute's window (one round trip); with
    ``generation``, read the key set's generation too."""
    counter = rate_key(caller.id, time.time())
    pipe = client.pipeline(transaction=False)
    if generation:
        pipe.get(key(*service.API_KEYS_GENERATION))
    service.note_api_key_use(caller.id, pipe)
    pipe.incr(counter)
    pipe.expire(counter, 2 * RATE_WINDOW_S)
    replies = pipe.execute()
    current = replies[0] if generation else None
    return current, int(replies[-2])


def _verify(client: redis.Redis, token: str, digest: str) -> Caller | None:
    # The generation is read before SQL: a revocation in between moves it on again.
    generation: bytes | None = client.get(key(*service.API_KEYS_GENERATION))  # type: ignore[assignment]
    api_key = service.verify_api_key(db.session(), token)
    if api_key is None:
        return None
    caller = Caller.of(api_key)
    with _lock:
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.clear()
        _remembered[digest] = Remembered(caller, generation, time.monotonic() + TTL_S)
    return caller


def authenticate(token: str) -> tuple[Caller | None, int]:
    """The caller of a bearer token (None: unknown or revoked) and how many requests it
    made in this minute's window, this one included (0 when unknown)."""
    client = get_redis()
    digest = _digest(token)
    known = _remembered_by(digest)
    if known is not None:
        generation, count = _count_use(client, known.caller, generation=True)
        if generation == known.generation:
            return known.caller, count
        with _lock:
            _remembered.pop(digest, None)
        return _verify(client, token, digest), count
    caller = _verify(client, token, digest)
    if caller is None:
        return None, 0
    return caller, _count_use(client, caller, generation=False)[1]


def forget_all() -> None:
    """Forget every remembered key (tests)."""
    with _lock:
        _remembered.clear()
