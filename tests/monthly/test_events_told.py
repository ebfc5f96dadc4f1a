"""What the monthly runs tell: each shop its property fee and its share of the common areas, once per month (a
second run tells nothing), and the low-balance levels a fee run pushed shops across."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from portal.extensions import db
from portal.models import AllocationMethod
from portal.monthly.allocation import allocate
from portal.monthly.fees import run_fees
from tests.monthly.conftest import LATER, add_readings, month_start
from tests.notify.told import told, with_phone

MARCH = month_start(2025, 3)


def test_a_fee_run_tells_each_shop_its_fee_once(billing_site, make_account):
    site = billing_site(fee_fixed_fen=30_000)
    shops = [with_phone(make_account(site=site, balance_fen=100_000), phone=f"1390000000{n}") for n in range(3)]

    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()

    fees = told("fee_posted")
    assert [(d.account_id, d.params) for d in fees] == [
        (s.id, {"shop": s.code, "shop_name": s.name, "amount": "300.00", "month": "2025-03", "balance": "700.00"})
        for s in shops]
    assert fees[0].dedupe_key.startswith(f"fee_posted:fee:{shops[0].id}:2025-03:")


def test_a_fee_left_as_fee_arrears_is_told_with_the_balance_it_left(billing_site, make_account):
    site = billing_site(fee_fixed_fen=30_000)  # by default a fee never takes the balance to the trip point
    shop = with_phone(make_account(site=site, balance_fen=10_000))

    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()

    [fee] = told("fee_posted", shop)
    assert (fee.params["amount"], fee.params["balance"]) == ("300.00", "0.01")


def test_shops_a_fee_run_pushes_below_a_level_are_told_so(billing_site, make_account):
    site = billing_site(fee_fixed_fen=30_000)
    low = [with_phone(make_account(site=site, balance_fen=33_000), phone=f"1390000001{n}") for n in range(5)]
    high = with_phone(make_account(site=site, balance_fen=100_000), phone="13900000020")

    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()

    assert sorted(d.account_id for d in told("low_balance_1")) == [s.id for s in low]
    assert told("low_balance_1", high) == []
    assert {d.params["balance"] for d in told("low_balance_1")} == {"30.00"}


def test_an_allocation_run_tells_each_shop_its_share_once(billing_site, make_account, make_meter, make_gateway,
                                                        make_group):
    site = billing_site()
    gw = make_gateway(site=site)
    common = make_meter(gateway=gw, code="C1")
    add_readings(common, [100, 200, 83], MARCH)  # 3.83 kWh at ¥1.0000
    a = with_phone(make_account(site=site, code="A", balance_fen=100_000), phone="13900000001")
    b = with_phone(make_account(site=site, code="B", balance_fen=100_000), phone="13900000002")
    make_group(site, AllocationMethod.FIXED, [common], {a: 1, b: 2})

    allocate(db.session, "2025-03", now=LATER)
    db.session.commit()
    allocate(db.session, "2025-03", now=LATER + timedelta(days=1))
    db.session.commit()

    shares = sorted(told("allocation_posted"), key=lambda d: d.account_id)  # queued set-wise: in no set order
    assert [(d.account_id, d.params["amount"], d.params["month"], d.params["balance"]) for d in shares] == [
        (a.id, "1.28", "2025-03", "998.72"), (b.id, "2.55", "2025-03", "997.45")]


def test_a_shop_whose_share_is_zero_is_told_nothing(billing_site, make_account, make_meter, make_gateway,
                                                    make_group):
    site = billing_site()
    gw = make_gateway(site=site)
    common = make_meter(gateway=gw, code="C1")
    add_readings(common, [100], MARCH)
    a = with_phone(make_account(site=site, code="A", balance_fen=100_000, area_m2=Decimal("10")))
    b = with_phone(make_account(site=site, code="B", balance_fen=100_000), phone="13900000002")  # no area
    make_group(site, AllocationMethod.AREA, [common], {a: 1, b: 1})

    allocate(db.session, "2025-03", now=LATER)
    db.session.commit()

    assert [d.account_id for d in told("allocation_posted")] == [a.id]
