"""/staff/invoices: the tenants' invoice requests (发票) of the user's sites, for the roles that handle money
(cashiers, managers; auditors read), filtered open/issued, and marked issued with the invoice number, audited."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import AuditEntry, EntryKind, InvoiceRequest, InvoiceStatus, InvoiceTitle, Role, utcnow

URL = "/staff/invoices"
HTMX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def sites(make_site):
    return make_site("HERE", name="Riverside"), make_site("THERE", name="Hilltop")


@pytest.fixture
def asked(sites, make_account):
    """An open request at each site: a payment of HERE's shop, a month of THERE's."""
    here, there = make_account(site=sites[0], code="R1", name="Noodles"), make_account(site=sites[1], code="T1")
    entry = post_entry(db.session, here, 20_000, EntryKind.CASH, "cash:test:inv", method="cash").entry
    rows = [InvoiceRequest(account_id=here.id, entry_id=entry.id, amount_fen=20_000, title_kind=InvoiceTitle.COMPANY,
                           title="上海面馆有限公司", tax_id="91310000MA1FL8XQ3B", email="a@example.com",
                           requested_by="tenant:1"),
            InvoiceRequest(account_id=there.id, month="2026-10", amount_fen=5_000, title_kind=InvoiceTitle.PERSONAL,
                           title="李四", requested_by="tenant:2")]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def staff(make_staff, login, role, sites):
    user = make_staff(role=role, sites=sites)
    login.staff(user)
    return user


def listed(client, query: str = "") -> set[int]:
    html = client.get(URL + query).get_data(as_text=True)
    return {int(n) for n in re.findall(r'<tr id="invoice-\d+" data-invoice-request="(\d+)"', html)}


@pytest.mark.parametrize("role", [Role.CASHIER, Role.MANAGER])
def test_cashiers_and_managers_see_the_requests_of_their_own_sites(client, login, make_staff, sites, asked, role):
    staff(make_staff, login, role, [sites[0]])
    assert listed(client) == {asked[0].id}


def test_an_admin_sees_every_site_and_may_narrow_to_one(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.ADMIN, [])
    assert listed(client) == {asked[0].id, asked[1].id}
    assert listed(client, f"?site={sites[1].id}") == {asked[1].id}


def test_another_sites_filter_is_404(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.CASHIER, [sites[0]])
    assert client.get(f"{URL}?site={sites[1].id}").status_code == 404


def test_an_electrician_may_not_open_the_page(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.OPERATOR, [sites[0]])
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": "1"}).status_code == 403
    assert asked[0].status == InvoiceStatus.OPEN


def test_the_page_is_in_the_navigation_of_those_who_may_open_it(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.CASHIER, [sites[0]])
    assert f'href="{URL}"' in client.get("/staff/").get_data(as_text=True)
    client.post("/auth/logout")
    staff(make_staff, login, Role.OPERATOR, [sites[0]])
    assert f'href="{URL}"' not in client.get("/staff/").get_data(as_text=True)


def test_an_auditor_reads_the_list_but_marks_nothing(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.AUDITOR, [sites[0]])
    html = client.get(URL).get_data(as_text=True)
    assert "上海面馆有限公司" in html and 'name="invoice_no"' not in html
    assert client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": "1"}).status_code == 403


def test_the_list_shows_what_the_invoice_is_for(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.MANAGER, list(sites))
    html = client.get(URL, headers=EN).get_data(as_text=True)
    assert "91310000MA1FL8XQ3B" in html and "a@example.com" in html and "¥200.00" in html
    assert "Payments of 2026-10" in html and "personal, no tax id" in html
    assert re.search(r"Receipt no\. \d{4}-\d{6}", html)


def test_marking_issued_records_the_number_and_audits_it(client, login, make_staff, sites, asked):
    user = staff(make_staff, login, Role.CASHIER, [sites[0]])
    res = client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": " 24312000000012345678 "}, headers=HTMX)
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert html.startswith(f'<tr id="invoice-{asked[0].id}"') and 'data-status="issued"' in html
    db.session.expire_all()
    row = db.session.get(InvoiceRequest, asked[0].id)
    assert (row.status, row.invoice_no, row.issued_by) == (InvoiceStatus.ISSUED, "24312000000012345678", user.actor)
    assert row.issued_at > utcnow() - timedelta(minutes=1)
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "invoice.issued")).all()
    assert (entry.actor, entry.target_type, entry.target_id, entry.site_id) == (
        user.actor, "invoice_request", row.id, sites[0].id)
    assert entry.detail["invoice_no"] == "24312000000012345678" and entry.detail["amount_fen"] == 20_000


def test_issued_requests_leave_the_open_list_for_the_issued_one(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.MANAGER, [sites[0]])
    client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": "00012345"})
    assert listed(client) == set()
    assert listed(client, "?status=issued") == {asked[0].id} == listed(client, "?status=all")


def test_an_unknown_state_filter_is_400(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.MANAGER, [sites[0]])
    assert client.get(f"{URL}?status=lost").status_code == 400


def test_a_missing_or_malformed_invoice_number_is_refused_in_the_row(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.CASHIER, [sites[0]])
    for number in ("", "发票一号", "x" * 41):
        html = client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": number}, headers=HTMX).get_data(
            as_text=True)
        assert 'role="alert"' in html and "40" in html
    db.session.expire_all()
    assert db.session.get(InvoiceRequest, asked[0].id).status == InvoiceStatus.OPEN
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "invoice.issued")).all() == []


def test_an_issued_request_is_not_issued_twice(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.CASHIER, [sites[0]])
    client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": "00012345"})
    html = client.post(f"{URL}/{asked[0].id}/issue", data={"invoice_no": "00099999"}, headers=HTMX).get_data(
        as_text=True)
    assert "已开具" in html and 'role="alert"' in html
    db.session.expire_all()
    assert db.session.get(InvoiceRequest, asked[0].id).invoice_no == "00012345"


def test_another_sites_request_is_404(client, login, make_staff, sites, asked):
    staff(make_staff, login, Role.CASHIER, [sites[0]])
    assert client.post(f"{URL}/{asked[1].id}/issue", data={"invoice_no": "00012345"}).status_code == 404
    assert client.post(f"{URL}/99999999/issue", data={"invoice_no": "00012345"}).status_code == 404
