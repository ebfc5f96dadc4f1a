"""Import a site's gateways, accounts, meters and flat tariffs from a spreadsheet (SPEC §4).

All-or-nothing: every row is checked first and every error is reported by sheet, row and column;
nothing is written unless the whole file is valid. Rows are matched by code, so importing the same
file again changes nothing, and an opening balance is posted once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal.bulk import postgresql
from portal.ledger.entries import post_entry
from portal.metering.books import BOOKS
from portal.models import Account, EntryKind, Gateway, Meter, Site, Tariff, TariffKind, TariffVersion, utcnow
from portal.sites.checks import RowChecker
from portal.sites.sheets import CellError

#: the first version of an imported tariff prices everything before it too
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
class ImportFailed(Exception):
    """The file was not imported; `errors` lists every problem found."""

    def __init__(self, errors: list[CellError]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass
class ImportReport:
    """What an import did, per sheet: created, updated, unchanged."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, sheet: str, outcome: str) -> None:
        per = self.counts.setdefault(sheet, {"created": 0, "updated": 0, "unchanged": 0})
        per[outcome] += 1

    @property
    def changed(self) -> bool:
        return any(c["created"] or c["updated"] for c in self.counts.values())


def read_workbook(path: str | Path) -> dict[str, list[tuple[int, dict]]]:
    """Sheets as lists of (row number, {header: value}); blank rows skipped, headers lower-cased."""
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not xlsx
        raise ImportFailed([CellError(Path(path).name, None, None, f"not a readable .xlsx file ({exc})")]) from exc
    sheets = {}
    for ws in wb.worksheets:
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None) or ()
        names = [str(h).strip().lower() if h is not None else "" for h in header]
        body = []
        for number, values in enumerate(rows, start=2):
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            body.append((number, {n: v for n, v in zip(names, values) if n}))
        sheets[ws.title.strip().lower()] = (names, body)
    wb.close()
    return sheets



def import_site(session: Session, path: str | Path, site_code: str | None = None,
                actor: str = "system:import") -> ImportReport:
    """Validate the whole file, then upsert it into one site; raises ImportFailed without writing."""
    sheets = read_workbook(path)
    site_code = (site_code or "default").strip()
    site = session.execute(select(Site).where(Site.code == site_code)).scalar_one_or_none()
    checker = RowChecker(session, site)
    data = checker.check(sheets)
    if checker.errors:
        raise ImportFailed(checker.errors)

    report = ImportReport()
    if site is None:
        site = Site(code=site_code, name=site_code)
        session.add(site)
        session.flush()
        report.count("sites", "created")
    tariffs = {t.code: t for t in session.execute(select(Tariff).where(Tariff.site_id == site.id)).scalars()}
    for row in data["tariffs"]:
        _upsert_tariff(session, site, tariffs, row, report)
    gateways = _upsert_all(session, site, Gateway, data["gateways"], report, "gateways")
    accounts = _upsert_all(session, site, Account, data["accounts"], report, "accounts")
    for row in data["accounts"]:
        if row.get("opening_fen"):
            post_entry(session, accounts[row["code"]], row["opening_fen"], EntryKind.OPENING,
                       f"opening:{site.code}:{row['code']}", memo="opening balance (import)", actor=actor)
    for row in data["meters"]:
        row["gateway_id"] = gateways[row.pop("gateway")].id
        acct = row.pop("account")
        row["account_id"] = accounts[acct].id if acct else None
        tcode = row.pop("tariff")
        row["tariff_id"] = tariffs[tcode].id if tcode else None
    if postgresql(session):
        # Checked at commit instead of per row, so meters may swap unit ids within one file.
        session.execute(text("SET CONSTRAINTS uq_meters_gateway_id_unit_id DEFERRED"))
    modes = dict(session.execute(select(Meter.code, Meter.control_mode).where(Meter.site_id == site.id)).all())
    meters = _upsert_all(session, site, Meter, data["meters"], report, "meters")
    for code, meter in meters.items():
        if code in modes and modes[code] != meter.control_mode:
            for name in BOOKS:  # its books (meter mode) start again at its next read
                setattr(meter, name, None)
    session.flush()
    return report


def _upsert_all(session, site, model, rows, report, sheet) -> dict:
    existing = {o.code: o for o in session.execute(select(model).where(model.site_id == site.id)).scalars()}
    for row in rows:
        values = {k: v for k, v in row.items() if k != "opening_fen"}
        obj = existing.get(row["code"])
        if obj is None:
            obj = model(site_id=site.id, **values)
            session.add(obj)
            existing[row["code"]] = obj
            report.count(sheet, "created")
        elif any(getattr(obj, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(obj, k, v)
            report.count(sheet, "updated")
        else:
            report.count(sheet, "unchanged")
    session.flush()
    return existing


def _upsert_tariff(session, site, tariffs, row, report) -> None:
    tariff = tariffs.get(row["code"])
    if tariff is None:
        tariff = Tariff(site_id=site.id, code=row["code"], name=row["name"], kind=TariffKind.FLAT)
        session.add(tariff)
        session.flush()
        session.add(TariffVersion(tariff_id=tariff.id, effective_from=EPOCH, unit_price_e4=row["price_e4"]))
        tariffs[row["code"]] = tariff
        report.count("tariffs", "created")
        if site.default_tariff_id is None:
            site.default_tariff_id = tariff.id
        return
    current = tariff.versions[-1] if tariff.versions else None
    changed = tariff.name != row["name"]
    tariff.name = row["name"]
    if current is None or current.unit_price_e4 != row["price_e4"]:
        # A new price applies from now on; the past keeps the price it was charged at.
        session.add(TariffVersion(tariff_id=tariff.id, effective_from=utcnow(), unit_price_e4=row["price_e4"]))
        changed = True
    report.count("tariffs", "updated" if changed else "unchanged")

