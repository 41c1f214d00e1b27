"""The XLSX sheet reader's two ways of reading rows give the same rows.

``readers_xlsx._sheet_rows`` reads blocks of rows in the usual layout with one regular
expression and hands every other block, and what follows the rows, to expat
(``_expat_rows``). These tests feed both the same XML, in pieces of every size.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import IO, Any, cast
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interactive.contacts import readers_xlsx
from tests.contacts.xlsx import column_letters

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRINGS = ["Telefon", "Ad", "Ayşe & Co", "山田", ""]
FORMATS = [0, 1, 0, 1, 2]  # cellXfs: plain, date, plain, date, duration
EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - spreadsheet times have no zone
PROLOGUES = [
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">',
    f'<worksheet xmlns="{MAIN}" xmlns:r="urn:r" xmlns:mc="urn:mc" mc:Ignorable="x14ac" '
    'xmlns:x14ac="urn:x14ac"><dimension ref="A1:F9"/><sheetViews><sheetView/></sheetViews>',
    f'<?xml version="1.0" encoding="ISO-8859-9"?><worksheet xmlns="{MAIN}">',
    f'<x:worksheet xmlns:x="{MAIN}">',
]


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``size`` bytes a read."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size, self._at = data, size, 0

    def read(self, n: int = -1) -> bytes:
        n = self._size if n < 0 else min(n, self._size)
        chunk = self._data[self._at : self._at + n]
        self._at += len(chunk)
        return chunk


def trickle(data: bytes, size: int) -> IO[bytes]:
    return cast(IO[bytes], Trickle(data, size))


xml_text = st.text(
    st.characters(
        codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00\ufffe\uffff"
    ).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20),
    max_size=12,
)


@st.composite
def cells(draw: st.DrawFn, ref: str) -> str:
    """One cell at ``ref``, in the usual layout or in one of the others a file may have."""
    kind = draw(st.integers(0, 17))
    style = draw(st.sampled_from(["", ' s="0"', ' s="1"', ' s="3"', ' s="4"']))
    number = draw(st.sampled_from(["7", "5321234567", "45352", "0.5", "1.25", "-3", "1e3"]))
    text = escape(draw(xml_text))
    plain = draw(st.sampled_from(["Ayşe", "İzmir", "a > b", "0532 123 45 67", "x\ty\nz"]))
    index = draw(st.integers(0, len(STRINGS) - 1))
    return [
        f'<c r="{ref}"{style}><v>{number}</v></c>',
        f'<c r="{ref}" t="s"><v>{index}</v></c>',
        f'<c r="{ref}"{style} t="s"><v>{index}</v></c>',
        f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{plain}</t></is></c>',
        f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>',
        f'<c r="{ref}" t="b"><v>{draw(st.sampled_from(["0", "1"]))}</v></c>',
        f'<c r="{ref}" t="e"><v>#DIV/0!</v></c>',
        f'<c r="{ref}" t="d"><v>2024-03-01T10:30:00</v></c>',
        f'<c r="{ref}"{style}/>',
        f'<c r="{ref}" t="inlineStr"><is><t></t></is></c>',
        # Layouts the expression leaves to expat:
        f'<c r="{ref}" t="str"><f>A1&amp;B1</f><v>{text}</v></c>',
        f'<c r="{ref}" t="inlineStr"><is><r><t>Ay</t></r><r><t>{text}</t></r></is></c>',
        f'<c r="{ref}" t="inlineStr"><is><t>山田</t><rPh sb="0" eb="1"><t>ヤ</t></rPh></is></c>',
        f'<c t="s" r="{ref}"{style}><v>{index}</v></c>',
        f'<c r="{ref}">\n  <v>{number}</v>\n</c>',
        f'<c r="{ref}" t="inlineStr"><is><t><![CDATA[{plain}]]></t></is></c>',
        f'<!-- note --><c r="{ref}"><v></v></c>',
        f'<c r="{ref}" t="inlineStr"><is><t/></is></c>',
    ][kind]


@st.composite
def sheets(draw: st.DrawFn) -> tuple[bytes, int]:
    rows = []
    number = 0
    for _ in range(draw(st.integers(0, 12))):
        step = draw(st.integers(1, 3))
        number += step
        columns = sorted(draw(st.sets(st.integers(1, 30), max_size=6)))
        body = "".join(draw(cells(f"{column_letters(c)}{number}")) for c in columns)
        label = "" if step == 1 and draw(st.booleans()) else f' r="{number}"'
        spans = draw(st.sampled_from(["", ' spans="1:6"', ' x14ac:dyDescent="0.25"']))
        if "x14ac" in spans:
            label += ' xmlns:x14ac="urn:x14ac"'
        rows.append(f"<row{label}{spans}/>" if not body else f"<row{label}{spans}>{body}</row>")
    prologue = draw(st.sampled_from(PROLOGUES))
    closing = "</x:worksheet>" if prologue.startswith("<x:") else "</worksheet>"
    data = draw(st.sampled_from(["<sheetData>", "<sheetData >"])) + "".join(rows)
    if prologue.startswith("<x:"):
        data = data.replace("<", "<x:").replace("<x:/", "</x:").replace("<x:!", "<!")
        data += "</x:sheetData>"
    else:
        data += "</sheetData>"
    encoding = "iso-8859-9" if "ISO-8859-9" in prologue else "utf-8"
    try:
        document = (prologue + data + closing).encode(encoding)
    except UnicodeEncodeError:
        document = (PROLOGUES[0] + data + closing).encode()
    return document, draw(st.integers(1, 400))


def with_values(rows: list[tuple[int, dict[int, str]]]) -> list[tuple[int, dict[int, str]]]:
    return [(number, cells) for number, cells in rows if any(cells.values())]


@settings(max_examples=400, deadline=None)
@given(sheets())
def test_the_expression_and_expat_read_the_same_rows(sheet: tuple[bytes, int]) -> None:
    document, size = sheet
    try:
        expected = with_values(list(readers_xlsx._expat_rows([document], STRINGS, FORMATS, EPOCH)))
    except Exception as exc:  # both must fail alike
        with pytest.raises(type(exc)):
            list(readers_xlsx._sheet_rows(trickle(document, size), STRINGS, FORMATS, EPOCH))
        return
    read = readers_xlsx._sheet_rows(trickle(document, size), STRINGS, FORMATS, EPOCH)
    assert with_values(list(read)) == expected


def usual_sheet(rows: int) -> bytes:
    body = "".join(
        f'<row r="{n}" spans="1:3"><c r="A{n}" t="s"><v>{n % 4}</v></c>'
        f'<c r="B{n}" t="inlineStr"><is><t>Ayşe {n}</t></is></c><c r="C{n}" s="1"><v>45352</v></c>'
        f'<c r="D{n}" s="2"/><c r="E{n}" t="inlineStr"><is><t xml:space="preserve"></t></is></c>'
        "</row>"
        for n in range(1, rows + 1)
    )
    return f"{PROLOGUES[1]}<sheetData>{body}</sheetData></worksheet>".encode()


def test_expat_reads_only_the_ends_of_a_sheet_in_the_usual_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fed: list[bytes] = []
    expat_rows = readers_xlsx._expat_rows

    def expat(chunks: Iterable[bytes], *args: Any) -> Iterator[tuple[int, dict[int, str]]]:
        fed.extend(chunks)
        return expat_rows(fed, *args)

    monkeypatch.setattr(readers_xlsx, "_expat_rows", expat)
    read = list(
        readers_xlsx._sheet_rows(trickle(usual_sheet(3000), 70_000), STRINGS, FORMATS, EPOCH)
    )
    assert len(read) == 3000
    assert read[1] == (2, {1: "Ayşe & Co", 2: "Ayşe 2", 3: "2024-03-01"})
    assert b"".join(fed) == (
        PROLOGUES[1].encode() + b"<sheetData></sheetData></worksheet>"
    )  # the prologue and what follows the last row


def test_blocks_after_one_that_expat_reads_are_read_by_the_expression_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fed: list[list[bytes]] = []
    expat_rows = readers_xlsx._expat_rows

    def expat(chunks: Iterable[bytes], *args: Any) -> Iterator[tuple[int, dict[int, str]]]:
        fed.append(list(chunks))
        return expat_rows(fed[-1], *args)

    monkeypatch.setattr(readers_xlsx, "_expat_rows", expat)
    formula = b'<row r="1500"><c r="A1500"><f>1+1</f><v>2</v></c></row>'
    usual = usual_sheet(3000)
    start = usual.index(b'<row r="1500"')
    end = usual.index(b'<row r="1501"')
    document = usual[:start] + formula + usual[end:]
    read = list(readers_xlsx._sheet_rows(trickle(document, 70_000), STRINGS, FORMATS, EPOCH))
    assert len(read) == 3000
    assert read[1499] == (1500, {1: "2"})
    assert read[1500] == (1501, {1: "Ad", 2: "Ayşe 1501", 3: "2024-03-01"})
    # One block with the formula, then what follows the last row; every call starts with
    # the sheet's prologue.
    assert len(fed) == 2
    assert formula in fed[0][1] and len(fed[0][1]) < 300_000
    assert all(chunks[0].startswith(PROLOGUES[1].encode()) for chunks in fed)


@pytest.mark.parametrize(
    "odd",
    [
        b'<c r="A1000" t="inlineStr"><is><t><![CDATA[a</row>b]]></t></is></c>',
        b'<!-- </row> --><c r="A1000"><v>1</v></c>',
        b'<?note </row>?><c r="A1000"><v>1</v></c>',
    ],
    ids=["cdata", "comment", "instruction"],
)
def test_a_row_tag_inside_a_comment_or_cdata_does_not_cut_a_block(odd: bytes) -> None:
    usual = usual_sheet(3000)
    start = usual.index(b'<row r="1000"')
    end = usual.index(b'<row r="1001"')
    document = usual[:start] + b'<row r="1000">' + odd + b"</row>" + usual[end:]
    # The stream hands out the sheet in two pieces, cut just after the "</row>" inside.
    cut = document.index(b"</row>", document.index(odd)) + len(b"</row>")
    pieces = iter([document[:cut], document[cut:]])
    stream = cast(IO[bytes], type("Pieces", (), {"read": lambda self, n: next(pieces, b"")})())
    read = list(readers_xlsx._sheet_rows(stream, STRINGS, FORMATS, EPOCH))
    assert read == list(readers_xlsx._expat_rows([document], STRINGS, FORMATS, EPOCH))
    assert len(read) == 3000


def test_rows_after_a_block_expat_reads_keep_their_numbers() -> None:
    usual = usual_sheet(2000).replace(b"</sheetData></worksheet>", b"")
    rest = b"<row><c><v>1</v></c><c><v>2</v></c></row><row><c><f>A1</f><v>3</v></c></row>"
    document = usual + rest + b"</sheetData></worksheet>"
    read = list(readers_xlsx._sheet_rows(trickle(document, 50_000), STRINGS, FORMATS, EPOCH))
    assert len(read) == 2002
    assert read[-2:] == [(2001, {1: "1", 2: "2"}), (2002, {1: "3"})]


@pytest.mark.parametrize(
    "end",
    [b"", b'<row r="9"><c r="A9"><v>1</v></c>', b"</sheetData>", b"</sheetData></worksheet>x"],
)
def test_a_sheet_cut_short_or_with_trailing_junk_is_an_error_as_before(end: bytes) -> None:
    from xml.parsers.expat import ExpatError

    document = usual_sheet(500).replace(b"</sheetData></worksheet>", b"") + end
    with pytest.raises(ExpatError):
        list(readers_xlsx._expat_rows([document], STRINGS, FORMATS, EPOCH))
    with pytest.raises(ExpatError):
        list(readers_xlsx._sheet_rows(trickle(document, 8192), STRINGS, FORMATS, EPOCH))
