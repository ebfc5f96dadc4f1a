"""A manager prints a site's sticker sheet in Chromium: the chooser, the confirmation, and the A4 sheet in a new
tab, its QR codes drawn, nothing serious for axe-core; the sheet's print layout is kept as a screenshot."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.auth.binding import binding_code_matches, hash_binding_code, tidy_code
from portal.extensions import db
from portal.models import Account, Role
from tests.browser import axe_violations, browser_page, log_in_staff, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def office(make_site, make_account, make_staff):
    site = make_site("mall9", name="九号商场")
    for n in range(1, 6):
        make_account(site=site, code=f"K{n:02d}", name=f"商铺 {n}")
    make_account(site=site, code="K06", name="老店", binding_code_hash=hash_binding_code("K7QM4XR2"))
    return site, make_staff(role=Role.MANAGER, sites=[site])


def test_a_manager_prints_the_new_shops_stickers(base_url, office, csrf_on):
    site, manager = office
    with browser_page(base_url, width=1280, height=900, locale="zh-CN") as page:
        log_in_staff(page, manager.username, PASSWORD)
        page.goto("/staff/stickers")
        expect(page.get_by_test_id("sticker-shop")).to_have_count(6)
        assert page.locator("input[name=account]:checked").count() == 5  # the old shop is not ticked
        assert axe_violations(page, within="#stickers") == []
        with page.context.expect_page() as opened:
            page.get_by_test_id("print-stickers").click()
        sheet = opened.value
        sheet.wait_for_load_state()
        expect(sheet.get_by_test_id("sticker")).to_have_count(5)
        assert sheet.locator(".sticker svg path").count() == 5
        box = sheet.locator(".sticker .qr svg").first.bounding_box()
        assert 120 <= box["width"] <= 135  # 34 mm at 96 dpi
        assert axe_violations(sheet) == []
        codes = dict(zip(sheet.locator("[data-testid=sticker]").evaluate_all("els => els.map(e => e.dataset.code)"),
                         sheet.get_by_test_id("binding-code").all_inner_texts()))
        sheet.emulate_media(media="print")
        expect(sheet.locator(".toolbar")).to_be_hidden()
        screenshot(sheet, "sticker-sheet-print")
    db.session.expire_all()
    for code, typed in codes.items():
        account = db.session.query(Account).filter_by(site_id=site.id, code=code).one()
        assert binding_code_matches(account.binding_code_hash, tidy_code(typed))
    assert re.fullmatch(r"K0[1-5]", min(codes)) and "K06" not in codes
