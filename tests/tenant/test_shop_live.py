"""The shop page keeps itself current: after emergency credit, a payment or a restore, the status (balance, days
left, supply) and the chips follow without a reload; and the channels follow where the page runs."""
from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.models import Supply
from portal.payments.orders import create_order
from portal.tenant.progress import pay_options
from tests.tenant.test_recharge import PHONE_UA, WECHAT_UA, credit

EN = {"Accept-Language": "en"}
HTMX = {"HX-Request": "true"}
ALIPAY_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36 "
             "AlipayClient/10.5.86.8000 Language/zh-Hans")
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
READY = {name: [] for name in ("alipay_wap", "alipay_qr", "wechat_native", "wechat_jsapi", "sandbox")}


@pytest.fixture
def tripped(make_site, make_account, make_meter, make_tenant, monkeypatch, login):
    """A logged-in tenant's shop at -¥5.00 off for arrears, at a site offering ¥50.00 emergency credit."""
    # the poll the switch asks for is the worker's: run inline here it would find no gateway and mark the meter
    # offline, where the page rightly stops looking every two seconds
    monkeypatch.setattr("portal.control.balance.request_poll", lambda session, gateway_id: None)
    site = make_site(emergency_credit_fen=5_000, protect_holidays=False, low_balance_levels_fen=[2_000])
    acct = make_account(site=site, code="S500", name="Noodle bar", balance_fen=-500)
    acct.meter = make_meter(account=acct, code="E500", state={"online": True, "supply_actual": Supply.OFF})
    acct.meter.supply_desired, acct.meter.desired_reason = Supply.OFF, "arrears"
    db.session.commit()
    acct.tenant = make_tenant([acct])
    login.tenant(acct.tenant, acct)
    return acct


def supply_of(html: str) -> str:
    return re.search(r'<div id="supply"[^>]*data-state="(\w+)"', html).group(1)


def test_after_emergency_credit_the_status_says_the_supply_is_coming_back(client, tripped):
    """Reviewer finding: "after emergency credit the page keeps saying 已断电 until a reload"."""
    assert "已断电" in client.get(f"/t/a/{tripped.id}").get_data(as_text=True)

    res = client.post(f"/t/a/{tripped.id}/emergency", headers=HTMX)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and html.startswith("<section id=\"status\"")
    assert "¥45.00" in html  # the balance with the credit
    assert 'data-testid="emergency-message"' in html
    assert supply_of(html) == "restoring" and "已断电" not in html
    assert 'hx-trigger="every 2s, shop-changed from:body"' in html  # looks again until the relay is read closed
    assert res.headers["HX-Trigger"] == "emergency-taken"  # the chips fetch themselves

    tripped.meter.state.supply_actual = Supply.ON  # the poller reads the relay closed
    db.session.commit()
    again = client.get(f"/t/a/{tripped.id}", headers=HTMX).get_data(as_text=True)
    assert supply_of(again) == "on" and "供电中" in again and 'hx-trigger="every 30s' in again


def test_a_refused_emergency_credit_triggers_nothing(client, tripped):
    tripped.site.emergency_credit_fen = 0
    db.session.commit()
    res = client.post(f"/t/a/{tripped.id}/emergency", headers=HTMX)
    assert "HX-Trigger" not in res.headers


def test_the_recharge_section_fetches_itself_when_the_shop_changes(client, tripped):
    page = client.get(f"/t/a/{tripped.id}").get_data(as_text=True)
    assert (f'hx-get="/t/a/{tripped.id}/recharge" hx-trigger="shop-changed from:body, emergency-taken from:body" '
            'hx-target="#recharge"') in page
    # off for money: a chip brings it back, chosen by default
    assert re.search(r'value="(\d+)" checked><span>¥\d+<small class="chip-note" data-testid="restore-chip"', page)
    client.post(f"/t/a/{tripped.id}/emergency", headers=HTMX)
    section = client.get(f"/t/a/{tripped.id}/recharge", headers=HTMX).get_data(as_text=True)
    assert section.startswith('<section id="recharge">') and "restore-chip" not in section


def test_todays_orders_poll_while_one_is_under_way_and_tell_the_page_when_it_moves(client, tripped):
    order = create_order(db.session, tripped, 10_000, "alipay_wap", tripped.tenant.actor)
    db.session.commit()
    page = client.get(f"/t/a/{tripped.id}", headers=EN).get_data(as_text=True)
    part = re.search(r'<section id="today-orders" hx-get="([^"]+)" hx-trigger="every 2s"', page)
    assert part and 'data-state="waiting"' in page
    url = part.group(1).replace("&amp;", "&")

    unchanged = client.get(url, headers=HTMX)
    assert unchanged.get_data(as_text=True).startswith('<section id="today-orders"')
    assert "HX-Trigger" not in unchanged.headers

    credit(order)  # paid and credited: the balance and the supply moved
    moved = client.get(url, headers=HTMX)
    assert moved.headers["HX-Trigger"] == "shop-changed"
    html = moved.get_data(as_text=True)
    assert 'data-state="credited"' in html or 'data-state="restored"' in html


def test_todays_orders_stop_polling_when_all_are_done(client, tripped):
    order = create_order(db.session, tripped, 10_000, "alipay_wap", tripped.tenant.actor)
    db.session.commit()
    credit(order)
    tripped.meter.state.supply_actual = Supply.ON
    db.session.commit()
    html = client.get(f"/t/a/{tripped.id}").get_data(as_text=True)
    assert 'data-pending="no"' in html and 'id="today-orders" hx-get' not in html


def test_no_one_elses_orders_or_chips(client, tripped, make_account):
    other = make_account(code="S599")
    assert client.get(f"/t/a/{other.id}/orders/today").status_code == 404
    assert client.get(f"/t/a/{other.id}/recharge").status_code == 404


# --- the channel by where the page runs -----------------------------------------------------------------

@pytest.mark.parametrize("ua, openid, channels", [
    (WECHAT_UA, "openid-1", ["wechat_jsapi", "sandbox"]),
    (ALIPAY_UA, None, ["alipay_wap", "sandbox"]),
    (DESKTOP_UA, None, ["alipay_qr", "wechat_native", "sandbox"]),
    (PHONE_UA, None, ["alipay_wap", "alipay_qr", "wechat_native", "sandbox"]),
])
def test_the_channel_follows_where_the_page_runs(ua, openid, channels):
    assert pay_options(ua, openid, READY) == channels


def test_a_desktop_page_offers_qr_codes_first(client, tripped, monkeypatch):
    monkeypatch.setattr("portal.tenant.recharge.available", lambda: READY)
    html = client.get(f"/t/a/{tripped.id}", headers={"User-Agent": DESKTOP_UA}).get_data(as_text=True)
    assert re.findall(r'data-channel="([a-z_]+)"', html) == ["alipay_qr", "wechat_native", "sandbox"]
    inside_alipay = client.get(f"/t/a/{tripped.id}", headers={"User-Agent": ALIPAY_UA}).get_data(as_text=True)
    assert re.findall(r'data-channel="([a-z_]+)"', inside_alipay) == ["alipay_wap", "sandbox"]
