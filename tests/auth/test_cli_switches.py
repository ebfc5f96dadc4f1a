"""Switching users and tokens off without the database: `users deactivate|activate|reset-password|list`,
`api-token create --days|list|revoke`, token expiry and last use."""
from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import ApiToken, AuditEntry, Role, utcnow
from portal.staffing.tokens import create_token
from tests.factories import PASSWORD


def api(client, token: str):
    """A call of the token's user on a shop of their site: 200 when the token is taken, 401 when refused."""
    return client.get("/api/v1/accounts/SHOP1", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def li(make_staff, make_account):
    user = make_staff("li")
    make_account(site=user.sites[0], code="SHOP1")
    return user


def test_deactivating_a_user_ends_their_sessions_and_refuses_their_logins_and_tokens(runner, client, login, li):
    token = create_token(li)
    db.session.commit()
    login.staff(li)
    assert client.get("/staff/").status_code == 200 and api(client, token).status_code == 200
    result = runner.invoke(args=["users", "deactivate", "li"])
    assert result.exit_code == 0, result.output
    assert client.get("/staff/").status_code == 302
    assert login.staff(li).status_code == 200 and client.get("/staff/").status_code == 302
    assert api(client, token).status_code == 401
    assert runner.invoke(args=["users", "activate", "li"]).exit_code == 0
    assert login.staff(li).status_code == 302 and api(client, token).status_code == 200


def test_a_password_reset_ends_sessions_and_the_new_password_works(runner, app, client, login, li):
    login.staff(li)
    result = runner.invoke(args=["users", "reset-password", "li", "--password-stdin"], input="a brand new secret\n")
    assert result.exit_code == 0, result.output
    assert client.get("/staff/").status_code == 302
    assert login.staff(li).status_code == 200  # the old password
    assert login.staff(li, password="a brand new secret").status_code == 302


def test_a_reset_refuses_a_short_password_and_changes_nothing(runner, client, login, li):
    result = runner.invoke(args=["users", "reset-password", "li", "--password-stdin"], input="short\n")
    assert result.exit_code != 0 and "at least 8 characters" in result.output
    assert login.staff(li, password=PASSWORD).status_code == 302


@pytest.mark.parametrize("command", [["users", "deactivate", "nobody"], ["users", "activate", "nobody"],
                                     ["api-token", "create", "nobody"], ["api-token", "revoke", "999999"],
                                     ["api-token", "revoke", "pf_nothing"]])
def test_unknown_users_and_tokens_get_a_clear_error(runner, command):
    result = runner.invoke(args=command)
    assert result.exit_code != 0 and "no " in result.output


def test_users_are_listed_with_role_sites_state_and_last_login(runner, client, login, make_staff, make_site):
    mall = make_site("mall")
    make_staff("zhang", sites=[mall])
    make_staff("wang", sites=[mall], active=False)
    login.staff(make_staff("li", sites=[mall]))
    lines = runner.invoke(args=["users", "list"]).output.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["li", "wang", "zhang"]
    li, wang, _ = (line.split("\t") for line in lines)
    assert li[1:4] == ["operator", "mall", "active"] and "last login -" not in li[4]
    assert wang[3] == "inactive" and wang[4] == "last login -"


def test_tokens_expire_after_the_days_given(runner, client, li):
    token = runner.invoke(args=["api-token", "create", "li", "--days", "30"]).output.strip()
    row = db.session.query(ApiToken).one()
    assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    assert api(client, token).status_code == 200
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = api(client, token)
    assert response.status_code == 401 and "expired" in response.get_json()["error"]["message"]


def test_tokens_expire_by_default_after_api_token_days(runner, li, monkeypatch, reload_settings):
    monkeypatch.setenv("API_TOKEN_DAYS", "7")
    reload_settings()
    runner.invoke(args=["api-token", "create", "li"])
    assert timedelta(days=6) < db.session.query(ApiToken).one().expires_at - utcnow() <= timedelta(days=7)


def test_zero_days_is_a_token_without_end(runner, li):
    runner.invoke(args=["api-token", "create", "li", "--days", "0"])
    assert db.session.query(ApiToken).one().expires_at is None


def test_tokens_are_listed_with_prefix_last_use_expiry_and_state(runner, client, li, make_staff):
    used = runner.invoke(args=["api-token", "create", "li"]).output.strip()
    runner.invoke(args=["api-token", "create", "li"])
    make_staff("other")
    runner.invoke(args=["api-token", "create", "other"])
    api(client, used)
    lines = runner.invoke(args=["api-token", "list", "li"]).output.splitlines()
    assert len(lines) == 2
    first = lines[0].split("\t")
    assert first[1] == used[:10] and first[2] == "li" and first[4] != "last used -" and first[6] == "active"
    assert lines[1].split("\t")[4] == "last used -"
    assert len(runner.invoke(args=["api-token", "list"]).output.splitlines()) == 3


@pytest.mark.parametrize("by", ["id", "prefix"])
def test_a_revoked_token_is_refused_from_the_next_call(runner, client, li, by):
    token = runner.invoke(args=["api-token", "create", "li"]).output.strip()
    assert api(client, token).status_code == 200
    row = db.session.query(ApiToken).one()
    result = runner.invoke(args=["api-token", "revoke", str(row.id) if by == "id" else row.prefix])
    assert result.exit_code == 0 and "revoked" in result.output
    assert api(client, token).status_code == 401
    assert "revoked" in runner.invoke(args=["api-token", "list"]).output
    again = runner.invoke(args=["api-token", "revoke", str(row.id)])
    assert again.exit_code != 0 and "already revoked" in again.output


def test_the_last_active_admin_cannot_be_switched_off(runner, make_staff):
    boss = make_staff("boss", role=Role.ADMIN)
    result = runner.invoke(args=["users", "deactivate", "boss"])
    assert result.exit_code != 0 and "last active administrator" in result.output
    db.session.refresh(boss)
    assert boss.active
    make_staff("deputy", role=Role.ADMIN)
    assert runner.invoke(args=["users", "deactivate", "boss"]).exit_code == 0


def test_a_temporary_reset_sends_the_next_login_to_the_password_page(runner, client, login, li):
    result = runner.invoke(args=["users", "reset-password", "li", "--password-stdin", "--temporary"],
                           input="a brand new secret\n")
    assert result.exit_code == 0, result.output
    response = login.staff(li, password="a brand new secret")
    assert response.headers["Location"] == "/auth/staff/password"


def test_cli_changes_are_audited_without_the_password(runner, li):
    runner.invoke(args=["users", "reset-password", "li", "--password-stdin"], input="a brand new secret\n")
    runner.invoke(args=["users", "deactivate", "li"])
    entries = db.session.query(AuditEntry).order_by(AuditEntry.id).all()
    assert [(e.actor, e.action) for e in entries] == [("cli:users", "staff_user.password_reset"),
                                                      ("cli:users", "staff_user.deactivated")]
    assert "a brand new secret" not in str([e.detail for e in entries])


def test_an_expired_token_is_listed_as_expired(runner, li):
    runner.invoke(args=["api-token", "create", "li", "--days", "1"])
    row = db.session.query(ApiToken).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert runner.invoke(args=["api-token", "list"]).output.rstrip().endswith("\texpired")
