"""In real Chromium, with CSRF on and the pages in Chinese: a cashier proposes at the counter, a different manager
approves on /staff/approvals (htmx swaps the row), and a manager cannot approve what they proposed themselves."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import EntryKind, LedgerEntry, Proposal, ProposalStatus, Role
from tests.approvals.conftest import balance
from tests.browser import browser_page, log_in_staff, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(base_url, csrf_on):
    """desk() -> a fresh Chinese office screen (1280x800) of its own browser: one person per screen."""

    def open_one():
        return browser_page(base_url, width=1280, height=800, locale="zh-CN", accept_dialogs=True)

    return open_one


def log_in(page, user) -> None:
    log_in_staff(page, user.username, PASSWORD)


def test_a_cashier_proposes_and_another_manager_approves(desk, shop, make_account, make_staff, site):
    target = make_account(site=site, code="A102", name="Bakery (new lease)")
    cashier = make_staff(role=Role.CASHIER, sites=[site], username="alice")
    manager = make_staff(role=Role.MANAGER, sites=[site], username="mary")

    with desk() as page:
        log_in(page, cashier)
        page.goto(f"/staff/counter/a/{shop.id}")
        form = page.locator("#transfer form")
        form.locator("input[name=target]").fill("A102")
        form.locator("input[name=amount]").fill("60")
        form.locator("input[name=reason]").fill("new lease")
        form.locator("button[type=submit]").click()
        expect(page.locator("#counter-waiting li")).to_have_count(1)  # waiting for a manager, nothing moved
        screenshot(page, "counter-transfer-proposed")
        assert balance(shop) == 10_000

    [proposal] = db.session.scalars(select(Proposal)).all()
    with desk() as page:
        log_in(page, manager)
        page.goto("/staff/approvals")
        row = page.locator(f"#proposal-{proposal.id}")
        expect(row).to_have_attribute("data-status", "proposed")
        screenshot(page, "approvals-proposed")
        row.locator("button.act-approve").click()  # hx-confirm, accepted
        expect(page.locator(f"#proposal-{proposal.id}")).to_have_attribute("data-status", "approved")
        expect(page.locator(f"#proposal-{proposal.id} [data-testid=proposal-receipt]")).to_be_visible()
        screenshot(page, "approvals-approved")

    db.session.expire_all()
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.TRANSFER)).all()
    assert {(e.actor, e.approved_by) for e in entries} == {(cashier.actor, manager.actor)}
    assert (balance(shop), balance(target)) == (4_000, 6_000)


def test_a_manager_cannot_approve_their_own_proposal(desk, shop, make_staff, site):
    manager = make_staff(role=Role.MANAGER, sites=[site], username="mary")
    with desk() as page:
        log_in(page, manager)
        page.goto(f"/staff/counter/a/{shop.id}")
        form = page.locator("#adjust form")
        form.locator("input[name=amount]").fill("12.50")
        form.locator("input[name=reason]").fill("meter fault")
        form.locator("button[type=submit]").click()
        expect(page.locator("#counter-waiting li")).to_have_count(1)

        [proposal] = db.session.scalars(select(Proposal)).all()
        page.goto("/staff/approvals")
        row = page.locator(f"#proposal-{proposal.id}")
        expect(row.get_by_test_id("own-proposal")).to_be_visible()
        expect(row.locator("button.act-approve")).to_have_count(0)

        # Sent anyway (a hand-made request with the page's own CSRF token): refused, shown in the row.
        page.evaluate("""id => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = `/staff/approvals/${id}/approve`;
            const token = document.querySelector('meta[name=csrf-token]').content;
            form.innerHTML = `<input type="hidden" name="csrf_token" value="${token}">`;
            document.body.append(form);
            form.submit();
        }""", proposal.id)
        page.wait_for_url(re.compile(r"/staff/approvals$"))
        expect(page.locator(".flash-error")).to_be_visible()

    db.session.expire_all()
    assert db.session.get(Proposal, proposal.id).status == ProposalStatus.PROPOSED
    assert balance(shop) == 10_000
