"""Staff and tenant sessions: passwords, areas kept apart, safe redirects, CSRF, the users CLI."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, StaffUser
from tests.factories import PASSWORD


def logged_in_as(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def meta_token(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


# --- staff login ----------------------------------------------------------------------------------


def test_staff_login_with_the_right_password_opens_the_staff_area(client, login, make_staff):
    user = make_staff()
    res = login.staff(user)
    assert res.status_code == 302 and res.headers["Location"] == "/staff/"
    assert logged_in_as(client) == f"staff:{user.id}"
    assert client.get("/staff/").status_code == 200


def test_staff_login_with_a_wrong_password_starts_no_session(client, login, make_staff):
    res = login.staff(make_staff(), password="wrong password")
    assert res.status_code == 200
    assert "用户名或密码错误。" in res.get_data(as_text=True)
    assert logged_in_as(client) is None


def test_staff_login_with_an_unknown_username_starts_no_session(client):
    client.post("/auth/staff/login", data={"username": "ghost", "password": PASSWORD})
    assert logged_in_as(client) is None


def test_inactive_staff_cannot_log_in(client, login, make_staff):
    login.staff(make_staff(active=False))
    assert logged_in_as(client) is None


def test_password_is_stored_as_a_scrypt_hash(make_staff):
    user = make_staff()
    assert user.password_hash != PASSWORD
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password(PASSWORD) and not user.check_password(PASSWORD + "!")


def test_logout_ends_the_session(client, login, make_staff):
    login.staff(make_staff())
    res = client.post("/auth/logout")
    assert res.headers["Location"] == "/auth/staff/login"
    assert logged_in_as(client) is None


# --- areas kept apart -----------------------------------------------------------------------------


def test_staff_pages_send_anonymous_visitors_to_the_staff_login(client):
    res = client.get("/staff/")
    assert res.status_code == 302
    assert res.headers["Location"].startswith("/auth/staff/login?next=")


def test_tenant_pages_send_anonymous_visitors_to_the_tenant_login(client):
    res = client.get("/t/")
    assert res.status_code == 302
    assert res.headers["Location"].startswith("/auth/tenant/login?next=")


def test_an_htmx_request_without_a_session_is_sent_to_the_login_page_whole(client, make_account):
    res = client.get(f"/t/a/{make_account().id}", headers={"HX-Request": "true"})
    assert res.status_code == 401
    assert res.headers["HX-Redirect"].startswith("/auth/tenant/login?next=")
    assert res.get_data() == b""


def test_a_tenant_session_cannot_open_the_staff_area(client, login, make_account, make_tenant):
    acct = make_account()
    login.tenant(make_tenant([acct]), acct)
    assert client.get("/staff/").status_code == 403


def test_a_staff_session_cannot_open_tenant_pages(client, login, make_staff, make_account):
    acct = make_account()
    login.staff(make_staff(role=Role.ADMIN))
    assert client.get("/t/").status_code == 403
    assert client.get(f"/t/a/{acct.id}").status_code == 403


# --- tenants --------------------------------------------------------------------------------------


def test_tenant_login_goes_to_the_shop(client, login, make_account, make_tenant):
    acct = make_account()
    res = login.tenant(make_tenant([acct]), acct)
    assert res.headers["Location"] == "/t/"
    assert client.get("/t/").headers["Location"] == f"/t/a/{acct.id}"


def test_tenant_login_with_a_phone_not_on_the_account_starts_no_session(
    client, make_account, make_tenant
):
    mine, other = make_account(), make_account()
    tenant = make_tenant([mine])
    client.post("/auth/tenant/login", data={"account": other.code, "phone": tenant.phone})
    assert logged_in_as(client) is None


def test_a_tenant_sees_only_their_own_account(client, login, make_account, make_tenant):
    mine, other = make_account(), make_account()
    login.tenant(make_tenant([mine]), mine)
    assert client.get(f"/t/a/{mine.id}").status_code == 200
    assert client.get(f"/t/a/{other.id}").status_code == 404
    assert client.get("/t/a/999999").status_code == 404


def test_a_manager_with_several_shops_sees_them_all(
    client, login, make_site, make_account, make_tenant
):
    site = make_site()
    shops = [make_account(site=site, code=f"S{n}", name=f"Shop {n}") for n in (1, 2, 3)]
    login.tenant(make_tenant(shops), shops[1])
    page = client.get("/t/").get_data(as_text=True)
    assert all(f"Shop {n}" in page for n in (1, 2, 3))
    assert [client.get(f"/t/a/{a.id}").status_code for a in shops] == [200, 200, 200]


def test_landing_page_offers_both_logins_to_visitors(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/auth/tenant/login"' in html and 'href="/auth/staff/login"' in html


def test_landing_page_sends_people_who_are_logged_in_to_their_area(
    client, login, make_staff, make_account, make_tenant
):
    login.staff(make_staff())
    assert client.get("/").headers["Location"] == "/staff/"
    client.post("/auth/logout")
    acct = make_account()
    login.tenant(make_tenant([acct]), acct)
    assert client.get("/").headers["Location"] == "/t/"


# --- redirects after login ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_does_not_follow_a_next_to_another_site(client, make_staff, target):
    user = make_staff()
    res = client.post(
        "/auth/staff/login",
        query_string={"next": target},
        data={"username": user.username, "password": PASSWORD},
    )
    assert res.headers["Location"] == "/staff/"


def test_login_follows_a_next_on_this_site(client, make_staff):
    user = make_staff()
    res = client.post(
        "/auth/staff/login",
        query_string={"next": "/staff/?q=E1"},
        data={"username": user.username, "password": PASSWORD},
    )
    assert res.headers["Location"] == "/staff/?q=E1"


def test_language_switch_does_not_follow_a_next_to_another_site(client):
    assert (
        client.get("/auth/lang/en", query_string={"next": "//evil.example"}).headers["Location"]
        == "/"
    )


# --- CSRF -----------------------------------------------------------------------------------------


def test_login_post_without_a_csrf_token_is_rejected(client, csrf_on, make_staff):
    user = make_staff()
    res = client.post("/auth/staff/login", data={"username": user.username, "password": PASSWORD})
    assert res.status_code == 400
    assert logged_in_as(client) is None


def test_login_post_with_the_forms_csrf_token_succeeds(client, csrf_on, make_staff):
    user = make_staff()
    token = form_token(client.get("/auth/staff/login").get_data(as_text=True))
    res = client.post(
        "/auth/staff/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": token},
    )
    assert res.status_code == 302
    assert logged_in_as(client) == f"staff:{user.id}"


def test_htmx_csrf_header_is_accepted(client, csrf_on, make_staff):
    user = make_staff()
    token = form_token(client.get("/auth/staff/login").get_data(as_text=True))
    client.post(
        "/auth/staff/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": token},
    )
    header_token = meta_token(client.get("/staff/").get_data(as_text=True))
    assert client.post("/auth/logout").status_code == 400
    res = client.post("/auth/logout", headers={"X-CSRFToken": header_token, "HX-Request": "true"})
    assert res.status_code == 302
    assert logged_in_as(client) is None


# --- users CLI ------------------------------------------------------------------------------------


def test_cli_creates_a_user_whose_password_works(runner, client, make_site):
    make_site("mall")
    result = runner.invoke(
        args=["users", "create", "li", "--role", "operator", "--site", "mall", "--password-stdin"],
        input="a long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "created operator li for mall" in result.output
    user = db.session.scalars(select(StaffUser).where(StaffUser.username == "li")).one()
    assert (user.role, [s.code for s in user.sites]) == (Role.OPERATOR, ["mall"])
    client.post("/auth/staff/login", data={"username": "li", "password": "a long enough secret"})
    assert logged_in_as(client) == f"staff:{user.id}"


def test_cli_creates_an_admin_without_a_site(runner):
    result = runner.invoke(
        args=["users", "create", "root", "--role", "admin", "--password-stdin"],
        input="a long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(StaffUser.role)).all() == [Role.ADMIN]


def test_cli_refuses_a_non_admin_without_a_site(runner):
    result = runner.invoke(
        args=["users", "create", "li", "--role", "cashier", "--password-stdin"],
        input="a long enough secret\n",
    )
    assert result.exit_code != 0
    assert "at least one site" in result.output
    assert db.session.scalars(select(StaffUser)).all() == []


def test_cli_refuses_an_unknown_site(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "li",
            "--role",
            "cashier",
            "--site",
            "nowhere",
            "--password-stdin",
        ],
        input="a long enough secret\n",
    )
    assert result.exit_code != 0
    assert "no site 'nowhere'" in result.output


def test_cli_refuses_a_short_password(runner, make_site):
    make_site("mall")
    result = runner.invoke(
        args=["users", "create", "li", "--role", "operator", "--site", "mall", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    assert db.session.scalars(select(StaffUser)).all() == []
