"""Reading contact files: encodings, delimiters, line numbers, spreadsheet values, errors."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest

from interactive.contacts.readers import (
    SAMPLE_SIZE,
    ReadError,
    Row,
    Table,
    cell_text,
    open_table,
)
from tests.contacts.xlsx import XlsxSheet, write_workbook, write_xlsx

TURKISH = "ŞİĞÜÖÇ şığüöç"


def write(tmp_path: Path, data: str | bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(table: Table) -> list[tuple[int, list[str]]]:
    return [(row.line, row.values) for row in table.rows()]


def read_error(path: Path, filename: str | None = None) -> ReadError:
    with pytest.raises(ReadError) as caught:
        open_table(path, filename)
    return caught.value


# --- encodings ---------------------------------------------------------------------------


def test_utf8_csv(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, f"Ad,Telefon\n{TURKISH},05321234567\n"))
    assert (table.kind, table.encoding, table.delimiter) == ("csv", "utf-8", ",")
    assert table.header == ["Ad", "Telefon"]
    assert rows(table) == [(2, [TURKISH, "05321234567"])]


def test_utf8_bom_does_not_reach_the_first_header(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, f"\ufeffAd;Telefon\n{TURKISH};0532\n".encode()))
    assert table.encoding == "utf-8-sig"
    assert table.header == ["Ad", "Telefon"]
    assert rows(table) == [(2, [TURKISH, "0532"])]


@pytest.mark.parametrize("codec", ["cp1254", "iso-8859-9"])
def test_turkish_legacy_code_pages(tmp_path: Path, codec: str) -> None:
    table = open_table(write(tmp_path, f"Ad Soyad;Şehir\n{TURKISH};İzmir\n".encode(codec)))
    # Both code pages put the Turkish letters on the same bytes, so either reads them right.
    assert table.encoding in {"cp1254", "iso-8859-9"}
    assert table.header == ["Ad Soyad", "Şehir"]
    assert rows(table) == [(2, [TURKISH, "İzmir"])]


def test_bytes_undefined_in_windows_1254_mean_iso_8859_9(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "ad,not\nŞule,a\x81b\n".encode("iso-8859-9")))
    assert table.encoding == "iso-8859-9"
    assert rows(table) == [(2, ["Şule", "a\x81b"])]


def test_utf8_character_cut_by_the_sample_end_is_still_utf8(tmp_path: Path) -> None:
    head = b"ad,not\n"
    padding = b"x" * (SAMPLE_SIZE - len(head) - 3) + b",a"  # "ş" starts at the last byte
    table = open_table(write(tmp_path, head + padding + "şğ\n".encode()))
    assert table.encoding == "utf-8"
    assert rows(table)[0][1][1] == "aşğ"


def test_legacy_file_whose_first_rows_are_ascii(tmp_path: Path) -> None:
    lines = ["ad,tel"] + [f"Ahmet Yilmaz,0532{n:07}" for n in range(5000)] + [f"{TURKISH},1"]
    data = "\n".join(lines).encode("cp1254")
    assert data[:SAMPLE_SIZE].isascii()
    table = open_table(write(tmp_path, data))
    assert table.encoding == "cp1254"
    assert rows(table)[-1] == (5002, [TURKISH, "1"])


def test_bad_byte_after_the_sample_is_replaced_not_fatal(tmp_path: Path) -> None:
    lines = ["ad,tel"] + [f"Ayşe {n},0532{n:07}" for n in range(5000)]
    data = "\n".join(lines).encode() + b"\nVeli \xfe,05320000000\n"
    assert len(data) > SAMPLE_SIZE
    table = open_table(write(tmp_path, data))
    assert table.encoding == "utf-8"
    result = rows(table)
    assert len(result) == 5001
    assert result[-1] == (5002, ["Veli \ufffd", "05320000000"])


def test_utf16_with_bom_from_excel_unicode_text(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, f"Ad\tTelefon\r\n{TURKISH}\t0532\r\n".encode("utf-16")))
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert rows(table) == [(2, [TURKISH, "0532"])]


# --- delimiters and CSV structure --------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    lines = [
        ["Ad Soyad", "Telefon", "Not"],
        ["Yılmaz, Ali", "0532 123", "a;b|c"],
        ["Veli", "1", ""],
    ]
    text = "".join(
        delimiter.join(f'"{v}"' if delimiter in v or "," in v else v for v in line) + "\n"
        for line in lines
    )
    table = open_table(write(tmp_path, text))
    assert table.delimiter == delimiter
    assert table.header == ["Ad Soyad", "Telefon", "Not"]
    assert rows(table) == [(2, ["Yılmaz, Ali", "0532 123", "a;b|c"]), (3, ["Veli", "1", ""])]


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "Ad;Puan;Telefon\nAli;3,5;0532\nVeli;4,25;0533\n"))
    assert table.delimiter == ";"
    assert rows(table)[0] == (2, ["Ali", "3,5", "0532"])


def test_single_column_file(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "telefon\n+90 532 123 45 67\n05331234567\n"))
    assert table.header == ["telefon"]
    assert rows(table) == [(2, ["+90 532 123 45 67"]), (3, ["05331234567"])]


def test_quoted_line_breaks_keep_the_following_line_numbers(tmp_path: Path) -> None:
    text = (
        'ad,not,tel\nAli,"satır 1\nsatır 2\nsatır 3",1\nVeli,x,2\n"Ayşe\r\nHanım",y,3\nZeki,z,4\n'
    )
    table = open_table(write(tmp_path, text))
    assert rows(table) == [
        (2, ["Ali", "satır 1\nsatır 2\nsatır 3", "1"]),
        (5, ["Veli", "x", "2"]),
        (6, ["Ayşe\r\nHanım", "y", "3"]),
        (8, ["Zeki", "z", "4"]),
    ]


def test_crlf_and_old_mac_line_endings(tmp_path: Path) -> None:
    for ending in ("\r\n", "\r"):
        table = open_table(write(tmp_path, ending.join(["ad,tel", "Ali,1", "", "Veli,2", ""])))
        assert rows(table) == [(2, ["Ali", "1"]), (4, ["Veli", "2"])]
        assert table.total_estimate() == 3


def test_doubled_quotes(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, 'ad,not\n"Ali ""Usta""","=SUM(A1)"\n'))
    assert rows(table) == [(2, ['Ali "Usta"', "=SUM(A1)"])]


