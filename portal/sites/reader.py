"""Reading an import file: one sheet at a time, row by row, never past the row limit.

The workbook is read by calamine (python-calamine, Rust): a 100,000-row file takes about 1 s of CPU where
openpyxl's read-only mode takes 15 s, most of it building a Python object per cell and, for files without
a `<dimension>` (openpyxl's own), parsing every sheet twice. `open_workbook` checks the file's weight first
(`portal.sites.limits`), then loads a sheet only when the checks ask for it, so one sheet at most is held in
memory, and hands its rows to them one by one; every row counts against the limit, and the first row over
it stops the read with an error, before anything is written.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from python_calamine import CalamineWorkbook

from portal.settings import ImportSettings
from portal.sites.limits import check_file, refuse

#: (row number as the spreadsheet shows it, {header: value}); an empty cell is "" or None
Row = tuple[int, dict]


class _RowBudget:
    """Rows left to read across every sheet of one file."""

    def __init__(self, path: str | Path, limit: int):
        self.path, self.limit, self.read = path, limit, 0

    def take(self, sheet: str, number: int) -> None:
        self.read += 1
        if self.read > self.limit:
            raise refuse(self.path, f"more than {self.limit:,} rows (reached {sheet} row {number}); split the file "
                         "(IMPORT_MAX_ROWS)")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


class _Sheets(Mapping):
    """Sheets by lower-case title; a sheet is loaded when it is looked up: (headers, generator of its rows)."""

    def __init__(self, path: str | Path, workbook: CalamineWorkbook, budget: _RowBudget):
        self.path, self.workbook, self.budget = path, workbook, budget
        self.titles = {name.strip().lower(): name for name in workbook.sheet_names}

    def __len__(self) -> int:
        return len(self.titles)

    def __iter__(self):
        return iter(self.titles)

    def __contains__(self, title) -> bool:
        return title in self.titles  # Mapping's own would load the sheet to find out

    def __getitem__(self, title: str) -> tuple[list[str], Iterator[Row]]:
        if title not in self.titles:
            raise KeyError(title)
        try:
            sheet = self.workbook.get_sheet_by_name(self.titles[title])
            first = (sheet.start or (0, 0))[0] + 1  # calamine starts at the first row that holds anything
            rows = iter(sheet.iter_rows())
        except Exception as exc:  # calamine's errors for a broken part (bad XML, a CRC error, a bad record)
            raise refuse(self.path, f"not a readable .xlsx or .xls file ({title}: {exc})") from exc
        if first != 1:  # the first row of the sheet is empty: it has no headers where they must be
            return [], iter(())
        header = next(rows, None) or []
        self.budget.take(title, 1)
        names = [str(h).strip().lower() if not _blank(h) else "" for h in header]
        return names, self._rows(title, names, rows)

    def _rows(self, title: str, names: list[str], rows) -> Iterator[Row]:
        for number, values in enumerate(rows, start=2):
            self.budget.take(title, number)
            if all(_blank(v) for v in values):
                continue
            yield number, {n: v for n, v in zip(names, values) if n}


@contextmanager
def open_workbook(path: str | Path, limits: ImportSettings) -> Iterator[Mapping[str, tuple[list[str], Iterator[Row]]]]:
    """The file's sheets, checked against `limits` before any of it is parsed; ImportFailed for a file over a
    limit or not a spreadsheet at all."""
    check_file(path, limits)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for a file that is not a workbook
        raise refuse(path, f"not a readable .xlsx or .xls file ({exc})") from exc
    try:
        yield _Sheets(path, workbook, _RowBudget(path, limits.max_rows))
    finally:
        workbook.close()


def read_workbook(path: str | Path, limits: ImportSettings | None = None) -> dict[str, tuple[list[str], list[Row]]]:
    """Every sheet read into lists (for the simulator's --file, which needs no checks); limits as the import's."""
    with open_workbook(path, limits or ImportSettings()) as sheets:
        return {title: (names, list(rows)) for title, (names, rows) in sheets.items()}
