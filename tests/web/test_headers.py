"""Security headers on every answer: CSP without inline script, no framing, nosniff, referrer, HSTS only over https."""
from __future__ import annotations

import pytest

from portal.models import Role
from tests.factories import PASSWORD

POLICY_PARTS = ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'self'",
                "form-action 'self'", "frame-ancestors 'none'")


def directives(response) -> dict[str, str]:
    """The response's content security policy as {directive: sources}."""
    policy = response.headers.get("Content-Security-Policy", "")
    parts = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def assert_secured(response) -> None:
    """The headers every answer carries, whatever it is."""
    policy = response.headers.get("Content-Security-Policy", "")
    for part in POLICY_PARTS:
        assert part in policy, (part, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin"
    assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin"
    assert "camera=()" in response.headers.get("Permissions-Policy", "")


def test_tenant_pages_may_not_be_framed_nor_run_inline_script(client, login, make_account, make_tenant):
    shop = make_account(code="S001")
    login.tenant(make_tenant([shop]), shop)
    for path in ("/", "/auth/tenant/login", f"/t/a/{shop.id}"):
        response = client.get(path)
        assert response.status_code in (200, 302), path  # a redirect to the page is secured as well
        assert_secured(response)


def test_staff_pages_may_not_be_framed_nor_run_inline_script(client, login, make_staff):
    login.staff(make_staff(role=Role.MANAGER))
    for path in ("/auth/staff/login", "/staff/", "/staff/approvals", "/staff/tariffs"):
        response = client.get(path)
        assert response.status_code in (200, 302), path  # a redirect to the page is secured as well
        assert_secured(response)


def test_only_data_urls_besides_our_own_files_may_be_images(client):
    # WeUI draws its icons with data: SVGs; the payment QR codes are data: SVGs too
    policy = directives(client.get("/auth/tenant/login"))
    assert policy["img-src"].split() == ["'self'", "data:"]
    assert policy["style-src"] == "'self'"


def test_static_files_are_not_sniffed(client):
    with client.get("/static/js/csrf.js") as response:
        assert response.status_code == 200
        assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_notify_answers_keep_their_bodies_and_carry_the_headers(client):
    # junk: each notify route refuses it in its own protocol, untouched by the headers
    alipay = client.post("/pay/alipay/notify", data={"trade_status": "TRADE_SUCCESS"})
    assert (alipay.status_code, alipay.get_data(as_text=True), alipay.mimetype) == (400, "fail", "text/plain")
    assert_secured(alipay)
    wechat = client.post("/pay/wechat/notify", data=b"<xml></xml>", content_type="text/xml")
    assert wechat.status_code == 503 and b"<return_code><![CDATA[FAIL]]></return_code>" in wechat.data
    assert_secured(wechat)


def test_api_errors_stay_json_and_carry_the_headers(client):
    response = client.get("/api/v1/accounts/S001")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert_secured(response)


def test_no_hsts_while_the_public_address_is_plain_http(client):
    response = client.get("/auth/staff/login", base_url="https://127.0.0.1")
    assert "Strict-Transport-Security" not in response.headers


@pytest.fixture
def https_app(app, monkeypatch):
    """An app whose PUBLIC_BASE_URL is https, as in production."""
    from portal import create_app

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://pay.example.com")
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})


def test_hsts_over_https_when_the_public_address_is_https(https_app):
    client = https_app.test_client()
    direct = client.get("/auth/staff/login", base_url="https://pay.example.com")
    assert direct.headers["Strict-Transport-Security"] == "max-age=31536000"
    proxied = client.get("/auth/staff/login", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"
    # a request that came over plain http (a health check inside the network) is not told to pin anything
    assert "Strict-Transport-Security" not in client.get("/auth/staff/login").headers


def test_the_demo_session_cookie_works_over_plain_http(client, make_staff):
    # the headers library must not force Secure cookies: the demo runs on http://127.0.0.1:5000
    response = client.post("/auth/staff/login", data={"username": make_staff().username, "password": PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "session=" in cookie and "Secure" not in cookie and "HttpOnly" in cookie
