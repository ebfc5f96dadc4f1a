"""Stored text is shown as text: a shop named like a script is escaped on the tenant's and the staff's pages."""
from __future__ import annotations

from portal.models import Role

NAME = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_a_shop_name_that_looks_like_markup_is_escaped_everywhere_it_is_shown(client, login, make_account,
                                                                              make_meter, make_tenant, make_staff):
    shop = make_account(name=NAME)
    make_meter(account=shop)
    login.tenant(make_tenant([shop]), shop)
    pages = [client.get(f"/t/a/{shop.id}").get_data(as_text=True)]
    client.post("/auth/logout")
    login.staff(make_staff(role=Role.ADMIN))
    pages.append(client.get("/staff/meters", query_string={"q": shop.code}).get_data(as_text=True))
    pages.append(client.get("/staff/counter/", query_string={"q": shop.code}).get_data(as_text=True))
    pages.append(client.get(f"/staff/counter/a/{shop.id}").get_data(as_text=True))
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
    assert sum("&lt;script&gt;alert" in html for html in pages) >= 3
