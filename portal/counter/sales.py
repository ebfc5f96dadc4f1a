"""A month's sales (SPEC §4 `sales`): per business day and channel, how many payments came in and the net money.

Built from the counter's own daily report (portal.counter.daily_report), one day at a time, so the two never
disagree: platform payments by channel (wechat, alipay, …) and counter recharges by method (cash, transfer, api)
count as sales; a reversal or a refund takes its money back from the channel it came through. Settlements and
transfers between shops are not sales.
"""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Sales:
    day: date
    channel: str
    count: int
    amount_fen: int


def monthly_sales(session: Session, site_ids: set[int] | None, month: str, tz: ZoneInfo,
                  today: date | None = None) -> list[Sales]:
    """Each day of the month (up to today) and channel with any movement, by day then channel."""
    year, mon = (int(part) for part in month.split("-"))  # YYYY-MM, checked by the caller
    day = date(year, mon, 1)
    out = []
    while day.month == mon and (today is None or day <= today):
        totals: dict[str, list[int]] = {}
        for line in daily_report(session, site_ids, day, tz).lines:
            if line.section not in SECTIONS:
                continue
            per = totals.setdefault(line.detail or "", [0, 0])
            per[0] += 1 if line.amount_fen > 0 and line.section in ("payment", "cash") else 0
            per[1] += line.amount_fen
        out.extend(Sales(day, channel, n, fen) for channel, (n, fen) in sorted(totals.items()))
        day += timedelta(days=1)
    return out


def sales_xlsx(rows: list[Sales]) -> bytes:
    """The `sales` workbook of SPEC §4: the date as a date, the count and the yuan (0.00) as numbers."""
    formats = {0: "yyyy-mm-dd", 3: "0.00"}
    return report_xlsx("sales", COLUMNS, COLUMNS_ZH, (
        ([r.day, r.channel, r.count, yuan_number(r.amount_fen)], formats) for r in rows))
