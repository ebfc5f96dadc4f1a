"""What real poll cycles tell: a shop its supply going off and coming back (when the meter confirms it) and power
over its limit; the staff meters and gateways going silent and answering again, tamper and books that differ.
Each once per crossing, however many cycles follow."""
from __future__ import annotations

from sqlalchemy import select

from portal.control.commands import command_meter
from portal.control.polls import record_poll_failure
from portal.extensions import db
from portal.metering.cycle import GATEWAY_OFFLINE_AFTER, METER_OFFLINE_AFTER, OVER_LIMIT_READS, PROBE_EVERY
from portal.models import Account, Alarm, AlarmKind, ControlCommand
from portal.money import yuan
from portal.notify.params import when
from portal.payments.credit import cash_recharge
from tests.notify.told import STAFF_PHONE, on_duty, told, with_phone
from tests.worker.poller.farm import GW, M

QUARTER = 15 * 60
SHORT = 0.5  # a silent meter costs one timeout per read


def shop_of(f, gateway: str = "GW1", unit: int = 1) -> Account:
    """The meter's shop, with a phone on file."""
    return with_phone(f.meter(gateway, unit).account)


def test_supply_off_for_arrears_is_told_once_the_meter_confirms_it(farm):
    f = farm(GW("GW1", (M(1, balance_fen=100, load=2_000),)))
    shop = shop_of(f)
    f.cycle(0)
    f.cycle(QUARTER)
    f.cycle(QUARTER)  # billed to zero: supply is to go off
    assert told("supply_off") == []  # decided, not done

    f.cycle()
    confirmed = f.now
    f.cycle()

    [sms] = told("supply_off", shop)
    assert sms.urgent and sms.params == {"shop": shop.code, "shop_name": shop.name, "at": when(confirmed),
                                         "reason": "余额不足", "restore": "0.01"}
    assert f.snapshot("GW1", 1)["supply"] == "off"


def test_supply_restored_is_told_when_the_relay_closes_after_a_recharge(farm):
    f = farm(GW("GW1", (M(1, balance_fen=100, load=2_000),)))
    shop = shop_of(f)
    for seconds in (0, QUARTER, QUARTER, 60):
        f.cycle(seconds)  # billed to zero, then the relay opens
    cash_recharge(db.session, shop, 1_000, "", "staff:cashier", "told:1")
    db.session.commit()

    f.cycle()
    confirmed = f.now
    f.cycle()

    [sms] = told("supply_restored", shop)
    assert sms.urgent and (sms.params["at"], sms.params["balance"]) == (when(confirmed), "10.00")
    assert f.snapshot("GW1", 1)["supply"] == "on"
    assert len(told("supply_off", shop)) == 1


def test_a_staff_trip_is_told_with_its_reason_and_whom_to_call_not_to_pay(farm):
    f = farm(GW("GW1", (M(1, balance_fen=10_000, load=1_000),)))
    shop = shop_of(f)
    f.cycle()
    command_meter(db.session, f.meter("GW1", 1), "trip", "staff:electrician", "rewiring")
    db.session.commit()

    f.cycle()

    [sms] = told("supply_off_by_office", shop)  # paying would not bring it back
    assert sms.params["reason"] == "物业操作断电" and "restore" not in sms.params
    assert "请联系物业恢复供电" in sms.text and "缴费" not in sms.text
    assert told("supply_off", shop) == []


def test_a_meter_mode_meter_out_of_money_tripping_itself_is_told(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=20, remaining_fen=20, load=2_000),)))
    shop = shop_of(f)
    f.cycle(0)

    f.cycle(600)  # ¥0.0333 a minute: the meter runs out and opens
    f.cycle(60)

    assert f.snapshot("GW1", 1)["supply"] == "off"
    [sms] = told("supply_off", shop)
    assert sms.params["reason"] == "余额不足"


def test_power_over_the_limit_is_told_once_as_over_power_not_again_as_supply_off(farm):
    f = farm(GW("GW1", (M(1, profile="acrel-ddsy1352", balance_fen=10_000, power_limit_w=3_000, load=2_000),)))
    shop = shop_of(f)
    f.overload("GW1", 1, OVER_LIMIT_READS)

    f.cycle()  # the relay opens
    f.cycle()

    [sms] = told("over_power", shop)
    assert sms.urgent and sms.params == {"shop": shop.code, "shop_name": shop.name, "meter": "GW1-1",
                                         "watts": "4500", "limit": "3000", "at": sms.params["at"]}
    assert told("supply_off") == []
    assert f.snapshot("GW1", 1)["supply"] == "off"


