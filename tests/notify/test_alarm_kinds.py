"""Which alarm kinds are told, and to whom: every kind has an answer, and supply_off is told by the poll cycle's own
message (portal.metering.supply), never again as an alarm."""
from __future__ import annotations

from portal.alarms import raise_alarm
from portal.extensions import db
from portal.models import AlarmKind
from portal.notify.alarms import STAFF, TENANT, TOLD_ELSEWHERE, tell_raised
from tests.notify.told import events, on_duty, with_phone


def test_every_alarm_kind_is_told_to_the_shop_or_the_staff_or_said_to_be_told_elsewhere():
    groups = [set(TENANT), set(STAFF), set(TOLD_ELSEWHERE)]
    assert set().union(*groups) == set(AlarmKind)
    assert sum(len(g) for g in groups) == len(AlarmKind)  # and each in one group only


def test_a_supply_off_alarm_opened_is_told_to_neither_the_shop_nor_the_staff(make_account, make_meter):
    shop = with_phone(make_account(code="S1"))
    meter = make_meter(account=shop, code="E1")
    on_duty(shop.site_id)
    opened = raise_alarm(db.session, AlarmKind.SUPPLY_OFF, f"meter:{meter.id}", shop.site_id,
                         "meter E1 supply off (arrears)", data=dict(what="supply_off", meter="E1", reason="arrears"),
                         meter_id=meter.id, account_id=shop.id)

    assert opened is not None and tell_raised(db.session, [opened]) == 0
    db.session.commit()
    assert events() == []
