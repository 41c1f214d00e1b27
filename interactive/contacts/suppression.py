"""The suppression list: numbers that get no commercial and no informational message.

Reasons: opted out (STOP/RET by SMS), permanently failing, blocked by a person, erased. The
SQL table is the truth; a Redis set (``outbound.service.suppression_key``) mirrors the
numbers so that the gateway can check each one again right before it submits. The mirror
is written after commit and rebuilt from SQL when Redis lost it (``ensure_mirror``).

Every row keeps an HMAC of the number (keyed by the secret key), so that an erased number,
whose digits are gone, still blocks a later import or send.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable

import redis
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from interactive.contacts.models import Suppression, SuppressionReason
from interactive.db import after_commit
from interactive.outbound.service import suppression_key

log = logging.getLogger(__name__)

# Marks a mirror that was loaded completely (an empty set cannot say so).
_LOADED = "__loaded__"


def phone_hash(phone: str, secret: str | None = None) -> str:
    """HMAC-SHA256 of an E.164 number: irreversible without the secret key."""
    key = (secret or str(current_app.config["SECRET_KEY"])).encode()
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


def add(
    session: Session,
    phones: Iterable[str],
    reason: SuppressionReason,
    *,
    note: str = "",
    by: str = "",
) -> int:
    """Suppress these numbers for ``reason`` (flushes; idempotent) and add them to the
    Redis mirror after commit. Returns how many were new."""
    numbers = sorted(set(phones))
    if not numbers:
        return 0
    hashes = {phone: phone_hash(phone) for phone in numbers}
    existing = set(
        session.scalars(
            sa.select(Suppression.phone_hash).where(
                Suppression.phone_hash.in_(list(hashes.values())), Suppression.reason == reason
            )
        )
    )
    rows = [
        {
            "phone": None if reason == SuppressionReason.ERASED else phone,
            "phone_hash": digest,
            "reason": reason,
            "note": note,
            "created_by": by[:200],
        }
        for phone, digest in hashes.items()
        if digest not in existing
    ]
    if rows:
        session.execute(sa.insert(Suppression), rows)
    if reason != SuppressionReason.ERASED:
        _mirror_after_commit(session, numbers, add=True)
    return len(rows)


def remove(session: Session, phone: str, reason: SuppressionReason) -> bool:
    """Lift one reason (e.g. a manual block, or an opt-out after a new opt-in); the number
    stays suppressed while another reason remains. Flushes; True if a row went."""
    digest = phone_hash(phone)
    result = session.execute(
        sa.delete(Suppression).where(Suppression.phone_hash == digest, Suppression.reason == reason)
    )
    left = session.scalar(
        sa.select(sa.func.count()).select_from(Suppression).where(Suppression.phone_hash == digest)
    )
    if not left:
        _mirror_after_commit(session, [phone], add=False)
    return bool(getattr(result, "rowcount", 0))


def suppressed(session: Session, phones: Iterable[str]) -> dict[str, list[SuppressionReason]]:
    """The reasons each of these numbers is suppressed (numbers not suppressed are absent).
    Matches by hash, so erased numbers are found too."""
    hashes = {phone_hash(phone): phone for phone in set(phones)}
    found: dict[str, list[SuppressionReason]] = {}
    digests = list(hashes)
    for start in range(0, len(digests), 5000):
        query = sa.select(Suppression.phone_hash, Suppression.reason).where(
            Suppression.phone_hash.in_(digests[start : start + 5000])
        )
        for digest, reason in session.execute(query):
            found.setdefault(hashes[digest], []).append(reason)
    return found


def _mirror_after_commit(session: Session, phones: list[str], *, add: bool) -> None:
    client: redis.Redis = current_app.extensions["interactive.redis"]
    key = suppression_key(str(current_app.config["REDIS_PREFIX"]))

    def write() -> None:
        try:
            if add:
                client.sadd(key, *phones)
            else:
                client.srem(key, *phones)
        except redis.RedisError:
            # The table is the truth: drop the mirror so that it is rebuilt whole.
            log.warning("suppression mirror not updated; it will be rebuilt")
            _drop_mirror(client, key)

    after_commit(session, write)


def _drop_mirror(client: redis.Redis, key: str) -> None:
    try:
        client.delete(key)
    except redis.RedisError:
        log.warning("suppression mirror could not be dropped")


def ensure_mirror(session: Session, client: redis.Redis, prefix: str) -> int:
    """Rebuild the Redis mirror from SQL unless it is complete (it carries a marker that an
    empty or flushed Redis lacks). Returns the numbers loaded (0 when nothing was needed).
    Called by the scheduler's sweep and at gateway start."""
    key = suppression_key(prefix)
    if client.sismember(key, _LOADED):
        return 0
    staging = f"{key}:rebuild"
    client.delete(staging)
    loaded = 0
    query = (
        sa.select(Suppression.phone)
        .where(Suppression.phone.is_not(None))
        .distinct()
        .execution_options(yield_per=10000)
    )
    batch: list[str] = []
    for phone in session.scalars(query):
        batch.append(str(phone))
        if len(batch) == 10000:
            client.sadd(staging, *batch)
            loaded += len(batch)
            batch = []
    client.sadd(staging, *batch, _LOADED)
    loaded += len(batch)
    # Numbers added meanwhile by after-commit writes are kept: union, then swap.
    client.sunionstore(staging, [staging, key])
    client.rename(staging, key)
    log.info("suppression mirror rebuilt numbers=%d", loaded)
    return loaded
