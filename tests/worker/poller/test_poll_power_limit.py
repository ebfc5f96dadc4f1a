"""A shop above its power limit for several reads in a row is tripped by the platform, with an alarm."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.metering.cycle import OVER_LIMIT_READS
from portal.models import AlarmKind, AuditEntry, CommandStatus, ControlCommand, Supply
from tests.worker.poller.farm import GW, M

FARM = (GW("GW1", (M(1, balance_fen=10_000, power_limit_w=3_000, load=2_000),)),)
#: a meter with no limit register of its own: only the platform's consecutive-reads check protects it
PLATFORM_CHECKED = (GW("GW1", (M(1, profile="acrel-ddsy1352", balance_fen=10_000, power_limit_w=3_000, load=2_000),)),)


def test_load_above_the_limit_for_fewer_reads_than_needed_does_not_trip(farm):
    f = farm(*PLATFORM_CHECKED)
    f.overload("GW1", 1, OVER_LIMIT_READS - 1)

    assert f.meter("GW1", 1).supply_desired == Supply.ON
    assert f.alarms(AlarmKind.OVER_POWER) == []


def test_a_read_under_the_limit_starts_the_count_again(farm):
    f = farm(*PLATFORM_CHECKED)
    f.overload("GW1", 1, OVER_LIMIT_READS - 1)
    f.sim_meter("GW1", 1).set_load(2_500)
    f.cycle()
    f.sim_meter("GW1", 1).set_load(4_500)
    for _ in range(OVER_LIMIT_READS - 1):
        f.cycle()

    assert f.meter("GW1", 1).supply_desired == Supply.ON


def test_load_above_the_limit_for_n_reads_sets_desired_off_with_an_over_power_alarm(farm, polls):
    f = farm(*PLATFORM_CHECKED)
    f.overload("GW1", 1, OVER_LIMIT_READS)

    meter = f.meter("GW1", 1)
    assert (meter.supply_desired, meter.desired_reason) == (Supply.OFF, "over_power")
    [alarm] = f.alarms(AlarmKind.OVER_POWER)
    assert alarm.meter_id == meter.id and "4500 W" in alarm.message
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "meter.over_power")).scalar_one()
    assert polls[-1] == f.gateway_ids["GW1"]


def test_the_poll_after_an_over_power_decision_opens_the_relay(farm):
    f = farm(*PLATFORM_CHECKED)
    f.overload("GW1", 1, OVER_LIMIT_READS)

    f.cycle()

    assert f.snapshot("GW1", 1)["supply"] == "off"
    [cmd] = db.session.execute(select(ControlCommand).where(ControlCommand.actor == "system:power-limit")).scalars()
    assert cmd.status == CommandStatus.APPLIED
    assert len(f.alarms(AlarmKind.OVER_POWER, open_only=False)) == 1


def test_a_meter_that_tripped_itself_for_power_stays_off_until_a_person_closes_it(farm):
    from portal.control.commands import command_meter

    f = farm(*FARM)
    f.cycle()
    sim = f.sim_meter("GW1", 1)
    sim.set_power_limit_w(3_000)
    sim.set_load(4_500)
    f.cycle()  # the meter opens by itself after 3 s above its own limit
    assert f.snapshot("GW1", 1)["supply"] == "off"
    f.cycle()

    meter = f.meter("GW1", 1)
    assert meter.supply_desired == Supply.OFF and meter.desired_reason == "over_power"
    assert len(f.alarms(AlarmKind.OVER_POWER)) == 1
    assert f.snapshot("GW1", 1)["supply"] == "off"  # the platform did not close it again

    sim.set_load(1_000)
    command_meter(db.session, meter, "close", "staff:electrician", "load reduced")
    db.session.commit()
    f.cycle()
    assert f.snapshot("GW1", 1)["supply"] == "on"
    assert f.alarms(AlarmKind.OVER_POWER) == []


def test_the_shops_power_limit_is_written_into_the_meter_and_kept_there(farm):
    f = farm(*FARM)
    f.cycle()  # first read of a meter: its limit register is checked and written at once
    assert f.sim_meter("GW1", 1).snapshot()["power_limit_w"] == 3_000

    f.sim_meter("GW1", 1).set_power_limit_w(9_000)  # changed at the meter behind the platform's back
    for _ in range(15):  # within a quarter of an hour the platform reads it back and rewrites it
        f.cycle()
    assert f.sim_meter("GW1", 1).snapshot()["power_limit_w"] == 3_000
