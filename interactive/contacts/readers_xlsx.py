"""Stream the rows of an .xlsx/.xlsm sheet: the sheet's XML is parsed as it is inflated.

python-calamine reads a whole sheet into memory before handing out its first row (about
600 MB for a million contacts); this reader keeps a block of rows (256 KiB of XML) at a
time, plus the shared strings table, which Excel needs random access to. It uses the
standard library only: zipfile, one regular expression for the rows written in the usual
layout (a third of expat's cost), and the expat XML parser for everything else (see
``_sheet_rows``). Other spreadsheet formats (.xls, .ods, .xlsb, encrypted workbooks) stay
with calamine (``readers.SheetTable``).

What it returns is what calamine returns, turned into text by ``readers.cell_text``:
shared and inline strings, numbers, booleans, error codes (``#DIV/0!``), formulas' cached
results, and numbers with a date or time format as dates, date-times, times or durations
(1900 and 1904 date systems). Rows are numbered as in the sheet. The table's left edge
and width come from the sheet's ``<dimension>`` when it has one, else from the header
row; a row with cells beyond the width keeps them.

The XML comes from uploads. ElementTree never loads external entities or DTDs, and the
expat it runs on (2.4.1 and later) stops entity-expansion bombs; workbook parts have no
DOCTYPE anyway.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from functools import partial
from itertools import chain
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ElementTree, ParseError, iterparse
from xml.parsers.expat import ExpatError, ParserCreate

from interactive.contacts import readers

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_STRICT = "{http://purl.oclc.org/ooxml/spreadsheetml/main}"
_RELATIONSHIPS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_WORKSHEET_TYPE = "/worksheet"
# Element names as expat reports them with namespace_separator=" ".
_ROW, _C, _V, _T, _ITEM, _PHONETIC = (
    f"{_MAIN[1:-1]} {name}" for name in ("row", "c", "v", "t", "si", "rPh")
)
_DIGITS = "0123456789"
_READ_SIZE = 256 * 1024
_ESTIMATE_SAMPLE = 512 * 1024
# Built-in number formats that show a date or a time (ECMA-376 18.8.30 and the East
# Asian ones Excel maps onto them); 46 is a duration ([h]:mm:ss).
_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)])
_DURATION_FORMATS = frozenset({46})
_QUOTED = re.compile(r'"[^"]*"|\\.|_.|\*.')
_BRACKETS = re.compile(r"\[[^\]]*\]")
_DURATION_BRACKET = re.compile(r"\[(?:h+|m+|s+)\]", re.IGNORECASE)
_DATE_LETTERS = re.compile(r"[dmyhs]", re.IGNORECASE)
_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\sr="(\d+)"')
# A cell as Excel and LibreOffice write it: a reference, an optional style and type, then
# nothing, a value or an inline string (maybe empty), with text that needs no decoding (no
# entity, no carriage return, no character XML forbids). Groups: column letters, row
# digits, style, type, "/" for a cell with nothing, value, inline text.
_PLAIN_TEXT = r"[^<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]+"
_CELL = re.compile(
    r'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"(?: s="([0-9]{1,6})")?(?: t="([a-zA-Z]{1,9})")?'
    rf"(?:(/)>|>(?:<v>({_PLAIN_TEXT})</v>"
    rf'|<is><t(?: xml:space="preserve")?>((?:{_PLAIN_TEXT})?)</t></is>)</c>)'
)
_SHEET_DATA = re.compile(rb"<sheetData(?:\s[^<>]*)?>")
_ENCODING = re.compile(rb'^\s*<\?xml[^>]*\bencoding=["\']([^"\']*)')
_HEAD_LIMIT = 1024 * 1024
_BLOCK_LIMIT = 4 * 1024 * 1024
_EPOCH_1900 = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - spreadsheet times have no zone
_EPOCH_1904 = dt.datetime(1904, 1, 1)  # noqa: DTZ001


def is_xlsx(path: Path) -> bool:
    """Whether ``path`` is an OOXML workbook this module reads (not .xlsb)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return "xl/workbook.xml" in names


