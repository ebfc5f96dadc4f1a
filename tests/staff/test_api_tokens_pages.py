"""The API tokens page (/staff/api-tokens): the list, a new token shown exactly once, expiry, revoking after a
confirmation; administrators only, each change audited."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken, AuditEntry, Role, utcnow
from portal.staffing.tokens import create_token

HTMX = {"HX-Request": "true"}


def shown_token(html: str) -> str:
    return re.search(r'data-testid="new-token">([^<]+)<', html).group(1)


def api(client, token: str):
    """A call of the token's user on a shop of their site: 200 when the token is taken, 401 when refused."""
    return client.get("/api/v1/accounts/SHOP1", headers={"Authorization": f"Bearer {token}"})


def tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.execute(select(ApiToken).order_by(ApiToken.id)).scalars())


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


@pytest.fixture
def admin(client, login, make_staff):
    user = make_staff("boss", role=Role.ADMIN)
    login.staff(user)
    return user


@pytest.fixture
def li(make_staff, make_account):
    """A cashier with a shop at their site."""
    user = make_staff("li", role=Role.CASHIER)
    make_account(site=user.sites[0], code="SHOP1")
    return user


def test_a_new_token_is_shown_once_works_and_expires_after_the_days_given(client, admin, li):
    response = client.post("/staff/api-tokens", data={"user": str(li.id), "days": "30"}, headers=HTMX)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert html.lstrip().startswith('<section id="api-tokens"')
    token = shown_token(html)
    [row] = tokens()
    assert row.user_id == li.id and token.startswith(row.prefix)
    assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    assert api(client, token).status_code == 200
    assert token not in client.get("/staff/api-tokens").get_data(as_text=True)
    [entry] = audits("api_token.created")
    assert entry.actor == "staff:boss" and entry.detail["user"] == "li" and token not in str(entry.detail)


def test_the_form_offers_the_settings_expiry_and_zero_means_never(client, admin, li, app):
    html = client.get("/staff/api-tokens").get_data(as_text=True)
    days = app.config["SETTINGS"].auth.api_token_days
    assert re.search(rf'name="days"[^>]*value="{days}"', html)

    client.post("/staff/api-tokens", data={"user": str(li.id), "days": "0"})
    assert tokens()[0].expires_at is None


@pytest.mark.parametrize("form", [
    {"days": "-1"}, {"days": "abc"}, {"days": "99999"}, {"days": ""}, {"user": "999999"}, {"user": "x"},
    {"user": ""},
], ids=["negative", "not a number", "too long", "no days", "no such user", "user not a number", "no user"])
def test_nonsense_gets_a_clear_error_and_makes_no_token(client, admin, li, form):
    data = {"user": str(li.id), "days": "30", **form}
    plain = client.post("/staff/api-tokens", data=data)
    htmx = client.post("/staff/api-tokens", data=data, headers=HTMX)
    assert plain.status_code == 422 and htmx.status_code == 200
    assert 'data-testid="error-create"' in htmx.get_data(as_text=True)
    assert tokens() == [] and not audits("api_token.created")


def test_a_switched_off_user_gets_no_token(client, admin, make_staff):
    off = make_staff("wang", active=False)
    response = client.post("/staff/api-tokens", data={"user": str(off.id), "days": "30"})
    assert response.status_code == 422 and tokens() == []


def test_the_list_shows_prefix_user_created_last_use_expiry_and_state(client, admin, li, make_staff):
    used = create_token(li)
    create_token(li, days=1)
    off = make_staff("wang", active=False)
    create_token(off)
    db.session.commit()
    api(client, used)
    rows = tokens()
    rows[1].expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    html = client.get("/staff/api-tokens").get_data(as_text=True)

    states = dict(re.findall(r'<tr data-token="(\d+)" data-state="(\w+)">', html))
    assert states == {str(rows[0].id): "active", str(rows[1].id): "expired", str(rows[2].id): "inactive_user"}
    first = re.search(rf'<tr data-token="{rows[0].id}".*?</tr>', html, re.DOTALL).group(0)
    assert rows[0].prefix in first and "li" in first and "从未" not in first  # last used: a time


def test_revoking_asks_first_then_refuses_the_token_from_its_next_call(client, admin, li):
    token = create_token(li)
    db.session.commit()
    row = tokens()[0]

    confirm = client.get(f"/staff/api-tokens/{row.id}/revoke")
    assert confirm.status_code == 200 and row.prefix in confirm.get_data(as_text=True)
    assert api(client, token).status_code == 200  # asking changed nothing

    response = client.post(f"/staff/api-tokens/{row.id}/revoke")

    assert response.status_code == 302 and response.headers["Location"] == "/staff/api-tokens"
    assert tokens()[0].revoked_at is not None and api(client, token).status_code == 401
    [entry] = audits("api_token.revoked")
    assert entry.target_id == row.id and entry.detail == {"user": "li", "prefix": row.prefix}


def test_revoking_twice_says_so_and_records_once(client, admin, li):
    create_token(li)
    db.session.commit()
    row = tokens()[0]
    client.post(f"/staff/api-tokens/{row.id}/revoke")
    again = client.post(f"/staff/api-tokens/{row.id}/revoke", headers=HTMX)
    assert 'data-testid="error-revoke"' in again.get_data(as_text=True)
    assert len(audits("api_token.revoked")) == 1


def test_a_missing_token_is_404(client, admin):
    assert client.get("/staff/api-tokens/999999/revoke").status_code == 404
    assert client.post("/staff/api-tokens/999999/revoke").status_code == 404


# --- who may ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.MANAGER, Role.CASHIER, Role.OPERATOR])
def test_other_roles_may_neither_see_nor_make_nor_revoke_tokens(client, login, make_staff, li, role):
    create_token(li)
    db.session.commit()
    row = tokens()[0]
    login.staff(make_staff(role=role, sites=li.sites))
    assert client.get("/staff/api-tokens").status_code == 403
    assert client.post("/staff/api-tokens", data={"user": str(li.id), "days": "1"}).status_code == 403
    assert client.post(f"/staff/api-tokens/{row.id}/revoke").status_code == 403
    assert len(tokens()) == 1 and tokens()[0].revoked_at is None


def test_an_auditor_reads_the_tokens_of_their_sites_and_changes_nothing(client, login, make_staff, make_site, li):
    create_token(li)
    create_token(make_staff("far", sites=[make_site("far-away")]))
    db.session.commit()
    own, far = tokens()
    login.staff(make_staff(role=Role.AUDITOR, sites=li.sites))

    html = client.get("/staff/api-tokens").get_data(as_text=True)

    assert f'data-token="{own.id}"' in html and f'data-token="{far.id}"' not in html
    assert "<form" not in html.split('id="api-tokens"')[1] and "revoke" not in html.split('id="api-tokens"')[1]
    assert client.get(f"/staff/api-tokens/{own.id}/revoke").status_code == 403
    assert client.post(f"/staff/api-tokens/{own.id}/revoke").status_code == 403
    assert client.post("/staff/api-tokens", data={"user": str(li.id), "days": "1"}).status_code == 403
    assert all(t.revoked_at is None for t in tokens()) and len(tokens()) == 2


def test_revoking_without_the_csrf_token_is_refused(client, admin, li, csrf_on):
    create_token(li)
    db.session.commit()
    row = tokens()[0]
    assert client.post(f"/staff/api-tokens/{row.id}/revoke").status_code == 400
    page = client.get(f"/staff/api-tokens/{row.id}/revoke").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/staff/api-tokens/{row.id}/revoke", data={"csrf_token": csrf}).status_code == 302
    assert tokens()[0].revoked_at is not None
