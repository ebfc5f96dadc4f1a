"""Error pages: in the visitor's language and the layout of their area, never Werkzeug's English, never a traceback.

Tenant pages answer with WeUI's message page on the phone layout, staff pages on the staff layout, anything else
with a neutral page; the API keeps its JSON errors, the payment notifies their protocol, and htmx gets the message
in the flash area.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy import text
from werkzeug.exceptions import NotFound

from portal.extensions import db
from portal.models import Role

#: the page's title for each status, in Chinese and in English
TITLES = {
    400: ("请求有误", "Bad request"),
    403: ("没有权限", "Not allowed"),
    404: ("页面不存在", "Page not found"),
    405: ("无法这样访问", "Not available this way"),
    429: ("操作太频繁", "Too many attempts"),
    500: ("系统出错了", "Something went wrong"),
}
#: what tells the layouts apart
LAYOUT = {"tenant": ('class="tenant-bar"', 'class="weui-msg"'), "staff": ('class="staff-bar"', 'class="card narrow')}
WERKZEUG = re.compile(r"The requested URL|The browser \(or proxy\)|Internal Server Error|Traceback|Werkzeug")


@pytest.fixture
def tenant_shop(client, login, make_account, make_tenant):
    """A logged-in tenant's shop."""
    shop = make_account(code="S001")
    login.tenant(make_tenant([shop]), shop)
    return shop


@pytest.fixture
def cashier(client, login, make_staff, make_site):
    """A logged-in cashier (no tariffs for them)."""
    user = make_staff(role=Role.CASHIER, sites=[make_site()])
    login.staff(user)
    return user


