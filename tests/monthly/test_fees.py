"""Property fee (物业费): rate × area or fixed, overrides, the business month, idempotency, both policies."""
from __future__ import annotations

from datetime import UTC, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.control.emergency import repay_first
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import (
    AccountStatus,
    Alarm,
    AlarmKind,
    EntryKind,
    FeeCharge,
    LedgerEntry,
    Supply,
)
from portal.monthly.fees import fee_for, run_fees, split_fee
from portal.monthly.periods import PeriodError
from tests.monthly.conftest import LATER
from worker.jobs.monthly import fee_month


def fee_entries(account=None) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.kind == EntryKind.FEE).order_by(LedgerEntry.id)
    if account is not None:
        query = query.where(LedgerEntry.account_id == account.id)
    return db.session.execute(query).scalars().all()


def test_fee_by_area_is_rate_times_area_rounded_half_up(billing_site, make_account):
    # 5.2500 yuan/m² x 120.50 m² = 632.625 yuan -> 632.63 (half up)
    site = billing_site(fee_rate_e4_per_m2=52_500)
    shop = make_account(site=site, balance_fen=1_000_00, area_m2=Decimal("120.50"))
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    [entry] = fee_entries(shop)
    assert (entry.amount_fen, entry.idempotency_key) == (-63_263, f"fee:{shop.id}:2025-03")
    assert db.session.get(type(shop), shop.id).balance_fen == 100_000 - 63_263


def test_fee_arithmetic_is_exact_integers():
    assert fee_for(52_500, Decimal("120.50"), 0)[0] == 63_263
    assert fee_for(1, Decimal("0.49"), 0)[0] == 0      # 0.0049 fen
    assert fee_for(1, Decimal("50.00"), 0)[0] == 1     # 0.5 fen rounds up
    assert fee_for(52_500, None, 0) == (0, "")          # no area, no fee by area
    assert fee_for(52_500, Decimal("120.50"), 30_000) == (30_000, "fixed")


def test_fixed_fee_replaces_rate_times_area(billing_site, make_account):
    site = billing_site(fee_rate_e4_per_m2=52_500, fee_fixed_fen=30_000)
    shop = make_account(site=site, balance_fen=1_000_00, area_m2=Decimal("120.50"))
    run_fees(db.session, "2025-03", now=LATER)
    assert [e.amount_fen for e in fee_entries(shop)] == [-30_000]


def test_account_overrides_the_sites_rate_and_fixed_amount(billing_site, make_account):
    site = billing_site(fee_rate_e4_per_m2=50_000, fee_fixed_fen=30_000)
    by_area = make_account(site=site, balance_fen=10_000_00, area_m2=Decimal("10"), fee_fixed_fen=0,
                           fee_rate_e4_per_m2=80_000)
    own_fixed = make_account(site=site, balance_fen=10_000_00, area_m2=Decimal("10"), fee_fixed_fen=12_345)
    site_fixed = make_account(site=site, balance_fen=10_000_00, area_m2=Decimal("10"))
    free = make_account(site=site, balance_fen=10_000_00, fee_fixed_fen=0, fee_rate_e4_per_m2=0)
    run_fees(db.session, "2025-03", now=LATER)
    amounts = {e.account_id: e.amount_fen for e in fee_entries()}
    assert amounts == {by_area.id: -8_000, own_fixed.id: -12_345, site_fixed.id: -30_000}
    assert free.id not in amounts


def test_month_is_the_business_time_zone_month():
    # 16:05 UTC on 28 February is 00:05 on 1 March in Shanghai: the cron charges March
    assert fee_month(datetime(2025, 2, 28, 16, 5, tzinfo=UTC)) == "2025-03"
    assert fee_month(datetime(2025, 2, 28, 15, 59, tzinfo=UTC)) == "2025-02"


def test_a_month_is_charged_from_its_first_minute_in_business_time(billing_site, make_account):
    site = billing_site(fee_fixed_fen=10_000)
    make_account(site=site, balance_fen=1_000_00)
    with pytest.raises(PeriodError):
        run_fees(db.session, "2025-03", now=datetime(2025, 2, 28, 15, 59, tzinfo=UTC))
    [run] = run_fees(db.session, "2025-03", now=datetime(2025, 2, 28, 16, 0, tzinfo=UTC))
    assert run.charged == 1


def test_second_run_posts_nothing(billing_site, make_account):
    site = billing_site(fee_fixed_fen=10_000)
    shops = [make_account(site=site, balance_fen=amount) for amount in (50_000, 3_000, 0)]
    [first] = run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    before = db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
    arrears = [db.session.get(type(s), s.id).fee_arrears_fen for s in shops]
    [second] = run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    db.session.expire_all()
    assert (first.charged, second.charged, second.fee_fen) == (3, 0, 0)
    assert db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == before
    assert [db.session.get(type(s), s.id).fee_arrears_fen for s in shops] == arrears
    assert db.session.execute(select(func.count()).select_from(FeeCharge)).scalar_one() == 3
    assert ledger_mismatches(db.session) == []


