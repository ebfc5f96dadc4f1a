"""Tenant pay: amounts, channels by browser, order creation, the progress partial, history, isolation."""
from __future__ import annotations

import gzip
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import (
    AuditEntry,
    CommandStatus,
    ControlCommand,
    ControlMode,
    EntryKind,
    LedgerEntry,
    OrderStatus,
    PaymentOrder,
    Supply,
    utcnow,
)
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import create_order
from portal.payments.providers import registry as channels
from portal.tenant.progress import AmountError, order_progress, parse_amount, pay_options

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
PHONE_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1"


@pytest.fixture
def fake_channels(monkeypatch):
    """Only fake channels are registered and ready; `fake_channels.calls` lists (channel, order, context)."""
    calls = []

    def starter(name, data):
        def start(order, context):
            calls.append((name, order.out_trade_no, context))
            return dict(data)
        return start

    fakes = {
        "alipay_wap": {"pay_url": "https://pay.example.test/cashier?sig=1"},
        "alipay_qr": {"qr_code": "https://qr.example.test/x", "qr_svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"},
        "wechat_jsapi": {"jsapi_params": {"appId": "wx1", "package": "prepay_id=p1", "paySign": "s"}},
        "wechat_native": {"code_url": "weixin://wxpay/x", "qr_svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"},
        "sandbox": {"pay_url": "/pay/sandbox/x"},
    }
    monkeypatch.setattr(channels, "PROVIDERS", {
        name: SimpleNamespace(start=starter(name, data), missing=list) for name, data in fakes.items()})
    return SimpleNamespace(calls=calls)


@pytest.fixture
def shop(make_account, make_meter, make_tenant, login):
    """A logged-in tenant's shop with one platform-mode meter whose supply is off for arrears."""
    acct = make_account(code="S100", name="Noodle bar", balance_fen=1_000)
    meter = make_meter(account=acct, code="E100", state={"online": True, "supply_actual": Supply.OFF})
    tenant = make_tenant([acct])
    login.tenant(tenant, acct)
    acct.meter = meter
    acct.tenant = tenant
    return acct


def pay(client, shop, amount="10000", channel="alipay_wap", ua=PHONE_UA, custom="", **headers):
    return client.post(f"/t/a/{shop.id}/pay", data={"amount": amount, "custom": custom, "channel": channel},
                       headers={"User-Agent": ua, **headers})


def orders() -> list[PaymentOrder]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentOrder)))


def credit(order: PaymentOrder) -> None:
    """What a verified notify does: paid, then credited by the (inline) job."""
    accept_payment(db.session, VerifiedPayment("test", order.out_trade_no, f"T{order.id}", order.amount_fen, True))
    db.session.commit()
    db.session.refresh(order)


# --- amounts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("choice, custom, fen", [
    ("5000", "", 5_000), ("50000", "", 50_000), ("custom", "88.5", 8_850), ("custom", "１００", 10_000),
    ("custom", " 12.34 ", 1_234), ("custom", "¥66", 6_600), ("5000", "77", 7_700), (None, "3", 300),
])
def test_amounts_are_chips_or_custom_yuan_in_integer_fen(choice, custom, fen):
    assert parse_amount(choice, custom) == fen
    assert type(parse_amount(choice, custom)) is int


@pytest.mark.parametrize("choice, custom, code", [
    ("custom", "abc", "format"), ("custom", "-5", "format"), ("custom", "1e3", "format"),
    ("custom", "12.345", "format"), ("custom", "1,000", "format"), ("custom", "NaN", "format"),
    ("custom", "Infinity", "format"), ("custom", "0x10", "format"), ("custom", "", "format"),
    ("custom", "0.50", "too_small"), ("custom", "0", "too_small"), ("custom", "50001", "too_large"),
    ("custom", "99999999999", "format"), ("1234", "", "choose"), ("5000.0", "", "choose"), (None, "", "choose"),
    ("-5000", "", "choose"), ("<script>", "", "choose"),
])
def test_nonsense_amounts_are_refused(choice, custom, code):
    with pytest.raises(AmountError) as exc:
        parse_amount(choice, custom)
    assert exc.value.code == code


def test_a_nonsense_amount_creates_no_order_and_says_why(client, shop, fake_channels):
    res = pay(client, shop, amount="custom", custom="12,50")
    assert res.status_code == 422
    assert 'data-testid="pay-error"' in res.get_data(as_text=True)
    assert orders() == [] and fake_channels.calls == []