@pytest.fixture
def failing(app, monkeypatch):
    """failing(endpoint, exc): that view raises exc; unexpected errors reach the error pages, as in production."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def make(endpoint: str, exc: Exception) -> None:
        def view(*_args, **_kwargs):
            raise exc

        monkeypatch.setitem(app.view_functions, endpoint, view)

    return make


def in_language(client, lang: str) -> None:
    """Choose the page language in the session, as the language link does."""
    client.get(f"/auth/lang/{lang}")


def assert_error_page(response, status: int, layout: str, lang: str) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert TITLES[status][0 if lang == "zh" else 1] in html
    assert TITLES[status][1 if lang == "zh" else 0] not in html  # one language, not both
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html
    for marker in LAYOUT[layout]:
        assert marker in html, marker
    assert not WERKZEUG.search(html), WERKZEUG.search(html)


LANGS = pytest.mark.parametrize("lang", ["zh", "en"])


@LANGS
def test_tenant_400(client, tenant_shop, lang):
    in_language(client, lang)
    assert_error_page(client.get(f"/t/a/{tenant_shop.id}/history?month=2024-13"), 400, "tenant", lang)


@LANGS
def test_staff_400(client, login, make_staff, make_meter, lang):
    meter = make_meter(code="E1")
    login.staff(make_staff(role=Role.ADMIN))
    in_language(client, lang)
    assert_error_page(client.post(f"/staff/meters/{meter.id}/command", data={"action": "explode"}), 400, "staff", lang)


@LANGS
def test_tenant_403_for_a_staff_session(client, cashier, lang):
    in_language(client, lang)
    assert_error_page(client.get("/t/"), 403, "tenant", lang)


@LANGS
def test_staff_403_for_an_area_of_another_role(client, cashier, lang):
    in_language(client, lang)
    assert_error_page(client.get("/staff/tariffs"), 403, "staff", lang)


@LANGS
def test_tenant_404(client, tenant_shop, lang):
    in_language(client, lang)
    assert_error_page(client.get("/t/orders/PF0000"), 404, "tenant", lang)
    assert_error_page(client.get("/t/no-such-page"), 404, "tenant", lang)


@LANGS
def test_staff_404(client, cashier, lang):
    in_language(client, lang)
    assert_error_page(client.get("/staff/no-such-page"), 404, "staff", lang)


@LANGS
def test_tenant_405(client, tenant_shop, lang):
    in_language(client, lang)
    response = client.get(f"/t/a/{tenant_shop.id}/pay")
    assert_error_page(response, 405, "tenant", lang)
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


@LANGS
def test_staff_405(client, cashier, lang):
    in_language(client, lang)
    assert_error_page(client.get("/staff/meters/1/command"), 405, "staff", lang)


@LANGS
def test_tenant_429_from_the_rate_limiter(client, failing, lang):
    failing("auth.tenant_login", RateLimitExceeded(SimpleNamespace(limit="10 per 1 minute", error_message=None)))
    in_language(client, lang)
    assert_error_page(client.post("/auth/tenant/login"), 429, "tenant", lang)


@LANGS
def test_staff_429_from_the_rate_limiter(client, failing, lang):
    failing("auth.staff_login", RateLimitExceeded(SimpleNamespace(limit="10 per 1 minute", error_message=None)))
    in_language(client, lang)
    assert_error_page(client.post("/auth/staff/login"), 429, "staff", lang)


@LANGS
def test_tenant_500(client, tenant_shop, failing, lang):
    failing("tenant.account", RuntimeError("boom: secret detail"))
    in_language(client, lang)
    response = client.get(f"/t/a/{tenant_shop.id}")
    assert_error_page(response, 500, "tenant", lang)
    assert "secret detail" not in response.get_data(as_text=True)


@LANGS
def test_staff_500(client, cashier, failing, lang):
    failing("staff.index", RuntimeError("boom: secret detail"))
    in_language(client, lang)
    response = client.get("/staff/")
    assert_error_page(response, 500, "staff", lang)
    assert "secret detail" not in response.get_data(as_text=True)


def test_a_500_after_a_failed_statement_still_draws_the_staff_page(client, cashier, app, monkeypatch):
    # the view commits, then leaves the transaction aborted; the page reads the (expired) user's name again
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def broken_view():
        db.session.commit()
        db.session.execute(text("SELECT 1/0"))

    monkeypatch.setitem(app.view_functions, "staff.index", broken_view)
    response = client.get("/staff/")
    assert_error_page(response, 500, "staff", "zh")
    assert cashier.username in response.get_data(as_text=True)


def test_the_csrf_error_says_the_page_expired(client, csrf_on):
    html = client.post("/auth/tenant/login", data={"account": "S001"}).get_data(as_text=True)
    assert "页面已过期" in html and 'class="weui-msg"' in html
    in_language(client, "en")
    response = client.post("/auth/staff/login", data={"username": "x"})
    assert response.status_code == 400 and "This page has expired" in response.get_data(as_text=True)


@LANGS
def test_other_paths_get_a_neutral_page(client, lang):
    in_language(client, lang)
    response = client.get("/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and TITLES[404][0 if lang == "zh" else 1] in html
    assert 'class="tenant-bar"' not in html and 'class="staff-bar"' not in html
    assert not WERKZEUG.search(html)


def test_htmx_gets_the_message_in_the_flash_area(client, tenant_shop):
    response = client.get(f"/t/a/{tenant_shop.id}/history?month=2024-13", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#flash", "outerHTML")
    assert html.lstrip().startswith('<div id="flash"') and "请求有误" in html and "<html" not in html


def test_the_api_keeps_its_json_errors(client):
    assert client.get("/api/v1/no-such-thing").get_json()["error"]["code"] == "not_found"
    response = client.get("/api/v1/accounts/S001")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_notify_routes_keep_their_own_answers(client, failing):
    assert client.post("/pay/alipay/notify", data={}).get_data(as_text=True) == "fail"
    failing("pay.alipay_notify", NotFound())
    response = client.post("/pay/alipay/notify")
    assert response.status_code == 404 and "页面不存在" not in response.get_data(as_text=True)


def test_an_error_page_that_cannot_be_drawn_still_answers_in_both_languages(client, cashier, failing, monkeypatch):
    import portal.web.errors

    def broken_template(*_args, **_kwargs):
        raise RuntimeError("template broken")

    monkeypatch.setattr(portal.web.errors, "render_template", broken_template)
    failing("staff.index", RuntimeError("boom"))
    response = client.get("/staff/")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "系统出错了" in html and "Something went wrong" in html and not WERKZEUG.search(html)
