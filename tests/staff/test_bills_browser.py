"""A manager prints a site's monthly bills in Chromium: the chooser, the bills in a new tab (Chinese, one A4 page a
shop, the sticker's QR drawn), binding codes issued there for the shops without one, and the print layout (the
toolbar hidden, a page break after each bill) kept as a screenshot; nothing serious for axe-core."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from portal.auth.binding import binding_code_matches, hash_binding_code, tidy_code
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import Account, EntryKind, LedgerEntry, Role
from portal.monthly.periods import month_bounds, previous_month
from portal.settings import business_tz
from portal.staff.bills import this_month
from tests.browser import axe_violations, browser_page, log_in_staff, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def office(make_site, make_account, make_staff):
    """Three shops open before last month, one with a binding code printed before; money moved in the month."""
    site = make_site("mall8", name="八号商场", contact_phone="0854-8123 4567")
    start, _end = month_bounds(previous_month(this_month()), business_tz())
    for n in (1, 2):
        shop = make_account(site=site, code=f"K{n:02d}", name=f"商铺 {n}", created_at=start - timedelta(days=30))
        posted = post_entry(db.session, shop, 150_00 * n, EntryKind.CASH, f"test:cash:{n}")
        db.session.execute(update(LedgerEntry).where(LedgerEntry.id == posted.entry.id)
                           .values(created_at=start + timedelta(days=3)))
    make_account(site=site, code="K03", name="老店", created_at=start - timedelta(days=30),
                 binding_code_hash=hash_binding_code("K7QM4XR2"), sticker_token="kept-token-000000000003")
    db.session.commit()
    return site, make_staff(role=Role.MANAGER, sites=[site])


def test_a_manager_prints_the_bills_and_puts_codes_on_the_new_shops(base_url, office, csrf_on):
    site, manager = office
    with browser_page(base_url, width=1280, height=900, locale="zh-CN") as page:
        log_in_staff(page, manager.username, PASSWORD)
        page.goto("/staff/reports/bills")
        expect(page.get_by_test_id("bill-shop")).to_have_count(3)
        assert axe_violations(page, within="#bills") == []
        for code in ("K01", "K02", "K03"):
            page.get_by_label(f"打印 {code} 的账单").check()
        with page.context.expect_page() as opened:
            page.get_by_test_id("print-bills").click()
        sheet = opened.value
        sheet.wait_for_load_state()
        expect(sheet.get_by_test_id("bill")).to_have_count(3)
        expect(sheet.locator("h1").first).to_contain_text("月度电费水费账单")
        expect(sheet.get_by_test_id("contact-phone").first).to_contain_text("0854-8123 4567")
        assert sheet.locator(".bill .qr svg path").count() == 1  # only K03 has a sticker address yet
        box = sheet.locator(".bill").first.bounding_box()
        assert 695 <= box["width"] <= 710  # 186 mm at 96 dpi: A4 less the printer's margins
        assert axe_violations(sheet) == []
        screenshot(sheet, "monthly-bills-sheet")
        sheet.get_by_test_id("codes-new").click()
        expect(sheet.get_by_test_id("codes-issued")).to_be_visible()
        codes = dict(zip(sheet.locator("[data-testid=bill]:has([data-testid=binding-code])")
                         .evaluate_all("els => els.map(e => e.dataset.code)"),
                         sheet.get_by_test_id("binding-code").all_inner_texts()))
        assert sorted(codes) == ["K01", "K02"]
        assert sheet.locator(".bill .qr svg path").count() == 3  # issuing made their sticker addresses
        sheet.emulate_media(media="print")
        expect(sheet.locator(".toolbar")).to_be_hidden()
        breaks = sheet.locator(".bill").evaluate_all("els => els.map(e => getComputedStyle(e).breakAfter)")
        assert breaks == ["page", "page", "auto"]
        screenshot(sheet, "monthly-bills-print")
    db.session.expire_all()
    for code, typed in codes.items():
        account = db.session.query(Account).filter_by(site_id=site.id, code=code).one()
        assert binding_code_matches(account.binding_code_hash, tidy_code(typed))
    old = db.session.query(Account).filter_by(site_id=site.id, code="K03").one()
    assert binding_code_matches(old.binding_code_hash, "K7QM4XR2")  # codes for the new shops void nothing
