"""The supply_off alarm of real poll cycles: raised once when a meter's supply is read off, whatever switched it,
cleared when it is read on again, and never told to the shop a second time (the cycle's supply_off message is the
one it gets)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import AlarmKind, Delivery, Site
from portal.payments.credit import cash_recharge
from tests.notify.told import events, on_duty, told, with_phone
from tests.statements import statements_sent
from tests.worker.poller.farm import GW, M

QUARTER = 15 * 60
#: 2 kW for 15 minutes is 50 fen at 1.0000 yuan per kWh: 100 fen last two quarters
SHOP = M(1, balance_fen=100, load=2_000)


def supply_off_statements():
    """The SQL statements sent inside the block that carry the supply_off kind as a parameter."""
    return statements_sent(lambda statement, parameters: "supply_off" in repr(parameters))


def _off_for_arrears(f) -> None:
    """Billed to zero over two quarters, then the cycle that opens the relay (read back off)."""
    f.cycle(0)
    f.cycle(QUARTER)
    f.cycle(QUARTER)
    f.cycle()


def test_a_meter_read_off_for_arrears_raises_one_supply_off_alarm_with_its_meter_shop_and_site(farm):
    f = farm(GW("GW1", (SHOP,)))
    _off_for_arrears(f)

    meter = f.meter("GW1", 1)
    [alarm] = f.alarms(AlarmKind.SUPPLY_OFF)
    assert f.snapshot("GW1", 1)["supply"] == "off"
    assert (alarm.subject, alarm.meter_id, alarm.account_id, alarm.site_id) == (
        f"meter:{meter.id}", meter.id, meter.account_id, f.site_id)
    assert alarm.data == {"what": "supply_off", "meter": "GW1-1", "reason": "arrears"}
    assert alarm.message == "meter GW1-1 supply off (arrears)"


def test_no_alarm_while_the_supply_is_on(farm):
    f = farm(GW("GW1", (M(1, balance_fen=10_000, load=1_000), M(2, balance_fen=None, load=1_000))))
    for _ in range(3):
        f.cycle()

    assert f.alarms(AlarmKind.SUPPLY_OFF, open_only=False) == []


def test_cycles_that_read_it_off_again_raise_nothing_more(farm):
    f = farm(GW("GW1", (SHOP,)))
    _off_for_arrears(f)
    [first] = f.alarms(AlarmKind.SUPPLY_OFF)

    for _ in range(4):
        f.cycle()

    assert [a.id for a in f.alarms(AlarmKind.SUPPLY_OFF, open_only=False)] == [first.id]


def test_read_on_again_after_a_recharge_clears_it_and_a_second_trip_is_a_second_alarm(farm):
    f = farm(GW("GW1", (SHOP,)))
    _off_for_arrears(f)
    shop = f.meter("GW1", 1).account
    cash_recharge(db.session, shop, 1_000, "", "staff:cashier", "supply-off:1")
    db.session.commit()

    f.cycle()  # the relay closes, read back on

    assert f.snapshot("GW1", 1)["supply"] == "on"
    assert f.alarms(AlarmKind.SUPPLY_OFF) == []
    [cleared] = f.alarms(AlarmKind.SUPPLY_OFF, open_only=False)
    assert cleared.cleared_at is not None

    command_meter(db.session, f.meter("GW1", 1), "trip", "staff:electrician", "rewiring")
    db.session.commit()
    f.cycle()

    [again] = f.alarms(AlarmKind.SUPPLY_OFF)
    assert again.id != cleared.id and again.data["reason"] == "remote"


def test_the_shop_hears_of_it_once_from_the_cycle_and_not_again_from_the_alarm(farm):
    f = farm(GW("GW1", (SHOP,)))
    shop = with_phone(f.meter("GW1", 1).account)
    on_duty(f.site_id)
    _off_for_arrears(f)
    f.cycle()
    [alarm] = f.alarms(AlarmKind.SUPPLY_OFF)

    assert len(told("supply_off", shop)) == 1  # the cycle's own message (portal.metering.supply)
    assert db.session.scalars(select(Delivery).where(Delivery.alarm_id == alarm.id)).all() == []
    assert db.session.scalars(select(Delivery).where(Delivery.dedupe_key.like(f"%alarm:{alarm.id}%"))).all() == []
    assert events().count("supply_off") == 1


def test_a_staff_trip_of_a_common_meter_raises_it_without_a_shop(farm):
    f = farm(GW("GW1", (M(1, balance_fen=None, load=1_000),)))
    f.cycle()
    command_meter(db.session, f.meter("GW1", 1), "trip", "staff:electrician", "lift service")
    db.session.commit()

    f.cycle()

    [alarm] = f.alarms(AlarmKind.SUPPLY_OFF)
    assert (alarm.account_id, alarm.meter_id, alarm.data["reason"]) == (None, f.meter("GW1", 1).id, "remote")


def test_a_meter_mode_meter_tripping_itself_raises_it_with_the_meters_reason(farm):
    f = farm(GW("GW1", (M(1, control_mode="meter", balance_fen=20, remaining_fen=20, load=2_000),)))
    f.cycle(0)

    f.cycle(600)  # the meter runs out of money and opens by itself
    f.cycle(60)

    [alarm] = f.alarms(AlarmKind.SUPPLY_OFF)
    assert alarm.data["reason"] == "arrears"


def test_power_over_the_limit_raises_it_beside_the_over_power_alarm_and_the_shop_hears_over_power_only(farm):
    from portal.metering.cycle import OVER_LIMIT_READS

    f = farm(GW("GW1", (M(1, profile="acrel-ddsy1352", balance_fen=10_000, power_limit_w=3_000, load=2_000),)))
    shop = with_phone(f.meter("GW1", 1).account)
    f.overload("GW1", 1, OVER_LIMIT_READS)
    f.cycle()  # the relay opens
    f.cycle()

    [alarm] = f.alarms(AlarmKind.SUPPLY_OFF)
    assert alarm.data["reason"] == "over_power" and len(f.alarms(AlarmKind.OVER_POWER)) == 1
    assert [d.event for d in db.session.scalars(select(Delivery).where(Delivery.account_id == shop.id))] == [
        "over_power"]


def test_the_staff_alarm_page_lists_it_in_the_readers_language(farm, make_staff, login, client):
    f = farm(GW("GW1", (SHOP,)))
    _off_for_arrears(f)
    login.staff(make_staff(sites=[db.session.get(Site, f.site_id)]))

    html = client.get("/staff/alarms?kind=supply_off").get_data(as_text=True)

    assert "电表 GW1-1：已断电（余额不足）" in html
    assert 'value="supply_off" selected' in html


def test_many_meters_going_off_at_once_cost_one_statement_and_a_cycle_with_no_change_none(farm):
    units = range(1, 9)
    f = farm(GW("GW1", tuple(M(u, balance_fen=None, load=1_000) for u in units)))
    f.cycle()
    for unit in units:
        command_meter(db.session, f.meter("GW1", unit), "trip", "staff:electrician", "night")
    db.session.commit()

    with supply_off_statements() as tripping:
        f.cycle()
    with supply_off_statements() as steady:
        f.cycle()

    assert len(f.alarms(AlarmKind.SUPPLY_OFF)) == len(units)
    assert len(tripping) == 1 and tripping[0].startswith("INSERT INTO alarms")  # set-wise, not one per meter
    assert steady == []  # nothing crossed: not a statement more than before the alarm existed