def test_htmx_gets_the_recharge_section_back_with_the_error(client, shop, fake_channels):
    res = pay(client, shop, amount="custom", custom="lots", **{"HX-Request": "true"})
    html = res.get_data(as_text=True)
    assert res.status_code == 200  # htmx swaps only 2xx
    assert html.startswith('<section id="recharge">') and "<html" not in html
    assert "lots" in html  # the typed value stays in the field


# --- channels -----------------------------------------------------------------------------------------

def test_inside_wechat_only_wechat_pay_and_the_sandbox_are_offered():
    ready = {name: [] for name in ("alipay_wap", "alipay_qr", "wechat_native", "wechat_jsapi", "sandbox")}
    assert pay_options(WECHAT_UA, "openid-1", ready) == ["wechat_jsapi", "sandbox"]
    assert pay_options(WECHAT_UA, None, ready) == ["sandbox"]  # JSAPI needs the payer's openid
    assert pay_options(PHONE_UA, "openid-1", ready) == ["alipay_wap", "alipay_qr", "wechat_native", "sandbox"]


def test_unconfigured_channels_are_not_offered():
    ready = {"alipay_wap": ["ALIPAY_APP_ID"], "alipay_qr": ["ALIPAY_APP_ID"], "sandbox": []}
    assert pay_options(PHONE_UA, None, ready) == ["sandbox"]


