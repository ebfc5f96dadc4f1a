"""In real Chromium, under the content security policy: every page works (htmx swaps, forms, our scripts) and the
browser reports no violation; another site cannot frame a page.

A policy that blocks too much fails quietly in a browser (a button that does nothing, a style not applied), so the
pages are driven through their htmx swaps while every `securitypolicyviolation` and console report is collected.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, Supply
from tests.browser import WECHAT_UA, log_in_tenant, watch_csp
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(sandbox_server, csrf_on):
    """The served app with CSRF on, PUBLIC_BASE_URL pointing at it and the payment sandbox switched on."""
    return sandbox_server


class Watched:
    """A page whose CSP violations and documents (with their policy) are recorded."""

    def __init__(self, context):
        self.violations = watch_csp(context)
        self.policies: dict[str, str | None] = {}
        context.on("response", self._seen)
        self.page = context.new_page()

    def _seen(self, response) -> None:
        if response.request.resource_type == "document":
            self.policies[response.url] = response.headers.get("content-security-policy")

    def assert_clean(self) -> None:
        """No violation reported, and every document came with the policy."""
        assert self.violations == []
        assert self.policies
        unprotected = [url for url, policy in self.policies.items() if "frame-ancestors 'none'" not in (policy or "")]
        assert unprotected == []


@pytest.fixture
def phone(browser, base_url):
    """A 390x844 phone inside WeChat, Chinese preferred."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=WECHAT_UA, locale="zh-CN",
                                  base_url=base_url, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    yield Watched(context)
    context.close()


@pytest.fixture
def desk(browser, base_url):
    """A 1280x800 office screen in Chinese that accepts hx-confirm's questions."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", base_url=base_url)
    context.set_default_timeout(15_000)
    watched = Watched(context)
    watched.page.on("dialog", lambda dialog: dialog.accept())
    yield watched
    context.close()


def test_tenant_pages_and_the_sandbox_payment_work_under_the_policy(phone, make_account, make_meter, make_tenant):
    shop = make_account(code="S901", name="兰州拉面", balance_fen=-500)
    meter = make_meter(account=shop, code="E901", state=dict(online=True, supply_actual=Supply.OFF))
    meter.supply_desired, meter.desired_reason = Supply.OFF, "arrears"
    db.session.commit()
    page = phone.page

    log_in_tenant(page, shop.code, make_tenant([shop]).phone)
    expect(page.get_by_test_id("balance")).to_have_text("¥-5.00")
    expect(page.locator(".balance-card")).to_have_css("background-color", "rgb(198, 40, 40)")  # the stylesheet
    page.locator(".chip-custom input[type=text]").fill("20")
    page.locator("[data-channel=sandbox]").click()  # htmx posts; pay.js follows the pay link once
    page.wait_for_url(re.compile(r"/pay/sandbox/PF\d+$"))
    out_trade_no = page.url.rsplit("/", 1)[1]
    page.locator("#sandbox-pay button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/t/orders/{out_trade_no}$"))
    expect(page.locator("#order-progress")).to_have_attribute("data-state", "credited")  # htmx polled it

    page.goto(f"/t/a/{shop.id}")
    expect(page.get_by_test_id("balance")).to_have_text("¥15.00")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # the history loads when revealed
    expect(page.locator("#history [data-kind=payment]")).to_have_count(1)
    page.click("#lang a")
    expect(page.locator(".balance-card .label")).to_have_text("Balance")
    phone.assert_clean()


def test_staff_pages_work_under_the_policy(desk, make_site, make_account, make_meter, make_staff):
    mall, market = make_site("mall"), make_site("market")
    make_meter(account=make_account(site=mall, code="A101", name="Bakery", balance_fen=10_000), code="E101")
    make_meter(account=make_account(site=mall, code="A201", name="Tea house"), code="W201")
    manager = make_staff(role=Role.MANAGER, sites=[mall, market])
    page = desk.page

    page.goto("/auth/staff/login")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:not(.inline) button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/$"))
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    # the meter list: search and a command, both swapped in by htmx
    page.goto("/staff/meters")
    rows = page.locator("#meter-table tbody tr")
    expect(rows).to_have_count(2)
    page.locator("input[name=q]").press_sequentially("tea", delay=30)
    expect(rows).to_have_count(1)
    page.locator("[data-meter=W201] summary").click()
    page.locator("[data-meter=W201] input[name=reason]").fill("test")
    page.locator("[data-meter=W201] .act-trip").click()
    expect(page.locator("[data-meter=W201] .waiting")).to_be_visible()

    # the counter: search (htmx), an account, a cash recharge and its receipt with the print button
    page.goto("/staff/counter/")
    page.locator("input[name=q]").press_sequentially("Bakery", delay=30)
    page.locator("#counter-results a", has_text="A101").click()
    page.locator("#recharge input[name=amount]").fill("12.34")
    page.locator("#recharge button[type=submit]").click()
    page.wait_for_url(re.compile(r"/staff/counter/receipts/\d+$"))
    expect(page.locator(".receipt")).to_have_css("border-top-style", "dashed")  # the receipt's stylesheet
    page.locator(".receipt-actions button[data-print]").click()
    page.goto("/staff/counter/report")
    expect(page.locator("#report-totals")).to_have_css("margin-top", "16px")

    page.goto("/staff/approvals")
    expect(page.locator("#approvals-waiting")).to_have_css("margin-bottom", "16px")
    page.goto(f"/staff/sites/{mall.id}/tariffs")
    expect(page.locator("#tariffs.tariff-section")).to_have_css("max-width", "960px")
    page.goto(f"/staff/sites/{mall.id}/rules")
    expect(page.locator("#safeguards.rules-section")).to_have_css("max-width", "820px")
    # the monthly pages: choosing another site reloads the page for it (a script of ours, not onchange=)
    page.goto(f"/staff/billing/?site={mall.id}")
    expect(page.locator(".billing-nav")).to_have_css("display", "flex")
    page.locator("#billing-nav select[name=site]").select_option(str(market.id))
    page.wait_for_url(re.compile(rf"site={market.id}"))
    desk.assert_clean()


@contextmanager
def framing_site(url: str):
    """Another origin on this machine (its own port) whose page frames `url`; yields its address."""
    page = f'<!doctype html><iframe src="{url}" width="600" height="400"></iframe>'.encode()

    class Framing(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Framing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_frame_a_page(browser, base_url):
    context = browser.new_context()
    page = context.new_page()
    with framing_site(f"{base_url}/auth/staff/login") as elsewhere:
        page.goto(elsewhere)  # its load event waits for the frame: loaded, or refused by the policy
        [frame] = page.main_frame.child_frames
        assert frame.url.startswith("chrome-error://")  # what Chromium shows in a frame it refused to fill
        assert frame.locator("input[name=password]").count() == 0
    context.close()
