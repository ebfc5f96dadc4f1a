"""The manager's rules page per site, and the tenant's emergency-credit button."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, CalendarDay, MeterState, NoTripWindow, Role, Supply
from tests.control.conftest import entries, polls, shop, use


@pytest.fixture
def manager(make_staff, shop):
    """A manager of a site with one shop (balance 1 yuan) and one meter."""
    account = shop(balance_fen=100)
    return make_staff(role=Role.MANAGER, sites=[account.site]), account


def rules_url(site) -> str:
    return f"/staff/sites/{site.id}/rules"


SAFEGUARDS = {"overdraft": "10", "restore_min": "20.50", "max_balance": "", "level1": "80", "level2": "30",
              "level3": "", "emergency": "15", "warning_minutes": "45", "protect_holidays": "1"}


def test_manager_sees_the_rules_page_with_the_effective_rule(client, login, manager):
    user, account = manager
    login.staff(user)

    html = client.get(rules_url(account.site)).get_data(as_text=True)

    assert 'id="safeguards"' in html and 'id="windows"' in html and 'id="calendar"' in html
    assert re.search(r'data-testid="rule-summary">[^<]*0\.00[^<]*0\.01', html)


def test_manager_saves_the_safeguards_in_yuan(client, login, manager):
    user, account = manager
    login.staff(user)

    response = client.post(rules_url(account.site), data=SAFEGUARDS, headers={"HX-Request": "true"})

    assert response.status_code == 200
    site = account.site
    db.session.refresh(site)
    assert (site.overdraft_limit_fen, site.restore_min_fen, site.max_balance_fen) == (1_000, 2_050, None)
    assert (site.low_balance_levels_fen, site.emergency_credit_fen, site.warning_minutes) == ([8_000, 3_000], 1_500, 45)
    assert db.session.execute(select(AuditEntry.action).where(AuditEntry.actor == user.actor)).scalar_one() == \
        "site.balance_rules"


def test_an_amount_that_is_not_yuan_is_refused_with_a_message(client, login, manager):
    user, account = manager
    login.staff(user)

    response = client.post(rules_url(account.site), data={**SAFEGUARDS, "overdraft": "1,000"},
                           headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "flash-error" in response.get_data(as_text=True)
    assert account.site.overdraft_limit_fen == 0


def test_an_electrician_may_not_edit_the_rules(client, login, make_staff, shop):
    site = shop().site
    login.staff(make_staff(role=Role.OPERATOR, sites=[site]))

    assert client.post(rules_url(site), data=SAFEGUARDS).status_code == 403


def test_a_manager_of_another_site_gets_not_found(client, login, make_staff, shop):
    login.staff(make_staff(role=Role.MANAGER))

    assert client.get(rules_url(shop().site)).status_code == 404


def test_manager_adds_a_night_window_across_midnight(client, login, manager):
    user, account = manager
    login.staff(user)

    response = client.post(f"/staff/sites/{account.site.id}/windows", data={"weekday": "6", "start": "22:00",
                                                                          "end": "06:00"},
                           headers={"HX-Request": "true"})

    rows = db.session.execute(select(NoTripWindow.weekday, NoTripWindow.start, NoTripWindow.end)
                              .order_by(NoTripWindow.weekday)).all()
    assert [tuple(r) for r in rows] == [(0, "00:00", "06:00"), (6, "22:00", "24:00")]
    assert response.get_data(as_text=True).count("data-window=") == 2


def test_manager_marks_a_site_holiday_without_htmx_and_is_sent_back_to_the_page(client, login, manager):
    user, account = manager
    login.staff(user)

    response = client.post(f"/staff/sites/{account.site.id}/calendar",
                           data={"day": "2026-12-24", "kind": "holiday", "note": "Christmas Eve sale"})

    assert response.status_code == 302 and response.location.endswith(f"/staff/sites/{account.site.id}/rules#calendar")
    day = db.session.execute(select(CalendarDay)).scalar_one()
    assert (day.day.isoformat(), day.holiday, day.note) == ("2026-12-24", True, "Christmas Eve sale")


def test_manager_exempts_a_tripped_shop_and_supply_returns(client, login, manager):
    user, account = manager
    login.staff(user)
    use(account, 100)

    response = client.post(f"/staff/sites/{account.site.id}/exempt", data={"account": account.code, "exempt": "1"},
                           headers={"HX-Request": "true"})

    assert f'data-account="{account.code}"' in response.get_data(as_text=True)
    db.session.refresh(account)
    assert account.exempt and account.meters[0].supply_desired.value == "on"


# --- tenant -------------------------------------------------------------------------------------------


@pytest.fixture
def tenant_shop(shop, make_tenant, login):
    """A logged-in tenant whose shop is down to 1 yuan at a site offering 20 yuan of emergency credit."""
    account = shop(balance_fen=100, emergency_credit_fen=2_000)
    tenant = make_tenant([account])
    login.tenant(tenant, account)
    return account


def test_tenant_sees_the_emergency_credit_button_when_the_balance_is_low(client, tenant_shop):
    html = client.get(f"/t/a/{tenant_shop.id}").get_data(as_text=True)

    assert 'data-testid="take-emergency"' in html


def test_tenant_takes_emergency_credit_with_the_button(client, tenant_shop):
    response = client.post(f"/t/a/{tenant_shop.id}/emergency", headers={"HX-Request": "true"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="status"' in html
    assert 'data-testid="emergency-owed"' in html and 'data-testid="take-emergency"' not in html
    assert entries(tenant_shop)[-1] == ("emergency", 2_000, 2_100)


def test_tenant_cannot_take_emergency_credit_twice(client, tenant_shop):
    client.post(f"/t/a/{tenant_shop.id}/emergency")

    response = client.post(f"/t/a/{tenant_shop.id}/emergency")

    assert response.status_code == 302
    assert [e[0] for e in entries(tenant_shop)].count("emergency") == 1


def test_taking_emergency_credit_needs_the_csrf_token(client, tenant_shop, csrf_on):
    assert client.post(f"/t/a/{tenant_shop.id}/emergency").status_code == 400
    assert [e[0] for e in entries(tenant_shop)] == ["opening"]


def test_tenant_cannot_take_emergency_credit_for_another_shop(client, tenant_shop, shop):
    other = shop(balance_fen=100, emergency_credit_fen=2_000)

    assert client.post(f"/t/a/{other.id}/emergency").status_code == 404


def test_manager_gives_the_offices_phone_and_a_shop_switched_off_by_staff_is_told_to_call_it(
        client, login, manager, make_staff, make_tenant):
    user, account = manager
    login.staff(user)
    url = f"/staff/sites/{account.site.id}/contact"
    refused = client.post(url, data={"contact_phone": "call us"}, headers={"HX-Request": "true"})
    assert "flash-error" in refused.get_data(as_text=True) and account.site.contact_phone is None
    saved = client.post(url, data={"contact_phone": " 0854-812 3456 "}, headers={"HX-Request": "true"})
    assert saved.status_code == 200 and 'value="0854-812 3456"' in saved.get_data(as_text=True)
    db.session.refresh(account.site)
    assert account.site.contact_phone == "0854-812 3456"
    assert db.session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "site.contact_phone")).one() == {
        "old": None, "new": "0854-812 3456"}
    login.staff(make_staff(role=Role.OPERATOR, sites=[account.site]))
    assert client.post(url, data={"contact_phone": "110"}).status_code == 403

    meter = account.meters[0]
    meter.supply_desired, meter.desired_reason = Supply.OFF, "remote"
    db.session.add(MeterState(meter_id=meter.id, online=True, supply_actual=Supply.OFF))
    db.session.commit()
    login.tenant(make_tenant([account]), account)
    html = client.get(f"/t/a/{account.id}").get_data(as_text=True)
    assert '<a class="tel" href="tel:0854-8123456">0854-812 3456</a>' in html
