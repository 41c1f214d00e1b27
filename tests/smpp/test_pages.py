"""The gateway's admin page and the handset page."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask

from interactive.outbound.models import Message, Traffic
from interactive.smpp.gateway import key_for_status
from interactive.smpp.views import simulator_stream
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import login, post_form


def test_gateway_page_shows_each_connection_without_passwords(
    app: Flask, client: Any, make_user: UserFactory, redis_client: Any
) -> None:
    login(client, make_user(Role.ADMIN).email)
    page = client.get("/gateway").get_data(as_text=True)
    assert "simulator" in page
    assert "No gateway process is running" in page
    status = {
        "state": "bound",
        "since": "2026-11-23T10:00:00+00:00",
        "window_in_use": 3,
        "window_size": 10,
        "tps_measured": 42.0,
        "tps_configured": 100,
        "queue_depth": 7,
        "counters": {"submits": 120, "receipts": 100, "deliver_sm": 105},
        "last_error": None,
    }
    redis_client.set(key_for_status(app.config["REDIS_PREFIX"], "simulator"), json.dumps(status))
    page = client.get("/gateway").get_data(as_text=True)
    assert "bound" in page
    assert "3 / 10" in page
    assert app.config["SIMULATOR_PASSWORD"] not in page


def test_gateway_page_is_for_admins(client: Any, make_user: UserFactory) -> None:
    login(client, make_user(Role.MARKETER).email)
    assert client.get("/gateway").status_code == 403


def test_handset_sends_and_replies(
    app: Flask, client: Any, make_user: UserFactory, redis_client: Any, db_session: Any
) -> None:
    login(client, make_user(Role.MARKETER).email)
    page = client.get("/handset?number=905551112233").get_data(as_text=True)
    assert "Nothing yet." in page
    sent = post_form(
        client,
        "/handset?number=905551112233",
        form_name="send",
        **{"send-body": "Siparişiniz yola çıktı."},
    )
    assert sent.status_code == 302
    message = db_session.scalars(sa.select(Message)).one()
    assert message.destination == "905551112233"
    assert message.traffic == Traffic.INFORMATIONAL
    page = client.get("/handset?number=905551112233").get_data(as_text=True)
    assert "Siparişiniz yola çıktı." in page
    assert "UCS2" in page
    post_form(
        client,
        "/handset?number=905551112233",
        form_name="reply",
        **{"reply-short_code": "4664", "reply-text": "RET"},
    )
    (entry,) = redis_client.xrange(simulator_stream(app.config["REDIS_PREFIX"]))
    assert entry[1] == {b"source": b"905551112233", b"destination": b"4664", b"text": b"RET"}


def test_handset_text_is_escaped(
    app: Flask, client: Any, make_user: UserFactory, db_session: Any
) -> None:
    from interactive.keywords.models import InboundMessage

    db_session.add(
        InboundMessage(
            connection="simulator",
            source="905551112233",
            destination="4664",
            text="<script>alert(1)</script>",
            raw=b"",
            data_coding=0,
            dedup_key="x",
        )
    )
    db_session.commit()
    login(client, make_user(Role.ADMIN).email)
    page = client.get("/handset?number=905551112233").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
