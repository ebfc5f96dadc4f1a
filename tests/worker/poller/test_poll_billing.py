"""Readings become charges: each 15-minute delta of a platform-mode shop, priced once, exactly."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import EntryKind, IntervalReading, LedgerEntry
from tests.statements import statements_sent
from tests.worker.poller.farm import GW, M

QUARTER = 15 * 60


def _entries(kind: EntryKind) -> list[int]:
    return list(db.session.execute(
        select(LedgerEntry.amount_fen).where(LedgerEntry.kind == kind).order_by(LedgerEntry.id)).scalars())


def test_each_interval_delta_is_billed_once_at_the_tariff_price(farm):
    f = farm(GW("GW1", (M(1, balance_fen=1_000, load=2_000),)))  # 0.50 kWh a quarter: 50 fen
    f.cycle(0)
    f.cycle(QUARTER)
    f.cycle(QUARTER // 3)  # more cycles inside the same interval bill nothing more
    f.cycle(QUARTER // 3)

    assert _entries(EntryKind.ENERGY) == [-50]
    assert f.meter("GW1", 1).account.balance_fen == 950
    assert ledger_mismatches(db.session) == []


def test_every_priced_reading_is_marked_billed(farm):
    f = farm(GW("GW1", (M(1, balance_fen=1_000, load=2_000),)))
    f.cycle(0)
    f.cycle(QUARTER)

    readings = db.session.execute(select(IntervalReading).order_by(IntervalReading.interval_start)).scalars().all()
    assert [(r.delta, r.billed) for r in readings] == [(None, False), (50, True)]


def test_a_cycle_writes_each_reading_once_already_billed(farm):
    f = farm(GW("GW1", (M(1, balance_fen=1_000, load=2_000), M(2, balance_fen=1_000, load=4_000))))
    f.cycle(0)
    with statements_sent(lambda statement, parameters: "interval_readings" in statement) as sql:
        f.cycle(QUARTER)

    written = [s.split("(")[0].strip() for s in sql if not s.lstrip().upper().startswith("SELECT")]
    assert written == ["INSERT INTO interval_readings"]  # no UPDATE ... SET billed afterwards
    billed = db.session.execute(select(IntervalReading.meter_id, IntervalReading.delta, IntervalReading.billed)
                                .where(IntervalReading.delta.is_not(None)).order_by(IntervalReading.meter_id)).all()
    assert billed == [(f.meter("GW1", 1).id, 50, True), (f.meter("GW1", 2).id, 100, True)]
    assert ledger_mismatches(db.session) == []


def test_water_sub_fen_remainders_carry_into_the_next_interval(farm):
    # 300 L/h: 75 L a quarter, 7.5 fen at 1.0000 yuan per m³
    f = farm(GW("GW1", (M(1, "payfirst-water-v1", balance_fen=1_000, load=300),)))
    f.cycle(0)
    f.cycle(QUARTER)
    f.cycle(QUARTER)

    assert _entries(EntryKind.WATER) == [-7, -8]
    assert f.meter("GW1", 1).charge_remainder_e5 == 0


def test_meter_mode_consumption_is_not_billed_by_the_platform(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=1_000, remaining_fen=1_000, load=2_000),)))
    f.cycle(0)
    f.cycle(QUARTER)

    assert _entries(EntryKind.ENERGY) == [-50]  # not priced by the platform: what the meter took, mirrored
    assert f.meter("GW1", 1).account.balance_fen == 1_000 - 50
    assert f.meter("GW1", 1).state.remaining_fen == 1_000 - 50  # the meter charged itself


def test_common_area_meter_is_read_but_never_billed_to_a_shop(farm):
    f = farm(GW("GW1", (M(1, "chint-dtsu666", balance_fen=None, load=6_000),)))
    f.cycle(0)
    f.cycle(QUARTER)

    assert db.session.execute(select(LedgerEntry)).first() is None
    assert f.meter("GW1", 1).state.energy_total == 150


def test_a_cycle_says_where_its_time_went(farm):
    """`make bench` prints a boundary cycle's parts (issue 17): they are the cycle's, they add up, and billing and
    the balance rules show only in a cycle that bills."""
    import time

    f = farm(GW("GW1", (M(1, balance_fen=1_000, load=2_000), M(2, balance_fen=30, load=2_000))))
    f.cycle(0)
    steady = f.cycle(60)
    began = time.perf_counter()
    boundary = f.cycle(QUARTER)
    wall = time.perf_counter() - began

    assert {"load", "bus wait", "record"} <= set(steady.parts) and steady.parts.get("bill", 0) < 0.05
    assert {"load", "bus wait", "record", "bill", "rules", "books"} <= set(boundary.parts)
    assert all(seconds >= 0 for seconds in boundary.parts.values())
    assert sum(boundary.parts.values()) <= wall  # the commit is the caller's, outside the parts
    assert sum(boundary.parts.values()) >= 0.5 * wall
    assert len(_entries(EntryKind.ENERGY)) == 2  # both shops billed in the boundary cycle
