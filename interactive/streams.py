"""Redis streams for per-item traffic (outbound ids, inbound ids, clicks).

One RQ job per item would cost ~57 Redis commands and cap out near 56 jobs/s; a stream
entry costs one command to add and a fraction of one to read in a batch. Consumers read in
batches with a consumer group (at-least-once): the handler stores the batch and commits,
and only then are the entries acknowledged. Entries a dead consumer had claimed are
re-claimed after ``claim_idle_ms``; an entry that keeps failing goes to a dead-letter
stream instead of blocking the rest.

The building block is shared by the gateway, the router and the click and conversion drains.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy.orm import Session

from interactive.db import after_commit

log = logging.getLogger(__name__)

Fields = Mapping[str, str | int | float | bytes]


@dataclass(frozen=True)
class Entry:
    id: str
    fields: dict[str, str]
    deliveries: int = 1  # how many times this entry has been handed out


def publish(client: redis.Redis, stream: str, items: Sequence[Fields]) -> list[str]:
    """Append entries (one round trip for the whole batch); returns their ids."""
    if not items:
        return []
    pipe = client.pipeline(transaction=False)
    for item in items:
        pipe.xadd(stream, _fields(item))
    return [_text(entry_id) for entry_id in pipe.execute()]


def publish_after_commit(
    session: Session, client: redis.Redis, stream: str, items: Sequence[Fields]
) -> None:
    """Append entries once ``session`` commits: consumers never see ids of rows that are
    not durable. If Redis is down at that moment the rows stay, and the sweeper that owns
    this kind of row re-publishes them."""
    batch = list(items)
    after_commit(session, lambda: publish(client, stream, batch))


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _fields(item: Fields) -> Any:
    # redis-py annotates field names as bytes-or-str unions that a str-keyed dict does not
    # satisfy; the values are what XADD accepts.
    return dict(item)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _entries(response: Any) -> list[Entry]:
    """The entries of an XREADGROUP reply (None when it timed out)."""
    entries: list[Entry] = []
    for _stream, rows in response or []:
        entries += [Entry(_text(i), _decode(f)) for i, f in rows]
    return entries


@dataclass
class StreamConsumer:
    """A member of consumer group ``group`` reading ``stream`` in batches."""

    client: redis.Redis
    stream: str
    group: str
    name: str = field(default_factory=default_consumer_name)
    batch_size: int = 500
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    max_deliveries: int = 10
    _claim_cursor: str = field(default="0-0", init=False, repr=False)
    _claimed_at: float = field(default=float("-inf"), init=False, repr=False)

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.stream}:dead"

    def ensure_group(self) -> None:
        """Create the group (and the stream) if missing; new groups start at the beginning,
        so entries added before the first consumer started are not lost."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, block_ms: int | None = None) -> list[Entry]:
        """A batch: first entries of dead consumers idle for ``claim_idle_ms``, then new
        ones (blocking up to ``block_ms`` when there are none). A stream or group that is
        gone (Redis restarted empty, or flushed) is made again: its lost entries are the
        sweepers' to publish again from SQL."""
        try:
            return self._read(block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("stream %s lost its group %s; creating it again", self.stream, self.group)
            self.ensure_group()
            self._claim_cursor = "0-0"
            return self._read(block_ms)

    def _read(self, block_ms: int | None) -> list[Entry]:
        if self._claim_due():
            claimed = self._claim_stale()
            if claimed:
                return claimed
        response: Any = self.client.xreadgroup(**self._new_entries(block_ms))
        return _entries(response)

    def _new_entries(self, block_ms: int | None) -> dict[str, Any]:
        """XREADGROUP's arguments for entries never delivered."""
        return {
            "groupname": self.group,
            "consumername": self.name,
            "streams": {self.stream: ">"},
            "count": self.batch_size,
            "block": self.block_ms if block_ms is None else block_ms,
        }

    def ack_and_read(self, done: Sequence[Entry]) -> list[Entry]:
        """Acknowledge ``done`` and read the next batch (``read``), in one round trip when
        no look for stale entries is due: the XACK and the XREADGROUP go in one pipeline,
        so a consumer's loop costs one exchange with Redis per batch, not two."""
        if not done or self._claim_due():
            self.ack(done)
            return self.read()
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *[e.id for e in done])
        pipe.xreadgroup(**self._new_entries(None))
        try:
            _acked, response = pipe.execute()
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return self.read()  # makes the group again
        return _entries(response)

    def _claim_due(self) -> bool:
        """Whether to look for stale entries before this read. An entry becomes stale
        only after ``claim_idle_ms``, so looking every tenth of that finds it at most 10 %
        late, and spares a busy consumer a round trip on every read; a scan that has not
        reached the end of the pending list goes on at the next read."""
        if self._claim_cursor != "0-0":
            return True
        return time.monotonic() - self._claimed_at >= self.claim_idle_ms / 10_000

    def _claim_stale(self) -> list[Entry]:
        self._claimed_at = time.monotonic()
        start, rows, _deleted = self._xautoclaim()
        self._claim_cursor = _text(start)
        if not rows:
            return []
        ids = [_text(entry_id) for entry_id, _ in rows]
        deliveries = self._delivery_counts(ids)
        entries: list[Entry] = []
        dead: list[Entry] = []
        for entry_id, raw in rows:
            entry = Entry(_text(entry_id), _decode(raw or {}), deliveries.get(_text(entry_id), 1))
            (dead if entry.deliveries > self.max_deliveries else entries).append(entry)
        if dead:
            self._dead_letter(dead)
        log.info(
            "re-claimed stream entries stream=%s count=%s dead=%s",
            self.stream,
            len(entries),
            len(dead),
        )
        return entries

    def _xautoclaim(self) -> tuple[Any, list[Any], list[Any]]:
        result = self.client.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch_size,
        )
        start, rows = result[0], result[1]
        return start, [r for r in rows if r is not None], list(result[2:])

    def _delivery_counts(self, ids: list[str]) -> dict[str, int]:
        pending: Any = self.client.xpending_range(
            self.stream, self.group, min=ids[0], max=ids[-1], count=len(ids) * 2
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    def _dead_letter(self, entries: list[Entry]) -> None:
        pipe = self.client.pipeline()
        for entry in entries:
            fields: dict[str, str | int] = {
                **entry.fields,
                "_original_id": entry.id,
                "_deliveries": entry.deliveries,
            }
            pipe.xadd(self.dead_letter_stream, _fields(fields))
        pipe.xack(self.stream, self.group, *[e.id for e in entries])
        pipe.execute()
        log.error(
            "stream entries dead-lettered stream=%s count=%s first=%s",
            self.stream,
            len(entries),
            entries[0].id,
        )

    def ack(self, entries: Sequence[Entry] | Sequence[str]) -> int:
        ids = [e.id if isinstance(e, Entry) else e for e in entries]
        if not ids:
            return 0
        return int(self.client.xack(self.stream, self.group, *ids))

    def pending_count(self) -> int:
        summary = self.client.xpending(self.stream, self.group)
        return int(summary["pending"])

    def trim(self) -> None:
        """Drop entries every group has acknowledged (the stream would grow for ever)."""
        groups: Any = self.client.xinfo_groups(self.stream)
        floor: str | None = None
        for group in groups:
            name = _text(group["name"])
            summary: Any = self.client.xpending(self.stream, name)
            if summary["pending"]:
                candidate = _text(summary["min"])
            else:
                candidate = _next_id(_text(group["last-delivered-id"]))
            if floor is None or _id_key(candidate) < _id_key(floor):
                floor = candidate
        if floor is not None:
            self.client.xtrim(self.stream, minid=floor, approximate=False)

    def run(
        self,
        handle: Callable[[list[Entry]], None],
        stop: threading.Event,
        *,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """Loop until ``stop`` is set: read a batch, ``handle`` it (it stores and commits),
        acknowledge it with the next read (``ack_and_read``). A batch whose handler raises
        is left pending and re-claimed later."""
        self.ensure_group()
        done: list[Entry] = []  # handled, to acknowledge with the next read
        while not stop.is_set():
            try:
                entries = self.ack_and_read(done)
            except redis.ConnectionError:
                # Unacknowledged entries stay pending and come back as stale ones; their
                # handlers are idempotent.
                log.warning("stream read failed, retrying stream=%s", self.stream)
                done = []
                stop.wait(1.0)
                continue
            done = []
            if not entries:
                if on_idle is not None:
                    on_idle()
                continue
            try:
                handle(entries)
            except Exception:
                log.exception(
                    "stream batch failed; left pending stream=%s count=%s",
                    self.stream,
                    len(entries),
                )
                stop.wait(0.5)
                continue
            done = entries
        if done:
            try:
                self.ack(done)
            except redis.RedisError:
                log.warning("stream entries left pending at stop stream=%s", self.stream)


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: str) -> str:
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"


def drain(
    session: Session,
    consumer: StreamConsumer,
    store: Callable[[list[dict[str, str]]], int],
    max_batches: int,
) -> int:
    """Empty the stream into SQL a batch at a time (at most ``max_batches``): ``store``
    the entries' fields (flushing), commit, and only then acknowledge, so entries of a run
    that dies before its commit are read again; trim at the end. Returns what ``store``
    counted."""
    stored = 0
    for _ in range(max_batches):
        entries = consumer.read(block_ms=1)
        if not entries:
            break
        stored += store([entry.fields for entry in entries])
        session.commit()
        consumer.ack(entries)
    consumer.trim()
    return stored
