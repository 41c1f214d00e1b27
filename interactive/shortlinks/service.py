"""Short links: creating them (one by one, or thousands at a time for a campaign), their
codes and short URLs, enabling and disabling. Reading them for pages: ``stats``.

Services flush, never commit. Codes encode ``(id, secret)`` (see ``codec``); the redirect
data of a link may be cached in Redis (``redirects``), so every change that affects the
redirect drops the cached copy once committed.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.db import after_commit, allocate_ids, bulk_update, copy_rows, utcnow
from interactive.redis_store import get_redis, key
from interactive.shortlinks import codec
from interactive.shortlinks.models import URL_MAX_LENGTH, Link

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM_VALUE_MAX_LENGTH = 200
NAME_MAX_LENGTH = 120


class LinkError(Exception):
    """A refused link: ``code`` is stable, ``message`` is for people, ``field`` says where."""

    def __init__(self, code: str, message: object, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class NewLink:
    """One campaign recipient's link, for :func:`create_campaign_links`."""

    target_url: str
    campaign_id: int | None = None
    run_id: int | None = None
    variant_id: int | None = None
    contact_id: int | None = None
    message_id: int | None = None
    utm: Mapping[str, str] | None = None
    expires_at: datetime | None = None
    fallback_url: str | None = None


# --- validation ------------------------------------------------------------------------


def validate_url(url: str, field: str = "target_url") -> str:
    """The URL, trimmed, if it is an absolute http(s) URL a browser can follow; raises
    :class:`LinkError` naming ``field`` otherwise."""
    url = (url or "").strip()
    if not url:
        raise LinkError("url_missing", _l("Enter the address to link to."), field)
    if len(url) > URL_MAX_LENGTH:
        raise LinkError(
            "url_too_long",
            _l("The address is longer than %(max)d characters.", max=URL_MAX_LENGTH),
            field,
        )
    if any(_forbidden(ch) for ch in url):
        raise LinkError(
            "url_invalid", _l("The address contains spaces or characters not allowed."), field
        )
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        raise LinkError("url_invalid", _l("This is not a valid web address."), field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise LinkError(
            "url_scheme", _l("Only web addresses (http:// or https://) can be linked."), field
        )
    if not host or "@" in parts.netloc or port == 0 or not _valid_host(host):
        raise LinkError("url_invalid", _l("This is not a valid web address."), field)
    return url


def _forbidden(ch: str) -> bool:
    # Spaces and controls end a URL in a message; a backslash is read as "/" by browsers
    # but not by parsers; a lone surrogate cannot be encoded at all.
    code = ord(ch)
    return code < 0x21 or code == 0x7F or ch == "\\" or 0xD800 <= code < 0xE000


def _valid_host(host: str) -> bool:
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return False
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )


def validate_utm(utm: Mapping[str, str] | None) -> dict[str, str] | None:
    """Only the five utm_* keys, non-empty values of at most 200 characters."""
    if not utm:
        return None
    cleaned: dict[str, str] = {}
    for name, value in utm.items():
        if name not in UTM_KEYS:
            raise LinkError("utm_key", _l("Unknown UTM parameter: %(name)s.", name=name), "utm")
        text = str(value).strip()
        if len(text) > UTM_VALUE_MAX_LENGTH or "\x00" in text:
            raise LinkError(
                "utm_value",
                _l("UTM values are at most %(max)d characters.", max=UTM_VALUE_MAX_LENGTH),
                "utm",
            )
        if text:
            cleaned[name] = text
    return cleaned or None


def _validate_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise LinkError(
            "expiry_naive", _l("Give the expiry time with its time zone."), "expires_at"
        )
    return expires_at


# --- creating links --------------------------------------------------------------------


