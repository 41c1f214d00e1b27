"""The dashboards' tables: one shape for the page, its polled JSON and its CSV and XLSX
exports, so that a download always holds the rows the page shows.

A cell is typed (text, a count, a rate as a fraction, an amount of money, a day); each
column says how its cells read (``kind``). On the page numbers are formatted in the
viewer's language. In CSV every cell is text and text is neutralised so a spreadsheet
never runs it as a formula; in XLSX numbers and days are typed cells (rates with a
percent format) and every text is a string cell, which a spreadsheet never evaluates.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from babel import Locale
from babel.numbers import NumberPattern, get_group_symbol, parse_pattern
from babel.numbers import format_decimal as babel_format_decimal
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from interactive.web import xlsx
from interactive.web.csv_safe import neutralise

Cell = str | int | float | Decimal | date | None

#: How a column's cells read: ``text``, ``count``, ``rate`` (a fraction shown in percent),
#: ``money``, ``day``, ``time`` (a moment, shown in the viewer's time zone), ``number`` (a
#: plain decimal), ``pvalue``, or ``auto`` (by the cell's type: an int is a count, a Decimal
#: money, a float a rate).
KINDS = ("text", "count", "rate", "money", "day", "time", "number", "pvalue", "auto")


@dataclass
class Column:
    key: str
    label: str
    kind: str = "count"


@dataclass
class Table:
    """A named table; ``links`` maps (row index, column key) to the page listing the rows
    behind that number."""

    name: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    links: dict[tuple[int, str], str] = field(default_factory=dict)

    def add(self, cells: list[Cell], links: Mapping[str, str | None] | None = None) -> None:
        index = len(self.rows)
        self.rows.append(cells)
        for key, url in (links or {}).items():
            if url:
                self.links[(index, key)] = url

    def link(self, index: int, key: str) -> str | None:
        return self.links.get((index, key))


# --- formatting for the page -------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    """How a locale writes the dashboards' numbers (a page shows thousands of them)."""

    locale: Locale
    rate: NumberPattern  # the locale's percent pattern with one decimal
    money: NumberPattern  # the locale's standard currency pattern
    group: str | None  # counts: Python's grouping with this separator, when that is the same

    @classmethod
    @functools.cache
    def of(cls, name: str) -> _Style:
        locale = Locale.parse(name)
        rate = parse_pattern(locale.percent_formats[None].pattern.replace("#,##0", "#,##0.0", 1))
        group = get_group_symbol(locale)
        same = all(
            babel_format_decimal(n, locale=locale) == f"{n:,}".replace(",", group)
            for n in (0, 7, 1234, 1234567, 10**12)
        )
        money = locale.currency_formats["standard"]
        return cls(locale, rate, money, group if same else None)


def _style() -> _Style:
    return _Style.of(str(get_locale() or "en"))


def percent(value: float | None) -> str:
    """A rate in the viewer's language with one decimal ("40.0%", "%40,0"), "—" for none."""
    if value is None:
        return "—"
    style = _style()
    return str(style.rate.apply(value, style.locale))


