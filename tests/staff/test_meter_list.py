"""/staff/meters: filters and sorting kept in the URL, page jump, energy with its unit; a bad value is a 400."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import ControlMode, MeterKind, Role, Supply, utcnow
from tests.recorded_polls import polls  # autouse: the polls a command asks for are recorded, not run

PAGE_SIZE = 50


def codes(html: str) -> list[str]:
    return re.findall(r'<tr[^>]* data-meter="([^"]+)"', html)


@pytest.fixture
def mall(make_site, make_account, make_gateway, make_meter, make_staff, client, login):
    """A site with four kinds of meter on two gateways, a shop in arrears, and an operator logged in."""
    site = make_site("mall")
    gw1, gw2 = make_gateway(site=site, code="GW1", online=True), make_gateway(site=site, code="GW2")
    rich, poor = make_account(site=site, code="S1", balance_fen=50_000), make_account(site=site, code="S2")
    now = utcnow()
    make_meter(account=rich, gateway=gw1, code="E1", state=dict(
        online=True, supply_actual=Supply.ON, energy_total=123_456, last_seen_at=now))
    make_meter(account=poor, gateway=gw1, code="E2", supply_desired=Supply.OFF, desired_reason="arrears",
               state=dict(online=True, supply_actual=Supply.OFF, energy_total=99,
                          last_seen_at=now - timedelta(hours=1)))
    make_meter(account=rich, gateway=gw2, code="W1", kind=MeterKind.WATER, profile="payfirst-water-v1",
               keep_power=True, control_mode=ControlMode.METER,
               state=dict(online=False, supply_actual=Supply.ON, energy_total=12_345))
    make_meter(gateway=gw2, code="C1", profile="chint-dtsu666")  # common area, never read
    login.staff(make_staff(role=Role.OPERATOR, sites=[site]))
    return site, gw1, gw2


@pytest.mark.parametrize("query, expected", [
    ({}, ["C1", "E1", "E2", "W1"]),
    ({"online": "yes"}, ["E1", "E2"]),
    ({"online": "no"}, ["C1", "W1"]),
    ({"supply": "off"}, ["E2"]),
    ({"supply": "on"}, ["E1", "W1"]),
    ({"reason": "arrears"}, ["E2"]),
    ({"reason": "remote"}, []),
    ({"keep_power": "yes"}, ["W1"]),
    ({"keep_power": "no"}, ["C1", "E1", "E2"]),
    ({"kind": "water"}, ["W1"]),
    ({"mode": "meter"}, ["W1"]),
    ({"mode": "platform"}, ["C1", "E1", "E2"]),
    ({"arrears": "yes"}, ["E2"]),
    ({"arrears": "no"}, ["C1", "E1", "W1"]),
    ({"q": "s2"}, ["E2"]),
    ({"online": "yes", "arrears": "no"}, ["E1"]),
])
def test_each_filter(client, mall, query, expected):
    assert codes(client.get("/staff/meters", query_string=query).get_data(as_text=True)) == expected


def test_the_gateway_filter_takes_the_gateways_id(client, mall):
    _site, _gw1, gw2 = mall
    assert codes(client.get(f"/staff/meters?gateway={gw2.id}").get_data(as_text=True)) == ["C1", "W1"]


@pytest.mark.parametrize("query, expected", [
    ({"sort": "code", "order": "desc"}, ["W1", "E2", "E1", "C1"]),
    ({"sort": "balance"}, ["E2", "E1", "W1", "C1"]),  # a common-area meter has no balance: last either way
    ({"sort": "balance", "order": "desc"}, ["E1", "W1", "E2", "C1"]),
    ({"sort": "last_seen", "order": "desc"}, ["E1", "E2", "C1", "W1"]),
    ({"sort": "energy", "order": "desc"}, ["E1", "E2", "W1", "C1"]),  # kWh, then m³: never one scale
    ({"sort": "account"}, ["E1", "W1", "E2", "C1"]),
])
def test_sorting(client, mall, query, expected):
    assert codes(client.get("/staff/meters", query_string=query).get_data(as_text=True)) == expected


@pytest.mark.parametrize("query, says", [
    ({"online": "maybe"}, "online must be one of: yes, no"),
    ({"reason": "bored"}, "reason must be one of: arrears, remote, over_power, closure"),
    ({"sort": "name; drop table meters"}, "sort must be one of: code, account, balance, last_seen, energy"),
    ({"order": "up"}, "order must be one of: asc, desc"),
    ({"kind": "gas"}, "kind must be one of: electric, water"),
    ({"gateway": "GW1"}, "gateway must be an id"),
    ({"page": "0"}, "page must be a page number"),
    ({"q": "x" * 41}, "q is at most 40 characters"),
])
def test_a_bad_value_is_a_400_that_says_why(client, mall, query, says):
    client.get("/auth/lang/en")
    answer = client.get("/staff/meters", query_string=query)
    assert answer.status_code == 400
    assert says in answer.get_data(as_text=True)


def test_energy_is_shown_with_its_unit(client, mall):
    html = client.get("/staff/meters").get_data(as_text=True)
    row = dict(re.findall(r'data-meter="(\w+)"(.*?)</tr>', html, re.DOTALL))
    assert "1,234.56 kWh" in row["E1"] and "12.345 m³" in row["W1"]


def test_the_page_keeps_its_filters_in_the_address(client, mall):
    html = client.get("/staff/meters?kind=electric&sort=energy&order=desc").get_data(as_text=True)
    assert 'hx-push-url="true"' in html
    assert '<option value="electric" selected>' in html and '<option value="energy" selected>' in html
    # the table asks for itself with the same filters when a bulk command changes rows
    assert 'hx-get="/staff/meters?kind=electric&amp;sort=energy&amp;order=desc"' in html


def test_page_jump_and_a_page_past_the_end(client, make_site, make_gateway, make_meter, make_staff, login):
    site = make_site()
    gateways = [make_gateway(site=site) for _ in range(3)]
    for n in range(PAGE_SIZE * 2 + 5):
        make_meter(gateway=gateways[n % 3], code=f"M{n:03d}", unit_id=n // 3 + 1)
    login.staff(make_staff(role=Role.OPERATOR, sites=[site]))

    third = client.get("/staff/meters?page=3").get_data(as_text=True)
    assert codes(third) == [f"M{n:03d}" for n in range(100, 105)]
    assert 'name="page" min="1" max="3" value="3"' in third
    # a bookmark of a longer list: its last page rather than an empty one
    assert codes(client.get("/staff/meters?page=9").get_data(as_text=True)) == codes(third)


def test_each_row_links_to_its_meter_page_and_its_shops_page(client, mall):
    html = client.get("/staff/meters").get_data(as_text=True)
    assert 'href="/staff/meters/E1?site=mall"' in html
    assert 'href="/staff/accounts/S2?site=mall"' in html


def test_another_sites_meters_never_show_whatever_the_filter(client, mall, make_site, make_account, make_meter):
    other = make_site("other")
    make_meter(account=make_account(site=other, code="X1", balance_fen=-100), code="X1")
    for query in ({}, {"arrears": "yes"}, {"q": "X1"}, {"sort": "balance"}):
        assert "X1" not in codes(client.get("/staff/meters", query_string=query).get_data(as_text=True))


def test_a_row_with_a_command_waiting_asks_for_itself_until_acknowledged(client, mall):
    from portal.control.commands import command_meter
    from portal.models import CommandStatus, ControlCommand, Meter

    meter = db.session.query(Meter).filter_by(code="E1").one()
    cmd = command_meter(db.session, meter, "trip", "staff:someone", "test")
    db.session.commit()
    # the row asks its meter's page for itself (by its id), so every address a page polls is a page too
    asks = {"HX-Request": "true", "HX-Target": f"meter-{meter.id}"}
    listed = client.get("/staff/meters").get_data(as_text=True)
    assert 'hx-get="/staff/meters/E1?site=mall" hx-target="this" hx-trigger="every 2s"' in listed
    row = client.get("/staff/meters/E1?site=mall", headers=asks).get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="meter-{meter.id}"') and 'hx-trigger="every 2s"' in row

    # a command that has waited long (its gateway is down) is asked about less often
    cmd.created_at = utcnow() - timedelta(minutes=10)
    db.session.commit()
    assert 'hx-trigger="every 30s"' in client.get("/staff/meters/E1?site=mall", headers=asks).get_data(as_text=True)

    db.session.get(ControlCommand, cmd.id).status = CommandStatus.APPLIED
    db.session.commit()
    row = client.get("/staff/meters/E1?site=mall", headers=asks).get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="meter-{meter.id}"') and "hx-trigger" not in row
