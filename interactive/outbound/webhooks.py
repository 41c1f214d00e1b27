"""Signed status webhooks: when a message sent through the API with a ``status_url``
reaches a final state, that URL gets one POST saying so.

Storage is Redis, not SQL (there is no column for it), and so is lost with Redis; the
messages themselves never are:

- ``<prefix>:webhook:<message id>``: a hash ``{url, state, attempts, last_error,
  registered_at, delivered_at}`` (state ``pending``, ``delivered`` or ``failed``) that
  expires ``WEBHOOK_TTL`` after registration;
- ``<prefix>:webhooks:due``: the ids of pending webhooks, scored by when (Unix seconds)
  they are looked at next.

Delivery (``deliver_due``, a periodic job; the gateway never waits for it): the due ids
of a batch, their messages in one SQL query, a POST for each final one, in parallel, with
a short timeout. A failure (no answer, or anything but 2xx) is retried with exponential
backoff up to ``MAX_ATTEMPTS``; a message not final yet is looked at again later, the
later the older it is. Delivery is at least once: receivers dedupe by ``id``.

The body is ``{"id", "state", "error_code", "final_at"}`` (compact JSON). The request
carries ``X-Interactive-Timestamp`` (Unix seconds) and ``X-Interactive-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the ``WEBHOOK_SECRET``
setting; a receiver recomputes it, compares in constant time and refuses timestamps more
than ``TOLERANCE`` seconds away from its clock, so that a captured request cannot be
replayed later (see ``verify``).

Targets are http(s) URLs. In production only https to public addresses: checked when
the URL is given and again at each delivery, where the connection goes to the very
address that was checked (a DNS answer that changes in between cannot point it inside
the network), and redirects are not followed. Development and tests allow http and
private addresses, so that a local receiver works.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.db import after_commit
from interactive.outbound.models import Message
from interactive.outbound.states import FINAL

log = logging.getLogger(__name__)

WEBHOOK_TTL = 7 * 24 * 3600
MAX_ATTEMPTS = 10
# Waits after the n-th failure: 10 s, 20 s, 40 s … capped at an hour (about 2.4 hours in all).
BACKOFF_FIRST = 10
BACKOFF_MAX = 3600
# A message not final yet is looked at again after a tenth of its age, within these bounds.
RECHECK_MIN = 5
RECHECK_MAX = 600
TIMEOUT = 5.0
BATCH = 100
WORKERS = 8
#: Seconds a receiver should accept between the signed timestamp and its own clock.
TOLERANCE = 300
MAX_RESPONSE_BYTES = 65536
SIGNATURE_HEADER = "X-Interactive-Signature"
TIMESTAMP_HEADER = "X-Interactive-Timestamp"

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def hook_key(prefix: str, message_id: int) -> str:
    return f"{prefix}:webhook:{message_id}"


def due_key(prefix: str) -> str:
    return f"{prefix}:webhooks:due"


# --- targets ----------------------------------------------------------------------------------


def target_problem(url: str, *, production: bool, public_only: bool | None = None) -> str | None:
    """Why status webhooks cannot go to ``url``, or None. In production (or with
    ``public_only``) this resolves the host name (every address must be public)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "only http and https URLs are accepted"
    if production and scheme != "https":
        return "an https URL is required"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not accepted"
    if not (production if public_only is None else public_only):
        return None
    try:
        addresses = resolve(parts.hostname, port or (443 if scheme == "https" else 80))
    except OSError:
        return "the host name does not resolve"
    if not all(is_public(address) for address in addresses):
        return "the host is a private, loopback or reserved address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # a label IDNA cannot encode ("a..b", 64+ letters)
        raise OSError(f"not a valid host name: {host}") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"no address for {host}")
    return addresses


