"""Arrears trips and the safeguards that hold them off: overdraft limit, keep-power, exempt shops."""
from __future__ import annotations

from sqlalchemy import select

from portal.control.balance import set_exempt
from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import AlarmKind, AuditEntry, CommandStatus, ControlCommand
from tests.control.conftest import OFF, ON, alarms, entries, pay, supply, use


def test_supply_goes_off_when_the_balance_reaches_zero_without_an_overdraft_limit(shop, polls):
    account = shop(balance_fen=500)
    use(account, 499)
    assert supply(account) == [ON]

    use(account, 1)

    assert account.balance_fen == 0
    assert supply(account) == [OFF]
    assert account.meters[0].desired_reason == "arrears"
    assert account.meters[0].gateway_id in polls


def test_overdraft_limit_lets_the_balance_go_down_to_minus_the_limit(shop):
    account = shop(balance_fen=500, overdraft_limit_fen=1_000)
    use(account, 1_499)
    assert (account.balance_fen, supply(account)) == (-999, [ON])

    use(account, 1)

    assert (account.balance_fen, supply(account)) == (-1_000, [OFF])


def test_the_trip_is_a_pending_command_replacing_an_older_supply_command(shop):
    account = shop(balance_fen=100)
    meter = account.meters[0]
    command_meter(db.session, meter, "close", "staff:op")
    db.session.commit()

    use(account, 100)

    commands = db.session.execute(select(ControlCommand).where(ControlCommand.meter_id == meter.id)
                                  .order_by(ControlCommand.id)).scalars().all()
    assert [(c.action, c.status, c.reason) for c in commands] == [
        ("close", CommandStatus.SUPERSEDED, ""), ("trip", CommandStatus.PENDING, "arrears")]


def test_arrears_alarm_is_raised_once_however_long_the_shop_stays_in_arrears(shop):
    account = shop(balance_fen=100)
    for _ in range(3):
        use(account, 100)

    assert len(alarms(account, AlarmKind.ARREARS, open_only=False)) == 1


def test_keep_power_meter_stays_on_while_the_shops_other_meter_trips(shop):
    account = shop(balance_fen=100, meters=2)
    kept, _other = account.meters
    command_meter(db.session, kept, "keep_power_on", "staff:manager")
    db.session.commit()

    use(account, 100)

    assert supply(account) == [ON, OFF]
    assert alarms(account, AlarmKind.ARREARS)


def test_granting_keep_power_restores_a_meter_tripped_for_arrears(shop):
    account = shop(balance_fen=100)
    use(account, 100)
    assert supply(account) == [OFF]

    command_meter(db.session, account.meters[0], "keep_power_on", "staff:manager")
    db.session.commit()

    assert supply(account) == [ON]
    assert account.meters[0].desired_reason == "restored"


def test_ending_keep_power_trips_a_shop_still_in_arrears(shop):
    account = shop(balance_fen=100)
    command_meter(db.session, account.meters[0], "keep_power_on", "staff:manager")
    use(account, 100)
    assert supply(account) == [ON]

    command_meter(db.session, account.meters[0], "keep_power_off", "staff:manager")
    db.session.commit()

    assert supply(account) == [OFF]


def test_exempt_shop_is_not_tripped_but_its_arrears_alarm_is_raised(shop):
    account = shop(balance_fen=100, exempt=True)

    use(account, 300)

    assert (account.balance_fen, supply(account)) == (-200, [ON])
    assert len(alarms(account, AlarmKind.ARREARS)) == 1


def test_exempting_a_tripped_shop_restores_it_and_is_audited(shop):
    account = shop(balance_fen=100)
    use(account, 100)

    set_exempt(db.session, account, True, "staff:manager")
    db.session.commit()

    assert supply(account) == [ON]
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.actor == "staff:manager")
                              .order_by(AuditEntry.id)).scalars().all()
    assert actions == ["account.exempt_on", "meter.restored"]


def test_ending_an_exemption_trips_a_shop_in_arrears(shop):
    account = shop(balance_fen=100, exempt=True)
    use(account, 300)

    set_exempt(db.session, account, False, "staff:manager")
    db.session.commit()

    assert supply(account) == [OFF]


def test_energy_used_while_exempt_becomes_arrears_that_the_next_payment_repays_first(shop):
    account = shop(balance_fen=100, exempt=True)
    use(account, 600)

    pay(account, 1_000)

    assert entries(account) == [("opening", 100, 100), ("energy", -600, -500), ("cash", 1_000, 500)]
    assert supply(account) == [ON]
    assert alarms(account, AlarmKind.ARREARS) == []
