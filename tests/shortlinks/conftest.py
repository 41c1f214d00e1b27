"""Fixtures of the short-link tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy.orm import Session

from interactive.redis_store import key
from interactive.shortlinks import clicks, service
from interactive.shortlinks.models import Link

MakeLink = Callable[..., tuple[Link, str]]


@pytest.fixture
def make_link(ctx: Session) -> MakeLink:
    """Create and commit a standalone link; returns it with its code."""

    def make(target_url: str = "https://shop.example/spring", **options: Any) -> tuple[Link, str]:
        link = service.create_link(ctx, target_url, **options)
        ctx.commit()
        return link, service.code_for(link)

    return make


@pytest.fixture
def stream_entries(app: Flask, redis_client: redis.Redis) -> Callable[[], list[dict[str, str]]]:
    """The clicks in the stream, oldest first, decoded."""

    def read() -> list[dict[str, str]]:
        with app.app_context():
            name = key(clicks.STREAM)
        rows: Any = redis_client.xrange(name)
        return [json.loads(fields[b"c"]) for _id, fields in rows]

    return read