class XlsxTable(readers.Table):
    """A worksheet of an .xlsx file, streamed; see the module docstring."""

    kind = "spreadsheet"
    streams = True
    sheet: str

    def __init__(self, path: Path, sheet: str | None = None) -> None:
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                self.sheet, self._part, date1904 = _find_sheet(archive, sheet)
                self._formats = _cell_formats(archive)
                self._strings = _shared_strings(archive)
                self._dimension = _dimension(archive, self._part)
                self._size = archive.getinfo(self._part).file_size
        except readers.ReadError:
            raise
        except (KeyError, ParseError, ExpatError, zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise readers.ReadError("unreadable_spreadsheet") from exc
        self._epoch = _EPOCH_1904 if date1904 else _EPOCH_1900
        self._estimate: int | None = None
        left, right = (self._dimension[0], self._dimension[1]) if self._dimension else (0, 0)
        with closing(self._cells()) as scan:
            for number, cells in scan:
                if any(cells.values()):
                    left = min(left, *cells) if left else min(cells)
                    right = max(right, *cells)
                    self._left, self._width = left, right - left + 1
                    self.header = readers.unique_header(self._values(cells))
                    self.header_line = number
                    break
            else:
                raise readers.ReadError("empty_file")

    def rows(self) -> Iterator[readers.Row]:
        values_of = self._values
        for number, cells in self._cells():
            if number <= self.header_line:
                continue
            values = values_of(cells)
            if any(values):
                yield readers.Row(number, values, len(values))

    def total_estimate(self) -> int:
        """From the sheet's ``<dimension>``, else from the row density of its start."""
        if self._estimate is None:
            if self._dimension and self._dimension[2] >= self.header_line:
                last = self._dimension[2]
            else:
                last = self._rows_by_size()
            self._estimate = max(last - self.header_line, 0)
        return self._estimate

    def _values(self, cells: dict[int, str]) -> list[str]:
        left, width = self._left, self._width
        values = [""] * width
        for column, text in cells.items():
            index = column - left
            if 0 <= index < width:
                values[index] = text
            elif index >= width:
                values.extend([""] * (index + 1 - len(values)))
                values[index] = text
        return values

    def _cells(self) -> Generator[tuple[int, dict[int, str]], None, None]:
        """(row number, {column number: text}) for every row element of the sheet."""
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self._part) as stream:
                yield from _sheet_rows(stream, self._strings, self._formats, self._epoch)
        except (ExpatError, zipfile.BadZipFile, EOFError, IndexError, ValueError) as exc:
            raise readers.ReadError("unreadable_spreadsheet") from exc

    def _rows_by_size(self) -> int:
        with zipfile.ZipFile(self.path) as archive, archive.open(self._part) as stream:
            sample = stream.read(_ESTIMATE_SAMPLE)
        rows = sample.count(b"<row ") + sample.count(b"<row>")
        if len(sample) < _ESTIMATE_SAMPLE:
            numbers = _ROW_NUMBER.findall(sample)
            return int(numbers[-1]) if len(numbers) == rows else self.header_line + rows - 1
        return round(rows * self._size / len(sample))


