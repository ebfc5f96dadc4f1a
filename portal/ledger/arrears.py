"""The arrears list (SPEC §4 `arrears`): the shops of a site whose balance is at or below zero, since when, and
whether their supply is off.

"Since" is when the balance last went from above zero to zero or below: the first entry after the latest entry
that left it above zero (a shop that never had money: its first entry). One statement for the whole site.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from portal.models import Account, AccountStatus, LedgerEntry, Meter, MeterState, Site, Supply
from portal.sheets import report_xlsx, yuan_number

#: SPEC §4: the sheet's columns, in order
COLUMNS = ("account", "balance_yuan", "since", "supply")
COLUMNS_ZH = ("商户", "余额（元）", "欠费起始", "供电（on 通电 / off 断电 / mixed 部分断电）")


@dataclass(frozen=True)
class InArrears:
    account: str
    name: str
    balance_fen: int
    since: datetime | None
    #: on, off, or mixed (some of its meters off); "" when it has no meter with a relay reading
    supply: str


def arrears_list(session: Session, site: Site) -> list[InArrears]:
    """Active shops of the site at or below zero, the longest in arrears first."""
    e = LedgerEntry
    last_positive = (select(e.account_id, func.max(e.id).label("id")).join(Account, Account.id == e.account_id)
                     .where(Account.site_id == site.id, Account.balance_fen <= 0, e.balance_after_fen > 0)
                     .group_by(e.account_id).subquery())
    since = (select(e.account_id, func.min(e.created_at).label("at"))
             .join(Account, Account.id == e.account_id)
             .outerjoin(last_positive, last_positive.c.account_id == e.account_id)
             .where(Account.site_id == site.id, Account.balance_fen <= 0,
                    and_(e.id > func.coalesce(last_positive.c.id, 0)))
             .group_by(e.account_id).subquery())
    supply = (select(Meter.account_id,
                     func.count().filter(MeterState.supply_actual == Supply.OFF).label("off"),
                     func.count().filter(MeterState.supply_actual == Supply.ON).label("on"))
              .join(MeterState, MeterState.meter_id == Meter.id)
              .where(Meter.site_id == site.id).group_by(Meter.account_id).subquery())
    rows = session.execute(
        select(Account.code, Account.name, Account.balance_fen, since.c.at, supply.c.on, supply.c.off)
        .outerjoin(since, since.c.account_id == Account.id)
        .outerjoin(supply, supply.c.account_id == Account.id)
        .where(Account.site_id == site.id, Account.status == AccountStatus.ACTIVE, Account.balance_fen <= 0)).all()
    found = [InArrears(code, name, balance, at, _supply(on or 0, off or 0))
             for code, name, balance, at, on, off in rows]
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(found, key=lambda r: (r.since is None, r.since or never, r.account))


def _supply(on: int, off: int) -> str:
    if on and off:
        return "mixed"
    return "off" if off else ("on" if on else "")


def arrears_xlsx(rows: list[InArrears], tz) -> bytes:
    """The `arrears` workbook of SPEC §4: balance as yuan numbers (0.00), since as a date-time in business time."""
    formats = {1: "0.00", 2: "yyyy-mm-dd hh:mm"}
    return report_xlsx("arrears", COLUMNS, COLUMNS_ZH, (
        ([r.account, yuan_number(r.balance_fen), r.since.astimezone(tz).replace(tzinfo=None) if r.since else None,
          r.supply], formats) for r in rows), widths=(14, 14, 18, 8))
