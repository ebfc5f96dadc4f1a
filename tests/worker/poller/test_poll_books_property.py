"""Any sequence of money and use on a meter-mode shop keeps one set of books, at every step (SPEC §3).

Real PostgreSQL, the simulator over TCP, real poll cycles on a manual clock: after every step the shop's
ledger balance equals what its meter holds plus the purchases queued for it minus the deductions queued.
"""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.control.commands import queue_money
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches, post_entry
from portal.metering.books_check import compare_books
from portal.metering.swap import replace_meter
from portal.models import (
    Account,
    AlarmKind,
    CommandStatus,
    ControlCommand,
    EntryKind,
    OrderStatus,
    Site,
    utcnow,
)
from portal.monthly.fees import run_fees
from portal.payments.credit import credit_paid_order
from portal.payments.orders import create_order
from portal.payments.refunds import RefundRefused, request_refund
from portal.payments.states import move
from tests.conftest import empty_tables
from tests.monthly.conftest import LATER
from tests.worker.poller.farm import GW, PRICE_E4, M, start_farm
from worker.simulator import SimMeterSpec

STEPS = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.integers(100, 30_000)),
    st.tuples(st.just("use"), st.sampled_from([0, 800, 3_000, 9_000]), st.integers(0, 3_600)),
    st.tuples(st.just("fee"), st.integers(1, 20_000), st.booleans()),
    st.tuples(st.just("deduct"), st.integers(1, 20_000)),
    st.tuples(st.just("swap"), st.booleans()),
    st.tuples(st.just("refund"), st.integers(1, 1_000)),
    st.tuples(st.just("poll"),),
), min_size=1, max_size=14)


class Shop:
    """The farm's one meter-mode shop and the steps that move its money."""

    def __init__(self, f):
        self.f, self.load, self.orders, self.n = f, 0, [], itertools.count(1)
        self.months = (f"{2025 + m // 12}-{m % 12 + 1:02d}" for m in itertools.count(2))  # 2025-03 on

    @property
    def meter(self):
        return self.f.meter("GW1", 1)

    def account(self) -> Account:
        return db.session.get(Account, self.meter.account_id)

    def pay(self, amount: int) -> None:
        order = create_order(db.session, self.account(), amount, "alipay_wap", "tenant:1")
        move(db.session, order.id, OrderStatus.PAID, paid_at=utcnow())
        credit_paid_order(db.session, order.id)
        self.orders.append(order.id)

    def use(self, load: int, seconds: int) -> None:
        self.load = load
        self.f.sim_meter("GW1", 1).set_load(load)
        self.f.cycle(seconds)

    def fee(self, fee: int, trip: bool) -> None:
        site = db.session.get(Site, self.f.site_id)
        site.fee_fixed_fen, site.fee_trip_enabled = fee, trip
        run_fees(db.session, next(self.months), now=LATER)

    def deduct(self, amount: int) -> None:
        key = f"adjust:{next(self.n)}"
        post_entry(db.session, self.account(), -amount, EntryKind.ADJUSTMENT, key, actor="staff:m")
        queue_money(db.session, self.meter, -amount, f"deduction:{key}", "staff:m")

    def swap(self, typed_right: bool) -> None:
        self.f.clock.advance(1)  # a moment after the last poll (a poll's readings sit on the quarter hours)
        old = self.f.snapshot("GW1", 1)
        typed = old["remaining_fen"] + (0 if typed_right else 777)  # a typo upward is not believed
        replace_meter(db.session, self.meter, old["energy_total"], f"N{next(self.n)}", 0, "staff:c",
                      remaining_fen=typed, now=self.f.now)
        db.session.commit()
        fresh = self.f.sim.replace_meter("GW1", SimMeterSpec(1, "payfirst-prepaid-v1", control_mode="meter",
                                                             price_e4=PRICE_E4))
        fresh.set_load(self.load)

    def refund(self, amount: int) -> None:
        if not self.orders:
            return
        from portal.models import PaymentOrder  # only this step needs the order row

        with pytest.raises(RefundRefused):  # the money is in the meter: settled at closure, never refunded
            request_refund(db.session, db.session.get(PaymentOrder, self.orders[-1]), amount, "asked", "staff:c")
        db.session.rollback()

    def poll(self) -> None:
        self.f.cycle(0)

    def assert_one_set_of_books(self) -> None:
        db.session.commit()
        queued = db.session.execute(select(ControlCommand.action, ControlCommand.payload).where(
            ControlCommand.meter_id == self.meter.id, ControlCommand.status == CommandStatus.PENDING)).all()
        pending = sum(p["amount_fen"] * (1 if a == "purchase" else -1) for a, p in queued)
        assert self.account().balance_fen == self.f.snapshot("GW1", 1)["remaining_fen"] + pending
        assert self.f.alarms(AlarmKind.BOOKS_MISMATCH) == []
        assert all(b.agree for b in compare_books(db.session))
        assert ledger_mismatches(db.session) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, opening=st.integers(0, 50_000))
def test_ledger_balance_is_what_the_meter_holds_plus_writes_pending_at_every_step(polls, steps, opening):
    db.session.remove()
    empty_tables()
    f = start_farm(GW("GW1", (M(1, control_mode="meter", balance_fen=opening, remaining_fen=opening),)))
    try:
        shop = Shop(f)
        f.cycle(0)
        shop.assert_one_set_of_books()
        for name, *args in steps:
            getattr(shop, name)(*args)
            shop.assert_one_set_of_books()
            f.cycle(0)  # and once its writes are on the meter
            shop.assert_one_set_of_books()
        tampered = [a for a in f.alarms(AlarmKind.TAMPER) if not a.subject.endswith(":remaining")]
        assert tampered == []  # counts always agreed; only a typo at a swap is tamper
    finally:
        f.sim.stop()
        db.session.remove()