def _sheet_rows(
    stream: IO[bytes], strings: list[str], formats: list[int], epoch: dt.datetime
) -> Iterator[tuple[int, dict[int, str]]]:
    """The rows of a sheet's XML as it is read.

    Rows whose cells all have the layout Excel and LibreOffice write (``_CELL``) are read
    by one regular expression over a block of rows (256 KiB of XML); a block with anything
    else in it goes to expat (``_expat_rows``, after the sheet's prologue), which reads
    any well-formed sheet, and so does what follows the last row (and all that follows a
    comment, CDATA or processing instruction, which may hold a "</row>" that is none). A
    block is read by the expression only if every ``<`` in it belongs to a row tag or to
    a cell the expression matched, it holds no entity reference, no carriage return, no
    character XML forbids and no namespace declaration, and the sheet is UTF-8 with the
    main namespace as its default and no DOCTYPE. Rows are numbered by their cells'
    references (expat numbers them by the row's own), and a row without a cell is not
    reported (its values would be empty anyway).
    """
    reads = iter(partial(stream.read, _READ_SIZE), b"")
    head = b""
    data = None
    for chunk in reads:
        head += chunk
        data = _SHEET_DATA.search(head)
        if data or len(head) > _HEAD_LIMIT:
            break
    if data is None or not _plain_prologue(head[: data.start()]):
        yield from _expat_rows(chain([head], reads), strings, formats, epoch)
        return
    prologue, pending = head[: data.end()], head[data.end() :]
    columns: dict[str, int] = {}
    number = 0
    for chunk in chain([b""], reads):
        pending += chunk
        cut = pending.rfind(b"</row>") + len(b"</row>")
        if cut < len(b"</row>"):
            if len(pending) > _BLOCK_LIMIT:  # a giant row: expat streams it
                break
            continue
        block, pending = pending[:cut], pending[cut:]
        if b"<!" in block or b"<?" in block:  # a comment, CDATA or instruction: the cut
            pending = block + pending  # may be inside it, expat streams the rest
            break
        rows = _canonical_rows(block, columns, strings, formats, epoch)
        if rows is None:  # expat reads this block, after the prologue
            rows = list(_expat_rows([prologue, block], strings, formats, epoch, number, False))
        if rows:
            number = rows[-1][0]
            yield from rows
    # What follows the rows (or the rest from a giant row or a comment on) goes to expat
    # after the prologue, so a sheet that is cut short or malformed after its rows is an
    # error as before.
    yield from _expat_rows(chain([prologue, pending], reads), strings, formats, epoch, number)


def _plain_prologue(prologue: bytes) -> bool:
    """Whether the part before ``<sheetData>`` allows the expression's reading: UTF-8,
    the main namespace as the default one, no DOCTYPE (which could add attributes)."""
    declared = _ENCODING.search(prologue)
    return (
        (declared is None or declared.group(1).lower() in (b"utf-8", b"utf8"))
        and b"<!DOCTYPE" not in prologue
        and f'xmlns="{_MAIN[1:-1]}"'.encode() in prologue
    )


def _canonical_rows(
    block: bytes,
    columns: dict[str, int],
    strings: list[str],
    formats: list[int],
    epoch: dt.datetime,
) -> list[tuple[int, dict[int, str]]] | None:
    """The rows of a block of whole ``<row>`` elements, or None if it is not all in the
    expression's layout (see ``_sheet_rows``)."""
    if b"xmlns" in block:
        return None
    try:
        text = block.decode()
    except UnicodeDecodeError:
        return None
    rows: list[tuple[int, dict[int, str]]] = []
    cells: dict[int, str] = {}
    current = ""
    number = markup = 0
    for letters, digits, style, kind, closed, value, inline in _CELL.findall(text):
        if digits != current:
            if current:
                rows.append((number, cells))
            current, number, cells = digits, int(digits), {}
        if closed:
            markup += 1  # <c/>
            continue
        if value:
            markup += 4  # <c> <v> </v> </c>
            raw = value
        else:
            markup += 6  # <c> <is> <t> </t> </is> </c>, the text may be empty
            if not inline:
                continue
            raw = inline
        if kind != "inlineStr":
            raw = _cell_value(raw, kind, style, strings, formats, epoch)
            if not raw:
                continue
        cells[columns.get(letters) or _remember(columns, letters)] = raw
    if current:
        rows.append((number, cells))
    if text.count("<") != markup + text.count("<row") + text.count("</row>"):
        return None
    return rows


