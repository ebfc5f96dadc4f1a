"""Daily reconciliation: the platforms' bills against our orders.

`download_bills(day)` stores each configured platform's trade bill as BillLine rows (a second download
of the same bill stores nothing new). `reconciliation_report(day)` lists every mismatch:

- paid_not_credited: a payment on the day's bill whose order we have not credited (a lost notify the
  sweep did not recover, a credit job that never ran, or a trade number we do not know at all);
- credited_not_on_bill: an order credited that business day that is on no downloaded bill;
- amount_differs: a bill line whose amount is not the order's.

Refund lines are stored but not reconciled here. The daily job runs at 10:00 business time (both platforms
publish the previous day's bill by then) for yesterday and opens a payment-anomaly alarm per mismatch. Each
site's staff are told once per platform and day how many mismatches its bill has (not once per alarm).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.alarms import raise_alarm
from portal.extensions import db
from portal.models import AlarmKind, BillLine, Channel, OrderStatus, PaymentOrder, Site, utcnow
from portal.models.base import upsert_insert
from portal.notify.params import word
from portal.notify.route import StaffEvent, tell_staffs
from portal.payments.providers.base import BillRow
from portal.payments.providers.registry import bill_providers, provider_for

log = logging.getLogger(__name__)

#: the platforms' bill day is a Beijing day
BILL_TZ = ZoneInfo("Asia/Shanghai")
CREDITED = (OrderStatus.CREDITED, OrderStatus.REFUNDED)
KINDS = ("paid_not_credited", "credited_not_on_bill", "amount_differs")


def source_of(channel: Channel) -> str | None:
    """The bill a channel's payments appear on: alipay, wechat, or None (sandbox)."""
    return provider_for(channel).bill_source


def configured_sources() -> list[str]:
    """The platforms whose bills can be downloaded here."""
    return sorted(bill_providers())


def store_bill(session: Session, lines: list[BillRow]) -> int:
    """Store bill lines, skipping those already stored; returns how many were new."""
    columns = ("source", "bill_date", "kind", "out_trade_no", "platform_trade_no", "out_refund_no", "amount_fen",
               "paid_at")
    rows = [{c: line.get(c, "" if c == "out_refund_no" else None) for c in columns} for line in lines]
    if not rows:
        return 0
    stmt = upsert_insert(session, BillLine).on_conflict_do_nothing(
        index_elements=["source", "platform_trade_no", "kind", "out_refund_no"])
    return len(session.execute(stmt.returning(BillLine.id), rows).all())


def download_bills(day: date, session: Session | None = None) -> dict[str, int | str]:
    """Download and store the day's bill of each configured platform: {source: new lines, or the error}."""
    session = session or db.session
    done: dict[str, int | str] = {}
    for source, provider in bill_providers().items():
        try:
            lines = provider.download_bill(day)
        except Exception as exc:  # one platform down does not stop the other
            log.warning("the %s bill of %s could not be downloaded: %s", source, day, exc)
            done[source] = f"error: {exc}"[:300]
            continue
        done[source] = store_bill(session, [line for line in lines if line.get("source") == source])
    return done


