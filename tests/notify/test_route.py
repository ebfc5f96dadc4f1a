"""Events become deliveries: one per recipient and crossing, on the shop's channels in order, when they may go."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Delivery,
    DeliveryStatus,
    NotifyPreference,
    NotifyRecipient,
    TenantBinding,
    TenantUser,
    utcnow,
)
from portal.notify.events import EVENTS
from portal.notify.hours import next_time
from portal.notify.route import ShopEvent, tell_phone, tell_shop, tell_shops, tell_staff

LOW = {"shop": "A-1", "shop_name": "茶铺", "balance": "9.50", "level": "10.00"}
OFF = {"shop": "A-1", "shop_name": "茶铺", "at": "2026-12-06 18:00", "reason": "欠费", "restore": "10.00"}


def deliveries() -> list[Delivery]:
    return db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()


def routes() -> list[tuple[str, str, str]]:
    return [(d.channel, d.recipient, d.fallback) for d in deliveries()]


def around_now(before: int = 1, after: int = 1) -> tuple[time, time, datetime]:
    """A window of the day in business time that holds this moment, and the moment it ends (UTC)."""
    tz = current_app.config["SETTINGS"].core.tz
    local = utcnow().astimezone(tz).replace(second=0, microsecond=0)
    start, end = (local - timedelta(hours=before)).time(), (local + timedelta(hours=after)).time()
    return start, end, next_time(utcnow(), end, tz)


def bind(account, phone: str | None = None, openid: str | None = None) -> TenantUser:
    user = TenantUser(name="店长", phone=phone, wechat_openid=openid)
    db.session.add(user)
    db.session.flush()
    db.session.add(TenantBinding(tenant_user_id=user.id, account_id=account.id))
    db.session.flush()
    return user


def test_a_shop_is_told_once_per_crossing(make_account):
    shop = make_account(phone="13900000001")

    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:7", LOW) == 1
    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:7", LOW) == 0
    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:8", LOW) == 1

    first, second = deliveries()
    assert (first.event, first.recipient, first.status, first.account_id) == (
        "low_balance_1", "13900000001", DeliveryStatus.PENDING, shop.id)
    assert "余额 ¥9.50，已低于 ¥10.00" in first.text
    assert first.params == LOW
    assert first.link == f"http://127.0.0.1:5000/t/a/{shop.id}"
    assert second.dedupe_key != first.dedupe_key


def test_in_the_demo_a_committed_delivery_is_sent_at_once_by_the_log_channel(make_account):
    from portal.notify.channels.log import channel as log

    shop = make_account(phone="13900000009")
    tell_shop(db.session, shop.id, "payment_credited", "order:1", {"shop": "A-9", "amount": "50.00"})
    db.session.commit()  # the sender runs after the commit (inline here: JOBS_INLINE, no Redis)

    [row] = deliveries()
    assert (row.status, row.channel, row.attempts) == (DeliveryStatus.SENT, "log", 1)
    assert log.recent(1)[0].provider_id == row.provider_id and log.recent(1)[0].message.key == row.dedupe_key


def test_the_sms_backends_are_the_channel_and_its_fallback(make_account, configure):
    configure(SMS_BACKEND="aliyun,modem")
    shop = make_account(phone="13900000002")

    tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF)

    [row] = deliveries()
    assert (row.channel, row.fallback, row.urgent) == ("aliyun", "modem:13900000002", True)


def test_a_shop_without_a_phone_or_anyone_bound_is_not_told(make_account):
    shop = make_account(phone="")

    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW) == 0


def test_many_shops_at_once(make_account):
    shops = [make_account(phone=f"1390000{n:04d}") for n in range(30)]

    told = tell_shops(db.session, [ShopEvent(s.id, "fee_posted", f"fee:2026-11:{s.id}", {"amount": "100.00"})
                                   for s in shops])

    assert told == 30
    assert db.session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 30


# --- WeChat first, then SMS: the bound tenant users ------------------------------------------------------------


def test_a_bound_user_with_an_openid_is_told_on_wechat_then_by_sms_to_their_phone(make_account, configure):
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_LOW_BALANCE_1="tmpl-1",
              SMS_BACKEND="aliyun,modem")
    shop = make_account(phone="13900000003")
    user = bind(shop, phone="13700000003", openid="o-manager")

    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW)

    [row] = deliveries()
    assert (row.channel, row.recipient, row.fallback) == ("wechat", "o-manager",
                                                          "aliyun:13700000003,modem:13700000003")
    assert (row.tenant_user_id, row.dedupe_key) == (user.id, f"low_balance_1:alarm:1:user:{user.id}")


def test_without_a_template_for_the_event_or_an_official_account_it_is_sms(make_account, configure):
    shop = make_account(phone="13900000004")
    bind(shop, phone="13700000004", openid="o-4")

    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW)  # no official account configured
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_SUPPLY_OFF="tmpl-off")
    tell_shop(db.session, shop.id, "low_balance_2", "alarm:2", LOW)  # no template for this event
    tell_shop(db.session, shop.id, "supply_off", "entry:3", OFF)

    assert routes() == [("log", "13700000004", ""), ("log", "13700000004", ""), ("wechat", "o-4", "log:13700000004")]


def test_a_user_without_a_phone_falls_back_to_the_shops_and_nobody_bound_means_the_shops_phone(
        make_account, configure):
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_LOW_BALANCE_1="tmpl-1")
    followed, unbound = make_account(phone="13900000005"), make_account(phone="13900000006")
    bind(followed, openid="o-5")

    tell_shops(db.session, [ShopEvent(s.id, "low_balance_1", f"alarm:{s.id}", LOW) for s in (followed, unbound)])

    assert routes() == [("wechat", "o-5", "log:13900000005"), ("log", "13900000006", "")]


def test_every_bound_user_is_told(make_account, configure):
    shop = make_account(phone="13900000007")
    bind(shop, phone="13700000071")
    bind(shop, phone="13700000072")

    assert tell_shop(db.session, shop.id, "fee_posted", "fee:1", {"amount": "80.00"}) == 2
    assert [r for _, r, _ in routes()] == ["13700000071", "13700000072"]


# --- a shop's preferences ----------------------------------------------------------------------------------------


def test_a_shop_orders_its_channels_and_a_supply_off_goes_on_every_channel(make_account, configure):
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_LOW_BALANCE_1="tmpl-1",
              WECHAT_TEMPLATE_SUPPLY_OFF="tmpl-off")
    sms_first, sms_only = make_account(phone="13900000010"), make_account(phone="13900000011")
    bind(sms_first, phone="13700000010", openid="o-10")
    bind(sms_only, phone="13700000011", openid="o-11")
    db.session.add_all([NotifyPreference(account_id=sms_first.id, channels="sms,wechat"),
                        NotifyPreference(account_id=sms_only.id, channels="sms")])

    tell_shops(db.session, [ShopEvent(s.id, e, f"{e}:{s.id}", OFF) for s in (sms_first, sms_only)
                            for e in ("low_balance_1", "supply_off")])

    assert routes() == [("log", "13700000010", "wechat:o-10"), ("log", "13700000010", "wechat:o-10"),
                        ("log", "13700000011", ""), ("log", "13700000011", "wechat:o-11")]


def test_a_muted_event_is_not_told_but_supply_off_always_is(make_account):
    shop = make_account(phone="13900000012")
    db.session.add(NotifyPreference(account_id=shop.id, muted=["fee_posted", "supply_off"]))

    assert tell_shop(db.session, shop.id, "fee_posted", "fee:1", {"amount": "80.00"}) == 0
    assert tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF) == 1


# --- quiet hours and duty hours ------------------------------------------------------------------------------------


def test_quiet_hours_hold_a_message_until_they_end_but_never_a_supply_off(make_account, configure):
    start, end, ends_at = around_now()
    configure(NOTIFY_QUIET_HOURS=f"{start:%H:%M}-{end:%H:%M}")
    shop = make_account(phone="13900000013")

    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW)
    tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF)

    held, urgent = deliveries()
    assert held.due_at == ends_at
    assert urgent.due_at <= utcnow()


def test_a_shops_own_quiet_hours_replace_the_platforms(make_account, configure):
    configure(NOTIFY_QUIET_HOURS="off")
    start, end, ends_at = around_now(after=3)
    quiet, loud = make_account(phone="13900000014"), make_account(phone="13900000015")
    db.session.add(NotifyPreference(account_id=quiet.id, quiet_start=start, quiet_end=end))

    tell_shops(db.session, [ShopEvent(s.id, "low_balance_1", f"alarm:{s.id}", LOW) for s in (quiet, loud)])

    held, sent = deliveries()
    assert (held.account_id, held.due_at) == (quiet.id, ends_at)
    assert sent.due_at <= utcnow()


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


def test_a_staff_recipient_off_duty_is_told_when_the_next_duty_starts(make_site):
    site = make_site()
    off_start, off_end, _ = around_now()  # off duty now: on duty from the end of this window to its start
    _, _, duty_starts = around_now()
    db.session.add_all([NotifyRecipient(site_id=site.id, name="夜班", phone="13800000004", duty_start=off_end,
                                        duty_end=off_start),
                        NotifyRecipient(site_id=site.id, name="白班", phone="13800000005", duty_start=off_start,
                                        duty_end=off_end)])
    db.session.flush()

    tell_staff(db.session, site.id, "gateway_offline", "alarm:4", {"gateway": "GW1"})

    off, on = deliveries()
    assert (off.recipient, off.due_at) == ("13800000004", duty_starts)
    assert (on.recipient, on.due_at <= utcnow()) == ("13800000005", True)


def test_staff_are_told_on_wechat_only_where_the_event_has_a_template(make_site, configure):
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_METER_OFFLINE="tmpl-offline")
    site = make_site()
    db.session.add(NotifyRecipient(site_id=site.id, name="电工", phone="13800000006", wechat_openid="o-staff"))
    db.session.flush()

    tell_staff(db.session, site.id, "meter_offline", "alarm:5", {"meter": "E001"})
    tell_staff(db.session, site.id, "tamper", "alarm:6", {"meter": "E001"})

    assert routes() == [("wechat", "o-staff", "log:13800000006"), ("log", "13800000006", "")]


def test_a_code_to_a_phone():
    assert tell_phone(db.session, "13700000000", "login_code", "code:1", {"code": "123456"}) == 1
    [row] = deliveries()
    assert "123456" in row.text and row.site_id is None and row.urgent


def test_an_events_sentence_in_either_language_however_often_it_is_written():
    low = EVENTS["low_balance_1"]
    english = "A-1 茶铺: your balance is ¥9.50, below ¥10.00. Please top up."
    assert [low.text(LOW, "en"), low.text(LOW, "zh"), low.text(LOW, "en")] == [
        english, "A-1 茶铺：余额 ¥9.50，已低于 ¥10.00，请及时充值。", english]