def test_empty_rows_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "ad;tel\n\nAli;1\n;\n\n;;\nVeli;2\n"))
    assert rows(table) == [(3, ["Ali", "1"]), (7, ["Veli", "2"])]


def test_blank_lines_before_the_header(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "\n,,\nad,tel\nAli,1\n"))
    assert (table.header, table.header_line) == (["ad", "tel"], 3)
    assert rows(table) == [(4, ["Ali", "1"])]


def test_short_rows_are_padded_and_report_their_width(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "ad,tel,şehir\nAli\nVeli,2\nAyşe,3,Bursa,fazla\n"))
    assert list(table.rows()) == [
        Row(2, ["Ali", "", ""], 1),
        Row(3, ["Veli", "2", ""], 2),
        Row(4, ["Ayşe", "3", "Bursa", "fazla"], 4),
    ]


def test_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, " Ad , Telefon,,Ad,Ad (2),\ufeffAd\n1,2,3,4,5,6\n"))
    assert table.header == ["Ad", "Telefon", "column 3", "Ad (2)", "Ad (2) (2)", "Ad (3)"]


def test_unclosed_quote_names_the_line(tmp_path: Path) -> None:
    text = 'ad,not\nAli,ok\nVeli,"açık tırnak\n' + "Ayşe,x\n" * 30_000
    table = open_table(write(tmp_path, text))
    with pytest.raises(ReadError) as caught:
        list(table.rows())
    assert caught.value.code == "malformed_csv"
    assert caught.value.params == {"line": 3}
    assert "Line 3" in str(caught.value)


