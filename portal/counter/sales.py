"""A month's sales (SPEC §4 `sales`): per business day and channel, how many payments came in and the net money.

Built from the counter's own daily report (portal.counter.daily_report), one day at a time, so the two never
disagree: platform payments by channel (wechat, alipay, …) and counter recharges by method (cash, transfer, api)
count as sales; a reversal or a refund takes its money back from the channel it came through. Settlements and
transfers between shops are not sales.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.counter.daily_report import daily_report
from portal.sheets import report_xlsx, yuan_number

#: SPEC §4: the sheet's columns, in order
COLUMNS = ("date", "channel", "count", "amount_yuan")
COLUMNS_ZH = ("营业日", "渠道（wechat 微信 / alipay 支付宝 / cash 现金 / transfer 转账 / api 接口）", "笔数",
              "净额（元）")
#: the daily report's sections that are sales, or take sales back
SECTIONS = ("payment", "cash", "reversal", "refund")


#: the sections a cashier takes in or gives back at the counter
COUNTER_SECTIONS = ("cash", "reversal")


@dataclass(frozen=True)
class Sales:
    day: date
    channel: str
    count: int
    amount_fen: int


@dataclass(frozen=True)
class CashierSales:
    """What one member of staff took in over the counter in the month: recharges, and their reversals."""

    actor: str
    count: int
    amount_fen: int
    reversed_fen: int


@dataclass
class MonthSales:
    """A month's sales by day and channel (the SPEC sheet's rows) and by cashier."""

    rows: list[Sales] = field(default_factory=list)
    cashiers: list[CashierSales] = field(default_factory=list)

    def channels(self) -> list[str]:
        return sorted({r.channel for r in self.rows})

    def by_day(self) -> dict[date, dict[str, Sales]]:
        """Day → channel → its sales, days in order."""
        out: dict[date, dict[str, Sales]] = {}
        for r in self.rows:
            out.setdefault(r.day, {})[r.channel] = r
        return out

    def total(self, channel: str | None = None) -> int:
        return sum(r.amount_fen for r in self.rows if channel is None or r.channel == channel)


def month_sales(session: Session, site_ids: set[int] | None, month: str, tz: ZoneInfo,
                today: date | None = None) -> MonthSales:
    """Each day of the month (up to today) and channel with any movement, by day then channel; and per cashier."""
    year, mon = (int(part) for part in month.split("-"))  # YYYY-MM, checked by the caller
    day = date(year, mon, 1)
    out = MonthSales()
    cashiers: dict[str, list[int]] = {}
    while day.month == mon and (today is None or day <= today):
        totals: dict[str, list[int]] = {}
        for line in daily_report(session, site_ids, day, tz).lines:
            if line.section not in SECTIONS:
                continue
            per = totals.setdefault(line.detail or "", [0, 0])
            per[0] += 1 if line.amount_fen > 0 and line.section in ("payment", "cash") else 0
            per[1] += line.amount_fen
            if line.section in COUNTER_SECTIONS:
                mine = cashiers.setdefault(line.actor, [0, 0, 0])
                mine[0] += line.section == "cash"
                mine[1 if line.section == "cash" else 2] += line.amount_fen
        out.rows.extend(Sales(day, channel, n, fen) for channel, (n, fen) in sorted(totals.items()))
        day += timedelta(days=1)
    out.cashiers = [CashierSales(actor, n, fen, back) for actor, (n, fen, back) in sorted(cashiers.items())]
    return out


def monthly_sales(session: Session, site_ids: set[int] | None, month: str, tz: ZoneInfo,
                  today: date | None = None) -> list[Sales]:
    """The SPEC sheet's rows: each day of the month (up to today) and channel with any movement."""
    return month_sales(session, site_ids, month, tz, today).rows


def sales_xlsx(rows: list[Sales]) -> bytes:
    """The `sales` workbook of SPEC §4: the date as a date, the count and the yuan (0.00) as numbers."""
    formats = {0: "yyyy-mm-dd", 3: "0.00"}
    return report_xlsx("sales", COLUMNS, COLUMNS_ZH, (
        ([r.day, r.channel, r.count, yuan_number(r.amount_fen)], formats) for r in rows))