def test_next_month_is_charged_again(billing_site, make_account):
    site = billing_site(fee_fixed_fen=10_000)
    shop = make_account(site=site, balance_fen=50_000)
    run_fees(db.session, "2025-03", now=LATER)
    run_fees(db.session, "2025-04", now=LATER)
    assert [e.idempotency_key for e in fee_entries(shop)] == [f"fee:{shop.id}:2025-03", f"fee:{shop.id}:2025-04"]


def test_closed_shops_are_not_charged(billing_site, make_account):
    site = billing_site(fee_fixed_fen=10_000)
    shop = make_account(site=site, balance_fen=50_000, status=AccountStatus.CLOSED)
    [run] = run_fees(db.session, "2025-03", now=LATER)
    assert run.charged == 0 and fee_entries(shop) == []


# --- policy ---------------------------------------------------------------------------------------


def test_split_never_reaches_the_trip_point_by_default():
    assert split_fee(5_000, 3_000, 0, False) == (2_999, 2_001)      # leaves 1 fen: balance 0 would trip
    assert split_fee(5_000, 3_000, -1_000, False) == (3_000, 2_000)  # an overdraft limit: zero is safe
    assert split_fee(5_000, -200, 0, False) == (0, 5_000)
    assert split_fee(5_000, 9_000, 0, False) == (5_000, 0)
    assert split_fee(5_000, 3_000, 0, True) == (5_000, 0)


def test_default_policy_posts_what_the_balance_covers_keeps_the_rest_as_arrears_and_never_trips(
        billing_site, make_account, make_meter):
    site = billing_site(fee_fixed_fen=5_000)
    shop = make_account(site=site, balance_fen=3_000)
    meter = make_meter(account=shop)
    [run] = run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    db.session.expire_all()
    assert [e.amount_fen for e in fee_entries(shop)] == [-2_999]
    assert (shop.balance_fen, shop.fee_arrears_fen) == (1, 2_001)
    assert (run.posted_fen, run.arrears_fen, run.switched) == (2_999, 2_001, 0)
    assert meter.supply_desired == Supply.ON
    assert db.session.execute(select(Alarm).where(Alarm.kind == AlarmKind.ARREARS)).first() is None
    charge = db.session.execute(select(FeeCharge)).scalar_one()
    assert (charge.fee_fen, charge.posted_fen, charge.arrears_fen) == (5_000, 2_999, 2_001)


def test_default_policy_with_nothing_to_take_posts_no_entry_but_records_the_arrears_once(
        billing_site, make_account):
    site = billing_site(fee_fixed_fen=5_000)
    shop = make_account(site=site, balance_fen=-700)
    run_fees(db.session, "2025-03", now=LATER)
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    db.session.expire_all()
    assert fee_entries(shop) == []
    assert (shop.balance_fen, shop.fee_arrears_fen) == (-700, 5_000)


def test_fee_arrears_are_repaid_first_from_the_next_payment(billing_site, make_account):
    site = billing_site(fee_fixed_fen=5_000)
    shop = make_account(site=site, balance_fen=3_000)
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    left = repay_first(db.session, shop, 10_000, "payment:T1", "test")
    db.session.commit()
    db.session.expire_all()
    assert (left, shop.fee_arrears_fen) == (10_000 - 2_001, 0)
    assert sum(e.amount_fen for e in fee_entries(shop)) == -5_000  # the whole fee, in two entries
    assert ledger_mismatches(db.session) == []


def test_trip_policy_posts_the_whole_fee_and_the_arrears_rule_trips(billing_site, make_account, make_meter):
    site = billing_site(fee_fixed_fen=5_000, fee_trip_enabled=True)
    shop = make_account(site=site, balance_fen=3_000)
    meter = make_meter(account=shop)
    [run] = run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    db.session.expire_all()
    assert [e.amount_fen for e in fee_entries(shop)] == [-5_000]
    assert (shop.balance_fen, shop.fee_arrears_fen) == (-2_000, 0)
    assert (meter.supply_desired, meter.desired_reason) == (Supply.OFF, "arrears")
    assert run.switched == 1
    assert db.session.execute(select(Alarm).where(Alarm.kind == AlarmKind.ARREARS)).first() is not None


def test_trip_policy_leaves_a_shop_that_can_pay_alone(billing_site, make_account, make_meter):
    site = billing_site(fee_fixed_fen=5_000, fee_trip_enabled=True)
    shop = make_account(site=site, balance_fen=90_000)
    meter = make_meter(account=shop)
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    db.session.expire_all()
    assert (shop.balance_fen, meter.supply_desired) == (85_000, Supply.ON)


def test_sites_keep_their_own_policy(billing_site, make_account, make_meter):
    lawful, strict = billing_site(fee_fixed_fen=5_000), billing_site(fee_fixed_fen=5_000, fee_trip_enabled=True)
    a, b = make_account(site=lawful, balance_fen=1_000), make_account(site=strict, balance_fen=1_000)
    ma, mb = make_meter(account=a), make_meter(account=b)
    run_fees(db.session, "2025-03", now=LATER)
    db.session.commit()
    db.session.expire_all()
    assert (ma.supply_desired, mb.supply_desired) == (Supply.ON, Supply.OFF)
    assert (a.fee_arrears_fen, b.fee_arrears_fen) == (4_001, 0)
    assert ledger_mismatches(db.session) == []
