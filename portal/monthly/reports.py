"""Monthly reports: each shop's money for a month (the statement's ledger side: portal.monthly.statement), and line
loss of master meters against sub-meters.

A statement is opening balance, the month's movements by kind and closing balance. Opening and closing
are the `balance_after_fen` of the shop's last entry before the month and before its end (an index
probe each, not a sum over its history); the month's movements other than energy charges are grouped
sums over their few rows; energy is the rest. A month of 15-minute charges for 10,000 shops is ~29
million rows: summing them would take seconds, these probes take milliseconds.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, and_, func, select, type_coerce
from sqlalchemy.engine import Connectable
from sqlalchemy.orm import Session

from portal.bulk import among, chunks
from portal.metering.consumption import failed_readings, used_between
from portal.models import Account, EntryKind, FeeCharge, LedgerEntry, Meter
from portal.models.billing_runs import SPARSE_KINDS
from portal.snapshot import shared_snapshot, shares_snapshots

#: shops per balance query when a report is read side by side (its first rows are written while the rest is read)
PART = 2000

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
    moved, unpaid = _movements(session, site_id, month, start, end)
    return [_with_movements(s, moved, unpaid) for s in _balances(session, site_id, start, end)]


def monthly_report_side_by_side(bind: Connectable, site_id: int, month: str, start: datetime, end: datetime,
                                part: int = PART) -> Iterator[Statement]:
    """`monthly_report`, yielded shop by shop while it is still being read: the month's movements on one
    connection and the balances, `part` shops a query, on another, both in one snapshot
    (portal.snapshot), so a spreadsheet can be written from the first shops while the rest are read.
    On a database that cannot share a snapshot (the demo's SQLite) it is read in one go."""
    if not shares_snapshots(bind):
        with Session(bind=bind) as session:
            yield from monthly_report(session, site_id, month, start, end)
        return
    with shared_snapshot(bind, 2) as (shops, movements), ThreadPoolExecutor(1) as shop_side, \
            ThreadPoolExecutor(1) as movement_side:
        moves = movement_side.submit(_movements, movements, site_id, month, start, end)
        parts = iter(chunks(shops.scalars(_shops(site_id, end)).all(), part))
        reading = _next_part(shop_side, shops, site_id, start, end, parts)
        while reading is not None:
            done = reading.result()
            reading = _next_part(shop_side, shops, site_id, start, end, parts)  # read while these are written
            moved, unpaid = moves.result()
            for s in done:
                yield _with_movements(s, moved, unpaid)


def _next_part(pool: ThreadPoolExecutor, session: Session, site_id: int, start: datetime, end: datetime,
               parts: Iterator[Sequence[int]]) -> Future[list[Statement]] | None:
    ids = next(parts, None)
    return None if ids is None else pool.submit(_balances, session, site_id, start, end, ids)


def _shops(site_id: int, end: datetime):
    """The site's shops that existed before `end`, by code."""
    return select(Account.id).where(Account.site_id == site_id, Account.created_at < end).order_by(Account.code)


def _balances(session: Session, site_id: int, start: datetime, end: datetime,
              ids: Sequence[int] | None = None) -> list[Statement]:
    """The shops (those of `ids` only, when given) with their balances at the month's ends, by code."""
    query = _shops(site_id, end).with_only_columns(
        Account.id, Account.code, Account.name, func.coalesce(_balance_before(start), 0),
        func.coalesce(_balance_before(end), 0))
    if ids is not None:
        query = query.where(among(session, Account.id, ids))
    return [Statement(r[0], r[1], r[2], int(r[3]), closing=int(r[4])) for r in session.execute(query)]


def _movements(session: Session, site_id: int, month: str, start: datetime,
               end: datetime) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    """The month's movements of the site's shops other than energy charges, signed fen by account and kind; and
    the month's property fee each left unpaid."""
    moved: dict[int, dict[str, int]] = {}
    in_month = and_(Account.site_id == site_id, LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    for condition in (SPARSE_KINDS, LedgerEntry.kind == EntryKind.WATER):
        for account_id, kind, total in session.execute(
                # the kind as its stored text: the enum's result processing cost more than the query's rows
                select(LedgerEntry.account_id, type_coerce(LedgerEntry.kind, String), func.sum(LedgerEntry.amount_fen))
                .join(Account, Account.id == LedgerEntry.account_id).where(in_month, condition)
                .group_by(LedgerEntry.account_id, LedgerEntry.kind)):
            moved.setdefault(account_id, {})[kind] = int(total)
    unpaid = {account_id: int(arrears) for account_id, arrears in session.execute(
        select(FeeCharge.account_id, FeeCharge.arrears_fen).join(Account, Account.id == FeeCharge.account_id)
        .where(Account.site_id == site_id, FeeCharge.month == month, FeeCharge.arrears_fen > 0))}
    return moved, unpaid


def _with_movements(s: Statement, moved: dict[int, dict[str, int]], unpaid: dict[int, int]) -> Statement:
    """The shop's statement completed: its sparse movements, energy as the rest, its unpaid fee."""
    s.by_kind = dict(moved.get(s.account_id, {}))
    energy = s.closing - s.opening_fen - sum(s.by_kind.values())
    if energy:
        s.by_kind[EntryKind.ENERGY.value] = energy
    s.fee_unpaid_fen = unpaid.get(s.account_id, 0)
    return s


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
