"""GET /api/v1/accounts/<code>/usage (SPEC §4): a shop's days off the roll-ups, decimal strings, integer fen."""
from __future__ import annotations

from datetime import date

import pytest

from portal.api.openapi import build_spec
from portal.extensions import db
from portal.models import DailyUsage, MeterKind, Role
from tests.api.test_api import api, token_for


@pytest.fixture
def mall(make_site, make_account, make_meter, make_staff, token_for):
    """Shop A1 with two electricity meters and a water meter, water-only shop W1, a manager's token."""
    site = make_site("mall")
    shop, wet = make_account(site=site, code="A1"), make_account(site=site, code="W1")
    e1, e2 = make_meter(account=shop, code="E1"), make_meter(account=shop, code="E2")
    w1 = make_meter(account=shop, code="W-A1", kind=MeterKind.WATER, profile="payfirst-water-v1")
    w2 = make_meter(account=wet, code="W-W1", kind=MeterKind.WATER, profile="payfirst-water-v1")
    for meter, day, used, charged in ((e1, 2, 1_234, 1_234), (e2, 2, 66, 70), (e1, 4, 5, 0), (w1, 2, 999, 300),
                                      (w2, 3, 1_005, 400)):
        db.session.add(DailyUsage(meter_id=meter.id, day=date(2026, 3, day), account_id=meter.account_id,
                                  usage=used, charged_fen=charged, readings=4))
    db.session.commit()
    return site, token_for(make_staff(role=Role.MANAGER, sites=[site]))


def test_a_shops_days_sum_its_electricity_meters(api, mall):
    _, token = mall
    r = api("/accounts/A1/usage?from=2026-03-01&to=2026-03-04", token)
    assert r.status_code == 200
    assert r.json == {"account": "A1", "unit": "kWh", "days": [
        {"date": "2026-03-01", "usage": "0.00", "charged_fen": 0},
        {"date": "2026-03-02", "usage": "13.00", "charged_fen": 1_304},
        {"date": "2026-03-03", "usage": "0.00", "charged_fen": 0},
        {"date": "2026-03-04", "usage": "0.05", "charged_fen": 0},
    ]}


def test_water_in_cubic_metres_for_a_water_shop_or_when_asked(api, mall):
    _, token = mall
    r = api("/accounts/W1/usage?from=2026-03-03&to=2026-03-03", token)
    assert r.json == {"account": "W1", "unit": "m³", "days": [{"date": "2026-03-03", "usage": "1.005",
                                                                 "charged_fen": 400}]}
    r = api("/accounts/A1/usage?from=2026-03-02&to=2026-03-02&kind=water", token)
    assert r.json["unit"] == "m³" and r.json["days"] == [{"date": "2026-03-02", "usage": "0.999", "charged_fen": 300}]


def test_without_dates_the_last_30_days(api, mall):
    _, token = mall
    days = api("/accounts/A1/usage", token).json["days"]
    assert len(days) == 30 and days[-1]["date"] >= "2026-01-01"


@pytest.mark.parametrize("query, message", [
    ("from=2026-03-05&to=2026-03-01", "from must be on or before to"),
    ("from=2025-01-01&to=2026-03-01", "at most 366 days"),
    ("from=2026-02-30", "from"),  # the day parser's message, in the caller's language
    ("to=1999-12-31", "to "),
    ("kind=gas", "kind must be electric or water"),
    ("from=&to=", "must be a date"),  # given but empty: not the default (the document's pattern)
])
def test_a_bad_period_is_a_400_with_a_message(api, mall, query, message):
    _, token = mall
    r = api(f"/accounts/A1/usage?{query}", token)
    assert r.status_code == 400 and message in r.json["error"]["message"]


def test_only_shops_in_the_callers_sites(api, mall, make_site, make_account, make_staff, token_for):
    make_account(site=make_site("other"), code="Z9")
    _, token = mall
    assert api("/accounts/Z9/usage", token).status_code == 404
    stranger = token_for(make_staff(role=Role.MANAGER, sites=[make_site("third")]))
    assert api("/accounts/A1/usage", stranger).status_code == 404
    assert api("/accounts/A1/usage").status_code == 401


def test_the_openapi_document_describes_it():
    operation = build_spec()["paths"]["/accounts/{code}/usage"]["get"]
    assert operation["operationId"] == "getAccountUsage"
    assert {p["name"] for p in operation["parameters"]} == {"code", "from", "to", "kind"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Usage"}
