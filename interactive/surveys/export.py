"""Respondent exports: one row per survey session, as CSV or XLSX.

Both files carry the same table (``table``). In CSV every cell is text, neutralised so a
spreadsheet never runs it as a formula. In XLSX numbers and times are typed cells and
every text is written as a string cell, which a spreadsheet shows and never evaluates;
XlsxWriter's constant-memory mode writes row by row to a temporary file, so a survey of
any size is exported without holding it in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from interactive.surveys import editing, results
from interactive.surveys.models import SessionState, Survey
from interactive.web import xlsx
from interactive.web.csv_safe import neutralise

#: A typed cell: text, a number, a time (UTC, naive in the file) or empty.
Cell = str | int | float | datetime | None


def table(
    session: Session,
    survey: Survey,
    filters: results.Filters,
    states: dict[SessionState, Any],
) -> Iterator[list[Cell]]:
    """The header, then one row per respondent. Answers are the chosen options' labels,
    numbers as numbers, yes/no in the reader's language."""
    questions = results.questions_of(session, survey)
    keys = [q["key"] for q in questions]
    options = {
        q["key"]: q.get("options") or [] for q in questions if q.get("type") in editing.CHOICE_TYPES
    }
    yield [
        _("Session"),
        _("Phone"),
        _("Contact"),
        _("Campaign"),
        _("State"),
        _("Started (UTC)"),
        _("Ended (UTC)"),
        *keys,
    ]
    for row in results.respondents(session, survey, filters):
        yield [
            row["session"],
            row["phone"] or "",
            row["contact_id"],
            row["campaign_id"],
            str(states.get(SessionState(row["state"]), row["state"])),
            row["started_at"],
            row["ended_at"],
            *[answer(row.get(key), options.get(key)) for key in keys],
        ]


def answer(value: Any, options: list[Any] | None = None) -> Cell:
    """An answer as a cell: yes/no, the label of a chosen option, several choices joined,
    a number kept a number, anything else as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return "; ".join(_text(answer(v, options)) for v in value)
    if options and isinstance(value, int) and 1 <= value <= len(options):
        option = options[value - 1]
        return str(option.get("label", "") if isinstance(option, dict) else option)
    if isinstance(value, int | float):
        return int(value) if isinstance(value, float) and value.is_integer() else value
    return str(value)


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.isoformat()
    return str(cell)


def as_csv(rows: Iterator[list[Cell]]) -> str:
    """The table as CSV with a BOM (Excel opens UTF-8 only with one), text neutralised."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([neutralise(c) if isinstance(c, str) else _text(c) for c in row])
    return buffer.getvalue()


def as_xlsx(rows: Iterator[list[Cell]], sheet: str) -> IO[bytes]:
    """The table as an XLSX workbook in a temporary file, positioned at its start."""
    with xlsx.workbook() as (workbook, out):
        _fill(workbook, rows, sheet)
    return out


def _fill(workbook: Any, rows: Iterator[list[Cell]], sheet: str) -> None:
    worksheet = workbook.add_worksheet(xlsx.sheet_name(sheet, "Survey"))
    bold = workbook.add_format({"bold": True})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for y, row in enumerate(rows):
        for x, cell in enumerate(row):
            if cell is None:
                continue
            if isinstance(cell, datetime):
                worksheet.write_datetime(y, x, cell.replace(tzinfo=None), when)
            elif isinstance(cell, int | float):
                worksheet.write_number(y, x, cell)
            else:
                worksheet.write_string(y, x, cell, bold if y == 0 else None)
    worksheet.freeze_panes(1, 0)
