"""`demo seed`'s history: readings by trade, the money they imply, their days, and the simulator carrying on.

A small mall (one bus, 12 shops, 8 common meters, two water meters) and 10 days keep it fast; `demo seed
--history-days 365` on the full demo is what `make demo` runs (figures in the branch's report).
"""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

import portal.sites.demo as demo_site
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.metering.daily import reading_day, rebuild_daily
from portal.metering.energy_report import energy_rows
from portal.models import (
    Account,
    AllocationLine,
    AllocationRun,
    DailyUsage,
    EntryKind,
    FeeCharge,
    IntervalReading,
    LedgerEntry,
    Meter,
    MeterKind,
    PaymentOrder,
    Receipt,
    Site,
)
from portal.monthly.periods import month_bounds
from portal.monthly.statement import statement, totals
from portal.settings import business_tz
from portal.sites.demo_shapes import COMMON_PEAK_W, quarter_hours
from tests.conftest import empty_tables
from worker.simulator.sites import specs_for_site

DAYS = 10
COUNTED = (IntervalReading, LedgerEntry, PaymentOrder, FeeCharge, AllocationRun, DailyUsage)


def counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def snapshot() -> SimpleNamespace:
    """What the seed left in the database, as plain values (the tables are emptied after each test)."""
    readings = defaultdict(list)
    for code, *rest in db.session.execute(
            select(Meter.code, IntervalReading.interval_start, IntervalReading.energy_total, IntervalReading.delta,
                   IntervalReading.billed).join(Meter, Meter.id == IntervalReading.meter_id)
            .order_by(Meter.code, IntervalReading.interval_start)):
        readings[code].append(tuple(rest))
    days_query = (select(Meter.code, DailyUsage.day, DailyUsage.usage, DailyUsage.readings, DailyUsage.opening_reading,
                         DailyUsage.closing_reading, DailyUsage.charged_fen)
                  .join(Meter, Meter.id == DailyUsage.meter_id))
    days = {(r[0], r[1]): tuple(r[2:]) for r in db.session.execute(days_query)}
    entries = [r._asdict() for r in db.session.execute(
        select(LedgerEntry.account_id, LedgerEntry.kind, LedgerEntry.amount_fen, LedgerEntry.balance_after_fen,
               LedgerEntry.idempotency_key, LedgerEntry.created_at, LedgerEntry.order_id)
        .order_by(LedgerEntry.account_id, LedgerEntry.created_at))]
    unit_of = dict(db.session.execute(select(Meter.unit_id, Meter.code)).all())
    specs = {unit_of[m.unit_id]: m for spec in specs_for_site(db.session, demo_site.SITE_CODE) for m in spec.meters}
    first, last = min(d for _, d in days), max(d for _, d in days)
    rebuild_daily(db.session, first, last)
    rebuilt = {(r[0], r[1]): tuple(r[2:]) for r in db.session.execute(days_query)}
    db.session.rollback()
    site = db.session.execute(select(Site).where(Site.code == demo_site.SITE_CODE)).scalar_one()
    month = f"{first:%Y-%m}"  # the month the history began in
    start, end = month_bounds(month, business_tz())
    shops_statement = statement(db.session, site.id, month, start, end, energy_rows(db.session, site, month))
    return SimpleNamespace(
        statement=shops_statement,
        readings=readings, days=days, rebuilt=rebuilt, entries=entries, specs=specs,
        balances=dict(db.session.execute(select(Account.id, Account.balance_fen)).all()),
        s010=db.session.scalar(select(Account.balance_fen).where(Account.code == "S010")),
        e010_writes=db.session.scalar(select(Meter.purchase_count).where(Meter.code == "E010")),
        mismatches=ledger_mismatches(db.session),
        orders=db.session.execute(select(PaymentOrder.id, PaymentOrder.status, PaymentOrder.amount_fen)).all(),
        receipts=db.session.scalar(select(func.count()).select_from(Receipt)),
        fee_posted=db.session.scalar(select(func.coalesce(func.sum(FeeCharge.posted_fen), 0))),
        lines=db.session.scalar(select(func.sum(AllocationLine.amount_fen))),
        runs=db.session.scalar(select(func.sum(AllocationRun.total_fen))),
        water=[(m, k.value, a) for m, k, a in db.session.execute(
            select(Meter.code, Meter.kind, Account.code).join(Account)
            .where(Meter.profile == "payfirst-water-v1").order_by(Meter.code))],
    )


