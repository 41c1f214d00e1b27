"""The redirect of ``GET``/``HEAD /<code>``: the hot path. A hit on a cached link costs
one Redis round trip and no SQL; a cache miss adds one primary-key lookup and one more
round trip.

1. Decode the code to ``(link id, secret)`` and make the click (time, method, user agent,
   referrer, the address hashed and truncated, a new click token).
2. One Lua script (``_HIT``) checks the address's count of unknown codes this minute, reads
   the link's cached redirect data and, if it is there with the same secret, appends the
   click to the click stream, all in one round trip.
3. On a cache miss: the link by primary key, then its data cached for
   ``SHORTLINK_CACHE_SECONDS`` and the click appended (one pipeline).
4. A code that does not decode, an unknown id or a secret that does not match: 404, and the
   address's count goes up; past ``SHORTLINK_NOT_FOUND_LIMIT`` a minute, 429 for every code.
5. Then 302 to the stored target with its UTM parameters and ``ic=<token>`` (or 410 / the
   fallback URL for a disabled or expired link: still a click).

Redirects (steps 1-3 and 5) are answered by a WSGI middleware in front of Flask
(``ShortLinkMiddleware``): Flask's request context, session and hooks would cost as much
again as the redirect itself. 404, 429 and 410 go on to the Flask view for their pages.

The stream is drained to SQL in batches by ``jobs.drain_clicks``; if Redis refuses the
click, it is written to SQL at once instead. Only stored targets are ever redirected to:
nothing from the request reaches ``Location`` but the code and a token made here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import time
import weakref
from dataclasses import dataclass
from typing import Any, NoReturn

import redis
import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, request
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import TooManyRequests

from interactive.redis_store import get_redis, key
from interactive.shortlinks import clicks, codec
from interactive.shortlinks.classify import is_prefetch
from interactive.shortlinks.models import REFERRER_MAX_LENGTH, USER_AGENT_MAX_LENGTH, Link
from interactive.shortlinks.targets import Target, target_of

log = logging.getLogger(__name__)

NO_STORE = "private, no-store"

# KEYS: link cache, the address's miss counter, the click stream. ARGV: the miss limit,
# the secret from the code, the click (``clicks.payload``). Answers {0} blocked,
# {1} not cached, {2} cached with another secret, {3, cached} recorded.
_HIT = """
local misses = redis.call('GET', KEYS[2])
if misses and tonumber(misses) >= tonumber(ARGV[1]) then return {0} end
local cached = redis.call('GET', KEYS[1])
if not cached then return {1} end
local bar = string.find(cached, '|', 1, true)
if not bar or string.sub(cached, 1, bar - 1) ~= ARGV[2] then return {2} end
redis.call('XADD', KEYS[3], '*', 'c', ARGV[3])
return {3, cached}
"""
BLOCKED, NOT_CACHED, OTHER_SECRET, RECORDED = 0, 1, 2, 3


_LOAD = sa.select(
    Link.secret,
    Link.target_url,
    Link.fallback_url,
    Link.utm,
    Link.expires_at,
    Link.disabled_at,
).where(Link.id == sa.bindparam("link_id"))


def load_target(session: Session, link_id: int) -> Target | None:
    """The link's redirect data from SQL (one primary-key lookup), or None."""
    bind = session.get_bind()
    if isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql":
        row = _read_autocommit(bind, link_id)
    else:
        # On SQLite a read must not take the write lock (transactions begin IMMEDIATE).
        options = {} if session.in_transaction() else {"sqlite_begin": "DEFERRED"}
        connection = session.connection(execution_options=options)
        row = connection.execute(_LOAD, {"link_id": link_id}).first()
    return target_of(*row) if row is not None else None


def _read_autocommit(engine: sa.Engine, link_id: int) -> Any:
    # One round trip: no BEGIN/ROLLBACK around the SELECT and no ping on checkout (the
    # app's engine pings each one). A connection found dead is invalidated by SQLAlchemy
    # and the read is tried once more on a fresh one.
    reader = _reader(engine)
    for attempt in (1, 2):
        try:
            with reader.connect() as connection:
                return connection.execute(_LOAD, {"link_id": link_id}).first()
        except sa.exc.DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    return None


_readers: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = weakref.WeakKeyDictionary()


def _reader(engine: sa.Engine) -> sa.Engine:
    """An engine of the same database for the redirect's reads, made on first use (in a
    web worker: after the fork)."""
    reader = _readers.get(engine)
    if reader is None:
        reader = sa.create_engine(
            engine.url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8
        )
        _readers[engine] = reader
    return reader


