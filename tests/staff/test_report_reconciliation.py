"""Reconciliation results (/staff/reports/reconciliation): each mismatch with what to do, scoped to the user's
site, the month's days with their counts, crediting a payment the bill shows exactly once, downloading again."""
from __future__ import annotations

import io
from datetime import datetime, time, timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEntry,
    BillLine,
    Channel,
    EntryKind,
    LedgerEntry,
    OrderStatus,
    OutboxMessage,
    PaymentOrder,
    Role,
    utcnow,
)
from portal.payments.reconciliation import BILL_TZ
from portal.queue.names import RECONCILE_DAY

EN = {"Accept-Language": "en"}
DAY = utcnow().astimezone(BILL_TZ).date() - timedelta(days=1)
NOON = datetime.combine(DAY, time(12), BILL_TZ)


def order(account, no: str, fen: int, status: OrderStatus, trade: str | None = None) -> PaymentOrder:
    o = PaymentOrder(out_trade_no=no, account_id=account.id, amount_fen=fen, channel=Channel.ALIPAY_WAP,
                     status=status, platform_trade_no=trade, expires_at=NOON, paid_at=NOON,
                     credited_at=NOON if status == OrderStatus.CREDITED else None)
    db.session.add(o)
    db.session.flush()
    return o


def on_bill(no: str, trade: str, fen: int) -> None:
    db.session.add(BillLine(source="alipay", bill_date=DAY, kind="payment", out_trade_no=no, platform_trade_no=trade,
                            amount_fen=fen, paid_at=NOON))


@pytest.fixture
def bills(make_site, make_account):
    """The mall (the first site: trades we have no order for are filed under it) and a stranger site, with one
    mismatch of each kind: LOST paid not credited, FOREIGN no order of ours, OFFBILL credited on no bill,
    DIFFERS billed 9.00 for a 10.00 order; STRANGER the other site's payment not credited."""
    mall, other = make_site("mall"), make_site("other")
    shop, theirs = make_account(site=mall, code="A1"), make_account(site=other, code="B1")
    lost = order(shop, "LOST", 1500, OrderStatus.PAID, "P-LOST")
    order(shop, "OFFBILL", 3000, OrderStatus.CREDITED, "P-OFF")
    order(shop, "DIFFERS", 1000, OrderStatus.CREDITED, "P-DIFF")
    order(shop, "GOOD", 2000, OrderStatus.CREDITED, "P-GOOD")
    stranger = order(theirs, "STRANGER", 700, OrderStatus.PAID, "P-STR")
    for no, trade, fen in (("LOST", "P-LOST", 1500), ("FOREIGN", "P-FOR", 4200), ("DIFFERS", "P-DIFF", 900),
                           ("GOOD", "P-GOOD", 2000), ("STRANGER", "P-STR", 700)):
        on_bill(no, trade, fen)
    db.session.commit()
    return mall, other, lost, stranger


def page(client, site="mall", day=DAY, **kw) -> str:
    return client.get(f"/staff/reports/reconciliation?site={site}&day={day.isoformat()}", **kw).get_data(as_text=True)


def row(html: str, no: str) -> str:
    return html.split(f'data-order="{no}"')[1].split("</tr>")[0]


def test_each_kind_appears_with_its_advice_and_a_stranger_sites_orders_do_not(client, login, make_staff, bills):
    mall, _other, _lost, _stranger = bills
    login.staff(make_staff(role=Role.MANAGER, sites=[mall]))
    html = page(client, headers=EN)
    assert 'data-kind="paid_not_credited" data-order="LOST"' in html
    assert 'data-kind="paid_not_credited" data-order="FOREIGN"' in html
    assert 'data-kind="credited_not_on_bill" data-order="OFFBILL"' in html
    assert 'data-kind="amount_differs" data-order="DIFFERS"' in html
    assert html.count("data-kind=") == 4 and 'data-order="GOOD"' not in html
    assert "STRANGER" not in html and "P-STR" not in html
    assert "its credit never ran" in row(html, "LOST") and 'data-testid="credit-order"' in row(html, "LOST")
    assert "We have no order with this number" in row(html, "FOREIGN") and "credit-order" not in row(html, "FOREIGN")
    assert "download it again" in row(html, "OFFBILL")
    assert "propose a manual adjustment" in row(html, "DIFFERS") and 'data-testid="refund-link"' in row(html, "DIFFERS")
    assert 'data-source="alipay" data-lines="5"' in html
    assert f'data-day="{DAY.isoformat()}" data-count="4"' in html
    assert 'name="csrf_token"' in html
    assert "已付未入账" in page(client)  # Chinese by default


