"""Fee and allocation runs started from /staff/billing/: a preview of the totals, then the run on a confirmation,
the same verb as the command line, idempotent and audited; the preview is what the run then posts."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AllocationLine,
    AllocationMethod,
    AllocationRun,
    AuditEntry,
    EntryKind,
    FeeCharge,
    LedgerEntry,
    Role,
    utcnow,
)
from portal.monthly.periods import month_bounds, month_of, previous_month
from portal.settings import business_tz
from tests.monthly.conftest import add_readings, billing_site, make_group, make_tariff

HX = {"HX-Request": "true", "Accept-Language": "en"}
THIS_MONTH = month_of(utcnow(), business_tz())
LAST_MONTH = previous_month(THIS_MONTH)


@pytest.fixture
def mall(billing_site, make_account, make_gateway, make_meter, make_group):
    """Fee 5.25 yuan/m²; shops of 10, 30 and 20 m² (the last with 1 yuan only); LIGHTS (area) used 7.00 kWh last
    month."""
    site = billing_site(name="Sunny mall", fee_rate_e4_per_m2=52_500)
    shops = [make_account(site=site, code="S1", balance_fen=50_000, area_m2=Decimal("10.00")),
             make_account(site=site, code="S2", balance_fen=50_000, area_m2=Decimal("30.00")),
             make_account(site=site, code="S3", balance_fen=100, area_m2=Decimal("20.00"))]
    common = make_meter(gateway=make_gateway(site=site), code="CL1")
    start, _ = month_bounds(LAST_MONTH, business_tz())
    add_readings(common, [300, 400], start)
    group = make_group(site, AllocationMethod.AREA, [common], {shops[0]: 1, shops[1]: 1, shops[2]: 1})
    return site, shops, group


@pytest.fixture
def manager(client, login, make_staff, mall):
    user = make_staff(role=Role.MANAGER, sites=[mall[0]])
    login.staff(user)
    return user


def html(res) -> str:
    return res.get_data(as_text=True)


def entries(kind: EntryKind) -> dict[int, int]:
    rows = db.session.execute(select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_fen))
                              .where(LedgerEntry.kind == kind).group_by(LedgerEntry.account_id))
    return dict(rows.tuples().all())


def test_the_fee_preview_states_the_shops_and_the_money_and_posts_nothing(client, manager, mall):
    site = mall[0]
    res = client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}", headers=HX)
    page = html(res)
    # 52.50 + 157.50 + 105.00; S3 has 1.00: 0.99 debited (never to zero), 104.01 left as fee arrears
    assert f"{THIS_MONTH}: 3 shops to charge, ¥315.00 in all (¥210.99 debited now, ¥104.01 left as fee arrears)" in page
    assert 'data-testid="run-fees-confirm"' in page and "charge 3 shops ¥315.00" in page
    assert db.session.query(FeeCharge).count() == 0 and entries(EntryKind.FEE) == {}


def test_a_fee_run_from_the_page_posts_what_the_preview_said_once(client, manager, mall):
    site, shops, _group = mall
    client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}", headers=HX)
    res = client.post(f"/staff/billing/sites/{site.id}/runs/fees", data={"month": THIS_MONTH}, headers=HX)
    assert "3 shops charged ¥315.00 (¥210.99 debited, ¥104.01 left as fee arrears)" in html(res)
    assert entries(EntryKind.FEE) == {shops[0].id: -5_250, shops[1].id: -15_750, shops[2].id: -99}

    again = client.post(f"/staff/billing/sites/{site.id}/runs/fees", data={"month": THIS_MONTH}, headers=HX)
    assert "nothing posted, every shop was charged already" in html(again)
    assert entries(EntryKind.FEE) == {shops[0].id: -5_250, shops[1].id: -15_750, shops[2].id: -99}
    assert db.session.query(FeeCharge).count() == 3
    preview = html(client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}", headers=HX))
    assert "0 shops to charge" in preview and "run-fees-confirm" not in preview
    runs = db.session.execute(select(AuditEntry).where(AuditEntry.action == "fees.run")
                              .order_by(AuditEntry.id)).scalars().all()
    assert [(e.detail["shops"], e.detail["fee_fen"]) for e in runs] == [(3, 31_500), (0, 0)]
    assert runs[0].actor == manager.actor


def test_an_allocation_run_from_the_page_posts_the_preview_once(client, manager, mall):
    site, shops, _group = mall
    preview = html(client.get(f"/staff/billing/sites/{site.id}/runs/allocation?month={LAST_MONTH}", headers=HX))
    assert f"{LAST_MONTH}: ¥7.00 to allocate over 3 shops (groups to allocate: 1)." in preview
    assert 'data-group="LIGHTS"' in preview
    res = client.post(f"/staff/billing/sites/{site.id}/runs/allocation", data={"month": LAST_MONTH}, headers=HX)
    assert f"{LAST_MONTH}: ¥7.00 allocated (groups: 1)." in html(res)
    posted = {shops[0].id: -117, shops[1].id: -350, shops[2].id: -233}  # 10 : 30 : 20 m² of 7.00
    assert entries(EntryKind.ALLOCATION) == posted

    again = client.post(f"/staff/billing/sites/{site.id}/runs/allocation", data={"month": LAST_MONTH}, headers=HX)
    assert "nothing posted" in html(again) and "already allocated" in html(again)
    assert entries(EntryKind.ALLOCATION) == posted and db.session.query(AllocationRun).count() == 1
    audits = db.session.execute(select(AuditEntry).where(AuditEntry.action == "allocation.run")
                                .order_by(AuditEntry.id)).scalars().all()
    assert [e.detail["groups"] for e in audits] == [{"LIGHTS": "posted"}, {"LIGHTS": "already"}]


def test_the_group_pages_preview_equals_what_the_run_then_posts(client, manager, mall):
    site, shops, group = mall
    page = html(client.get(f"/staff/billing/groups/{group.id}", headers=HX | {"HX-Request": "false"}))
    last = page.split('data-testid="preview-last"')[1].split('data-testid="preview-so-far"')[0]
    shown = {code: last.split(f'data-account="{code}"')[1].split('data-testid="preview-amount">')[1].split("<")[0]
             for code in ("S1", "S2", "S3")}
    assert "¥7.00" in last and "7.00 kWh" in last
    client.post(f"/staff/billing/sites/{site.id}/runs/allocation", data={"month": LAST_MONTH}, headers=HX)
    lines = db.session.execute(select(AllocationLine.account_id, AllocationLine.amount_fen)).tuples().all()
    codes = {s.id: s.code for s in shops}
    assert {codes[a]: f"¥{fen // 100}.{fen % 100:02d}" for a, fen in lines} == shown


@pytest.mark.parametrize("which, month, words", [
    ("fees", "2099-01", "has not begun yet"),
    ("allocation", THIS_MONTH, "is not over yet"),
    ("fees", "2025-13", "month must be a month YYYY-MM"),
    ("allocation", "2025-1", "month must be a month YYYY-MM"),
])
def test_a_month_that_cannot_run_is_refused_with_a_clear_message(client, manager, mall, which, month, words):
    site = mall[0]
    res = client.get(f"/staff/billing/sites/{site.id}/runs/{which}?month={month}", headers=HX)
    assert res.status_code == 200 and words in html(res) and 'role="alert"' in html(res)
    res = client.post(f"/staff/billing/sites/{site.id}/runs/{which}", data={"month": month}, headers=HX)
    assert res.status_code == 200 and words in html(res)
    assert db.session.query(FeeCharge).count() == 0 and db.session.query(AllocationRun).count() == 0


def test_without_htmx_a_run_answers_with_its_card_on_a_page(client, manager, mall):
    site = mall[0]
    en = {"Accept-Language": "en"}
    page = client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}", headers=en)
    assert page.status_code == 200 and "<html" in html(page) and "3 shops to charge" in html(page)
    refused = client.post(f"/staff/billing/sites/{site.id}/runs/allocation", data={"month": THIS_MONTH}, headers=en)
    assert refused.status_code == 422 and "is not over yet" in html(refused)
    done = client.post(f"/staff/billing/sites/{site.id}/runs/fees", data={"month": THIS_MONTH}, headers=en)
    assert done.status_code == 200 and "3 shops charged" in html(done)


def test_the_billing_page_links_the_usual_months_runs(client, manager, mall):
    site = mall[0]
    page = html(client.get(f"/staff/billing/?site={site.id}", headers=HX | {"HX-Request": "false"}))
    assert f"Run fees for {THIS_MONTH}" in page and f"Run allocation for {LAST_MONTH}" in page
    usual = html(client.get(f"/staff/billing/sites/{site.id}/runs/allocation", headers=HX))
    assert f"{LAST_MONTH}: ¥7.00 to allocate" in usual


def test_an_auditor_sees_a_preview_and_cannot_run(client, login, make_staff, mall):
    site = mall[0]
    login.staff(make_staff(role=Role.AUDITOR, sites=[site]))
    preview = html(client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}", headers=HX))
    assert "3 shops to charge" in preview and "run-fees-confirm" not in preview
    assert client.post(f"/staff/billing/sites/{site.id}/runs/fees", data={"month": THIS_MONTH}).status_code == 403
    assert db.session.query(FeeCharge).count() == 0


def test_runs_are_for_managers_of_the_site(client, login, make_staff, mall, billing_site):
    site = mall[0]
    login.staff(make_staff(role=Role.CASHIER, sites=[site]))
    assert client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}").status_code == 403
    login.staff(make_staff(role=Role.MANAGER, sites=[billing_site()]))
    assert client.get(f"/staff/billing/sites/{site.id}/runs/fees?month={THIS_MONTH}").status_code == 404
    assert client.post(f"/staff/billing/sites/{site.id}/runs/allocation", data={"month": LAST_MONTH}).status_code == 404
    assert db.session.query(AllocationRun).count() == 0


def test_the_command_line_runs_stay(runner, mall):
    assert "3 shops charged" in runner.invoke(args=["fees", "run", "--month", THIS_MONTH]).output
    assert "¥7.00 over 3 shops" in runner.invoke(args=["allocate", "--period", LAST_MONTH]).output
