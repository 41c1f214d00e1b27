"""The campaigns API: drafts, the lifecycle with its 409 problems, stats and recipients."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import suppression
from interactive.contacts.models import (
    Brand,
    Contact,
    ContactList,
    ListMember,
    SuppressionReason,
)
from interactive.db import utcnow
from interactive.outbound import fanout
from interactive.outbound.models import Campaign, CampaignState, Message
from interactive.outbound.service import outbound_stream
from interactive.web.models import Role
from tests.conftest import make_api_key

URL = "/api/v1/campaigns"


@pytest.fixture
def setup(ctx: Session) -> dict[str, Any]:
    brand = Brand(code="ACME", name="Acme")
    vip, other = ContactList(name="VIP"), ContactList(name="Other")
    contacts = [Contact(phone=f"+90532100000{n}", time_zone="Europe/Istanbul") for n in range(3)]
    ctx.add_all([brand, vip, other, *contacts])
    ctx.flush()
    ctx.add_all([ListMember(list_id=vip.id, contact_id=c.id) for c in contacts])
    ctx.commit()
    return {
        "brand_id": brand.id,
        "list_id": vip.id,
        "other_list_id": other.id,
        "contacts": [c.id for c in contacts],
        "phones": [c.phone for c in contacts],
        "marketer": make_api_key("campaigner", Role.MARKETER),
        "viewer": make_api_key("board", Role.VIEWER),
        "desk": make_api_key("front desk", Role.DESK),
    }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _draft(setup: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Spring sale",
        "traffic": "informational",
        "audience": {"lists": [setup["list_id"]]},
        "variants": [
            {"label": "A", "share": 50, "template": "Merhaba {{ first_name }}"},
            {"label": "B", "share": 50, "template": "Selam"},
        ],
    }
    body.update(changes)
    return body


def _create(client: Any, setup: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = client.post(URL, json=_draft(setup, **changes), headers=_auth(setup["marketer"]))
    assert response.status_code == 201, response.get_data(as_text=True)
    return dict(response.json)


def _problems(response: Any) -> list[str]:
    assert response.status_code == 409, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == "campaign_problems"
    return [d["message"] for d in error["details"]]


def _start(session: Session, client_redis: redis.Redis) -> None:
    """What the scheduler's campaign tick and the chunk jobs do, run in place."""
    now = utcnow() + timedelta(seconds=1)
    fanout.start_due_runs(session, now)
    for chunk_id in fanout.release_chunks(session, now):
        fanout.expand_chunk(session, chunk_id, fanout.Sending.from_app(client_redis, now))
    session.commit()


def test_roles(client: Any, setup: dict[str, Any]) -> None:
    desk, viewer, marketer = (_auth(setup[k]) for k in ("desk", "viewer", "marketer"))
    assert client.get(URL, headers=desk).status_code == 403
    assert client.post(URL, json=_draft(setup), headers=desk).status_code == 403
    assert client.post(URL, json=_draft(setup), headers=viewer).status_code == 403
    created = client.post(URL, json=_draft(setup), headers=marketer)
    assert created.status_code == 201
    campaign_id = created.json["id"]
    # A viewer reads campaigns and their funnel, but not who the recipients are.
    assert client.get(f"{URL}/{campaign_id}", headers=viewer).status_code == 200
    assert client.get(f"{URL}/{campaign_id}/stats", headers=viewer).status_code == 200
    assert client.get(f"{URL}/{campaign_id}/recipients", headers=viewer).status_code == 403
    assert client.post(f"{URL}/{campaign_id}/schedule", headers=viewer).status_code == 403
    assert client.get(f"{URL}/{campaign_id}", headers=desk).status_code == 403


def test_a_draft_with_defaults_and_times_in_utc(client: Any, setup: dict[str, Any]) -> None:
    body = _draft(
        setup,
        send_at="2031-04-01T10:00:00+03:00",
        window_start="09:00",
        window_end="20:30",
        utm={"utm_source": "crm"},
    )
    created = client.post(URL, json=body, headers=_auth(setup["marketer"]))
    assert created.status_code == 201, created.get_data(as_text=True)
    campaign = created.json
    assert campaign["state"] == "draft"
    assert campaign["route"] == "simulator"  # the first route
    assert campaign["sender"] == "4664"  # its first short code
    assert campaign["send_at"] == "2031-04-01T07:00:00Z"
    assert (campaign["window_start"], campaign["window_end"]) == ("09:00", "20:30")
    assert campaign["audience"] == {
        "lists": [setup["list_id"]],
        "segments": [],
        "exclude_lists": [],
        "exclude_segments": [],
    }
    assert [(v["label"], v["share"]) for v in campaign["variants"]] == [("A", 50), ("B", 50)]
    assert campaign["utm"] == {"utm_source": "crm"}
    assert campaign["created_by"] is not None
    fetched = client.get(f"{URL}/{campaign['id']}", headers=_auth(setup["viewer"]))
    assert fetched.json == campaign


