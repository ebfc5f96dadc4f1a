"""The import file (SPEC §4): its sheets and columns, and how a problem in it is located."""
from __future__ import annotations

from dataclasses import dataclass

SHEETS = {
    "gateways": ["code", "name", "host", "port", "protocol"],
    "accounts": ["code", "name", "tenant", "phone", "area_m2"],
    "meters": ["code", "name", "kind", "profile", "gateway", "unit_id", "account", "control_mode",
               "tariff", "power_limit_kw"],
    "tariffs": ["code", "name", "unit_price"],
}
OPTIONAL_SHEETS = {"tariffs"}


@dataclass(frozen=True)
class CellError:
    """One problem, located as a person would find it in the spreadsheet."""

    sheet: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = (self.sheet + (f" row {self.row}" if self.row else "")
                 + (f" column {self.column}" if self.column else ""))
        return f"{where}: {self.message}"


class ImportFailed(Exception):
    """The file was not imported; `errors` lists every problem found."""

    def __init__(self, errors: list[CellError]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors
