"""Trip / close from the meter list: a reason is required and kept; bulk commands state their count first and
list every meter they refuse; who may do what (portal.web.roles), and another site's meter is a 404."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, ControlCommand, Meter, Role, Supply
from tests.recorded_polls import polls  # autouse: the polls a command asks for are recorded, not run

HX = {"HX-Request": "true"}


@pytest.fixture
def site_meters(make_site, make_account, make_gateway, make_meter):
    """A site with three switchable shop meters and a common-area meter without relay."""
    site = make_site("mall")
    gateway = make_gateway(site=site)
    shops = [make_meter(account=make_account(site=site, code=f"S{n}"), gateway=gateway, code=f"E{n}")
             for n in range(1, 4)]
    common = make_meter(gateway=gateway, code="C1", profile="chint-dtsu666")
    return site, shops, common


@pytest.fixture
def as_role(client, login, make_staff, site_meters):
    def log_in(role: Role):
        login.staff(make_staff(role=role, sites=[site_meters[0]]))
    return log_in


def test_a_trip_without_a_reason_is_refused_in_the_row_and_changes_nothing(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    meter = site_meters[1][0]
    answer = client.post(f"/staff/meters/{meter.id}/command", data={"action": "trip", "reason": "  "}, headers=HX)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and html.lstrip().startswith(f'<tr id="meter-{meter.id}"')
    assert 'role="alert"' in html
    db.session.expire_all()
    assert meter.supply_desired == Supply.ON
    assert db.session.scalars(select(ControlCommand)).all() == []


def test_a_trip_keeps_its_reason_with_the_command_and_in_the_audit_log(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    meter = site_meters[1][0]
    answer = client.post(f"/staff/meters/{meter.id}/command", data={"action": "trip", "reason": "wiring work"},
                         headers=HX)
    assert answer.status_code == 200
    db.session.expire_all()
    assert meter.supply_desired == Supply.OFF
    assert db.session.scalars(select(ControlCommand.reason)).all() == ["wiring work"]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.trip")).one()
    assert entry.detail["reason"] == "wiring work" and entry.target_id == meter.id
    # the row now follows the meter until it acknowledges
    assert 'hx-trigger="every 2s"' in answer.get_data(as_text=True)


def test_a_refused_reason_stays_in_the_form(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    meter = site_meters[1][0]
    html = client.post(f"/staff/meters/{meter.id}/command", data={"action": "trip", "reason": "x" * 201},
                       headers=HX).get_data(as_text=True)
    assert "at most 200 characters" in html or "200" in html
    assert 'value="' + "x" * 201 + '"' in html


@pytest.mark.parametrize("role, action, status", [
    (Role.OPERATOR, "trip", 200), (Role.MANAGER, "close", 200), (Role.ADMIN, "trip", 200),
    (Role.CASHIER, "trip", 403), (Role.CASHIER, "close", 403), (Role.OPERATOR, "keep_power_off", 403),
    (Role.AUDITOR, "trip", 403), (Role.AUDITOR, "close", 403),
])
def test_who_may_trip_and_close(client, login, make_staff, site_meters, role, action, status):
    site, shops, _common = site_meters
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [site]))
    answer = client.post(f"/staff/meters/{shops[0].id}/command", data={"action": action, "reason": "r"}, headers=HX)
    assert answer.status_code == status


def test_another_sites_meter_is_a_404(client, login, make_staff, make_meter, site_meters):
    login.staff(make_staff(role=Role.MANAGER))  # a manager of another site
    meter = site_meters[1][0]
    assert client.post(f"/staff/meters/{meter.id}/command", data={"action": "trip", "reason": "r"}).status_code == 404
    row = {"HX-Request": "true", "HX-Target": f"meter-{meter.id}"}
    assert client.get("/staff/meters/E1?site=mall", headers=row).status_code == 404


def test_keep_power_is_not_granted_from_a_row(client, as_role, site_meters):
    as_role(Role.MANAGER)
    meter = site_meters[1][0]
    answer = client.post(f"/staff/meters/{meter.id}/command", data={"action": "keep_power_on", "reason": "r"})
    assert answer.status_code == 400


# --- bulk ---------------------------------------------------------------------------------------------------------

def bulk(client, ids, action="trip", reason="feeder maintenance", confirm=None):
    data = {"action": action, "reason": reason, "meter": [str(i) for i in ids]}
    if confirm is not None:
        data["confirm"] = str(confirm)
    return client.post("/staff/meters/bulk-command", data=data, headers=HX)


def test_a_bulk_trip_first_asks_with_the_count_and_changes_nothing(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    _site, shops, common = site_meters
    html = bulk(client, [m.id for m in shops] + [common.id]).get_data(as_text=True)
    client.get("/auth/lang/en")
    html = bulk(client, [m.id for m in shops] + [common.id]).get_data(as_text=True)
    assert re.search(r'data-testid="bulk-question">Trip 3 meters\?', html)
    assert 'name="confirm" value="3"' in html
    # the meter without relay is listed as refused, not silently dropped
    assert 'data-refused="C1"' in html and "no relay or valve" in html
    assert db.session.scalars(select(ControlCommand)).all() == []


def test_a_confirmed_bulk_trip_commands_each_meter_with_one_audit_entry_each(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    _site, shops, common = site_meters
    answer = bulk(client, [m.id for m in shops] + [common.id], confirm=3)
    assert answer.status_code == 200
    assert answer.headers["HX-Trigger"] == "meters-changed"
    assert 'data-done="3"' in answer.get_data(as_text=True)
    db.session.expire_all()
    assert {m.supply_desired for m in shops} == {Supply.OFF}
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.trip")).all()
    assert sorted(e.target_id for e in entries) == sorted(m.id for m in shops)
    assert {e.detail["reason"] for e in entries} == {"feeder maintenance"}
    assert {c.reason for c in db.session.scalars(select(ControlCommand))} == {"feeder maintenance"}


def test_a_bulk_whose_selection_changed_since_the_question_is_asked_again(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    shops = site_meters[1]
    html = bulk(client, [m.id for m in shops], confirm=2).get_data(as_text=True)
    assert 'role="alert"' in html and 'name="confirm" value="3"' in html
    assert db.session.scalars(select(ControlCommand)).all() == []


def test_a_bulk_needs_a_reason_and_a_selection(client, as_role, site_meters):
    as_role(Role.OPERATOR)
    shops = site_meters[1]
    assert 'role="alert"' in bulk(client, [m.id for m in shops], reason="").get_data(as_text=True)
    assert 'role="alert"' in bulk(client, []).get_data(as_text=True)
    assert db.session.scalars(select(ControlCommand)).all() == []


def test_another_sites_meters_in_a_bulk_are_counted_as_not_found(client, as_role, site_meters, make_meter):
    as_role(Role.OPERATOR)
    shops = site_meters[1]
    theirs = make_meter(code="THEIRS")
    html = bulk(client, [shops[0].id, theirs.id], confirm=1).get_data(as_text=True)
    assert 'data-done="1"' in html and "THEIRS" not in html and 'data-testid="bulk-refused"' in html
    db.session.expire_all()
    assert db.session.get(Meter, theirs.id).supply_desired == Supply.ON


@pytest.mark.parametrize("role", [Role.CASHIER, Role.AUDITOR])
def test_bulk_is_refused_to_who_may_not_switch(client, login, make_staff, site_meters, role):
    login.staff(make_staff(role=role, sites=[site_meters[0]]))
    assert bulk(client, [m.id for m in site_meters[1]], confirm=3).status_code == 403


@pytest.mark.parametrize("data", [{"action": "explode", "reason": "r", "meter": "1"},
                                  {"action": "trip", "reason": "r", "meter": "one"},
                                  {"action": "trip", "reason": "r", "meter": "9999999999"},  # beyond the id column
                                  {"action": "trip", "reason": "r", "meter": "0"}])
def test_a_malformed_bulk_is_a_400(client, as_role, data):
    as_role(Role.OPERATOR)
    assert client.post("/staff/meters/bulk-command", data=data).status_code == 400


def test_the_list_offers_boxes_and_the_bulk_form_only_to_who_may_switch(client, login, make_staff, site_meters):
    login.staff(make_staff(role=Role.CASHIER, sites=[site_meters[0]]))
    html = client.get("/staff/meters").get_data(as_text=True)
    assert "data-bulk" not in html and "meter-bulk" not in html and "act-trip" not in html
    login.staff(make_staff(role=Role.OPERATOR, sites=[site_meters[0]]))
    html = client.get("/staff/meters").get_data(as_text=True)
    assert "data-select-all" in html and 'form="meter-bulk"' in html and "act-trip" in html