def _expat_rows(
    chunks: Iterable[bytes],
    strings: list[str],
    formats: list[int],
    epoch: dt.datetime,
    number: int = 0,
    final: bool = True,
) -> Iterator[tuple[int, dict[int, str]]]:
    """The rows of a sheet's XML from its start (or from its prologue and any later run of
    whole rows), by expat's callbacks: ElementTree would build an element per cell, which
    costs several times more than the whole of this. ``number`` is the row number before
    the first row, for rows without one of their own. Unless ``final``, the chunks are a
    prologue and a block of whole rows, and the document is not required to end."""
    parser = ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    done: list[tuple[int, dict[int, str]]] = []
    columns: dict[str, int] = {}
    parts: list[str] = []
    cells: dict[int, str] = {}
    column = 0
    ref = kind = style = None
    collecting = phonetic = False

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal ref, kind, style, collecting, phonetic, cells, number, column
        if name == _C:
            ref, kind, style = attributes.get("r"), attributes.get("t"), attributes.get("s")
        elif name in (_V, _T):
            collecting = not phonetic
        elif name == _ROW:
            label = attributes.get("r")
            number = int(label) if label else number + 1
            cells, column = {}, 0
        elif name == _PHONETIC:
            phonetic = True

    def end(name: str) -> None:
        nonlocal collecting, phonetic, column
        if name == _C:
            if ref:
                letters = ref.rstrip(_DIGITS)
                column = columns.get(letters) or columns.setdefault(
                    letters, _column_number(letters)
                )
            else:
                column += 1
            if parts:
                raw = parts[0] if len(parts) == 1 else "".join(parts)
                parts.clear()
                if kind != "inlineStr":
                    raw = _cell_value(raw, kind, style, strings, formats, epoch)
                if raw:
                    cells[column] = raw
        elif name in (_V, _T):
            collecting = False
        elif name == _ROW:
            done.append((number, cells))
        elif name == _PHONETIC:
            phonetic = False

    def text(data: str) -> None:
        if collecting:
            parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    for chunk in chunks:
        parser.Parse(chunk, False)
        yield from done
        done.clear()
    if final:
        parser.Parse(b"", True)
        yield from done


def _cell_value(
    raw: str,
    kind: str | None,
    style: str | None,
    strings: list[str],
    formats: list[int],
    epoch: dt.datetime,
) -> str:
    if kind == "s":
        return strings[int(raw)]
    if kind in ("str", "e"):
        return raw
    if kind == "b":
        return "true" if raw.strip() in ("1", "true") else "false"
    if kind == "d":
        return _iso_text(raw)
    try:
        number = float(raw)
    except ValueError:
        return raw
    date_kind = formats[int(style)] if style and int(style) < len(formats) else 0
    if date_kind:
        return _date_text(number, date_kind == 2, epoch)
    return readers.cell_text(number)


def _date_text(serial: float, duration: bool, epoch: dt.datetime) -> str:
    if duration:
        return readers.cell_text(dt.timedelta(days=serial))
    shift = 1 if epoch is _EPOCH_1900 and 1 <= serial < 60 else 0  # Excel's 29.02.1900
    try:
        moment = epoch + dt.timedelta(milliseconds=round((serial + shift) * 86_400_000))
    except OverflowError:
        return readers.cell_text(serial)
    if 0 <= serial < 1:
        return readers.cell_text(moment.time())
    if moment.time() == dt.time():
        return readers.cell_text(moment.date())
    return readers.cell_text(moment)


