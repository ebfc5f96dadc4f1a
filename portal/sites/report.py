"""What an import did or would do, per sheet: counts of created / updated / unchanged rows, and the rows that change.

The importer fills one report as it writes (`portal.sites.importer`); the import page shows it twice: as the
preview of a dry run that is rolled back, and as the outcome of the commit. A changed row is listed with each
field that changes, before and after, under the spreadsheet's own column names and in its units (kW, yuan), so
that a person reads it as they would read the file. Counts are exact; the rows listed stop at `LISTED` per sheet.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from portal.money import format_price

#: rows listed per sheet in a report (the counts cover every row)
LISTED = 200

#: the model's field -> the spreadsheet's column (SPEC §4), where they differ
COLUMNS = {"tenant_name": "tenant", "power_limit_w": "power_limit_kw", "gateway_id": "gateway",
           "account_id": "account", "tariff_id": "tariff", "price_e4": "unit_price"}


def shown(name: str, value) -> str | int | None:
    """A value as the spreadsheet holds it, fit for JSON: enums by value, watts as kW, a price in yuan."""
    if value is None or value == "":
        return None
    if name == "power_limit_w":
        return _plain(Decimal(int(value)).scaleb(-3))
    if name == "price_e4":
        return format_price(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return _plain(value)
    return value if isinstance(value, int | str) else str(value)


def _plain(number: Decimal) -> str:
    """A decimal without trailing zeros, never in exponent form: 10.000 -> '10' (normalize() alone gives '1E+1')."""
    return format(number.normalize(), "f")


@dataclass
class ImportReport:
    """What an import did, per sheet: created, updated, unchanged; and the first rows created or changed."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: sheet -> [{"code", "new": {column: value}} or {"code", "changed": {column: [before, after]}}]
    rows: dict[str, list[dict]] = field(default_factory=dict)
    #: the opening balances posted: how many, and their sum in fen
    openings: dict[str, int] = field(default_factory=lambda: {"count": 0, "fen": 0})

    def count(self, sheet: str, outcome: str, n: int = 1) -> None:
        """Add n rows of `sheet` to an outcome (created, updated, unchanged)."""
        if n:
            per = self.counts.setdefault(sheet, {"created": 0, "updated": 0, "unchanged": 0})
            per[outcome] += n

    def listing(self, sheet: str) -> bool:
        """Whether rows of this sheet are still listed (LISTED per sheet)."""
        return len(self.rows.get(sheet, ())) < LISTED

    def created(self, sheet: str, code: str, values: dict) -> None:
        """List a new row with its values (the model's field names; `values` may name other rows by id: those
        are given as codes by the caller)."""
        listed = self.rows.setdefault(sheet, [])
        if len(listed) < LISTED:
            listed.append({"code": code, "new": {COLUMNS.get(k, k): shown(k, v) for k, v in values.items()
                                                  if k not in ("code", "site_id", "id")}})

    def updated(self, sheet: str, code: str, changes: dict[str, tuple]) -> None:
        """List a changed row: field -> (before, after)."""
        listed = self.rows.setdefault(sheet, [])
        if len(listed) < LISTED:
            listed.append({"code": code, "changed": {COLUMNS.get(k, k): [shown(k, a), shown(k, b)]
                                                      for k, (a, b) in changes.items()}})

    @property
    def changed(self) -> bool:
        """Whether anything was created or updated."""
        return any(c["created"] or c["updated"] for c in self.counts.values())

    @property
    def total(self) -> int:
        """Rows of the file the import went through (every sheet's created + updated + unchanged)."""
        return sum(sum(c.values()) for sheet, c in self.counts.items() if sheet != "sites")

    def as_json(self) -> dict:
        """The report as the import page keeps it (SiteImport.preview)."""
        return {"counts": self.counts, "rows": self.rows, "openings": self.openings}
