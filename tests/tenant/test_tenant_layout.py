"""What every tenant page carries (templates/base_tenant.html): the reviewer found "there is no logout or shop
switcher". A tenant who manages several shops jumps between their own shops from any page, and logs out from any
page by a POST with its CSRF token."""
from __future__ import annotations

import re

import pytest


@pytest.fixture
def three_shops(client, login, make_account, make_site, make_tenant):
    """A tenant with two shops on one site, and another tenant's shop next door."""
    site = make_site()
    first = make_account(site=site, code="S101", name="茶铺 Tea")
    second = make_account(site=site, code="S102", name="面馆 Noodles")
    other = make_account(site=site, code="S103", name="别人的店 Not yours")
    make_tenant([other])
    tenant = make_tenant([first, second])
    login.tenant(tenant, first)
    return first, second, other


def switcher(html: str) -> str:
    found = re.search(r'<nav[^>]*id="shop-switcher".*?</nav>', html, re.S)
    assert found, "no shop switcher on the page"
    return found.group(0)


def test_the_switcher_lists_the_tenants_own_shops_only(client, three_shops):
    first, second, other = three_shops
    nav = switcher(client.get(f"/t/a/{first.id}").get_data(as_text=True))
    assert f'href="/t/a/{first.id}"' in nav and f'href="/t/a/{second.id}"' in nav
    assert "S101" in nav and "S102" in nav
    assert "S103" not in nav and f"/t/a/{other.id}" not in nav


def test_the_switcher_marks_the_shop_being_shown(client, three_shops):
    first, second, _other = three_shops
    nav = switcher(client.get(f"/t/a/{second.id}").get_data(as_text=True))
    assert re.search(rf'href="/t/a/{second.id}"[^>]*aria-current="page"', nav)
    assert not re.search(rf'href="/t/a/{first.id}"[^>]*aria-current', nav)


def test_the_switcher_is_on_every_tenant_page_even_the_error_pages(client, three_shops):
    first, *_ = three_shops
    for path in ("/t/", f"/t/a/{first.id}/history", "/t/no-such-page", "/auth/tenant/bind"):
        assert "S102" in switcher(client.get(path).get_data(as_text=True)), path


def test_a_tenant_with_one_shop_gets_no_switcher_but_a_logout(client, login, make_account, make_tenant):
    shop = make_account(code="S201")
    login.tenant(make_tenant([shop]), shop)
    html = client.get(f"/t/a/{shop.id}").get_data(as_text=True)
    assert 'id="shop-switcher"' not in html
    assert 'id="logout"' in html


def test_every_tenant_page_has_a_logout_form_posting_with_csrf(client, three_shops, csrf_on):
    first, *_ = three_shops
    html = client.get(f"/t/a/{first.id}").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="logout".*?</form>', html, re.S)
    assert form, "no logout on the page"
    assert 'method="post"' in form.group(0) and 'action="/auth/logout"' in form.group(0)
    assert re.search(r'name="csrf_token" value="[^"]+"', form.group(0))


def test_logging_out_ends_the_session(client, three_shops):
    first, *_ = three_shops
    answer = client.post("/auth/logout")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/auth/tenant/login")
    again = client.get(f"/t/a/{first.id}")
    assert again.status_code == 302 and "/auth/tenant/login" in again.headers["Location"]


def test_a_visitor_of_a_sticker_gets_neither(client, make_account):
    make_account(code="S301", sticker_token="tok-layout-1")
    html = client.get("/r/tok-layout-1").get_data(as_text=True)
    assert 'id="shop-switcher"' not in html and 'id="logout"' not in html
