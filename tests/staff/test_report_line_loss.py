"""Line loss under the reports (/staff/reports/line-loss): per master meter its use, its sub-meters' sum, the loss
in kWh (m³ for water) and percent, flagged above the limit or when negative; and its .xlsx."""
from __future__ import annotations

import io

import openpyxl
import pytest

from portal.models import MeterKind, Role
from tests.monthly.conftest import add_readings, month_start

MARCH = month_start(2025, 3)
EN = {"Accept-Language": "en"}


@pytest.fixture
def wired(make_site, make_gateway, make_meter):
    """MAIN 15.00 kWh feeds SUB1 and SUB2 (14.00 kWh: 6.66 %, flagged); WMAIN 1.000 m³ feeds WSUB 1.200 m³
    (negative); OK 10.00 kWh feeds OKSUB 9.80 kWh (2 %, not flagged)."""
    site = make_site("mall")
    gw = make_gateway(site=site)
    main = make_meter(gateway=gw, code="MAIN")
    s1, s2 = (make_meter(gateway=gw, code=c, parent_meter_id=main.id) for c in ("SUB1", "SUB2"))
    water = dict(kind=MeterKind.WATER, profile="payfirst-water-v1")
    wmain = make_meter(gateway=gw, code="WMAIN", **water)
    wsub = make_meter(gateway=gw, code="WSUB", parent_meter_id=wmain.id, **water)
    ok = make_meter(gateway=gw, code="OK")
    oksub = make_meter(gateway=gw, code="OKSUB", parent_meter_id=ok.id)
    for meter, deltas in ((main, [1_000, 500]), (s1, [600, 300]), (s2, [400, None, 100]), (wmain, [1_000]),
                          (wsub, [1_200]), (ok, [1_000]), (oksub, [980])):
        add_readings(meter, deltas, MARCH)
    return site


def test_the_page_shows_each_master_its_sub_meters_the_loss_and_the_flag(client, login, make_staff, wired):
    login.staff(make_staff(role=Role.MANAGER, sites=[wired]))
    html = client.get("/staff/reports/line-loss?site=mall&month=2025-03", headers=EN).get_data(as_text=True)
    main = html.split('data-master="MAIN"')[1].split("</tr>")[0]
    assert 'data-flag="high"' in main
    assert ">15.00 kWh<" in main and ">14.00 kWh<" in main and ">1.00 kWh<" in main and ">6.66 %<" in main
    water = html.split('data-master="WMAIN"')[1].split("</tr>")[0]
    assert 'data-flag="negative"' in water and ">-0.200 m³<" in water and ">1.000 m³<" in water
    assert 'data-flag=""' in html.split('data-master="OK"')[1].split("</tr>")[0]
    assert 'data-sub="SUB1"' in html and 'data-sub="WSUB"' in html
    assert 'href="/staff/reports/line-loss?site=mall&amp;month=2025-03"' in html  # the tab
    assert "/staff/billing/line-loss" in html  # managers set the links there
    assert "线损" in client.get("/staff/reports/line-loss?site=mall&month=2025-03").get_data(as_text=True)


def test_the_xlsx_has_numbers_units_and_flags(client, login, make_staff, wired):
    login.staff(make_staff(role=Role.AUDITOR, sites=[wired]))
    res = client.get("/staff/reports/line-loss.xlsx?site=mall&month=2025-03")
    assert res.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["line-loss"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["master", "meter", "kind", "unit", "usage", "sub_meters_usage", "loss", "loss_percent", "flag",
                       "failed_readings"]
    masters = {r[0]: r for r in rows[1:] if r[0] == r[1]}
    assert masters["MAIN"][2:] == ["electric", "kWh", 15, 14, 1, 6.66, "high", 1]
    assert masters["WMAIN"][2:] == ["water", "m³", 1, 1.2, -0.2, -20, "negative", 0]
    assert masters["OK"][8] is None
    assert [r[1] for r in rows[1:] if r[0] == "MAIN"] == ["MAIN", "SUB1", "SUB2"]
    assert ws.cell(row=2, column=5).number_format == "0.00"


def test_a_stranger_site_and_a_role_without_reports(client, login, make_staff, wired, make_site):
    other = make_site("other")
    login.staff(make_staff(role=Role.MANAGER, sites=[other]))
    assert client.get("/staff/reports/line-loss?site=mall").status_code == 404
    assert client.get("/staff/reports/line-loss.xlsx?site=mall&month=2025-03").status_code == 404
    login.staff(make_staff(role=Role.CASHIER, sites=[wired]))
    assert client.get("/staff/reports/line-loss?site=mall").status_code == 403


@pytest.mark.parametrize("query", ["month=0000-01", "month=2025-3", "site=%00"])
def test_a_malformed_month_or_site_is_a_400(client, login, make_staff, wired, query):
    login.staff(make_staff(role=Role.MANAGER, sites=[wired]))
    assert client.get(f"/staff/reports/line-loss?{query}").status_code == 400
