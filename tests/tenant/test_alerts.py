"""A shop's alerts page (/t/a/<id>/alerts): its tenants choose the channels, the events and the quiet hours; the
choice persists, routing honours it, and the last messages sent about the shop (and only it) are listed."""
from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, Delivery, DeliveryStatus, NotifyPreference, TenantUser, utcnow
from portal.notify.route import tell_shop
from tests.notify.conftest import configure

HX = {"HX-Request": "true"}
LOW = {"shop": "S501", "shop_name": "Tea", "balance": "8.00", "level": "10.00"}
OFF = {"shop": "S501", "shop_name": "Tea", "at": "2026-12-06 18:00", "reason": "arrears", "restore": "20.00"}
EVERYTHING = ["low_balance_1", "low_balance_2", "low_balance_3", "arrears", "arrears_held", "payment_credited",
              "emergency_taken", "emergency_repaid", "fee_posted", "allocation_posted"]


@pytest.fixture
def shop(client, login, make_account, make_tenant):
    """A logged-in tenant's shop, with its phone on file."""
    account = make_account(code="S501", name="茶铺 Tea", phone="13900000501")
    tenant = make_tenant([account], phone="13700000501")
    login.tenant(tenant, account)
    return account


def save(client, account, channels=("sms",), events=EVERYTHING, start="", end="", **headers):
    return client.post(f"/t/a/{account.id}/alerts", headers=headers,
                       data={"channel": list(channels), "event": list(events), "quiet_start": start, "quiet_end": end})


def preference(account) -> NotifyPreference | None:
    db.session.expire_all()
    return db.session.get(NotifyPreference, account.id)


def test_the_page_shows_the_defaults_every_event_on_and_what_cannot_be_turned_off(client, shop):
    html = client.get(f"/t/a/{shop.id}/alerts").get_data(as_text=True)
    assert 'id="channel-sms" checked' in html
    for name in EVERYTHING:
        assert re.search(rf'value="{name}" id="event-{name}" checked', html), name
    for name in ("supply_off", "supply_restored", "over_power"):
        assert re.search(rf'id="event-{name}" checked disabled', html), name
    assert html.count('data-testid="always-on"') >= 3
    assert 'id="event-login_code"' not in html  # a sign-in code is about a phone, not a shop
    assert "提醒" in html  # Chinese by default


def test_a_change_is_kept_and_audited(client, shop):
    answer = save(client, shop, events=[e for e in EVERYTHING if e != "low_balance_1"], start="21:30", end="07:00")
    assert answer.status_code == 302
    row = preference(shop)
    assert (row.channels, row.muted, row.quiet_start, row.quiet_end) == ("sms", ["low_balance_1"], time(21, 30),
                                                                         time(7))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notify.preference_changed"))
    tenant = db.session.scalar(select(TenantUser).where(TenantUser.phone == "13700000501"))
    assert entry.actor == f"tenant:{tenant.id}" and entry.target_id == shop.id
    assert entry.detail["changed"]["muted"] == [[], ["low_balance_1"]]
    html = client.get(f"/t/a/{shop.id}/alerts").get_data(as_text=True)
    assert 'id="event-low_balance_1">' in html and 'value="21:30"' in html and 'value="07:00"' in html


def test_htmx_gets_the_form_back_saying_it_was_saved(client, shop):
    answer = save(client, shop, events=EVERYTHING[1:], **HX)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and html.lstrip().startswith('<section id="alerts"')
    assert 'data-testid="alerts-saved"' in html


@pytest.mark.parametrize("form, said", [
    (dict(channels=()), "至少选择一种"),
    (dict(start="22:00"), "开始和结束"),
    (dict(start="22:00", end="22:00"), "同一时间"),
    (dict(start="25:99", end="07:00"), "22:00"),
    (dict(channels=("wechat",)), "不提供"),
], ids=["no channel", "half quiet", "empty quiet", "not a time", "wechat unbound"])
def test_a_choice_that_cannot_be_kept_is_refused_and_nothing_changes(client, shop, form, said):
    answer = save(client, shop, **form, **HX)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'data-testid="alerts-error"' in html and said in html
    assert preference(shop) is None
    plain = save(client, shop, **form)
    assert plain.status_code == 422 and said in plain.get_data(as_text=True)


