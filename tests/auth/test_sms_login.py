"""Signing in by SMS code outside WeChat: the code's life (5 minutes, 5 tries, one use, a new one supersedes the old,
a minute between codes), kept only as a keyed hash, the same answer for every number, and where a right code leads.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from portal.auth import login_codes
from portal.auth.login_codes import (
    CODE_TTL,
    Checked,
    PhoneInvalid,
    check_login_code,
    code_matches,
    hash_code,
    issue_login_code,
    normalise_phone,
)
from portal.extensions import db
from portal.models import AccountStatus, AuditEntry, Delivery, LoginCode, TenantBinding, TenantUser, utcnow
from portal.notify.codes import forget_old_codes
from tests.auth.conftest import HX, sent_codes

PHONE = "13912345678"


@pytest.fixture
def fixed_codes(monkeypatch):
    """fixed_codes("111111", "222222"): the next codes made, in order (random ones otherwise)."""

    def fix(*made: str) -> None:
        queue = [int(c) for c in made]
        monkeypatch.setattr(login_codes, "secrets", SimpleNamespace(
            randbelow=lambda _n: queue.pop(0), token_hex=secrets.token_hex))

    return fix


def codes() -> list[LoginCode]:
    db.session.expire_all()
    return list(db.session.scalars(select(LoginCode).order_by(LoginCode.id)))


def issue(phone: str = PHONE, now=None) -> str:
    """A code issued by the verb (at `now`), and the code its SMS carries."""
    assert issue_login_code(db.session, phone, "198.51.100.1", now=now).sent
    db.session.commit()
    return sent_codes(phone)[-1]


def age_codes(seconds: int) -> None:
    """Every code was asked for `seconds` earlier (and expires as much earlier)."""
    for row in codes():
        row.created_at -= timedelta(seconds=seconds)
        row.expires_at -= timedelta(seconds=seconds)
    db.session.commit()


# --- the code -------------------------------------------------------------------------------------------------

def test_asking_queues_a_six_digit_code_as_an_urgent_sms_to_the_number(sms):
    answer = sms.send("139 1234 5678")
    assert answer.status_code == 200
    delivery = db.session.scalars(select(Delivery)).one()
    assert (delivery.event, delivery.recipient, delivery.channel, delivery.urgent) == (
        "login_code", PHONE, "log", True)
    assert re.fullmatch(r"\d{6}", delivery.params["code"])
    assert delivery.params["code"] in delivery.text and delivery.site_id is None
    row = codes()[0]
    assert (row.phone, row.tries, row.used_at, row.address) == (PHONE, 0, None, "198.51.100.1")
    assert row.expires_at - row.created_at == timedelta(minutes=5)


def test_old_codes_are_forgotten_and_sent_messages_lose_their_code():
    code = issue()  # sent at once (the log channel, inline)
    now = utcnow()

    assert forget_old_codes(db.session, now) == (0, 0)  # young: the code may still be typed
    assert forget_old_codes(db.session, now + timedelta(minutes=6)) == (0, 1)
    db.session.commit()
    message = db.session.scalars(select(Delivery)).one()
    assert code not in message.text and message.params == {"code": "••••••"}
    assert forget_old_codes(db.session, now + timedelta(minutes=7)) == (0, 0)  # once
    assert forget_old_codes(db.session, now + timedelta(days=1, minutes=6)) == (1, 0)
    db.session.commit()
    assert codes() == []


def test_the_plain_code_is_never_stored_only_a_keyed_salted_hash(sms):
    sms.send(PHONE)
    code, row = sent_codes(PHONE)[0], codes()[0]
    stored = [str(v) for v in db.session.execute(select(LoginCode.__table__)).one()]
    assert not any(code in value for value in stored)
    assert row.code_hash.startswith("hmac-sha256$")
    assert code_matches(row.code_hash, PHONE, code)
    assert not code_matches(row.code_hash, "13900000000", code)  # bound to its phone
    assert hash_code(PHONE, code) != hash_code(PHONE, code)  # a salt of its own for every code


def test_the_code_is_keyed_by_the_secret_key(app, sms, monkeypatch):
    sms.send(PHONE)
    code, row = sent_codes(PHONE)[0], codes()[0]
    settings = app.config["SETTINGS"]
    monkeypatch.setitem(app.config, "SETTINGS", replace(settings, core=replace(settings.core,
                                                                                secret_key="another-secret")))
    assert not code_matches(row.code_hash, PHONE, code)


@pytest.mark.parametrize("written", ["13912345678", "139 1234 5678", "139-1234-5678", "+86 139 1234 5678",
                                     "008613912345678", "8613912345678"])
def test_a_mobile_number_is_read_however_it_is_written(written):
    assert normalise_phone(written) == PHONE


@pytest.mark.parametrize("written", ["", "12345", "1391234567", "139123456789", "23912345678", "1291234567x",
                                     "+1 415 555 0100"])
def test_anything_else_is_not_a_mobile_number(written):
    with pytest.raises(PhoneInvalid):
        normalise_phone(written)


def test_the_right_code_works_once():
    code = issue()
    assert check_login_code(db.session, PHONE, code) is Checked.RIGHT
    assert check_login_code(db.session, PHONE, code) is Checked.DEAD


def test_a_code_is_good_for_five_minutes_and_not_after():
    t0 = utcnow()
    code = issue(now=t0)
    assert check_login_code(db.session, PHONE, code, now=t0 + CODE_TTL + timedelta(seconds=1)) is Checked.DEAD
    code = issue(now=t0 + timedelta(minutes=6))
    assert check_login_code(db.session, PHONE, code, now=t0 + timedelta(minutes=10, seconds=59)) is Checked.RIGHT


def test_five_wrong_tries_burn_the_code():
    code = issue()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert [check_login_code(db.session, PHONE, wrong) for _ in range(4)] == [Checked.WRONG] * 4
    assert check_login_code(db.session, PHONE, wrong) is Checked.DEAD  # the fifth
    assert check_login_code(db.session, PHONE, code) is Checked.DEAD  # even the right one, now
    assert codes()[0].tries == 5


def test_a_new_code_supersedes_the_one_before(fixed_codes):
    fixed_codes("111111", "222222")
    t0 = utcnow() - timedelta(minutes=2)
    issue(now=t0)
    issue(now=t0 + timedelta(seconds=61))
    first, second = codes()
    assert first.expires_at <= second.created_at  # the old one stopped counting when the new one was made
    assert check_login_code(db.session, PHONE, "111111") is Checked.WRONG
    assert check_login_code(db.session, PHONE, "222222") is Checked.RIGHT


def test_another_code_is_sent_only_a_minute_after_the_last(sms):
    sms.send(PHONE)
    again = sms.send(PHONE, **HX)
    assert len(codes()) == 1 and len(sent_codes(PHONE)) == 1
    assert re.search(r"in \d+ seconds?|\d+ 秒后", again.get_data(as_text=True))
    age_codes(61)
    sms.send(PHONE)
    assert len(codes()) == 2 and len(sent_codes(PHONE)) == 2


def test_codes_of_one_phone_are_no_use_for_another(fixed_codes):
    fixed_codes("111111", "222222")
    issue()
    issue("13800000000")
    assert check_login_code(db.session, "13800000000", "111111") is Checked.WRONG
    assert check_login_code(db.session, PHONE, "111111") is Checked.RIGHT


# --- the pages ------------------------------------------------------------------------------------------------

def test_htmx_gets_the_code_step_in_place_of_the_phone_step(sms):
    html = sms.send(PHONE, **HX).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="sms-login" data-step="code"')
    assert "<html" not in html and "139****5678" in html and f'value="{PHONE}"' in html


def test_a_plain_browser_gets_the_whole_page_at_the_code_step(sms):
    html = sms.send(PHONE).get_data(as_text=True)
    assert "<html" in html and 'data-step="code"' in html


@pytest.mark.parametrize("typed", ["12345", "", "phone"])
def test_a_number_that_is_no_mobile_is_refused_in_place(sms, typed):
    page, partial = sms.send(typed), sms.send(typed, **HX)
    assert page.status_code == 422 and partial.status_code == 200
    assert 'data-testid="sms-error"' in partial.get_data(as_text=True)
    assert 'data-step="phone"' in partial.get_data(as_text=True)
    assert codes() == [] and db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_answer_is_the_same_for_a_number_on_file_and_one_that_is_not(sms, make_account):
    make_account(phone="13911110000")

    def answer(phone: str) -> str:
        html = sms.send(phone, **HX).get_data(as_text=True)
        html = re.sub(r'name="csrf_token" value="[^"]*"', "", html)  # signed with the time: differs by the second
        return html.replace(phone, "N").replace(phone[:3] + "****" + phone[-4:], "M")

    on_file, stranger = answer("13911110000"), answer("13922220000")
    assert on_file == stranger
    assert len(sent_codes("13911110000")) == len(sent_codes("13922220000")) == 1  # both get their code


def test_the_right_code_signs_in_as_the_tenant_of_the_shops_with_that_phone(client, sms, make_account, make_site):
    mine = make_account(code="S001", phone="139 1234 5678", name="Noodles")
    elsewhere = make_account(site=make_site(), code="S001", phone=PHONE)
    make_account(code="S002", phone="13900000000")
    make_account(code="S003", phone=PHONE, status=AccountStatus.CLOSED)
    sms.send(PHONE)
    answer = sms.verify(PHONE, sent_codes(PHONE)[0])
    assert answer.status_code == 303 and answer.headers["Location"] == "/t/"
    tenant = db.session.scalars(select(TenantUser)).one()
    assert tenant.phone == PHONE
    assert {a.id for a in tenant.accounts} == {mine.id, elsewhere.id}
    assert client.get("/t/").status_code == 200  # signed in: the list of the two shops
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "tenant.bound")) == 2


def test_a_known_tenant_signs_in_as_themselves(client, sms, make_account, make_tenant):
    shop = make_account(phone="13700000000")
    tenant = make_tenant([shop], phone=PHONE)
    sms.send(PHONE)
    answer = sms.verify(PHONE, sent_codes(PHONE)[0], **HX)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/t/"
    assert db.session.scalar(select(func.count()).select_from(TenantUser)) == 1
    assert client.get("/t/").headers["Location"] == f"/t/a/{shop.id}"
    assert tenant.id == db.session.scalars(select(TenantUser)).one().id


def test_a_number_on_no_file_signs_in_and_is_asked_to_link_a_shop(client, sms, make_account):
    make_account(phone="13700000000")
    sms.send(PHONE)
    answer = sms.verify(PHONE, sent_codes(PHONE)[0])
    assert answer.headers["Location"] == "/auth/tenant/bind"
    tenant = db.session.scalars(select(TenantUser)).one()
    assert tenant.phone == PHONE and tenant.accounts == []
    assert db.session.scalar(select(func.count()).select_from(TenantBinding)) == 0
    assert client.get("/t/").headers["Location"] == "/auth/tenant/bind"


def test_a_right_code_goes_on_to_the_page_the_tenant_asked_for(sms, make_account):
    shop = make_account(phone=PHONE)
    sms.send(PHONE)
    answer = sms.verify(PHONE, sent_codes(PHONE)[0], query=f"?next=/t/a/{shop.id}/history")
    assert answer.headers["Location"] == f"/t/a/{shop.id}/history"


def test_a_wrong_code_is_refused_in_place_and_counts_a_try(client, sms, make_account):
    make_account(phone=PHONE)
    sms.send(PHONE)
    code = sent_codes(PHONE)[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    partial = sms.verify(PHONE, wrong, **HX)
    assert partial.status_code == 200 and 'data-testid="sms-error"' in partial.get_data(as_text=True)
    assert sms.verify(PHONE, wrong).status_code == 422
    assert codes()[0].tries == 2
    assert client.get("/t/").status_code == 302 and "/auth/tenant/login" in client.get("/t/").headers["Location"]


def test_a_burned_code_says_to_ask_for_a_new_one(sms):
    sms.send(PHONE)
    code = sent_codes(PHONE)[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        sms.verify(PHONE, wrong)
    last = sms.verify(PHONE, wrong, **HX).get_data(as_text=True)
    assert "5" in last and ("重新获取验证码" in last or "Ask for a new code" in last)
    assert sms.verify(PHONE, code).status_code == 422


def test_the_production_login_page_asks_for_a_mobile_number(client, monkeypatch, reload_settings):
    monkeypatch.setenv("TENANT_DEMO_LOGIN", "0")
    reload_settings()
    page = client.get("/auth/tenant/login").get_data(as_text=True)
    assert 'name="phone"' in page and 'data-step="phone"' in page and 'name="account"' not in page
    assert "演示" not in page  # no way back to the demo's form


def test_the_demo_keeps_its_form_and_offers_the_sms_code_beside_it(client, make_account, make_tenant):
    page = client.get("/auth/tenant/login").get_data(as_text=True)
    assert 'name="account"' in page and "by=sms" in page and 'data-step="phone"' not in page
    by_sms = client.get("/auth/tenant/login?by=sms").get_data(as_text=True)
    assert 'data-step="phone"' in by_sms and 'name="account"' not in by_sms
    shop = make_account()
    tenant = make_tenant([shop])
    assert client.post("/auth/tenant/login", data={"account": shop.code, "phone": tenant.phone}).status_code == 302


def test_the_forms_carry_their_csrf_token_and_a_post_without_one_is_refused(app, client, csrf_on):
    page = client.get("/auth/tenant/login?by=sms").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/auth/tenant/login/code", data={"phone": PHONE}).status_code == 400
    assert client.post("/auth/tenant/login/code", data={"phone": PHONE, "csrf_token": token}).status_code == 200
    assert len(sent_codes(PHONE)) == 1
