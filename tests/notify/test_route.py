"""Events become deliveries: one per recipient and crossing, on the shop's channels in order."""
from __future__ import annotations

import dataclasses

from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Delivery, DeliveryStatus, NotifyRecipient
from portal.notify.route import ShopEvent, tell_phone, tell_shop, tell_shops, tell_staff

LOW = {"shop": "A-1", "shop_name": "茶铺", "balance": "9.50", "level": "10.00"}


def deliveries() -> list[Delivery]:
    return db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()


def test_a_shop_is_told_once_per_crossing(make_account):
    shop = make_account(phone="13900000001")

    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:7", LOW) == 1
    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:7", LOW) == 0
    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:8", LOW) == 1
    db.session.commit()

    first, second = deliveries()
    assert (first.event, first.recipient, first.status, first.account_id) == (
        "low_balance_1", "13900000001", DeliveryStatus.PENDING, shop.id)
    assert "余额 ¥9.50，已低于 ¥10.00" in first.text
    assert first.params == LOW
    assert second.dedupe_key != first.dedupe_key


def test_the_sms_backends_are_the_channel_and_its_fallback(make_account, monkeypatch):
    settings = current_app.config["SETTINGS"]
    monkeypatch.setitem(current_app.config, "SETTINGS", dataclasses.replace(
        settings, sms=dataclasses.replace(settings.sms, backends=("aliyun", "modem"))))
    shop = make_account(phone="13900000002")

    tell_shop(db.session, shop.id, "supply_off", "entry:1", {"shop": "A-2"})

    [row] = deliveries()
    assert (row.channel, row.fallback, row.urgent) == ("aliyun", "modem:13900000002", True)


def test_a_shop_without_a_phone_is_not_told_by_sms(make_account):
    shop = make_account(phone="")

    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW) == 0


def test_many_shops_at_once(make_account):
    shops = [make_account(phone=f"1390000{n:04d}") for n in range(30)]

    told = tell_shops(db.session, [ShopEvent(s.id, "fee_posted", f"fee:2026-11:{s.id}", {"amount": "100.00"})
                                   for s in shops])

    assert told == 30
    assert db.session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 30


def test_staff_recipients_who_take_the_event(make_site):
    site = make_site()
    db.session.add_all([NotifyRecipient(site_id=site.id, name="值班电工", phone="13800000001", events=[]),
                        NotifyRecipient(site_id=site.id, name="财务", phone="13800000002",
                                        events=["payment_anomaly"]),
                        NotifyRecipient(site_id=site.id, name="离职", phone="13800000003", active=False)])
    db.session.flush()

    assert tell_staff(db.session, site.id, "meter_offline", "alarm:3", {"meter": "E001"}) == 1
    [row] = deliveries()
    assert (row.recipient, row.audience.value) == ("13800000001", "staff")


def test_a_code_to_a_phone():
    assert tell_phone(db.session, "13700000000", "login_code", "code:1", {"code": "123456"}) == 1
    [row] = deliveries()
    assert "123456" in row.text and row.site_id is None and row.urgent
