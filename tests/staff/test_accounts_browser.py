"""In real Chromium, with CSRF on and under the CSP, on a desk and on a phone: a manager opens a shop's page,
filters its ledger, adds a note and revokes a tenant's binding, each swapped in by htmx."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import EntryKind, LedgerEntry, Role, Supply, TenantBinding
from tests.browser import screenshot, watch_csp
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SIZES = [pytest.param(1366, 900, id="desk"), pytest.param(390, 844, id="phone")]


@pytest.fixture
def shop(make_site, make_account, make_meter, make_tenant):
    site = make_site("mall", name="兴力城", emergency_credit_fen=2_000, fee_rate_e4_per_m2=30_000)
    acct = make_account(site=site, code="S101", name="面包房", tenant_name="王芳", phone="13900000001",
                        area_m2=Decimal("40.00"), balance_fen=12_345)
    make_meter(account=acct, code="E101", state=dict(online=True, supply_actual=Supply.ON))
    start = datetime(2026, 3, 1, 4, tzinfo=UTC)
    balance = 12_345
    for n in range(60):  # a page and more of energy, and a counter recharge among them
        kind, amount = (EntryKind.CASH, 5_000) if n == 30 else (EntryKind.ENERGY, -25)
        balance += amount
        db.session.add(LedgerEntry(account_id=acct.id, amount_fen=amount, kind=kind, balance_after_fen=balance,
                                   idempotency_key=f"b:{n}", actor="staff:alice" if n == 30 else "system:billing",
                                   created_at=start + timedelta(hours=n)))
    db.session.commit()
    tenant = make_tenant([acct], phone="13800000009")
    tenant.name = "李雷"
    db.session.commit()
    return site, acct, tenant


@pytest.mark.parametrize("width, height", SIZES)
def test_a_manager_filters_the_ledger_adds_a_note_and_revokes_a_binding(browser, base_url, csrf_on, make_staff,
                                                                        shop, width, height):
    site, acct, tenant = shop
    manager = make_staff(role=Role.MANAGER, sites=[site])
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", base_url=base_url)
    context.set_default_timeout(15_000)
    violations = watch_csp(context)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm before revoking
    try:
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", manager.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))

        page.goto("/staff/accounts/S101")
        expect(page.get_by_test_id("account-head")).to_contain_text("面包房")
        expect(page.locator("#account-ledger tr[data-entry]")).to_have_count(50)
        screenshot(page, f"account-{width}")

        page.locator("#account-ledger-card select[name=kind]").select_option("cash")
        expect(page.locator("#account-ledger tr[data-entry]")).to_have_count(1)
        expect(page.locator("#account-ledger tr[data-entry]")).to_contain_text("柜台充值")
        expect(page).to_have_url(re.compile(r"/staff/accounts/S101\?.*kind=cash"))

        page.fill("#account-notes textarea[name=body]", "周五前会来缴费")
        page.click("#account-notes button[type=submit]")
        expect(page.locator("#account-notes li[data-note]")).to_contain_text("周五前会来缴费")
        expect(page.locator("#account-notes li[data-note]")).to_contain_text(manager.username)

        page.fill("#account-notes textarea[name=body]", "   ")
        page.click("#account-notes button[type=submit]")
        expect(page.get_by_test_id("note-error")).to_be_visible()

        expect(page.locator(f"#account-bindings tr[data-tenant='{tenant.id}']")).to_contain_text("李雷")
        page.locator(f"#account-bindings tr[data-tenant='{tenant.id}'] [data-testid=revoke]").click()
        expect(page.locator(f"#account-bindings tr[data-tenant='{tenant.id}']")).to_have_count(0)
        expect(page.locator("#account-bindings [role=status]")).to_contain_text("李雷")
        screenshot(page, f"account-after-{width}")
        assert violations == []
    finally:
        context.close()

    db.session.expire_all()
    assert db.session.get(TenantBinding, (tenant.id, acct.id)) is None