def test_a_silent_meter_and_its_return_are_told_to_the_staff_once_each(farm):
    f = farm(GW("GW1", (M(1, load=1_000), M(2, load=1_000))))
    on_duty(f.site_id)
    f.cycle()
    seen = f.now
    f.sim_meter("GW1", 2).set_fault("silent")
    for _ in range(METER_OFFLINE_AFTER + 1):
        f.cycle(timeout=SHORT)

    [offline] = told("meter_offline")
    assert (offline.recipient, offline.audience.value) == (STAFF_PHONE, "staff")
    assert offline.params == {"site": "S1", "meter": "GW1-2", "shop": "GW1-A2", "at": when(seen)}
    assert offline.alarm_id == f.alarms(AlarmKind.METER_OFFLINE)[0].id

    f.sim_meter("GW1", 2).set_fault(None)
    for _ in range(PROBE_EVERY + 1):
        f.cycle(timeout=SHORT)

    [online] = told("meter_online")
    assert (online.params["meter"], online.params["shop"]) == ("GW1-2", "GW1-A2")
    assert len(told("meter_offline")) == 1


def test_a_dead_gateway_and_its_return_are_told_once_and_its_meters_not_at_all(farm):
    f = farm(GW("GW1", (M(1, load=1_000), M(2, load=1_000))))
    on_duty(f.site_id)
    f.cycle()
    seen = f.now
    f.set_down("GW1")
    for _ in range(GATEWAY_OFFLINE_AFTER + METER_OFFLINE_AFTER):
        f.cycle()

    [offline] = told("gateway_offline")
    assert offline.params == {"site": "S1", "gateway": "GW1", "at": when(seen)}
    f.set_down("GW1", False)
    f.cycle()
    f.cycle()

    [online] = told("gateway_online")
    [alarm] = f.alarms(AlarmKind.GATEWAY_OFFLINE, open_only=False)
    assert online.params == {"site": "S1", "gateway": "GW1", "at": when(alarm.cleared_at)}
    assert told("meter_offline") == [] and told("meter_online") == []


def test_a_failed_poll_job_is_told_as_the_gateway_not_answering_once(farm):
    f = farm(GW("GW1", (M(1, load=1_000),)))
    on_duty(f.site_id)
    for _ in range(2):
        record_poll_failure(db.session, f.gateway_ids["GW1"], "ConnectionError: bus busy")
        db.session.commit()

    [sms] = told("gateway_offline")
    assert sms.params["gateway"] == "GW1"


def test_an_energy_register_going_backwards_is_told_as_tamper(farm):
    f = farm(GW("GW1", (M(1, balance_fen=10_000, load=4_000),)))
    on_duty(f.site_id)
    f.cycle(0)
    f.cycle(QUARTER)
    f.cycle(QUARTER // 2)
    f.sim_meter("GW1", 1).reset_energy(0)
    f.cycle(QUARTER // 2)  # the register went back
    f.cycle(QUARTER)

    [sms] = told("tamper")
    assert (sms.params["meter"], sms.params["shop"]) == ("GW1-1", "GW1-A1")
    assert "went back" in sms.params["detail"]
    assert sms.account_id == f.meter("GW1", 1).account_id


def test_money_put_into_a_meter_behind_the_platforms_back_is_told_as_tamper_and_books_mismatch(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=10_000, remaining_fen=10_000, load=2_000),)))
    on_duty(f.site_id)
    f.cycle(0)
    f.sim_meter("GW1", 1).set_remaining(f.snapshot("GW1", 1)["remaining_fen"] + 5_000)

    f.cycle(60)
    f.cycle(60)

    assert len(told("tamper")) == 1
    [sms] = told("books_mismatch")
    alarm = db.session.scalars(select(Alarm).where(Alarm.kind == AlarmKind.BOOKS_MISMATCH)).one()
    data = alarm.data
    assert sms.params == {"site": "S1", "shop": "GW1-A1", "ledger": yuan(data["ledger_fen"]),
                          "meters": yuan(data["held_fen"] + data["queued_fen"])}


def test_a_write_the_meter_refuses_is_told_to_the_staff_once_and_its_recovery_not_as_a_meter_back(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=5_000, remaining_fen=5_000),)))
    on_duty(f.site_id)
    f.cycle(0)
    db.session.add(ControlCommand(meter_id=f.meter("GW1", 1).id, action="purchase", actor="staff:old",
                                  reason="purchase", payload={"amount_fen": 20_000_000}, idempotency_key="too-much"))
    db.session.commit()  # queued before amounts were checked when asked for: the meter answers exception 03

    f.cycle(60)
    f.cycle(60)

    [sms] = told("meter_write_failed")
    assert (sms.params["meter"], sms.params["shop"], sms.params["write"]) == ("GW1-1", "GW1-A1", "充值写入")
    assert "exception 03" in sms.params["error"]
    assert told("meter_offline") == []
