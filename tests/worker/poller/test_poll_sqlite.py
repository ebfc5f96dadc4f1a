"""The embedded demo polls on SQLite: the set-wise recording falls back to portable statements there."""
from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import select

from portal.control.balance import enforce_balance
from portal.control.commands import queue_deduction
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches, post_entry
from portal.models import Account, AlarmKind, EntryKind, IntervalReading, LedgerEntry, MeterState, Site, Supply
from tests.worker.poller.farm import GW, M, start_farm

pytestmark = pytest.mark.no_db
QUARTER = 15 * 60


@pytest.fixture
def sqlite_farm(sqlite_app, monkeypatch):
    """start_farm(...) on the embedded demo's SQLite; the polls that commands ask for are recorded, not run, so the
    test drives every cycle at simulated time."""
    demo = sqlite_app(JOBS_INLINE=True)
    demo.polls = []
    monkeypatch.setattr(demo.extensions["payfirst.dispatcher"].runner, "submit",
                        lambda func, args: demo.polls.extend(args))
    farms = []
    yield lambda *gateways: farms.append(start_farm(*gateways)) or farms[-1]
    for f in farms:
        f.sim.stop()


def test_cycles_read_bill_trip_and_restore_on_sqlite(sqlite_farm):
    f = sqlite_farm(GW("GW1", (
        M(1, balance_fen=100, load=2_000),  # 50 fen a quarter: billed to zero at 12:30
        M(2, "acrel-ddsy1352", balance_fen=10_000, load=1_000),
        M(3, "payfirst-water-v1", balance_fen=10_000, load=400),
        M(4, balance_fen=None, load=500),  # a common-area meter
    )))
    f.cycle(0)
    first = {s.meter_id: s for s in db.session.execute(select(MeterState)).scalars()}
    assert len(first) == 4 and all(s.online for s in first.values())
    assert first[f.meter("GW1", 1).id].energy_tou == list(f.snapshot("GW1", 1)["energy_tou"])

    f.cycle(QUARTER)
    f.cycle(QUARTER)  # 12:30: meter 1's shop reaches zero, so its supply should go off
    shop = f.meter("GW1", 1)
    assert shop.account.balance_fen == 0
    assert (shop.supply_desired, shop.desired_reason) == (Supply.OFF, "arrears")
    assert f.gateway_ids["GW1"] in current_app.polls
    f.cycle(60)  # the poll opens the relay and records it
    assert f.snapshot("GW1", 1)["supply"] == "off"
    assert f.meter("GW1", 1).state.supply_actual == Supply.OFF

    post_entry(db.session, shop.account, 1_000, EntryKind.CASH, "cash:sqlite:1")
    enforce_balance(db.session, shop.account, actor="staff:cashier")
    db.session.commit()
    f.cycle(60)
    assert f.snapshot("GW1", 1)["supply"] == "on"
    assert f.meter("GW1", 1).state.supply_actual == Supply.ON

    readings = db.session.execute(select(IntervalReading.meter_id, IntervalReading.delta, IntervalReading.billed)
                                  .order_by(IntervalReading.interval_start, IntervalReading.meter_id)).all()
    assert len(readings) == 12  # 4 meters x 12:00, 12:15, 12:30
    assert [r.delta for r in readings[:4]] == [None] * 4
    assert [r.billed for r in readings if r.meter_id == shop.id] == [False, True, True]
    energy = db.session.execute(select(LedgerEntry.amount_fen).where(LedgerEntry.kind == EntryKind.ENERGY)
                                .where(LedgerEntry.account_id == shop.account_id)).scalars().all()
    assert energy == [-50, -50]
    assert ledger_mismatches(db.session) == []
    assert f.alarms(AlarmKind.METER_OFFLINE) == []


def test_a_silent_meter_raises_and_clears_its_alarm_on_sqlite(sqlite_farm):
    from portal.metering.cycle import METER_OFFLINE_AFTER, PROBE_EVERY

    f = sqlite_farm(GW("GW1", (M(1, load=1_000), M(2, load=1_000))))
    f.sim_meter("GW1", 2).set_fault("silent")
    for _ in range(METER_OFFLINE_AFTER):
        f.cycle(60, timeout=0.2)
    assert [a.meter_id for a in f.alarms(AlarmKind.METER_OFFLINE)] == [f.meter("GW1", 2).id]
    assert f.meter("GW1", 1).state.online and not f.meter("GW1", 2).state.online

    f.sim_meter("GW1", 2).set_fault(None)
    for _ in range(PROBE_EVERY):
        f.cycle(60, timeout=0.2)
    assert f.alarms(AlarmKind.METER_OFFLINE) == []
    assert f.meter("GW1", 2).state.online


def test_meter_mode_books_keep_on_sqlite(sqlite_farm):
    f = sqlite_farm(GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=9_000, load=2_000),
                               M(2, control_mode="meter", balance_fen=500, remaining_fen=900, load=0))))
    db.session.get(Site, f.site_id).low_balance_levels_fen = [8_800]
    db.session.commit()
    f.cycle(0)  # the first shop's books catch up; the second's meter holds more than its ledger
    account = db.session.get(Account, f.meter("GW1", 1).account_id)
    post_entry(db.session, account, -300, EntryKind.ADJUSTMENT, "adjust:sqlite")
    queue_deduction(db.session, f.meter("GW1", 1), 300, "deduction:adjust:sqlite", "staff:m")
    db.session.commit()
    f.cycle(60)
    f.cycle(60)

    db.session.expire_all()
    assert db.session.get(Account, account.id).balance_fen == f.snapshot("GW1", 1)["remaining_fen"] < 8_700
    assert [a.account_id for a in f.alarms(AlarmKind.LOW_BALANCE_1)] == [account.id]
    [mismatch] = f.alarms(AlarmKind.BOOKS_MISMATCH)
    assert mismatch.account_id == f.meter("GW1", 2).account_id
    assert ledger_mismatches(db.session) == []


def test_the_daily_roll_ups_are_kept_and_rebuilt_on_sqlite(sqlite_farm):
    from sqlalchemy import func

    from portal.metering.daily import rebuild_daily
    from portal.models import DailyUsage
    from tests.metering.test_daily import expected, rolled, snapshot
    from tests.worker.poller.test_poll_daily import charged_by_ledger, charged_by_rollup, raw_readings

    f = sqlite_farm(GW("GW1", (M(1, balance_fen=100_000, load=2_000), M(2, "payfirst-water-v1", balance_fen=100_000,
                                                                          load=400), M(3, balance_fen=None, load=500))))
    f.cycle(0)
    for seconds in (QUARTER, QUARTER, 12 * 3600, QUARTER):  # across business midnight
        f.cycle(seconds)
    days = rolled()
    assert days == expected(raw_readings()) and len({d for _, d in days}) == 2
    assert charged_by_rollup() == charged_by_ledger() != {}
    kept = snapshot()
    first, last = db.session.execute(select(func.min(DailyUsage.day), func.max(DailyUsage.day))).one()
    rebuild_daily(db.session, first, last)
    assert snapshot() == kept
