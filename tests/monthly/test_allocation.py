"""Common-area allocation (公摊): each method splits the priced common consumption exactly, once."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import (
    Account,
    AllocationLine,
    AllocationMethod,
    AllocationRun,
    EntryKind,
    LedgerEntry,
    Meter,
    MeterKind,
    TariffKind,
    TariffVersion,
)
from portal.monthly.allocation import allocate, preview, price_and_split, split
from portal.monthly.periods import PeriodError, month_bounds
from portal.tariffs.pricing import Version, cost_e5, to_fen
from tests.monthly.conftest import LATER, SH, add_readings, month_start

MARCH = month_start(2025, 3)
APRIL = month_start(2025, 4)


def allocation_entries(group) -> dict[int, int]:
    rows = db.session.execute(select(LedgerEntry.account_id, LedgerEntry.amount_fen).where(
        LedgerEntry.kind == EntryKind.ALLOCATION, LedgerEntry.idempotency_key.like(f"alloc:{group.id}:%")))
    return dict(rows.tuples().all())


# --- the split itself -----------------------------------------------------------------------------


@pytest.mark.no_db
@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**6), min_size=1, max_size=40).filter(lambda w: sum(w)))
def test_largest_remainder_split_sums_exactly_and_stays_within_one_fen(total, weights):
    parts = split(total, dict(enumerate(weights)))
    assert sum(parts.values()) == total
    for k, w in enumerate(weights):
        exact = total * w / sum(weights)
        assert abs(parts[k] - exact) < 1
        if w == 0:
            assert parts[k] == 0


@pytest.mark.no_db
def test_split_gives_leftover_fen_to_the_largest_remainders_then_the_smaller_key():
    assert split(383, {1: 1, 2: 2, 3: 3}) == {1: 64, 2: 128, 3: 191}
    assert split(2, {5: 1, 3: 1, 9: 1}) == {3: 1, 5: 1, 9: 0}


# --- each method against the database -------------------------------------------------------------


@pytest.fixture
def mall(billing_site, make_account, make_meter, make_gateway):
    """Two common meters (3.83 kWh in March) and three shops with shares, areas and own consumption."""
    site = billing_site()
    gw = make_gateway(site=site)
    c1, c2 = make_meter(gateway=gw, code="C1"), make_meter(gateway=gw, code="C2")
    add_readings(c1, [999], MARCH - timedelta(minutes=15))  # closes at the month's first instant: February
    add_readings(c1, [100, 200, 50], MARCH)
    add_readings(c2, [33], MARCH)
    add_readings(c2, [777], APRIL)                           # closes after April began: April
    a = make_account(site=site, code="A", balance_fen=100_000, area_m2=Decimal("10.00"))
    b = make_account(site=site, code="B", balance_fen=100_000, area_m2=Decimal("20.50"))
    c = make_account(site=site, code="C", balance_fen=100_000)
    add_readings(make_meter(account=a, gateway=gw), [100], MARCH)
    add_readings(make_meter(account=c, gateway=gw), [300], MARCH)
    add_readings(make_meter(account=c, gateway=gw, kind=MeterKind.WATER, profile="payfirst-water-v1"), [5_000], MARCH)
    return site, (c1, c2), (a, b, c)


@pytest.mark.parametrize("method, expected", [
    (AllocationMethod.FIXED, (64, 128, 191)),        # shares 1 : 2 : 3
    (AllocationMethod.AREA, (126, 257, 0)),          # 10.00 m², 20.50 m², no area
    (AllocationMethod.CONSUMPTION, (96, 0, 287)),    # 1.00 kWh, nothing, 3.00 kWh (its water not counted)
])
def test_each_method_splits_the_priced_common_consumption(mall, make_group, method, expected):
    site, sources, (a, b, c) = mall
    group = make_group(site, method, list(sources), {a: 1, b: 2, c: 3})
    [outcome] = allocate(db.session, "2025-03", now=LATER)
    db.session.commit()
    run = db.session.get(AllocationRun, outcome.run_id)
    assert (outcome.status, run.consumption, run.total_fen) == ("posted", 383, 383)  # 3.83 kWh at ¥1.0000
    lines = {line.account_id: line.amount_fen for line in run.lines}
    assert (lines[a.id], lines[b.id], lines[c.id]) == expected
    assert sum(lines.values()) == run.total_fen
    posted = allocation_entries(group)
    assert posted == {acct: -fen for acct, fen in lines.items() if fen}
    assert ledger_mismatches(db.session) == []


def test_run_records_each_common_meter_and_the_price(mall, make_group):
    site, (c1, c2), shops = mall
    make_group(site, AllocationMethod.FIXED, [c1, c2], dict.fromkeys(shops, 1))
    [outcome] = allocate(db.session, "2025-03", now=LATER)
    run = db.session.get(AllocationRun, outcome.run_id)
    assert run.sources == [{"meter_id": c1.id, "code": "C1", "consumption": 350},
                           {"meter_id": c2.id, "code": "C2", "consumption": 33}]
    assert (run.unit_price_e4, run.cost_e5, run.remainder_e5) == (10_000, 383 * 100_000, 0)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(list(AllocationMethod)), price=st.integers(1, 99_999),
       common=st.lists(st.integers(0, 50_000), min_size=1, max_size=6),
       weights=st.lists(st.integers(0, 5_000), min_size=1, max_size=6).filter(sum))
def test_any_split_sums_exactly_to_the_priced_common_consumption(
        billing_site, make_gateway, make_group, make_tariff, method, price, common, weights):
    site = billing_site()
    gw = make_gateway(site=site)
    source = Meter(site_id=site.id, code="COMMON", name="common", kind=MeterKind.ELECTRIC,
                   profile="chint-dtsu666", gateway_id=gw.id, unit_id=1)
    shops = [Account(site_id=site.id, code=f"S{i}", name="shop", area_m2=Decimal(w) / 100)
             for i, w in enumerate(weights)]
    db.session.add_all([source, *shops])
    db.session.flush()
    own = [Meter(site_id=site.id, code=f"M{i}", name="shop meter", kind=MeterKind.ELECTRIC, profile="chint-dtsu666",
                 gateway_id=gw.id, unit_id=i + 2, account_id=shop.id) for i, shop in enumerate(shops)]
    db.session.add_all(own)
    db.session.flush()
    for meter, w in zip(own, weights):
        add_readings(meter, [w], MARCH)
    add_readings(source, common, MARCH)
    group = make_group(site, method, [source], dict(zip(shops, weights)), tariff=make_tariff(site, price))
    [outcome] = allocate(db.session, "2025-03", site_ids={site.id}, now=LATER)
    priced = to_fen(cost_e5(Version(kind="flat", unit_price_e4=price), "electric", sum(common)), 0)[0]
    run = db.session.get(AllocationRun, outcome.run_id)
    assert run.total_fen == priced
    assert sum(line.amount_fen for line in run.lines) == priced
    assert -sum(allocation_entries(group).values()) == priced
    assert ledger_mismatches(db.session) == []


# --- idempotency, periods, prices -----------------------------------------------------------------


def test_second_run_posts_nothing(mall, make_group):
    site, sources, shops = mall
    make_group(site, AllocationMethod.FIXED, list(sources), dict.fromkeys(shops, 1))
    allocate(db.session, "2025-03", now=LATER)
    db.session.commit()
    count = db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
    [again] = allocate(db.session, "2025-03", now=LATER)
    db.session.commit()
    assert again.status == "already"
    assert db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == count
    assert db.session.execute(select(func.count()).select_from(AllocationRun)).scalar_one() == 1


def test_a_group_added_later_is_allocated_by_the_rerun_alone(mall, make_group):
    site, (c1, c2), shops = mall
    make_group(site, AllocationMethod.FIXED, [c1], dict.fromkeys(shops, 1), code="LIGHTS")
    allocate(db.session, "2025-03", now=LATER)
    make_group(site, AllocationMethod.FIXED, [c2], dict.fromkeys(shops, 1), code="LIFTS")
    outcomes = allocate(db.session, "2025-03", now=LATER)
    assert [(o.group_code, o.status) for o in outcomes] == [("LIGHTS", "already"), ("LIFTS", "posted")]


def test_a_period_is_allocated_only_once_it_is_over(mall, make_group):
    site, sources, shops = mall
    make_group(site, AllocationMethod.FIXED, list(sources), dict.fromkeys(shops, 1))
    with pytest.raises(PeriodError):
        allocate(db.session, "2025-03", now=APRIL - timedelta(seconds=1))
    [outcome] = allocate(db.session, "2025-03", now=APRIL)
    assert outcome.status == "posted"


def test_sub_fen_remainder_carries_to_the_next_period(billing_site, make_account, make_gateway, make_meter,
                                                      make_group, make_tariff):
    site = billing_site()
    source = make_meter(gateway=make_gateway(site=site))
    add_readings(source, [1], MARCH)
    add_readings(source, [1], APRIL)
    shop = make_account(site=site, balance_fen=1_000)
    make_group(site, AllocationMethod.FIXED, [source], {shop: 1}, tariff=make_tariff(site, 12_345))
    allocate(db.session, "2025-03", now=LATER)
    allocate(db.session, "2025-04", now=LATER)
    march, april = db.session.execute(select(AllocationRun).order_by(AllocationRun.period)).scalars().all()
    assert (march.total_fen, march.remainder_e5) == (1, 23_450)        # 1.2345 fen
    assert (april.carried_in_e5, april.total_fen, april.remainder_e5) == (23_450, 1, 46_900)


def test_a_price_change_inside_the_period_prices_each_part_with_its_version(
        billing_site, make_account, make_gateway, make_meter, make_group, make_tariff):
    site = billing_site()
    tariff = make_tariff(site, 10_000)
    db.session.add(TariffVersion(tariff_id=tariff.id, unit_price_e4=20_000,
                                 effective_from=datetime(2025, 3, 16, tzinfo=SH)))
    db.session.commit()
    source = make_meter(gateway=make_gateway(site=site))
    add_readings(source, [100], MARCH + timedelta(days=1))
    add_readings(source, [100], MARCH + timedelta(days=20))
    make_group(site, AllocationMethod.FIXED, [source], {make_account(site=site): 1}, tariff=tariff)
    [outcome] = allocate(db.session, "2025-03", now=LATER)
    assert outcome.total_fen == 100 + 200


def test_a_time_of_use_tariff_is_refused_and_nothing_is_written(mall, make_group, make_tariff):
    site, sources, shops = mall
    periods = [{"start": "00:00", "end": "00:00", "period": "flat"}]
    tou = make_tariff(site, 0, kind=TariffKind.TOU, periods=periods, period_prices_e4={"flat": 10_000})
    make_group(site, AllocationMethod.FIXED, list(sources), dict.fromkeys(shops, 1), tariff=tou)
    [outcome] = allocate(db.session, "2025-03", now=LATER)
    assert (outcome.status, outcome.reason) == ("skipped", "common-area allocation needs a flat tariff")
    assert db.session.execute(select(func.count()).select_from(AllocationRun)).scalar_one() == 0


def test_a_group_without_weight_is_skipped_until_it_has_one(mall, make_group):
    site, sources, shops = mall
    group = make_group(site, AllocationMethod.FIXED, list(sources), dict.fromkeys(shops, 0))
    [outcome] = allocate(db.session, "2025-03", now=LATER)
    assert outcome.status == "skipped"
    for member in group.members:
        member.share = 1
    db.session.commit()
    [outcome] = allocate(db.session, "2025-03", now=LATER)
    assert outcome.status == "posted"


def test_each_shop_keeps_a_breakdown_line(mall, make_group):
    site, sources, (a, b, c) = mall
    make_group(site, AllocationMethod.AREA, list(sources), {a: 1, b: 1, c: 1})
    allocate(db.session, "2025-03", now=LATER)
    lines = db.session.execute(select(AllocationLine).order_by(AllocationLine.account_id)).scalars().all()
    assert [(line.account_id, line.weight) for line in lines] == [(a.id, 1_000), (b.id, 2_050), (c.id, 0)]


# --- the preview is the run's own computation -------------------------------------------------------------


@pytest.mark.parametrize("method", list(AllocationMethod))
def test_the_preview_is_what_the_run_then_posts(mall, make_group, make_tariff, method):
    """price_and_split and preview() write nothing, and allocate() posts exactly what they said, a sub-fen
    remainder carried in included (a price of 0.33335 fen per 0.01 kWh leaves one)."""
    site, sources, (a, b, c) = mall
    group = make_group(site, method, list(sources), {a: 1, b: 2, c: 3}, tariff=make_tariff(site, 3_333))
    allocate(db.session, "2025-03", now=LATER)  # 3.83 kWh at 0.3333 yuan: 127.6539 fen, 0.6539 carried
    db.session.commit()
    for shop in (a, c):  # April: the common meter's 7.77 kWh, and the shops' own use to split by
        add_readings(next(m for m in shop.meters if m.kind == MeterKind.ELECTRIC), [50], APRIL)
    start, end = month_bounds("2025-04", SH)
    planned = price_and_split(db.session, group, start, end)
    [due] = preview(db.session, "2025-04", now=LATER)
    assert db.session.query(AllocationRun).count() == 1  # the preview wrote no run
    assert planned.carried_in_e5 > 0 and (due.status, due.total_fen) == ("due", planned.total_fen)
    [outcome] = allocate(db.session, "2025-04", now=LATER)
    run = db.session.get(AllocationRun, outcome.run_id)
    assert (run.total_fen, run.cost_e5, run.carried_in_e5, run.remainder_e5, run.consumption) == (
        planned.total_fen, planned.cost_e5, planned.carried_in_e5, planned.remainder_e5, planned.consumption)
    assert {line.account_id: line.amount_fen for line in run.lines} == planned.parts
    assert preview(db.session, "2025-04", now=LATER)[0].status == "already"
