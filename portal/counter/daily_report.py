"""The counter's daily sales report: one business day's money in and out, by channel and method, in fen.

Platform payments come from the orders (by the time they were paid); counter recharges, reversals,
refunds, settlements and transfers from the ledger. Amounts stay integer fen; templates and the CSV
turn them into yuan strings.
"""
from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from portal.counter.operations import method_of
from portal.ledger.receipts import receipt_numbers
from portal.models import Account, EntryKind, LedgerEntry, OrderStatus, PaymentOrder
from portal.sheets import CsvWriter, yuan_number

#: ledger kinds the counter reports (the charges of meters, fees and allocation are not sales)
COUNTER_KINDS = (EntryKind.CASH, EntryKind.REVERSAL, EntryKind.REFUND, EntryKind.SETTLEMENT, EntryKind.TRANSFER)


@dataclass(frozen=True)
class Line:
    """One movement of the day."""

    at: datetime
    section: str      # payment, cash, reversal, refund, settlement, transfer
    detail: str       # channel or method
    account_code: str
    amount_fen: int
    actor: str
    reference: str    # out_trade_no or receipt number
    entry_id: int | None = None  # the ledger entry of a counter line (its receipt's page)


@dataclass
class DailyReport:
    """The day's lines and their sums."""

    day: date
    lines: list[Line] = field(default_factory=list)

    def total(self, section: str | None = None, detail: str | None = None) -> int:
        """Sum of the lines of a section (and detail), or of all lines."""
        return sum(x.amount_fen for x in self.lines
                   if (section is None or x.section == section) and (detail is None or x.detail == detail))

    def by(self, section: str) -> list[tuple[str, int, int]]:
        """(detail, count, sum) of one section, largest detail first."""
        groups: dict[str, list[int]] = defaultdict(list)
        for x in self.lines:
            if x.section == section:
                groups[x.detail].append(x.amount_fen)
        return sorted(((d, len(v), sum(v)) for d, v in groups.items()), key=lambda t: (-abs(t[2]), t[0]))

    @property
    def cash_in_drawer(self) -> int:
        """What the drawer should hold from the day: cash recharges, their reversals, cash paid out at closure."""
        return self.total("cash", "cash") + self.total("reversal", "cash") + self.total("settlement")


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where a business day starts and ends."""
    start = datetime.combine(day, time.min, tz)
    return start.astimezone(ZoneInfo("UTC")), (start + timedelta(days=1)).astimezone(ZoneInfo("UTC"))


def daily_report(session: Session, site_ids: set[int] | None, day: date, tz: ZoneInfo) -> DailyReport:
    """Everything the counter and the platforms took in (and gave back) on one business day."""
    start, end = day_bounds(day, tz)
    report = DailyReport(day)
    orders = (select(PaymentOrder).join(PaymentOrder.account).options(contains_eager(PaymentOrder.account))
              # orders live minutes: those paid today were created since yesterday (the status index helps)
              .where(PaymentOrder.status.in_((OrderStatus.PAID, OrderStatus.CREDITED, OrderStatus.REFUNDED)),
                     PaymentOrder.created_at >= start - timedelta(days=1), PaymentOrder.created_at < end,
                     PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end))
    entries = (select(LedgerEntry).join(LedgerEntry.account).options(contains_eager(LedgerEntry.account))
               .where(LedgerEntry.kind.in_(COUNTER_KINDS), LedgerEntry.created_at >= start,
                      LedgerEntry.created_at < end,
                      # spelled as the partial index on the sparse kinds is, so the planner need not prove it
                      LedgerEntry.kind.notin_((EntryKind.ENERGY, EntryKind.WATER))))
    if site_ids is not None:
        orders = orders.where(Account.site_id.in_(site_ids))
        entries = entries.where(Account.site_id.in_(site_ids))
    for o in session.scalars(orders):
        report.lines.append(Line(o.paid_at, "payment", o.channel.value, o.account.code, o.amount_fen,
                                 o.payer or "", o.out_trade_no))
    rows = list(session.scalars(entries))
    originals = _originals(session, [e.reverses_id for e in rows if e.reverses_id])
    channels = dict(session.execute(select(PaymentOrder.id, PaymentOrder.channel).where(
        PaymentOrder.id.in_({e.order_id for e in rows if e.order_id}))).all()) if rows else {}
    numbers = receipt_numbers(session, [e.id for e in rows])
    for e in rows:
        detail = ""
        if e.kind == EntryKind.CASH:
            detail = method_of(e)
        elif e.kind == EntryKind.REVERSAL and e.reverses_id in originals:
            detail = method_of(originals[e.reverses_id])
        elif e.kind == EntryKind.REFUND and e.order_id in channels:
            detail = channels[e.order_id].value
        elif e.kind == EntryKind.SETTLEMENT:
            detail = "cash"  # paid out over the counter
        report.lines.append(Line(e.created_at, e.kind.value, detail, e.account.code, e.amount_fen, e.actor,
                                 numbers.get(e.id, ""), e.id))
    report.lines.sort(key=lambda x: x.at)
    return report


def _originals(session: Session, ids: list[int]) -> dict[int, LedgerEntry]:
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(ids)))}


def report_csv(report: DailyReport, tz: ZoneInfo) -> str:
    """The day's lines and totals as CSV (UTF-8 with BOM, so Excel opens the Chinese correctly)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = CsvWriter(out)  # payers and references come from outside: never a formula (SPEC §4)
    writer.writerow(["time", "section", "channel_or_method", "account", "amount_yuan", "by", "reference"])
    for x in report.lines:
        writer.writerow([x.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), x.section, x.detail,
                         x.account_code, yuan_number(x.amount_fen), x.actor, x.reference])
    writer.writerow([])
    for section in ("payment", "cash", "reversal", "refund", "settlement", "transfer"):
        for detail, count, total in report.by(section):
            writer.writerow(["total", section, detail, count, yuan_number(total), "", ""])
    writer.writerow(["total", "all", "", len(report.lines), yuan_number(report.total()), "", ""])
    writer.writerow(["total", "cash_in_drawer", "", "", yuan_number(report.cash_in_drawer), "", ""])
    return out.getvalue()
