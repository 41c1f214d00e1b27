"""Read contact files, CSV or spreadsheet, as a header and a stream of string rows.

``open_table(path, filename)`` decides by content first (a ZIP or OLE2 signature means a
spreadsheet) and by the file name's extension second, and returns a ``Table``:

- ``header``: the first non-empty row, cells stripped; an empty cell becomes "column N" and
  a repeated name gets " (2)", " (3)"… so every column has a unique name.
- ``rows()``: a fresh iterator of ``Row(line, values, width)`` on every call, streamed from
  the file. ``line`` is the number a person sees in a text editor or in Excel (the header
  is line 1 unless blank lines come before it; a CSV record with quoted line breaks counts
  from the line where it starts). Completely empty rows are skipped; their numbers are
  not reused. ``values`` are strings, never stripped, padded with "" up to the header's
  width; ``width`` is how many cells the CSV line really had (a spreadsheet has no such
  thing as a missing cell: its rows are always full width). Longer rows keep their extra
  values.
- ``total_estimate()``: a cheap estimate of the number of data rows, for a progress bar.

Values are returned as they are written: formula-looking text (``=SUM(A1)``, ``+90 532…``,
``-5``, ``@x``) is left alone for the importer to judge. Spreadsheet numbers become plain
text ("5321234567", never "5321234567.0" or "5.32e9"), dates ISO 8601, booleans
"true"/"false". CSV encodings: UTF-8 (with or without BOM), UTF-16 with BOM, and the
Turkish legacy code pages Windows-1254 and ISO-8859-9; bytes that do not fit the encoding
chosen from the first 64 KiB become U+FFFD instead of stopping the import.

.xlsx and .xlsm sheets are streamed (``readers_xlsx``); the other spreadsheet formats are
read with python-calamine, which parses the whole sheet into memory when it is opened
(only the conversion to Python values is lazy).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NamedTuple

import python_calamine

log = logging.getLogger(__name__)

SAMPLE_SIZE = 64 * 1024
SCAN_CHUNK = 1024 * 1024
SNIFF_RECORDS = 20
DELIMITERS = (",", ";", "\t", "|")
TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
SHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
SHEET_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # ZIP (xlsx, ods), OLE2
# Bytes that Windows-1254 leaves undefined; ISO-8859-9 maps them to C1 control characters.
_CP1254_UNDEFINED = tuple(
    bytes([b]) for b in range(0x80, 0xA0) if bytes([b]).decode("cp1254", "replace") == "\ufffd"
)
# Control bytes that text files do not contain; 1 % of the sample or more means binary.
_BINARY_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f\x1a") + b"\x7f"
_TEXT_BYTES = bytes(b for b in range(256) if b not in _BINARY_BYTES)

CellValue = int | float | str | bool | dt.time | dt.date | dt.datetime | dt.timedelta

# English texts for logs and the CLI; the web layer translates by ``ReadError.code``.
MESSAGES = {
    "empty_file": "The file is empty: it has no header row.",
    "unsupported_type": (
        "This type of file cannot be imported. Upload a CSV or text file (.csv, .txt, .tsv) "
        "or a spreadsheet (.xlsx, .xlsm, .xls, .ods)."
    ),
    "unreadable_spreadsheet": (
        "The spreadsheet could not be read. Open it in Excel or LibreOffice, save it again "
        "as .xlsx or .csv and upload that file."
    ),
    "password_protected": (
        "The spreadsheet is protected with a password. Remove the password, save it and "
        "upload it again."
    ),
    "sheet_not_found": "The spreadsheet has no sheet named “%(sheet)s”.",
    "no_visible_sheet": "The spreadsheet has no visible sheet.",
    "malformed_csv": (
        'Line %(line)s could not be read: a value is too long, probably because a quote (") '
        "is not closed."
    ),
}


class ReadError(Exception):
    """The file cannot be read as a table. ``code`` is stable, ``params`` fill its text."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(MESSAGES[code] % params)
        self.code = code
        self.params = params


class Row(NamedTuple):
    """One non-empty data row: its line in the file, its values, how many cells it had."""

    line: int
    values: list[str]
    width: int


