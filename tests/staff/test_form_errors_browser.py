"""In real Chromium, with CSRF on: a manager's broken form, sent by htmx, shows its error in place.

htmx 2 leaves the page as it is when an answer is not 2xx (unless told otherwise), so a view that answers a
form error the wrong way passes the Flask-client tests while the manager sees nothing: only a browser shows it.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timezone

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, TariffVersion
from portal.tariffs.admin import add_version, create_tariff
from tests.browser import browser_page, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(base_url, csrf_on):
    """An English office screen (1280x800): the staff pages are used at a desk."""
    with browser_page(base_url, width=1280, height=800, locale="en-US") as page:
        yield page


@pytest.fixture
def manager_of(make_staff, make_site):
    """A manager of a site with a flat tariff (FLAT, 1 yuan), logged in on the page given."""

    def log_in(page):
        site = make_site()
        tariff = create_tariff(db.session, site, "FLAT", "flat", "flat", "staff:test")
        add_version(db.session, tariff, datetime(2025, 1, 1, tzinfo=UTC), actor="staff:test",
                    unit_price_e4=10_000, now=datetime(2025, 1, 1, tzinfo=UTC))
        db.session.commit()
        manager = make_staff(role=Role.MANAGER, sites=[site])
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", manager.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/"))
        return site

    return log_in


def test_a_price_with_five_decimals_is_refused_on_screen(desk, manager_of):
    site = manager_of(desk)
    desk.goto(f"/staff/sites/{site.id}/tariffs")

    tariffs = desk.locator("#tariffs")
    tariffs.locator("input[name=price]").fill("1.23456")
    with desk.expect_response(re.compile(r"/tariffs/versions$")) as answer:
        tariffs.get_by_role("button", name="Save prices").click()

    assert answer.value.request.headers.get("hx-request") == "true"  # sent by htmx, not a plain form post
    expect(desk.get_by_test_id("error-version")).to_be_visible()
    expect(desk.get_by_test_id("error-version")).to_contain_text("decimal")
    expect(desk.locator("#tariffs input[name=price]")).to_have_value("1.23456")  # what was typed stays
    screenshot(desk, "tariff-form-error")
    assert desk.url.endswith(f"/staff/sites/{site.id}/tariffs")
    assert db.session.query(TariffVersion).count() == 1


def test_the_price_form_shows_only_the_chosen_tariffs_kind(desk, manager_of):
    """The walk found all three price forms shown at once: only the chosen tariff's kind shows, and it follows
    the choice, also after htmx swapped the section in again."""
    site = manager_of(desk)
    create_tariff(db.session, site, "TOU", "peak and valley", "tou", "staff:test")
    db.session.commit()
    desk.goto(f"/staff/sites/{site.id}/tariffs")

    def shown() -> list[str]:
        form = desk.locator("#tariffs form:has(select[name=tariff])")
        return [kind for kind in ("flat", "tou", "tiered") if form.locator(f"fieldset[data-kind={kind}]").is_visible()]

    form = desk.locator("#tariffs form:has(select[name=tariff])")

    assert shown() == ["flat"]
    form.locator("select[name=tariff]").select_option(index=1)
    assert shown() == ["tou"]
    form.locator("input[name=start0]").fill("08:00")  # a row without its end: refused, the section swapped in
    form.get_by_role("button", name="Save prices").click()
    expect(desk.get_by_test_id("error-version")).to_be_visible()
    assert shown() == ["tou"]


def test_a_rule_amount_that_is_not_yuan_is_refused_on_screen(desk, manager_of):
    site = manager_of(desk)
    desk.goto(f"/staff/sites/{site.id}/rules")

    safeguards = desk.locator("#safeguards")
    safeguards.locator("input[name=overdraft]").fill("1,000")
    safeguards.get_by_role("button", name="Save").click()

    expect(desk.locator("#safeguards .flash-error")).to_be_visible()
    expect(desk.locator("#safeguards .flash-error")).to_contain_text("two decimals")
    assert desk.url.endswith(f"/staff/sites/{site.id}/rules")
