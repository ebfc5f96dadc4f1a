"""In real Chromium, with CSRF on and under the content security policy, on a desk and on a phone: a manager
creates an allocation group, adds two shops (one found by name, one by code) and a common meter, and sees the
preview of last month's split; then previews and runs the allocation from the billing page, and links a sub-meter
to its master on the line-loss page (a loop is refused on screen)."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import AllocationGroup, AllocationMember, EntryKind, LedgerEntry, Role, utcnow
from portal.monthly.periods import month_bounds, month_of, previous_month
from portal.settings import business_tz
from tests.browser import screenshot, watch_csp
from tests.factories import PASSWORD
from tests.monthly.conftest import add_readings, billing_site, make_tariff

pytestmark = pytest.mark.browser

SIZES = [pytest.param(1366, 900, id="desk"), pytest.param(390, 844, id="phone")]


@pytest.fixture
def mall(billing_site, make_account, make_gateway, make_meter):
    """Two shops of 10 and 30 m², a common meter that used 8.00 kWh last month, and another common meter."""
    site = billing_site(name="兴力城")
    make_account(site=site, code="S1", name="面包房", balance_fen=50_000, area_m2=Decimal("10.00"))
    make_account(site=site, code="S2", name="花店", balance_fen=50_000, area_m2=Decimal("30.00"))
    gateway = make_gateway(site=site)
    common = make_meter(gateway=gateway, code="CL1")
    make_meter(gateway=gateway, code="CL2")  # a sub-meter of CL1, linked on the line-loss page
    start, _ = month_bounds(previous_month(month_of(utcnow(), business_tz())), business_tz())
    add_readings(common, [500, 300], start)
    return site


@pytest.mark.parametrize("width, height", SIZES)
def test_a_manager_creates_a_group_with_members_and_a_common_meter_and_sees_the_preview(
        browser, base_url, csrf_on, make_staff, mall, width, height):
    manager = make_staff(role=Role.MANAGER, sites=[mall])
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", base_url=base_url)
    context.set_default_timeout(15_000)
    violations = watch_csp(context)
    page = context.new_page()
    try:
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", manager.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))
        page.goto("/staff/billing/")

        form = page.locator("#new-group")
        form.locator("input[name=code]").fill("LIGHTS")
        form.locator("input[name=name]").fill("走廊照明公摊")
        form.locator("select[name=method]").select_option("area")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/staff/billing/groups/\d+$"))
        expect(page.locator("#group-setup")).to_be_visible()

        page.get_by_test_id("shop-search").fill("面包")
        page.locator("#shop-results li[data-account=S1] button").click()
        expect(page.locator("#group-members tr[data-account=S1]")).to_be_visible()
        page.get_by_test_id("shop-search").fill("S2")
        page.locator("#group-members form:has([data-testid=shop-search]) button[type=submit]").click()
        expect(page.locator("#group-members tr[data-account=S2]")).to_be_visible()
        expect(page.locator("#group-members tr[data-account=S2] [data-testid=weight]")).to_contain_text("30.00 m²")

        page.get_by_test_id("source-select").select_option(label="CL1 · meter")
        page.locator("#group-sources button[type=submit]").last.click()
        expect(page.locator("#group-sources tr[data-meter=CL1]")).to_be_visible()

        last = page.get_by_test_id("preview-last")
        expect(last.get_by_test_id("preview-total")).to_have_text("¥8.00")
        expect(last.locator("tr[data-account=S1] [data-testid=preview-amount]")).to_have_text("¥2.00")
        expect(last.locator("tr[data-account=S2] [data-testid=preview-amount]")).to_have_text("¥6.00")
        screenshot(page, f"billing-group-{width}")

        page.goto("/staff/billing/")
        page.get_by_test_id("run-allocation-preview").click()
        expect(page.get_by_test_id("run-allocation-totals")).to_contain_text("¥8.00")
        screenshot(page, f"billing-run-preview-{width}")
        page.get_by_test_id("run-allocation-confirm").click()
        expect(page.get_by_test_id("run-allocation-result")).to_contain_text("¥8.00")
        screenshot(page, f"billing-run-done-{width}")

        page.goto("/staff/billing/line-loss")
        links = page.locator("#meter-links")
        links.locator("input[name=meter]").fill("CL2")
        links.locator("input[name=master]").fill("CL1")
        links.locator("button[type=submit]").last.click()
        expect(page.locator("#meter-links tr[data-sub=CL2]")).to_be_visible()
        expect(page.locator("#line-loss tr[data-master=CL1]")).to_be_visible()  # the table reloaded itself
        links.locator("input[name=meter]").fill("CL1")
        links.locator("input[name=master]").fill("CL2")
        links.locator("button[type=submit]").last.click()
        expect(page.get_by_test_id("links-error")).to_be_visible()  # a loop
        screenshot(page, f"billing-line-loss-{width}")
        assert violations == []
    finally:
        context.close()

    db.session.expire_all()
    group = db.session.query(AllocationGroup).one()
    assert group.code == "LIGHTS" and db.session.query(AllocationMember).count() == 2
    charged = db.session.query(LedgerEntry).filter(LedgerEntry.kind == EntryKind.ALLOCATION).all()
    assert sorted(e.amount_fen for e in charged) == [-600, -200]
