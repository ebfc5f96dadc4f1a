"""Cells of the spreadsheets PayFirst writes (CSV and .xlsx), so that no spreadsheet evaluates what a shop wrote.

A text that starts with `=`, `+`, `-` or `@` (also after leading spaces), a tab or a carriage return is a
formula to Excel, LibreOffice and WPS: a shop named `=HYPERLINK(...)` or `+SUM(1+1)*cmd|' /C calc'!A0`
would run in the office of whoever opens the report (SPEC §4). Every writer passes its cells through
`cell()`: such text gets a leading apostrophe (CSV) or is stored as a quoted text cell (.xlsx). Numbers
are never touched, so a negative amount written as a number stays a number; amounts therefore go to a
writer as numbers (`yuan_number`), not as strings.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

import xlsxwriter
from openpyxl.cell import Cell

#: what makes a spreadsheet read a text cell as a formula (SPEC §4; OWASP "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could evaluate this text."""
    return text.startswith(CONTROL_STARTS) or text.lstrip().startswith(FORMULA_STARTS)


def cell(value: Any) -> Any:
    """A value ready for a CSV cell: formula-like text gets a leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def yuan_number(fen: int) -> Decimal:
    """Fen as an exact yuan number for a spreadsheet: -123456 -> Decimal('-1234.56') (a number, never text)."""
    return Decimal(int(fen)).scaleb(-2)  # scaleb keeps the two places: 100 -> 1.00, not 1


class CsvWriter:
    """csv.writer whose every text cell goes through `cell()`."""

    def __init__(self, out: TextIO, **fmt):
        self._writer = csv.writer(out, **fmt)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row, text made safe."""
        self._writer.writerow([cell(v) for v in row])


def append_xlsx_row(ws, row: Iterable[Any], formats: dict[int, str] | None = None) -> list:
    """Append a row to an openpyxl worksheet: text is stored as text (never a formula), numbers as numbers;
    `formats` gives number formats by column index (0-based). Returns the row's cells.

    openpyxl turns any string starting with `=` into a formula; here every string cell is forced to the string
    type, and a formula-like one also gets Excel's quote prefix, so editing the cell keeps it text. The cells are
    made here and appended as cells: asking the sheet for its last row instead costs a pass over every cell, which
    made a 10,000-row export quadratic (40 s).
    """
    cells = []
    for i, value in enumerate(row):
        c = Cell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"
            if is_formula_like(value):
                c.quotePrefix = True
        if formats and i in formats:
            c.number_format = formats[i]
        cells.append(c)
    ws.append(cells)
    return cells


def report_xlsx(sheet: str, columns: Sequence[str], notes: Sequence[str],
                rows: Iterable[tuple[Sequence[Any], dict[int, str] | None]], widths: Sequence[int] = ()) -> bytes:
    """A report's workbook as SPEC §4 writes it: one sheet, row 1 the column names (each with its note, in
    Chinese, as a cell comment rather than an extra row above the data), then the rows (values and their number
    formats by column index).

    Written by XlsxWriter, which streams a sheet about four times faster than openpyxl builds one (a 10,000-shop
    statement: about 0.4 s against 1.6 s), so a report of a whole site stays within SPEC §5's 2 s. Each value
    is written by its type: text always as a text cell (never a formula; a formula-like one also quote-prefixed,
    as `append_xlsx_row` does, so editing it keeps it text), numbers as numbers, dates as dates; None and "" are
    blank.
    """
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                                     "strings_to_urls": False})
    ws = book.add_worksheet(sheet)
    formats: dict[tuple[str | None, bool], Any] = {}

    def fmt(number_format: str | None, quoted: bool = False):
        key = (number_format, quoted)
        if key not in formats:
            props: dict[str, Any] = {"num_format": number_format} if number_format else {}
            formats[key] = book.add_format({**props, "quote_prefix": True} if quoted else props) if props or quoted \
                else None
        return formats[key]

    for i, (name, note) in enumerate(zip(columns, notes, strict=True)):
        ws.write_string(0, i, name)
        ws.write_comment(0, i, note, {"author": "PayFirst"})
    for r, (values, number_formats) in enumerate(rows, start=1):
        for i, value in enumerate(values):
            number_format = number_formats.get(i) if number_formats else None
            if value is None or value == "":  # a blank cell, as openpyxl leaves an empty text
                continue
            if isinstance(value, str):
                ws.write_string(r, i, value, fmt(number_format, is_formula_like(value)))
            elif isinstance(value, bool):
                ws.write_boolean(r, i, value, fmt(number_format))
            elif isinstance(value, datetime | date):
                ws.write_datetime(r, i, value, fmt(number_format or "yyyy-mm-dd"))
            else:
                ws.write_number(r, i, value, fmt(number_format))
    for i, width in enumerate(widths):
        ws.set_column(i, i, width)
    book.close()
    return out.getvalue()
