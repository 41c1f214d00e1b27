"""Redirect data of a link: its target with the UTM parameters in place and the spot for
the click token, made once per link (and cached), so that a hit only joins strings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

# Characters left as they are when a target with non-ASCII text is made safe for the
# Location header ("%" keeps existing escapes).
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


@dataclass(frozen=True, slots=True)
class Target:
    """What the redirect needs of a link; ``prefix + "ic=" + token + suffix`` is the
    Location (``prefix`` ends in ``?`` or ``&``, ``suffix`` is the ``#fragment``)."""

    secret: int
    prefix: str
    suffix: str
    fallback: str | None
    expires: float | None  # POSIX time
    disabled: bool

    def dumps(self) -> str:
        """``<secret>|<JSON>``: the script compares the secret without decoding JSON."""
        rest = [self.prefix, self.suffix, self.fallback, self.expires, self.disabled]
        return f"{self.secret}|{json.dumps(rest, separators=(',', ':'))}"

    @classmethod
    def loads(cls, raw: bytes | str) -> Target:
        text = raw.decode() if isinstance(raw, bytes) else raw
        secret, _, rest = text.partition("|")
        prefix, suffix, fallback, expires, disabled = json.loads(rest)
        return cls(int(secret), prefix, suffix, fallback, expires, bool(disabled))


def ascii_url(url: str) -> str:
    """``url`` with an internationalised host in IDNA and other non-ASCII characters
    percent-encoded (a Location header is ASCII)."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = host.encode("idna").decode("ascii") + port
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_URL_SAFE),
            quote(parts.query, safe=_URL_SAFE),
            quote(parts.fragment, safe=_URL_SAFE),
        )
    )


def target_parts(target_url: str, utm: dict[str, str] | None) -> tuple[str, str]:
    """Split the target around where ``ic=<token>`` goes: the existing query is kept as it
    was written, except parameters named like one of ``utm`` (the link's values win) or
    ``ic`` (the token is ours); then ``utm`` is appended."""
    url = ascii_url(target_url)
    base, has_fragment, fragment = url.partition("#")
    path, _, query = base.partition("?")
    replaced = {*(utm or {}), "ic"}
    kept = [p for p in query.split("&") if p and unquote_plus(p.partition("=")[0]) not in replaced]
    if utm:
        kept.append(urlencode(list(utm.items())))
    prefix = f"{path}?{'&'.join(kept)}{'&' if kept else ''}"
    return prefix, f"#{fragment}" if has_fragment else ""


def target_of(
    secret: int,
    target_url: str,
    fallback_url: str | None,
    utm: dict[str, str] | None,
    expires_at: datetime | None,
    disabled_at: datetime | None,
) -> Target:
    prefix, suffix = target_parts(target_url, utm)
    return Target(
        secret=secret,
        prefix=prefix,
        suffix=suffix,
        fallback=ascii_url(fallback_url) if fallback_url else None,
        expires=expires_at.timestamp() if expires_at is not None else None,
        disabled=disabled_at is not None,
    )