@dataclass(frozen=True)
class Mismatch:
    """One line of the reconciliation report."""

    kind: str  # paid_not_credited, credited_not_on_bill, amount_differs
    source: str
    out_trade_no: str
    platform_trade_no: str
    bill_fen: int | None
    order_fen: int | None
    order_id: int | None
    order_status: str | None
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def business_day_bounds(day: date, tz: ZoneInfo = BILL_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in `tz`, as aware datetimes."""
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


def reconciliation_report(day: date, session: Session | None = None, sources: list[str] | None = None
                          ) -> list[Mismatch]:
    """Every mismatch between the stored bills of `day` and our orders (bills of configured platforms
    and of any platform with lines stored for that day)."""
    session = session or db.session
    lines = session.execute(
        select(BillLine).where(BillLine.bill_date == day, BillLine.kind == "payment")
        .order_by(BillLine.source, BillLine.id)
    ).scalars().all()
    if sources is None:
        sources = sorted(set(configured_sources()) | {line.source for line in lines})
    lines = [line for line in lines if line.source in sources]
    by_trade = {
        o.out_trade_no: o for o in session.execute(
            select(PaymentOrder).where(PaymentOrder.out_trade_no.in_({line.out_trade_no for line in lines}))
        ).scalars()
    } if lines else {}
    report: list[Mismatch] = []
    for line in lines:
        order = by_trade.get(line.out_trade_no)
        if order is None:
            report.append(Mismatch("paid_not_credited", line.source, line.out_trade_no, line.platform_trade_no,
                                   line.amount_fen, None, None, None, "on the bill, but we have no such order"))
        elif line.amount_fen != order.amount_fen:
            report.append(_about(order, "amount_differs", line,
                                 f"bill says {line.amount_fen} fen, the order {order.amount_fen} fen"))
        elif order.status not in CREDITED:
            report.append(_about(order, "paid_not_credited", line, f"paid on the bill, order is {order.status.value}"))

    start, end = business_day_bounds(day)
    credited = session.execute(
        select(PaymentOrder).where(PaymentOrder.status.in_(CREDITED), PaymentOrder.credited_at >= start,
                                   PaymentOrder.credited_at < end).order_by(PaymentOrder.id)
    ).scalars().all()
    credited = [o for o in credited if source_of(o.channel) in sources]
    if credited:
        # A payment near midnight may be on the previous day's bill: any stored bill day counts.
        on_bill = set(session.execute(
            select(BillLine.source, BillLine.out_trade_no).where(
                BillLine.kind == "payment", BillLine.out_trade_no.in_([o.out_trade_no for o in credited]))
        ).tuples())
        for order in credited:
            if (source_of(order.channel), order.out_trade_no) not in on_bill:
                report.append(_about(order, "credited_not_on_bill", None,
                                     f"credited {order.credited_at.astimezone(BILL_TZ):%Y-%m-%d %H:%M}, "
                                     f"on no {source_of(order.channel)} bill"))
    return report


def _about(order: PaymentOrder, kind: str, line: BillLine | None, detail: str) -> Mismatch:
    return Mismatch(kind, line.source if line else source_of(order.channel) or "", order.out_trade_no,
                    (line.platform_trade_no if line else order.platform_trade_no) or "",
                    line.amount_fen if line else None, order.amount_fen, order.id, order.status.value, detail)


def yesterday(now: datetime | None = None) -> date:
    """The Beijing day before `now`."""
    return (now or utcnow()).astimezone(BILL_TZ).date() - timedelta(days=1)


def reconcile_day(session: Session, the_day: date) -> dict:
    """Download the day's bills, reconcile, and alarm on each mismatch.

    The bills are committed as soon as they are stored: a report that fails later downloads nothing twice.
    """
    downloaded = download_bills(the_day, session)
    session.commit()
    report = reconciliation_report(the_day, session)
    counts: dict[tuple[int, str], int] = {}
    for m in report:
        order = session.get(PaymentOrder, m.order_id) if m.order_id else None
        site_id = order.account.site_id if order else home_site(session)
        if site_id is not None:
            counts[site_id, m.source] = counts.get((site_id, m.source), 0) + 1
            raise_alarm(session, AlarmKind.PAYMENT_ANOMALY, _alarm_subject(m),
                        site_id, f"{the_day} {m.kind} {m.source} {m.out_trade_no}: {m.detail}",
                        data=dict(what="reconciliation", day=str(the_day), mismatch=m.kind, source=m.source,
                                  order=m.out_trade_no, detail=str(m.detail)[:200]),
                        account_id=order.account_id if order else None)
    _tell_mismatches(session, the_day, counts)
    if report:
        log.warning("reconciliation of %s: %d mismatches", the_day, len(report))
    return {"day": the_day.isoformat(), "downloaded": downloaded, "mismatches": [m.as_dict() for m in report]}


def _tell_mismatches(session: Session, the_day: date, counts: dict[tuple[int, str], int]) -> None:
    """Tell each site's staff how many places a platform's bill of the day differs in (once per site, platform
    and day: a rerun tells nothing new)."""
    sites = dict(session.execute(select(Site.id, Site.code).where(Site.id.in_({s for s, _ in counts}))).tuples().all())
    tell_staffs(session, [StaffEvent(site_id, "reconciliation_mismatch", f"{the_day}:{source}", {
        "site": sites.get(site_id, ""), "channel": word("bill", source), "day": str(the_day), "count": str(count)})
        for (site_id, source), count in sorted(counts.items())])


def _alarm_subject(m: Mismatch) -> str:
    """recon:<out_trade_no> (alarm subjects hold 40 characters; a longer foreign number is hashed)."""
    key = m.out_trade_no if len(m.out_trade_no) <= 34 else hashlib.sha1(m.out_trade_no.encode()).hexdigest()[:34]
    return f"recon:{key}"


def home_site(session: Session) -> int | None:
    """The site a mismatch that is no order of ours is filed under (its alarm, its line on the results page): the
    first site. A trade number we do not know belongs to no shop, and someone must see it."""
    return session.execute(select(Site.id).order_by(Site.id).limit(1)).scalar_one_or_none()