def test_what_cannot_be_saved_is_a_409_with_every_problem(
    client: Any, setup: dict[str, Any]
) -> None:
    headers = _auth(setup["marketer"])
    body = _draft(
        setup,
        variants=[{"label": "A", "share": 60, "template": "x"}, {"label": "B", "template": "y"}],
    )
    assert _problems(client.post(URL, json=body, headers=headers)) == [
        "The variants' shares must add up to 100%."
    ]
    body = _draft(setup, brand_id=999_999, audience={"lists": [999_998], "segments": [999_997]})
    assert _problems(client.post(URL, json=body, headers=headers)) == [
        "No brand with id 999999.",
        "No list with id 999998.",
        "No segment with id 999997.",
    ]
    assert _problems(client.post(URL, json=_draft(setup, route="nowhere"), headers=headers)) == [
        "Unknown route: nowhere."
    ]
    assert _problems(client.post(URL, json=_draft(setup, sender="much too long"), headers=headers))
    assert client.get(URL, headers=headers).json["items"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"send_at": "2031-04-01T10:00:00"},  # no offset
        {"send_at": 1900000000},  # a number is not a time
        {"holdout_percent": "10"},
        {"holdout_percent": 51},
        {"track_links": 1},
        {"traffic": "transactional"},
        {"utm": {"source": "x"}},
        {"window_start": "25:00"},
        {"surprise": True},
    ],
)
def test_malformed_bodies_are_422(client: Any, setup: dict[str, Any], change: Any) -> None:
    response = client.post(URL, json=_draft(setup, **change), headers=_auth(setup["marketer"]))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "validation_failed"


def test_patch_changes_only_what_is_given_and_put_replaces(
    client: Any, setup: dict[str, Any]
) -> None:
    headers = _auth(setup["marketer"])
    campaign = _create(
        client, setup, brand_id=setup["brand_id"], holdout_percent=10, validity_minutes=60
    )
    url = f"{URL}/{campaign['id']}"
    patched = client.patch(url, json={"name": "Spring sale 2", "brand_id": None}, headers=headers)
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.json["name"] == "Spring sale 2"
    assert patched.json["brand_id"] is None
    assert patched.json["holdout_percent"] == 10
    assert patched.json["variants"] == campaign["variants"]  # same rows, same ids
    # null is refused for a field that cannot be empty
    assert client.patch(url, json={"name": None}, headers=headers).status_code == 422
    replaced = client.put(url, json=_draft(setup, name="Autumn"), headers=headers)
    assert replaced.status_code == 200
    assert replaced.json["name"] == "Autumn"
    assert replaced.json["holdout_percent"] == 0
    assert replaced.json["validity_minutes"] is None
    assert _problems(client.patch(url, json={"route": "nowhere"}, headers=headers)) == [
        "Unknown route: nowhere."
    ]
    assert client.patch(f"{URL}/2147483648", json={}, headers=headers).status_code == 404


def test_schedule_refuses_with_the_problems_then_goes(
    client: Any, setup: dict[str, Any], ctx: Session
) -> None:
    headers = _auth(setup["marketer"])
    campaign = _create(
        client,
        setup,
        traffic="commercial",
        audience={},
        variants=[{"label": "A", "template": "Hi {{ shoe_size }}"}],
    )
    url = f"{URL}/{campaign['id']}"
    problems = _problems(client.post(f"{url}/schedule", headers=headers))
    assert "A commercial campaign needs a brand (consent is per brand)." in problems
    assert "Choose at least one list or segment." in problems
    assert "Variant A: unknown variable “shoe_size”." in problems
    assert ctx.get(Campaign, campaign["id"]).state == CampaignState.DRAFT  # type: ignore[union-attr]

    fixed = client.put(url, json=_draft(setup), headers=headers)
    assert fixed.status_code == 200
    scheduled = client.post(f"{url}/schedule", headers=headers)
    assert scheduled.status_code == 200, scheduled.get_data(as_text=True)
    assert scheduled.json["state"] == "scheduled"
    assert scheduled.json["next_run_at"] is not None
    assert _problems(client.post(f"{url}/schedule", headers=headers)) == [
        "Only a draft can be scheduled."
    ]
    assert _problems(client.post(f"{url}/pause", headers=headers)) == [
        "Only a campaign that is sending can be paused."
    ]
    # Changing a scheduled campaign takes it back to draft.
    edited = client.patch(url, json={"name": "Spring sale, final"}, headers=headers)
    assert edited.json["state"] == "draft"
    assert client.post(f"{url}/schedule", headers=headers).status_code == 200
    unscheduled = client.post(f"{url}/unschedule", headers=headers)
    assert unscheduled.json["state"] == "draft"
    assert unscheduled.json["next_run_at"] is None
    assert client.post(f"{URL}/999999/schedule", headers=headers).status_code == 404