def test_an_event_that_cannot_be_muted_stays_on_whatever_the_form_says(client, shop):
    save(client, shop, events=[])  # every box unticked; the disabled ones are not sent at all
    assert "supply_off" not in preference(shop).muted
    assert tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF) == 1


def test_routing_honours_the_choice_a_muted_level_is_not_delivered(client, shop):
    save(client, shop, events=[e for e in EVERYTHING if e != "low_balance_1"])
    assert tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW) == 0
    assert tell_shop(db.session, shop.id, "low_balance_2", "alarm:2", LOW) == 1
    db.session.commit()
    assert [d.event for d in db.session.scalars(select(Delivery))] == ["low_balance_2"]


def test_routing_holds_a_message_in_the_shops_own_quiet_hours(client, shop, configure):
    now = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    save(client, shop, start=start, end=end)
    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW)
    tell_shop(db.session, shop.id, "supply_off", "entry:1", OFF)
    db.session.commit()
    due = {d.event: d.due_at for d in db.session.scalars(select(Delivery))}
    assert due["low_balance_1"] > utcnow() + timedelta(hours=1)  # held until the quiet hours end
    assert due["supply_off"] <= utcnow()  # urgent: never held


def test_wechat_is_offered_when_a_tenant_of_the_shop_signed_in_with_wechat(client, shop, configure):
    configure(WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s", WECHAT_TEMPLATE_LOW_BALANCE_1="tmpl-1")
    assert 'id="channel-wechat"' not in client.get(f"/t/a/{shop.id}/alerts").get_data(as_text=True)
    tenant = db.session.scalar(select(TenantUser).where(TenantUser.phone == "13700000501"))
    tenant.wechat_openid = "o-tea"
    db.session.commit()
    assert 'id="channel-wechat" checked' in client.get(f"/t/a/{shop.id}/alerts").get_data(as_text=True)
    save(client, shop, channels=("sms",))
    tell_shop(db.session, shop.id, "low_balance_1", "alarm:1", LOW)
    db.session.commit()
    [row] = db.session.scalars(select(Delivery))
    assert row.channel != "wechat" and row.recipient == "13700000501"  # SMS only, as chosen


def test_the_last_messages_are_this_shops_tenant_messages_newest_first_masked(client, shop, make_account,
                                                                             make_delivery):
    other = make_account(site=shop.site, code="S502")
    old = make_delivery(shop, event="payment_credited", text="old one", recipient="13700000501",
                        created_at=utcnow() - timedelta(days=2))
    new = make_delivery(shop, event="low_balance_1", status=DeliveryStatus.FAILED, text="new one",
                        recipient="13700000501")
    make_delivery(other, event="low_balance_1", text="someone else's", recipient="13700000502")
    make_delivery(shop, event="meter_offline", text="the office's alarm", recipient="13600000000")
    html = client.get(f"/t/a/{shop.id}/alerts").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'data-testid="message" data-id="(\d+)"', html)]
    assert ids == [new.id, old.id]
    assert "someone else" not in html and "the office" not in html
    assert "137****0501" in html and "13700000501" not in html
    assert "发送失败" in html and "已发送" in html


def test_no_message_yet_is_said_plainly(client, shop):
    html = client.get(f"/t/a/{shop.id}/alerts").get_data(as_text=True)
    assert 'data-testid="no-messages"' in html


def test_another_tenants_shop_is_a_404_to_read_and_to_change(client, shop, make_account, make_tenant):
    other = make_account(site=shop.site, code="S503")
    make_tenant([other])
    assert client.get(f"/t/a/{other.id}/alerts").status_code == 404
    assert save(client, other).status_code == 404
    assert preference(other) is None


def test_the_form_needs_its_csrf_token(client, shop, csrf_on):
    assert save(client, shop).status_code == 400
    assert preference(shop) is None


def test_a_staff_session_may_not_open_it(client, login, make_staff, shop):
    client.post("/auth/logout")
    login.staff(make_staff())
    assert client.get(f"/t/a/{shop.id}/alerts").status_code == 403
