"""An energy register that goes backwards is tamper: alarmed, not billed across, a new baseline."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.models import AlarmKind, EntryKind, IntervalReading, LedgerEntry
from tests.worker.poller.farm import GW, M

QUARTER = 15 * 60
#: 4 kW: 100 units (1.00 kWh, 100 fen) per quarter hour
FARM = (GW("GW1", (M(1, balance_fen=10_000, load=4_000),)),)


def _energy_entries() -> list[LedgerEntry]:
    return list(db.session.execute(
        select(LedgerEntry).where(LedgerEntry.kind == EntryKind.ENERGY).order_by(LedgerEntry.id)).scalars())


def _reset_mid_interval(f) -> None:
    """Bill one interval, then clear the register half way through the next one and poll."""
    f.cycle(0)
    f.cycle(QUARTER)  # 12:15: 100 fen
    f.cycle(QUARTER // 2)
    f.sim_meter("GW1", 1).reset_energy(0)
    f.cycle(QUARTER // 2)  # 12:30: the register went back


def test_energy_register_going_backwards_raises_tamper(farm):
    f = farm(*FARM)
    _reset_mid_interval(f)

    [alarm] = f.alarms(AlarmKind.TAMPER)
    assert alarm.meter_id == f.meter("GW1", 1).id
    assert "went back" in alarm.message


def test_interval_across_a_reset_is_not_billed(farm):
    f = farm(*FARM)
    _reset_mid_interval(f)

    assert [e.amount_fen for e in _energy_entries()] == [-100]
    assert f.meter("GW1", 1).account.balance_fen == 10_000 - 100
    newest = db.session.execute(
        select(IntervalReading).order_by(IntervalReading.interval_start.desc())).scalars().first()
    assert (newest.energy_total, newest.delta, newest.billed) == (f.snapshot("GW1", 1)["energy_total"], None, False)


def test_billing_resumes_from_the_register_value_after_the_reset(farm):
    f = farm(*FARM)
    _reset_mid_interval(f)
    baseline = f.snapshot("GW1", 1)["energy_total"]  # 7.5 minutes since the reset: 50 units

    f.cycle(QUARTER)  # 12:45

    assert baseline == 50
    assert [e.amount_fen for e in _energy_entries()] == [-100, -100]
    assert f.snapshot("GW1", 1)["energy_total"] == baseline + 100
    assert len(f.alarms(AlarmKind.TAMPER, open_only=False)) == 1  # once per crossing
    assert ledger_mismatches(db.session) == []