def _iso_text(raw: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if "T" not in raw and " " not in raw:
        return readers.cell_text(moment.date())
    return readers.cell_text(moment)


def _remember(columns: dict[str, int], letters: str) -> int:
    columns[letters] = number = _column_number(letters)
    return number


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _cell_ref(ref: str) -> tuple[int, int]:
    letters = ref.rstrip("0123456789").replace("$", "")
    return _column_number(letters), int(ref[len(letters) :] or 0)


def _find_sheet(archive: zipfile.ZipFile, name: str | None) -> tuple[str, str, bool]:
    """(sheet name, part name, 1904 date system) of the named or first visible worksheet."""
    workbook = _parse(archive, "xl/workbook.xml")
    _require_transitional(workbook)
    rels = _relationships(archive, "xl/_rels/workbook.xml.rels", "xl")
    properties = workbook.find(f"{_MAIN}workbookPr")
    date1904 = properties is not None and properties.get("date1904") in ("1", "true")
    visible = []
    for sheet in workbook.iter(f"{_MAIN}sheet"):
        target = rels.get(sheet.get(f"{_RELATIONSHIPS}id") or "")
        if target is None or not target[1].endswith(_WORKSHEET_TYPE):
            continue
        title = sheet.get("name") or ""
        if name is not None and title == name:
            return title, target[0], date1904
        if sheet.get("state") in (None, "visible"):
            visible.append((title, target[0]))
    if name is not None:
        raise readers.ReadError("sheet_not_found", sheet=name)
    if not visible:
        raise readers.ReadError("no_visible_sheet")
    return visible[0][0], visible[0][1], date1904


def _require_transitional(workbook: Element) -> None:
    if workbook.tag.startswith(_STRICT):
        raise ValueError("strict OOXML")  # rare; calamine's own path reads it neither


def _relationships(archive: zipfile.ZipFile, part: str, base: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (part name in the archive, type)."""
    found = {}
    for rel in _parse(archive, part).iter(f"{_PACKAGE_RELS}Relationship"):
        target = rel.get("Target") or ""
        if target.startswith("/"):
            name = target.lstrip("/")
        else:
            name = posixpath.normpath(posixpath.join(base, target))
        found[rel.get("Id") or ""] = (name, rel.get("Type") or "")
    return found


def _cell_formats(archive: zipfile.ZipFile) -> list[int]:
    """Per cell style (``s``): 0 a plain number, 1 a date or time, 2 a duration."""
    if "xl/styles.xml" not in archive.namelist():
        return []
    styles = _parse(archive, "xl/styles.xml")
    custom: dict[int, int] = {}
    for number_format in styles.iter(f"{_MAIN}numFmt"):
        code = number_format.get("formatCode") or ""
        custom[int(number_format.get("numFmtId") or 0)] = _format_kind(code)
    kinds = []
    cell_xfs = styles.find(f"{_MAIN}cellXfs")
    for xf in cell_xfs if cell_xfs is not None else []:
        format_id = int(xf.get("numFmtId") or 0)
        if format_id in custom:
            kinds.append(custom[format_id])
        elif format_id in _DATE_FORMATS:
            kinds.append(2 if format_id in _DURATION_FORMATS else 1)
        else:
            kinds.append(0)
    return kinds


def _format_kind(code: str) -> int:
    bare = _QUOTED.sub("", code)
    if _DURATION_BRACKET.search(bare):
        return 2
    return 1 if _DATE_LETTERS.search(_BRACKETS.sub("", bare)) else 0


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    """The shared strings table: the text of each item, phonetic runs left out."""
    part = "xl/sharedStrings.xml"
    if part not in archive.namelist():
        return []
    parser = ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    strings: list[str] = []
    parts: list[str] = []
    collecting = phonetic = False

    def start(name: str, _attributes: dict[str, str]) -> None:
        nonlocal collecting, phonetic
        if name == _T:
            collecting = not phonetic
        elif name == _PHONETIC:
            phonetic = True

    def end(name: str) -> None:
        nonlocal collecting, phonetic
        if name == _T:
            collecting = False
        elif name == _ITEM:
            strings.append("".join(parts))
            parts.clear()
        elif name == _PHONETIC:
            phonetic = False

    def text(data: str) -> None:
        if collecting:
            parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    with archive.open(part) as stream:
        parser.ParseFile(stream)
    return strings


def _dimension(archive: zipfile.ZipFile, part: str) -> tuple[int, int, int] | None:
    """(first column, last column, last row) from the sheet's ``<dimension ref>``, if it has one
    before its data (where Excel and LibreOffice write it)."""
    dimension_tag, data_tag = f"{_MAIN}dimension", f"{_MAIN}sheetData"
    with archive.open(part) as stream:
        for _event, element in iterparse(stream, events=("start",)):  # noqa: S314 - see top
            if element.tag == data_tag:
                return None
            if element.tag == dimension_tag:
                return _range(element.get("ref") or "")
    return None


def _range(ref: str) -> tuple[int, int, int] | None:
    first, _, last = ref.partition(":")
    try:
        left, _top = _cell_ref(first)
        right, bottom = _cell_ref(last or first)
    except ValueError:
        return None
    if left < 1 or right < left or bottom < 1:
        return None
    return left, right, bottom


def _parse(archive: zipfile.ZipFile, part: str) -> Element:
    with archive.open(part) as stream:
        root = ElementTree(file=stream).getroot()
    if root is None:
        raise ValueError(f"{part} is empty")
    return root
