"""Staff meter list and tenant account page: scope, search, htmx partials, money, languages."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portal.models import Role, Supply

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_sites(make_site, make_account, make_meter, make_staff):
    """Site A with two shops' meters and a common meter, site B with one meter; an operator of A."""
    a, b = make_site("siteA"), make_site("siteB")
    bakery = make_account(site=a, code="A101", name="Bakery")
    florist = make_account(site=a, code="A102", name="Florist")
    make_meter(account=bakery, code="EA101")
    make_meter(account=florist, code="EA102")
    make_meter(gateway=make_meter(account=bakery, code="WA101").gateway, code="CA1")
    make_meter(account=make_account(site=b, code="B201"), code="EB201")
    return make_staff(role=Role.OPERATOR, sites=[a])


def meter_rows(html: str) -> list[str]:
    return re.findall(r'<tr[^>]* data-meter="([^"]+)"', html)


# --- staff meter list -----------------------------------------------------------------------------


def test_meter_list_shows_only_the_users_sites(client, login, two_sites):
    login.staff(two_sites)
    assert meter_rows(client.get("/staff/meters").get_data(as_text=True)) == [
        "CA1",
        "EA101",
        "EA102",
        "WA101",
    ]


def test_admin_meter_list_shows_every_site(client, login, make_staff, two_sites):
    login.staff(make_staff(role=Role.ADMIN))
    assert "EB201" in meter_rows(client.get("/staff/meters").get_data(as_text=True))


def test_search_filters_by_meter_code(client, login, two_sites):
    login.staff(two_sites)
    assert meter_rows(client.get("/staff/meters?q=ea10").get_data(as_text=True)) == ["EA101", "EA102"]


def test_search_filters_by_shop_name(client, login, two_sites):
    login.staff(two_sites)
    assert meter_rows(client.get("/staff/meters?q=florist").get_data(as_text=True)) == ["EA102"]


def test_search_never_reaches_another_site(client, login, two_sites):
    login.staff(two_sites)
    assert meter_rows(client.get("/staff/meters?q=EB201").get_data(as_text=True)) == []


def test_htmx_request_gets_only_the_meter_table(client, login, two_sites):
    login.staff(two_sites)
    res = client.get("/staff/meters?q=EA", headers={"HX-Request": "true"})
    html = res.get_data(as_text=True)
    assert html.startswith('<section id="meter-table"') and html.rstrip().endswith("</section>")
    assert "<html" not in html
    assert "HX-Request" in res.headers["Vary"]


def test_full_page_also_varies_on_hx_request(client, login, two_sites):
    login.staff(two_sites)
    res = client.get("/staff/meters")
    assert "<html" in res.get_data(as_text=True)
    assert "HX-Request" in res.headers["Vary"]


# --- tenant account page --------------------------------------------------------------------------


@pytest.fixture
def tenant_page(client, login, make_account, make_meter, make_tenant):
    """tenant_page(balance_fen, **get) logs a tenant into a shop with a read and an unread meter."""

    def open_page(balance_fen: int = 12_345, **get_kw):
        acct = make_account(balance_fen=balance_fen, name="Noodle bar")
        make_meter(account=acct, code="E1", state={"online": True, "supply_actual": Supply.ON})
        make_meter(account=acct, code="E2")
        login.tenant(make_tenant([acct]), acct)
        return client.get(f"/t/a/{acct.id}", **get_kw)

    return open_page


def test_account_page_shows_the_balance_in_yuan(tenant_page):
    assert "¥123.45" in tenant_page(12_345).get_data(as_text=True)


def test_account_page_groups_thousands_in_large_balances(tenant_page):
    assert "¥12,345.67" in tenant_page(1_234_567).get_data(as_text=True)


def test_account_page_marks_arrears(tenant_page):
    html = tenant_page(-1_234).get_data(as_text=True)
    assert "¥-12.34" in html
    assert 'class="balance-card negative"' in html


def test_account_page_shows_each_meters_supply(tenant_page):
    html = tenant_page().get_data(as_text=True)
    assert "供电中" in html  # E1: supply on
    assert "尚未抄读" in html  # E2: never read


def test_account_page_htmx_refresh_returns_only_the_status(tenant_page):
    res = tenant_page(headers={"HX-Request": "true"})
    assert res.get_data(as_text=True).startswith('<section id="status"')
    assert "HX-Request" in res.headers["Vary"]


# --- languages ------------------------------------------------------------------------------------


def test_pages_are_chinese_by_default(tenant_page):
    html = tenant_page().get_data(as_text=True)
    assert "余额" in html and "Balance" not in html
    assert '<html lang="zh-CN">' in html


def test_pages_are_english_for_a_browser_that_prefers_english(tenant_page):
    html = tenant_page(headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Balance" in html and "余额" not in html
    assert '<html lang="en">' in html


def test_brand_is_not_doubled_in_chinese(tenant_page):
    assert '<span class="brand">先付</span>' in tenant_page().get_data(as_text=True)


def test_brand_shows_both_names_in_english(tenant_page):
    html = tenant_page(headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<span class="brand">PayFirst · 先付</span>' in html


def test_language_switch_to_english_sticks_for_the_session(client, tenant_page):
    page = tenant_page()
    client.get("/auth/lang/en")
    html = client.get(page.request.path, headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert "Balance" in html and "Supply on" in html


def test_language_switch_returns_to_the_page(client):
    res = client.get("/auth/lang/en", query_string={"next": "/auth/tenant/login"})
    assert res.headers["Location"] == "/auth/tenant/login"
    assert "Your shop" in client.get("/auth/tenant/login").get_data(as_text=True)


def test_translation_catalog_is_complete(tmp_path):
    # The script rewrites the catalog's dates; run it on a copy so the test leaves the tree alone.
    skip = shutil.ignore_patterns("__pycache__", "*.mo")
    for folder in ("portal", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=skip)
    (tmp_path / "scripts").mkdir()
    for name in ("babel.cfg", "scripts/translations.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(
        [sys.executable, "scripts/translations.py"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
