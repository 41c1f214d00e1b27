"""Write small, valid .xlsx files with nothing but zipfile, for tests and benchmarks.

``write_xlsx(path, rows)`` writes one sheet; ``write_workbook(path, sheets)`` several,
optionally hidden or starting away from A1. Cells may be ``str`` (inline strings), ``int``,
``float``, ``bool``, ``datetime.date`` / ``datetime.datetime`` (serial numbers with a date
style, as Excel stores them) or ``None`` (no cell). The project has no XLSX writer
dependency and does not need one for this.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

Cell = str | int | float | bool | dt.date | dt.datetime | None

_EPOCH = dt.date(1899, 12, 30)  # Excel's 1900 date system; right from 1900-03-01 on
_DATE_STYLE = 1  # cellXfs index with numFmtId 14 (short date)
_DATETIME_STYLE = 2  # cellXfs index with numFmtId 22 (date and time)

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"

_CONTENT_TYPES = (
    f'{_XML}<Types xmlns="{_PACKAGE}/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = (
    f'<Override PartName="/xl/worksheets/sheet{{n}}.xml" ContentType="{_TYPE}.worksheet+xml"/>'
)
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">'
    f'<Relationship Id="rId1" Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_OFFICE}"><sheets>{{sheets}}</sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">'
    "{sheets}"
    f'<Relationship Id="rIdStyles" Type="{_OFFICE}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_SHEET_REL = (
    f'<Relationship Id="rId{{n}}" Type="{_OFFICE}/worksheet" Target="worksheets/sheet{{n}}.xml"/>'
)
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs></styleSheet>"
)
_SHEET_HEAD = f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>'
_SHEET_TAIL = "</sheetData></worksheet>"


@dataclass(frozen=True)
class XlsxSheet:
    """One worksheet; ``first_row`` / ``first_column`` (1-based) place the first cell."""

    name: str
    rows: Iterable[Sequence[Cell]]
    hidden: bool = False
    first_row: int = 1
    first_column: int = 1


def write_xlsx(
    path: Path,
    rows: Iterable[Sequence[Cell]],
    *,
    name: str = "Sheet1",
    first_row: int = 1,
    first_column: int = 1,
) -> Path:
    """Write ``rows`` as the only sheet; its first cell is at (first_row, first_column)."""
    return write_workbook(path, [XlsxSheet(name, rows, False, first_row, first_column)])


def write_workbook(path: Path, sheets: Sequence[XlsxSheet]) -> Path:
    """Write a workbook with ``sheets`` in order; rows are streamed into the archive."""
    numbers = range(1, len(sheets) + 1)
    entries = "".join(
        f'<sheet name="{_attribute(s.name)}" sheetId="{n}" r:id="rId{n}"'
        + (' state="hidden"' if s.hidden else "")
        + "/>"
        for n, s in zip(numbers, sheets, strict=True)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.format(sheets="".join(_SHEET_TYPE.format(n=n) for n in numbers)),
        )
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK.format(sheets=entries))
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            _WORKBOOK_RELS.format(sheets="".join(_SHEET_REL.format(n=n) for n in numbers)),
        )
        archive.writestr("xl/styles.xml", _STYLES)
        for n, sheet in zip(numbers, sheets, strict=True):
            with archive.open(f"xl/worksheets/sheet{n}.xml", "w") as part:
                part.write(_SHEET_HEAD.encode())
                for offset, row in enumerate(sheet.rows):
                    part.write(_row_xml(sheet.first_row + offset, sheet.first_column, row))
                part.write(_SHEET_TAIL.encode())
    return path


def column_letters(column: int) -> str:
    """1 → "A", 27 → "AA"."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _attribute(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _row_xml(number: int, first_column: int, row: Sequence[Cell]) -> bytes:
    cells = "".join(
        _cell_xml(f"{column_letters(first_column + i)}{number}", value)
        for i, value in enumerate(row)
        if value is not None
    )
    return f'<row r="{number}">{cells}</row>'.encode()


def _cell_xml(ref: str, value: Cell) -> str:
    if isinstance(value, str):
        text = escape(value)
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, dt.datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        serial = (value.date() - _EPOCH).days + seconds / 86400
        return f'<c r="{ref}" s="{_DATETIME_STYLE}"><v>{serial!r}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{_DATE_STYLE}"><v>{(value - _EPOCH).days}</v></c>'
    return f'<c r="{ref}"><v>{value!r}</v></c>'
