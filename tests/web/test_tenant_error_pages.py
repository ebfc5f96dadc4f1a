"""Reviewer finding "error pages are Werkzeug's English on a Chinese phone page": under /t/ and /r/ every error
status is a page in the tenant layout, in Chinese by default and in English when the browser asks for it
(Accept-Language) or the visitor chose it. (tests/web/test_error_pages.py covers the choice by the language link.)
"""
from __future__ import annotations

from html import unescape

import pytest
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import NotFound

from tests.web.test_error_pages import TITLES, WERKZEUG, failing

BROWSERS = pytest.mark.parametrize("lang, accept", [("zh", "zh-CN,zh;q=0.9"), ("zh", None), ("en", "en-US,en;q=0.9")],
                                   ids=["chinese", "no preference", "english"])


def assert_tenant_error(response, status: int, lang: str) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert 'class="tenant-bar"' in html and 'class="weui-msg"' in html
    assert TITLES[status][0 if lang == "zh" else 1] in html
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html
    assert not WERKZEUG.search(html)


def headers(accept: str | None) -> dict:
    return {"Accept-Language": accept} if accept else {}


@pytest.fixture
def shop(make_account):
    return make_account(code="S401", sticker_token="tok-errors-1")


@BROWSERS
def test_sticker_404_for_an_unknown_token(client, lang, accept):
    assert_tenant_error(client.get("/r/nobody-issued-this", headers=headers(accept)), 404, lang)


@BROWSERS
def test_sticker_404_for_an_order_that_is_not_the_visitors(client, shop, lang, accept):
    assert_tenant_error(client.get("/r/tok-errors-1/orders/PF404", headers=headers(accept)), 404, lang)


@BROWSERS
def test_sticker_405_for_a_get_of_the_pay_form(client, shop, lang, accept):
    answer = client.get("/r/tok-errors-1/pay", headers=headers(accept))
    assert_tenant_error(answer, 405, lang)
    assert "POST" in answer.headers["Allow"]


@BROWSERS
def test_sticker_400_for_a_broken_request(client, shop, failing, lang, accept):
    from werkzeug.exceptions import BadRequest

    failing("sticker.page", BadRequest())
    assert_tenant_error(client.get("/r/tok-errors-1", headers=headers(accept)), 400, lang)


@BROWSERS
def test_sticker_429_from_the_rate_limiter(client, shop, failing, lang, accept):
    from types import SimpleNamespace

    failing("sticker.pay", RateLimitExceeded(SimpleNamespace(error_message=None, limit="20 per 1 minute")))
    assert_tenant_error(client.post("/r/tok-errors-1/pay", headers=headers(accept)), 429, lang)


@BROWSERS
def test_sticker_500(client, shop, failing, lang, accept):
    failing("sticker.page", RuntimeError("boom"))
    assert_tenant_error(client.get("/r/tok-errors-1", headers=headers(accept)), 500, lang)


@BROWSERS
def test_tenant_403_and_404_by_the_browsers_language(client, login, make_account, make_tenant, make_staff, lang,
                                                       accept):
    shop = make_account(code="S402")
    login.tenant(make_tenant([shop]), shop)
    assert_tenant_error(client.get("/t/a/999999", headers=headers(accept)), 404, lang)
    assert_tenant_error(client.get("/t/no-such-page", headers=headers(accept)), 404, lang)


def test_a_visitor_of_a_sticker_is_sent_to_sign_in_not_to_a_shop_page(client, shop):
    """An anonymous visitor's error page offers what they can do: sign in (no "back to my shop" they have none)."""
    html = client.get("/r/nobody-issued-this").get_data(as_text=True)
    assert 'href="/auth/tenant/login"' in html


def test_the_error_pages_own_words_are_kept(client):
    """NotFound's stock English never shows; our own description (the sticker's) does, translated."""
    html = unescape(client.get("/r/nobody-issued-this", headers={"Accept-Language": "en"}).get_data(as_text=True))
    assert "This sticker's code is not known here." in html
    assert NotFound.description not in html


@pytest.fixture
def tenant_shop(client, login, make_account, make_tenant):
    shop = make_account(code="S403")
    login.tenant(make_tenant([shop]), shop)
    return shop


@BROWSERS
def test_tenant_400_405_and_500_by_the_browsers_language(client, tenant_shop, failing, lang, accept):
    assert_tenant_error(client.get(f"/t/a/{tenant_shop.id}/history?month=2024-13", headers=headers(accept)), 400,
                        lang)
    assert_tenant_error(client.get(f"/t/a/{tenant_shop.id}/emergency", headers=headers(accept)), 405, lang)
    failing("tenant.alerts", RuntimeError("boom"))
    assert_tenant_error(client.get(f"/t/a/{tenant_shop.id}/alerts", headers=headers(accept)), 500, lang)


@BROWSERS
def test_tenant_403_for_a_staff_session_by_the_browsers_language(client, login, make_staff, lang, accept):
    login.staff(make_staff())
    assert_tenant_error(client.get("/t/", headers=headers(accept)), 403, lang)
