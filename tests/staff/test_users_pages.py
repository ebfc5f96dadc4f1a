"""The users page (/staff/users): the list, a new user, role and sites, switching off and on, password resets;
administrators only, each change audited and ending the user's sessions."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ApiToken, AuditEntry, Role, StaffUser
from portal.staffing.tokens import create_token
from tests.factories import PASSWORD

HTMX = {"HX-Request": "true"}


def shown_password(html: str) -> str:
    """The temporary password a page shows once."""
    return re.search(r'data-testid="new-password">([^<]+)<', html).group(1)


def user_named(name: str) -> StaffUser | None:
    db.session.expire_all()
    return db.session.execute(select(StaffUser).where(StaffUser.username == name)).scalar_one_or_none()


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def staff_count() -> int:
    return db.session.execute(select(func.count()).select_from(StaffUser)).scalar_one()


@pytest.fixture
def admin(client, login, make_staff):
    """An administrator, logged in."""
    user = make_staff("boss", role=Role.ADMIN)
    assert login.staff(user).status_code == 302
    return user


@pytest.fixture
def mall(make_site):
    return make_site("mall", name="Xingli City")


# --- the list ------------------------------------------------------------------------------------------------

def test_the_list_shows_role_sites_state_last_login_and_a_password_due(client, admin, make_staff, mall):
    make_staff("li", role=Role.CASHIER, sites=[mall])
    make_staff("wang", sites=[mall], active=False)
    due = make_staff("zhao", sites=[mall])
    due.must_change_password = True
    db.session.commit()

    html = client.get("/staff/users").get_data(as_text=True)

    rows = dict(re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', html, re.DOTALL))
    assert set(rows) == {"boss", "li", "wang", "zhao"}
    assert "收费员" in rows["li"] and "mall" in rows["li"] and "从未" not in rows["li"]
    assert 'data-testid="inactive"' in rows["wang"] and 'data-testid="must-change"' in rows["zhao"]
    assert "—" not in rows["boss"].split("</td>")[4]  # the admin has logged in: a time, not a dash


# --- a new user ----------------------------------------------------------------------------------------------

def test_an_admin_creates_a_user_with_a_temporary_password_they_typed(client, admin, mall):
    response = client.post("/staff/users", data={"username": "li", "role": "cashier", "sites": [str(mall.id)],
                                                 "password": "hand-over-123"})

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert shown_password(response.get_data(as_text=True)) == "hand-over-123"
    li = user_named("li")
    assert (li.role, [s.code for s in li.sites], li.must_change_password) == (Role.CASHIER, ["mall"], True)
    assert li.check_password("hand-over-123")
    [entry] = audits("staff_user.created")
    assert entry.actor == "staff:boss" and entry.target_id == li.id
    assert entry.detail == {"after": {"role": "cashier", "sites": ["mall"]}}


def test_a_made_up_password_is_shown_once_and_opens_the_password_page(app, client, admin, mall):
    html = client.post("/staff/users", data={"username": "li", "role": "operator", "sites": [str(mall.id)]},
                       headers=HTMX).get_data(as_text=True)
    password = shown_password(html)
    assert html.lstrip().startswith('<section id="users"') and len(password) >= 12

    assert password not in client.get("/staff/users").get_data(as_text=True)
    newcomer = app.test_client()
    response = newcomer.post("/auth/staff/login", data={"username": "li", "password": password})
    assert response.headers["Location"] == "/auth/staff/password"


def test_an_admin_is_created_without_sites(client, admin, mall):
    client.post("/staff/users", data={"username": "chen", "role": "admin", "sites": [str(mall.id)],
                                      "password": "a-temporary-one"})
    assert (user_named("chen").role, user_named("chen").sites) == (Role.ADMIN, [])


@pytest.mark.parametrize("form, why", [
    ({"username": "li", "role": "cashier"}, "至少选择一个场所"),
    ({"username": "li", "role": "emperor", "site": "mall"}, "选择角色"),
    ({"username": "li", "role": "cashier", "sites": ["abc"]}, "选择场所"),
    ({"username": "li", "role": "cashier", "sites": ["999999"]}, "选择场所"),
    ({"username": "li wang", "role": "cashier", "site": "mall"}, "用户名"),
    ({"username": "", "role": "cashier", "site": "mall"}, "用户名"),
    ({"username": "x" * 65, "role": "cashier", "site": "mall"}, "用户名"),
    ({"username": "BOSS", "role": "cashier", "site": "mall"}, "BOSS"),
    ({"username": "li", "role": "cashier", "site": "mall", "password": "short"}, "8"),
], ids=["no site", "unknown role", "site not a number", "no such site", "space in name", "no name",
        "name too long", "name taken (any case)", "short password"])
def test_nonsense_gets_a_clear_error_and_creates_nobody(client, admin, mall, form, why):
    if form.pop("site", None):
        form["sites"] = [str(mall.id)]
    before = staff_count()

    plain = client.post("/staff/users", data=form)
    htmx = client.post("/staff/users", data=form, headers=HTMX)

    assert plain.status_code == 422 and htmx.status_code == 200
    error = re.search(r'data-testid="error-create">([^<]+)<', htmx.get_data(as_text=True)).group(1)
    assert why.lower() in error.lower()
    assert staff_count() == before and not audits("staff_user.created")


# --- role and sites ------------------------------------------------------------------------------------------

def test_a_new_role_and_sites_are_saved_audited_and_end_the_users_sessions(app, client, admin, make_staff,
                                                                            make_site, mall):
    east = make_site("east")
    li = make_staff("li", role=Role.CASHIER, sites=[mall])
    theirs = app.test_client()
    theirs.post("/auth/staff/login", data={"username": "li", "password": PASSWORD})
    assert theirs.get("/staff/counter/").status_code == 200

    response = client.post(f"/staff/users/{li.id}/access", data={"role": "manager", "sites": [str(east.id)]},
                           headers=HTMX)

    assert response.status_code == 200 and 'role="status"' in response.get_data(as_text=True)
    li = user_named("li")
    assert (li.role, [s.code for s in li.sites]) == (Role.MANAGER, ["east"])
    [entry] = audits("staff_user.access_changed")
    assert entry.detail == {"before": {"role": "cashier", "sites": ["mall"]},
                            "after": {"role": "manager", "sites": ["east"]}}
    assert theirs.get("/staff/counter/").status_code == 302  # to the login page


def test_saving_the_same_role_and_sites_changes_and_records_nothing(client, admin, make_staff, mall):
    li = make_staff("li", role=Role.CASHIER, sites=[mall])
    version = li.session_version
    client.post(f"/staff/users/{li.id}/access", data={"role": "cashier", "sites": [str(mall.id)]})
    assert user_named("li").session_version == version and not audits("staff_user.access_changed")


@pytest.mark.parametrize("form", [{"role": "cashier"}, {"role": "king", "sites": ["1"]},
                                  {"role": "cashier", "sites": ["x"]}], ids=["no site", "role", "site"])
def test_a_nonsense_role_or_site_changes_nothing(client, admin, make_staff, mall, form):
    li = make_staff("li", role=Role.OPERATOR, sites=[mall])
    response = client.post(f"/staff/users/{li.id}/access", data=form)
    assert response.status_code == 422 and 'data-testid="error-access"' in response.get_data(as_text=True)
    li = user_named("li")
    assert (li.role, li.sites) == (Role.OPERATOR, [mall])


def test_an_admin_cannot_take_away_their_own_admin_role(client, admin, mall, make_staff):
    make_staff("other-admin", role=Role.ADMIN)
    response = client.post(f"/staff/users/{admin.id}/access", data={"role": "manager", "sites": [str(mall.id)]})
    assert response.status_code == 422
    assert user_named("boss").role == Role.ADMIN and not audits("staff_user.access_changed")


def test_a_missing_user_is_404(client, admin):
    assert client.get("/staff/users/999999").status_code == 404
    assert client.post("/staff/users/999999/active", data={"active": "0"}).status_code == 404


# --- switching off and on ------------------------------------------------------------------------------------

def test_switching_a_user_off_ends_their_sessions_and_refuses_their_logins(app, client, admin, make_staff):
    li = make_staff("li")
    theirs = app.test_client()
    theirs.post("/auth/staff/login", data={"username": "li", "password": PASSWORD})
    captured = theirs.get_cookie("session").value
    assert theirs.get("/staff/").status_code == 200

    response = client.post(f"/staff/users/{li.id}/active", data={"active": "0"}, headers=HTMX)

    assert 'data-testid="state"' in response.get_data(as_text=True) and not user_named("li").active
    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert replay.get("/staff/").status_code == 302
    theirs.post("/auth/staff/login", data={"username": "li", "password": PASSWORD})
    assert theirs.get("/staff/").status_code == 302
    [entry] = audits("staff_user.deactivated")
    assert entry.detail == {"before": {"active": True}, "after": {"active": False}}


def test_switching_a_user_on_again_lets_them_log_in(app, client, admin, make_staff):
    li = make_staff("li", active=False)
    client.post(f"/staff/users/{li.id}/active", data={"active": "1"})
    theirs = app.test_client()
    assert theirs.post("/auth/staff/login", data={"username": "li", "password": PASSWORD}).status_code == 302
    assert audits("staff_user.activated")


def test_an_admin_cannot_switch_themselves_off(client, admin, make_staff):
    make_staff("other-admin", role=Role.ADMIN)
    response = client.post(f"/staff/users/{admin.id}/active", data={"active": "0"}, headers=HTMX)
    assert 'data-testid="error-active"' in response.get_data(as_text=True)
    assert user_named("boss").active and client.get("/staff/users").status_code == 200


@pytest.mark.parametrize("value", ["", "maybe", "2"])
def test_a_nonsense_activity_changes_nothing(client, admin, make_staff, value):
    li = make_staff("li")
    assert client.post(f"/staff/users/{li.id}/active", data={"active": value}).status_code == 422
    assert user_named("li").active and not audits("staff_user.deactivated")


# --- password reset ------------------------------------------------------------------------------------------

def test_a_reset_shows_a_temporary_password_once_and_ends_the_users_sessions(app, client, admin, make_staff):
    li = make_staff("li")
    theirs = app.test_client()
    theirs.post("/auth/staff/login", data={"username": "li", "password": PASSWORD})

    response = client.post(f"/staff/users/{li.id}/password", data={"password": ""})

    password = shown_password(response.get_data(as_text=True))
    assert response.headers["Cache-Control"] == "no-store"
    assert theirs.get("/staff/").status_code == 302
    li = user_named("li")
    assert li.must_change_password and li.check_password(password) and not li.check_password(PASSWORD)
    [entry] = audits("staff_user.password_reset")
    assert password not in str(entry.detail) and entry.detail["after"] == {"must_change_password": True}
    assert password not in client.get(f"/staff/users/{li.id}").get_data(as_text=True)


def test_a_reset_takes_a_typed_password_of_eight_characters_or_more(client, admin, make_staff):
    li = make_staff("li")
    short = client.post(f"/staff/users/{li.id}/password", data={"password": "1234567"})
    assert short.status_code == 422 and user_named("li").check_password(PASSWORD)
    client.post(f"/staff/users/{li.id}/password", data={"password": "12345678"})
    assert user_named("li").check_password("12345678")


def test_an_admin_resets_their_own_password_on_their_password_page_not_here(client, admin):
    response = client.post(f"/staff/users/{admin.id}/password", data={"password": "another-secret"})
    assert response.status_code == 422 and user_named("boss").check_password(PASSWORD)


# --- who may ---------------------------------------------------------------------------------------------------

POSTS = ["/staff/users", "/staff/users/{id}/access", "/staff/users/{id}/active", "/staff/users/{id}/password"]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.CASHIER, Role.OPERATOR])
def test_other_roles_may_neither_open_nor_change_users(client, login, make_staff, mall, role):
    me = make_staff(role=role, sites=[mall])
    li = make_staff("li", sites=[mall])
    login.staff(me)
    assert client.get("/staff/users").status_code == 403
    assert client.get(f"/staff/users/{li.id}").status_code == 403
    for path in POSTS:
        response = client.post(path.format(id=li.id), data={"username": "x1", "role": "admin", "active": "0",
                                                            "password": "a-long-password"})
        assert response.status_code == 403, path
    assert staff_count() == 2 and user_named("li").role == Role.OPERATOR and user_named("li").active


def test_an_auditor_reads_the_users_of_their_sites_and_changes_nothing(client, login, make_staff, make_site, mall):
    auditor = make_staff("audit", role=Role.AUDITOR, sites=[mall])
    make_staff("boss", role=Role.ADMIN)
    li = make_staff("li", sites=[mall])
    stranger = make_staff("far", sites=[make_site("far-away")])
    login.staff(auditor)

    html = client.get("/staff/users").get_data(as_text=True)

    assert set(re.findall(r'<tr data-user="([^"]+)">', html)) == {"audit", "boss", "li"}
    assert "<form" not in html.split('id="users"')[1]
    assert client.get(f"/staff/users/{li.id}").status_code == 200
    assert client.get(f"/staff/users/{stranger.id}").status_code == 404
    for path in POSTS:
        assert client.post(path.format(id=li.id), data={"active": "0"}).status_code == 403, path
    assert user_named("li").active


def test_the_navigation_of_an_admin_links_users_and_tokens(client, admin):
    html = client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/users"' in html and 'href="/staff/api-tokens"' in html


# --- CSRF ------------------------------------------------------------------------------------------------------

def test_a_new_user_without_the_csrf_token_is_refused(client, admin, csrf_on, mall):
    response = client.post("/staff/users", data={"username": "li", "role": "admin"})
    assert response.status_code == 400 and user_named("li") is None


def test_a_new_user_with_the_pages_csrf_token_is_made(client, admin, csrf_on, mall):
    html = client.get("/staff/users").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/staff/users", data={"username": "li", "role": "admin", "csrf_token": token})
    assert response.status_code == 200 and user_named("li") is not None


def test_a_reset_without_the_csrf_token_is_refused(client, admin, csrf_on, make_staff):
    li = make_staff("li")
    assert client.post(f"/staff/users/{li.id}/password", data={}).status_code == 400
    assert user_named("li").check_password(PASSWORD)


# --- ready for a strict Content-Security-Policy ----------------------------------------------------------------

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|<style|\son[a-z]+=|\shx-on", re.IGNORECASE)


def test_the_pages_carry_no_inline_script_or_style(client, admin, make_staff, mall):
    li = make_staff("li", sites=[mall])
    create_token(li)
    db.session.commit()
    token_id = db.session.execute(select(ApiToken.id)).scalar_one()
    pages = ["/staff/users", f"/staff/users/{li.id}", "/staff/api-tokens", f"/staff/api-tokens/{token_id}/revoke",
             "/auth/staff/password"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert not INLINE.findall(response.get_data(as_text=True)), path
