"""Staff pages answer a malformed or out-of-range query parameter with 400, never a 500: the review's
`page=99999999999999999999`, `day=9999-12-31` and `month=0000-01` were 500s, and a NUL in a search or an id past
the integer columns in a path failed in PostgreSQL."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import AllocationGroup, AllocationMethod, Role


@pytest.fixture
def admin(login, make_staff, make_site):
    make_site("mall")
    login.staff(make_staff(role=Role.ADMIN))


@pytest.mark.parametrize("url", [
    "/staff/meters?page=99999999999999999999",
    "/staff/meters?gateway=99999999999999999999",
    "/staff/meters?gateway=gw1",
    "/staff/meters?page=0",
    "/staff/meters?page=two",
    "/staff/counter/report?day=9999-12-31",
    "/staff/counter/report?day=0001-01-01",
    "/staff/counter/report?day=2026-02-30",
    "/staff/counter/report?site=99999999999999999999",
    "/staff/counter/report?site=mall",
    "/staff/billing/?site=99999999999999999999",
    "/staff/billing/line-loss?month=0000-01",
    "/staff/billing/report?month=0000-01",
    "/staff/billing/report?month=9999-12",
    "/staff/reports/statement?page=99999999999999999999",
])
def test_an_out_of_range_or_malformed_parameter_is_400(client, admin, url):
    res = client.get(url)
    assert res.status_code == 400
    name = url.rsplit("?", 1)[1].split("=")[0]
    assert f"{name} 必须" in res.get_data(as_text=True)  # the page's language, naming the parameter
    client.get("/auth/lang/en")
    assert f"{name} must be" in client.get(url).get_data(as_text=True)


def test_an_allocation_period_that_is_no_month_is_400(client, admin, make_site):
    site = make_site("other")
    group = AllocationGroup(site_id=site.id, code="LIGHTS", name="Lights", method=AllocationMethod.AREA)
    db.session.add(group)
    db.session.commit()
    assert client.get(f"/staff/billing/groups/{group.id}?period=2026-01").status_code == 200
    assert client.get(f"/staff/billing/groups/{group.id}?period=0000-01").status_code == 400


@pytest.mark.parametrize("url", ["/staff/meters?q=%00", "/staff/counter/?q=A%001",
                                 "/staff/billing/report?month=2026-01%00", "/staff/meters?q=A&q=%00", "/staff/?%00=1"])
def test_a_nul_character_in_the_query_is_400(client, admin, url):
    assert client.get(url).status_code == 400


def test_a_nul_character_in_a_form_is_400(client, login, make_staff, make_account):
    acct = make_account(balance_fen=0)
    login.staff(make_staff(role=Role.CASHIER, sites=[acct.site]))
    res = client.post(f"/staff/counter/a/{acct.id}/recharge",
                      data={"amount": "10", "method": "cash", "note": "paid\x00", "key": "form-1"})
    assert res.status_code == 400


@pytest.mark.parametrize("url", ["/staff/counter/a/99999999999999999999", "/staff/billing/groups/2147483648"])
def test_an_id_past_the_integer_columns_is_no_row(client, admin, url):
    assert client.get(url).status_code == 404


def test_parameters_in_range_still_answer(client, admin):
    for url in ("/staff/?page=2", "/staff/counter/report?day=2026-01-31",
                "/staff/reports/statement?month=2026-01&page=1", "/staff/billing/line-loss?month=2000-01"):
        assert client.get(url).status_code == 200, url
