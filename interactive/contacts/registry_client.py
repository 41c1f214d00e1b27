"""HTTP client for the İYS registry API (standard library only, JSON in and out).

Endpoints (paths verified against the registry's developer pages and client libraries;
everything path-shaped is in the ``_path`` calls below):

* ``POST /oauth2/token`` with a JSON body ``{"username", "password", "grant_type":
  "password"}`` → ``access_token``, ``expires_in`` (seconds; 7200 in the docs).
* ``POST /sps/{iysCode}/brands/{brandCode}/consents`` one consent → ``transactionId``.
* ``POST …/consents/request`` a JSON array of consents → ``requestId`` (asynchronous).
* ``GET …/consents/request/{requestId}`` → one status per item (``success``, ``failure``
  with ``error{code,message}``, ``enqueue``); documented as a bare list, some clients see
  ``{"requestId", "subRequests": [...]}``, both are accepted.
* ``GET …/consents/changes?source=IYS&after=…&limit=…`` → ``{"after", "list"}``. The
  registry keeps 7 days of changes (minus the last hour), so sync at least daily; the daily
  change file is the fallback and :func:`~interactive.contacts.registry.parse_changes`
  reads it.

Not verified: the largest bulk request (one third-party gateway documents 10,000; we send
:data:`BULK_CHUNK` = 1,000 to stay well under it), the page size limit of the changes
endpoint (:data:`CHANGES_PAGE` = 500, a default one client library documents), and whether
``source=IYS`` is live (an older note on the developer pages said it still answered empty).

Errors: the registry answers ``{"errors": [{"code": "H…", "message": …, "location": […]}]}``;
:class:`RegistryError` carries the HTTP status, the first code and the messages.
5xx, 429, time-outs and connection failures raise :class:`RegistryUnavailable` (retry
later); a 401 on a call refreshes the token and retries that call once.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from interactive.contacts.registry import (
    RegistryChange,
    RegistryEvent,
    change_from_item,
    consent_to_iys,
)

logger = logging.getLogger(__name__)

BULK_CHUNK = 1000
CHANGES_PAGE = 500
#: Renew the token this long before the registry says it expires.
TOKEN_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class IysSettings:
    """Connection settings; the caller builds them from the app config."""

    base_url: str
    username: str
    password: str = field(repr=False)
    iys_code: str
    brand_code: str
    timeout: float = 30.0

    def __post_init__(self) -> None:
        scheme = urllib.parse.urlsplit(self.base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError("base_url must be an http(s) URL")


class RegistryError(Exception):
    """The registry refused a request. ``retryable`` is False: sending the same request
    again will fail the same way. ``request_ids`` lists bulk chunks already accepted."""

    retryable = False

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_ids: list[str] = []

    def __str__(self) -> str:
        parts = [str(self.status) if self.status else "", self.code or "", self.message]
        return " ".join(part for part in parts if part)


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or is overloaded; try again later."""

    retryable = True


