"""The counter finds a shop by its tenant's name and phone too, within the cashier's sites only."""
from __future__ import annotations

import re

import pytest

from portal.models import Role


@pytest.fixture
def shops(make_site, make_account, make_staff, make_tenant, login):
    mall, other = make_site("mall"), make_site("other")
    make_account(site=mall, code="A101", name="Bakery", tenant_name="王小明", phone="13900001111")
    bound = make_account(site=mall, code="A102", name="Florist")
    make_tenant([bound], phone="13712345678")
    make_account(site=other, code="B201", name="Tea", tenant_name="王大明", phone="13900002222")
    login.staff(make_staff(role=Role.CASHIER, sites=[mall]))


def found(client, q: str) -> list[str]:
    html = client.get("/staff/counter/", query_string={"q": q}, headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r'data-account="([^"]+)"', html)


def test_the_counter_finds_a_shop_by_tenant_name(client, shops):
    assert found(client, "小明") == ["A101"]


def test_the_counter_finds_a_shop_by_the_phone_on_file(client, shops):
    assert found(client, "0001111") == ["A101"]


def test_the_counter_finds_a_shop_by_a_bound_tenant_users_phone(client, shops):
    assert found(client, "13712345678") == ["A102"]


def test_the_search_never_reaches_another_site(client, shops):
    assert found(client, "王") == ["A101"] and found(client, "13900002222") == []
