"""The redirect: 302 to the stored target with UTM and a click token, 404 / 410 /
fallback / 429, caching headers, HEAD, the click buffered in the stream."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from interactive.app import create_app
from interactive.db import db, utcnow
from interactive.redis_store import key
from interactive.shortlinks import clicks, codec, redirects, service
from interactive.shortlinks.models import Click, ClickKind, Link
from interactive.shortlinks.redirects import hash_ip
from tests.shortlinks.conftest import MakeLink

SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16}$")

Entries = Callable[[], list[dict[str, str]]]


def test_redirects_to_the_target_with_utm_and_a_click_token(
    client: Any, app: Flask, make_link: MakeLink, stream_entries: Entries
) -> None:
    link, code = make_link(
        "https://shop.example/p?a=1&utm_source=old&b=%C3%A7#top",
        utm={"utm_source": "sms", "utm_campaign": "spring sale"},
    )
    response = client.get(
        f"/{code}",
        headers={"User-Agent": SAFARI, "Referer": "https://mail.example/"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "private, no-store"
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "shop.example",
        "/p",
        "top",
    )
    # The existing query is kept as written; the link's UTM values win; the token is last.
    assert parts.query.startswith("a=1&b=%C3%A7&utm_source=sms&utm_campaign=spring+sale&ic=")
    query = dict(parse_qsl(parts.query))
    assert query["utm_source"] == "sms"
    assert TOKEN.match(query["ic"])

    (entry,) = stream_entries()
    assert entry["l"] == str(link.id)
    assert entry["k"] == query["ic"]
    assert entry["m"] == "GET"
    assert entry["ua"] == SAFARI
    assert entry["r"] == "https://mail.example/"
    assert entry["p"] == "203.0.113.0/24"
    assert "203.0.113.77" not in str(entry)
    assert entry["h"] == hash_ip("203.0.113.77", app.config["SHORTLINK_SECRET"])


def test_each_hit_gets_its_own_token(client: Any, make_link: MakeLink) -> None:
    _link, code = make_link()
    first = client.get(f"/{code}").headers["Location"]
    second = client.get(f"/{code}").headers["Location"]
    assert first != second
    assert first.startswith("https://shop.example/spring?ic=")


def test_head_is_redirected_and_recorded(
    client: Any, make_link: MakeLink, stream_entries: Entries
) -> None:
    _link, code = make_link()
    response = client.head(f"/{code}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://shop.example/spring?ic=")
    assert [e["m"] for e in stream_entries()] == ["HEAD"]


def test_prefetch_is_marked(client: Any, make_link: MakeLink, stream_entries: Entries) -> None:
    _link, code = make_link()
    client.get(f"/{code}", headers={"Sec-Purpose": "prefetch"})
    assert stream_entries()[0]["pf"] == "1"


def test_ipv6_addresses_are_cut_to_48_bits(
    client: Any, make_link: MakeLink, stream_entries: Entries
) -> None:
    _link, code = make_link()
    client.get(f"/{code}", environ_base={"REMOTE_ADDR": "2001:db8:abcd:12::1"})
    assert stream_entries()[0]["p"] == "2001:db8:abcd::/48"


def test_unknown_and_malformed_codes_are_404_and_not_recorded(
    client: Any, app: Flask, make_link: MakeLink, stream_entries: Entries
) -> None:
    link, code = make_link()
    secret = app.config["SHORTLINK_SECRET"]
    unknown = codec.encode(link.id + 1000, codec.SECRET_MIN, secret)
    altered = code[:-1] + ("Z" if code[-1] != "Z" else "Y")  # never the code itself
    for path in (f"/{unknown}", "/AAAAAAAAAAAA", f"/{altered}", f"/{code}0"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["Cache-Control"] == "private, no-store"
    assert stream_entries() == []


def test_a_code_with_another_secret_is_404(
    client: Any, app: Flask, make_link: MakeLink, stream_entries: Entries
) -> None:
    link, code = make_link()
    secret = app.config["SHORTLINK_SECRET"]
    other = link.secret + 1 if link.secret < codec.SECRET_MAX else link.secret - 1
    assert client.get(f"/{codec.encode(link.id, other, secret)}").status_code == 404
    assert client.get(f"/{code}").status_code == 302  # cached now
    assert client.get(f"/{codec.encode(link.id, other, secret)}").status_code == 404
    assert len(stream_entries()) == 1


def test_disabled_and_expired_links_are_gone(
    client: Any, ctx: Session, make_link: MakeLink, stream_entries: Entries
) -> None:
    disabled, disabled_code = make_link()
    assert client.get(f"/{disabled_code}").status_code == 302
    service.disable_link(ctx, disabled)
    ctx.commit()
    response = client.get(f"/{disabled_code}")
    assert response.status_code == 410
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "no longer available" in response.get_data(as_text=True)

    expired, expired_code = make_link(expires_at=utcnow() + timedelta(hours=1))
    ctx.execute(
        sa.update(Link).where(Link.id == expired.id).values(expires_at=utcnow() - timedelta(1))
    )
    ctx.commit()
    assert client.get(f"/{expired_code}").status_code == 410
    # Hits on real links are clicks, even when the link no longer leads anywhere.
    assert len(stream_entries()) == 3

    service.enable_link(ctx, disabled)
    ctx.commit()
    assert client.get(f"/{disabled_code}").status_code == 302


def test_gone_links_with_a_fallback_go_there(
    client: Any, ctx: Session, make_link: MakeLink
) -> None:
    link, code = make_link(fallback_url="https://shop.example/ended", utm={"utm_source": "sms"})
    service.disable_link(ctx, link)
    ctx.commit()
    response = client.get(f"/{code}")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example/ended"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_unknown_codes_are_rate_limited_per_address(
    client: Any, app: Flask, make_link: MakeLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SHORTLINK_NOT_FOUND_LIMIT", 3)
    _link, code = make_link()
    guesser = {"REMOTE_ADDR": "198.51.100.9"}
    statuses = [client.get(f"/Zz{n:08d}", environ_base=guesser).status_code for n in range(5)]
    assert statuses == [404, 404, 404, 429, 429]
    blocked = client.get(f"/{code}", environ_base=guesser)
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    # Everyone else is unaffected.
    assert client.get(f"/{code}", environ_base={"REMOTE_ADDR": "198.51.100.10"}).status_code == 302


def test_a_cached_link_is_served_without_sql(
    client: Any, ctx: Session, make_link: MakeLink
) -> None:
    _link, code = make_link()
    assert client.get(f"/{code}").status_code == 302  # fills the cache
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    connection = ctx.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        assert client.get(f"/{code}").status_code == 302
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert statements == []


def test_a_non_ascii_target_is_sent_as_ascii(client: Any, make_link: MakeLink) -> None:
    _link, code = make_link("https://çiçek.example/ürün?renk=kırmızı")
    location = client.get(f"/{code}").headers["Location"]
    host = "çiçek.example".encode("idna").decode()
    assert location.startswith(f"https://{host}/%C3%BCr%C3%BCn?renk=k%C4%B1rm%C4%B1z%C4%B1&ic=")


def test_without_redis_the_click_goes_straight_to_sql(
    client: Any,
    app: Flask,
    make_link: MakeLink,
    ctx: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link, code = make_link()

    class Down:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any, **kwargs: Any) -> Any:
                raise redis.ConnectionError("Redis is down")

            return fail

    monkeypatch.setitem(app.extensions, "interactive.redis", Down())
    response = client.get(f"/{code}", headers={"User-Agent": SAFARI})
    assert response.status_code == 302
    token = dict(parse_qsl(urlsplit(response.headers["Location"]).query))["ic"]
    click = ctx.scalars(sa.select(Click)).one()
    assert (click.link_id, click.token, click.kind) == (link.id, token, ClickKind.HUMAN)


def test_app_pages_are_never_taken_for_codes(app: Flask, client: Any) -> None:
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.arguments or "GET" not in (rule.methods or ()):
            continue
        for path in {rule.rule, rule.rule.rstrip("/") or "/"}:
            try:
                endpoint, _args = adapter.match(path, method="GET")
            except Exception:  # noqa: S112 (a redirect to the slash form is fine)
                continue
            assert endpoint != "shortlinks.follow", path
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/dashboard").status_code == 302  # to the sign-in page


def test_behind_a_proxy_the_forwarded_address_is_used(
    app_config: dict[str, Any], tmp_path: Path, live_db: None, app: Flask
) -> None:
    proxied = create_app({**app_config, "TRUSTED_PROXIES": 1}, instance_path=tmp_path)
    with proxied.app_context():
        session = db.session()
        link = service.create_link(session, "https://shop.example/p")
        session.commit()
        code = service.code_for(link)
    client = proxied.test_client()
    for _ in range(2):  # from SQL, then from the cache
        response = client.get(f"/{code}", headers={"X-Forwarded-For": "198.51.100.23"})
        assert response.status_code == 302
    with proxied.app_context():
        raw: Any = proxied.extensions["interactive.redis"].xrange(key(clicks.STREAM))
    prefixes = [json.loads(fields[b"c"])["p"] for _id, fields in raw]
    assert prefixes == ["198.51.100.0/24", "198.51.100.0/24"]
    proxied.extensions["interactive.engine"].dispose()


def test_a_link_is_read_with_one_statement(app: Flask, live_db: None) -> None:
    """Outside tests' shared connections (on PostgreSQL: an autocommit read, no BEGIN)."""
    engine: sa.Engine = app.extensions["interactive.engine"]
    with app.app_context():
        session = db.session()
        link = service.create_link(session, "https://shop.example/p?a=1", utm={"utm_term": "x"})
        session.commit()
        link_id, secret = link.id, link.secret
    with Session(bind=engine) as session:
        target = redirects.load_target(session, link_id)
        assert redirects.load_target(session, link_id + 1) is None
    assert target is not None
    assert (target.secret, target.prefix) == (secret, "https://shop.example/p?a=1&utm_term=x&")