@functools.lru_cache(maxsize=4)
def _ip_key(secret: str) -> bytes:
    return codec.derive_key(secret, "ip")


def hash_ip(ip: str, secret: str) -> str:
    """HMAC of the address under a key derived from ``SHORTLINK_SECRET`` (counts distinct
    visitors without storing the address)."""
    return hmac.new(_ip_key(secret), ip.encode(), hashlib.sha256).hexdigest()[:32]


def ip_prefix(ip: str) -> str:
    """The address's network: IPv4 /24, IPv6 /48 (an IPv4-mapped IPv6 address as IPv4)."""
    head, dot, last = ip.rpartition(".")
    if dot and ":" not in ip and last.isdigit() and head.count(".") == 2:
        return f"{head}.0/24"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


@dataclass(slots=True)
class Hit:
    """A request for a decodable code, after its one round trip to Redis (``_HIT``)."""

    link_id: int
    link_secret: int
    token: str
    click: dict[str, str]
    counter: str  # the address's count of unknown codes this minute
    cache_key: str
    stream: str
    outcome: Any  # the script's answer; None when Redis failed
    target: Target | None = None
    missing: bool = False  # no such link, or another secret

    def location(self, now: float) -> str | None:
        """Where to send the browser, or None when the answer is not a redirect (410)."""
        target = self.target
        assert target is not None
        if target.disabled or (target.expires is not None and target.expires <= now):
            return target.fallback
        return f"{target.prefix}ic={self.token}{target.suffix}"


def begin(app: Flask, environ: dict[str, Any], code: str) -> Hit | None:
    """Decode ``code`` and run the hit script: for a cached link with this secret the click
    is in the stream when this returns (``hit.recorded``). None when the code does not
    decode. Reads the request from the WSGI environ: the middleware calls it before Flask."""
    config = app.config
    secret = str(config["SHORTLINK_SECRET"])
    decoded = codec.decode(code, secret)
    if decoded is None:
        return None
    link_id, link_secret = decoded
    prefix = config["REDIS_PREFIX"]
    ip = environ.get("REMOTE_ADDR") or ""
    ip_hash = hash_ip(ip, secret)
    token = secrets.token_urlsafe(12)
    hit = Hit(
        link_id=link_id,
        link_secret=link_secret,
        token=token,
        click=_click(environ, link_id, token, ip, ip_hash),
        counter=f"{prefix}:links:404:{ip_hash}:{int(time.time() // 60)}",
        cache_key=f"{prefix}:link:{link_id}",
        stream=f"{prefix}:{clicks.STREAM}",
        outcome=None,
    )
    try:
        script = _hit_script(app.extensions["interactive.redis"])
        args = [int(config["SHORTLINK_NOT_FOUND_LIMIT"]), link_secret, clicks.payload(hit.click)]
        hit.outcome = script(keys=[hit.cache_key, hit.counter, hit.stream], args=args)
    except redis.RedisError:
        log.warning("short-link cache unavailable link=%s", link_id)
    if hit.outcome is not None and hit.outcome[0] == RECORDED:
        hit.target = Target.loads(hit.outcome[1])
    return hit


def resolve(app: Flask, hit: Hit) -> None:
    """For a hit whose link was not cached: read the link (one primary-key lookup); if it
    is there with this secret, cache it and record the click (``hit.target`` is set),
    otherwise ``hit.missing``."""
    factory: sessionmaker[Session] = app.extensions["interactive.sessionmaker"]
    with factory() as session:
        found = load_target(session, hit.link_id)
    if found is None or found.secret != hit.link_secret:
        hit.missing = True
        return
    hit.target = found
    _record(app, hit)


#: Where the middleware leaves its ``Hit`` for the view when it does not answer itself.
HIT_KEY = "interactive.shortlinks.hit"


