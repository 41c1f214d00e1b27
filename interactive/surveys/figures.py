"""What the survey results page draws: the funnel as rows and one plotly figure per
question, built from the results' data classes (pure functions: no database, no request),
and the JSON the page polls to redraw them while a survey runs."""

from __future__ import annotations

import json
import math
from typing import Any

from flask_babel import gettext as _

from interactive.surveys.results import QuestionResult, SurveyFunnel

BLUE = "#0f5c8c"
GREEN = "#2e7d32"
GREY = "#9aa5b1"
RED = "#c62828"
NPS_COLOURS = {"promoters": GREEN, "passives": GREY, "detractors": RED}


def funnel_rows(f: SurveyFunnel) -> list[tuple[str, str, int]]:
    """(key, translated label, count): started, then how the sessions stand."""
    return [
        ("started", _("Started"), f.started),
        ("completed", _("Completed"), f.completed),
        ("open", _("In progress"), f.open),
        ("expired", _("Expired"), f.expired),
        ("opted_out", _("Opted out"), f.opted_out),
        ("ended", _("Ended"), f.ended),
        ("queued", _("Waiting in the queue"), f.queued),
    ]


def _layout(figure: Any, height: int = 280) -> dict[str, Any]:
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=height,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 13},
        showlegend=False,
    )
    result: dict[str, Any] = json.loads(figure.to_json())
    return result


def question_figure(result: QuestionResult) -> dict[str, Any] | None:
    """The figure of one question (as the JSON plotly.js draws), or None when there is
    nothing to draw: free text (listed instead) or no answer yet."""
    if result.type == "free_text" or not result.counts:
        return None
    if result.type == "nps":
        return nps_figure(result)
    import plotly.graph_objects as go

    labels = list(result.counts)
    if result.type == "yes_no":
        names = {"yes": _("Yes"), "no": _("No")}
        labels = [k for k in ("yes", "no") if k in result.counts] + [
            k for k in result.counts if k not in ("yes", "no")
        ]
        shown = [names.get(k, k) for k in labels]
        colours = [GREEN if k == "yes" else RED if k == "no" else GREY for k in labels]
    else:
        if result.type in ("number", "date"):
            labels = sorted(labels, key=_sort_key)
        shown = labels
        colours = [BLUE] * len(labels)
    values = [result.counts[k] for k in labels]
    if result.type in ("single_choice", "multiple_choice"):
        # Long option names read better along a horizontal bar.
        figure = go.Figure(
            go.Bar(
                y=shown,
                x=values,
                orientation="h",
                marker={"color": colours},
                text=values,
                textposition="auto",
            )
        )
        figure.update_yaxes(autorange="reversed", type="category")
        figure.update_xaxes(rangemode="tozero", dtick=_step(values))
        return _layout(figure, height=max(160, 48 * len(labels) + 40))
    # Ratings, numbers, dates, yes/no: one bar per value, side by side (a histogram of
    # the scale; empty steps of a rating scale stay visible as gaps).
    figure = go.Figure(
        go.Bar(x=shown, y=values, marker={"color": colours}, text=values, textposition="auto")
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(rangemode="tozero", dtick=_step(values))
    return _layout(figure)


def _step(values: list[int]) -> int:
    """Whole-number gridlines (counts of people), about five of them."""
    return max(1, math.ceil(max(values, default=0) / 5))


def _sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def nps_figure(result: QuestionResult) -> dict[str, Any]:
    """The 0-10 answers coloured as detractors (0-6), passives (7-8) and promoters (9-10),
    with the score (promoters % minus detractors %) as the title."""
    import plotly.graph_objects as go

    labels = [str(n) for n in range(0, 11)]
    values = [result.counts.get(k, 0) for k in labels]
    colours = [RED if n <= 6 else GREY if n <= 8 else GREEN for n in range(0, 11)]
    figure = go.Figure(
        go.Bar(x=labels, y=values, marker={"color": colours}, text=values, textposition="auto")
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(rangemode="tozero", dtick=_step(values))
    if result.nps is not None:
        figure.update_layout(
            title={"text": _("NPS %(score)+d", score=result.nps["score"]), "x": 0.5}
        )
        out = _layout(figure)
        out["layout"]["margin"]["t"] = 40
        return out
    return _layout(figure)


def nps_rows(result: QuestionResult) -> list[tuple[str, str, int]]:
    """(key, translated label, respondents) of promoters, passives and detractors."""
    if result.nps is None:
        return []
    return [
        ("promoters", _("Promoters (9-10)"), int(result.nps["promoters"])),
        ("passives", _("Passives (7-8)"), int(result.nps["passives"])),
        ("detractors", _("Detractors (0-6)"), int(result.nps["detractors"])),
    ]


def question_payload(result: QuestionResult) -> dict[str, Any]:
    """One question as the results page shows it and polls it."""
    return {
        "key": result.key,
        "text": result.text,
        "type": result.type,
        "sent": result.sent,
        "answered": result.answered,
        "reprompted": result.reprompted,
        "skipped": result.skipped,
        "median_response": duration_text(result.median_response_s),
        "mean": result.mean,
        "nps": result.nps,
        "nps_rows": nps_rows(result),
        "texts": result.texts,
        "figure": question_figure(result),
    }


def payload(f: SurveyFunnel, results: list[QuestionResult]) -> dict[str, Any]:
    """All the numbers and figures of the results page (its polled JSON)."""
    return {
        "funnel": {key: value for key, _label, value in funnel_rows(f)},
        "questions": [question_payload(r) for r in results],
    }


def duration_text(seconds: float | None) -> str:
    """A response time people read at a glance: "45 s", "12 min", "3.5 h", "—"."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return _("%(n)d s", n=round(seconds))
    if seconds < 90 * 60:
        return _("%(n)d min", n=round(seconds / 60))
    return _("%(n)s h", n=f"{seconds / 3600:.1f}")
