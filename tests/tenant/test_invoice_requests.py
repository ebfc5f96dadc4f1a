"""Invoice requests (发票) from the tenant: for a payment or a finished month, with a title and a tax id checked
field by field (nothing typed is lost), never twice, and their state shown in the history and on the receipt."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import AuditEntry, InvoiceRequest, InvoiceStatus, InvoiceTitle
from portal.payments.invoices import normal_tax_id, valid_tax_id
from tests.tenant.history_books import at, books, last_month, this_month

HX = {"HX-Request": "true"}
CREDIT_CODE = "91310000MA1FL8XQ3B"


@pytest.fixture
def shop(books, client, login):
    login.tenant(books.tenant, books.account)
    return books


def ask(client, shop, **fields):
    data = {"title_kind": "company", "title": "上海茶舍餐饮有限公司", "tax_id": CREDIT_CODE, "email": "", **fields}
    return client.post(f"/t/a/{shop.account.id}/invoices", data=data, headers=HX)


def requests() -> list[InvoiceRequest]:
    return db.session.scalars(select(InvoiceRequest).order_by(InvoiceRequest.id)).all()


def error_of(html: str, name: str) -> str:
    return re.search(rf'id="{name}-error">(.*?)</p>', html, re.S).group(1)


@pytest.mark.no_db
@pytest.mark.parametrize("tax_id", ["91310000MA1FL8XQ3B", "310101123456789", "12345678901234567890"])
def test_a_tax_id_of_15_18_or_20_digits_and_capitals_is_valid(tax_id):
    assert valid_tax_id(tax_id)


@pytest.mark.no_db
@pytest.mark.parametrize("tax_id", ["", "9131000MA1FL8XQ3B", "91310000MA1FL8XQ3BX", "91310000ma1fl8xq3b",
                                    "91310000MA1FL8XQ3-", "１２３４５６７８９０１２３４５"])
def test_other_tax_ids_are_not(tax_id):
    assert not valid_tax_id(tax_id)


@pytest.mark.no_db
def test_a_tax_id_typed_in_lower_case_with_spaces_is_read_in_capitals():
    assert normal_tax_id(" 91310000ma1fl8 xq3b ") == CREDIT_CODE


def test_a_company_invoice_for_a_payment_is_requested(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    res = ask(client, shop, entry=entry.id, email="finance@example.com")
    assert res.status_code == 204 and res.headers["HX-Redirect"] == f"/t/a/{shop.account.id}/invoices"
    (row,) = requests()
    assert (row.entry_id, row.month, row.amount_fen, row.title_kind, row.tax_id, row.email, row.status) == (
        entry.id, None, 20_000, InvoiceTitle.COMPANY, CREDIT_CODE, "finance@example.com", InvoiceStatus.OPEN)
    assert row.requested_by == shop.tenant.actor
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == row.id)) == "invoice.requested"


def test_a_personal_invoice_has_no_tax_id(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    assert ask(client, shop, entry=entry.id, title_kind="personal", title="王小明", tax_id="").status_code == 204
    assert requests()[0].tax_id is None


def test_a_personal_invoice_with_a_tax_id_is_refused_and_says_why(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    html = ask(client, shop, entry=entry.id, title_kind="personal", title="王小明").get_data(as_text=True)
    assert "个人发票没有税号" in error_of(html, "tax-id")
    assert requests() == []


def test_a_malformed_tax_id_is_refused_and_everything_typed_is_kept(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    res = ask(client, shop, entry=entry.id, tax_id="91310000MA1FL8XQ3", email="finance@example.com")
    assert res.status_code == 200  # htmx swaps it: the form with its errors
    html = res.get_data(as_text=True)
    assert "17" in error_of(html, "tax-id") and "15、18 或 20 位" in error_of(html, "tax-id")
    assert 'value="上海茶舍餐饮有限公司"' in html and 'value="91310000MA1FL8XQ3"' in html
    assert 'value="finance@example.com"' in html and f'name="entry" value="{entry.id}"' in html
    assert requests() == []


def test_without_htmx_a_refused_form_is_the_page_with_422(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    res = client.post(f"/t/a/{shop.account.id}/invoices", data={"entry": entry.id, "title_kind": "company",
                                                                "title": "", "tax_id": ""})
    assert res.status_code == 422
    html = res.get_data(as_text=True)
    assert "<html" in html and error_of(html, "title") and error_of(html, "tax-id")


def test_a_company_invoice_needs_a_tax_id_and_a_title(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    html = ask(client, shop, entry=entry.id, title="  ", tax_id="").get_data(as_text=True)
    assert "抬头" in error_of(html, "title") and "税号" in error_of(html, "tax-id")


def test_a_bad_email_is_refused(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    html = ask(client, shop, entry=entry.id, email="finance at example").get_data(as_text=True)
    assert "name@example.com" in error_of(html, "email")
    assert requests() == []


def test_a_title_kind_that_is_neither_is_refused(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    assert "企业" in ask(client, shop, entry=entry.id, title_kind="govt").get_data(as_text=True)
    assert requests() == []


def test_a_second_request_for_the_same_payment_is_refused(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    assert ask(client, shop, entry=entry.id).status_code == 204
    html = ask(client, shop, entry=entry.id, title="另一家公司").get_data(as_text=True)
    assert re.search(r'data-testid="form-error">[^<]*已申请', html)
    assert 'value="另一家公司"' in html
    assert len(requests()) == 1


def test_the_database_refuses_two_open_requests_for_one_payment(shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    for _ in range(2):
        db.session.add(InvoiceRequest(account_id=shop.account.id, entry_id=entry.id, amount_fen=20_000,
                                      title_kind=InvoiceTitle.PERSONAL, title="x", requested_by="tenant:1"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_month_is_invoiced_for_its_payments_net_of_refunds(client, shop):
    month = last_month()
    shop.payment(20_000, at(month, 9))
    shop.cash(5_000, at(month.replace(day=2), 9))
    shop.refund(3_000, at(month.replace(day=3), 9))
    shop.payment(7_700, at(this_month(), 0, 30))  # not that month
    assert ask(client, shop, month=f"{month:%Y-%m}").status_code == 204
    (row,) = requests()
    assert (row.month, row.entry_id, row.amount_fen) == (f"{month:%Y-%m}", None, 22_000)


def test_a_second_request_for_the_same_month_is_refused(client, shop):
    shop.payment(20_000, at(last_month(), 9))
    assert ask(client, shop, month=f"{last_month():%Y-%m}").status_code == 204
    html = ask(client, shop, month=f"{last_month():%Y-%m}").get_data(as_text=True)
    assert re.search(r'data-testid="form-error">[^<]*本月', html)
    assert len(requests()) == 1


def test_a_payment_of_a_month_invoiced_as_a_whole_is_not_invoiced_again(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    assert ask(client, shop, month=f"{last_month():%Y-%m}").status_code == 204
    assert 'data-testid="form-error"' in ask(client, shop, entry=entry.id).get_data(as_text=True)
    assert len(requests()) == 1


def test_a_month_not_over_or_without_payments_is_refused(client, shop):
    shop.payment(20_000, at(this_month(), 0, 30))
    assert 'data-testid="form-error"' in ask(client, shop, month=f"{this_month():%Y-%m}").get_data(as_text=True)
    assert 'data-testid="form-error"' in ask(client, shop, month=f"{last_month():%Y-%m}").get_data(as_text=True)
    assert requests() == []


def test_another_shops_payment_cannot_be_invoiced(client, shop, make_account, make_tenant):
    from tests.tenant.history_books import Books  # here: a second shop's books, for this test only

    other = make_account(code="H400")
    make_tenant([other])
    theirs = Books(other, None, None).payment(9_900, at(last_month(), 9))
    assert ask(client, shop, entry=theirs.id).status_code == 404
    assert client.get(f"/t/a/{other.id}/invoices").status_code == 404
    assert requests() == []


def test_the_request_state_shows_in_the_history_and_on_the_receipt(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    other = shop.payment(1_000, at(last_month(), 10))
    ask(client, shop, entry=entry.id)
    page = client.get(f"/t/a/{shop.account.id}/history?month={last_month():%Y-%m}").get_data(as_text=True)
    row = re.search(rf'data-entry="{entry.id}".*?</span>\s*</div>', page, re.S).group(0)
    assert 'data-invoice="open"' in row and "已申请发票" in row
    other_row = re.search(rf'data-entry="{other.id}".*?</span>\s*</div>', page, re.S).group(0)
    assert f"/invoices/new?entry={other.id}" in other_row
    row_db = requests()[0]
    row_db.status, row_db.invoice_no, row_db.issued_by = InvoiceStatus.ISSUED, "24312000000012345678", "staff:c"
    db.session.commit()
    receipt = client.get(f"/t/a/{shop.account.id}/receipts/{entry.id}").get_data(as_text=True)
    assert 'data-invoice="issued"' in receipt and "24312000000012345678" in receipt
    listed = client.get(f"/t/a/{shop.account.id}/invoices").get_data(as_text=True)
    assert "24312000000012345678" in listed and CREDIT_CODE in listed


def test_the_form_is_in_english_on_request(client, shop):
    entry = shop.payment(20_000, at(last_month(), 9))
    html = client.get(f"/t/a/{shop.account.id}/invoices/new?entry={entry.id}",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Request an invoice" in html and "Tax id" in html