def test_rows_can_be_read_again_after_preview(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "tel\n" + "".join(f"{n}\n" for n in range(1, 31))))
    assert [row.line for row in table.preview()] == list(range(2, 22))
    assert [row.values for row in table.preview(2)] == [["1"], ["2"]]
    assert len(list(table.rows())) == 30


def test_total_estimate_is_close(tmp_path: Path) -> None:
    body = "".join(f"Ayşe {n},0532{n:07}\n" for n in range(2000))
    assert open_table(write(tmp_path, "ad,tel\n" + body)).total_estimate() == 2000
    assert open_table(write(tmp_path, "ad,tel\n" + body.rstrip())).total_estimate() == 2000


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "ad,tel\n"))
    assert table.header == ["ad", "tel"]
    assert list(table.rows()) == []
    assert table.total_estimate() == 0


# --- spreadsheets ------------------------------------------------------------------------


# Spreadsheet dates have no time zone: Excel stores wall-clock serial numbers.
KAYIT = dt.datetime(2024, 3, 1, 13, 45, 7)  # noqa: DTZ001
# (header, value written to the sheet, text read back) for two data rows.
XLSX_COLUMNS = [
    ("Ad", TURKISH, TURKISH, "+90 532 123 45 67", "+90 532 123 45 67"),
    ("Telefon", 5321234567.0, "5321234567", "05331234567", "05331234567"),
    ("Telefon 2", 9.05321234567e11, "905321234567", 0.1, "0.1"),
    ("Yaş", 42, "42", -5, "-5"),
    ("İzin", True, "true", False, "false"),
    ("Doğum", dt.date(1990, 5, 17), "1990-05-17", None, ""),
    ("Kayıt", KAYIT, "2024-03-01T13:45:07", None, ""),
    ("Puan", 3.25, "3.25", -0.5, "-0.5"),
    ("Ölçü", 1.5e-7, "0.00000015", 1e20, "100000000000000000000"),
]


def test_xlsx_values_become_the_text_people_see(tmp_path: Path) -> None:
    header, first, first_text, second, second_text = (
        list(column) for column in zip(*XLSX_COLUMNS, strict=True)
    )
    path = write_xlsx(tmp_path / "contacts.xlsx", [header, first, [None] * 9, second])
    table = open_table(path, "Kişiler.xlsx")
    assert (table.kind, table.sheet, table.encoding, table.delimiter) == (
        "spreadsheet",
        "Sheet1",
        None,
        None,
    )
    assert table.header == header
    assert list(table.rows()) == [Row(2, first_text, 9), Row(4, second_text, 9)]
    assert table.total_estimate() == 3


def test_xlsx_data_away_from_a1_keeps_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx", [["ad", "tel"], ["Ali", 1], [None, None], ["Veli"]], first_row=3
    )
    table = open_table(path)
    assert (table.header, table.header_line) == (["ad", "tel"], 3)
    assert list(table.rows()) == [Row(4, ["Ali", "1"], 2), Row(6, ["Veli", ""], 2)]
    assert table.total_estimate() == 3


def test_xlsx_first_visible_sheet_or_the_named_one(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "c.xlsx",
        [
            XlsxSheet("Gizli", [["eski"], ["x"]], hidden=True),
            XlsxSheet("Kişiler", [["ad"], ["Ali"]]),
            XlsxSheet("Diğer", [["tel"], [5321234567.0]]),
        ],
    )
    table = open_table(path)
    assert (table.sheet, rows(table)) == ("Kişiler", [(2, ["Ali"])])
    other = open_table(path, sheet="Diğer")
    assert (other.sheet, rows(other)) == ("Diğer", [(2, ["5321234567"])])
    with pytest.raises(ReadError) as caught:
        open_table(path, sheet="Yok")
    assert caught.value.code == "sheet_not_found"
    assert "Yok" in str(caught.value)


def test_xlsx_with_only_hidden_sheets(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "c.xlsx", [XlsxSheet("Gizli", [["ad"]], hidden=True)])
    assert read_error(path).code == "no_visible_sheet"


