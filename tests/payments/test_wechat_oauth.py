"""WeChat official-account login: state bound to the session, code → openid, bind a shop once, log in."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, TenantUser
from portal.payments.providers.registry import start_payment
from tests.payments.wechat_fixtures import (
    APPID,
    no_wechat,
    wechat_keys,
    wechat_standin,
    wechat_v2,
    wechat_v3,
)


@pytest.fixture
def shop(make_account, make_tenant):
    """A shop whose tenant is on file with a phone number, not yet bound to any WeChat."""
    account = make_account(code="A0101", phone="13900000001")
    return account, make_tenant([account], phone="13900000001")


@pytest.fixture
def wechat(client, wechat_v2):
    """wechat(next=None) runs start → WeChat's authorize page → callback; returns the callback's response."""

    def login(next_path: str | None = None):
        start = client.get("/auth/wechat/start", query_string={"next": next_path} if next_path else {})
        assert start.status_code == 302
        authorize = requests.get(start.location, allow_redirects=False, timeout=10)
        assert authorize.status_code == 302
        back = urlsplit(authorize.headers["Location"])
        return client.get(f"{back.path}?{back.query}")

    return login


def logged_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def test_start_sends_to_the_authorize_page_with_a_state_kept_in_the_session(app, client, wechat_v2):
    response = client.get("/auth/wechat/start")
    url = urlsplit(response.location)
    query = parse_qs(url.query)
    assert url.path == "/connect/oauth2/authorize" and url.fragment == "wechat_redirect"
    assert query["appid"] == [APPID] and query["scope"] == ["snsapi_base"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [app.config["PUBLIC_BASE_URL"] + "/auth/wechat/callback"]
    with client.session_transaction() as session:
        assert session["wechat_oauth_state"] == query["state"][0] and len(query["state"][0]) >= 20


def test_first_login_binds_the_shop_then_logs_in(client, shop, wechat, wechat_v2):
    _account, tenant = shop
    response = wechat()
    assert response.status_code == 302 and response.location.endswith("/auth/wechat/bind")
    assert logged_in_as(client) is None
    form = client.get("/auth/wechat/bind")
    assert form.status_code == 200 and 'name="account"' in form.get_data(as_text=True)
    done = client.post("/auth/wechat/bind", data={"account": "A0101", "phone": "13900000001"})
    assert done.status_code == 302 and done.location.endswith("/t/")
    assert logged_in_as(client) == f"tenant:{tenant.id}"
    db.session.expire_all()
    assert tenant.wechat_openid == wechat_v2.oauth_openid


def test_a_bound_wechat_logs_straight_in(client, shop, wechat, wechat_v2):
    _, tenant = shop
    tenant.wechat_openid = wechat_v2.oauth_openid
    db.session.commit()
    response = wechat("/t/a/1")
    assert response.status_code == 302 and response.location.endswith("/t/a/1")
    assert logged_in_as(client) == f"tenant:{tenant.id}"


def test_the_account_phone_on_file_is_enough_to_create_the_tenant(client, make_account, wechat, wechat_v2):
    account = make_account(code="B0202", phone="13700000002", tenant_name="王老板")
    wechat()
    assert client.post("/auth/wechat/bind", data={"account": "B0202", "phone": "13700000002"}).status_code == 302
    tenant = db.session.execute(select(TenantUser).where(TenantUser.phone == "13700000002")).scalar_one()
    assert tenant.wechat_openid == wechat_v2.oauth_openid and tenant.name == "王老板"
    assert [a.id for a in tenant.accounts] == [account.id]
    assert logged_in_as(client) == f"tenant:{tenant.id}"


def test_a_wrong_phone_does_not_bind(client, shop, wechat):
    wechat()
    response = client.post("/auth/wechat/bind", data={"account": "A0101", "phone": "13900000009"})
    assert response.status_code == 200 and logged_in_as(client) is None
    assert db.session.execute(select(TenantUser.wechat_openid)).scalars().all() == [None]


def test_a_shop_bound_to_another_wechat_is_not_taken_over(client, shop, wechat):
    _, tenant = shop
    tenant.wechat_openid = "o-the-real-owner"
    db.session.commit()
    wechat()
    client.post("/auth/wechat/bind", data={"account": "A0101", "phone": "13900000001"})
    assert logged_in_as(client) is None
    db.session.expire_all()
    assert tenant.wechat_openid == "o-the-real-owner"


def test_a_state_that_does_not_match_the_session_is_refused(client, shop, wechat_v2):
    start = client.get("/auth/wechat/start")
    authorize = requests.get(start.location, allow_redirects=False, timeout=10)
    back = urlsplit(authorize.headers["Location"])
    code = parse_qs(back.query)["code"][0]
    response = client.get("/auth/wechat/callback", query_string={"code": code, "state": "forged"})
    assert response.status_code == 302 and response.location.endswith("/auth/tenant/login")
    assert logged_in_as(client) is None
    assert not any("/sns/oauth2/access_token" in call for call in wechat_v2.calls)  # the code was not spent


def test_a_callback_without_a_started_login_is_refused(client, wechat_v2):
    response = client.get("/auth/wechat/callback", query_string={"code": "abc", "state": ""})
    assert response.location.endswith("/auth/tenant/login") and logged_in_as(client) is None


def test_a_code_the_platform_does_not_confirm_is_refused(client, wechat_v2):
    client.get("/auth/wechat/start")
    with client.session_transaction() as session:
        state = session["wechat_oauth_state"]
    response = client.get("/auth/wechat/callback", query_string={"code": "never-issued", "state": state})
    assert response.location.endswith("/auth/tenant/login") and logged_in_as(client) is None


def test_only_local_next_paths_are_followed(client, shop, wechat, wechat_v2):
    _, tenant = shop
    tenant.wechat_openid = wechat_v2.oauth_openid
    db.session.commit()
    response = wechat("//evil.example/steal")
    assert response.location.endswith("/t/") and "evil" not in response.location


def test_bind_without_a_wechat_login_goes_to_the_login_page(client):
    response = client.get("/auth/wechat/bind")
    assert response.status_code == 302 and response.location.endswith("/auth/tenant/login")


def test_without_the_official_account_settings_login_says_so(client, no_wechat):
    response = client.get("/auth/wechat/start")
    assert response.status_code == 302 and response.location.endswith("/auth/tenant/login")
    with client.session_transaction() as session:
        assert session["_flashes"]


def test_the_logged_in_tenants_openid_pays_with_jsapi(client, shop, wechat, wechat_v3, make_order):
    account, tenant = shop
    wechat()
    client.post("/auth/wechat/bind", data={"account": "A0101", "phone": "13900000001"})
    db.session.expire_all()
    order = make_order(1000, Channel.WECHAT_JSAPI, account=account)
    data = start_payment(order, {"client_ip": "10.0.0.2", "openid": tenant.wechat_openid})
    assert wechat_v3.trades[order.out_trade_no].openid == wechat_v3.oauth_openid
    assert data["jsapi_params"]["package"].startswith("prepay_id=")
