"""One bad meter never stops a bus; a gateway whose poll fails says so (SPEC §3, issue 10)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.control.commands import CommandRefused, queue_purchase
from portal.extensions import db
from portal.models import AlarmKind, CommandStatus, ControlCommand, EntryKind, LedgerEntry
from tests.worker.poller.farm import GW, M
from worker.jobs.polling import poll_gateway_job

QUARTER = 15 * 60
#: a meter-mode shop, a platform-mode shop that uses energy, another meter-mode shop
BUS = GW("GW1", (M(1, control_mode="meter", balance_fen=5_000, remaining_fen=5_000),
                 M(2, balance_fen=5_000, load=2_000),
                 M(3, control_mode="meter", balance_fen=5_000, remaining_fen=5_000)))


def legacy_purchase(f, unit: int, amount_fen: int, key: str) -> ControlCommand:
    """A purchase queued before amounts were checked when asked for (the swap of issue 10 queued 999999999.99)."""
    cmd = ControlCommand(meter_id=f.meter("GW1", unit).id, action="purchase", actor="staff:old", reason="purchase",
                         payload={"amount_fen": amount_fen}, idempotency_key=key)
    db.session.add(cmd)
    db.session.commit()
    return cmd


def status(cmd: ControlCommand) -> CommandStatus:
    return db.session.get(ControlCommand, cmd.id).status


def test_a_purchase_no_register_can_hold_fails_alone_and_the_gateway_is_still_polled_and_written(farm):
    f = farm(BUS)
    f.cycle(0)
    bad = legacy_purchase(f, 1, 99_999_999_999, "purchase:swap:legacy")
    after = queue_purchase(db.session, f.meter("GW1", 1), 1_000, "purchase:cash:later", "staff:c")
    other = queue_purchase(db.session, f.meter("GW1", 3), 2_000, "purchase:cash:other", "staff:c")
    db.session.commit()

    stats = f.cycle(QUARTER)

    assert (stats.read, stats.missed) == (3, 0)
    assert status(bad) == CommandStatus.FAILED and "does not fit u32" in db.session.get(ControlCommand, bad.id).error
    assert status(after) == status(other) == CommandStatus.APPLIED  # the next write of that meter, and the others
    assert f.snapshot("GW1", 1)["remaining_fen"] == 5_000 + 1_000
    assert f.snapshot("GW1", 3)["remaining_fen"] == 5_000 + 2_000
    [alarm] = f.alarms(AlarmKind.METER_OFFLINE)
    assert alarm.subject == f"meter:{f.meter('GW1', 1).id}:write" and "cannot be written" in alarm.message
    charged = db.session.execute(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.ENERGY,
                                                           LedgerEntry.meter_id == f.meter("GW1", 2).id)).scalars()
    assert [e.amount_fen for e in charged] == [-50]  # the platform-mode shop is billed as ever
    assert f.gateway("GW1").online and f.alarms(AlarmKind.GATEWAY_OFFLINE) == []


def test_a_write_the_meter_refuses_is_an_alarm_on_that_meter_and_is_tried_again(farm):
    f = farm(BUS)
    f.cycle(0)
    refused = legacy_purchase(f, 1, 20_000_000, "purchase:too-much")  # fits u32; the meter answers 03
    other = queue_purchase(db.session, f.meter("GW1", 3), 2_000, "purchase:cash:other", "staff:c")
    db.session.commit()

    stats = f.cycle(60)

    assert (stats.read, stats.missed) == (3, 0) and status(other) == CommandStatus.APPLIED
    assert status(refused) == CommandStatus.PENDING
    assert "exception 03" in db.session.get(ControlCommand, refused.id).error
    [alarm] = f.alarms(AlarmKind.METER_OFFLINE)
    assert alarm.meter_id == f.meter("GW1", 1).id and alarm.subject.endswith(":write")
    assert f.snapshot("GW1", 1)["purchase_count"] == 0  # nothing changed on the meter


def test_a_write_alarm_clears_when_the_meter_takes_a_write_again(farm):
    f = farm(BUS)
    f.cycle(0)
    legacy_purchase(f, 1, 99_999_999_999, "purchase:swap:legacy")
    f.cycle(60)
    queue_purchase(db.session, f.meter("GW1", 1), 1_000, "purchase:cash:later", "staff:c")
    db.session.commit()

    f.cycle(60)

    assert f.alarms(AlarmKind.METER_OFFLINE) == []
    assert len(f.alarms(AlarmKind.METER_OFFLINE, open_only=False)) == 1


@pytest.mark.parametrize("amount", [0, -5, 10_000_001, 99_999_999_999, 12.5, True])
def test_a_purchase_is_range_checked_when_it_is_asked_for(farm, amount):
    f = farm(BUS)
    with pytest.raises(CommandRefused, match="written into a meter"):
        queue_purchase(db.session, f.meter("GW1", 1), amount, "purchase:x", "staff:c")
    assert db.session.execute(select(ControlCommand)).first() is None


def test_a_gateway_whose_poll_job_fails_has_an_alarm_and_shows_in_healthz(farm, client, monkeypatch):
    f = farm(BUS)
    gateway_id = f.gateway_ids["GW1"]

    def broken(session, gateway_ids, **kwargs):
        raise RuntimeError("driver bug")

    monkeypatch.setattr("worker.jobs.polling.run_cycle", broken)
    with pytest.raises(RuntimeError):
        poll_gateway_job(gateway_id)

    [alarm] = f.alarms(AlarmKind.GATEWAY_OFFLINE)
    assert (alarm.subject, alarm.gateway_id) == (f"gateway:{gateway_id}:poll", gateway_id)
    assert "driver bug" in alarm.message
    res = client.get("/healthz")
    assert res.status_code == 200  # the load balancer keeps this web process
    assert res.json["gateways"] == {"failing": ["GW1"], "offline": []}

    monkeypatch.undo()
    f.cycle(60)
    assert f.alarms(AlarmKind.GATEWAY_OFFLINE) == []
    assert client.get("/healthz").json["gateways"] == {"failing": [], "offline": []}
