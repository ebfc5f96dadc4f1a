"""The monthly energy report (SPEC §4 `energy`): each meter's opening and closing reading and its use in a month.

Read from the daily roll-ups (portal.metering.usage.site_period), never from the 15-minute readings, so a month
of a 10,000-meter site is three statements. Amounts stay in the readings' stored units (0.01 kWh, litres) until they
are shown or written: `as_number` turns them into exact decimals of kWh or m³.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.metering.usage import UNITS, month_days, site_period, unit
from portal.models import Account, Meter, MeterKind, Site
from portal.sheets import report_xlsx

#: SPEC §4: the sheet's columns, in order
COLUMNS = ("meter", "account", "kind", "unit", "opening_reading", "closing_reading", "usage")
#: the same in Chinese, for the header's comments (never as extra rows above the data)
COLUMNS_ZH = ("电表", "商户（公共表为空）", "类型", "单位", "期初读数", "期末读数", "用量")


@dataclass(frozen=True)
class EnergyRow:
    """One meter's month; readings None when the meter reported nothing that month."""

    meter: str
    account: str
    kind: MeterKind
    opening: int | None
    closing: int | None
    usage: int
    #: the money its days charged, by the shop charged (a meter moved in the month charged two)
    charged: dict[str, int] = field(default_factory=dict)


def as_number(amount: int | None, kind: MeterKind) -> Decimal | None:
    """Stored units as an exact decimal of kWh (two places) or m³ (three places)."""
    if amount is None:
        return None
    return Decimal(int(amount)).scaleb(-UNITS[MeterKind(kind)][1])


def energy_rows(session: Session, site: Site, month: str) -> list[EnergyRow]:
    """Every meter of the site, by code, with its shop now: its readings at the month's ends, its use and the money
    its days charged, by shop (portal.metering.usage.site_period: one pass over the month's roll-ups)."""
    first, last = month_days(month)
    meters = session.execute(
        select(Meter.id, Meter.code, Meter.kind, Account.code).outerjoin(Account, Meter.account_id == Account.id)
        .where(Meter.site_id == site.id).order_by(Meter.code)).all()
    codes = dict(session.execute(select(Account.id, Account.code).where(Account.site_id == site.id)).tuples().all())
    parts: dict[int, list] = {}
    for p in site_period(session, site.id, first, last):
        parts.setdefault(p.meter_id, []).append(p)
    out = []
    for mid, code, kind, account in meters:
        mine = parts.get(mid, [])
        read = sorted((p for p in mine if p.first_day is not None), key=lambda p: p.first_day)
        charged: dict[str, int] = {}
        for p in mine:
            if p.charged_fen and p.account_id in codes:
                charged[codes[p.account_id]] = charged.get(codes[p.account_id], 0) + p.charged_fen
        out.append(EnergyRow(code, account or "", kind, read[0].opening if read else None,
                             max(read, key=lambda p: p.last_day).closing if read else None,
                             sum(p.usage for p in mine), charged))
    return out


def totals(rows: list[EnergyRow]) -> dict[MeterKind, dict[str, int]]:
    """Use by kind, shops' meters and common meters apart (kWh and m³ never added together)."""
    out: dict[MeterKind, dict[str, int]] = {}
    for r in rows:
        per = out.setdefault(r.kind, {"shops": 0, "common": 0, "meters": 0})
        per["shops" if r.account else "common"] += r.usage
        per["meters"] += 1
    return out


def energy_xlsx(rows: list[EnergyRow]) -> bytes:
    """The `energy` workbook of SPEC §4: one row per meter, readings and usage as numbers with their decimals,
    codes as text that no spreadsheet evaluates."""
    formats = {kind: dict.fromkeys((4, 5, 6), "0." + "0" * UNITS[kind][1]) for kind in MeterKind}
    return report_xlsx("energy", COLUMNS, COLUMNS_ZH, (
        ([r.meter, r.account, r.kind.value, unit(r.kind), as_number(r.opening, r.kind), as_number(r.closing, r.kind),
          as_number(r.usage, r.kind)], formats[r.kind]) for r in rows), widths=(12, 12, 10, 6, 16, 16, 12))
