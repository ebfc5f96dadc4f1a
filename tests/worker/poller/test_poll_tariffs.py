"""Tariffs through real poll cycles: time-of-use, a price change mid-month, tiers over the month, overrides.

The farm starts on Monday 2025-03-03 at noon in Shanghai with a flat site tariff of 1.0000 yuan/kWh. A
load of 2,000 W uses exactly 50 units (0.50 kWh) a quarter. Prices are changed through
portal.tariffs.admin at the farm's simulated time, as a manager would at that moment.

The simulated payfirst-prepaid-v1 meter keeps its own time-of-use registers (尖峰平谷) by the hour of
the day in Shanghai: 00-07 valley, 07-08 flat, 08-11 peak, 11-18 flat, 18-19 peak, 19-21 sharp,
21-23 peak, 23-24 valley (worker/simulator/load.py). chint-dtsu666 has no such registers, so its
consumption is shared among the periods by time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import EntryKind, LedgerEntry, Meter, Site, Tariff
from portal.tariffs.admin import add_version, assign_meter_tariff, create_tariff
from tests.worker.poller.farm import GW, NOON, M

QUARTER = 15 * 60
HOUR = 3600
ACTOR = "staff:test"
RICH = 10_000_000  # 100,000 yuan: no balance rule gets in the way
#: the simulator's own time-of-use day, as a tariff
SIM_DAY = [("00:00", "07:00", "valley"), ("07:00", "08:00", "flat"), ("08:00", "11:00", "peak"),
           ("11:00", "18:00", "flat"), ("18:00", "19:00", "peak"), ("19:00", "21:00", "sharp"),
           ("21:00", "23:00", "peak"), ("23:00", "00:00", "valley")]
#: yuan per kWh: flat 1, peak 2, sharp 3, valley 0.5 (in fen per 0.50 kWh quarter: 50, 100, 150, 25)
PRICES = {"sharp": 30_000, "peak": 20_000, "flat": 10_000, "valley": 5_000}


def _charges(meter: Meter) -> list[int]:
    return list(db.session.execute(select(LedgerEntry.amount_fen).where(
        LedgerEntry.meter_id == meter.id, LedgerEntry.kind == EntryKind.ENERGY).order_by(LedgerEntry.id)).scalars())


def _site_tariff(f, kind: str, code: str = "NEW", **prices):
    """A new tariff made the site's default, its first prices from the farm's now."""
    site = db.session.get(Site, f.site_id)
    tariff = create_tariff(db.session, site, code, code.lower(), kind, ACTOR)
    add_version(db.session, tariff, f.now, actor=ACTOR, now=f.now, **prices)
    site.default_tariff_id = tariff.id
    db.session.commit()
    return tariff


def _jump_to(f, local: datetime) -> None:
    """One cycle at this Shanghai wall-clock time (the readings in between are simply missed)."""
    f.cycle((local - f.now).total_seconds())


# -- time-of-use -----------------------------------------------------------------------------------

def test_the_simulator_fills_its_tou_registers_by_the_hour_in_shanghai(farm):
    f = farm(GW("GW1", (M(1, balance_fen=RICH, load=2_000),)))
    before = f.snapshot("GW1", 1)["energy_tou"]
    _jump_to(f, NOON.replace(hour=19))  # 12:00-18:00 flat, 18:00-19:00 peak
    after = f.snapshot("GW1", 1)["energy_tou"]

    assert [a - b for a, b in zip(after, before)] == [0, 200, 1_200, 0]  # sharp, peak, flat, valley


def test_a_tou_tariff_charges_each_interval_by_the_period_it_ran_in(farm):
    f = farm(GW("GW1", (M(1, balance_fen=RICH, load=2_000),)))
    _site_tariff(f, "tou", periods=SIM_DAY, period_prices_e4=PRICES)
    f.cycle(0)  # 12:00: the first reading
    _jump_to(f, NOON.replace(hour=17, minute=45))  # 5 3/4 h flat: 1,150 units at 1 yuan
    for _ in range(5):  # 18:00 (the quarter before is flat), 18:15 ... 19:00 peak
        f.cycle(QUARTER)
    for _ in range(2):  # 19:15, 19:30: sharp
        f.cycle(QUARTER)
    _jump_to(f, NOON.replace(hour=23, minute=30))  # 19:30-23:30: 1 1/2 h sharp, 2 h peak, 1/2 h valley
    meter = f.meter("GW1", 1)

    assert _charges(meter) == [-1_150, -50, -100, -100, -100, -100, -150, -150, -(300 * 3 + 400 * 2 + 100 // 2)]
    assert ledger_mismatches(db.session) == []


def test_the_meter_tou_registers_price_an_interval_across_a_period_boundary(farm):
    # 17:00-19:00 in one interval (readings missed), the shop busy until 18:00 and idle after: the
    # meter's registers say it was all flat, though half the interval's time was peak
    f = farm(GW("GW1", (M(1, balance_fen=RICH, load=2_000),)))
    _site_tariff(f, "tou", periods=SIM_DAY, period_prices_e4=PRICES)
    _jump_to(f, NOON.replace(hour=17))
    f.clock.advance(HOUR)
    f.sim_meter("GW1", 1).set_load(0)  # integrates 17:00-18:00 at 2 kW first
    _jump_to(f, NOON.replace(hour=19))

    assert _charges(f.meter("GW1", 1))[-1] == -200  # 200 units flat at 1 yuan, not 100 flat + 100 peak


def test_without_tou_registers_an_interval_across_a_boundary_is_shared_by_time(farm):
    # a chint-dtsu666 has no TOU registers; the tariff's peak starts at 18:10, inside the 18:00-18:15 quarter
    f = farm(GW("GW1", (M(1, "chint-dtsu666", balance_fen=RICH, load=2_000),)))
    day = [("00:00", "18:10", "flat"), ("18:10", "00:00", "peak")]
    _site_tariff(f, "tou", periods=day, period_prices_e4={"flat": 10_000, "peak": 20_000})
    _jump_to(f, NOON.replace(hour=18))
    f.cycle(QUARTER)
    f.cycle(QUARTER)

    # 18:00-18:15: 50 units, 10 minutes flat (33.3 -> 33) and 5 minutes peak (16.7 -> 17): 33 + 34 fen
    assert _charges(f.meter("GW1", 1))[-2:] == [-67, -100]


# -- a price change --------------------------------------------------------------------------------

def test_a_new_version_mid_month_prices_intervals_before_it_at_the_old_price_and_after_at_the_new(farm):
    f = farm(GW("GW1", (M(1, balance_fen=RICH, load=2_000),)))
    site = db.session.get(Site, f.site_id)
    f.cycle(0)  # 12:00
    f.cycle(QUARTER)  # 12:15: old price
    add_version(db.session, db.session.get(Tariff, site.default_tariff_id), NOON + timedelta(minutes=30), actor=ACTOR,
                unit_price_e4=30_000, now=f.now)  # decided at 12:15, from 12:30
    db.session.commit()
    f.cycle(QUARTER)  # 12:15-12:30: still the old price
    f.cycle(QUARTER)  # 12:30-12:45: the new one
    f.cycle(QUARTER)

    assert _charges(f.meter("GW1", 1)) == [-50, -50, -150, -150]


# -- tiers -----------------------------------------------------------------------------------------

def test_a_tier_applies_to_the_month_running_total_and_restarts_with_the_shanghai_month(farm):
    f = farm(GW("GW1", (M(1, balance_fen=RICH, load=2_000),)))
    # up to 1 kWh a month: 1 yuan; above: 2 yuan
    _site_tariff(f, "tiered", code="STEP", tiers=[(100, 10_000), (None, 20_000)])
    f.cycle(0)
    f.cycle(QUARTER)  # 0 -> 50 units: first tier
    f.cycle(QUARTER)  # 50 -> 100: first tier
    f.cycle(QUARTER)  # 100 -> 150: second tier
    _jump_to(f, datetime(2025, 3, 31, 23, 45, tzinfo=NOON.tzinfo))  # the rest of March, second tier
    f.cycle(QUARTER)  # 23:45-24:00, still March
    f.cycle(QUARTER)  # 00:00-00:15 on 1 April in Shanghai (still 31 March in UTC): a new month
    f.cycle(QUARTER)
    f.cycle(QUARTER)

    charges = _charges(f.meter("GW1", 1))
    rest_of_march = (datetime(2025, 3, 31, 23, 45) - datetime(2025, 3, 3, 12, 45)).total_seconds() // QUARTER * 50
    assert charges[:3] == [-50, -50, -100]
    assert charges[3] == -int(rest_of_march) * 2
    assert charges[4:] == [-100, -50, -50, -100]


# -- per-meter override ----------------------------------------------------------------------------

def test_a_meter_override_wins_over_the_site_default(farm):
    f = farm(GW("GW1", (M(1, balance_fen=RICH, load=2_000), M(2, balance_fen=RICH, load=2_000))))
    site = db.session.get(Site, f.site_id)
    special = create_tariff(db.session, site, "SPECIAL", "cold store", "flat", ACTOR)
    add_version(db.session, special, f.now, actor=ACTOR, unit_price_e4=30_000, now=f.now)
    assign_meter_tariff(db.session, f.meter("GW1", 2), special, ACTOR, now=f.now)
    db.session.commit()
    f.cycle(0)
    f.cycle(QUARTER)
    assign_meter_tariff(db.session, f.meter("GW1", 2), None, ACTOR, now=f.now)  # back to the default
    db.session.commit()
    f.cycle(QUARTER)

    assert _charges(f.meter("GW1", 1)) == [-50, -50]
    assert _charges(f.meter("GW1", 2)) == [-150, -50]
