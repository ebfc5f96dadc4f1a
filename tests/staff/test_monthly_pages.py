"""The manager's billing pages (fee policy with the Art. 944 warning, groups, line loss, report) and the
tenant's allocation breakdown."""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AllocationMethod, AuditEntry, Role
from portal.monthly.allocation import allocate
from tests.monthly.conftest import (
    LATER,
    SH,
    add_readings,
    billing_site,
    make_group,
    make_tariff,
    month_start,
)


@pytest.fixture
def manager(make_staff, billing_site):
    site = billing_site(name="Sunny mall", fee_rate_e4_per_m2=52_500)
    return make_staff(role=Role.MANAGER, sites=[site]), site


@pytest.fixture
def allocated(billing_site, make_account, make_gateway, make_meter, make_group):
    """A site whose LIGHTS group (3.00 kWh over two shops by area) is allocated for March 2025."""
    site = billing_site()
    common = make_meter(gateway=make_gateway(site=site), code="CL1")
    add_readings(common, [300], month_start(2025, 3))
    a = make_account(site=site, code="A1", name="Bakery", balance_fen=10_000, area_m2=Decimal("10.00"))
    b = make_account(site=site, code="A2", name="Florist", balance_fen=10_000, area_m2=Decimal("20.00"))
    group = make_group(site, AllocationMethod.AREA, [common], {a: 1, b: 1})
    allocate(db.session, "2025-03", now=LATER)
    db.session.commit()
    return site, group, a, b


EN = {"Accept-Language": "en"}


def test_manager_sees_fee_settings_with_the_art_944_warning(client, login, manager):
    user, _site = manager
    login.staff(user)
    html = client.get("/staff/billing/", headers=EN).get_data(as_text=True)
    assert 'id="fee-settings"' in html and 'data-testid="art944-warning"' in html
    assert "Civil Code Art. 944" in html and 'value="5.2500"' in html
    zh = client.get("/staff/billing/").get_data(as_text=True)
    assert "第九百四十四条" in zh


def test_trip_policy_is_refused_without_acknowledging_the_warning(client, login, manager):
    user, site = manager
    login.staff(user)
    res = client.post(f"/staff/billing/sites/{site.id}/fees", data={"rate": "5.25", "fixed": "0", "policy": "trip"},
                      headers={"HX-Request": "true", **EN})
    assert "Art. 944" in res.get_data(as_text=True) and 'role="alert"' in res.get_data(as_text=True)
    db.session.refresh(site)
    assert site.fee_trip_enabled is False


def test_trip_policy_is_enabled_once_the_warning_is_acknowledged_and_audited(client, login, manager):
    user, site = manager
    login.staff(user)
    res = client.post(f"/staff/billing/sites/{site.id}/fees",
                      data={"rate": "6", "fixed": "0.00", "policy": "trip", "acknowledge": "yes"},
                      headers={"HX-Request": "true", **EN})
    assert res.status_code == 200 and 'data-testid="trip-enabled"' in res.get_data(as_text=True)
    db.session.refresh(site)
    assert (site.fee_trip_enabled, site.fee_rate_e4_per_m2) == (True, 60_000)
    audit = db.session.execute(select(AuditEntry).where(AuditEntry.action == "site.fee_settings")).scalar_one()
    assert audit.detail["art944_warning_shown"] is True and audit.actor == user.actor


def test_fee_settings_refuse_a_malformed_amount(client, login, manager):
    user, site = manager
    login.staff(user)
    client.post(f"/staff/billing/sites/{site.id}/fees", data={"rate": "5.123456", "fixed": "0", "policy": "arrears"},
                headers={"HX-Request": "true"})
    db.session.refresh(site)
    assert site.fee_rate_e4_per_m2 == 52_500


def test_billing_pages_are_for_managers_of_the_site(client, login, manager, make_staff, billing_site):
    _user, site = manager
    login.staff(make_staff(role=Role.OPERATOR, sites=[site]))
    assert client.get("/staff/billing/").status_code == 403
    login.staff(make_staff(role=Role.MANAGER, sites=[billing_site()]))
    assert client.post(f"/staff/billing/sites/{site.id}/fees", data={"rate": "1"}).status_code == 404
    assert client.get(f"/staff/billing/?site={site.id}").status_code == 404


def test_group_page_shows_each_shops_part(client, login, make_staff, allocated):
    site, group, _a, _b = allocated
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    index = client.get(f"/staff/billing/?site={site.id}").get_data(as_text=True)
    assert 'data-group="LIGHTS"' in index and "¥3.00" in index
    html = client.get(f"/staff/billing/groups/{group.id}").get_data(as_text=True)
    assert 'data-account="A1"' in html and "¥1.00" in html and "¥2.00" in html and "33.33 %" in html


def test_line_loss_and_monthly_report_pages(client, login, make_staff, allocated):
    site, _group, _a, _b = allocated
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    assert client.get(f"/staff/billing/line-loss?site={site.id}&month=2025-03").status_code == 200
    assert client.get("/staff/billing/line-loss?month=2025-3").status_code == 400
    month = f"{datetime.now(SH):%Y-%m}"  # the business month the shops' entries were posted in
    # the monthly report is the statement under the reports now, its CSV the statement's .xlsx
    page = client.get(f"/staff/billing/report?site={site.id}&month={month}", follow_redirects=True, headers=EN)
    assert page.request.path == "/staff/reports/statement"
    html = page.get_data(as_text=True)
    assert 'data-account="A1"' in html and 'data-sum="closing"' in html
    sheet = client.get(f"/staff/billing/report?site={site.id}&month={month}&format=csv", follow_redirects=True)
    assert sheet.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert openpyxl.load_workbook(io.BytesIO(sheet.data))["statement"].max_row == 1 + 2  # header, shops


def test_tenant_sees_the_shops_allocation_breakdown(client, login, make_tenant, allocated):
    _site, _group, a, _b = allocated
    login.tenant(make_tenant([a]), a)
    html = client.get(f"/t/a/{a.id}", headers=EN).get_data(as_text=True)
    assert 'id="allocation"' in html and 'data-group="LIGHTS"' in html
    assert "3.00 kWh" in html and "10.00 m² / 30.00 m²" in html and "(33.33%)" in html
    assert 'data-testid="allocation-amount">¥1.00' in html


def test_tenant_page_without_allocation_shows_no_breakdown(client, login, make_tenant, make_account):
    shop = make_account()
    login.tenant(make_tenant([shop]), shop)
    assert 'id="allocation"' not in client.get(f"/t/a/{shop.id}").get_data(as_text=True)
