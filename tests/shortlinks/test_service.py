"""Creating links: validation with clear errors, campaign links in bulk (codes in order),
message ids attached afterwards, and short URLs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.db import utcnow
from interactive.outbound.models import Message, Traffic
from interactive.shortlinks import codec, service
from interactive.shortlinks.models import Link
from interactive.shortlinks.service import LinkError, NewLink


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "url_missing"),
        ("   ", "url_missing"),
        ("javascript:alert(1)", "url_scheme"),
        ("ftp://files.example/a", "url_scheme"),
        ("data:text/html,hi", "url_scheme"),
        ("//shop.example/a", "url_scheme"),
        ("shop.example/a", "url_scheme"),
        ("https://", "url_invalid"),
        ("https://shop example/", "url_invalid"),
        ("https://user:pw@shop.example/", "url_invalid"),
        ("https://shop.example:99999/", "url_invalid"),
        ("https://shop.example\\@evil.example/", "url_invalid"),
        ("https://shop.example/\x00", "url_invalid"),
        ("https://-_-/", "url_invalid"),
        ("https://shop.example/" + "a" * 2048, "url_too_long"),
    ],
)
def test_bad_targets_are_refused_with_a_reason(ctx: Session, url: str, code: str) -> None:
    with pytest.raises(LinkError) as caught:
        service.create_link(ctx, url)
    assert caught.value.code == code
    assert caught.value.field == "target_url"
    assert str(caught.value.message)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example",
        "HTTP://shop.example/a?b=c#d",
        "https://çiçek.example/ürün",
        "http://[2001:db8::1]:8080/x",
        "https://127.0.0.1/",
    ],
)
def test_good_targets_are_kept_as_given(ctx: Session, url: str) -> None:
    link = service.create_link(ctx, f"  {url} ")
    assert link.target_url == url


def test_other_fields_are_checked(ctx: Session) -> None:
    with pytest.raises(LinkError, match="expiry_naive"):
        service.create_link(ctx, "https://a.example", expires_at=datetime(2099, 1, 1))  # noqa: DTZ001
    with pytest.raises(LinkError) as caught:
        service.create_link(ctx, "https://a.example", fallback_url="mailto:x@example.com")
    assert caught.value.field == "fallback_url"
    with pytest.raises(LinkError, match="utm_key"):
        service.create_link(ctx, "https://a.example", utm={"source": "sms"})
    with pytest.raises(LinkError, match="name_too_long"):
        service.create_link(ctx, "https://a.example", name="n" * 121)
    link = service.create_link(
        ctx, "https://a.example", name=" Menu ", utm={"utm_source": " sms ", "utm_term": ""}
    )
    assert (link.name, link.utm) == ("Menu", {"utm_source": "sms"})


def test_campaign_links_are_created_in_bulk_with_codes_in_order(app: Flask, ctx: Session) -> None:
    items = [
        NewLink(
            "https://shop.example/spring",
            campaign_id=3,
            run_id=4,
            variant_id=5 + n % 2,
            contact_id=1000 + n,
            utm={"utm_source": "sms", "utm_campaign": "spring"},
        )
        for n in range(1500)
    ]
    codes = service.create_campaign_links(ctx, items)
    assert len(codes) == len(set(codes)) == 1500
    secret = app.config["SHORTLINK_SECRET"]
    ids = [codec.decode(code, secret) for code in codes]
    links = {link.id: link for link in ctx.scalars(sa.select(Link).where(Link.campaign_id == 3))}
    for item, decoded in zip(items, ids, strict=True):
        assert decoded is not None
        link = links[decoded[0]]
        assert link.secret == decoded[1]
        assert (link.contact_id, link.variant_id) == (item.contact_id, item.variant_id)
        assert link.utm == {"utm_source": "sms", "utm_campaign": "spring"}
        assert link.name is None
    assert service.create_campaign_links(ctx, []) == []


def test_one_bad_target_inserts_nothing(ctx: Session) -> None:
    items = [NewLink("https://ok.example", campaign_id=9), NewLink("ftp://x", campaign_id=9)]
    with pytest.raises(LinkError, match="url_scheme"):
        service.create_campaign_links(ctx, items)
    assert ctx.scalar(sa.select(sa.func.count()).where(Link.campaign_id == 9)) == 0


def test_message_ids_are_attached_afterwards(app: Flask, ctx: Session) -> None:
    codes = service.create_campaign_links(
        ctx, [NewLink("https://shop.example", campaign_id=1, contact_id=n) for n in range(3)]
    )
    messages = [
        Message(
            connection="c1",
            source="ACME",
            destination=f"+90532000000{n}",
            body="hi",
            encoding="gsm",
            parts_count=1,
            traffic=Traffic.COMMERCIAL,
        )
        for n in range(3)
    ]
    ctx.add_all(messages)
    ctx.flush()
    pairs = list(zip(codes, [m.id for m in messages], strict=True))
    assert service.set_message_ids(ctx, pairs) == 3
    assert service.set_message_ids(ctx, pairs) == 3  # again: same result
    ctx.expire_all()
    secret = app.config["SHORTLINK_SECRET"]
    for code, message_id in pairs:
        decoded = codec.decode(code, secret)
        assert decoded is not None
        assert ctx.get(Link, decoded[0]).message_id == message_id  # type: ignore[union-attr]
    with pytest.raises(LinkError, match="code_invalid"):
        service.set_message_ids(ctx, [("nonsense", 1)])


def test_short_urls(app: Flask, ctx: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "SHORTLINK_BASE_URL", "https://k.example")
    assert service.short_url("AbCdEfGhIj") == "https://k.example/AbCdEfGhIj"
    monkeypatch.setitem(app.config, "SHORTLINK_BASE_URL", "")
    with app.test_request_context("/", base_url="https://app.example"):
        assert service.short_url("AbCdEfGhIj") == "https://app.example/AbCdEfGhIj"
    assert service.short_url("AbCdEfGhIj") == f"http://{app.config['WEB_BIND']}/AbCdEfGhIj"
    monkeypatch.setitem(app.config, "ENV", "production")
    with pytest.raises(LinkError, match="base_url_missing"):
        service.short_url("AbCdEfGhIj")


def test_status(ctx: Session) -> None:
    link: Any = service.create_link(ctx, "https://a.example")
    assert service.status(link) == "active"
    link.expires_at = utcnow() - timedelta(seconds=1)
    assert service.status(link) == "expired"
    service.disable_link(ctx, link)
    assert service.status(link) == "disabled"
