"""Customers' SMS replies read as survey answers: a table of real-looking replies per
question type, the question definition's JSON, re-prompt hints, and a property test that no
text makes ``parse`` raise or return a value of the wrong shape."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interactive.surveys.parsing import (
    Option,
    Question,
    QuestionType,
    Reason,
    Value,
    parse,
    prompt_options,
)

TODAY = date(2026, 11, 23)  # a Monday

QUESTIONS: dict[str, Question] = {
    "food": Question(
        QuestionType.SINGLE_CHOICE,
        (Option("Pizza", ("pide",)), Option("Döner"), Option("Sucuklu tost")),
    ),
    "lettered": Question(
        QuestionType.SINGLE_CHOICE,
        (Option("Pizza"), Option("Pide"), Option("Lahmacun")),
        lettered=True,
    ),
    "ten": Question(QuestionType.SINGLE_CHOICE, tuple(Option(f"Şube {n}") for n in range(1, 11))),
    "toppings": Question(
        QuestionType.MULTIPLE_CHOICE,
        (Option("Pizza"), Option("Pide"), Option("Lahmacun"), Option("Kebap")),
        lettered=True,
        max_choices=3,
    ),
    "yes_no": Question(QuestionType.YES_NO),
    "rating": Question(QuestionType.RATING),
    "nps": Question(QuestionType.NPS),
    "number": Question(QuestionType.NUMBER),
    "guests": Question(QuestionType.NUMBER, min=1, max=20, integer_only=True),
    "date": Question(QuestionType.DATE),
    "comment": Question(QuestionType.FREE_TEXT),
}

# (question, reply, expected value or the reason it is invalid)
CASES: list[tuple[str, str, Value | Reason]] = [
    # single choice: numbers in the ways people write them
    ("food", "2", 2),
    ("food", "2.", 2),
    ("food", "2)", 2),
    ("food", "#2", 2),
    ("food", "seçenek 2", 2),
    ("food", "2 numara lütfen", 2),
    ("food", "3'ü seçiyorum", 3),
    ("food", "ikinci", 2),
    ("ten", "10 numara", 10),
    ("food", "10 numara", Reason.OUT_OF_RANGE),
    ("food", "0", Reason.OUT_OF_RANGE),
    # ... by name, synonym, inflection, typo, inside a short sentence
    ("food", "Pizza", 1),
    ("food", "pizza lütfen", 1),
    ("food", "PİDE", 1),
    ("food", "pizzza", 1),
    ("food", "pizzayı alayım", 1),
    ("food", "DONER", 2),
    ("food", "döner olsun teşekkürler", 2),
    ("food", "sucuklu", 3),
    ("food", "bir pizza", 1),
    ("food", "pizza ve döner", Reason.AMBIGUOUS),
    ("food", "2 pizza", Reason.AMBIGUOUS),
    ("food", "saat 3 gibi gelirim", Reason.UNKNOWN_OPTION),
    ("food", "hamburger", Reason.UNKNOWN_OPTION),
    ("food", "b", Reason.UNKNOWN_OPTION),  # not lettered
    ("food", "😋", Reason.EMOJI_ONLY),
    ("food", "?!", Reason.EMPTY),
    # ... by letter
    ("lettered", "c", 3),
    ("lettered", "B)", 2),
    ("lettered", "a.", 1),
    ("lettered", "lahmacun", 3),
    ("lettered", "d", Reason.UNKNOWN_OPTION),
    ("lettered", "a ve c", Reason.AMBIGUOUS),
    # multiple choice
    ("toppings", "1,3", [1, 3]),
    ("toppings", "1 3", [1, 3]),
    ("toppings", "1 ve 3", [1, 3]),
    ("toppings", "1 and 3", [1, 3]),
    ("toppings", "a ve c", [1, 3]),
    ("toppings", "a, c", [1, 3]),
    ("toppings", "pizza ve pide", [1, 2]),
    ("toppings", "3, 1, 1", [1, 3]),
    ("toppings", "Kebap + pide lütfen", [2, 4]),
    ("toppings", "1 ve 5", Reason.OUT_OF_RANGE),
    ("toppings", "hepsi", Reason.TOO_MANY),
    ("toppings", "1 2 3 4", Reason.TOO_MANY),
    ("toppings", "hiçbiri", Reason.TOO_FEW),
    ("toppings", "bilmem", Reason.UNKNOWN_OPTION),
    # yes / no
    ("yes_no", "evet", True),
    ("yes_no", "Evet.", True),
    ("yes_no", "EVT", True),
    ("yes_no", "E", True),
    ("yes_no", "evet tabii", True),
    ("yes_no", "evettt 😊", True),
    ("yes_no", "Evet ama fiyatlar pahalı", True),
    ("yes_no", "olur", True),
    ("yes_no", "tamam", True),
    ("yes_no", "YES", True),
    ("yes_no", "kesinlikle", True),
    ("yes_no", "sorun yok", True),
    ("yes_no", "👍", True),
    ("yes_no", "hayır", False),
    ("yes_no", "hayir", False),
    ("yes_no", "HAYIR!", False),
    ("yes_no", "hayr", False),
    ("yes_no", "H", False),
    ("yes_no", "yok", False),
    ("yes_no", "no thanks", False),
    ("yes_no", "tabii ki hayır", False),
    ("yes_no", "İSTEMEM", False),
    ("yes_no", "👎", False),
    ("yes_no", "evet hayır", Reason.AMBIGUOUS),
    ("yes_no", "👍👎", Reason.AMBIGUOUS),
    ("yes_no", "belki", Reason.UNKNOWN_OPTION),
    ("yes_no", "1", Reason.UNKNOWN_OPTION),
    ("yes_no", "🙂", Reason.EMOJI_ONLY),
    # rating 1-5
    ("rating", "5", 5),
    ("rating", "5/5", 5),
    ("rating", "beş", 5),
    ("rating", "BEŞ!", 5),
    ("rating", "dört", 4),
    ("rating", "four", 4),
    ("rating", "4 yıldız", 4),
    ("rating", "5 puan", 5),
    ("rating", "⭐⭐⭐⭐", 4),
    ("rating", "⭐️⭐️⭐️ idare eder", 3),
    ("rating", "5️⃣", 5),
    ("rating", "3 ⭐", 3),
    ("rating", "5 üzerinden 4", 4),
    ("rating", "10 üzerinden 8", Reason.OUT_OF_RANGE),
    ("rating", "4/10", Reason.WRONG_SCALE),
    ("rating", "6", Reason.OUT_OF_RANGE),
    ("rating", "⭐⭐⭐⭐⭐⭐", Reason.OUT_OF_RANGE),
    ("rating", "4,5", Reason.NOT_AN_INTEGER),
    ("rating", "4 veya 5", Reason.AMBIGUOUS),
    ("rating", "harika", Reason.NOT_A_NUMBER),
    ("rating", "fine", Reason.NOT_A_NUMBER),  # not a typo of "five"
    ("rating", "😍😍", Reason.EMOJI_ONLY),
    # NPS 0-10
    ("nps", "10", 10),
    ("nps", "0", 0),
    ("nps", "on", 10),
    ("nps", "sıfır", 0),
    ("nps", "9/10", 9),
    ("nps", "10 numara", 10),
    ("nps", "8 out of 10", 8),
    ("nps", "11", Reason.OUT_OF_RANGE),
    ("nps", "⭐⭐⭐", Reason.EMOJI_ONLY),
    # numbers
    ("number", "3", 3),
    ("number", "3,5", 3.5),
    ("number", "3.5", 3.5),
    ("number", "1.000", 1000),
    ("number", "1.000.000", 1000000),
    ("number", "1.234,5", 1234.5),
    ("number", "1,234.5", 1234.5),
    ("number", "0.500", 0.5),
    ("number", "-5 derece", -5),
    ("number", "yaklaşık 20 kişi", 20),
    ("number", "beş", 5),
    ("number", "5-6", Reason.AMBIGUOUS),
    ("number", "12:30", Reason.NOT_A_NUMBER),
    ("number", "bilmiyorum", Reason.NOT_A_NUMBER),
    ("number", "9" * 40, Reason.OUT_OF_RANGE),
    ("guests", "3,0", 3),
    ("guests", "4 kişiyiz", 4),
    ("guests", "2,5", Reason.NOT_AN_INTEGER),
    ("guests", "25", Reason.OUT_OF_RANGE),
    ("guests", "0", Reason.OUT_OF_RANGE),
    # dates, today being Monday 23 November 2026
    ("date", "25.12.2026", "2026-12-25"),
    ("date", "25/12", "2026-12-25"),
    ("date", "25 Aralık", "2026-12-25"),
    ("date", "25 aralıkta", "2026-12-25"),
    ("date", "December 25th", "2026-12-25"),
    ("date", "2027-01-15", "2027-01-15"),
    ("date", "1/1/27", "2027-01-01"),
    ("date", "22.11", "2027-11-22"),  # already past this year
    ("date", "yarın", "2026-11-24"),
    ("date", "bugün", "2026-11-23"),
    ("date", "öbür gün", "2026-11-25"),
    ("date", "pazartesi", "2026-11-30"),
    ("date", "cuma günü", "2026-11-27"),
    ("date", "Cumartesi", "2026-11-28"),
    ("date", "haftaya salı", "2026-12-01"),
    ("date", "31.02", Reason.NOT_A_DATE),
    ("date", "yarın ya da cuma", Reason.AMBIGUOUS),
    ("date", "bilmiyorum", Reason.NOT_A_DATE),
    ("date", "📅", Reason.EMOJI_ONLY),
    # free text
    ("comment", "  Garson çok geç geldi.  ", "Garson çok geç geldi."),
    ("comment", "👍", "👍"),
    ("comment", "   ", Reason.EMPTY),
    ("comment", "", Reason.EMPTY),
]


@pytest.mark.parametrize(
    ("name", "reply", "expected"),
    [pytest.param(*case, id=f"{case[0]}:{case[1]}") for case in CASES],
)
def test_a_reply_is_read_as_a_customer_meant_it(
    name: str, reply: str, expected: Value | Reason
) -> None:
    answer = parse(QUESTIONS[name], reply, today=TODAY)
    if isinstance(expected, Reason):
        assert (answer.valid, answer.reason, answer.value) == (False, expected, None)
    else:
        assert answer.valid and answer.reason is None and answer.how
        assert answer.value == expected
        assert type(answer.value) is type(expected)  # True is not 1, 3.0 is not 3
        assert json.loads(json.dumps(answer.value)) == expected


def test_the_table_covers_every_type_in_both_languages() -> None:
    kinds = {QUESTIONS[name].type for name, _, _ in CASES}
    assert kinds == set(QuestionType)
    assert len(CASES) >= 80


def test_how_a_reply_was_understood_is_reported() -> None:
    food = QUESTIONS["food"]
    hows = {
        reply: parse(food, reply, today=TODAY).how
        for reply in ("2", "pizza", "pide", "pizzza", "sucuklu", "ikinci")
    }
    assert hows == {
        "2": "number",
        "pizza": "label",
        "pide": "synonym",
        "pizzza": "typo",
        "sucuklu": "word",
        "ikinci": "ordinal",
    }
    assert parse(QUESTIONS["rating"], "⭐⭐", today=TODAY).how == "stars"
    assert parse(QUESTIONS["date"], "yarın", today=TODAY).how == "relative"


def test_relative_dates_count_from_the_given_day() -> None:
    date_question = QUESTIONS["date"]
    friday = date(2026, 11, 27)
    assert parse(date_question, "yarın", today=friday).value == "2026-11-28"
    assert parse(date_question, "cuma", today=friday).value == "2026-12-04"  # next week's
    assert parse(date_question, "25/12", today=date(2026, 12, 26)).value == "2027-12-25"


# --- The definition --------------------------------------------------------------------------


def test_a_question_is_built_from_stored_json_and_back() -> None:
    stored = {
        "key": "food",
        "text": "Ne yemek istersiniz?",
        "type": "multiple_choice",
        "options": ["Pizza", {"label": "Pide", "synonyms": ["karadeniz pidesi"]}],
        "max_choices": 2,
        "branches": [{"when": 1, "goto": "end"}],
    }
    question = Question.from_json(stored)
    assert question.type == QuestionType.MULTIPLE_CHOICE
    assert question.options == (Option("Pizza"), Option("Pide", ("karadeniz pidesi",)))
    assert question.max_choices == 2
    assert Question.from_json(question.to_json()) == question
    assert json.loads(json.dumps(question.to_json())) == question.to_json()


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        ({"text": "?"}, KeyError),
        ({"type": "essay"}, ValueError),
        ({"type": "single_choice", "options": []}, ValueError),
        ({"type": "single_choice", "options": ["Pizza", "PİZZA"]}, ValueError),
        ({"type": "single_choice", "options": "Pizza, Pide"}, TypeError),
        ({"type": "single_choice", "options": [{"synonyms": ["x"]}, "Pide"]}, TypeError),
        ({"type": "rating", "min": 5, "max": 1}, ValueError),
        ({"type": "rating", "max": 4.5}, ValueError),
        ({"type": "nps", "max": 5}, ValueError),
        ({"type": "number", "integer_only": "yes"}, TypeError),
        ({"type": "multiple_choice", "options": ["a", "b"], "max_choices": 0}, ValueError),
    ],
)
def test_a_broken_definition_is_refused(stored: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Question.from_json(stored)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("food", ["1) Pizza", "2) Döner", "3) Sucuklu tost"]),
        ("lettered", ["a) Pizza", "b) Pide", "c) Lahmacun"]),
        ("yes_no", ["EVET / HAYIR"]),
        ("rating", ["1-5"]),
        ("nps", ["0-10"]),
        ("guests", ["1-20"]),
        ("number", []),
        ("date", []),
        ("comment", []),
    ],
)
def test_a_reprompt_lists_the_valid_answers(name: str, hint: list[str]) -> None:
    assert prompt_options(QUESTIONS[name]) == hint


def test_a_rating_on_another_scale_hints_and_reads_that_scale() -> None:
    question = Question.from_json({"type": "rating", "min": 1, "max": 10})
    assert prompt_options(question) == ["1-10"]
    assert parse(question, "10 üzerinden 8", today=TODAY).value == 8
    assert parse(question, "5/5", today=TODAY).reason == Reason.WRONG_SCALE


# --- Nothing a customer types breaks it --------------------------------------------------------

FRAGMENTS = [
    "0",
    "1",
    "2",
    "3",
    "9",
    "10",
    "11",
    "99",
    "1.000",
    "3,5",
    "-2",
    "5/5",
    "9/10",
    "25.12",
    "31.02",
    "2026-12-25",
    "12:30",
    "#2",
    "2)",
    "a",
    "b",
    "c",
    "evet",
    "hayır",
    "EVT",
    "yok",
    "tamam",
    "beş",
    "on",
    "sıfır",
    "pizza",
    "pide",
    "döner",
    "hepsi",
    "hiçbiri",
    "üzerinden",
    "yarın",
    "bugün",
    "pazartesi",
    "haftaya",
    "Aralık",
    "numara",
    "seçenek",
    "ve",
    "and",
    "out",
    "of",
    "İ",
    "ı",
    "ş",
    "⭐",
    "👍",
    "👎",
    "5️⃣",
    "🔟",
    "\u200d",
    "\ufe0f",
    "٣",
    "፩",
    "²",
]
REPLIES = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=8).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(QUESTIONS)), reply=REPLIES, today=st.dates())
def test_no_reply_breaks_the_parser(name: str, reply: str, today: date) -> None:
    question = QUESTIONS[name]
    answer = parse(question, reply, today=today)
    assert answer.reason != Reason.UNREADABLE  # the safety net was not needed
    assert answer.valid == (answer.reason is None)
    if not answer.valid:
        assert answer.value is None
        return
    json.dumps(answer.value)
    value = answer.value
    if question.type in (QuestionType.RATING, QuestionType.NPS):
        low, high = question.bounds()
        assert isinstance(value, int) and low <= value <= high
    elif question.type == QuestionType.SINGLE_CHOICE:
        assert isinstance(value, int) and 1 <= value <= len(question.options)
    elif question.type == QuestionType.MULTIPLE_CHOICE:
        assert isinstance(value, list) and value == sorted(set(value))
        assert all(1 <= n <= len(question.options) for n in value)
    elif question.type == QuestionType.YES_NO:
        assert isinstance(value, bool)
    elif question.type == QuestionType.DATE:
        assert isinstance(value, str) and date.fromisoformat(value)
    elif question.type == QuestionType.FREE_TEXT:
        assert value == reply.strip() != ""