@pytest.mark.parametrize("name", ["contacts.csv", "upload-3f2a", "contacts.ods"])
def test_xlsx_is_recognised_by_content_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = write_xlsx(tmp_path / name, [["tel"], [5321234567.0]])
    table = open_table(path)
    assert (table.kind, rows(table)) == ("spreadsheet", [(2, ["5321234567"])])


def test_xlsx_header_only_and_empty_sheet(tmp_path: Path) -> None:
    table = open_table(write_xlsx(tmp_path / "h.xlsx", [["ad", "tel"]]))
    assert (table.header, list(table.rows()), table.total_estimate()) == (["ad", "tel"], [], 0)
    assert read_error(write_xlsx(tmp_path / "e.xlsx", [])).code == "empty_file"


ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content office:version="1.2"
 xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">
<office:body><office:spreadsheet><table:table table:name="Kişiler">
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>ad</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>tel</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>doğum</text:p></table:table-cell>
</table:table-row>
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Şule</text:p></table:table-cell>
 <table:table-cell office:value-type="float" office:value="5321234567"/>
 <table:table-cell office:value-type="date" office:date-value="1990-05-17"/>
</table:table-row>
</table:table></office:spreadsheet></office:body></office:document-content>"""

ODS_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest manifest:version="1.2"
 xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">
<manifest:file-entry manifest:full-path="/"
 manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""


def test_ods_from_libreoffice(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "c.ods", "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", ODS_MANIFEST)
        # LibreOffice writes no whitespace between elements; calamine's ODS parser needs that.
        archive.writestr("content.xml", re.sub(r">\s+<", "><", ODS_CONTENT))
    table = open_table(tmp_path / "c.ods")
    assert (table.sheet, table.header) == ("Kişiler", ["ad", "tel", "doğum"])
    assert rows(table) == [(2, ["Şule", "5321234567", "1990-05-17"])]


def test_text_saved_as_xls_is_read_as_csv(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "ad\ttel\nAli\t0532\n", "export.xls"))
    assert (table.kind, table.delimiter, rows(table)) == ("csv", "\t", [(2, ["Ali", "0532"])])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5321234567.0, "5321234567"),
        (9.05321234567e11, "905321234567"),
        (42, "42"),
        (-0.0, "0"),
        (2.5e-5, "0.000025"),
        (dt.time(8, 30), "08:30:00"),
        (dt.timedelta(days=1, hours=12, minutes=5), "36:05:00"),
        (KAYIT.replace(microsecond=600), "2024-03-01T13:45:07"),
    ],
)
def test_cell_text(value: float | dt.time | dt.timedelta, text: str) -> None:
    assert cell_text(value) == text


# --- errors ------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b""))
    assert error.code == "empty_file"
    assert str(error) == "The file is empty: it has no header row."
    assert read_error(write(tmp_path, "\n\n,,\n")).code == "empty_file"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "contacts.pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "contacts.csv"),
        (bytes(range(256)) * 4, "upload-3f2a"),
    ],
)
def test_unsupported_file_types(tmp_path: Path, data: bytes, name: str) -> None:
    error = read_error(write(tmp_path, data, "upload"), name)
    assert error.code == "unsupported_type"
    assert ".csv" in str(error)
    assert ".xlsx" in str(error)


@pytest.mark.parametrize("name", ["contacts.xlsx", "contacts.xls"])
def test_broken_spreadsheets(tmp_path: Path, name: str) -> None:
    with zipfile.ZipFile(tmp_path / "contacts.zip", "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    assert read_error(tmp_path / "contacts.zip", name).code == "unreadable_spreadsheet"
    ole = write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), name)
    error = read_error(ole)
    assert error.code == "unreadable_spreadsheet"
    assert "could not be read" in str(error)


EXCEL_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
EXCEL_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
EXCEL_PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"


def write_excel_like(path: Path, sheet_data: str, *, date1904: bool = False) -> Path:
    """A workbook shaped as Excel writes it: shared strings (one rich, one with a phonetic
    run), custom and built-in date formats, a <dimension>, the data starting in column B."""
    workbook = (
        f'<workbook xmlns="{EXCEL_MAIN}" xmlns:r="{EXCEL_RELS}">'
        + ('<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>")
        + '<sheets><sheet name="Müşteriler" sheetId="1" r:id="rId7"/></sheets></workbook>'
    )
    rels = (
        f'<Relationships xmlns="{EXCEL_PACKAGE}">'
        f'<Relationship Id="rId7" Type="{EXCEL_RELS}/worksheet" '
        'Target="/xl/worksheets/data.xml"/></Relationships>'
    )
    strings = (
        f'<sst xmlns="{EXCEL_MAIN}" count="4" uniqueCount="4">'
        "<si><t>Telefon</t></si><si><t>Ad</t></si>"
        '<si><r><rPr><b/></rPr><t>Ay</t></r><r><t xml:space="preserve">şe &amp; Co</t></r></si>'
        '<si><t>山田</t><rPh sb="0" eb="2"><t>ヤマダ</t></rPh></si></sst>'
    )
    styles = (
        f'<styleSheet xmlns="{EXCEL_MAIN}"><numFmts count="2">'
        '<numFmt numFmtId="164" formatCode="dd/mm/yyyy;@"/>'
        '<numFmt numFmtId="165" formatCode="&quot;TL&quot; #,##0.00"/></numFmts>'
        '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/>'
        '<xf numFmtId="20"/><xf numFmtId="46"/></cellXfs></styleSheet>'
    )
    sheet = (
        f'<worksheet xmlns="{EXCEL_MAIN}"><dimension ref="B2:E5"/>'
        f"<sheetData>{sheet_data}</sheetData></worksheet>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/sharedStrings.xml", strings)
        archive.writestr("xl/styles.xml", styles)
        archive.writestr("xl/worksheets/data.xml", sheet)
    return path


def test_xlsx_as_excel_writes_it(tmp_path: Path) -> None:
    data = (
        '<row r="2"><c r="B2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c>'
        '<c r="D2" t="inlineStr"><is><t>Kayıt</t></is></c><c r="E2"><v>7</v></c></row>'
        '<row r="4" spans="2:5"><c r="B4"><v>5321234567</v></c><c r="C4" t="s"><v>2</v></c>'
        '<c r="D4" s="1"><v>45352</v></c><c r="E4" s="2"><v>12.5</v></c></row>'
        '<row><c r="B5" t="s"><v>3</v></c><c t="b"><v>1</v></c><c s="3"><v>0.5</v></c>'
        '<c r="E5" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="F5" t="str"><f>A1</f><v>ek</v></c>'
        "</row>"
    )
    table = open_table(write_excel_like(tmp_path / "excel.xlsx", data), "excel.xlsx")
    assert (table.kind, table.sheet, table.header_line) == ("spreadsheet", "Müşteriler", 2)
    assert table.header == ["Telefon", "Ad", "Kayıt", "7"]
    assert list(table.rows()) == [
        Row(4, ["5321234567", "Ayşe & Co", "2024-03-01", "12.5"], 4),
        Row(5, ["山田", "true", "12:00:00", "#DIV/0!", "ek"], 5),
    ]
    assert table.total_estimate() == 3


def test_xlsx_1904_dates_and_durations(tmp_path: Path) -> None:
    data = (
        '<row r="2"><c r="B2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c></row>'
        '<row r="3"><c r="B3" s="1"><v>1</v></c><c r="C3" s="4"><v>1.5</v></c></row>'
    )
    table = open_table(write_excel_like(tmp_path / "mac.xlsx", data, date1904=True))
    # The <dimension> says the table is four columns wide (B:E).
    assert rows(table) == [(3, ["1904-01-02", "36:00:00", "", ""])]


def test_xlsx_with_broken_xml_names_the_problem(tmp_path: Path) -> None:
    data = '<row r="2"><c r="B2" t="s"><v>0</v></c></row><row r="3"><c r="B3"><v>1</c></row>'
    with pytest.raises(ReadError) as caught:  # on opening here; in a big file while reading
        list(open_table(write_excel_like(tmp_path / "broken.xlsx", data)).rows())
    assert caught.value.code == "unreadable_spreadsheet"
