"""Import a site's gateways, accounts, meters and flat tariffs from a spreadsheet (SPEC §4).

All-or-nothing: every row is checked first and every error is reported by sheet, row and column;
nothing is written unless the whole file is valid. Rows are matched by code, so importing the same
file again changes nothing, and an opening balance is posted once.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from portal.bulk import insert_rows, postgresql, update_rows
from portal.ledger.bulk import Movement, lock_balances, post_many
from portal.metering.books import BOOKS
from portal.models import (
    Account,
    EntryKind,
    Gateway,
    Meter,
    Site,
    Tariff,
    TariffKind,
    TariffVersion,
    utcnow,
)
from portal.settings import ImportSettings, import_limits
from portal.sites.checks import RowChecker, posted_openings
from portal.sites.reader import open_workbook, read_workbook
from portal.sites.report import ImportReport
from portal.sites.sheets import ImportFailed
from portal.tariffs.versions import BEGINNING

__all__ = ["ImportFailed", "ImportReport", "import_site", "read_workbook"]

#: the first version of an imported tariff prices everything before it too
EPOCH = BEGINNING  # the first prices hold from the beginning (shown as "always")


def import_site(session: Session, path: str | Path, site_code: str | None = None,
                actor: str = "system:import", limits: ImportSettings | None = None,
                progress: Callable[[int], None] | None = None) -> ImportReport:
    """Validate the whole file, then upsert it into one site; raises ImportFailed without writing.

    A file over a limit (`limits`, by default the app's IMPORT_MAX_* settings) is refused before it is parsed.
    `progress(rows)` is told how many rows of the file have been written after each sheet (the import page's bar).
    """
    site_code = (site_code or "default").strip()
    site = session.execute(select(Site).where(Site.code == site_code)).scalar_one_or_none()
    checker = RowChecker(session, site)
    with open_workbook(path, limits or import_limits()) as sheets:
        data = checker.check(sheets)  # rows are checked as they stream; only the clean ones are kept
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
    session.flush()
    _tell(progress, report)
    gateways = _upsert_all(session, site, Gateway, data["gateways"], report, "gateways")
    _tell(progress, report)
    openings = {row["code"]: row.pop("opening_fen") for row in data["accounts"]}
    had = set(session.scalars(select(Account.id).where(Account.site_id == site.id)))
    accounts = _upsert_all(session, site, Account, data["accounts"], report, "accounts")
    report.openings = _post_openings(session, site, accounts, had, openings, actor)
    _tell(progress, report)
    for row in data["meters"]:
        row["gateway_id"] = gateways[row.pop("gateway")]
        acct = row.pop("account")
        row["account_id"] = accounts[acct] if acct else None
        tcode = row.pop("tariff")
        row["tariff_id"] = tariffs[tcode].id if tcode else None
    if postgresql(session):
        # Checked at commit instead of per row, so meters may swap unit ids within one file.
        session.execute(text("SET CONSTRAINTS uq_meters_gateway_id_unit_id DEFERRED"))
    modes = dict(session.execute(select(Meter.code, Meter.control_mode).where(Meter.site_id == site.id)).all())
    codes = {"gateway_id": _inverse(gateways), "account_id": _inverse(accounts),
             "tariff_id": {t.id: code for code, t in tariffs.items()}}
    meters = _upsert_all(session, site, Meter, data["meters"], report, "meters", codes)
    switched = [meters[r["code"]] for r in data["meters"]
                if r["code"] in modes and modes[r["code"]] != r["control_mode"]]
    if switched:  # their books (meter mode) start again at their next read
        session.execute(update(Meter).where(Meter.id.in_(switched)).values(dict.fromkeys(BOOKS)))
    _forget(session, site.id)
    session.flush()
    _tell(progress, report)
    return report


def _tell(progress: Callable[[int], None] | None, report: ImportReport) -> None:
    if progress is not None:
        progress(report.total)


def _inverse(ids: dict[str, int]) -> dict[int, str]:
    return {row_id: code for code, row_id in ids.items()}


def _post_openings(session: Session, site: Site, accounts: dict, had: set[int], openings: dict[str, int],
                   actor: str) -> dict[str, int]:
    """Each opening balance once (the checker refused one that differs from what was posted). The accounts
    created by this import start at 0 and nobody else sees them yet: only the others are locked."""
    posted = posted_openings(session, site.id)
    movements = [Movement(accounts[code], fen, f"opening:{site.code}:{code}", "opening balance (import)")
                 for code, fen in openings.items() if fen and code not in posted]
    balances = lock_balances(session, [m.account_id for m in movements if m.account_id in had])
    balances.update((m.account_id, 0) for m in movements if m.account_id not in had)
    # known_new: the keys were looked up above; one posted meanwhile by another import fails this one whole
    post_many(session, movements, EntryKind.OPENING, actor=actor, balances=balances, known_new=True)
    return {"count": len(movements), "fen": sum(m.amount_fen for m in movements)}


def _upsert_all(session: Session, site: Site, model, rows: list[dict], report: ImportReport, sheet: str,
                codes: dict[str, dict[int, str]] | None = None) -> dict:
    """Insert the new rows and update the changed ones set-wise (portal.bulk: a 50,000-row sheet in a few
    statements, no ORM object per row); returns code -> id of every row of the site.

    The report lists the rows created and changed; `codes` names the rows that ids refer to (field -> id -> code).
    """
    codes = codes or {}

    def named(k, v):
        return codes[k].get(v, v) if k in codes and v is not None else v

    columns = list(rows[0]) if rows else []
    existing = {r.code: r for r in session.execute(
        select(model.id, model.code, *(getattr(model, c) for c in columns if c != "code"))
        .where(model.site_id == site.id))}
    new, changed = [], []
    for row in rows:
        old = existing.get(row["code"])
        if old is None:
            if report.listing(sheet):  # a dict per row only for the rows listed: a sheet may have 100,000
                report.created(sheet, row["code"], {k: named(k, v) for k, v in row.items()})
            row["site_id"] = site.id  # the rows are the checker's own, used once: completed in place
            new.append(row)
        elif differ := {k: (named(k, getattr(old, k)), named(k, v)) for k, v in row.items() if getattr(old, k) != v}:
            report.updated(sheet, row["code"], differ)
            row["id"] = old.id
            changed.append(row)
    report.count(sheet, "created", len(new))
    report.count(sheet, "updated", len(changed))
    report.count(sheet, "unchanged", len(rows) - len(new) - len(changed))
    insert_rows(session, model.__table__, _with_defaults(model.__table__, new))
    update_rows(session, model.__table__, "id", changed)
    if not new:
        return {code: r.id for code, r in existing.items()}
    return dict(session.execute(select(model.code, model.id).where(model.site_id == site.id)).tuples().all())


def _with_defaults(table, rows: list[dict]) -> list[dict]:
    """The rows with the columns' Python-side defaults (supply on, counters at 0...), which the ORM would add
    and a set-wise INSERT does not."""
    if not rows:
        return rows
    defaults = {}
    for column in table.columns:
        if column.key not in rows[0] and column.default is not None and not column.primary_key:
            default = column.default
            defaults[column.key] = default.arg(None) if default.is_callable else default.arg
    for row in rows:  # in place: a copy of 50,000 rows is 50 MB more at the peak
        row.update(defaults)
    return rows


def _forget(session: Session, site_id: int) -> None:
    """Rows of the site already in the session were written under its feet: reload them when next read."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (Gateway, Account, Meter)) and obj.site_id == site_id:
            session.expire(obj)


def _upsert_tariff(session, site, tariffs, row, report) -> None:
    tariff = tariffs.get(row["code"])
    if tariff is None:
        tariff = Tariff(site_id=site.id, code=row["code"], name=row["name"], kind=TariffKind.FLAT)
        session.add(tariff)
        session.flush()
        session.add(TariffVersion(tariff_id=tariff.id, effective_from=EPOCH, unit_price_e4=row["price_e4"]))
        tariffs[row["code"]] = tariff
        report.count("tariffs", "created")
        report.created("tariffs", row["code"], {"name": row["name"], "price_e4": row["price_e4"]})
        if site.default_tariff_id is None:
            site.default_tariff_id = tariff.id
        return
    current = tariff.versions[-1] if tariff.versions else None
    differ = {"name": (tariff.name, row["name"])} if tariff.name != row["name"] else {}
    tariff.name = row["name"]
    if current is None or current.unit_price_e4 != row["price_e4"]:
        # A new price applies from now on; the past keeps the price it was charged at.
        session.add(TariffVersion(tariff_id=tariff.id, effective_from=utcnow(), unit_price_e4=row["price_e4"]))
        differ["price_e4"] = (current.unit_price_e4 if current else None, row["price_e4"])
    report.count("tariffs", "updated" if differ else "unchanged")
    if differ:
        report.updated("tariffs", row["code"], differ)

