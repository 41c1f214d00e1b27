"""The surveys API: building, versions, the lifecycle with its 409s, starting sessions,
results after routed answers, respondents, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import interactive.surveys.conversation  # noqa: F401  (registers the survey conversation)
from interactive.contacts import suppression
from interactive.contacts.models import Contact, SuppressionReason
from interactive.outbound.models import Message
from interactive.surveys.models import SurveySession, SurveyVersion
from interactive.web.models import Role
from tests.conftest import make_api_key
from tests.keywords.routing import route_text

URL = "/api/v1/surveys"
PHONE = "+905321234567"
QUESTIONS: list[dict[str, Any]] = [
    {"key": "score", "type": "rating", "text": "Hizmetimizi 1-5 arası puanlar mısınız?"},
    {
        "key": "again",
        "type": "yes_no",
        "text": "Bizi tekrar tercih eder misiniz?",
        "branches": [{"when": True, "goto": "end"}],
    },
    {"key": "why", "type": "free_text", "text": "Neden?"},
]


@pytest.fixture
def keys(ctx: Session) -> dict[str, str]:
    return {
        "marketer": make_api_key("surveyor", Role.MARKETER),
        "desk": make_api_key("front desk", Role.DESK),
    }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Memnuniyet",
        "short_code": "4664",
        "keyword": "ANKET",
        "intro": "Merhaba!",
        "completion": "Teşekkürler!",
        "questions": QUESTIONS,
    }
    body.update(changes)
    return body


def _create(client: Any, keys: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post(URL, json=_body(**changes), headers=_auth(keys["marketer"]))
    assert response.status_code == 201, response.get_data(as_text=True)
    return dict(response.json)


def _live(client: Any, keys: dict[str, str], **changes: Any) -> dict[str, Any]:
    survey = _create(client, keys, **changes)
    response = client.post(f"{URL}/{survey['id']}/live", headers=_auth(keys["marketer"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.json)


def _conflict(response: Any, code: str) -> str:
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    return str(response.json["error"]["message"])


def test_create_list_get_a_draft(client: Any, keys: dict[str, str]) -> None:
    survey = _create(client, keys)
    assert survey["status"] == "draft" and survey["version"] == 1
    assert [q["key"] for q in survey["questions"]] == ["score", "again", "why"]
    assert survey["keyword"] == "ANKET" and survey["sessions"] == 0
    listed = client.get(URL, headers=_auth(keys["marketer"])).json
    assert [s["id"] for s in listed["items"]] == [survey["id"]]
    drafts = client.get(f"{URL}?status=live", headers=_auth(keys["marketer"])).json
    assert drafts["items"] == []
    one = client.get(f"{URL}/{survey['id']}", headers=_auth(keys["marketer"]))
    assert one.json == survey
    assert client.get(f"{URL}/999999", headers=_auth(keys["marketer"])).status_code == 404


def test_list_pages_by_id(client: Any, keys: dict[str, str]) -> None:
    ids = [_create(client, keys, name=f"S{n}")["id"] for n in range(3)]
    first = client.get(f"{URL}?limit=2", headers=_auth(keys["marketer"])).json
    assert [s["id"] for s in first["items"]] == ids[:2]
    second = client.get(
        f"{URL}?limit=2&after={first['next_cursor']}", headers=_auth(keys["marketer"])
    ).json
    assert [s["id"] for s in second["items"]] == ids[2:] and second["next_cursor"] is None


def test_questions_that_do_not_hold_together_are_refused(client: Any, keys: dict[str, str]) -> None:
    backwards = [
        {"key": "a", "type": "yes_no", "text": "A?"},
        {"key": "b", "type": "yes_no", "text": "B?", "branches": [{"when": True, "goto": "a"}]},
    ]
    response = client.post(URL, json=_body(questions=backwards), headers=_auth(keys["marketer"]))
    assert "only go forward" in _conflict(response, "survey_problems")
    one_option = [{"type": "single_choice", "text": "Renk?", "options": ["Mavi"]}]
    response = client.post(URL, json=_body(questions=one_option), headers=_auth(keys["marketer"]))
    assert "two options" in _conflict(response, "survey_problems")
    response = client.post(URL, json=_body(brand_id=4242), headers=_auth(keys["marketer"]))
    assert "4242" in _conflict(response, "survey_problems")
    response = client.post(URL, json=_body(questions=[]), headers=_auth(keys["marketer"]))
    assert response.status_code == 422
    assert client.get(URL, headers=_auth(keys["marketer"])).json["items"] == []


def test_put_on_a_live_survey_makes_a_new_version(
    client: Any, keys: dict[str, str], ctx: Session
) -> None:
    survey = _live(client, keys)
    changed = [*QUESTIONS[:2], {"key": "why", "type": "free_text", "text": "Neden? Anlatın."}]
    response = client.put(
        f"{URL}/{survey['id']}",
        json=_body(questions=changed, max_reprompts=1, when_open="refuse"),
        headers=_auth(keys["marketer"]),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["version"] == 2 and response.json["status"] == "live"
    assert response.json["questions"][2]["text"] == "Neden? Anlatın."
    assert response.json["max_reprompts"] == 1 and response.json["when_open"] == "refuse"
    versions = ctx.scalars(
        sa.select(SurveyVersion.number).where(SurveyVersion.survey_id == survey["id"])
    )
    assert sorted(versions) == [1, 2]
    # A question keeps its type once answers may exist.
    retyped = [{**QUESTIONS[0], "type": "nps"}, *QUESTIONS[1:]]
    response = client.put(
        f"{URL}/{survey['id']}", json=_body(questions=retyped), headers=_auth(keys["marketer"])
    )
    assert "another type" in _conflict(response, "survey_problems")


def test_lifecycle_and_delete(client: Any, keys: dict[str, str]) -> None:
    auth = _auth(keys["marketer"])
    draft = _create(client, keys)
    _conflict(client.post(f"{URL}/{draft['id']}/close", headers=auth), "survey_problems")
    live = client.post(f"{URL}/{draft['id']}/live", headers=auth)
    assert live.json["status"] == "live"
    _conflict(client.delete(f"{URL}/{draft['id']}", headers=auth), "survey_problems")
    closed = client.post(f"{URL}/{draft['id']}/close", headers=auth)
    assert closed.json["status"] == "closed"
    assert client.delete(f"{URL}/{draft['id']}", headers=auth).status_code == 204
    assert client.get(f"{URL}/{draft['id']}", headers=auth).status_code == 404
    other = _create(client, keys, name="Taslak")
    assert client.delete(f"{URL}/{other['id']}", headers=auth).status_code == 204
    assert client.post(f"{URL}/{other['id']}/live", headers=auth).status_code == 404


def test_a_closed_survey_with_sessions_is_kept(client: Any, keys: dict[str, str]) -> None:
    auth = _auth(keys["marketer"])
    survey = _live(client, keys)
    started = client.post(f"{URL}/{survey['id']}/sessions", json={"phone": PHONE}, headers=auth)
    assert started.status_code == 201
    client.post(f"{URL}/{survey['id']}/close", headers=auth)
    message = _conflict(client.delete(f"{URL}/{survey['id']}", headers=auth), "survey_problems")
    assert "sessions" in message


def test_start_a_session_for_a_number_or_a_contact(
    client: Any, keys: dict[str, str], ctx: Session
) -> None:
    auth = _auth(keys["marketer"])
    survey = _live(client, keys, when_open="refuse")
    started = client.post(
        f"{URL}/{survey['id']}/sessions", json={"phone": "0532 123 45 67"}, headers=auth
    )
    assert started.status_code == 201, started.get_data(as_text=True)
    assert started.json["phone"] == PHONE and started.json["trigger"] == "api"
    assert started.json["state"] == "open" and started.json["question_key"] == "score"
    # Another survey open for the number: this one refuses to queue.
    again = client.post(f"{URL}/{survey['id']}/sessions", json={"phone": PHONE}, headers=auth)
    _conflict(again, "refused")
    contact = Contact(phone="+905321112233", time_zone="Europe/Istanbul")
    ctx.add(contact)
    ctx.commit()
    by_contact = client.post(
        f"{URL}/{survey['id']}/sessions", json={"contact_id": contact.id}, headers=auth
    )
    assert by_contact.status_code == 201
    assert by_contact.json["contact_id"] == contact.id
    assert by_contact.json["phone"] == "+905321112233"
    sessions = ctx.scalars(sa.select(SurveySession.phone).order_by(SurveySession.id))
    assert list(sessions) == [PHONE, "+905321112233"]


def test_sessions_that_cannot_start(client: Any, keys: dict[str, str]) -> None:
    auth = _auth(keys["marketer"])
    draft = _create(client, keys)
    url = f"{URL}/{draft['id']}/sessions"
    _conflict(client.post(url, json={"phone": PHONE}, headers=auth), "not_live")
    client.post(f"{URL}/{draft['id']}/live", headers=auth)
    _conflict(client.post(url, json={"phone": "12"}, headers=auth), "invalid_number")
    _conflict(client.post(url, json={"contact_id": 987654}, headers=auth), "unknown_contact")
    both = client.post(url, json={"phone": PHONE, "contact_id": 1}, headers=auth)
    assert both.status_code == 422
    assert client.post(url, json={}, headers=auth).status_code == 422


def test_a_number_that_may_not_be_messaged_is_not_started(
    client: Any, keys: dict[str, str], ctx: Session
) -> None:
    contact = Contact(phone="+905329998877", time_zone="Europe/Istanbul")
    ctx.add(contact)
    ctx.flush()
    suppression.add(ctx, [contact.phone], SuppressionReason.MANUAL)
    ctx.commit()
    survey = _live(client, keys)
    response = client.post(
        f"{URL}/{survey['id']}/sessions",
        json={"contact_id": contact.id},
        headers=_auth(keys["marketer"]),
    )
    _conflict(response, "not_eligible")
    assert ctx.scalar(sa.select(sa.func.count()).select_from(SurveySession)) == 0


def _walk(ctx: Session, phone: str, replies: list[str]) -> None:
    for reply in replies:
        route_text(ctx, reply, source=phone.lstrip("+"))
        ctx.commit()


def test_results_and_respondents_after_routed_answers(
    client: Any, keys: dict[str, str], ctx: Session
) -> None:
    auth = _auth(keys["marketer"])
    survey = _live(client, keys)
    _walk(ctx, "+905321000001", ["ANKET", "5", "evet"])
    _walk(ctx, "+905321000002", ["ANKET", "6", "2", "hayır", "Geç geldi"])
    _walk(ctx, "+905321000003", ["ANKET", "4"])
    texts = list(
        ctx.scalars(
            sa.select(Message.body)
            .where(Message.destination == "+905321000002")
            .order_by(Message.id)
        )
    )
    # "6" is out of range: the rating is asked again before the next question.
    assert texts[0].startswith("Merhaba!") and "Hizmetimizi" in texts[1]
    assert texts[2].startswith("Bizi tekrar") and texts[-1] == "Teşekkürler!"

    results = client.get(f"{URL}/{survey['id']}/results", headers=auth)
    assert results.status_code == 200, results.get_data(as_text=True)
    funnel = results.json["funnel"]
    assert funnel["started"] == 3 and funnel["completed"] == 2 and funnel["open"] == 1
    by_key = {q["key"]: q for q in results.json["questions"]}
    assert by_key["score"]["answered"] == 3 and by_key["score"]["reprompted"] == 1
    assert by_key["score"]["counts"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert by_key["again"]["sent"] == 3 and by_key["again"]["answered"] == 2
    assert by_key["why"]["texts"] == ["Geç geldi"]

    later = client.get(f"{URL}/{survey['id']}/results?since=2999-01-01T00:00:00Z", headers=auth)
    assert later.json["funnel"]["started"] == 0
    none = client.get(f"{URL}/{survey['id']}/results?campaign_id=77", headers=auth)
    assert none.json["funnel"]["started"] == 0
    bad = client.get(f"{URL}/{survey['id']}/results?since=yesterday", headers=auth)
    assert bad.status_code == 422

    page = client.get(f"{URL}/{survey['id']}/respondents?limit=2", headers=auth).json
    assert [r["phone"] for r in page["items"]] == ["+905321000001", "+905321000002"]
    assert page["items"][0]["answers"] == {"score": 5, "again": True, "why": None}
    assert page["items"][1]["answers"] == {"score": 2, "again": False, "why": "Geç geldi"}
    assert page["items"][1]["state"] == "completed"
    rest = client.get(
        f"{URL}/{survey['id']}/respondents?limit=2&after={page['next_cursor']}", headers=auth
    ).json
    assert [r["phone"] for r in rest["items"]] == ["+905321000003"]
    assert rest["items"][0]["state"] == "open" and rest["next_cursor"] is None


def test_a_desk_key_may_not_touch_surveys(client: Any, keys: dict[str, str]) -> None:
    survey = _create(client, keys)
    desk = _auth(keys["desk"])
    assert client.get(URL, headers=desk).status_code == 403
    assert client.post(URL, json=_body(), headers=desk).status_code == 403
    assert client.get(f"{URL}/{survey['id']}/results", headers=desk).status_code == 403
    assert client.post(f"{URL}/{survey['id']}/live", headers=desk).status_code == 403
    assert client.delete(f"{URL}/{survey['id']}", headers=desk).status_code == 403
    assert client.get(URL).status_code == 401
