"""XLSX files people download: written to a temporary file in constant memory, text
always as string cells (never formulas, numbers or links guessed from it)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import xlsxwriter


@contextmanager
def workbook() -> Iterator[tuple[Any, IO[bytes]]]:
    """A workbook and the temporary file it is written to; on leaving the block the
    workbook is closed and the file is positioned at its start, ready to send (the
    response closes it)."""
    out = tempfile.TemporaryFile()  # noqa: SIM115
    book = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "tmpdir": tempfile.gettempdir(),
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "remove_timezone": True,
        },
    )
    yield book, out
    book.close()
    out.seek(0)


def sheet_name(name: str, fallback: str = "Sheet") -> str:
    """A worksheet name Excel accepts: 31 characters, none of ``[]:*?/\\``."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in name).strip("' ")
    return cleaned[:31] or fallback