def test_pause_resume_cancel_mid_send(
    client: Any, setup: dict[str, Any], ctx: Session, redis_client: redis.Redis, app: Flask
) -> None:
    headers = _auth(setup["marketer"])
    campaign = _create(client, setup)
    url = f"{URL}/{campaign['id']}"
    assert client.post(f"{url}/schedule", headers=headers).status_code == 200
    _start(ctx, redis_client)
    assert client.get(url, headers=headers).json["state"] == "sending"
    stream = outbound_stream(app.config["REDIS_PREFIX"], "simulator")
    published = redis_client.xlen(stream)
    assert published == 3

    assert client.post(f"{url}/pause", headers=headers).json["state"] == "paused"
    assert _problems(client.patch(url, json={"name": "x"}, headers=headers)) == [
        "Only a draft or scheduled campaign can be changed."
    ]
    resumed = client.post(f"{url}/resume", headers=headers)
    assert resumed.json["state"] == "sending"
    # The queued messages are handed to the gateway again.
    assert redis_client.xlen(stream) == published + 3
    assert _problems(client.post(f"{url}/resume", headers=headers)) == [
        "Only a paused campaign can be resumed."
    ]

    cancelled = client.post(f"{url}/cancel", headers=headers)
    assert cancelled.json["state"] == "cancelled"
    states = ctx.scalars(sa.select(Message.state).where(Message.campaign_id == campaign["id"]))
    assert {s.value for s in states} == {"cancelled"}
    assert _problems(client.post(f"{url}/cancel", headers=headers)) == [
        "This campaign has already ended."
    ]


def test_stats_and_recipients(
    client: Any, setup: dict[str, Any], ctx: Session, redis_client: redis.Redis
) -> None:
    headers = _auth(setup["marketer"])
    suppression.add(ctx, [setup["phones"][2]], SuppressionReason.OPTED_OUT)
    ctx.commit()
    campaign = _create(client, setup)
    url = f"{URL}/{campaign['id']}"
    empty = client.get(f"{url}/stats", headers=headers).json
    assert empty["funnel"]["targeted"] == 0
    assert [v["label"] for v in empty["variants"]] == ["A", "B"]
    assert client.post(f"{url}/schedule", headers=headers).status_code == 200
    _start(ctx, redis_client)

    stats = client.get(f"{url}/stats", headers=headers).json
    assert stats["state"] == "sending"
    funnel = stats["funnel"]
    assert funnel["targeted"] == 3
    assert funnel["queued"] == 2
    assert funnel["skipped"] == 1
    assert funnel["reasons"] == {"opted_out": 1}
    assert funnel["revenue"] == "0"
    assert stats["progress"] == {"chunks": 1, "done": 1}
    by_label = {v["label"]: v["funnel"] for v in stats["variants"]}
    assert sum(f["targeted"] for f in by_label.values()) == 3
    assert sum(by_label[label]["queued"] for label in ("A", "B")) == 2

    first = client.get(f"{url}/recipients?limit=2", headers=headers).json
    assert len(first["items"]) == 2
    assert first["next_cursor"] == first["items"][1]["id"]
    rest = client.get(f"{url}/recipients?after={first['next_cursor']}", headers=headers).json
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    everyone = first["items"] + rest["items"]
    assert sorted(r["phone"] for r in everyone) == sorted(setup["phones"])
    skipped = client.get(f"{url}/recipients?reason=opted_out", headers=headers).json["items"]
    assert [(r["phone"], r["status"], r["message_id"]) for r in skipped] == [
        (setup["phones"][2], "skipped", None)
    ]
    queued = client.get(f"{url}/recipients?status=queued", headers=headers).json["items"]
    assert {r["message_state"] for r in queued} == {"queued"}
    assert all(r["message_id"] for r in queued)
    bad = client.get(f"{url}/recipients?status=lost", headers=headers)
    assert bad.status_code == 422
    assert client.get(f"{url}/recipients?page=2", headers=headers).status_code == 422


def test_list_filters_by_state_and_pages(client: Any, setup: dict[str, Any]) -> None:
    headers = _auth(setup["marketer"])
    ids = [_create(client, setup, name=f"C{n}")["id"] for n in range(3)]
    assert client.post(f"{URL}/{ids[1]}/schedule", headers=headers).status_code == 200
    scheduled = client.get(f"{URL}?state=scheduled", headers=headers).json
    assert [c["id"] for c in scheduled["items"]] == [ids[1]]
    seen: list[int] = []
    url = f"{URL}?limit=2"
    while True:
        page = client.get(url, headers=headers).json
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"{URL}?limit=2&after={page['next_cursor']}"
    assert seen == ids
    assert client.get(f"{URL}?state=lost", headers=headers).status_code == 422
    assert client.get(f"{URL}?limt=2", headers=headers).status_code == 422
    assert client.get(f"{URL}?limit=³", headers=headers).status_code == 422  # not 500
    assert client.get(f"{URL}/2147483648", headers=headers).status_code == 404
    assert client.get(f"{URL}/2147483648/stats", headers=headers).status_code == 404