def count(value: int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and value >= 0:
        group = _style().group
        if group is not None:
            return f"{value:,}".replace(",", group)
    return str(format_decimal(value))


def money(value: Decimal | None, currency: str) -> str:
    """An amount as ``format_currency`` writes it (its pattern read once per locale)."""
    if value is None:
        return "—"
    style = _style()
    return str(style.money.apply(value, style.locale, currency=currency))


def pvalue(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 0.001:
        return "< " + str(format_decimal(0.001, format="0.000"))
    return str(format_decimal(value, format="0.000"))


def text(cell: Cell, kind: str, currency: str) -> str:
    """A cell as the page shows it."""
    if cell is None:
        return "—"
    if kind == "auto":
        kind = _auto_kind(cell)
    if kind == "rate" and isinstance(cell, int | float):
        return percent(float(cell))
    if kind == "money" and isinstance(cell, int | float | Decimal):
        return money(Decimal(cell), currency)
    if kind == "pvalue" and isinstance(cell, int | float):
        return pvalue(float(cell))
    if kind == "time" and isinstance(cell, datetime):
        return str(format_datetime(cell, "short"))
    if isinstance(cell, date):
        return str(format_date(cell, "medium"))
    if isinstance(cell, int):
        return count(cell)
    if isinstance(cell, float | Decimal):
        return str(format_decimal(cell))
    return str(cell)


_EMPTY = Markup('<tr><td colspan="{}" class="muted">{}</td></tr>')


def body_html(table: Table, currency: str) -> Markup:
    """A table's ``<tbody>`` rows, numbers linked to the rows behind them. A page has
    thousands of cells, so they are written here as strings, every value and URL through
    ``escape``, rather than by a template macro or ``Markup.format`` per cell."""
    if not table.rows:
        return _EMPTY.format(len(table.columns), _("Nothing to show for these filters yet."))
    opening = ["<td>" if c.kind in ("text", "time") else '<td class="num">' for c in table.columns]
    links = table.links
    out: list[str] = []
    for index, row in enumerate(table.rows):
        out.append("<tr>")
        for column, start, cell in zip(table.columns, opening, row, strict=False):
            content = escape(text(cell, column.kind, currency))
            url = links.get((index, column.key))
            if url:
                out.append(f'{start}<a href="{escape(url)}">{content}</a></td>')
            else:
                out.append(f"{start}{content}</td>")
        out.append("</tr>")
    return Markup("".join(out))  # noqa: S704 (every value and URL went through escape)


def _auto_kind(cell: Cell) -> str:
    if isinstance(cell, bool | str):
        return "text"
    if isinstance(cell, int):
        return "count"
    if isinstance(cell, Decimal):
        return "money"
    if isinstance(cell, float):
        return "rate"
    return "text"


# --- exports -----------------------------------------------------------------------------------


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        return neutralise(cell)
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float):
        return repr(round(cell, 6))
    return str(cell)


def as_csv(table: Table) -> str:
    """The table as CSV with a BOM (Excel opens UTF-8 only with one), text neutralised."""
    return "".join(csv_stream(table.columns, [table.rows]))


def csv_stream(
    columns: Sequence[Column], batches: Iterable[Sequence[Sequence[Cell]]]
) -> Iterator[str]:
    """CSV text a batch of rows at a time, for a streamed download: a BOM and the header
    first, text neutralised."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([neutralise(c.label) for c in columns])
    for rows in batches:
        for row in rows:
            writer.writerow([_csv_cell(c) for c in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def as_xlsx(table: Table) -> IO[bytes]:
    """The table as an XLSX workbook in a temporary file, positioned at its start."""
    return xlsx_of(table.title, table.columns, [table.rows])


def xlsx_of(
    title: str, columns: Sequence[Column], batches: Iterable[Sequence[Sequence[Cell]]]
) -> IO[bytes]:
    """Rows (a batch at a time) as an XLSX workbook in a temporary file, positioned at its
    start; written in constant memory."""
    with xlsx.workbook() as (workbook, out):
        _fill(workbook, title, columns, batches)
    return out


def _fill(
    workbook: Any,
    title: str,
    columns: Sequence[Column],
    batches: Iterable[Sequence[Sequence[Cell]]],
) -> None:
    worksheet = workbook.add_worksheet(xlsx.sheet_name(title))
    formats = {
        "header": workbook.add_format({"bold": True}),
        "rate": workbook.add_format({"num_format": "0.0%"}),
        "money": workbook.add_format({"num_format": "#,##0.00"}),
        "day": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "time": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "pvalue": workbook.add_format({"num_format": "0.0000"}),
    }
    for x, column in enumerate(columns):
        worksheet.write_string(0, x, column.label, formats["header"])
    y = 0
    for rows in batches:
        for row in rows:
            y += 1
            for x, cell in enumerate(row):
                kind = columns[x].kind if x < len(columns) else "text"
                if kind == "auto":
                    kind = _auto_kind(cell)
                _write(worksheet, y, x, cell, formats.get(kind), formats["day"])
    worksheet.freeze_panes(1, 0)


def _write(sheet: Any, y: int, x: int, cell: Cell, style: Any, day: Any) -> None:
    if cell is None:
        return
    if isinstance(cell, datetime):
        sheet.write_datetime(y, x, cell.replace(tzinfo=None), style or day)
    elif isinstance(cell, date):
        sheet.write_datetime(y, x, cell, day)
    elif isinstance(cell, bool | str):
        sheet.write_string(y, x, str(cell))
    else:
        sheet.write_number(y, x, float(cell), style)