def create_link(
    session: Session,
    target_url: str,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
    fallback_url: str | None = None,
    created_by: int | None = None,
    utm: Mapping[str, str] | None = None,
) -> Link:
    """Create a standalone link (not tied to a campaign recipient); flushes, so the link
    has its id and :func:`code_for` works. Raises :class:`LinkError` on bad input. An
    ``expires_at`` already past makes a link that is expired from the start."""
    target = validate_url(target_url)
    fallback = validate_url(fallback_url, "fallback_url") if fallback_url else None
    label = (name or "").strip() or None
    if label is not None and len(label) > NAME_MAX_LENGTH:
        raise LinkError(
            "name_too_long",
            _l("The name is longer than %(max)d characters.", max=NAME_MAX_LENGTH),
            "name",
        )
    link = Link(
        secret=codec.new_secret(),
        target_url=target,
        fallback_url=fallback,
        utm=validate_utm(utm),
        expires_at=_validate_expiry(expires_at),
        name=label,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(link)
    session.flush()
    return link


def create_campaign_links(session: Session, items: Sequence[NewLink]) -> list[str]:
    """Insert one link per item in a single statement (flushes, does not commit) and
    return their codes in the order of ``items``. Targets and fallbacks are validated once
    per distinct URL; raises :class:`LinkError` for a bad one and inserts nothing then.

    Called by the campaign fan-out with a chunk of recipients (about 1,000 at a time); the
    links get their ``message_id`` later through :func:`set_message_ids`."""
    if not items:
        return []
    planned = plan_campaign_links(session, items)
    if planned is not None:
        planned.write(session)
        return planned.codes
    rows = _link_rows(items)
    table = cast(sa.Table, Link.__table__)
    statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids = list(session.execute(statement, rows).scalars())
    return codec.encode_many(
        [(link_id, row["secret"]) for link_id, row in zip(ids, rows, strict=True)], _secret()
    )


def _link_rows(items: Sequence[NewLink]) -> list[dict[str, Any]]:
    """Validated rows (without ids) for campaign links; LinkError for a bad URL or UTM."""
    checked: dict[str, str] = {}

    def url(value: str, field: str) -> str:
        if value not in checked:
            checked[value] = validate_url(value, field)
        return checked[value]

    utms: dict[tuple[tuple[str, str], ...], dict[str, str] | None] = {}
    now = utcnow()
    low, span = codec.SECRET_MIN, codec.SECRET_MAX - codec.SECRET_MIN + 1
    randbelow = secrets.randbelow
    rows: list[dict[str, Any]] = []
    for item in items:
        utm = None
        if item.utm:
            signature = tuple(sorted(item.utm.items()))
            if signature not in utms:
                utms[signature] = validate_utm(item.utm)
            utm = utms[signature]
        rows.append(
            {
                "secret": low + randbelow(span),
                "target_url": url(item.target_url, "target_url"),
                "fallback_url": url(item.fallback_url, "fallback_url")
                if item.fallback_url
                else None,
                "utm": utm,
                "expires_at": item.expires_at,
                "created_at": now,
                "campaign_id": item.campaign_id,
                "run_id": item.run_id,
                "variant_id": item.variant_id,
                "contact_id": item.contact_id,
                "message_id": item.message_id,
            }
        )
    return rows


def set_message_ids(session: Session, pairs: Iterable[tuple[str, int]]) -> int:
    """Attach messages to campaign links: ``pairs`` of (code from
    :func:`create_campaign_links`, message id). One bulk update; flushes. Idempotent.
    Returns the number of links named; raises :class:`LinkError` for a code that does not
    decode."""
    rows: list[dict[str, Any]] = []
    secret = _secret()
    for code, message_id in pairs:
        decoded = codec.decode(code, secret)
        if decoded is None:
            raise LinkError("code_invalid", _l("Unknown link code."), "code")
        rows.append({"id": decoded[0], "message_id": message_id})
    bulk_update(session, cast(sa.Table, Link.__table__), rows)
    return len(rows)


# --- codes and URLs ---------------------------------------------------------------------


def _secret() -> str:
    return str(current_app.config["SHORTLINK_SECRET"])


def code_for(link: Link) -> str:
    """The code of ``link`` (it must have an id: flushed)."""
    return codec.encode(link.id, link.secret, _secret())


def short_url(code: str) -> str:
    """The full short URL of ``code``: ``SHORTLINK_BASE_URL/<code>``; without that setting,
    the host of the current request, or ``http://<WEB_BIND>`` in development."""
    config = current_app.config
    base = str(config.get("SHORTLINK_BASE_URL") or "")
    if not base and has_request_context():
        base = request.host_url.rstrip("/")
    if not base:
        if config.get("ENV") == "production":
            raise LinkError(
                "base_url_missing",
                _l("Set INTERACTIVE_SHORTLINK_BASE_URL to make short links outside a request."),
            )
        base = f"http://{config['WEB_BIND']}"
    return f"{base}/{code}"


# --- changing links ---------------------------------------------------------------------


def _forget_cached(session: Session, link_id: int) -> None:
    cache_key = key("link", link_id)
    client = get_redis()
    after_commit(session, lambda: client.delete(cache_key))


def disable_link(session: Session, link: Link) -> None:
    """Stop redirecting ``link`` (410, or its fallback URL). Idempotent; flushes."""
    if link.disabled_at is None:
        link.disabled_at = utcnow()
        session.flush()
    _forget_cached(session, link.id)


def enable_link(session: Session, link: Link) -> None:
    """Redirect ``link`` again (unless it has expired). Idempotent; flushes."""
    if link.disabled_at is not None:
        link.disabled_at = None
        session.flush()
    _forget_cached(session, link.id)


def status(link: Link, now: datetime | None = None) -> str:
    """``active``, ``disabled`` or ``expired``."""
    if link.disabled_at is not None:
        return "disabled"
    if link.expires_at is not None and link.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


# --- reading ----------------------------------------------------------------------------


def get_link(session: Session, link_id: int) -> Link | None:
    if not 0 < link_id < 2**63:
        return None
    return session.get(Link, link_id)


@dataclass
class PlannedLinks:
    """Campaign links whose ids and codes exist before their rows: ``write()`` stores them
    (after the messages they name, which may be written only once the codes are known)."""

    codes: list[str]
    rows: list[dict[str, Any]]

    def write(self, session: Session) -> None:
        copy_rows(session, cast(sa.Table, Link.__table__), self.rows)


def plan_campaign_links(session: Session, items: Sequence[NewLink]) -> PlannedLinks | None:
    """On PostgreSQL: ids from the sequence and codes for ``items`` now, rows written by
    :meth:`PlannedLinks.write` (COPY) once their messages exist. None elsewhere: use
    :func:`create_campaign_links` and :func:`set_message_ids` there."""
    ids = allocate_ids(session, cast(sa.Table, Link.__table__), len(items))
    if ids is None:
        return None
    rows = _link_rows(items)
    for link_id, row in zip(ids, rows, strict=True):
        row["id"] = link_id
    codes = codec.encode_many([(row["id"], row["secret"]) for row in rows], _secret())
    return PlannedLinks(codes, rows)
