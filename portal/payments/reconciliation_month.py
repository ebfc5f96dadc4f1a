"""One site's side of the daily reconciliation (portal.payments.reconciliation): a day's mismatches that concern
its orders, the days of a month with their counts, the bills stored per day, and the month as a workbook.

Orders belong to shops, shops to sites: a mismatch about an order is its shop's site's. A trade number we have no
order for belongs to no shop; it is filed under the site its alarm went to (`home_site`), so someone sees it.
The reports compare the bills already stored; nothing here downloads (the daily job does, and the page queues it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Account, BillLine, PaymentOrder
from portal.payments.reconciliation import Mismatch, configured_sources, home_site, reconciliation_report
from portal.sheets import report_xlsx, yuan_number

#: the workbook's columns, and their Chinese names for the header's comments
COLUMNS = ("date", "kind", "source", "out_trade_no", "platform_trade_no", "account", "bill_yuan", "order_yuan",
           "order_status", "detail")
COLUMNS_ZH = ("账单日",
              "差异类型：paid_not_credited 已付未入账，credited_not_on_bill 已入账不在账单，amount_differs 金额不符",
              "平台", "商户订单号", "平台交易号", "商户", "账单金额（元）", "订单金额（元）", "订单状态", "说明")


@dataclass(frozen=True)
class SiteMismatch:
    """A mismatch with the shop its order belongs to ("" for a trade we have no order for)."""

    day: date
    mismatch: Mismatch
    account_id: int | None = None
    account: str = ""


def day_mismatches(session: Session, day: date, site_id: int) -> list[SiteMismatch]:
    """The day's mismatches about the site's orders (and, for its home site, trades we have no order for)."""
    report = reconciliation_report(day, session)
    ids = {m.order_id for m in report if m.order_id is not None}
    shops = {order_id: (site, account_id, code) for order_id, site, account_id, code in session.execute(
        select(PaymentOrder.id, Account.site_id, Account.id, Account.code)
        .join(Account, Account.id == PaymentOrder.account_id).where(PaymentOrder.id.in_(ids)))} if ids else {}
    home = home_site(session) if any(m.order_id is None for m in report) else None
    found = []
    for m in report:
        if m.order_id is None:
            if home == site_id:
                found.append(SiteMismatch(day, m))
        elif shops[m.order_id][0] == site_id:
            found.append(SiteMismatch(day, m, shops[m.order_id][1], shops[m.order_id][2]))
    return found


def month_days(first: date, last: date, today: date) -> list[date]:
    """The days of first..last whose bill can exist: up to yesterday (a bill is published the day after)."""
    last = min(last, today - timedelta(days=1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def month_mismatches(session: Session, days: list[date], site_id: int) -> dict[date, list[SiteMismatch]]:
    """Each day's mismatches about the site (a few statements per day: a bill is a day's payments)."""
    return {day: day_mismatches(session, day, site_id) for day in days}


def bills_stored(session: Session, first: date, last: date) -> dict[date, dict[str, int]]:
    """{day: {platform: payment lines stored}} of first..last, every configured platform listed (0: not
    downloaded, or a day without payments)."""
    stored = {first + timedelta(days=n): dict.fromkeys(configured_sources(), 0)
              for n in range((last - first).days + 1)}
    for source, day, lines in session.execute(
            select(BillLine.source, BillLine.bill_date, func.count()).where(
                BillLine.bill_date >= first, BillLine.bill_date <= last, BillLine.kind == "payment")
            .group_by(BillLine.source, BillLine.bill_date)):
        stored.setdefault(day, {})[source] = int(lines)
    return stored


def reconciliation_xlsx(by_day: dict[date, list[SiteMismatch]]) -> bytes:
    """The month's mismatches, a row each: amounts as yuan numbers (0.00), the day as a date."""
    formats = {0: "yyyy-mm-dd", 6: "0.00", 7: "0.00"}

    def money(fen: int | None):
        return None if fen is None else yuan_number(fen)

    return report_xlsx("reconciliation", COLUMNS, COLUMNS_ZH, (
        ([s.day, m.kind, m.source, m.out_trade_no, m.platform_trade_no, s.account or None, money(m.bill_fen),
          money(m.order_fen), m.order_status, m.detail], formats)
        for day in sorted(by_day) for s in by_day[day] for m in (s.mismatch,)),
        widths=(12, 22, 8, 34, 34, 12, 12, 12, 12, 40))