class Table:
    """A header and rows; see the module docstring. Closing is only needed for spreadsheets.

    ``kind`` is "csv" or "spreadsheet"; ``encoding`` and ``delimiter`` are set for CSV,
    ``sheet`` (the sheet's name) for spreadsheets.
    """

    kind = ""
    # Whether ``rows()`` reads the file as it goes (cheap to open again elsewhere) rather
    # than from a copy loaded into memory.
    streams = False
    header: list[str]
    header_line: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    def rows(self) -> Iterator[Row]:
        raise NotImplementedError

    def total_estimate(self) -> int | None:
        raise NotImplementedError

    def preview(self, n: int = 20) -> list[Row]:
        return list(islice(self.rows(), n))

    def close(self) -> None:
        """Release what the table holds in memory; no-op for CSV."""

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_table(path: Path, filename: str | None = None, *, sheet: str | None = None) -> Table:
    """Open ``path`` (an upload saved under any name; ``filename`` is the user's name for it).

    ``sheet`` picks a spreadsheet's sheet by name (default: the first visible worksheet;
    ignored for CSV).
    Raises ``ReadError`` for empty, unsupported or unreadable files. Text content under a
    spreadsheet extension is read as CSV: old systems export tab-separated text as ".xls".
    """
    suffix = Path(filename or path.name).suffix.lower()
    if suffix and suffix not in TEXT_SUFFIXES | SHEET_SUFFIXES:
        raise ReadError("unsupported_type")
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_SIZE)
        if not sample:
            raise ReadError("empty_file")
        if sample.startswith(SHEET_SIGNATURES):
            from interactive.contacts import readers_xlsx  # it builds on this module

            if readers_xlsx.is_xlsx(path):
                return readers_xlsx.XlsxTable(path, sheet)
            return SheetTable(path, sheet)
        encoding = detect_encoding(*_encoding_sample(handle, sample))
    complete = len(sample) < SAMPLE_SIZE
    if encoding != "utf-16" and _looks_binary(sample):
        raise ReadError("unsupported_type")
    text = codecs.getincrementaldecoder(encoding)("replace").decode(sample, final=complete)
    delimiter = sniff_delimiter(text, complete, default="\t" if suffix == ".tsv" else ",")
    return CsvTable(path, encoding, delimiter)


# --- CSV ---------------------------------------------------------------------------------


class CsvTable(Table):
    kind = "csv"
    streams = True
    encoding: str
    delimiter: str

    def __init__(self, path: Path, encoding: str, delimiter: str) -> None:
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter
        self._estimate: int | None = None
        with self._open() as stream:
            reader = csv.reader(stream, delimiter=delimiter)
            end = 0
            for cells in reader:
                start, end = end + 1, reader.line_num
                if any(cells):
                    self.header = unique_header(cells)
                    self.header_line, self._header_end = start, end
                    break
            else:
                raise ReadError("empty_file")
        log.debug("csv table: encoding=%s delimiter=%r", encoding, delimiter)

    def rows(self) -> Iterator[Row]:
        width = len(self.header)
        with self._open() as stream:
            reader = csv.reader(stream, delimiter=self.delimiter)
            end = self._header_end
            try:
                for _ in reader:
                    if reader.line_num >= end:
                        break
                for values in reader:
                    start = end + 1
                    end = reader.line_num
                    if not any(values):
                        continue
                    present = len(values)
                    if present < width:
                        values.extend([""] * (width - present))
                    yield Row(start, values, present)
            except csv.Error as exc:
                raise ReadError("malformed_csv", line=end + 1) from exc

    def total_estimate(self) -> int:
        """Line breaks in the file minus the header's lines (1 MiB chunks; ~0.1 s/100 MB)."""
        if self._estimate is None:
            lines, last = 0, b""
            with self.path.open("rb") as handle:
                first = handle.read(SAMPLE_SIZE)
                newline = b"\n" if b"\n" in first or b"\r" not in first else b"\r"
                handle.seek(0)
                while chunk := handle.read(SCAN_CHUNK):
                    lines += chunk.count(newline)
                    last = chunk[-1:]
            if last and last not in b"\r\n":
                lines += 1  # the last line has no line break
            self._estimate = max(lines - self._header_end, 0)
        return self._estimate

    def _open(self) -> io.TextIOWrapper:
        return self.path.open(encoding=self.encoding, errors="replace", newline="")


def _encoding_sample(handle: BinaryIO, sample: bytes) -> tuple[bytes, bool]:
    """The bytes to detect the encoding from, and whether they reach the end of the file.

    That is the sample, unless it is plain ASCII, which fits every candidate: then the
    first later chunk that is not, so a legacy file whose first rows happen to be ASCII
    is not read as UTF-8 (its later Turkish letters would turn into U+FFFD).
    """
    chunk, complete = sample, len(sample) < SAMPLE_SIZE
    while chunk.isascii() and not complete:
        chunk = handle.read(SCAN_CHUNK)  # follows an ASCII byte: starts on a character
        complete = len(chunk) < SCAN_CHUNK
    return chunk, complete


