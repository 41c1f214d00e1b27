"""The survey pages through the test client: who may open them, the builder (save,
errors, going live, the chat preview), results, respondents, transcripts and the CSV
and XLSX exports."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from python_calamine import CalamineWorkbook
from sqlalchemy.orm import Session

from interactive.keywords.models import KeywordRule
from interactive.surveys import editing
from interactive.surveys.models import Survey, SurveyStatus, SurveyVersion
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import csrf_token, login, post_form
from tests.keywords.routing import route_text

QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "pizza",
        "type": "single_choice",
        "text": "Which pizza?",
        "options": [{"label": "Margherita", "synonyms": ["marg"]}, "Sucuklu"],
    },
    {"key": "score", "type": "nps", "text": "Would you recommend us (0-10)?"},
    {"key": "why", "type": "free_text", "text": "Why?"},
]
FORM = {
    "name": "Pizza poll",
    "short_code": "4664",
    "brand_id": "0",
    "traffic": "informational",
    "intro": "Hello!",
    "completion": "Thanks!",
    "keyword": "pizza",
    "when_open": "queue",
    "max_reprompts": "2",
    "after_reprompts": "skip",
    "remind_after_hours": "4",
    "question_expiry_hours": "24",
    "expiry_hours": "72",
}


def _form(**changes: Any) -> dict[str, Any]:
    return {**FORM, "questions": json.dumps(QUESTIONS), **changes}


def _submit(client: Any, url: str, button: str, data: dict[str, Any]) -> Any:
    """Post the builder as its ``button`` (Save / Save and go live) does."""
    token = csrf_token(client.get(url).text)
    return client.post(url, data={**data, "csrf_token": token, "action": button})


def _marketer(client: Any, make_user: UserFactory) -> None:
    user = make_user(Role.MARKETER)
    login(client, user.email)


def _live_survey(ctx: Session) -> Survey:
    survey = editing.save(
        ctx,
        editing.SurveyInput(
            name="Pizza poll",
            short_code="4664",
            questions=QUESTIONS,
            intro="Hello!",
            completion="Thanks!",
            keyword="PIZZA",
        ),
    )
    editing.go_live(ctx, survey)
    ctx.commit()
    return survey


def _answer(ctx: Session, phone: str, *texts: str) -> None:
    for text in texts:
        route_text(ctx, text, source=phone)
    ctx.commit()


def test_only_roles_with_surveys_open_the_pages(client: Any, make_user: UserFactory) -> None:
    for role in (Role.VIEWER, Role.DESK):
        user = make_user(role)
        login(client, user.email)
        assert client.get("/surveys/").status_code == 403
        assert client.get("/surveys/new").status_code == 403
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})
    _marketer(client, make_user)
    page = client.get("/surveys/")
    assert page.status_code == 200
    assert 'href="/surveys/"' in page.text  # in the navigation
    assert "No surveys yet." in page.text


def test_the_builder_saves_a_draft(client: Any, make_user: UserFactory, ctx: Session) -> None:
    _marketer(client, make_user)
    response = _submit(client, "/surveys/new", "save", _form())
    assert response.status_code == 302
    survey = ctx.scalar(sa.select(Survey))
    assert survey is not None and survey.status == SurveyStatus.DRAFT
    assert survey.keyword == "PIZZA" and survey.intro == "Hello!"
    version = ctx.get(SurveyVersion, survey.current_version_id)
    assert version is not None
    assert [q["key"] for q in version.questions] == ["pizza", "score", "why"]
    page = client.get(response.headers["Location"])
    assert "Survey saved." in page.text
    assert "Pizza poll" in client.get("/surveys/").text


def test_the_builder_shows_what_is_wrong(client: Any, make_user: UserFactory, ctx: Session) -> None:
    _marketer(client, make_user)
    bad_branch = [dict(QUESTIONS[0], branches=[{"when": "1", "goto": "nowhere"}]), QUESTIONS[1]]
    response = _submit(client, "/surveys/new", "save", _form(questions=json.dumps(bad_branch)))
    assert response.status_code == 200
    assert "Question 1: a branch goes to an unknown question." in response.text
    response = _submit(client, "/surveys/new", "save", _form(questions="[{oops"))
    assert "The questions are not valid JSON" in response.text
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0


def test_save_and_go_live_starts_the_keyword(
    client: Any, make_user: UserFactory, ctx: Session
) -> None:
    _marketer(client, make_user)
    response = _submit(client, "/surveys/new", "live", _form())
    assert response.status_code == 302
    survey = ctx.scalar(sa.select(Survey))
    assert survey is not None and survey.status == SurveyStatus.LIVE
    rule = ctx.scalar(sa.select(KeywordRule).where(KeywordRule.handler == "survey"))
    assert rule is not None and rule.active and rule.keyword == "PIZZA"
    page = client.get(f"/surveys/{survey.id}/edit")
    assert "makes a new version" in page.text
    close = post_form(client, f"/surveys/{survey.id}", action=f"/surveys/{survey.id}/close")
    assert close.status_code == 302
    ctx.expire_all()
    assert ctx.get(Survey, survey.id).status == SurveyStatus.CLOSED  # type: ignore[union-attr]


def test_the_preview_plays_the_form_as_a_chat(client: Any, make_user: UserFactory) -> None:
    _marketer(client, make_user)
    token = csrf_token(client.get("/surveys/new").text)
    data = {**_form(), "csrf_token": token, "replies": ["banana", "marg", "<b>9</b>"]}
    result = client.post("/surveys/preview", data=data).get_json()
    lines = [(line["who"], line["text"].split("\n")[0]) for line in result["lines"]]
    assert lines[0] == ("survey", "Hello!")
    assert ("customer", "banana") in lines
    assert lines[2][0] == "survey" and result["lines"][2]["note"]  # asked again, with why
    assert lines[4] == ("survey", "Would you recommend us (0-10)?")
    assert lines[-2] == ("customer", "<b>9</b>")
    bad = client.post("/surveys/preview", data={**data, "questions": "[]"})
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "A survey needs at least one question."
    assert client.post("/surveys/preview", data={**data, "csrf_token": "x"}).status_code == 400


def test_results_show_the_funnel_and_a_figure_per_question(
    client: Any, make_user: UserFactory, ctx: Session
) -> None:
    survey = _live_survey(ctx)
    _answer(ctx, "905321111111", "pizza", "2", "10", "Fast")
    _answer(ctx, "905322222222", "pizza", "marg", "3")
    _marketer(client, make_user)
    page = client.get(f"/surveys/{survey.id}")
    assert page.status_code == 200
    data = client.get(f"/surveys/{survey.id}/results.json").get_json()
    assert data["funnel"]["started"] == 2 and data["funnel"]["completed"] == 1
    pizza, score, why = data["questions"]
    assert pizza["answered"] == 2 and pizza["figure"]["data"][0]["x"] == [1, 1]
    assert score["nps"] == {"promoters": 1, "passives": 0, "detractors": 1, "score": 0}
    assert why["texts"] == ["Fast"] and why["figure"] is None
    listing = client.get("/surveys/").text
    assert "<code>PIZZA</code>" in listing


def test_results_filter_by_date(client: Any, make_user: UserFactory, ctx: Session) -> None:
    survey = _live_survey(ctx)
    _answer(ctx, "905321111111", "pizza", "2")
    _marketer(client, make_user)
    url = f"/surveys/{survey.id}/results.json"
    assert client.get(url + "?since=2000-01-01").get_json()["funnel"]["started"] == 1
    assert client.get(url + "?until=2000-01-01").get_json()["funnel"]["started"] == 0


def test_respondents_transcript_and_a_formula_safe_export(
    client: Any, make_user: UserFactory, ctx: Session
) -> None:
    survey = _live_survey(ctx)
    _answer(ctx, "905321111111", "pizza", "sucuklu", "9", '=HYPERLINK("http://x")')
    _marketer(client, make_user)
    page = client.get(f"/surveys/{survey.id}/respondents")
    assert "+905321111111" in page.text and "Completed" in page.text
    link = f"/surveys/{survey.id}/respondents/"
    session_id = page.text.split(link)[1].split('"')[0]
    transcript = client.get(link + session_id).text
    assert "Which pizza?" in transcript and "sucuklu" in transcript
    export = client.get(f"/surveys/{survey.id}/respondents.csv")
    assert export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][-3:] == ["pizza", "score", "why"]
    assert rows[1][1] == "+905321111111" and rows[1][4] == "Completed"
    assert rows[1][-3:] == ["Sucuklu", "9", '\'=HYPERLINK("http://x")']


def test_xlsx_export_has_typed_cells_and_no_formulas(
    client: Any, make_user: UserFactory, ctx: Session
) -> None:
    survey = _live_survey(ctx)
    _answer(ctx, "905321111111", "pizza", "sucuklu", "9", '=HYPERLINK("http://x")')
    _marketer(client, make_user)
    export = client.get(f"/surveys/{survey.id}/respondents.xlsx?since=2000-01-01")
    assert export.status_code == 200
    assert export.headers["Content-Disposition"].endswith(f"survey-{survey.id}-respondents.xlsx")
    data = export.get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no cell is a formula
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert rows[0][-3:] == ["pizza", "score", "why"]
    assert rows[1][1] == "+905321111111" and rows[1][4] == "Completed"
    assert rows[1][-3:] == ["Sucuklu", 9, '=HYPERLINK("http://x")']
    assert isinstance(rows[1][5], datetime)
