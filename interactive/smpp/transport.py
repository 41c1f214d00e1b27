"""The byte level of one SMPP connection: TCP or TLS, PDU framing, serialised I/O.

Writes from any thread are serialised by a lock. OpenSSL objects must not be used by two
threads at once (CPython issues 76714 and 151508) and an SMPP session reads on one thread
while others write, so with TLS the reads take the same lock: the reader waits for
readability *outside* it, then reads without blocking. Plain TCP reads take no lock, so a
write stuck on a full TCP window never stops the reader from draining the SMSC's side.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

from smpplib import consts

from interactive.smpp import pdu
from interactive.smpp.config import SmppConnection

RECV_SIZE = 65536


class PduFramer:
    """Cuts a byte stream into PDUs, however it was sliced by TCP.

    ``command_length`` is checked as soon as its four octets are in, before anything is
    buffered for the body: below 16 or above ``max_length`` raises
    :class:`~interactive.smpp.pdu.CommandLengthError` (framing is lost; drop the connection).
    """

    def __init__(self, max_length: int = pdu.MAX_COMMAND_LENGTH) -> None:
        self.max_length = max_length
        self._buffer = bytearray()

    @property
    def partial(self) -> bool:
        """True when a PDU has started but not ended."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add bytes; yield each complete PDU (raising only once the earlier ones are out)."""
        self._buffer += data
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:4], "big")
            if length < pdu.HEADER_LENGTH or length > self.max_length:
                self._buffer.clear()
                raise pdu.CommandLengthError(
                    f"invalid command_length {length}", consts.SMPP_ESME_RINVCMDLEN
                )
            if len(self._buffer) < length:
                return
            raw = bytes(self._buffer[:length])
            del self._buffer[:length]
            yield raw


def _tls_context(connection: SmppConnection) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=connection.tls_ca_file)
    if not connection.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Transport:
    """One open TCP/TLS connection.

    Threading: ``send`` from any thread; ``receive`` from one reader thread; ``shutdown`` from
    any thread (it wakes the reader and fails pending writes); ``close`` once the reader has
    finished. A write blocked longer than ``send_timeout`` raises (the peer stopped reading).
    """

    def __init__(self, sock: socket.socket, send_timeout: float) -> None:
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._send_timeout = send_timeout
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        sock.settimeout(send_timeout)

    @classmethod
    def connect(cls, connection: SmppConnection, timeout: float) -> Transport:
        """Open the TCP connection (and the TLS handshake). Raises OSError."""
        sock = socket.create_connection((connection.host, connection.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if connection.tls:
                sock = _tls_context(connection).wrap_socket(sock, server_hostname=connection.host)
        except BaseException:
            sock.close()
            raise
        return cls(sock, timeout)

    @property
    def peer(self) -> str:
        try:
            host, port = self._sock.getpeername()[:2]
        except OSError:
            return "?"
        return f"{host}:{port}"

    def send(self, data: bytes) -> None:
        """Write all of ``data``. Raises OSError (including a timeout)."""
        with self._lock:
            self._sock.sendall(data)

    def receive(self, wait: float) -> bytes | None:
        """Bytes that arrived, ``b""`` at end of stream, None when nothing came within
        ``wait`` seconds. Raises OSError."""
        if not self._pending() and not self._selector.select(wait):
            return None
        if not self._tls:
            try:
                return self._sock.recv(RECV_SIZE)  # readable: returns at once
            except (BlockingIOError, InterruptedError, TimeoutError):
                return None
        with self._lock:
            self._sock.settimeout(0.0)
            try:
                return self._sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return None  # e.g. half a TLS record so far
            finally:
                self._sock.settimeout(self._send_timeout)

    def _pending(self) -> bool:
        """Decrypted TLS bytes that select() cannot see."""
        return isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0

    def shutdown(self) -> None:
        """Shut both directions at the socket level (not the TLS object, which another thread
        may be using): the reader sees end of stream, writers get an error."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def close(self) -> None:
        self.shutdown()
        with contextlib.suppress(OSError, KeyError, ValueError):
            self._selector.unregister(self._sock)
        self._selector.close()
        self._sock.close()


class Link:
    """One connection of a session as the protocol sees it (a responder's channel).

    ``dead`` and ``reason`` are set under the session's lock; ``send`` reports a write error
    through ``on_error`` and returns False, so callers never handle socket exceptions.
    """

    def __init__(
        self,
        transport: Transport,
        label: str,
        now: float,
        on_error: Callable[[Link, str], None],
    ) -> None:
        self.transport = transport
        self.label = label
        self.dead = False
        self.reason = ""
        self.bound = False
        self.last_rx = now
        self.last_enquire = now
        self._on_error = on_error

    def send(self, data: bytes) -> bool:
        if self.dead:
            return False
        try:
            self.transport.send(data)
        except OSError as exc:
            self._on_error(self, f"write failed: {exc}")
            return False
        return True