def is_public(address: str) -> bool:
    """A globally routable unicast address (not private, loopback, link-local, shared,
    reserved or multicast; an IPv4-mapped IPv6 address is judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


# --- registration -----------------------------------------------------------------------------


def register(session: Session, client: redis.Redis, prefix: str, message_id: int, url: str) -> None:
    """Once ``session`` commits, remember that message ``message_id`` reports its final
    state to ``url`` (kept ``WEBHOOK_TTL``). Nothing happens on rollback."""

    def write() -> None:
        now = time.time()
        key = hook_key(prefix, message_id)
        pipe = client.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "url": url,
                "state": PENDING,
                "attempts": 0,
                "last_error": "",
                "registered_at": _iso(now),
                "delivered_at": "",
            },
        )
        pipe.expire(key, WEBHOOK_TTL)
        pipe.zadd(due_key(prefix), {str(message_id): now})
        pipe.execute()

    after_commit(session, write)


def status(client: redis.Redis, prefix: str, message_id: int) -> dict[str, str] | None:
    """The stored webhook of a message (see the module docstring), or None."""
    return _text_map(client.hgetall(hook_key(prefix, message_id))) or None


# --- signing ----------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Interactive-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def body_of(message_id: int, state: str, error_code: int | None, final_at: datetime) -> bytes:
    payload = {
        "id": message_id,
        "state": state,
        "error_code": error_code,
        "final_at": final_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


# --- delivery ---------------------------------------------------------------------------------


@dataclass
class Report:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0  # gave up after MAX_ATTEMPTS
    waiting: int = 0  # message not final yet
    dropped: int = 0  # expired, or the message is gone


@dataclass(frozen=True)
class _Due:
    message_id: int
    url: str
    attempts: int
    body: bytes


def backoff(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return int(min(BACKOFF_FIRST * 2 ** (attempts - 1), BACKOFF_MAX))


def recheck_after(age_seconds: float) -> float:
    return min(max(age_seconds / 10, RECHECK_MIN), RECHECK_MAX)


def deliver_due(
    session: Session,
    client: redis.Redis,
    prefix: str,
    secret: str,
    *,
    production: bool,
    now: float | None = None,
) -> Report:
    """Post the webhooks that are due (at most ``BATCH``) and record each outcome in
    Redis. Reads SQL only. Not safe to run side by side (the job holds a lock)."""
    now = time.time() if now is None else now
    report = Report()
    due = due_key(prefix)
    members: list[bytes] = client.zrangebyscore(due, "-inf", now, start=0, num=BATCH)  # type: ignore[assignment]
    ids = [int(member) for member in members]
    if not ids:
        return report
    read = client.pipeline(transaction=False)
    for message_id in ids:
        read.hgetall(hook_key(prefix, message_id))
    hooks = {m: _text_map(h) for m, h in zip(ids, read.execute(), strict=True)}
    rows = {
        row.id: row
        for row in session.execute(
            sa.select(
                Message.id, Message.state, Message.error_code, Message.final_at, Message.created_at
            ).where(Message.id.in_(ids))
        )
    }
    todo: list[_Due] = []
    pipe = client.pipeline(transaction=False)
    for message_id in ids:
        hook, row = hooks[message_id], rows.get(message_id)
        if hook.get("state") != PENDING or row is None:
            pipe.zrem(due, str(message_id))
            report.dropped += 1
        elif row.state not in FINAL:
            age = now - row.created_at.timestamp()
            pipe.zadd(due, {str(message_id): now + recheck_after(age)}, xx=True)
            report.waiting += 1
        else:
            final_at = row.final_at or datetime.fromtimestamp(now, UTC)
            body = body_of(message_id, row.state.value, row.error_code, final_at)
            todo.append(_Due(message_id, hook["url"], int(hook.get("attempts") or 0), body))
    pipe.execute()
    if todo:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(todo))) as pool:
            errors = list(pool.map(lambda d: _attempt(d, secret, production), todo))
        _record(client, prefix, todo, errors, now, report)
    return report


def _attempt(due: _Due, secret: str, production: bool) -> str | None:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "interactive-webhooks/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, due.body),
    }
    return post(due.url, due.body, headers, production=production)


def _record(
    client: redis.Redis,
    prefix: str,
    done: list[_Due],
    errors: list[str | None],
    now: float,
    report: Report,
) -> None:
    due = due_key(prefix)
    pipe = client.pipeline(transaction=False)
    for item, error in zip(done, errors, strict=True):
        key = hook_key(prefix, item.message_id)
        attempts = item.attempts + 1
        if error is None:
            pipe.hset(
                key, mapping={"state": DELIVERED, "attempts": attempts, "delivered_at": _iso(now)}
            )
            pipe.zrem(due, str(item.message_id))
            report.delivered += 1
        elif attempts >= MAX_ATTEMPTS:
            pipe.hset(key, mapping={"state": FAILED, "attempts": attempts, "last_error": error})
            pipe.zrem(due, str(item.message_id))
            report.failed += 1
            log.warning(
                "status webhook given up message_id=%s attempts=%s error=%s",
                item.message_id,
                attempts,
                error,
            )
        else:
            pipe.hset(key, mapping={"attempts": attempts, "last_error": error})
            pipe.zadd(due, {str(item.message_id): now + backoff(attempts)}, xx=True)
            report.retrying += 1
            log.info(
                "status webhook failed message_id=%s attempt=%s error=%s",
                item.message_id,
                attempts,
                error,
            )
    pipe.execute()


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    production: bool,
    public_only: bool | None = None,
    timeout: float = TIMEOUT,
) -> str | None:
    """POST ``body`` to ``url``; None when it answered 2xx, else why not. Redirects are
    not followed; in production (or with ``public_only``) the connection goes only to a
    public address of the host, the one checked here."""
    problem = target_problem(url, production=False)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    https = parts.scheme.lower() == "https"
    if production and not https:
        return "an https URL is required"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        return f"cannot resolve the host: {exc}"
    if production if public_only is None else public_only:
        addresses = [a for a in addresses if is_public(a)]
        if not addresses:
            return "the host is a private, loopback or reserved address"
    connection: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(host, port, addresses[0], timeout)
        if https
        else _PinnedHTTPConnection(host, port, addresses[0], timeout)
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        code = response.status
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    finally:
        connection.close()
    return None if 200 <= code < 300 else f"HTTP {code}"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a given address of the host (the Host header stays the name)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a given address of the host, its certificate checked against the name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _text_map(raw: Any) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in (raw or {}).items()
    }
