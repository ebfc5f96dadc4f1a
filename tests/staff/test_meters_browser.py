"""In real Chromium with CSRF on, on a desk (1366x900) and an electrician's phone (390x844): the meter list's
filters (kept in the address), a trip with a reason whose row follows the meter until it acknowledges, and a bulk
trip that states its count; no content-security-policy violation anywhere."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import CommandStatus, ControlCommand, IntervalReading, Meter, Role, Supply, utcnow
from portal.settings import business_tz
from tests.browser import browser_page, screenshot, watch_csp
from tests.factories import PASSWORD
from tests.recorded_polls import polls  # autouse: the polls a command asks for are recorded, not run

pytestmark = pytest.mark.browser

SIZES = [pytest.param(1366, 900, id="desk"), pytest.param(390, 844, id="phone")]


@pytest.fixture
def mall(make_site, make_account, make_gateway, make_meter, make_staff):
    """Six shop meters (two offline), two days of readings of E2, and a manager of the site."""
    site = make_site("mall", name="兴力城")
    gateway = make_gateway(site=site, code="GW1", online=True)
    for n in range(1, 7):
        make_meter(account=make_account(site=site, code=f"S{n}", name=f"商铺{n}", balance_fen=10_000),
                   gateway=gateway, code=f"E{n}", unit_id=n,
                   state={"online": n <= 4, "supply_actual": Supply.ON, "energy_total": 100_000 * n})
    e2 = db.session.scalars(select(Meter).where(Meter.code == "E2")).one()
    start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    for n in range(2 * 24 * 4):  # a shop's day: more by day than by night
        hour = (start + timedelta(minutes=15 * n)).astimezone(business_tz()).hour
        db.session.add(IntervalReading(meter_id=e2.id, interval_start=start + timedelta(minutes=15 * n),
                                       energy_total=200_000 + n * 30, delta=60 if 9 <= hour < 21 else 10))
    db.session.commit()
    return make_staff(role=Role.MANAGER, sites=[site])


@pytest.mark.parametrize("width, height", SIZES)
def test_filters_a_trip_with_a_reason_and_a_bulk_trip(base_url, csrf_on, mall, width, height):
    with browser_page(base_url, width=width, height=height, locale="zh-CN", accept_dialogs=True) as page:
        violations = watch_csp(page.context)
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", mall.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form:not(.inline) button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))
        page.goto("/staff/meters")
        rows = page.locator("#meter-table tbody tr")
        expect(rows).to_have_count(6)

        # a filter swaps the table in place and keeps itself in the address, without the empty fields
        page.locator("#meter-filters select[name=online]").select_option("no")
        expect(rows).to_have_count(2)
        expect(page).to_have_url(re.compile(r"/staff/meters\?online=no$"))
        page.locator("#meter-filters select[name=sort]").select_option("energy")
        page.locator("#meter-filters select[name=order]").select_option("desc")
        expect(rows.first).to_have_attribute("data-meter", "E6")
        expect(page).to_have_url(re.compile(r"/staff/meters\?online=no&sort=energy&order=desc$"))
        page.reload()  # the address is a bookmark: the same list again
        expect(rows).to_have_count(2)
        expect(rows.first).to_have_attribute("data-meter", "E6")
        expect(page.locator("#meter-filters select[name=online]")).to_have_value("no")
        screenshot(page, f"meters-filtered-{width}")

        # a trip needs a reason; the row then says it waits for the meter, and follows it until it answers
        page.goto("/staff/meters")
        row = page.locator("tr[data-meter=E1]")
        row.locator("summary").click()
        row.locator(".act-trip").click()  # no reason: the browser does not send it
        expect(row.locator("input[name=reason]")).to_be_focused()
        row.locator("input[name=reason]").fill("更换插座")
        screenshot(page, f"meters-trip-reason-{width}")
        row.locator(".act-trip").click()
        expect(row.locator(".waiting")).to_be_visible()
        screenshot(page, f"meters-trip-waiting-{width}")
        # while its command form is open again, the row does not swap itself under the user's fingers
        row.locator("summary").click()
        page.wait_for_timeout(2_500)
        expect(row.locator("details")).to_have_attribute("open", "")
        row.locator("summary").click()
        command = db.session.scalars(select(ControlCommand).where(ControlCommand.action == "trip")).one()
        assert command.reason == "更换插座"
        db.session.execute(update(ControlCommand).where(ControlCommand.id == command.id)
                           .values(status=CommandStatus.APPLIED))
        db.session.commit()
        expect(row.locator(".waiting")).to_have_count(0, timeout=10_000)  # no reload: the row asked again
        expect(row).not_to_have_attribute("hx-trigger", re.compile(".+"))

        # bulk: every box of the page, a reason, and the count asked before anything is done
        page.locator("input[data-select-all]").check()
        expect(page.locator("[data-selected-count]")).to_have_text("6")
        page.locator("#meter-bulk input[name=reason]").fill("线路检修")
        page.locator("#meter-bulk .act-bulk").click()
        expect(page.get_by_test_id("bulk-question")).to_have_text("拉闸 6 块电表？")
        screenshot(page, f"meters-bulk-question-{width}")
        page.locator("#bulk-panel .act-confirm").click()
        expect(page.locator("#bulk-panel [data-done]")).to_have_attribute("data-done", "6")
        expect(page.locator("#meter-table .waiting")).to_have_count(6)  # the table came again, rows waiting
        db.session.expire_all()
        assert len(db.session.scalars(select(ControlCommand).where(ControlCommand.reason == "线路检修")).all()) == 6
        screenshot(page, f"meters-bulk-done-{width}")

        # the meter page, with its chart and controls
        page.goto("/staff/meters/E2?site=mall")
        expect(page.locator("#meter-live")).to_be_visible()
        expect(page.locator("#meter-control")).to_be_visible()
        expect(page.locator("svg.chart rect.bar")).to_have_count(48)
        screenshot(page, f"meter-page-{width}")
        assert violations == []