@dataclass(frozen=True)
class BulkItemStatus:
    """The outcome of one item of a bulk request (``index`` is its position in the chunk)."""

    index: int
    status: str
    transaction_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class IysClient:
    """Talks to one brand's registry account. Thread-safe; the token is shared."""

    def __init__(
        self, settings: IysSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0

    # --- token ---------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token, fetched with the password grant and cached until
        shortly before it expires."""
        with self._lock:
            if self._token is None or self._clock() >= self._token_expires:
                self._token, self._token_expires = self._fetch_token()
            return self._token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        body = {
            "username": self.settings.username,
            "password": self.settings.password,
            "grant_type": "password",
        }
        answer = self._send("POST", "/oauth2/token", body, token=None)
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise RegistryError("token response has no access_token")
        lifetime = float(answer.get("expires_in") or 0)
        expires = self._clock() + max(lifetime - TOKEN_MARGIN_SECONDS, 0.0)
        return answer["access_token"], expires

    # --- consents ------------------------------------------------------------------

    def add_consent(self, event: RegistryEvent) -> str:
        """Register one consent; returns the registry's ``transactionId``."""
        self._check_brand([event])
        answer = self._call("POST", self._path("consents"), consent_to_iys(event))
        transaction_id = answer.get("transactionId") if isinstance(answer, dict) else None
        if not isinstance(transaction_id, str):
            raise RegistryError("add response has no transactionId")
        return transaction_id

    def add_bulk(self, events: Iterable[RegistryEvent]) -> list[str]:
        """Submit consents asynchronously in chunks of :data:`BULK_CHUNK`; returns one
        ``requestId`` per chunk, in order. Not atomic: if a chunk fails, the raised error's
        ``request_ids`` holds the chunks already accepted. Resubmitting an accepted item is
        harmless (the registry refuses a duplicate ONAY/RET per item)."""
        items = list(events)
        self._check_brand(items)
        request_ids: list[str] = []
        for start in range(0, len(items), BULK_CHUNK):
            chunk = [consent_to_iys(event) for event in items[start : start + BULK_CHUNK]]
            try:
                answer = self._call("POST", self._path("consents/request"), chunk)
            except RegistryError as exc:
                exc.request_ids = request_ids
                raise
            request_id = answer.get("requestId") if isinstance(answer, dict) else None
            if not isinstance(request_id, str):
                raise RegistryError("bulk response has no requestId")
            request_ids.append(request_id)
            # "iys_request_id": the log filter owns "request_id" (the web request's id).
            logger.info(
                "iys bulk submitted", extra={"iys_request_id": request_id, "items": len(chunk)}
            )
        return request_ids

    def bulk_status(self, request_id: str) -> list[BulkItemStatus]:
        """Per-item outcome of a bulk request, ordered by index."""
        quoted = urllib.parse.quote(request_id, safe="")
        answer = self._call("GET", self._path(f"consents/request/{quoted}"))
        items = answer.get("subRequests") if isinstance(answer, dict) else answer
        if not isinstance(items, list):
            raise RegistryError("bulk status response is not a list")
        statuses = [_item_status(n, item) for n, item in enumerate(items)]
        return sorted(statuses, key=lambda status: status.index)

    def pull_changes(
        self, after: str | None, *, source: str = "IYS", limit: int = CHANGES_PAGE
    ) -> tuple[list[RegistryChange], str | None]:
        """One page of consent changes after the cursor ``after`` (None: the oldest the
        registry still holds). Returns the changes and the cursor to store for the next
        call; call again until a page comes back empty. ``source="IYS"`` asks for changes
        recipients made in the registry, ``"HS"`` for our own registrations. Items the
        registry sends malformed are logged (by transaction id) and skipped."""
        query = {"source": source, "limit": str(limit)}
        if after:
            query["after"] = after
        path = self._path("consents/changes") + "?" + urllib.parse.urlencode(query)
        answer = self._call("GET", path)
        items = answer.get("list") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise RegistryError("changes response has no list")
        changes = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise ValueError("item is not an object")
                changes.append(change_from_item(item, self.settings.brand_code))
            except ValueError as exc:
                transaction = item.get("transactionId") if isinstance(item, dict) else None
                logger.error(
                    "iys change skipped",
                    extra={"index": index, "transaction_id": transaction, "reason": str(exc)},
                )
        cursor = answer.get("after")
        return changes, cursor if isinstance(cursor, str) and cursor else after

    # --- plumbing ------------------------------------------------------------------

    def _check_brand(self, events: Sequence[RegistryEvent]) -> None:
        wrong = {e.brand_code for e in events} - {self.settings.brand_code}
        if wrong:
            raise ValueError("events for another brand than this client's")

    def _path(self, tail: str) -> str:
        iys = urllib.parse.quote(self.settings.iys_code, safe="")
        brand = urllib.parse.quote(self.settings.brand_code, safe="")
        return f"/sps/{iys}/brands/{brand}/{tail}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        token = self.token()
        try:
            return self._send(method, path, body, token=token)
        except RegistryError as exc:
            if exc.status != 401:
                raise
        # The registry dropped our token early (restart, revocation): one fresh try.
        self._forget_token(token)
        return self._send(method, path, body, token=self.token())

    def _send(self, method: str, path: str, body: Any, *, token: str | None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self.settings.base_url.rstrip("/") + path
        # The scheme is checked in IysSettings: only http(s) reaches urlopen.
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _error_from(exc.code, _read_quietly(exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            # URLError (refused, DNS), socket time-outs and dropped connections alike.
            raise RegistryUnavailable(f"{method} {path}: {exc}") from exc
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise RegistryUnavailable(f"{method} {path}: response is not JSON") from None


def _read_quietly(response: urllib.error.HTTPError) -> bytes:
    try:
        return response.read()
    except (OSError, http.client.HTTPException):
        return b""


def _error_from(status: int, raw: bytes) -> RegistryError:
    code, message = _error_details(raw)
    kind = RegistryUnavailable if status >= 500 or status == 429 else RegistryError
    return kind(message or f"HTTP {status}", status=status, code=code)


def _error_details(raw: bytes) -> tuple[str | None, str | None]:
    """First error code and all messages of an İYS error body; also the OAuth2 form
    (``error`` / ``error_description``) and a bare ``{"message"}``."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    if errors:
        messages = [str(e["message"]) for e in errors if e.get("message")]
        code = errors[0].get("code")
        return (str(code) if code else None), "; ".join(messages) or None
    message = body.get("error_description") or body.get("message")
    code = body.get("code") or body.get("error")
    return (str(code) if code else None), (str(message) if message else None)


def _item_status(position: int, item: Any) -> BulkItemStatus:
    if not isinstance(item, dict):
        return BulkItemStatus(index=position, status="unknown")
    error = item.get("error")
    if not isinstance(error, dict):
        error = {}
    index = item.get("index")
    return BulkItemStatus(
        index=index if isinstance(index, int) else position,
        status=str(item.get("status") or "unknown"),
        transaction_id=item.get("transactionId"),
        error_code=error.get("code"),
        error_message=error.get("message"),
    )
