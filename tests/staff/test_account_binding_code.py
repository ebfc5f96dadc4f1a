"""/staff/accounts/<code>: the shop's meter-box sticker address and a new binding code for it (managers and admins,
audited, shown once, the printed one void), within the user's sites."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.auth.binding import binding_code_matches, issue_binding_codes
from portal.extensions import db
from portal.models import AccountStatus, AuditEntry, Role

EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", "Accept-Language": "en"}


@pytest.fixture
def mall(make_site):
    return make_site("mall", name="Xingli City")


@pytest.fixture
def shop(mall, make_account):
    """S101 at the mall with a binding code (here, as printed on its sticker) and a sticker token."""
    account = make_account(site=mall, code="S101", name="Bakery", phone="13900000001")
    [(_, code)] = issue_binding_codes(db.session, [account], "cli:accounts")
    db.session.commit()
    account.printed_code = code
    return account


@pytest.fixture
def staff_of(make_staff, mall, login):
    """staff_of(role, sites=[mall]): a user of that role, logged in."""
    def make(role: Role, sites=None):
        user = make_staff(role=role, sites=[mall] if sites is None else sites)
        login.staff(user)
        return user

    return make


def reissue(client, headers=HX):
    return client.post("/staff/accounts/S101/binding-code?site=mall", headers=headers)


def test_the_page_shows_the_stickers_address(app, client, staff_of, shop):
    staff_of(Role.CASHIER)
    html = client.get("/staff/accounts/S101", headers=EN).get_data(as_text=True)
    url = app.config["PUBLIC_BASE_URL"].rstrip("/") + "/r/" + shop.sticker_token
    assert f'href="{url}"' in html
    assert "A binding code was issued" in html
    assert 'data-testid="issue-binding-code"' not in html  # a cashier does not issue codes


def test_a_shop_without_a_token_shows_no_sticker(client, staff_of, make_account, mall):
    make_account(site=mall, code="S102")
    staff_of(Role.MANAGER)
    html = client.get("/staff/accounts/S102", headers=EN).get_data(as_text=True)
    assert 'data-testid="no-sticker"' in html and "/r/" not in html
    assert "Issue a binding code" in html and "hx-confirm" not in html.split('id="account-sticker"')[1]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_a_new_code_is_shown_once_the_printed_one_stops_working_and_the_sticker_stays(client, staff_of, shop, role):
    user = staff_of(role)
    token = shop.sticker_token
    page = client.get("/staff/accounts/S101", headers=EN).get_data(as_text=True)
    assert "stops working at once" in page  # the confirmation asked before the post

    res = reissue(client)

    html = res.get_data(as_text=True)
    assert res.status_code == 200 and html.lstrip().startswith('<section id="account-sticker"')
    new = re.search(r'data-testid="new-binding-code">[^<]*<strong class="code">(\w{4}-\w{4})</strong>', html).group(1)
    db.session.expire_all()
    assert binding_code_matches(shop.binding_code_hash, new)
    assert not binding_code_matches(shop.binding_code_hash, shop.printed_code)
    assert shop.sticker_token == token
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "account.binding_code_issued")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.actor == user.actor and entry.target_id == shop.id and entry.detail["reissued"] is True
    again = client.get("/staff/accounts/S101", headers=EN).get_data(as_text=True)
    assert new not in again  # shown that once


def test_a_plain_post_flashes_the_new_code_and_goes_back_to_the_page(client, staff_of, shop):
    staff_of(Role.MANAGER)
    res = reissue(client, headers=EN)
    assert res.status_code == 303 and "/staff/accounts/S101" in res.location
    html = client.get(res.location, headers=EN).get_data(as_text=True)
    new = re.search(r"The new binding code is (\w{4}-\w{4})", html).group(1)
    db.session.expire_all()
    assert binding_code_matches(shop.binding_code_hash, new)


def test_a_closed_shop_gets_no_code(client, staff_of, shop):
    shop.status = AccountStatus.CLOSED
    db.session.commit()
    staff_of(Role.MANAGER)
    res = reissue(client)
    assert res.status_code == 200 and "The account is closed" in res.get_data(as_text=True)
    db.session.expire_all()
    assert binding_code_matches(shop.binding_code_hash, shop.printed_code)


@pytest.mark.parametrize("role", [Role.CASHIER, Role.OPERATOR, Role.AUDITOR])
def test_only_managers_and_admins_issue_codes(client, staff_of, shop, role):
    staff_of(role)
    assert reissue(client).status_code == 403
    db.session.expire_all()
    assert binding_code_matches(shop.binding_code_hash, shop.printed_code)


def test_a_manager_of_another_site_gets_a_404(client, staff_of, shop, make_site):
    staff_of(Role.MANAGER, sites=[make_site("other")])
    assert reissue(client).status_code == 404
    db.session.expire_all()
    assert binding_code_matches(shop.binding_code_hash, shop.printed_code)
