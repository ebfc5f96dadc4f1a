"""In real Chromium: the report pages draw their charts (ECharts from static/vendor, static/js/charts.js) under the
content security policy — on load, after an htmx swap, on hover, and when printed — with nothing in the console."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.models import Role
from tests.browser import screenshot, watch_csp
from tests.factories import PASSWORD
from tests.staff.test_report_shops import MONTH, mall  # mall: the fixture, shared

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(browser, base_url):
    """A 1366x900 office screen in Chinese; its CSP violations, console errors and page errors are collected."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=base_url)
    context.set_default_timeout(15_000)
    problems = watch_csp(context)
    page = context.new_page()
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    yield page, problems
    context.close()


def _drawn(page, testid: str) -> dict:
    """The chart's canvas, once drawn: its size on the page."""
    canvas = page.locator(f"[data-testid={testid}] canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box["width"] > 100 and box["height"] > 100, box
    return box


def test_the_shops_report_draws_its_charts_under_the_policy(desk, make_staff, mall):
    page, problems = desk
    manager = make_staff(role=Role.MANAGER, sites=[mall])
    page.goto("/auth/staff/login")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:not(.inline) button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/$"))

    page.goto(f"/staff/reports/shops?site=mall&month={MONTH}")
    days = _drawn(page, "chart-site-days")
    assert days["width"] > 800  # as wide as its card
    for dx in (0, 5):  # a move onto the bars, and one along them: ECharts shows its tooltip on the second
        page.mouse.move(days["x"] + days["width"] / 2 + dx, days["y"] + days["height"] / 2)
    # the tooltip: plain text (ECharts' own would carry style= markup, which the policy refuses)
    expect(page.get_by_test_id("chart-site-days")).to_contain_text(re.compile(r"Σ [0-9.]+ kWh"))
    # the 12 months come in when scrolled to (htmx), and are drawn once swapped in
    page.locator("#report-site-months").scroll_into_view_if_needed()
    _drawn(page, "chart-site-months")
    expect(page.locator("#site-months tr[data-month='2026-11'] [data-col=shops]")).to_have_text("588.45")
    # sorting swaps the table alone; the charts stay drawn
    page.click("a[data-sort=electric]")
    expect(page.locator("#report-shops")).to_have_attribute("data-sort", "electric")
    expect(page.locator("[data-testid=chart-site-days] canvas")).to_have_count(1)
    screenshot(page, "report-shops")

    page.emulate_media(media="print")
    expect(page.get_by_test_id("report-nav")).to_be_hidden()
    expect(page.get_by_test_id("report-filters")).to_be_hidden()
    _drawn(page, "chart-site-days")
    style = "(e, p) => getComputedStyle(e)[p]"
    assert page.eval_on_selector("#report-site-months", style, "breakBefore") == "page"  # a section a page
    assert page.eval_on_selector("#report-shops tbody tr", style, "breakInside") == "avoid"  # no row cut in two
    table, card = page.locator("#report-shops table").bounding_box(), page.locator("#report-shops").bounding_box()
    assert table["width"] == card["width"]
    screenshot(page, "report-shops-print")
    page.emulate_media(media="screen")

    page.click("tr[data-account=A1] a")
    page.wait_for_url(re.compile(r"/staff/reports/shops/A1\?"))
    for chart in ("chart-shop-days", "chart-shop-days-water", "chart-shop-days-money", "chart-shop-months"):
        _drawn(page, chart)
    screenshot(page, "report-shop")

    page.goto(f"/staff/reports/common?site=mall&month={MONTH}")
    _drawn(page, "chart-common-days-electric")
    _drawn(page, "chart-common-months-water")
    screenshot(page, "report-common")
    assert problems == []


def test_pages_without_charts_do_not_load_echarts(desk, make_staff, mall):
    page, problems = desk
    manager = make_staff(role=Role.MANAGER, sites=[mall])
    page.goto("/auth/staff/login")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:not(.inline) button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/$"))
    loaded = []
    page.on("request", lambda r: loaded.append(r.url))
    page.goto(f"/staff/reports?site=mall&month={MONTH}")
    expect(page.get_by_test_id("report-nav")).to_be_visible()
    assert not [u for u in loaded if "echarts" in u]
    assert problems == []