class ShortLinkMiddleware:
    """Answers hits on active links before Flask (no request context, session or hooks:
    they would double the cost of the redirect). Unknown codes (404/429), gone links (410)
    and any path that only looks like a code go on to the app, with the ``Hit`` in the
    environ so that the view neither asks Redis again nor records the click twice."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and _CODE_PATH.fullmatch(path):
            hit = begin(self.app, environ, path[1:])
            if hit is not None:
                environ[HIT_KEY] = hit
                if hit.outcome is not None and hit.outcome[0] == NOT_CACHED:
                    resolve(self.app, hit)
                location = hit.location(time.time()) if hit.target is not None else None
                if location is not None:
                    start_response("302 Found", self._headers(location))
                    return [b""]
        return self.wsgi_app(environ, start_response)

    def _headers(self, location: str) -> list[tuple[str, str]]:
        headers = [
            ("Location", location),
            ("Cache-Control", NO_STORE),
            ("Content-Length", "0"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
        ]
        if self.app.config["SESSION_COOKIE_SECURE"]:
            headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        return headers


_CODE_PATH = re.compile(rf"/{codec.CODE_PATTERN}")


def install(app: Flask) -> None:
    """Put the middleware in front of the app (``create_app`` puts ProxyFix around it, so
    that ``REMOTE_ADDR`` is the client's address)."""
    app.wsgi_app = ShortLinkMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]


def follow(code: str) -> Response:
    """The view's part of a hit: 404/429, a gone link (410 page, or its fallback), and
    every hit when the middleware could not reach Redis."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    limit = int(app.config["SHORTLINK_NOT_FOUND_LIMIT"])
    client = get_redis()
    hit: Hit | None = request.environ.get(HIT_KEY) or begin(app, request.environ, code)
    if hit is None:
        secret = str(app.config["SHORTLINK_SECRET"])
        ip_hash = hash_ip(request.remote_addr or "", secret)
        _not_found(client, key("links", "404", ip_hash, int(time.time() // 60)), limit)
    outcome = hit.outcome
    if outcome is not None and outcome[0] == BLOCKED:
        raise _too_many()
    if hit.target is None and not hit.missing and (outcome is None or outcome[0] == NOT_CACHED):
        resolve(app, hit)
    if hit.target is None:
        _not_found(client, hit.counter, limit)
    location = hit.location(time.time())
    if location is None:
        abort(410)
    return _redirect(location)


def _redirect(location: str) -> Response:
    return Response(status=302, headers={"Location": location, "Cache-Control": NO_STORE})


def _retry_after() -> int:
    return 60 - int(time.time()) % 60


def _too_many() -> TooManyRequests:
    return TooManyRequests(retry_after=_retry_after())


def _not_found(client: redis.Redis, counter: str, limit: int) -> NoReturn:
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, 120)
        misses = int(pipe.execute()[0])
    except redis.RedisError:
        log.warning("short-link rate counter unavailable")
        misses = 0
    if misses > limit:
        raise _too_many()
    abort(404)


@functools.lru_cache(maxsize=8)
def _hit_script(client: redis.Redis) -> Any:
    return client.register_script(_HIT)


_PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")


def _click(
    environ: dict[str, Any], link_id: int, token: str, ip: str, ip_hash: str
) -> dict[str, str]:
    headers = {
        name[5:].lower().replace("_", "-"): environ[name]
        for name in _PREFETCH_HEADERS
        if environ.get(name)
    }
    return {
        "l": str(link_id),
        "k": token,
        "t": f"{time.time():.3f}",
        "m": environ.get("REQUEST_METHOD", "GET"),
        "ua": _header(environ, "HTTP_USER_AGENT", USER_AGENT_MAX_LENGTH),
        "r": _header(environ, "HTTP_REFERER", REFERRER_MAX_LENGTH),
        "h": ip_hash,
        "p": ip_prefix(ip),
        "pf": "1" if headers and is_prefetch(headers) else "",
    }


def _header(environ: dict[str, Any], name: str, limit: int) -> str:
    # WSGI carries header values as latin-1 decoded bytes; browsers send UTF-8.
    raw = str(environ.get(name, ""))[: limit * 2]
    with contextlib.suppress(UnicodeEncodeError):
        raw = raw.encode("latin-1").decode("utf-8", "replace")
    return raw[:limit]


def _record(app: Flask, hit: Hit) -> None:
    """Cache the link's redirect data and append the click (one round trip); without
    Redis, store the click in SQL at once."""
    assert hit.target is not None
    client: redis.Redis = app.extensions["interactive.redis"]
    cache_seconds = int(app.config["SHORTLINK_CACHE_SECONDS"])
    try:
        pipe = client.pipeline(transaction=False)
        if cache_seconds:
            pipe.set(hit.cache_key, hit.target.dumps(), ex=cache_seconds)
        pipe.xadd(hit.stream, clicks.entry_fields(hit.click))
        pipe.execute()
    except redis.RedisError:
        log.warning("click stream unavailable; storing the click directly link=%s", hit.link_id)
        clicks.store_now(app, hit.click)
