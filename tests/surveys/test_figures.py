"""The results page's figures, built from results data (no database)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from interactive.surveys import figures
from interactive.surveys.results import QuestionResult, SurveyFunnel


def _bars(figure: dict[str, Any]) -> dict[str, Any]:
    trace: dict[str, Any] = figure["data"][0]
    assert trace["type"] == "bar"
    return trace


def test_choices_are_horizontal_bars_in_option_order(app: Flask) -> None:
    result = QuestionResult(
        "pizza", "Which?", "single_choice", counts={"Sucuklu": 3, "Margherita": 0}
    )
    with app.test_request_context():
        figure = figures.question_figure(result)
    assert figure is not None
    trace = _bars(figure)
    assert trace["orientation"] == "h"
    assert trace["y"] == ["Sucuklu", "Margherita"] and trace["x"] == [3, 0]


def test_yes_no_shows_yes_first_in_green(app: Flask) -> None:
    result = QuestionResult("again", "Again?", "yes_no", counts={"no": 2, "yes": 5})
    with app.test_request_context():
        trace = _bars(figures.question_figure(result) or {})
    assert trace["x"] == ["Yes", "No"] and trace["y"] == [5, 2]
    assert trace["marker"]["color"] == [figures.GREEN, figures.RED]


def test_a_rating_keeps_every_step_of_its_scale(app: Flask) -> None:
    counts = {"1": 0, "2": 0, "3": 1, "4": 0, "5": 4}
    result = QuestionResult("score", "Score?", "rating", counts=counts)
    with app.test_request_context():
        figure = figures.question_figure(result) or {}
    trace = _bars(figure)
    assert trace["x"] == ["1", "2", "3", "4", "5"] and trace["y"] == [0, 0, 1, 0, 4]
    assert figure["layout"]["yaxis"]["dtick"] == 1  # counts of people: whole gridlines


def test_numbers_are_sorted_by_value() -> None:
    result = QuestionResult("n", "How many?", "number", counts={"10": 1, "2": 3, "2.5": 1})
    trace = _bars(figures.question_figure(result) or {})
    assert trace["x"] == ["2", "2.5", "10"]


def test_nps_colours_the_groups_and_titles_the_score(app: Flask) -> None:
    counts = {str(n): 0 for n in range(11)} | {"3": 1, "8": 1, "9": 1, "10": 1}
    nps = {"promoters": 2, "passives": 1, "detractors": 1, "score": 25}
    result = QuestionResult("nps", "Recommend?", "nps", counts=counts, nps=nps)
    with app.test_request_context():
        figure = figures.question_figure(result) or {}
        rows = figures.nps_rows(result)
    trace = _bars(figure)
    assert trace["y"] == [0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1]
    assert trace["marker"]["color"][6] == figures.RED
    assert trace["marker"]["color"][7] == figures.GREY
    assert trace["marker"]["color"][9] == figures.GREEN
    assert figure["layout"]["title"]["text"] == "NPS +25"
    assert [(key, n) for key, _label, n in rows] == [
        ("promoters", 2),
        ("passives", 1),
        ("detractors", 1),
    ]


def test_free_text_and_unanswered_questions_draw_nothing() -> None:
    assert figures.question_figure(QuestionResult("why", "Why?", "free_text", texts=["x"])) is None
    assert figures.question_figure(QuestionResult("pizza", "?", "single_choice")) is None


def test_the_payload_has_the_funnel_and_readable_times(app: Flask) -> None:
    funnel = SurveyFunnel(started=5, completed=3, open=2)
    result = QuestionResult("why", "Why?", "free_text", sent=5, answered=3, median_response_s=130)
    with app.test_request_context():
        data = figures.payload(funnel, [result])
        assert figures.duration_text(None) == "—"
        assert figures.duration_text(45) == "45 s"
        assert figures.duration_text(3 * 3600) == "3.0 h"
    assert data["funnel"]["started"] == 5 and data["funnel"]["completed"] == 3
    assert data["questions"][0]["median_response"] == "2 min"
    assert data["questions"][0]["figure"] is None
