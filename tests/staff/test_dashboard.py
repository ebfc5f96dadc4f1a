"""The staff dashboard at /staff/: each figure from the factories' rows, the site scope, every role, the htmx poll."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from portal.alarms import raise_alarm
from portal.counter.daily_report import daily_report
from portal.counter.operations import counter_recharge
from portal.extensions import db
from portal.models import AlarmKind, Channel, OrderStatus, PaymentOrder, Role, Supply, utcnow
from portal.settings import business_tz
from portal.staff.dashboard_figures import dashboard_figures


def figure(html: str, attr: str, value: str) -> str:
    """The text of the element whose `attr` is `value` (data-testid="..." or data-alarm="...")."""
    found = re.search(rf'{attr}="{re.escape(value)}"[^>]*>([^<]*)', html)
    assert found, f"{attr}={value} not on the page"
    return found.group(1).strip()


def paid_order(account, fen: int, channel: Channel, *, at=None) -> PaymentOrder:
    """A platform order paid and credited at `at` (now)."""
    at = at or utcnow()
    order = PaymentOrder(out_trade_no=uuid.uuid4().hex[:24], account_id=account.id, amount_fen=fen, channel=channel,
                         status=OrderStatus.CREDITED, expires_at=at + timedelta(minutes=15), paid_at=at,
                         credited_at=at, created_at=at - timedelta(minutes=1))
    db.session.add(order)
    db.session.commit()
    return order


def cash(account, fen: int, method: str = "cash") -> None:
    counter_recharge(db.session, account, fen, method, "", "staff:desk", uuid.uuid4().hex)
    db.session.commit()


@pytest.fixture
def mall(make_site, make_gateway, make_account, make_meter):
    """Site "mall": two gateways (one offline), meters online and off, arrears, keep-power, alarms, takings."""
    site = make_site("mall", overdraft_limit_fen=1_000, low_balance_levels_fen=[])
    up, down = make_gateway(site=site, code="GW-UP", online=True), make_gateway(site=site, code="GW-DOWN")
    owing = make_account(site=site, code="OWE", balance_fen=-1_500)           # at or below -10.00: arrears
    overdraft = make_account(site=site, code="OVER", balance_fen=-500)        # within the overdraft
    tripped = make_account(site=site, code="TRIP", balance_fen=20_000)
    make_meter(account=owing, gateway=up, state={"online": True}, supply_desired=Supply.OFF, desired_reason="arrears")
    make_meter(account=owing, gateway=up, state={"online": True}, supply_desired=Supply.OFF, desired_reason="arrears")
    make_meter(account=tripped, gateway=up, state={"online": False}, supply_desired=Supply.OFF,
               desired_reason="remote")
    make_meter(account=overdraft, gateway=down, keep_power=True)               # never read: offline
    make_meter(gateway=down, state={"online": False}, supply_desired=Supply.OFF, desired_reason="remote")  # common
    for kind, subject in [(AlarmKind.ARREARS, "account:1"), (AlarmKind.METER_OFFLINE, "meter:1"),
                          (AlarmKind.METER_OFFLINE, "meter:2")]:
        raise_alarm(db.session, kind, f"{subject}:{site.code}", site.id, "x")
    db.session.commit()
    paid_order(tripped, 5_000, Channel.ALIPAY_WAP)
    paid_order(tripped, 3_000, Channel.ALIPAY_WAP)
    paid_order(tripped, 2_000, Channel.WECHAT_JSAPI)
    paid_order(tripped, 9_900, Channel.WECHAT_JSAPI, at=utcnow() - timedelta(days=2))  # not today
    cash(overdraft, 1_000)
    cash(overdraft, 700, "transfer")
    return site


@pytest.fixture
def elsewhere(make_site, make_gateway, make_account, make_meter):
    """Another site with one of everything, none of which a user of "mall" may count."""
    site = make_site("elsewhere")
    gateway = make_gateway(site=site, code="GW-X")
    shop = make_account(site=site, code="X1", balance_fen=-5_000)
    make_meter(account=shop, gateway=gateway, state={"online": True}, supply_desired=Supply.OFF,
               desired_reason="arrears", keep_power=True)
    raise_alarm(db.session, AlarmKind.ARREARS, "account:x", site.id, "x")
    db.session.commit()
    paid_order(shop, 100_000, Channel.ALIPAY_WAP)
    cash(make_account(site=site, code="X2"), 40_000)
    return site


def test_the_figures_count_the_sites_rows(mall, elsewhere):
    tz = business_tz()
    f = dashboard_figures(db.session, {mall.id}, utcnow().astimezone(tz).date(), tz)

    assert [(g.code, g.online, g.meters_online, g.meters_offline) for g in f.gateways] == [
        ("GW-DOWN", False, 0, 2), ("GW-UP", True, 2, 1)]
    assert f.shops_off == {"arrears": 1, "remote": 1}  # shops, not meters; a common meter is no shop
    assert (f.shops_in_arrears, f.arrears_fen) == (1, 1_500)
    assert f.keep_power_meters == 1
    assert f.alarms == {AlarmKind.ARREARS: 1, AlarmKind.METER_OFFLINE: 2}
    assert [(t.section, t.detail, t.count, t.amount_fen) for t in f.takings] == [
        ("payment", "alipay_wap", 2, 8_000), ("payment", "wechat_jsapi", 1, 2_000),
        ("cash", "cash", 1, 1_000), ("cash", "transfer", 1, 700)]
    assert f.takings_fen == 11_700 and all(type(t.amount_fen) is int for t in f.takings)


def test_the_takings_agree_with_the_counters_daily_report(mall):
    tz = business_tz()
    day = utcnow().astimezone(tz).date()
    report = daily_report(db.session, {mall.id}, day, tz)

    f = dashboard_figures(db.session, {mall.id}, day, tz)

    assert f.takings_fen == report.total("payment") + report.total("cash") + report.total("reversal")


def test_every_site_counts_for_an_admin(mall, elsewhere):
    tz = business_tz()
    f = dashboard_figures(db.session, None, utcnow().astimezone(tz).date(), tz)
    assert f.shops_in_arrears == 2 and f.keep_power_meters == 2 and f.alarms[AlarmKind.ARREARS] == 2
    assert f.takings_fen == 11_700 + 140_000


def test_the_page_shows_the_figures_of_the_users_sites_only(client, login, make_staff, mall, elsewhere):
    login.staff(make_staff(role=Role.MANAGER, sites=[mall]))

    html = client.get("/staff/").get_data(as_text=True)

    assert figure(html, "data-testid", "shops-in-arrears").startswith("1")
    assert figure(html, "data-testid", "keep-power") == "1"
    assert figure(html, "data-off", "arrears") == "1" and figure(html, "data-off", "remote") == "1"
    assert figure(html, "data-alarm", "meter_offline") == "2" and figure(html, "data-alarm", "arrears") == "1"
    assert figure(html, "data-testid", "takings-total") == "¥117.00"
    assert "GW-X" not in html and 'data-gateway="GW-UP"' in html
    assert 'href="/staff/alarms?kind=meter_offline"' in html


def test_a_gateway_links_to_the_meter_list_of_that_gateway(client, login, make_staff, mall):
    login.staff(make_staff(role=Role.OPERATOR, sites=[mall]))
    html = client.get("/staff/").get_data(as_text=True)
    link = re.search(r'<tr data-gateway="GW-DOWN">\s*<td><a href="([^"]+)"', html).group(1)

    listed = client.get(link.replace("&amp;", "&")).get_data(as_text=True)

    assert len(re.findall(r"<tr[^>]* data-meter=", listed)) == 2


@pytest.mark.parametrize("role", list(Role))
def test_every_role_opens_the_dashboard(client, login, make_staff, mall, role):
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [mall]))
    res = client.get("/staff/")
    assert res.status_code == 200 and 'id="dashboard"' in res.get_data(as_text=True)


def test_an_electrician_sees_no_money(client, login, make_staff, mall):
    login.staff(make_staff(role=Role.OPERATOR, sites=[mall]))
    html = client.get("/staff/").get_data(as_text=True)
    assert 'id="dash-takings"' not in html and 'data-testid="gateways-offline"' in html


def test_htmx_gets_the_cards_alone_and_they_poll(client, login, make_staff, mall):
    login.staff(make_staff(role=Role.CASHIER, sites=[mall]))

    res = client.get("/staff/", headers={"HX-Request": "true"})

    html = res.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="dashboard"') and "<html" not in html
    assert 'hx-trigger="every 15s"' in html and 'hx-swap="outerHTML"' in html
    assert "HX-Request" in res.headers["Vary"]


def test_an_empty_site_says_so(client, login, make_staff, make_site):
    login.staff(make_staff(role=Role.MANAGER, sites=[make_site()]))
    html = client.get("/staff/").get_data(as_text=True)
    assert 'data-testid="no-alarm"' in html and 'data-testid="no-shop-off"' in html
    assert figure(html, "data-testid", "takings-total") == "¥0.00"


def test_the_shop_figures_link_the_meter_list_filtered_to_them(client, login, make_staff, mall):
    login.staff(make_staff(role=Role.OPERATOR, sites=[mall]))
    html = client.get("/staff/").get_data(as_text=True)
    for query in ("arrears=yes", "keep_power=yes", "reason=remote"):
        assert f'href="/staff/meters?{query}"' in html
        assert client.get(f"/staff/meters?{query}").status_code == 200
