"""The inbox through the API: inbound messages with decisions, threads with their
conversation, replies (and their refusals), permissions and pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import suppression
from interactive.contacts.models import Contact, SuppressionReason
from interactive.db import utcnow
from interactive.keywords.models import InboundMessage
from interactive.outbound.models import Message, Traffic
from interactive.outbound.service import outbound_stream
from interactive.web.models import Role
from tests.conftest import make_api_key
from tests.keywords.routing import route_text


@pytest.fixture
def keys(ctx: Session) -> dict[str, str]:
    return {
        "desk": make_api_key("front desk", Role.DESK),
        "marketer": make_api_key("shop", Role.MARKETER),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def routed(ctx: Session, text: str, **options: Any) -> InboundMessage:
    result = route_text(ctx, text, **options)
    ctx.commit()
    message = ctx.get(InboundMessage, result.message_id)
    assert message is not None
    return message


def test_only_inbox_keys_read_the_inbox(client: Any, keys: dict[str, str]) -> None:
    for url in ("/api/v1/inbound", "/api/v1/threads"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers=auth(keys["marketer"])).status_code == 403
        assert client.get(url, headers=auth(keys["desk"])).status_code == 200


def test_inbound_messages_with_decisions_filters_and_pages(
    client: Any, ctx: Session, keys: dict[str, str]
) -> None:
    first = routed(ctx, "<b>Masa</b> var mı?")
    routed(ctx, "STOP", source="905331112233")
    third = routed(ctx, "Yarın 4 kişi", source="905441234567")
    headers = auth(keys["desk"])
    page = client.get("/api/v1/inbound?limit=2", headers=headers).get_json()
    assert [m["text"] for m in page["items"]] == ["<b>Masa</b> var mı?", "STOP"]
    assert page["items"][0]["decision"] == "inbox"
    assert page["items"][0]["reason"] == "no keyword matched"
    assert page["items"][0]["phone"] == "+905321234567"
    assert page["items"][0]["short_code"] == "4664"
    assert page["items"][0]["thread_id"] == first.thread_id
    after = page["next_cursor"]
    page = client.get(f"/api/v1/inbound?limit=2&after={after}", headers=headers).get_json()
    assert [m["id"] for m in page["items"]] == [third.id] and page["next_cursor"] is None
    page = client.get("/api/v1/inbound?decision=opt_out", headers=headers).get_json()
    assert [m["text"] for m in page["items"]] == ["STOP"]
    assert "opt-out STOP" in page["items"][0]["reason"]
    page = client.get(f"/api/v1/inbound?thread_id={third.thread_id}", headers=headers).get_json()
    assert [m["id"] for m in page["items"]] == [third.id]
    one = client.get(f"/api/v1/inbound/{first.id}", headers=headers).get_json()
    assert one["id"] == first.id and one["routed_at"] is not None
    assert client.get("/api/v1/inbound/999999", headers=headers).status_code == 404
    for bad in ("decision=maybe", "limit=0", "after=-1", "limt=5"):
        assert client.get(f"/api/v1/inbound?{bad}", headers=headers).status_code == 422


def test_threads_newest_first_with_filters_and_cursor(
    client: Any, ctx: Session, keys: dict[str, str]
) -> None:
    ctx.add(Contact(phone="+905441234567", first_name="Ayşe", last_name="Kaya"))
    ctx.commit()
    routed(ctx, "Merhaba", received_at=utcnow() - timedelta(minutes=3))
    routed(ctx, "STOP", source="905331112233", received_at=utcnow() - timedelta(minutes=2))
    routed(ctx, "Yarın 4 kişi", source="905441234567", received_at=utcnow() - timedelta(minutes=1))
    headers = auth(keys["desk"])
    page = client.get("/api/v1/threads?limit=2", headers=headers).get_json()
    assert [t["phone"] for t in page["items"]] == ["+905441234567", "+905331112233"]
    assert page["items"][0]["contact_name"] == "Ayşe Kaya"
    assert page["items"][0]["unread"] == 1 and page["items"][0]["last_decision"] == "inbox"
    cursor = page["next_cursor"]
    page = client.get(f"/api/v1/threads?limit=2&cursor={cursor}", headers=headers).get_json()
    assert [t["phone"] for t in page["items"]] == ["+905321234567"]
    assert page["next_cursor"] is None
    page = client.get("/api/v1/threads?unmatched=true", headers=headers).get_json()
    assert [t["phone"] for t in page["items"]] == ["+905441234567", "+905321234567"]
    page = client.get("/api/v1/threads?q=ayşe", headers=headers).get_json()
    assert [t["phone"] for t in page["items"]] == ["+905441234567"]
    page = client.get("/api/v1/threads?q=0533", headers=headers).get_json()
    assert [t["phone"] for t in page["items"]] == ["+905331112233"]
    page = client.get("/api/v1/threads?state=closed", headers=headers).get_json()
    assert page["items"] == []
    page = client.get("/api/v1/threads?cursor=999999999999999999.1", headers=headers).get_json()
    assert len(page["items"]) == 3  # a position past the newest: from the start
    for bad in ("cursor=abc", "cursor=", "unmatched=1", "q=" + "x" * 101):
        response = client.get(f"/api/v1/threads?{bad}", headers=headers)
        assert response.status_code == 422, bad


def test_a_thread_with_its_conversation_and_a_reply(
    client: Any, ctx: Session, keys: dict[str, str], app: Flask, redis_client: Any
) -> None:
    message = routed(ctx, "Bu akşam 2 kişilik yer var mı?")
    headers = auth(keys["desk"])
    url = f"/api/v1/threads/{message.thread_id}"
    thread = client.get(url, headers=headers).get_json()
    assert thread["reply"] == {
        "allowed": True,
        "traffic": "transactional",
        "refusal": None,
        "window_ends_at": thread["reply"]["window_ends_at"],
    }
    assert [(m["direction"], m["text"], m["decision"]) for m in thread["messages"]] == [
        ("in", "Bu akşam 2 kişilik yer var mı?", "inbox")
    ]
    answer = client.post(f"{url}/replies", headers=headers, json={"text": "Var, 20:00 uygun mu?"})
    assert answer.status_code == 201
    created = answer.get_json()
    assert created["to"] == "+905321234567" and created["traffic"] == "transactional"
    assert created["state"] == "queued" and created["parts"] == 1
    assert created["thread_id"] == message.thread_id
    stream = outbound_stream(str(app.config["REDIS_PREFIX"]), "sim")
    assert [int(f[b"id"]) for _i, f in redis_client.xrange(stream)] == [created["id"]]
    thread = client.get(url, headers=headers).get_json()
    assert thread["messages"][-1] == {
        "direction": "out",
        "id": created["id"],
        "at": thread["messages"][-1]["at"],
        "text": "Var, 20:00 uygun mu?",
        "decision": None,
        "reason": None,
        "state": "queued",
        "traffic": "transactional",
    }
    assert thread["last_text"] == "Var, 20:00 uygun mu?"
    assert client.get("/api/v1/threads/99999999", headers=headers).status_code == 404
    missing = client.post("/api/v1/threads/99999999/replies", headers=headers, json={"text": "x"})
    assert missing.status_code == 404


def test_replies_that_may_not_go_are_refused_with_their_reason(
    client: Any, ctx: Session, keys: dict[str, str]
) -> None:
    late = routed(ctx, "STOP", received_at=utcnow() - timedelta(hours=26))
    headers = auth(keys["desk"])
    url = f"/api/v1/threads/{late.thread_id}/replies"
    answer = client.post(url, headers=headers, json={"text": "Merhaba"})
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "opted_out"
    assert (
        client.post(url, headers=headers, json={"text": "   "}).get_json()["error"]["code"]
        == "empty"
    )
    blocked = routed(ctx, "Merhaba", source="905331112233")
    suppression.add(ctx, ["+905331112233"], SuppressionReason.MANUAL)
    ctx.commit()
    answer = client.post(
        f"/api/v1/threads/{blocked.thread_id}/replies", headers=headers, json={"text": "Selam"}
    )
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "blocked"
    detail = client.get(f"/api/v1/threads/{blocked.thread_id}", headers=headers).get_json()
    assert detail["reply"]["allowed"] is False and detail["reply"]["refusal"] == "blocked"
    for body in ({}, {"text": ""}, {"text": 5}, {"text": "x" * 1601}, {"text": "a", "x": 1}):
        assert client.post(url, headers=headers, json=body).status_code == 422
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Message)) == 1  # the STOP reply
    assert ctx.scalar(sa.select(Message.traffic)) == Traffic.TRANSACTIONAL