def detect_encoding(sample: bytes, complete: bool = False) -> str:
    """The codec for a text file starting with ``sample`` (``complete``: the whole file).

    UTF-8 if the sample is valid UTF-8 (a character cut at the sample's end is fine),
    otherwise the Turkish legacy code page: Windows-1254, or ISO-8859-9 when the sample
    has bytes that Windows-1254 does not define. The two agree on every Turkish letter.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        if any(byte in sample for byte in _CP1254_UNDEFINED):
            return "iso-8859-9"
        return "cp1254"
    return "utf-8"


def sniff_delimiter(text: str, complete: bool = False, default: str = ",") -> str:
    """The delimiter among , ; tab | that splits the first records most consistently.

    Each candidate parses up to 20 records (quotes respected); it scores by the share of
    records having the most common field count, then by that count. Candidates that never
    split a line lose to ``default``. A record cut off by the sample's end is ignored.
    """
    best, best_score = default, (0.0, 1)
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            records = list(islice(reader, SNIFF_RECORDS + 1))
        except csv.Error:
            continue
        if len(records) > SNIFF_RECORDS or (not complete and len(records) > 1):
            records.pop()
        counts = [len(record) for record in records if any(record)]
        if not counts:
            continue
        fields, matches = Counter(counts).most_common(1)[0]
        score = (matches / len(counts), fields)
        if fields > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_binary(sample: bytes) -> bool:
    control = len(sample.translate(None, _TEXT_BYTES))
    return control > 0 and control * 100 >= len(sample)


def unique_header(cells: list[str]) -> list[str]:
    """Stripped names; empty ones become "column N", repeats get " (2)", " (3)"…"""
    names = [cell.replace("\ufeff", "").strip() or f"column {n}" for n, cell in enumerate(cells, 1)]
    seen: set[str] = set()
    header = []
    for name in names:
        unique, n = name, 1
        while unique in seen:
            n += 1
            unique = f"{name} ({n})"
        seen.add(unique)
        header.append(unique)
    return header


# --- Spreadsheets ------------------------------------------------------------------------


class SheetTable(Table):
    kind = "spreadsheet"
    sheet: str

    def __init__(self, path: Path, sheet: str | None = None) -> None:
        self._sheet: python_calamine.CalamineSheet | None = _load_sheet(path, sheet)
        self.sheet = self._sheet.name
        for number, raw in enumerate(self._sheet.iter_rows(), 1):
            cells = [cell_text(cell) for cell in raw]
            if any(cells):
                self.header = unique_header(cells)
                self.header_line = number
                break
        else:
            raise ReadError("empty_file")

    def rows(self) -> Iterator[Row]:
        # calamine pads the rows above the data with empty rows, so the count is the row number.
        rows = islice(self._loaded().iter_rows(), self.header_line, None)
        for number, raw in enumerate(rows, self.header_line + 1):
            values = [cell if cell.__class__ is str else cell_text(cell) for cell in raw]
            if any(values):
                yield Row(number, values, len(values))

    def total_estimate(self) -> int:
        end = self._loaded().end
        return max(end[0] + 1 - self.header_line, 0) if end else 0

    def close(self) -> None:
        self._sheet = None

    def _loaded(self) -> python_calamine.CalamineSheet:
        if self._sheet is None:
            raise ValueError("the table is closed")
        return self._sheet


_VISIBLE = python_calamine.SheetVisibleEnum.Visible
_WORKSHEET = python_calamine.SheetTypeEnum.WorkSheet


def _load_sheet(path: Path, name: str | None) -> python_calamine.CalamineSheet:
    try:
        # From a file object calamine detects the format by content; from a path it trusts
        # the extension, and uploads are not always named right.
        with (
            path.open("rb") as handle,
            python_calamine.CalamineWorkbook.from_filelike(handle) as workbook,
        ):
            if name is not None:
                return workbook.get_sheet_by_name(name)
            for index, meta in enumerate(workbook.sheets_metadata):
                if meta.visible == _VISIBLE and meta.typ == _WORKSHEET:
                    return workbook.get_sheet_by_index(index)
    except python_calamine.PasswordError as exc:
        raise ReadError("password_protected") from exc
    except python_calamine.WorksheetNotFound as exc:
        raise ReadError("sheet_not_found", sheet=name) from exc
    except OSError:
        raise
    except Exception as exc:  # calamine reports broken files with assorted exception types
        log.info("unreadable spreadsheet: %s", exc)
        raise ReadError("unreadable_spreadsheet") from exc
    raise ReadError("no_visible_sheet")


def cell_text(value: CellValue) -> str:
    """A spreadsheet value as the text a person expects to see for it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    if isinstance(value, dt.datetime | dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        minutes, seconds = divmod(round(value.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02}:{seconds:02}"  # like Excel's [h]:mm:ss
    return str(value) if isinstance(value, int) else value.isoformat()
