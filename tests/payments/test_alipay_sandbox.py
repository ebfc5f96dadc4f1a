"""The demo payment sandbox: its own keys, a pay page, and a signed notify through the real Alipay route."""
from __future__ import annotations

import re
import stat

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, LedgerEntry, OrderStatus, PaymentNotification, PaymentOrder
from portal.payments.providers import sandbox
from portal.payments.providers.registry import ChannelUnavailable, start_payment
from tests.payments.conftest import NOTIFY_PATH


@pytest.fixture
def own_order(make_order, make_tenant, client):
    """own_order(amount_fen) -> a sandbox order made by a tenant of its shop, who is logged in on `client`
    (through the login form, with its CSRF token when the test checks them)."""

    def make(amount_fen: int) -> PaymentOrder:
        order = make_order(amount_fen, Channel.SANDBOX)
        tenant = make_tenant([order.account])
        order.created_by = tenant.actor
        db.session.commit()
        form = client.get("/auth/tenant/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
        client.post("/auth/tenant/login", data={"account": order.account.code, "phone": tenant.phone,
                                                "csrf_token": token.group(1) if token else ""})
        return order

    return make


def test_demo_keys_are_made_once(tmp_path):
    folder = tmp_path / "alipay-sandbox"
    assert sandbox.ensure_demo_keys(folder) is True
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(first) == set(sandbox.KEY_FILES.values())
    assert stat.S_IMODE((folder / sandbox.KEY_FILES["platform_private"]).stat().st_mode) == 0o600
    assert sandbox.ensure_demo_keys(folder) is False
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_demo_seed_makes_the_sandbox_keys(app, tmp_path, monkeypatch):
    from portal.sites.demo import seed

    monkeypatch.setattr("portal.sites.demo.import_site", lambda *a, **k: type("R", (), {"changed": False})())
    monkeypatch.setattr("portal.sites.demo.build_workbook", lambda path: path)
    from portal.models import Site

    db.session.add(Site(code="duyun-xingli", name="x"))
    db.session.flush()
    seed(db.session, tmp_path)
    assert all((tmp_path / sandbox.DIR_NAME / name).exists() for name in sandbox.KEY_FILES.values())


def test_sandbox_is_off_on_postgresql_unless_asked_for(app, no_alipay, monkeypatch, reload_settings):
    monkeypatch.delenv("PAYFIRST_SANDBOX")
    reload_settings()
    assert sandbox.enabled() is False
    monkeypatch.setenv("PAYFIRST_SANDBOX", "1")
    reload_settings()
    assert sandbox.enabled() is True


def test_sandbox_is_on_by_itself_in_the_sqlite_demo_without_alipay(app, no_alipay, monkeypatch, reload_settings):
    monkeypatch.delenv("PAYFIRST_SANDBOX")
    reload_settings()
    monkeypatch.setitem(app.config, "SQLALCHEMY_DATABASE_URI", "sqlite:///instance/payfirst.db")
    assert sandbox.enabled() is True
    monkeypatch.setenv("ALIPAY_APP_ID", "2021004100000001")
    reload_settings()
    assert sandbox.enabled() is False


def test_sandbox_channel_returns_its_pay_page(own_order, sandbox_on):
    order = own_order(2000)
    assert start_payment(order, {}) == {"pay_url": f"/pay/sandbox/{order.out_trade_no}"}


def test_sandbox_channel_is_unavailable_when_off(no_alipay, make_order):
    with pytest.raises(ChannelUnavailable, match="PAYFIRST_SANDBOX"):
        start_payment(make_order(2000, Channel.SANDBOX), {})


def test_pay_page_shows_the_order_and_a_pay_button(own_order, sandbox_on, client):
    order = own_order(2000)
    page = client.get(f"/pay/sandbox/{order.out_trade_no}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "20.00" in html and order.out_trade_no in html and order.account.code in html
    assert 'method="post"' in html and "Pay ¥20.00" in html


def test_pay_page_is_chinese_by_default(own_order, sandbox_on, client):
    order = own_order(2000)
    html = client.get(f"/pay/sandbox/{order.out_trade_no}").get_data(as_text=True)
    assert "支付" in html and "Pay ¥" not in html


def test_pay_page_is_404_when_the_sandbox_is_off(own_order, no_alipay, client):
    order = own_order(2000)
    assert client.get(f"/pay/sandbox/{order.out_trade_no}").status_code == 404


def test_pay_page_is_404_for_an_order_of_another_channel(sandbox_on, make_order, client):
    order = make_order(2000, Channel.ALIPAY_WAP)
    assert client.get(f"/pay/sandbox/{order.out_trade_no}").status_code == 404


def test_paying_in_the_sandbox_sends_a_signed_notify_that_credits_the_order(own_order, sandbox_on, live_server, client):
    order = own_order(2000)
    response = client.post(f"/pay/sandbox/{order.out_trade_no}")
    assert response.status_code == 302
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 2000
    entry = db.session.execute(select(LedgerEntry)).scalar_one()
    assert entry.amount_fen == 2000
    note = db.session.execute(select(PaymentNotification)).scalar_one()
    assert (note.source, note.outcome.value) == ("alipay", "accepted")
    assert "sign=" in note.raw and "app_id=" + sandbox.APP_ID in note.raw  # it came through the real route
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="weui-form__opr-area"' not in after  # nothing left to pay (the bar's logout is a form too)


def test_paying_twice_credits_once(own_order, sandbox_on, live_server, client):
    order = own_order(2000)
    fields = sandbox.signed_notify(order)
    assert client.post(NOTIFY_PATH, data=fields).get_data(as_text=True) == "success"
    assert client.post(NOTIFY_PATH, data=sandbox.signed_notify(order)).get_data(as_text=True) == "success"
    client.post(f"/pay/sandbox/{order.out_trade_no}")
    db.session.expire_all()
    assert order.account.balance_fen == 2000
    assert len(db.session.execute(select(LedgerEntry)).scalars().all()) == 1


def test_the_pay_form_is_csrf_protected(own_order, sandbox_on, live_server, client, csrf_on):
    order = own_order(2000)
    assert client.post(f"/pay/sandbox/{order.out_trade_no}").status_code == 400
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED
    page = client.get(f"/pay/sandbox/{order.out_trade_no}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/pay/sandbox/{order.out_trade_no}", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED


def test_an_undeliverable_notify_is_reported_and_changes_nothing(own_order, sandbox_on, client, app, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", f"http://127.0.0.1:{s.getsockname()[1]}")
    order = own_order(2000)
    response = client.post(f"/pay/sandbox/{order.out_trade_no}", follow_redirects=True,
                           headers={"Accept-Language": "en"})
    text = response.get_data(as_text=True)
    assert "could not be delivered" in text and "tell an administrator" in text
    assert "PUBLIC_BASE_URL" not in text  # a setting's name means nothing to a tenant or a cashier
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED


def test_sandbox_keys_cannot_pay_a_real_alipay_order(sandbox_on, make_order, client):
    order = make_order(2000, Channel.ALIPAY_WAP)
    assert client.post(NOTIFY_PATH, data=sandbox.signed_notify(order)).get_data(as_text=True) == "success"
    note = db.session.execute(select(PaymentNotification)).scalar_one()
    assert note.outcome.value == "anomaly" and "sandbox" in note.reason
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED


def test_sandbox_notifies_are_refused_when_the_sandbox_is_off(sandbox_on, make_order, client, monkeypatch,
                                                              reload_settings):
    order = make_order(2000, Channel.SANDBOX)
    fields = sandbox.signed_notify(order)
    monkeypatch.setenv("PAYFIRST_SANDBOX", "0")
    reload_settings()
    response = client.post(NOTIFY_PATH, data=fields)
    assert (response.status_code, response.get_data(as_text=True)) == (503, "fail")  # no key to verify with
    assert db.session.execute(select(PaymentNotification)).first() is None


def test_with_alipay_configured_too_each_notify_is_verified_by_its_own_key(sandbox_on, alipay_env, paid_trade,
                                                                          make_order, client, monkeypatch,
                                                                          reload_settings):
    monkeypatch.setenv("PAYFIRST_SANDBOX", "1")  # alipay_env turned it off
    reload_settings()
    real_order, real_fields = paid_trade(1000)
    box_order = make_order(2000, Channel.SANDBOX)
    assert client.post(NOTIFY_PATH, data=real_fields).get_data(as_text=True) == "success"
    assert client.post(NOTIFY_PATH, data=sandbox.signed_notify(box_order)).get_data(as_text=True) == "success"
    db.session.expire_all()
    assert real_order.status == OrderStatus.CREDITED and box_order.status == OrderStatus.CREDITED


def test_pay_page_answers_only_the_session_of_the_tenant_who_made_the_order(sandbox_on, live_server, own_order,
                                                                            make_tenant, login, client, app):
    order = own_order(2000)
    assert client.get(f"/pay/sandbox/{order.out_trade_no}").status_code == 200
    stranger = app.test_client()
    assert stranger.get(f"/pay/sandbox/{order.out_trade_no}").status_code == 404
    assert stranger.post(f"/pay/sandbox/{order.out_trade_no}").status_code == 404
    other = make_tenant([order.account], phone="13900000999")  # even another tenant of the same shop
    other_client = app.test_client()
    other_client.post("/auth/tenant/login", data={"account": order.account.code, "phone": other.phone})
    assert other_client.get(f"/pay/sandbox/{order.out_trade_no}").status_code == 404
    assert other_client.post(f"/pay/sandbox/{order.out_trade_no}").status_code == 404
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED
