"""A signed-in tenant links a shop: its account code with their phone on file, or with its binding code; wrong codes
are refused and limited per user and per address; binding codes are kept only as salted scrypt hashes."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from portal.auth.binding import (
    ALPHABET,
    binding_code_matches,
    hash_binding_code,
    issue_binding_codes,
    new_binding_code,
)
from portal.extensions import db
from portal.models import AccountStatus, AuditEntry, TenantBinding, TenantUser
from tests.auth.conftest import HX, sms_steps
from tests.auth.test_login_guards import limited

PHONE = "13912345678"


def bound_ids(phone: str = PHONE) -> set[int]:
    """The shops the tenant with this phone is bound to."""
    db.session.expire_all()
    return set(db.session.scalars(select(TenantBinding.account_id).join(
        TenantUser, TenantUser.id == TenantBinding.tenant_user_id).where(TenantUser.phone == phone)))


def with_code(account, code: str = "K7QM4XR2"):
    account.binding_code_hash = hash_binding_code(code)
    db.session.commit()
    return account


def bind(client, account: str, binding_code: str = "", address: str = "198.51.100.1", **headers):
    return client.post("/auth/tenant/bind", data={"account": account, "binding_code": binding_code},
                       headers=headers, environ_base={"REMOTE_ADDR": address})


# --- the codes ------------------------------------------------------------------------------------------------

def test_a_binding_code_is_eight_characters_without_look_alikes():
    codes = {new_binding_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(re.fullmatch(f"[{ALPHABET}]{{8}}", c) for c in codes)
    assert not set("01OI") & set(ALPHABET) and len(ALPHABET) == 32


def test_a_binding_code_is_kept_as_a_salted_scrypt_hash_that_fits_its_column():
    first, second = hash_binding_code("K7QM4XR2"), hash_binding_code("K7QM4XR2")
    assert first != second and "K7QM4XR2" not in first
    assert first.startswith("scrypt:16384:8:1$") and len(first) <= 128
    assert binding_code_matches(first, "K7QM4XR2") and binding_code_matches(second, "k7qm-4xr2 ")
    assert not binding_code_matches(first, "K7QM4XR3") and not binding_code_matches(None, "K7QM4XR2")
    assert not binding_code_matches("nonsense", "K7QM4XR2")


def test_issuing_skips_shops_with_a_code_unless_reissued(make_account):
    shop = make_account()
    [(_, first)] = issue_binding_codes(db.session, [shop], "test")
    assert issue_binding_codes(db.session, [shop], "test") == []
    token = shop.sticker_token
    [(_, second)] = issue_binding_codes(db.session, [shop], "test", reissue=True)
    assert binding_code_matches(shop.binding_code_hash, second)
    assert not binding_code_matches(shop.binding_code_hash, first)  # the printed code stops working
    assert shop.sticker_token == token  # the sticker's QR code stays good


# --- binding --------------------------------------------------------------------------------------------------

@pytest.fixture
def signed_in(client, make_account):
    """A tenant signed in by SMS with a phone on no shop's file (so bound to nothing yet)."""
    assert sms_steps(client).sign_in(PHONE).headers["Location"] == "/auth/tenant/bind"
    return client


def test_the_binding_page_needs_a_tenant_session(client):
    answer = client.get("/auth/tenant/bind")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/tenant/login")


def test_the_binding_page_says_which_phone_is_enough(signed_in):
    page = signed_in.get("/auth/tenant/bind").get_data(as_text=True)
    assert "139****5678" in page and 'name="binding_code"' in page


def test_the_account_code_is_enough_when_the_tenants_phone_is_on_file(signed_in, make_account):
    shop = make_account(code="S100", phone=PHONE)
    make_account(code="S101", phone=PHONE)
    answer = bind(signed_in, "S100")
    assert answer.status_code == 303 and answer.headers["Location"] == f"/t/a/{shop.id}"
    assert bound_ids() == {shop.id}
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "tenant.bound")).one().detail == {
        "by": "phone"}
    assert signed_in.get(f"/t/a/{shop.id}").status_code == 200


