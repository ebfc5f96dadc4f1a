"""In real Chromium, with CSRF on, on a desk and on a phone: an admin makes a user (htmx), the user logs in with
the password shown once and is made to choose their own before anything else."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, StaffUser
from tests.browser import browser_page, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SIZES = [pytest.param(1366, 900, id="desk"), pytest.param(390, 844, id="phone")]


def log_in(page, username: str, password: str) -> None:
    page.goto("/auth/staff/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("width, height", SIZES)
def test_a_new_user_logs_in_and_is_made_to_choose_a_password(base_url, csrf_on, make_staff, make_site, width,
                                                              height):
    mall = make_site("mall", name="兴力城")
    make_staff("boss", role=Role.ADMIN)
    with browser_page(base_url, width=width, height=height, locale="zh-CN") as page:
        log_in(page, "boss", PASSWORD)
        page.wait_for_url(re.compile(r"/staff/$"))
        page.goto("/staff/users")
        form = page.locator("#users form")
        form.locator("input[name=username]").fill("xiaoli")
        form.locator("select[name=role]").select_option("cashier")
        form.locator(f"input[name=sites][value='{mall.id}']").check()
        form.locator("button[type=submit]").click()

        shown = page.get_by_test_id("new-password")
        expect(shown).to_be_visible()
        expect(page.locator("tr[data-user=xiaoli]")).to_contain_text("收费员")
        password = shown.inner_text().strip()
        screenshot(page, f"users-created-{width}")

    with browser_page(base_url, width=width, height=height, locale="zh-CN") as page:
        log_in(page, "xiaoli", password)
        page.wait_for_url(re.compile(r"/auth/staff/password$"))
        expect(page.get_by_test_id("must-change")).to_be_visible()
        page.goto("/staff/counter/")
        page.wait_for_url(re.compile(r"/auth/staff/password$"))

        page.fill("input[name=current]", password)
        page.fill("input[name=new]", "short")
        page.fill("input[name=repeat]", "short")
        page.click("#password button[type=submit]")
        expect(page.get_by_test_id("password-error")).to_contain_text("8")

        page.fill("input[name=current]", password)
        page.fill("input[name=new]", "xiaoli's own secret")
        page.fill("input[name=repeat]", "xiaoli's own secret")
        page.click("#password button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))
        expect(page.locator("header .who")).to_contain_text("xiaoli")
        page.goto("/staff/counter/")
        expect(page).to_have_url(re.compile(r"/staff/counter/$"))
        screenshot(page, f"users-chose-password-{width}")

    db.session.expire_all()
    user = db.session.query(StaffUser).filter_by(username="xiaoli").one()
    assert not user.must_change_password and user.check_password("xiaoli's own secret")
