"""/staff/meters/<code>: one meter's live values, readings chart, commands and outcomes, alarms, power limit,
profile and wiring; a code is unique per site only; another site's meter is a 404."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.alarms import raise_alarm
from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import AlarmKind, AuditEntry, IntervalReading, Meter, Protocol, Role, Supply, Tariff, utcnow
from tests.recorded_polls import polls  # autouse: the polls a command asks for are recorded, not run

HX = {"HX-Request": "true"}


@pytest.fixture
def meter(make_site, make_account, make_gateway, make_meter):
    """A shop meter read a minute ago, with a day of readings, a master meter, a tariff, an alarm and a command."""
    site = make_site("mall", name="Riverside Mall")
    gateway = make_gateway(site=site, code="GW7", host="10.0.0.7", port=502, protocol=Protocol.RTU_OVER_TCP)
    tariff = Tariff(site_id=site.id, code="T1", name="Shops flat")
    db.session.add(tariff)
    db.session.flush()
    master = make_meter(gateway=gateway, code="M0", profile="chint-dtsu666", unit_id=1)
    shop = make_account(site=site, code="S101", name="Bakery", balance_fen=-250)
    m = make_meter(account=shop, gateway=gateway, code="E101", unit_id=17, tariff_id=tariff.id,
                   parent_meter_id=master.id, power_limit_w=8000,
                   state=dict(online=True, supply_actual=Supply.ON, energy_total=123_456, power_w=2345,
                              voltage_dv=2201, current_ca=1066, pf_milli=980, last_seen_at=utcnow()))
    start = (utcnow() - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    for n in range(24):  # six hours of 15-minute readings, 0.25 kWh each
        db.session.add(IntervalReading(meter_id=m.id, interval_start=start + timedelta(minutes=15 * n),
                                       energy_total=100_000 + 25 * n, delta=25))
    raise_alarm(db.session, AlarmKind.OVER_POWER, f"meter:{m.id}", site.id, "over", meter_id=m.id,
                data=dict(what="over_power", meter="E101", power_w=9000, limit_w=8000))
    command_meter(db.session, m, "trip", "staff:sparky", "broken socket")
    db.session.commit()
    return m


@pytest.fixture
def staff(client, login, make_staff, meter):
    def as_role(role: Role, sites=None):
        user = make_staff(role=role, sites=[db.session.get(Meter, meter.id).gateway.site] if sites is None else sites)
        login.staff(user)
        client.get("/auth/lang/en")
        return user
    return as_role


def test_the_page_shows_live_values_wiring_commands_alarms_and_the_chart(client, staff, meter):
    staff(Role.OPERATOR)
    answer = client.get("/staff/meters/E101")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    # live values, asked for again every few seconds
    assert 'hx-get="/staff/meters/E101?site=mall" hx-target="this" hx-trigger="every 5s"' in html
    assert "1,234.56 kWh" in html and "2,345 W" in html and "220.1 V" in html and "8,000 W" in html
    # profile and wiring, and the shop's page
    for text in ("10.0.0.7:502", "rtu-over-tcp", "GW7", "payfirst-prepaid-v1", "Shops flat", ">17<", ">M0</a>"):
        assert text in html, text
    assert 'href="/staff/accounts/S101?site=mall"' in html
    # the command with who sent it, why, and that it waits for the meter
    row = re.search(r'<tr data-command="\d+" data-status="pending">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "sparky" in row and "broken socket" in row and "waiting for the meter" in row
    # the meter's alarms, and all of them on the alarm page
    assert "Over power" in html or "over" in html.lower()
    assert 'href="/staff/alarms?meter=E101&amp;state=all"' in html
    # the chart: server-drawn SVG, six hours of 1 kWh, no inline style anywhere
    assert '<svg class="chart"' in html and html.count('<rect class="bar"') in (6, 7)
    assert re.search(r'data-testid="chart-total">6\.00 kWh<', html)
    assert "style=" not in html and "<script>" not in html


def test_the_live_values_answer_alone(client, staff, meter):
    staff(Role.CASHIER)
    live = {**HX, "HX-Target": "meter-live"}
    html = client.get("/staff/meters/E101?site=mall", headers=live).get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card" id="meter-live"') and "<html" not in html


def test_a_water_meter_shows_cubic_metres(client, staff, meter, make_meter):
    water = make_meter(gateway=db.session.get(Meter, meter.id).gateway, code="W1", kind="water", unit_id=2,
                       profile="payfirst-water-v1", state=dict(online=True, energy_total=12_345))
    staff(Role.OPERATOR)
    assert "12.345 m³" in client.get(f"/staff/meters/{water.code}").get_data(as_text=True)


def test_a_code_of_two_sites_gets_a_chooser_and_site_picks_one(client, staff, meter, make_site, make_meter,
                                                                make_gateway):
    other = make_site("annex", name="Annex")
    make_meter(gateway=make_gateway(site=other), code="E101")
    staff(Role.ADMIN, sites=[])
    html = client.get("/staff/meters/E101").get_data(as_text=True)
    assert 'id="meter-chooser"' in html
    assert 'href="/staff/meters/E101?site=annex"' in html and 'href="/staff/meters/E101?site=mall"' in html
    chosen = client.get("/staff/meters/E101?site=annex").get_data(as_text=True)
    assert 'data-meter="E101"' in chosen and "Annex" in chosen
    assert client.get("/staff/meters/E101?site=nowhere").status_code == 404


def test_another_sites_meter_and_an_unknown_code_are_alike_404(client, staff, meter, make_site):
    staff(Role.MANAGER, sites=[make_site("elsewhere")])
    assert client.get("/staff/meters/E101").status_code == 404
    assert client.get("/staff/meters/E101?site=mall").status_code == 404
    assert client.get("/staff/meters/NOPE").status_code == 404
    assert client.get("/staff/meters/E101", headers={**HX, "HX-Target": "meter-live"}).status_code == 404


def test_a_bad_site_parameter_is_a_400(client, staff, meter):
    staff(Role.OPERATOR)
    assert client.get("/staff/meters/E101", query_string={"site": "x" * 33}).status_code == 400


def test_a_trip_from_the_meter_page_needs_a_reason_and_answers_with_the_controls(client, staff, meter):
    staff(Role.OPERATOR)
    refused = client.post(f"/staff/meters/{meter.id}/command", headers=HX,
                          data={"action": "close", "reason": "", "view": "page"}).get_data(as_text=True)
    assert 'id="meter-control"' in refused and 'role="alert"' in refused
    done = client.post(f"/staff/meters/{meter.id}/command", headers=HX,
                       data={"action": "close", "reason": "socket fixed", "view": "page"}).get_data(as_text=True)
    assert 'id="meter-control"' in done and "waiting for the meter" in done
    db.session.expire_all()
    assert db.session.get(Meter, meter.id).supply_desired == Supply.ON


# --- the power limit ----------------------------------------------------------------------------------------------

def set_limit(client, meter, text):
    return client.post(f"/staff/meters/{meter.id}/power-limit", data={"limit_w": text}, headers=HX)


def test_a_manager_sets_the_power_limit_audited(client, staff, meter):
    staff(Role.MANAGER)
    html = set_limit(client, meter, "12000").get_data(as_text=True)
    assert "Power limit saved." in html
    db.session.expire_all()
    assert db.session.get(Meter, meter.id).power_limit_w == 12_000
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.power_limit")).one()
    assert entry.detail == {"changed": {"power_limit_w": [8000, 12000]}}
    set_limit(client, meter, "")
    db.session.expire_all()
    assert db.session.get(Meter, meter.id).power_limit_w is None


@pytest.mark.parametrize("text, says", [
    ("50", "The power limit is 100 W to 1,000,000 W"),
    ("2000000", "The power limit is 100 W to 1,000,000 W"),
    ("-5", "The power limit is 100 W to 1,000,000 W"),
    ("12 kW", "The power limit is 100 W to 1,000,000 W"),
    ("700000", "steps of 10 W up to 655,350 W"),  # what this meter's own register holds
    ("12345", "steps of 10 W up to 655,350 W"),
])
def test_a_power_limit_out_of_range_is_refused_with_the_bounds(client, staff, meter, text, says):
    staff(Role.MANAGER)
    answer = set_limit(client, meter, text)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and says in html and 'role="alert"' in html
    db.session.expire_all()
    assert db.session.get(Meter, meter.id).power_limit_w == 8000


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CASHIER, Role.AUDITOR])
def test_only_managers_set_the_power_limit(client, staff, meter, role):
    staff(role)
    assert set_limit(client, meter, "9000").status_code == 403
    assert 'name="limit_w"' not in client.get("/staff/meters/E101").get_data(as_text=True)


def test_an_auditor_sees_the_page_and_no_form(client, staff, meter):
    staff(Role.AUDITOR)
    html = client.get("/staff/meters/E101").get_data(as_text=True)
    assert "1,234.56 kWh" in html and "<form method=\"post\" action=\"/staff/meters/" not in html