def test_without_the_phone_on_file_the_account_code_alone_binds_nothing(signed_in, make_account):
    make_account(code="S100", phone="13700000000")
    partial = bind(signed_in, "S100", **HX)
    assert partial.status_code == 200 and 'data-testid="bind-error"' in partial.get_data(as_text=True)
    assert bind(signed_in, "S100").status_code == 422
    assert bound_ids() == set()


def test_the_binding_code_binds_the_shop(signed_in, make_account):
    shop = with_code(make_account(code="S100", phone="13700000000"))
    answer = bind(signed_in, "S100", "k7qm-4xr2", **HX)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == f"/t/a/{shop.id}"
    assert bound_ids() == {shop.id}
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "tenant.bound")).one().detail == {
        "by": "binding_code"}


def test_a_wrong_binding_code_is_refused(signed_in, make_account):
    with_code(make_account(code="S100"))
    with_code(make_account(code="S200"), "ABCD2345")
    for account, code in (("S100", "K7QM4XR3"), ("S100", "ABCD2345"), ("S999", "K7QM4XR2"), ("S100", "K7QM")):
        assert bind(signed_in, account, code).status_code == 422
    assert bound_ids() == set()


def test_the_same_account_code_on_two_sites_binds_only_the_shop_of_the_code(signed_in, make_account, make_site):
    here = with_code(make_account(code="S100"))
    with_code(make_account(site=make_site(), code="S100"), "ABCD2345")
    bind(signed_in, "S100", "K7QM4XR2")
    assert bound_ids() == {here.id}


def test_a_closed_shop_cannot_be_bound(signed_in, make_account):
    with_code(make_account(code="S100", phone=PHONE, status=AccountStatus.CLOSED))
    assert bind(signed_in, "S100").status_code == 422
    assert bind(signed_in, "S100", "K7QM4XR2").status_code == 422
    assert bound_ids() == set()


def test_binding_a_shop_again_changes_nothing(signed_in, make_account):
    shop = make_account(code="S100", phone=PHONE)
    bind(signed_in, "S100")
    assert bind(signed_in, "S100").headers["Location"] == f"/t/a/{shop.id}"
    assert db.session.scalar(select(func.count()).select_from(TenantBinding)) == 1


def test_a_staff_session_is_sent_to_the_tenant_login(client, login, make_staff):
    login.staff(make_staff())
    assert client.get("/auth/tenant/bind").headers["Location"].startswith("/auth/tenant/login")


# --- limits ---------------------------------------------------------------------------------------------------

def test_ten_wrong_binding_codes_hold_the_tenant_back(limited, make_account):
    with_code(make_account(code="S100"))
    client = limited.test_client()
    sms_steps(client).sign_in(PHONE)
    for n in range(10):
        assert bind(client, "S100", f"WRONG{n:03d}", address=f"203.0.113.{n}").status_code == 422
    refused = bind(client, "S100", "K7QM4XR2", address="203.0.113.99")
    assert refused.status_code == 429 and "绑定商铺失败次数过多" in refused.get_data(as_text=True)
    assert bound_ids() == set()


def test_one_address_trying_codes_for_many_tenants_is_held_back(limited, make_account, monkeypatch):
    import limits.storage.memory as memory

    with_code(make_account(code="S100"))
    now = [time.time()]
    monkeypatch.setattr(memory.time, "time", lambda: now[0])
    answers = []
    for n in range(4):  # four tenants, ten wrong codes each, a minute apart (under the per-minute limit)
        client = limited.test_client()
        sms_steps(client).sign_in(f"1390000000{n}")
        answers += [bind(client, "S100", "WRONG234").status_code for _ in range(10 if n < 3 else 1)]
        now[0] += 61
    assert answers[:30] == [422] * 30 and answers[30] == 429
