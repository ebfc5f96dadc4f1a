"""Binding inside WeChat by the shop's binding code (when the phone on file is not the visitor's): the WeChat OAuth
driven against its stand-in, wrong codes refused and limited per WeChat user and per address as on /auth/tenant/bind.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from portal.auth.binding import hash_binding_code
from portal.auth.wechat import OPENID_KEY
from portal.extensions import db
from portal.models import AuditEntry, TenantUser
from tests.auth.test_login_guards import limited
from tests.payments.wechat_fixtures import no_wechat, wechat_keys, wechat_standin, wechat_v2

CODE = "K7QM4XR2"


@pytest.fixture
def shop(make_account, make_tenant):
    """A0101, its tenant on file with a phone that is not the WeChat visitor's, and a binding code."""
    account = make_account(code="A0101", phone="13900000001", tenant_name="王老板")
    account.binding_code_hash = hash_binding_code(CODE)
    db.session.commit()
    return account, make_tenant([account], phone="13900000001")


@pytest.fixture
def wechat(client, wechat_v2):
    """Run start → WeChat's authorize page → callback: the visitor lands on the bind page with an openid pending."""
    def login():
        start = client.get("/auth/wechat/start")
        back = urlsplit(requests.get(start.location, allow_redirects=False, timeout=10).headers["Location"])
        response = client.get(f"{back.path}?{back.query}")
        assert response.location.endswith("/auth/wechat/bind")
        return wechat_v2.oauth_openid

    return login


def logged_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def bind(client, account="A0101", code="", phone="", address="198.51.100.1"):
    return client.post("/auth/wechat/bind", data={"account": account, "phone": phone, "binding_code": code},
                       headers={"Accept-Language": "en"}, environ_base={"REMOTE_ADDR": address})


def test_the_bind_page_asks_for_the_binding_code_too(client, wechat):
    wechat()
    html = client.get("/auth/wechat/bind", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert 'name="binding_code"' in html and "绑定码" in html


def test_the_binding_code_binds_the_shop_to_this_wechat_and_logs_in(client, shop, wechat):
    account, on_file = shop
    openid = wechat()

    done = bind(client, code="k7qm-4xr2")

    assert done.status_code == 302 and done.location.endswith("/t/")
    tenant = db.session.scalars(select(TenantUser).where(TenantUser.wechat_openid == openid)).one()
    assert [a.id for a in tenant.accounts] == [account.id] and tenant.phone is None and tenant.name == "王老板"
    assert logged_in_as(client) == f"tenant:{tenant.id}"
    db.session.expire_all()
    assert on_file.wechat_openid is None and [a.id for a in on_file.accounts] == [account.id]  # theirs still
    audited = db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor == tenant.actor)).all()
    assert sorted(audited) == ["tenant.bound", "tenant.wechat_bound"]


def test_a_wechat_known_without_a_shop_binds_as_the_same_tenant(client, shop, wechat, wechat_v2):
    earlier = TenantUser(name="", wechat_openid=wechat_v2.oauth_openid)
    db.session.add(earlier)
    db.session.commit()
    wechat()
    assert bind(client, code=CODE).status_code == 302
    assert logged_in_as(client) == f"tenant:{earlier.id}"
    assert db.session.scalar(select(TenantUser).where(TenantUser.wechat_openid.is_not(None))).id == earlier.id


def test_a_wrong_binding_code_binds_nothing_and_says_so(client, shop, wechat):
    openid = wechat()
    refused = bind(client, code="WRONG234")
    assert refused.status_code == 200 and "No shop has that account code and binding code" in refused.get_data(
        as_text=True)
    assert logged_in_as(client) is None
    assert db.session.scalar(select(TenantUser).where(TenantUser.wechat_openid == openid)) is None


def test_a_binding_code_of_another_shop_binds_nothing(client, shop, wechat, make_account):
    other = make_account(code="B0202")
    other.binding_code_hash = hash_binding_code("ZZZZ2222")
    db.session.commit()
    wechat()
    assert bind(client, account="B0202", code=CODE).status_code == 200
    assert logged_in_as(client) is None


def test_neither_phone_nor_binding_code_is_asked_for_again(client, shop, wechat):
    wechat()
    refused = bind(client)
    assert refused.status_code == 200 and "or its binding code" in refused.get_data(as_text=True)
    assert logged_in_as(client) is None


def test_the_phone_on_file_still_binds(client, shop, wechat):
    _, on_file = shop
    wechat()
    assert bind(client, phone="13900000001").status_code == 302
    assert logged_in_as(client) == f"tenant:{on_file.id}"


# --- limits ---------------------------------------------------------------------------------------------------

def pending(client, openid: str) -> None:
    """The state the callback leaves: this openid waits for a shop."""
    with client.session_transaction() as session:
        session[OPENID_KEY] = openid


def test_ten_wrong_binding_codes_hold_the_wechat_user_back(limited, shop):
    client = limited.test_client()
    pending(client, "o-guesser-000000000000000001")
    for n in range(10):
        assert bind(client, code=f"WRONG{n:03d}", address=f"203.0.113.{n}").status_code == 200
    refused = client.post("/auth/wechat/bind", data={"account": "A0101", "binding_code": CODE},
                          environ_base={"REMOTE_ADDR": "203.0.113.99"})
    assert refused.status_code == 429 and "绑定商铺失败次数过多" in refused.get_data(as_text=True)
    assert db.session.scalar(select(TenantUser).where(TenantUser.wechat_openid.is_not(None))) is None


def test_one_address_trying_codes_for_many_wechat_users_is_held_back(limited, shop, monkeypatch):
    import limits.storage.memory as memory

    now = [time.time()]
    monkeypatch.setattr(memory.time, "time", lambda: now[0])
    answers = []
    for n in range(4):  # four WeChat users, ten wrong codes each, a minute apart (under the per-minute limit)
        client = limited.test_client()
        pending(client, f"o-guesser-00000000000000000{n}")
        answers += [bind(client, code="WRONG234").status_code for _ in range(10 if n < 3 else 1)]
        now[0] += 61
    assert answers[:30] == [200] * 30 and answers[30] == 429
