"""Money through the API: cash recharges and orders refuse a closed account (409), a reused Idempotency-Key with
another body (409), and a recharge that needs a manager's approval (403)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AccountStatus, EntryKind, LedgerEntry, PaymentOrder, Role
from portal.payments.orders import create_order
from portal.staffing.tokens import create_token


@pytest.fixture
def shop(make_site, make_account):
    return make_account(site=make_site("mall"), code="A101", balance_fen=10_000)


@pytest.fixture
def post(client, make_staff, shop):
    """post(path, body, key=None) as a cashier of the shop's site, with a bearer token."""
    token = create_token(make_staff(role=Role.CASHIER, sites=[shop.site]))
    db.session.commit()

    def send(path: str, body: dict, key: str | None = None):
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return client.post(f"/api/v1{path}", json=body, headers=headers)

    return send


def cash_entries() -> list[LedgerEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CASH)))


def closed(shop) -> None:
    shop.status = AccountStatus.CLOSED
    db.session.commit()


def test_a_cash_recharge_for_a_closed_account_is_409(post, shop):
    """The review posted a cash recharge for a closed account through the API: 201."""
    closed(shop)
    res = post("/accounts/A101/cash-recharges", {"amount_fen": 5_000, "note": ""})
    assert res.status_code == 409 and res.get_json()["error"]["code"] == "account_closed"
    assert cash_entries() == []


def test_an_order_for_a_closed_account_is_409(post, shop):
    closed(shop)
    res = post("/orders", {"account": "A101", "amount_fen": 5_000, "channel": "alipay_wap"})
    assert res.status_code == 409 and res.get_json()["error"]["code"] == "account_closed"
    assert db.session.scalars(select(PaymentOrder)).all() == []


def test_a_reused_idempotency_key_with_another_body_is_409(post, shop):
    first = post("/accounts/A101/cash-recharges", {"amount_fen": 5_000, "note": "ERP 1"}, key="erp-1")
    again = post("/accounts/A101/cash-recharges", {"amount_fen": 5_000, "note": "ERP 1"}, key="erp-1")
    other_amount = post("/accounts/A101/cash-recharges", {"amount_fen": 6_000, "note": "ERP 1"}, key="erp-1")
    other_note = post("/accounts/A101/cash-recharges", {"amount_fen": 5_000, "note": "ERP 2"}, key="erp-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.get_json()["entry_id"] == again.get_json()["entry_id"]
    assert other_amount.status_code == other_note.status_code == 409
    assert other_amount.get_json()["error"]["code"] == "idempotency_key_reused"
    assert [(e.amount_fen, e.method) for e in cash_entries()] == [(5_000, "api")]


def test_a_recharge_above_the_counter_limit_needs_the_counter(post, shop):
    shop.site.counter_limit_fen = 100_000
    db.session.commit()
    res = post("/accounts/A101/cash-recharges", {"amount_fen": 100_001, "note": ""})
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "needs_approval"
    assert post("/accounts/A101/cash-recharges", {"amount_fen": 100_000, "note": ""}).status_code == 201


def test_a_cash_recharge_counts_open_orders_against_the_maximum_balance(post, shop):
    shop.site.max_balance_fen = 20_000
    create_order(db.session, shop, 6_000, "alipay_wap", "tenant:1")  # open: the payer is on the pay page
    db.session.commit()
    res = post("/accounts/A101/cash-recharges", {"amount_fen": 5_000, "note": ""})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "above_max_balance"
    assert post("/accounts/A101/cash-recharges", {"amount_fen": 4_000, "note": ""}).status_code == 201