@pytest.fixture(scope="module")
def seeded(app, tmp_path_factory):
    """`demo seed --history-days 10` twice on a small demo mall: what each run printed and counted, what the
    first left, and `ledger check` after."""
    instance = tmp_path_factory.mktemp("instance")
    runner = app.test_cli_runner()
    runs = []
    with pytest.MonkeyPatch.context() as mp, app.app_context():
        mp.setattr(app, "instance_path", str(instance))
        mp.setattr(demo_site, "GATEWAYS", 1)
        mp.setattr(demo_site, "SHOPS_PER_GATEWAY", 12)
        mp.setattr(demo_site, "COMMON_PER_GATEWAY", 8)
        for _ in range(2):
            result = runner.invoke(args=["demo", "seed", "--history-days", str(DAYS)])
            assert result.exit_code == 0, result.output
            runs.append(SimpleNamespace(output=result.output, counts=counts()))
        check = runner.invoke(args=["ledger", "check"])
        left = snapshot()
        db.session.remove()
        empty_tables()
    return SimpleNamespace(first=runs[0], second=runs[1], check=check, left=left)


@pytest.fixture
def readings(seeded):
    """{meter code: [(interval_start, energy_total, delta, billed)]} in time order."""
    return seeded.left.readings


def test_every_meter_has_ten_days_of_quarter_hours_up_to_now(seeded, readings):
    assert len(readings) == 12 + 8 + 2
    for code, rows in readings.items():
        assert DAYS * 96 < len(rows) <= (DAYS + 1) * 96 + 1, code
        steps = {b[0] - a[0] for a, b in pairwise(rows)}
        assert steps == {timedelta(minutes=15)}, code


def test_a_second_seed_adds_nothing(seeded):
    assert "already there" in seeded.second.output
    assert seeded.second.counts == seeded.first.counts
    assert seeded.first.counts["IntervalReading"] > 20_000


def test_deltas_are_the_register_differences_after_a_baseline(seeded, readings):
    for code, rows in readings.items():
        assert rows[0][2] is None, code  # the first reading is the baseline, as the poll cycle's
        for (_, before, _, _), (_, after, delta, _) in pairwise(rows):
            assert delta == after - before, code


def test_platform_shop_readings_that_moved_are_billed_the_others_not(seeded, readings):
    for code in ("E001", "W001"):
        assert all(billed == bool(delta) for _, _, delta, billed in readings[code][1:])
    for code in ("E010", "C101"):  # meter mode charges itself; a common meter is allocated
        assert not any(billed for *_, billed in readings[code])


def test_ledger_check_passes_and_balances_equal_their_entries(seeded):
    assert seeded.check.exit_code == 0, seeded.check.output
    assert "ledger ok" in seeded.check.output
    assert seeded.left.mismatches == []


def test_each_balance_after_follows_the_entries_in_time_order(seeded):
    running = defaultdict(int)
    for e in seeded.left.entries:
        running[e["account_id"]] += e["amount_fen"]
        assert e["balance_after_fen"] == running[e["account_id"]]
    assert dict(running) == {a: b for a, b in seeded.left.balances.items() if b or a in running}


def test_openings_start_the_history_and_the_workbook_reimports_unchanged(seeded, readings):
    first = min(rows[0][0] for rows in readings.values())
    openings = [e for e in seeded.left.entries if e["kind"] == EntryKind.OPENING]
    assert len(openings) == 12
    assert all(e["created_at"] == first for e in openings)
    assert all(e["idempotency_key"].startswith("opening:duyun-xingli:S") for e in openings)
    assert "already up to date" in seeded.second.output


def test_the_money_has_every_kind_and_its_records(seeded):
    left = seeded.left
    kinds = defaultdict(int)
    for e in left.entries:
        kinds[e["kind"]] += 1
    for kind in (EntryKind.OPENING, EntryKind.ENERGY, EntryKind.WATER, EntryKind.FEE, EntryKind.ALLOCATION):
        assert kinds[kind], kind
    assert kinds[EntryKind.PAYMENT] + kinds[EntryKind.CASH] > 0
    paid = {e["order_id"]: e["amount_fen"] for e in left.entries if e["kind"] == EntryKind.PAYMENT}
    assert {o.id: o.amount_fen for o in left.orders} == paid
    assert all(o.status.value == "credited" for o in left.orders)
    assert left.receipts == kinds[EntryKind.CASH]
    assert left.fee_posted == -sum(e["amount_fen"] for e in left.entries
                                   if e["idempotency_key"].startswith("fee:"))
    assert left.lines == left.runs == -sum(e["amount_fen"] for e in left.entries if e["kind"] == EntryKind.ALLOCATION)
    assert left.lines > 0


def test_daily_roll_ups_are_the_sums_of_the_readings(seeded, readings):
    summed = defaultdict(lambda: [0, 0])
    for code, rows in readings.items():
        for at, _, delta, _ in rows:
            day = summed[(code, reading_day(at))]
            day[0] += delta or 0
            day[1] += 1
    assert {k: v[:2] for k, v in seeded.left.days.items()} == {k: tuple(v) for k, v in summed.items()}


def test_the_days_written_are_what_rebuild_daily_makes_of_the_readings_and_the_ledger(seeded):
    assert seeded.left.rebuilt == seeded.left.days


def test_the_days_charged_tie_out_with_the_energy_entries(seeded):
    charged = sum(day[-1] for day in seeded.left.days.values())
    posted = sum(e["amount_fen"] for e in seeded.left.entries if e["kind"] in (EntryKind.ENERGY, EntryKind.WATER))
    assert charged == -posted > 0


