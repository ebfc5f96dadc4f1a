"""The poll cycle keeps the daily roll-ups: usage from its readings, money from the billing it posts, across a
business midnight, for platform and meter mode, electricity and water, a meter swap; the rebuild agrees."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal.extensions import db
from portal.metering.daily import posting_day, rebuild_daily
from portal.metering.swap import replace_meter
from portal.models import DailyUsage, EntryKind, IntervalReading, LedgerEntry
from tests.metering.test_daily import expected, rolled, snapshot
from tests.worker.poller.farm import GW, PRICE_E4, M
from worker.simulator import SimMeterSpec

QUARTER = 15 * 60
MALL = GW("GW1", (
    M(1, balance_fen=100_000, load=2_000),  # 0.5 kWh a quarter, 50 fen
    M(2, "payfirst-water-v1", balance_fen=100_000, load=400),  # 100 L a quarter
    M(3, control_mode="meter", balance_fen=10_000, remaining_fen=10_000, load=1_000),
    M(4, balance_fen=None, load=800),  # a common-area meter: usage, no money
))


def raw_readings() -> list[dict]:
    t = IntervalReading.__table__
    return [dict(r._mapping) for r in db.session.execute(select(t.c.meter_id, t.c.interval_start, t.c.energy_total,
                                                                t.c.delta))]


def charged_by_ledger() -> dict:
    """(meter, posting day) -> energy and water fen, straight from the ledger."""
    out: dict = {}
    for meter_id, at, amount in db.session.execute(select(LedgerEntry.meter_id, LedgerEntry.created_at,
                                                          LedgerEntry.amount_fen).where(
            LedgerEntry.kind.in_((EntryKind.ENERGY, EntryKind.WATER)))):
        key = (meter_id, posting_day(at))
        out[key] = out.get(key, 0) - amount
    return out


def charged_by_rollup() -> dict:
    return {(d.meter_id, d.day): d.charged_fen for d in db.session.execute(select(DailyUsage)).scalars()
            if d.charged_fen}


def test_cycles_keep_the_days_equal_to_the_readings_and_the_ledger(farm):
    f = farm(MALL)
    f.cycle(0)
    for _ in range(3):
        f.cycle(QUARTER)
    f.cycle(12 * 3600)  # across business midnight: the meters were offline, the whole gap counts on the new day
    for _ in range(2):
        f.cycle(QUARTER)

    days = rolled()
    assert days == expected(raw_readings())
    assert {d for _, d in days} == {date(2025, 3, 3), date(2025, 3, 4)}
    shop = f.meter("GW1", 1).id
    assert days[(shop, date(2025, 3, 3))]["usage"] == 150  # three quarters of 0.5 kWh
    assert charged_by_rollup() == charged_by_ledger()
    # at ¥1/kWh every 0.01 kWh the shop used was charged 1 fen (posted now: money counts on the day it is posted)
    assert sum(v for (m, _), v in charged_by_rollup().items() if m == shop) == sum(
        d["usage"] for (m, _), d in days.items() if m == shop) * PRICE_E4 // 10_000
    meter_mode = f.meter("GW1", 3).id
    assert any(m == meter_mode for m, _ in charged_by_rollup())  # the meter's own charges, mirrored
    common = f.meter("GW1", 4).id
    assert not any(m == common for m, _ in charged_by_rollup())
    assert all(d.account_id is None for d in db.session.execute(
        select(DailyUsage).where(DailyUsage.meter_id == common)).scalars())

    kept = snapshot()
    first, last = db.session.execute(select(func.min(DailyUsage.day), func.max(DailyUsage.day))).one()
    rebuild_daily(db.session, first, last)
    assert snapshot() == kept


def test_a_swapped_meter_days_hold_the_old_and_new_registers(farm):
    f = farm(GW("GW1", (M(1, balance_fen=100_000, load=2_000),)))
    f.cycle(0)
    f.cycle(QUARTER)
    f.clock.advance(60)
    old = f.snapshot("GW1", 1)
    replace_meter(db.session, f.meter("GW1", 1), old["energy_total"], "E1-B", 500, "staff:c", now=f.now)
    db.session.commit()
    f.sim.replace_meter("GW1", SimMeterSpec(1, "payfirst-prepaid-v1", energy_start=500)).set_load(2_000)
    f.cycle(QUARTER)

    [day] = db.session.execute(select(DailyUsage).where(DailyUsage.readings > 0)).scalars().all()
    assert rolled() == expected(raw_readings())
    assert (day.readings, day.closing_reading) == (5, f.snapshot("GW1", 1)["energy_total"])
    assert day.usage == old["energy_total"] - day.opening_reading + day.closing_reading - 500
    assert charged_by_rollup() == charged_by_ledger()
    kept = snapshot()
    rebuild_daily(db.session, day.day, day.day)
    assert snapshot() == kept
