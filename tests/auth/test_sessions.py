"""Revocable sessions: logout, a new password, deactivation, another role or site scope end every session of a
user, on every device; staff sessions end when idle and after their absolute length."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.auth import sessions
from portal.extensions import db
from portal.models import Role, StaffUser


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, value: str):
    """Another browser holding a copy of a session cookie (captured, say, from a shared office PC)."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def in_staff_area(client) -> bool:
    return client.get("/staff/").status_code == 200


def in_tenant_area(client) -> bool:
    response = client.get("/t/")  # a tenant with one shop is sent on to it
    return response.status_code in (200, 302) and "/login" not in response.headers.get("Location", "")


@pytest.fixture
def staff_session(client, login, make_staff):
    user = make_staff()
    assert login.staff(user).status_code == 302 and in_staff_area(client)
    return user


# --- logout -----------------------------------------------------------------------------------------

def test_a_staff_cookie_captured_before_logout_answers_no_more(app, client, staff_session):
    captured = cookie_of(client)
    assert in_staff_area(with_cookie(app, captured))
    client.post("/auth/logout")
    replay = with_cookie(app, captured)
    response = replay.get("/staff/")
    assert response.status_code == 302 and "/auth/staff/login" in response.headers["Location"]


def test_a_tenant_cookie_captured_before_logout_answers_no_more(app, client, login, make_account, make_tenant):
    shop = make_account()
    tenant = make_tenant([shop])
    login.tenant(tenant, shop)
    captured = cookie_of(client)
    assert in_tenant_area(with_cookie(app, captured))
    client.post("/auth/logout")
    assert not in_tenant_area(with_cookie(app, captured))


def test_logging_out_on_one_device_ends_the_session_on_the_other(app, client, staff_session):
    desk = app.test_client()
    desk.post("/auth/staff/login", data={"username": staff_session.username, "password": "correct horse battery"})
    assert in_staff_area(desk)
    client.post("/auth/logout")
    assert not in_staff_area(desk) and not in_staff_area(client)


def test_logging_in_again_after_logout_works(client, login, staff_session):
    client.post("/auth/logout")
    assert login.staff(staff_session).status_code == 302 and in_staff_area(client)


# --- changes to the user ----------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    pytest.param(lambda user, site: user.set_password("another long secret"), id="password"),
    pytest.param(lambda user, site: setattr(user, "active", False), id="deactivated"),
    pytest.param(lambda user, site: setattr(user, "role", Role.CASHIER), id="role"),
    pytest.param(lambda user, site: user.sites.append(site), id="sites"),
])
def test_a_change_to_what_the_user_may_do_ends_their_sessions(client, staff_session, make_site, change):
    change(db.session.get(StaffUser, staff_session.id), make_site())
    db.session.commit()
    assert not in_staff_area(client)


def test_other_changes_leave_sessions_alone(client, staff_session):
    user = db.session.get(StaffUser, staff_session.id)
    before = user.session_version
    user.last_login_at = None
    db.session.commit()
    assert user.session_version == before and in_staff_area(client)


def test_the_login_time_is_kept(client, staff_session):
    db.session.expire_all()
    assert db.session.get(StaffUser, staff_session.id).last_login_at is not None


# --- timeouts ---------------------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """The sessions' clock, moved by hand: clock.advance(seconds)."""
    import time

    class Clock:
        now = time.time()

        def advance(self, seconds: float) -> None:
            self.now += seconds

    c = Clock()
    monkeypatch.setattr(sessions.time, "time", lambda: c.now)
    return c


def test_a_staff_session_ends_after_the_idle_timeout(client, login, make_staff, clock):
    login.staff(make_staff())
    clock.advance(29 * 60)
    assert in_staff_area(client)
    clock.advance(29 * 60)  # 29 minutes after the last request: still alive, and the idle time starts again
    assert in_staff_area(client)
    clock.advance(31 * 60)
    assert not in_staff_area(client)


def test_a_busy_staff_session_still_ends_after_its_absolute_length(client, login, make_staff, clock):
    login.staff(make_staff())
    for _ in range(12 * 4 - 1):  # a request every quarter of an hour for a working day
        clock.advance(15 * 60)
        assert in_staff_area(client)
    clock.advance(16 * 60)
    assert not in_staff_area(client)


def test_the_timeouts_are_settings(client, login, make_staff, clock, monkeypatch, reload_settings):
    monkeypatch.setenv("STAFF_IDLE_MINUTES", "5")
    reload_settings()
    login.staff(make_staff())
    clock.advance(6 * 60)
    assert not in_staff_area(client)


def test_a_tenant_session_has_no_idle_timeout(client, login, make_account, make_tenant, clock):
    shop = make_account()
    login.tenant(make_tenant([shop]), shop)
    clock.advance(3 * 3600)
    assert in_tenant_area(client)


def test_an_ended_session_is_forgotten_but_the_language_stays(client, staff_session):
    client.get("/auth/lang/en")
    db.session.get(StaffUser, staff_session.id).active = False
    db.session.commit()
    client.get("/staff/")
    with client.session_transaction() as saved:
        assert "_user_id" not in saved and saved.get("lang") == "en"


def test_a_session_from_before_versions_existed_is_ended(client, staff_session):
    with client.session_transaction() as saved:
        del saved[sessions.VERSION_KEY]
    assert not in_staff_area(client)


def test_deactivated_users_cannot_log_in_again(client, login, staff_session):
    db.session.execute(select(StaffUser).where(StaffUser.id == staff_session.id)).scalar_one().active = False
    db.session.commit()
    assert login.staff(staff_session).status_code == 200 and not in_staff_area(client)
