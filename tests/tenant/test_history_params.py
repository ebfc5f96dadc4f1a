"""The tenant's history takes a month of 2000..2100: `history?month=0001-01` was a 500 (the month before it does
not exist), and so were an account id past the integer columns and a NUL in the month."""
from __future__ import annotations

import pytest


@pytest.fixture
def tenant_shop(client, login, make_account, make_tenant):
    acct = make_account()
    login.tenant(make_tenant([acct]), acct)
    return acct


@pytest.mark.parametrize("month", ["0001-01", "0000-01", "9999-12", "1999-12", "2026-13", "2026-1", "%00"])
def test_a_month_out_of_range_or_malformed_is_400(client, tenant_shop, month):
    res = client.get(f"/t/a/{tenant_shop.id}/history?month={month}")
    assert res.status_code == 400


def test_a_month_in_range_is_shown(client, tenant_shop):
    assert client.get(f"/t/a/{tenant_shop.id}/history?month=2000-01").status_code == 200


def test_an_account_id_past_the_integer_columns_is_404(client, tenant_shop):
    assert client.get("/t/a/99999999999999999999/history").status_code == 404