def test_the_account_page_shows_chips_and_the_channels_of_this_browser(client, shop, fake_channels):
    html = client.get(f"/t/a/{shop.id}", headers={"User-Agent": PHONE_UA}).get_data(as_text=True)
    assert re.findall(r'name="amount" value="(\d+)"', html) == ["5000", "10000", "20000", "50000"]
    assert re.findall(r'data-channel="([a-z_]+)"', html) == ["alipay_wap", "alipay_qr", "wechat_native", "sandbox"]
    inside = client.get(f"/t/a/{shop.id}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert re.findall(r'data-channel="([a-z_]+)"', inside) == ["sandbox"]


def test_a_channel_this_browser_is_not_offered_is_refused(client, shop, fake_channels):
    res = pay(client, shop, channel="wechat_jsapi")  # not in a phone browser, and no openid anyway
    assert res.status_code == 422 and orders() == []


def test_with_no_channel_ready_the_tenant_is_sent_to_the_office(client, shop, monkeypatch):
    monkeypatch.setattr(channels, "available", lambda: {"alipay_wap": ["ALIPAY_APP_ID"]})
    monkeypatch.setattr("portal.tenant.recharge.available", lambda: {"alipay_wap": ["ALIPAY_APP_ID"]})
    html = client.get(f"/t/a/{shop.id}", headers={"User-Agent": PHONE_UA}).get_data(as_text=True)
    assert 'data-testid="no-channel"' in html and "data-channel=" not in html


# --- creating the order ---------------------------------------------------------------------------------

def test_paying_creates_the_order_and_goes_to_its_page(client, shop, fake_channels):
    res = pay(client, shop, amount="20000")
    [order] = orders()
    assert res.status_code == 303 and res.headers["Location"] == f"/t/orders/{order.out_trade_no}"
    assert (order.amount_fen, order.channel.value, order.status) == (20_000, "alipay_wap", OrderStatus.CREATED)
    assert order.created_by == shop.tenant.actor
    [(name, no, context)] = fake_channels.calls
    assert name == "alipay_wap" and no == order.out_trade_no
    assert context["return_url"].endswith(f"/t/orders/{order.out_trade_no}")


def test_htmx_payment_redirects_with_hx_redirect(client, shop, fake_channels):
    res = pay(client, shop, **{"HX-Request": "true"})
    [order] = orders()
    assert res.status_code == 204 and res.headers["HX-Redirect"] == f"/t/orders/{order.out_trade_no}"


def test_a_custom_amount_is_charged_to_the_fen(client, shop, fake_channels):
    pay(client, shop, amount="custom", custom="123.45")
    assert [o.amount_fen for o in orders()] == [12_345]


def test_order_page_shows_the_pay_link_of_a_wap_payment(client, shop, fake_channels):
    no = pay(client, shop).headers["Location"].rsplit("/", 1)[1]
    html = client.get(f"/t/orders/{no}").get_data(as_text=True)
    assert 'id="pay-link"' in html and 'href="https://pay.example.test/cashier?sig=1"' in html
    assert "js/pay.js" in html


def test_order_page_shows_a_qr_code_as_an_image(client, shop, fake_channels):
    no = pay(client, shop, channel="alipay_qr").headers["Location"].rsplit("/", 1)[1]
    html = client.get(f"/t/orders/{no}").get_data(as_text=True)
    assert '<img class="qr" src="data:image/svg+xml;base64,' in html
    assert "<svg" not in html  # the SVG is never inlined into the page


def test_inside_wechat_the_order_page_carries_the_jsapi_parameters(client, shop, fake_channels):
    shop.tenant.wechat_openid = "openid-1"
    db.session.commit()
    no = pay(client, shop, channel="wechat_jsapi", ua=WECHAT_UA).headers["Location"].rsplit("/", 1)[1]
    html = client.get(f"/t/orders/{no}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert 'id="wx-pay"' in html and "prepay_id=p1" in html
    assert fake_channels.calls[0][2]["openid"] == "openid-1"


def test_the_platforms_answer_is_kept_with_the_order(client, shop, fake_channels):
    pay(client, shop)
    [order] = orders()
    detail = db.session.scalar(select(AuditEntry.detail).where(AuditEntry.action == "order.pay_started",
                                                               AuditEntry.target_id == order.id))
    assert detail == {"pay_url": "https://pay.example.test/cashier?sig=1"}


def test_a_channel_that_fails_to_start_leaves_no_order(client, shop, fake_channels, monkeypatch):
    def broken(order, context):
        raise channels.ChannelUnavailable("gateway down")

    monkeypatch.setitem(channels.PROVIDERS, "alipay_wap", SimpleNamespace(start=broken, missing=list))
    res = pay(client, shop)
    assert res.status_code == 422 and 'data-testid="pay-error"' in res.get_data(as_text=True)
    assert orders() == []


def test_a_closed_account_cannot_be_paid(client, shop, fake_channels):
    from portal.models import AccountStatus

    shop.status = AccountStatus.CLOSED
    db.session.commit()
    assert 'id="recharge"' not in client.get(f"/t/a/{shop.id}").get_data(as_text=True)
    assert pay(client, shop).status_code == 422 and orders() == []


def test_the_sites_balance_cap_is_respected(client, shop, fake_channels):
    shop.site.max_balance_fen = 5_000
    db.session.commit()
    assert pay(client, shop, amount="5000").status_code == 422 and orders() == []


# --- progress -------------------------------------------------------------------------------------------

def progress_html(client, order) -> str:
    res = client.get(f"/t/orders/{order.out_trade_no}", headers={"HX-Request": "true"})
    assert res.status_code == 200
    return res.get_data(as_text=True)


def state_of(html: str) -> tuple[str, bool]:
    """(data-state, still polling) of the progress partial."""
    assert html.startswith('<section id="order-progress"') and "<html" not in html
    polling = 'hx-trigger="load delay:1s, paid"' in html
    return re.search(r'data-state="([a-z_]+)"', html).group(1), polling


@pytest.fixture
def order(shop):
    o = create_order(db.session, shop, 10_000, "alipay_wap", shop.tenant.actor)
    db.session.commit()
    return o


def test_progress_waits_for_the_payment_and_keeps_polling(client, order):
    assert state_of(progress_html(client, order)) == ("waiting", True)


def test_progress_shows_paid_before_the_credit(client, order):
    order.status = OrderStatus.PAID
    db.session.commit()
    assert state_of(progress_html(client, order)) == ("paid", True)


def test_progress_shows_credited_while_the_relay_is_still_off(client, order, shop):
    credit(order)
    assert order.status == OrderStatus.CREDITED
    assert shop.meter.supply_desired == Supply.ON  # the payment lifted the arrears trip
    assert state_of(progress_html(client, order)) == ("credited", True)


def test_progress_stops_once_the_meter_reports_supply_on(client, order, shop):
    credit(order)
    shop.meter.state.supply_actual = Supply.ON
    db.session.commit()
    html = progress_html(client, order)
    assert state_of(html) == ("restored", False)
    assert 'data-step="3"' in html


def test_progress_stops_when_the_balance_is_still_too_low(client, shop):
    post_entry(db.session, shop, -20_000, EntryKind.ENERGY, "energy:test")  # balance -190.00
    db.session.commit()
    o = create_order(db.session, shop, 5_000, "alipay_wap", "t")
    db.session.commit()
    credit(o)
    assert state_of(progress_html(client, o)) == ("arrears", False)


def test_progress_gives_up_on_the_relay_after_a_while(client, order):
    credit(order)
    order.credited_at = utcnow() - timedelta(minutes=10)
    db.session.commit()
    assert state_of(progress_html(client, order)) == ("supply_pending", False)


def test_progress_of_a_meter_mode_shop_waits_for_the_purchase_to_be_written(client, make_meter, order, shop):
    meter = make_meter(account=shop, code="P100", control_mode=ControlMode.METER)
    shop.meter.state.supply_actual = Supply.ON
    db.session.commit()
    credit(order)
    assert state_of(progress_html(client, order)) == ("credited", True)
    cmd = db.session.scalar(select(ControlCommand).where(ControlCommand.meter_id == meter.id))
    cmd.status = CommandStatus.APPLIED
    db.session.commit()
    assert state_of(progress_html(client, order)) == ("restored", False)


def test_progress_of_an_expired_or_closed_order_stops(client, order):
    order.expires_at = utcnow() - timedelta(minutes=30)
    db.session.commit()
    assert state_of(progress_html(client, order)) == ("expired", False)
    order.status = OrderStatus.CLOSED
    db.session.commit()
    assert state_of(progress_html(client, order)) == ("closed", False)


def test_progress_rule_without_http(order):
    assert order_progress(db.session, order).step == 0


# --- isolation ------------------------------------------------------------------------------------------

@pytest.fixture
def other_shop(make_account, make_tenant):
    acct = make_account(code="S200", name="Florist", balance_fen=500)
    make_tenant([acct])
    return acct


def test_a_tenant_cannot_see_another_tenants_order(client, login, other_shop, order, make_tenant, shop):
    login.tenant(other_shop and make_tenant([other_shop]), other_shop)
    assert client.get(f"/t/orders/{order.out_trade_no}").status_code == 404
    assert client.get(f"/t/orders/{order.out_trade_no}", headers={"HX-Request": "true"}).status_code == 404


def test_a_tenant_cannot_pay_into_or_read_another_tenants_account(client, shop, other_shop, fake_channels):
    assert pay(client, other_shop).status_code == 404
    assert client.get(f"/t/a/{other_shop.id}/history").status_code == 404
    assert orders() == []


def test_an_unknown_order_is_404(client, shop):
    assert client.get("/t/orders/PF0000000000").status_code == 404


def test_staff_cannot_use_tenant_pay(client, login, make_staff, shop, fake_channels):
    login.staff(make_staff())
    assert pay(client, shop).status_code == 403


# --- history and remaining days -----------------------------------------------------------------------

def test_the_account_page_loads_the_history_lazily(client, shop):
    html = client.get(f"/t/a/{shop.id}").get_data(as_text=True)
    assert re.search(r'<section id="history" hx-get="/t/a/\d+/history" hx-trigger="revealed"', html)


def test_history_lists_money_in_and_sums_charges_per_day(client, shop):
    from portal.metering.daily import roll_up_charges  # here: only this test writes the daily roll-ups

    for n in range(4):  # the history reads the day's charges off the roll-ups, as billing keeps them
        posted = post_entry(db.session, shop, -125, EntryKind.ENERGY, f"energy:h:{n}", meter_id=shop.meter.id)
        roll_up_charges(db.session, [(shop.meter.id, shop.id, 125, posted.entry.created_at)])
    post_entry(db.session, shop, 5_000, EntryKind.CASH, "cash:cash:h")
    db.session.commit()
    html = client.get(f"/t/a/{shop.id}/history", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.startswith('<section id="history">')
    assert len(re.findall(r'data-kind="energy"', html)) == 1 and "¥-5.00" in html
    assert 'data-kind="cash"' in html and "+¥50.00" in html
    assert 'data-kind="opening"' in html


def test_history_offers_earlier_months_back_to_the_opening(client, shop):
    shop.created_at = utcnow() - timedelta(days=70)
    db.session.commit()
    html = client.get(f"/t/a/{shop.id}/history", headers={"HX-Request": "true"}).get_data(as_text=True)
    month = re.search(r'id="history-more"[^>]*hx-get="/t/a/\d+/history\?month=(\d{4}-\d{2})"', html).group(1)
    older = client.get(f"/t/a/{shop.id}/history?month={month}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert older.startswith(f'<div class="history-month" id="history-{month}"')


def test_history_without_javascript_is_a_page(client, shop):
    html = client.get(f"/t/a/{shop.id}/history").get_data(as_text=True)
    assert "<html" in html and 'id="history"' in html


def test_history_refuses_a_malformed_month(client, shop):
    assert client.get(f"/t/a/{shop.id}/history?month=2026-13").status_code == 400


def test_remaining_days_divide_the_balance_by_recent_daily_use(client, shop):
    shop.created_at = utcnow() - timedelta(days=60)
    post_entry(db.session, shop, 29_000, EntryKind.CASH, "cash:cash:rd")  # balance 300.00
    post_entry(db.session, shop, -3_000, EntryKind.ENERGY, "energy:rd")  # 30.00 in 30 days: 1.00 a day
    db.session.commit()
    page = client.get(f"/t/a/{shop.id}").get_data(as_text=True)
    # the month of charges is not read for the page itself: a placeholder fetches the estimate
    assert f'hx-get="/t/a/{shop.id}/days" hx-trigger="load" hx-target="this"' in page
    assert 'data-testid="remaining-days"' not in page
    line = client.get(f"/t/a/{shop.id}/days", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert line.startswith('<div class="days" id="remaining-days">') and re.search(r'remaining-days">[^<]*270', line)
    # from then on the page shows it at once, with the balance of the moment
    post_entry(db.session, shop, -10_000, EntryKind.CASH, "cash:cash:rd2")
    db.session.commit()
    page = client.get(f"/t/a/{shop.id}").get_data(as_text=True)
    assert re.search(r'data-testid="remaining-days">[^<]*170', page) and "/days" not in page


def test_no_remaining_days_without_use(client, shop):
    line = client.get(f"/t/a/{shop.id}/days").get_data(as_text=True)
    assert "data-testid" not in line
    assert client.get(f"/t/a/{shop.id}/days").status_code == 200


def test_no_one_elses_remaining_days(client, shop, other_shop):
    assert client.get(f"/t/a/{other_shop.id}/days").status_code == 404


def test_the_account_page_needs_a_few_queries_however_long_the_history(client, shop, fake_channels):
    def count_queries() -> int:
        db.session.expire_all()  # as cold as a request of its own
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/t/a/{shop.id}").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    before = count_queries()
    for n in range(50):
        post_entry(db.session, shop, -10, EntryKind.ENERGY, f"energy:q:{n}")
        post_entry(db.session, shop, 10, EntryKind.CASH, f"cash:cash:q{n}")
    db.session.commit()
    assert count_queries() == before <= 12
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 101


# --- weight on the wire ---------------------------------------------------------------------------------

def test_static_files_are_gzipped_for_browsers_that_accept_it_and_still_revalidate(client):
    with client.get("/static/css/tenant.css", headers={"Accept-Encoding": "gzip, deflate, br"}) as res:
        assert res.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in res.headers["Vary"]
        assert gzip.decompress(res.data).startswith(b"/* Tenant pages")
        etag = res.headers["ETag"]
    assert etag.startswith("W/")
    with client.get("/static/css/tenant.css", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}) as again:
        assert again.status_code == 304
    with client.get("/static/css/tenant.css") as plain:
        assert "Content-Encoding" not in plain.headers and plain.data.startswith(b"/* Tenant pages")


def test_pages_are_gzipped_too(client, shop):
    res = client.get(f"/t/a/{shop.id}", headers={"Accept-Encoding": "gzip"})
    assert res.headers["Content-Encoding"] == "gzip"
    assert b'id="recharge"' in gzip.decompress(res.data)


def test_a_balance_that_outlasts_a_year_says_so_rather_than_a_count_of_days(client, shop):
    """The demo showed "about 281239 days": a shop that barely used anything yet."""
    shop.created_at = utcnow() - timedelta(days=60)
    post_entry(db.session, shop, 500_000, EntryKind.CASH, "cash:cash:year")
    post_entry(db.session, shop, -1, EntryKind.ENERGY, "energy:year")  # 0.01 in 30 days
    db.session.commit()
    client.get("/auth/lang/en")
    line = client.get(f"/t/a/{shop.id}/days").get_data(as_text=True)
    assert "More than a year left" in line and not re.search(r"\d{4,} days", line)