def test_the_stranger_sites_manager_sees_only_its_own_and_cannot_credit_the_mall(client, login, make_staff, bills):
    _mall, other, lost, _stranger = bills
    login.staff(make_staff(role=Role.MANAGER, sites=[other]))
    html = page(client, site="other")
    assert 'data-order="STRANGER"' in html
    assert all(f'data-order="{no}"' not in html for no in ("LOST", "FOREIGN", "OFFBILL", "DIFFERS"))
    assert client.get(f"/staff/reports/reconciliation?site=mall&day={DAY}").status_code == 404
    res = client.post(f"/staff/reports/reconciliation/orders/{lost.id}/credit", data={"day": DAY.isoformat()})
    assert res.status_code == 404
    assert db.session.get(PaymentOrder, lost.id).status == OrderStatus.PAID


def test_the_credit_button_credits_once_even_when_pressed_twice(client, login, make_staff, bills):
    mall, _other, lost, _stranger = bills
    login.staff(make_staff(role=Role.MANAGER, sites=[mall]))
    for _ in range(2):
        res = client.post(f"/staff/reports/reconciliation/orders/{lost.id}/credit", data={"day": DAY.isoformat()})
        assert res.status_code == 303 and f"day={DAY.isoformat()}" in res.headers["Location"]
    db.session.expire_all()
    assert db.session.get(PaymentOrder, lost.id).status == OrderStatus.CREDITED
    payments = db.session.scalars(select(LedgerEntry.amount_fen).where(LedgerEntry.kind == EntryKind.PAYMENT,
                                                                       LedgerEntry.order_id == lost.id)).all()
    assert payments == [1500]
    outcomes = [e.detail["outcome"] for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "order.credit_from_bill").order_by(AuditEntry.id))]
    assert outcomes == ["credited", "already"]
    assert 'data-order="LOST"' not in page(client)  # reconciled now


def test_an_auditor_reads_but_neither_credits_nor_downloads(client, login, make_staff, bills):
    mall, _other, lost, _stranger = bills
    login.staff(make_staff(role=Role.AUDITOR, sites=[mall]))
    html = page(client)
    assert 'data-order="LOST"' in html and "credit-order" not in html and "download-again" not in html
    assert client.post(f"/staff/reports/reconciliation/orders/{lost.id}/credit",
                       data={"day": DAY.isoformat()}).status_code == 403
    assert client.post("/staff/reports/reconciliation/download?site=mall",
                       data={"day": DAY.isoformat()}).status_code == 403


def test_download_again_queues_the_daily_job_for_that_day(client, login, make_staff, bills):
    mall, _other, _lost, _stranger = bills
    login.staff(make_staff(role=Role.MANAGER, sites=[mall]))
    res = client.post("/staff/reports/reconciliation/download?site=mall", data={"day": DAY.isoformat()})
    assert res.status_code == 303
    [queued] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.job == RECONCILE_DAY.name)).all()
    assert (queued.queue, queued.args) == ("reports", [DAY.isoformat()])
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "bills.download")) == 1
    today = utcnow().astimezone(BILL_TZ).date()  # asked now: the run may have crossed midnight since DAY was set
    client.post("/staff/reports/reconciliation/download?site=mall", data={"day": today.isoformat()})
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.job == RECONCILE_DAY.name)) == 1  # no bill of today yet
    assert client.post("/staff/reports/reconciliation/download?site=mall", data={"day": "2026-13-01"}).status_code \
        == 400


def test_the_months_xlsx_lists_the_sites_mismatches(client, login, make_staff, bills):
    mall, _other, _lost, _stranger = bills
    login.staff(make_staff(role=Role.MANAGER, sites=[mall]))
    res = client.get(f"/staff/reports/reconciliation.xlsx?site=mall&month={DAY:%Y-%m}")
    assert res.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["reconciliation"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][:4] == ["date", "kind", "source", "out_trade_no"]
    by_order = {r[3]: r for r in rows[1:]}
    assert set(by_order) == {"LOST", "FOREIGN", "OFFBILL", "DIFFERS"}
    assert by_order["DIFFERS"][1] == "amount_differs" and by_order["DIFFERS"][6:8] == [9, 10]
    assert by_order["LOST"][5] == "A1" and by_order["FOREIGN"][5] is None


@pytest.mark.parametrize("query", ["day=2026-02-30", "day=0001-01-01", "day=yesterday", "month=2026-13"])
def test_a_malformed_day_or_month_is_a_400(client, login, make_staff, bills, query):
    login.staff(make_staff(role=Role.MANAGER, sites=[bills[0]]))
    assert client.get(f"/staff/reports/reconciliation?site=mall&{query}").status_code == 400
