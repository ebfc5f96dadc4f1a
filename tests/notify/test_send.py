"""The sender against the providers' stand-ins and real PostgreSQL: what is due goes out once, on the first
channel that takes it; quiet hours hold, retries wait, a failing channel falls back and blocks no other.

The app here has a real Redis queue and no worker: a commit's kick waits in Redis (the tests count it), and each
test runs the sender itself, at the moment it chooses.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import insert, select

from portal.extensions import db
from portal.models import Account, Delivery, DeliveryStatus, TenantBinding, TenantUser, utcnow
from portal.notify import registry
from portal.notify.claims import BACKOFF
from portal.notify.kick import MODEM_CHANNELS
from portal.notify.route import ShopEvent, tell_shop, tell_shops
from portal.notify.send import NOTIFY_CHANNELS, send_due
from portal.queue.dispatch import redis_connection
from tests.notify.modem_pdu import read_submit
from tests.notify.modem_standin import StandinModem
from tests.notify.test_route import around_now
from worker.jobs.notify import send_notifications
from worker.schedule import periodic

pytestmark = pytest.mark.usefixtures("redis_app")


def low(level: int, balance: str = "9.50") -> dict[str, str]:
    return {"shop": "A-101", "shop_name": "茶铺", "balance": balance, "level": {1: "20.00", 2: "10.00"}.get(level, "")}


OFF = {"shop": "A-101", "shop_name": "茶铺", "at": "2026-12-06 18:00", "reason": "欠费", "restore": "10.00"}


def rows() -> list[Delivery]:
    db.session.expire_all()
    return db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()


def queued(queue: str) -> int:
    return Queue(queue, connection=redis_connection()).count


def test_the_three_low_balance_levels_are_sent_once_each_per_crossing(aliyun, configure, make_account):
    configure(SMS_BACKEND="aliyun")
    shop = make_account(phone="13900000001")
    for level, alarm in [(1, 11), (1, 11), (2, 12), (3, 13), (2, 12), (3, 13), (1, 11)]:
        tell_shop(db.session, shop.id, f"low_balance_{level}", f"alarm:{alarm}", low(level))
        db.session.commit()  # the code that noticed each crossing runs again and again

    first, second = send_due(NOTIFY_CHANNELS), send_due(NOTIFY_CHANNELS)

    assert [s.template for s in aliyun.accepted] == ["SMS_480200001", "SMS_480200002", "SMS_480200003"]
    assert (first["sent"], second["claimed"]) == (3, 0)
    assert {(r.status, r.attempts) for r in rows()} == {(DeliveryStatus.SENT, 1)}
    assert [r.provider_id for r in rows()] == [s.biz_id for s in aliyun.accepted]
    assert [s.out_id for s in aliyun.accepted] == [r.dedupe_key for r in rows()]

    # the balance went up and then down again: a new crossing of level 1, told again
    tell_shop(db.session, shop.id, "low_balance_1", "alarm:21", low(1, "19.00"))
    db.session.commit()
    send_due(NOTIFY_CHANNELS)
    assert [s.params["balance"] for s in aliyun.accepted] == ["9.50", "9.50", "9.50", "19.00"]


def test_a_burst_of_deliveries_asks_for_one_sender(configure, make_account):
    shops = [make_account(phone=f"1390000{n:04d}") for n in range(20)]
    for part in (shops[:10], shops[10:]):
        tell_shops(db.session, [ShopEvent(s.id, "fee_posted", f"fee:{s.id}", {"amount": "80.00"}) for s in part])
        db.session.commit()

    assert (queued("notify"), queued("sms_modem")) == (1, 0)


def test_quiet_hours_hold_a_low_balance_message_until_they_end_and_a_supply_off_goes_at_once(
        aliyun, configure, make_account):
    start, end, ends_at = around_now()
    configure(SMS_BACKEND="aliyun", NOTIFY_QUIET_HOURS=f"{start:%H:%M}-{end:%H:%M}")
    shop = make_account(phone="13900000002")
    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", low(1))
    tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF)
    db.session.commit()

    send_due(NOTIFY_CHANNELS)
    send_due(NOTIFY_CHANNELS, now=ends_at - timedelta(seconds=1))
    assert [s.template for s in aliyun.accepted] == ["SMS_480200004"]
    held, _ = rows()
    assert held.status is DeliveryStatus.PENDING

    assert send_due(NOTIFY_CHANNELS, now=ends_at)["sent"] == 1
    assert [s.template for s in aliyun.accepted] == ["SMS_480200004", "SMS_480200001"]
    assert rows()[0].status is DeliveryStatus.SENT


def test_a_number_aliyun_refuses_goes_by_the_modem_and_the_log_shows_both(aliyun, configure, make_account):
    shop = make_account(phone="13900000003")
    with StandinModem() as modem:
        configure(SMS_BACKEND="aliyun,modem", SMS_MODEM_DEVICE=modem.device)
        tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", low(1))
        db.session.commit()
        aliyun.fail_next("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")

        assert send_due(NOTIFY_CHANNELS)["fallback"] == 1
        [row] = rows()
        assert (row.status, row.channel, row.recipient) == (DeliveryStatus.PENDING, "modem", "13900000003")
        assert queued("sms_modem") == 1  # the modem's own sender, woken on its machine

        assert send_due(MODEM_CHANNELS)["sent"] == 1

    [row] = rows()
    assert (row.status, row.channel, row.attempts) == (DeliveryStatus.SENT, "modem", 1)
    assert row.provider_id.isdigit()  # the modem's message reference
    assert row.error.startswith("aliyun: isv.MOBILE_NUMBER_ILLEGAL: 非法手机号 (request ")
    assert aliyun.answers == ["isv.MOBILE_NUMBER_ILLEGAL"]
    [pdu] = modem.pdus
    assert read_submit(pdu).text == row.text


def test_a_passing_failure_is_retried_with_backoff_then_given_up(aliyun, configure, make_account):
    configure(SMS_BACKEND="aliyun")
    shop = make_account(phone="13900000004")
    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", low(1))
    db.session.commit()
    for _ in range(len(BACKOFF) + 1):
        aliyun.fail_next("isp.SYSTEM_ERROR", "系统错误")

    now = utcnow()
    for wait in BACKOFF:
        assert send_due(NOTIFY_CHANNELS, now=now)["retry"] == 1
        assert send_due(NOTIFY_CHANNELS, now=now + wait - timedelta(seconds=1))["claimed"] == 0  # not yet
        [row] = rows()
        assert (row.status, row.due_at) == (DeliveryStatus.PENDING, now + wait)
        now += wait
    assert send_due(NOTIFY_CHANNELS, now=now)["failed"] == 1

    [row] = rows()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 5)
    assert row.error.startswith("aliyun: isp.SYSTEM_ERROR: 系统错误") and row.error.endswith("(given up after 5)")
    assert len(aliyun.requests) == 5 and aliyun.accepted == []


def test_a_channel_that_raises_is_retried(configure, make_account, monkeypatch):
    class Broken:
        name = "log"

        def send(self, message):
            raise KeyError("template")

    shop = make_account(phone="13900000005")
    tell_shop(db.session, shop.id, "fee_posted", "fee:1", {"amount": "80.00"})
    db.session.commit()
    monkeypatch.setattr(registry, "channel", lambda name: Broken())

    assert send_due(NOTIFY_CHANNELS)["retry"] == 1
    [row] = rows()
    assert (row.status, row.error) == (DeliveryStatus.PENDING, "log: KeyError: 'template'")


def test_a_channel_without_its_settings_falls_back_with_a_clear_message(configure, make_account):
    configure(SMS_BACKEND="aliyun,log")  # no Aliyun keys
    shop = make_account(phone="13900000006")
    tell_shop(db.session, shop.id, "fee_posted", "fee:1", {"amount": "80.00"})
    db.session.commit()

    send_due(NOTIFY_CHANNELS)

    [row] = rows()
    assert (row.status, row.channel) == (DeliveryStatus.SENT, "log")
    assert row.error == "aliyun: the aliyun channel is not configured"


def test_the_modems_deliveries_wait_for_the_modems_own_sender(configure, make_account):
    configure(SMS_BACKEND="modem")
    shop = make_account(phone="13900000007")
    tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF)
    db.session.commit()
    assert (queued("notify"), queued("sms_modem")) == (0, 1)

    assert send_due(NOTIFY_CHANNELS)["claimed"] == 0
    with StandinModem() as modem:
        configure(SMS_MODEM_DEVICE=modem.device)
        assert send_due(MODEM_CHANNELS)["sent"] == 1
    assert len(modem.pdus) == 1 and rows()[0].status is DeliveryStatus.SENT


def test_the_modems_worker_sends_what_the_commit_queued_for_it(configure, make_account):
    shop = make_account(phone="13900000017")
    with StandinModem() as modem:
        configure(SMS_BACKEND="modem", SMS_MODEM_DEVICE=modem.device)
        tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF)
        db.session.commit()
        conn = redis_connection()
        SimpleWorker([Queue("sms_modem", connection=conn)], connection=conn).work(burst=True)
    assert len(modem.pdus) == 1 and rows()[0].status is DeliveryStatus.SENT


def test_the_cron_runs_the_sender_every_minute():
    assert any(p.func is send_notifications and p.cron == "* * * * *" for p in periodic(ZoneInfo("Asia/Shanghai")))


def test_a_wechat_message_opens_the_shops_page(wechat_mp, configure, make_account):
    shop = make_account(phone="13900000008")
    db.session.add(TenantUser(name="店长", phone="13700000008", wechat_openid="o-manager"))
    db.session.flush()
    user = db.session.execute(select(TenantUser).where(TenantUser.wechat_openid == "o-manager")).scalar_one()
    db.session.add(TenantBinding(tenant_user_id=user.id, account_id=shop.id))
    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", low(1))
    db.session.commit()

    send_due(NOTIFY_CHANNELS)

    [message] = wechat_mp.delivered
    [row] = rows()
    assert (message.openid, message.template_id, message.url) == ("o-manager", "tmpl-low-1", row.link)
    assert message.data["balance"] == {"value": "9.50"}
    assert (row.status, row.provider_id) == (DeliveryStatus.SENT, str(message.msgid))


def test_a_slow_channel_does_not_hold_up_another(aliyun, wechat_mp, configure, make_account, redis_app):
    configure(SMS_BACKEND="aliyun")
    aliyun.delay = 1.0  # each text takes a second to answer
    texted = [make_account(phone=f"1390000001{n}") for n in range(3)]
    followers = [make_account(phone=f"1390000002{n}") for n in range(3)]
    for n, shop in enumerate(followers):
        user = TenantUser(name="店长", wechat_openid=f"o-{n}")
        db.session.add(user)
        db.session.flush()
        db.session.add(TenantBinding(tenant_user_id=user.id, account_id=shop.id))
    tell_shops(db.session, [ShopEvent(s.id, "low_balance_1", f"alarm:{s.id}", low(1)) for s in texted + followers])
    db.session.commit()

    def run():
        with redis_app.app_context():
            send_due(NOTIFY_CHANNELS)

    sender = threading.Thread(target=run)
    sender.start()
    deadline = time.monotonic() + 10
    while len(wechat_mp.delivered) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    texts_meanwhile = len(aliyun.accepted)
    sender.join(15)

    assert len(wechat_mp.delivered) == 3 and texts_meanwhile < 3  # WeChat did not wait for the texts
    assert len(aliyun.accepted) == 3
    assert {r.status for r in rows()} == {DeliveryStatus.SENT}


@pytest.mark.slow
def test_a_supply_off_after_a_burst_of_ten_thousand_goes_in_the_first_batch(make_site, make_account):
    site = make_site()
    db.session.execute(insert(Account.__table__), [
        dict(site_id=site.id, code=f"B{n:05d}", name="铺", phone=f"139{n:08d}") for n in range(10_000)])
    ids = db.session.execute(select(Account.id).where(Account.site_id == site.id).order_by(Account.id)).scalars().all()
    tell_shops(db.session, [ShopEvent(i, "low_balance_1", f"alarm:{i}", low(1)) for i in ids])
    db.session.commit()
    tell_shop(db.session, ids[5000], "supply_off", "entry:1", OFF)
    db.session.commit()
    assert queued("notify") == 1  # one sender for the whole burst

    counts = send_due(NOTIFY_CHANNELS)

    assert counts["sent"] == 10_001
    sent = db.session.execute(select(Delivery.event, Delivery.provider_id, Delivery.attempts, Delivery.status)
                              .order_by(Delivery.id)).all()
    order = sorted(sent, key=lambda r: int(r.provider_id.removeprefix("log-")))
    assert order[0].event == "supply_off"  # the first message of the run
    assert len({r.provider_id for r in sent}) == 10_001  # each sent once
    assert {(r.attempts, r.status) for r in sent} == {(1, DeliveryStatus.SENT)}
