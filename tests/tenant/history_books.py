"""A shop's books for the history, e-receipt and invoice tests: entries of each kind posted at chosen instants,
and the daily roll-ups the history reads energy from."""
from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import (
    AllocationGroup,
    AllocationLine,
    AllocationMethod,
    AllocationRun,
    Channel,
    DailyUsage,
    EntryKind,
    FeeCharge,
    LedgerEntry,
    MeterKind,
    OrderStatus,
    PaymentOrder,
    utcnow,
)
from portal.monthly.fees import fee_for
from portal.settings import business_tz

_orders = itertools.count(1)


def this_month() -> date:
    """The first day of this business month."""
    return utcnow().astimezone(business_tz()).date().replace(day=1)


def last_month() -> date:
    """The first day of last business month."""
    return (this_month() - timedelta(days=1)).replace(day=1)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A business-time instant of a day, in UTC."""
    return datetime.combine(day, time(hour, minute), business_tz()).astimezone(UTC)


class Books:
    """Posts a shop's entries as the real verbs would, then moves each to the instant a test needs."""

    def __init__(self, account, meter, water_meter):
        self.account, self.meter, self.water_meter = account, meter, water_meter
        self.n = 0

    def post(self, kind: EntryKind, fen: int, when: datetime, key: str | None = None, **kw) -> LedgerEntry:
        self.n += 1
        entry = post_entry(db.session, self.account, fen, kind, key or f"test:{kind.value}:{self.n}", **kw).entry
        entry.created_at = when
        db.session.commit()
        return entry

    def payment(self, fen: int, when: datetime, trade_no: str | None = None) -> LedgerEntry:
        n = next(_orders)
        trade_no = trade_no or f"42000000012026111500{n:08d}"
        order = PaymentOrder(out_trade_no=f"PF{n:018d}", account_id=self.account.id, amount_fen=fen,
                             channel=Channel.WECHAT_JSAPI, status=OrderStatus.CREDITED, platform_trade_no=trade_no,
                             created_by="tenant:test", payer="", expires_at=when + timedelta(minutes=15),
                             paid_at=when, credited_at=when, created_at=when)
        db.session.add(order)
        db.session.flush()
        return self.post(EntryKind.PAYMENT, fen, when, f"payment:{order.out_trade_no}", order_id=order.id,
                         memo=f"wechat_jsapi {trade_no}", actor="pay:wechat_jsapi")

    def cash(self, fen: int, when: datetime) -> LedgerEntry:
        return self.post(EntryKind.CASH, fen, when, method="cash", actor="staff:cashier1")

    def fee(self, fen: int, month: str, when: datetime, arrears_fen: int = 0, basis: str | None = None) -> LedgerEntry:
        """A fee run's charge: by default 120.50 m² at 5.0000 yuan a m², its basis as the fee run writes it."""
        basis = fee_for(50_000, Decimal("120.50"), 0)[1] if basis is None else basis
        db.session.add(FeeCharge(account_id=self.account.id, month=month, fee_fen=fen + arrears_fen, posted_fen=fen,
                                 arrears_fen=arrears_fen, basis=basis))
        return self.post(EntryKind.FEE, -fen, when, f"fee:{self.account.id}:{month}", memo=f"{month} area")

    def allocation(self, fen: int, period: str, when: datetime) -> LedgerEntry:
        group = AllocationGroup(site_id=self.account.site_id, code=f"G{self.n}", name="Lifts and corridors",
                                method=AllocationMethod.AREA)
        db.session.add(group)
        db.session.flush()
        start = at(date.fromisoformat(f"{period}-01"), 0)
        run = AllocationRun(group_id=group.id, period=period, period_start=start, period_end=start + timedelta(days=28),
                            method="area", kind="electric", unit_price_e4=8_000, consumption=150_000,
                            cost_e5=120_000_000, total_fen=1_200_00, weight_total=60_000,
                            sources=[{"meter_id": 0, "code": "C-LIFT", "consumption": 100_000},
                                     {"meter_id": 0, "code": "C-HALL", "consumption": 50_000}])
        db.session.add(run)
        db.session.flush()
        db.session.add(AllocationLine(run_id=run.id, account_id=self.account.id, weight=12_050, amount_fen=fen))
        return self.post(EntryKind.ALLOCATION, -fen, when, f"alloc:{group.id}:{period}:{self.account.id}")

    def reversal(self, original: LedgerEntry, when: datetime) -> LedgerEntry:
        return self.post(EntryKind.REVERSAL, -original.amount_fen, when, reverses_id=original.id,
                         memo="wrong shop", actor="staff:cashier1")

    def refund(self, fen: int, when: datetime) -> LedgerEntry:
        return self.post(EntryKind.REFUND, -fen, when, memo="refund to payer")

    def used(self, day: date, usage: int, charged_fen: int, water: bool = False) -> None:
        """A day's roll-up of the shop's electricity (0.01 kWh) or water (litres) meter, as billing keeps it."""
        meter = self.water_meter if water else self.meter
        db.session.add(DailyUsage(meter_id=meter.id, day=day, account_id=self.account.id, usage=usage,
                                  charged_fen=charged_fen, readings=96, updated_at=utcnow()))
        db.session.commit()


@pytest.fixture
def books(make_account, make_meter, make_tenant):
    """A shop opened four months ago with an electricity and a water meter, and its tenant (books.tenant)."""
    acct = make_account(code="H100", name="Tea house")
    acct.created_at = utcnow() - timedelta(days=120)
    db.session.commit()
    meter = make_meter(account=acct, code="E-H100")
    water = make_meter(account=acct, code="W-H100", kind=MeterKind.WATER)
    b = Books(acct, meter, water)
    b.tenant = make_tenant([acct])
    return b