def test_water_meters_count_litres_for_the_restaurants(seeded, readings):
    assert seeded.left.water == [("W001", "water", "S001"), ("W002", "water", "S011")]
    used = sum(delta or 0 for _, _, delta, _ in readings["W001"])
    assert 5_000 < used < 100_000  # litres over ten days: a kitchen's taps


@pytest.mark.no_db
def test_day_shapes_differ_by_trade():
    def hourly(trade: str) -> list[float]:
        rng, hours = random.Random(1), [0.0] * 24
        for n in range(28):
            for q, amount in enumerate(quarter_hours(trade, 5_000, date(2026, 3, 2) + timedelta(days=n), rng)):
                hours[q // 4] += amount
        return hours

    restaurant, cold, retail = hourly("restaurant"), hourly("cold_storage"), hourly("retail")
    assert restaurant[12] > 2 * restaurant[15] and restaurant[18] > 2 * restaurant[15]  # lunch and dinner
    assert restaurant[12] > 5 * restaurant[3]
    assert 0.85 < sum(cold[0:6]) / sum(cold[12:18]) < 1.15  # as much by night as by day
    assert max(cold) < 1.5 * min(cold)  # no peak, the compressor's cycling only
    assert retail[20] > 10 * retail[4]  # open 10:00-22:00


@pytest.mark.no_db
def test_weekends_the_spring_festival_and_the_summer_move_retail():
    def day(d: date) -> int:
        return sum(quarter_hours("retail", 5_000, d, random.Random(3)))

    assert day(date(2026, 3, 7)) > 1.2 * day(date(2026, 3, 4))  # a Saturday against a Wednesday
    assert day(date(2026, 2, 18)) < 0.6 * day(date(2026, 3, 4))  # Spring Festival week
    assert day(date(2026, 7, 15)) > 1.3 * day(date(2026, 3, 4))  # air conditioning


def test_the_simulator_starts_each_register_at_its_last_stored_reading(seeded, readings):
    started = seeded.left.specs
    assert set(started) == set(readings)
    for code, rows in readings.items():
        assert started[code].energy_start == rows[-1][1], code
    assert started["E010"].remaining_fen == seeded.left.s010  # meter mode: what the books say it holds
    assert started["E010"].purchase_count == seeded.left.e010_writes > 0


@pytest.mark.no_db
def test_a_common_meters_year_stays_where_its_float32_register_is_exact():
    """A DTSU666 answers in float32 kWh: above 2^15 kWh a register read back may lose 0.01 kWh (a reset alarm)."""
    rng = random.Random(5)
    year = sum(sum(quarter_hours(trade, COMMON_PEAK_W[trade], date(2025, 12, 1) + timedelta(days=n), rng))
               for trade in ("escalator",) for n in range(366))
    assert 8_000 * 100 + year < 2**15 * 100


@pytest.mark.no_db
def test_a_late_payer_is_cut_off_uses_nothing_while_off_and_is_restored_by_paying():
    from datetime import UTC, datetime

    from portal.sites.demo_money import DemoMeter, ShopYear

    meter = DemoMeter(id=1, code="E037", kind="electric", meter_mode=False, trade="retail", peak=3_000,
                      price_e4=9_500, register=100_000)
    shop = ShopYear(1, "S037", [meter], 0, random.Random(37), lambda fee, balance: (min(fee, balance), 0),
                    late_payer=True)
    shop._post(EntryKind.OPENING, 3_000, "opening:x:S037", datetime(2026, 3, 1, 16, tzinfo=UTC), memo="", actor="t")
    for n in range(8):
        midnight = datetime(2026, 3, 1, 16, tzinfo=UTC) + timedelta(days=n)
        shop.live(date(2026, 3, 2) + timedelta(days=n), midnight, 96, None)
    actions = [c["action"] for c in shop.commands]
    assert actions[:2] == ["trip", "close"]
    trip, close = shop.commands[0]["at"], shop.commands[1]["at"]
    start = datetime(2026, 3, 1, 16, tzinfo=UTC)
    dark = shop.deltas[1][int((trip - start) / timedelta(minutes=15)) + 1:int((close - start) / timedelta(minutes=15))]
    assert dark and not any(dark)
    assert any(e["kind"] in (EntryKind.PAYMENT, EntryKind.CASH) and e["created_at"] < close for e in shop.entries)
    assert shop.balance == sum(e["amount_fen"] for e in shop.entries)


def test_the_statement_of_the_month_the_history_began_in_lists_every_shop_and_ties_out(seeded):
    rows = seeded.left.statement
    assert len(rows) == 12  # the shops were open all the year their history covers
    total = totals(rows)
    assert total.ties_out and total.roll_up_gaps == []
    assert total.fen["energy"] < 0 and total.fen["paid"] > 0 and total.usage[MeterKind.ELECTRIC] > 0
