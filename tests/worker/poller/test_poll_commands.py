"""Relay commands are level-triggered: one sent while the gateway is down is applied when it returns."""
from __future__ import annotations

from sqlalchemy import select

from portal.control.commands import command_meter
from portal.extensions import db
from portal.metering.cycle import METER_OFFLINE_AFTER
from portal.models import AuditEntry, CommandStatus, ControlCommand, Supply
from tests.worker.poller.farm import GW, M
from worker.jobs.polling import poll_gateway_job

FARM = (GW("GW1", (M(1, balance_fen=10_000, load=1_000), M(2, balance_fen=10_000, load=1_000))),)


def _trip_while_down(f, cycles: int = 1) -> ControlCommand:
    f.cycle()
    f.set_down("GW1")
    cmd = command_meter(db.session, f.meter("GW1", 1), "trip", "staff:alice", "meter box open")
    db.session.commit()
    for _ in range(cycles):
        f.cycle()
    return cmd


def test_trip_sent_while_the_gateway_is_down_stays_pending_with_supply_desired_off(farm):
    f = farm(*FARM)
    cmd = _trip_while_down(f, cycles=2)

    assert db.session.get(ControlCommand, cmd.id).status == CommandStatus.PENDING
    assert f.meter("GW1", 1).supply_desired == Supply.OFF
    assert f.snapshot("GW1", 1)["supply"] == "on"


def test_pending_trip_is_applied_by_the_first_cycle_after_the_gateway_returns(farm):
    f = farm(*FARM)
    # down long enough for its meters to have missed more polls than the offline threshold
    cmd = _trip_while_down(f, cycles=METER_OFFLINE_AFTER + 1)

    f.set_down("GW1", False)
    f.cycle()

    assert f.snapshot("GW1", 1)["supply"] == "off"
    cmd = db.session.get(ControlCommand, cmd.id)
    assert (cmd.status, cmd.error) == (CommandStatus.APPLIED, "")
    assert cmd.applied_at == f.now
    assert f.meter("GW1", 1).state.supply_actual == Supply.OFF
    assert f.snapshot("GW1", 2)["supply"] == "on"  # its neighbour untouched


def test_trip_command_is_audited_with_its_actor_and_reason(farm):
    f = farm(*FARM)
    _trip_while_down(f)

    [row] = db.session.execute(select(AuditEntry).where(AuditEntry.action == "meter.trip")).scalars()
    assert (row.actor, row.target_type, row.target_id) == ("staff:alice", "meter", f.meter("GW1", 1).id)
    assert row.detail["reason"] == "meter box open" and row.detail["supply_desired"] == "off"


def test_a_command_asks_for_a_poll_of_its_gateway(farm, polls):
    f = farm(*FARM)
    polls.clear()

    command_meter(db.session, f.meter("GW1", 1), "trip", "staff:alice")
    assert polls == []  # nothing before the commit
    db.session.commit()

    assert polls == [f.gateway_ids["GW1"]]


def test_a_newer_close_supersedes_a_pending_trip(farm):
    f = farm(*FARM)
    trip = _trip_while_down(f)
    close = command_meter(db.session, f.meter("GW1", 1), "close", "staff:bob")
    db.session.commit()

    f.set_down("GW1", False)
    f.cycle()

    assert db.session.get(ControlCommand, trip.id).status == CommandStatus.SUPERSEDED
    assert db.session.get(ControlCommand, close.id).status == CommandStatus.APPLIED  # the meter already shows it
    assert f.snapshot("GW1", 1)["supply"] == "on"


def test_the_poll_job_a_command_asks_for_applies_it(farm, polls):
    f = farm(*FARM)
    command_meter(db.session, f.meter("GW1", 1), "trip", "staff:alice")
    db.session.commit()

    for gateway_id in polls:
        poll_gateway_job(gateway_id)

    assert f.snapshot("GW1", 1)["supply"] == "off"
    assert f.meter("GW1", 1).state.supply_actual == Supply.OFF
