"""A staff user's own password: chosen at the first login after an admin set one (nothing else opens until
then), or changed at will; the current password is needed, the new one is 8 characters or more and new."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import AuditEntry, Role, StaffUser
from tests.auth.test_auth import form_token
from tests.factories import PASSWORD

NEW = "my very own secret"


def reload(user: StaffUser) -> StaffUser:
    db.session.expire_all()
    return db.session.get(StaffUser, user.id)


def change(client, current: str = PASSWORD, new: str = NEW, repeat: str | None = None, token: str | None = None):
    data = {"current": current, "new": new, "repeat": new if repeat is None else repeat}
    if token:
        data["csrf_token"] = token
    return client.post("/auth/staff/password", data=data)


@pytest.fixture
def due(make_staff):
    """A user whose password an admin set: they must choose their own."""
    user = make_staff("li")
    user.must_change_password = True
    db.session.commit()
    return user


def test_a_login_with_a_temporary_password_goes_to_the_password_page(client, login, due):
    response = login.staff(due)
    assert response.status_code == 302 and response.headers["Location"] == "/auth/staff/password"
    html = client.get("/auth/staff/password").get_data(as_text=True)
    assert 'data-testid="must-change"' in html


@pytest.mark.parametrize("path", ["/staff/", "/staff/counter/", "/staff/tariffs", "/staff/users"])
def test_nothing_else_in_the_staff_area_opens_until_the_password_is_chosen(client, login, due, path):
    login.staff(due)
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"] == "/auth/staff/password"


def test_htmx_is_sent_to_the_password_page_too(client, login, due):
    login.staff(due)
    response = client.get("/staff/", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/auth/staff/password"


def test_a_post_in_the_staff_area_is_refused_until_the_password_is_chosen(client, login, make_staff, make_site):
    admin = make_staff(role=Role.ADMIN)
    admin.must_change_password = True
    db.session.commit()
    login.staff(admin)
    response = client.post("/staff/users", data={"username": "x1", "role": "admin"})
    assert response.status_code == 302
    assert db.session.query(StaffUser).count() == 1


def test_choosing_a_password_opens_the_staff_area_and_clears_the_flag(client, login, due):
    login.staff(due)
    response = change(client)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    user = reload(due)
    assert not user.must_change_password and user.check_password(NEW)
    entry = db.session.query(AuditEntry).filter_by(action="staff_user.password_changed").one()
    assert entry.actor == "staff:li" and entry.detail["before"] == {"must_change_password": True}


@pytest.mark.parametrize("current, new, repeat, why", [
    ("not my password", NEW, NEW, "当前密码不正确"),
    (PASSWORD, "short", "short", "至少需要 8 个字符"),
    (PASSWORD, PASSWORD, PASSWORD, "不能与旧密码相同"),
    (PASSWORD, NEW, NEW + "!", "不一致"),
    (PASSWORD, "", "", "新密码"),
    (PASSWORD, "x" * 201, "x" * 201, "新密码"),
], ids=["wrong current", "too short", "the same", "repeat differs", "empty", "too long"])
def test_a_refused_password_says_why_and_changes_nothing(client, login, due, current, new, repeat, why):
    login.staff(due)
    response = change(client, current, new, repeat)
    assert response.status_code == 422 and why in response.get_data(as_text=True)
    user = reload(due)
    assert user.must_change_password and user.check_password(PASSWORD)
    assert client.get("/staff/").status_code == 302


def test_a_new_password_ends_the_other_sessions_and_keeps_this_one(app, client, login, make_staff):
    user = make_staff("li")
    login.staff(user)
    desk = app.test_client()
    desk.post("/auth/staff/login", data={"username": "li", "password": PASSWORD})
    captured = client.get_cookie("session").value
    assert desk.get("/staff/").status_code == 200

    change(client)

    assert client.get("/staff/").status_code == 200
    assert desk.get("/staff/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert replay.get("/staff/").status_code == 302
    assert desk.post("/auth/staff/login", data={"username": "li", "password": PASSWORD}).status_code == 200
    assert desk.post("/auth/staff/login", data={"username": "li", "password": NEW}).status_code == 302


def test_the_password_page_needs_a_login(client):
    response = client.get("/auth/staff/password")
    assert response.status_code == 302 and "/auth/staff/login" in response.headers["Location"]


def test_a_password_change_needs_the_pages_csrf_token(client, due, csrf_on):
    token = form_token(client.get("/auth/staff/login").get_data(as_text=True))
    client.post("/auth/staff/login", data={"username": "li", "password": PASSWORD, "csrf_token": token})

    assert change(client).status_code == 400
    assert reload(due).check_password(PASSWORD)
    token = form_token(client.get("/auth/staff/password").get_data(as_text=True))
    assert change(client, token=token).status_code == 303
    assert reload(due).check_password(NEW)
