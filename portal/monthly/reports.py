"""Monthly reports: each shop's money for a month (the statement's ledger side: portal.monthly.statement), and line
loss of master meters against sub-meters.

A statement is opening balance, the month's movements by kind and closing balance. Opening and closing
are the `balance_after_fen` of the shop's last entry before the month and before its end (an index
probe each, not a sum over its history); the month's movements other than energy charges are grouped
sums over their few rows; energy is the rest. A month of 15-minute charges for 10,000 shops is ~29
million rows: summing them would take seconds, these probes take milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, and_, func, select, type_coerce
from sqlalchemy.orm import Session

from portal.metering.consumption import failed_readings, used_between
from portal.models import Account, EntryKind, FeeCharge, LedgerEntry, Meter
from portal.models.billing_runs import SPARSE_KINDS

#: the report's columns and the entry kinds each one adds up (everything else is "other")
COLUMNS = {
    "payments": (EntryKind.PAYMENT, EntryKind.CASH),
    "refunds": (EntryKind.REFUND,),
    "energy": (EntryKind.ENERGY,),
    "water": (EntryKind.WATER,),
    "fee": (EntryKind.FEE,),
    "allocation": (EntryKind.ALLOCATION,),
}
_COLUMN_OF = {kind.value: name for name, kinds in COLUMNS.items() for kind in kinds}


@dataclass
class Statement:
    """One shop's month: balances and signed movements in fen."""

    account_id: int
    code: str
    name: str
    opening_fen: int
    #: signed fen per entry kind that moved this month
    by_kind: dict[str, int] = field(default_factory=dict)
    #: property fee of this month left unpaid (fee arrears added by the month's fee run)
    fee_unpaid_fen: int = 0
    #: the balance after the month's last entry, when read from the ledger (else opening + movements)
    closing: int | None = None

    @property
    def closing_fen(self) -> int:
        return self.opening_fen + sum(self.by_kind.values())

    def column(self, name: str) -> int:
        """The signed sum of the column's kinds ("other": the kinds no column names)."""
        if name == "other":
            return sum(v for k, v in self.by_kind.items() if k not in _COLUMN_OF)
        return sum(v for k, v in self.by_kind.items() if _COLUMN_OF.get(k) == name)


def _balance_before(at: datetime):
    """The account's balance just before `at`: its last entry's balance_after (one index probe)."""
    return (select(LedgerEntry.balance_after_fen)
            .where(LedgerEntry.account_id == Account.id, LedgerEntry.created_at < at)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(1)
            .correlate(Account).scalar_subquery())


def monthly_report(session: Session, site_id: int, month: str, start: datetime, end: datetime) -> list[Statement]:
    """Every shop of the site that existed during the month, by code.

    Energy charges, the one dense kind (an entry per meter per 15 minutes), are not summed: they are
    what remains of closing - opening once the other kinds (few rows, found by partial indexes) are.
    """
    rows = {r[0]: Statement(r[0], r[1], r[2], int(r[3]), closing=int(r[4])) for r in session.execute(
        select(Account.id, Account.code, Account.name, func.coalesce(_balance_before(start), 0),
               func.coalesce(_balance_before(end), 0))
        .where(Account.site_id == site_id, Account.created_at < end).order_by(Account.code))}
    in_month = and_(Account.site_id == site_id, LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    for condition in (SPARSE_KINDS, LedgerEntry.kind == EntryKind.WATER):
        for account_id, kind, total in session.execute(
                # the kind as its stored text: the enum's result processing cost more than the query's rows
                select(LedgerEntry.account_id, type_coerce(LedgerEntry.kind, String), func.sum(LedgerEntry.amount_fen))
                .join(Account, Account.id == LedgerEntry.account_id).where(in_month, condition)
                .group_by(LedgerEntry.account_id, LedgerEntry.kind)):
            if account_id in rows:
                rows[account_id].by_kind[kind] = int(total)
    for s in rows.values():
        energy = s.closing - s.opening_fen - sum(s.by_kind.values())
        if energy:
            s.by_kind[EntryKind.ENERGY.value] = energy
    unpaid = session.execute(
        select(FeeCharge.account_id, FeeCharge.arrears_fen).join(Account, Account.id == FeeCharge.account_id)
        .where(Account.site_id == site_id, FeeCharge.month == month, FeeCharge.arrears_fen > 0))
    for account_id, arrears in unpaid:
        if account_id in rows:
            rows[account_id].fee_unpaid_fen = int(arrears)
    return list(rows.values())


@dataclass
class LineLoss:
    """A master meter against the sum of its sub-meters over a period (0.01 kWh or litres)."""

    meter_id: int
    code: str
    name: str
    kind: str = "electric"
    used: int = 0
    subs: list[tuple[str, str, int]] = field(default_factory=list)
    #: intervals of the master or its sub-meters that failed validation (no delta): numbers are short
    gaps: int = 0

    @property
    def subs_used(self) -> int:
        return sum(u for _, _, u in self.subs)

    @property
    def loss(self) -> int:
        return self.used - self.subs_used

    @property
    def loss_bp(self) -> int | None:
        """Loss in hundredths of a percent of the master's consumption; None when it used nothing."""
        return self.loss * 10000 // self.used if self.used else None


def line_loss(session: Session, site_id: int, start: datetime, end: datetime) -> list[LineLoss]:
    """Every master meter of the site with its direct sub-meters, for readings closing in (start, end]: read off
    the daily roll-ups for a period of whole business days (a month), with the count of readings that failed
    validation off their small partial index."""
    subs = session.execute(
        select(Meter.id, Meter.code, Meter.name, Meter.parent_meter_id)
        .where(Meter.site_id == site_id, Meter.parent_meter_id.is_not(None)).order_by(Meter.code)).all()
    if not subs:
        return []
    master_ids = {p for _, _, _, p in subs}
    masters = {m.id: LineLoss(m.id, m.code, m.name, m.kind.value) for m in session.execute(
        select(Meter.id, Meter.code, Meter.name, Meter.kind).where(Meter.id.in_(master_ids)).order_by(Meter.code))}
    meter_ids = master_ids | {row[0] for row in subs}
    used, gaps = used_between(session, meter_ids, start, end), failed_readings(session, meter_ids, start, end)
    for master in masters.values():
        master.used, master.gaps = used[master.meter_id], gaps[master.meter_id]
    for meter_id, code, name, parent in subs:
        masters[parent].subs.append((code, name, used[meter_id]))
        masters[parent].gaps += gaps[meter_id]
    return list(masters.values())
