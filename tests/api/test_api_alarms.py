"""GET /api/v1/alarms?state=open|all&kind=KIND (SPEC §4): the alarms of the caller's sites, newest first, in the
documented shape, for the roles of the staff alarm page."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from portal.alarms import clear_alarm, raise_alarm
from portal.api.openapi import build_spec
from portal.extensions import db
from portal.models import Alarm, AlarmKind, Role, Site
from tests.api.test_api import api, token_for

KEYS = {"id", "kind", "subject", "site", "account", "meter", "gateway", "message", "raised_at", "cleared_at",
        "acknowledged_by"}
#: SPEC §4's list of kinds, in its order
SPEC_KINDS = ["low_balance_1", "low_balance_2", "low_balance_3", "arrears", "supply_off", "over_power",
              "meter_offline", "gateway_offline", "tamper", "payment_anomaly", "books_mismatch"]
AT = datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)


def _raise(site, kind: AlarmKind, subject: str, message: str, minutes: int, **refs) -> Alarm:
    """An alarm raised `minutes` after AT (committed)."""
    row = raise_alarm(db.session, kind, subject, site.id, message, **refs)
    db.session.execute(update(Alarm).where(Alarm.id == row.id).values(raised_at=AT + timedelta(minutes=minutes)))
    db.session.commit()
    return db.session.get(Alarm, row.id)


@pytest.fixture
def mall(make_site, make_account, make_gateway, make_meter, make_staff, token_for):
    """Site `mall`: shop A1 on meter E1 behind GW1, four alarms (one cleared, one acknowledged); site `other` with
    one alarm of its own. The alarms by name, and a manager of `mall`'s token."""
    site, other = make_site("mall"), make_site("other")
    shop = make_account(site=site, code="A1")
    gateway = make_gateway(site=site, code="GW1")
    meter = make_meter(account=shop, gateway=gateway, code="E1")
    far = make_meter(account=make_account(site=other, code="Z9"), code="Z9-1")
    alarms = {
        "arrears": _raise(site, AlarmKind.ARREARS, f"account:{shop.id}", "A1 in arrears", 0, account_id=shop.id),
        "supply_off": _raise(site, AlarmKind.SUPPLY_OFF, f"meter:{meter.id}", "meter E1 supply off (arrears)", 1,
                             meter_id=meter.id, account_id=shop.id,
                             data=dict(what="supply_off", meter="E1", reason="arrears")),
        "gateway_offline": _raise(site, AlarmKind.GATEWAY_OFFLINE, f"gateway:{gateway.id}",
                                  "gateway GW1 not answering", 2, gateway_id=gateway.id),
        "meter_offline": _raise(site, AlarmKind.METER_OFFLINE, f"meter:{meter.id}", "meter E1 not answering", 3,
                                meter_id=meter.id, account_id=shop.id),
        "far": _raise(other, AlarmKind.SUPPLY_OFF, f"meter:{far.id}", "meter Z9-1 supply off", 4,
                      meter_id=far.id, account_id=far.account_id),
    }
    clear_alarm(db.session, AlarmKind.METER_OFFLINE, f"meter:{meter.id}")
    db.session.execute(update(Alarm).where(Alarm.id == alarms["meter_offline"].id).values(
        cleared_at=AT + timedelta(minutes=5)))
    alarms["gateway_offline"].acknowledged_by = "staff:alice"
    db.session.commit()
    return site, alarms, token_for(make_staff(role=Role.MANAGER, sites=[site]))


def ids(response) -> list[int]:
    return [a["id"] for a in response.json["alarms"]]


def test_open_alarms_newest_first_in_the_documented_shape(api, mall):
    _, alarms, token = mall
    r = api("/alarms", token)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.json == {"alarms": [
        {"id": alarms["gateway_offline"].id, "kind": "gateway_offline",
         "subject": f"gateway:{alarms['gateway_offline'].gateway_id}", "site": "mall", "account": None,
         "meter": None, "gateway": "GW1", "message": "gateway GW1 not answering", "raised_at": "2026-03-01T04:07:06Z",
         "cleared_at": None, "acknowledged_by": "staff:alice"},
        {"id": alarms["supply_off"].id, "kind": "supply_off", "subject": f"meter:{alarms['supply_off'].meter_id}",
         "site": "mall", "account": "A1", "meter": "E1", "gateway": None, "message": "meter E1 supply off (arrears)",
         "raised_at": "2026-03-01T04:06:06Z", "cleared_at": None, "acknowledged_by": None},
        {"id": alarms["arrears"].id, "kind": "arrears", "subject": f"account:{alarms['arrears'].account_id}",
         "site": "mall", "account": "A1", "meter": None, "gateway": None, "message": "A1 in arrears",
         "raised_at": "2026-03-01T04:05:06Z", "cleared_at": None, "acknowledged_by": None},
    ]}


def test_state_all_adds_the_cleared_ones_with_when_they_cleared(api, mall):
    _, alarms, token = mall
    r = api("/alarms?state=all", token)
    assert ids(r) == [alarms[n].id for n in ("meter_offline", "gateway_offline", "supply_off", "arrears")]
    assert r.json["alarms"][0]["cleared_at"] == "2026-03-01T04:10:06Z"
    assert ids(api("/alarms?state=open", token)) == ids(api("/alarms", token))


@pytest.mark.parametrize("kind, state, names", [
    ("supply_off", "open", ["supply_off"]),
    ("meter_offline", "open", []),
    ("meter_offline", "all", ["meter_offline"]),
    ("tamper", "all", []),
])
def test_kind_filters(api, mall, kind, state, names):
    _, alarms, token = mall
    r = api(f"/alarms?kind={kind}&state={state}", token)
    assert r.status_code == 200 and ids(r) == [alarms[n].id for n in names]


def test_site_and_limit(api, mall, make_staff, token_for):
    _, alarms, token = mall
    assert ids(api("/alarms?site=mall&limit=1", token)) == [alarms["gateway_offline"].id]
    admin = token_for(make_staff(role=Role.ADMIN))
    assert ids(api("/alarms?site=other", admin)) == [alarms["far"].id]
    assert len(ids(api("/alarms", admin))) == 4  # every site's open ones


@pytest.mark.parametrize("query, status, words", [
    ("kind=nope", 400, "kind must be one of low_balance_1, low_balance_2, low_balance_3, arrears, supply_off"),
    ("kind=", 400, "kind must be one of"),
    ("kind=SUPPLY_OFF", 400, "kind must be one of"),
    ("state=past", 400, "state must be one of open, all"),
    ("state=", 400, "state must be one of"),
    ("limit=0", 400, "limit must be a whole number from 1 to 500"),
    ("limit=501", 400, "limit must be"),
    ("limit=ten", 400, "limit must be"),
    ("limit=-1", 400, "limit must be"),
    ("site=other", 404, "no site 'other' in your sites"),
    ("site=nowhere", 404, "in your sites"),
    ("kind=tamper%00", 400, "NUL"),
])
def test_a_bad_call_is_a_json_error(api, mall, query, status, words):
    _, _, token = mall
    r = api(f"/alarms?{query}", token)
    assert r.status_code == status and r.mimetype == "application/json"
    assert set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"}
    assert words in r.json["error"]["message"]


def test_a_token_of_another_site_sees_nothing_of_this_one(api, mall, make_staff, token_for):
    _, alarms, _ = mall
    other = db.session.get(Site, alarms["far"].site_id)
    r = api("/alarms?state=all", token_for(make_staff(role=Role.MANAGER, sites=[other])))
    assert ids(r) == [alarms["far"].id] and {a["site"] for a in r.json["alarms"]} == {"other"}
    assert api("/alarms?site=mall", token_for(make_staff(role=Role.MANAGER, sites=[other]))).status_code == 404


def test_no_token_or_a_bad_one_is_401(api, mall):
    r = api("/alarms")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert api("/alarms", "pf_not-a-token").status_code == 401


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CASHIER, Role.AUDITOR])
def test_the_roles_of_the_staff_alarm_page_read_it(api, mall, make_staff, token_for, role):
    site, _, _ = mall
    r = api("/alarms", token_for(make_staff(role=role, sites=[site])))
    assert r.status_code == 200 and len(r.json["alarms"]) == 3


def test_the_openapi_document_describes_it(app):
    with app.test_request_context():
        spec = build_spec()
    op = spec["paths"]["/alarms"]["get"]
    assert op["operationId"] == "getAlarms"
    params = {p["name"]: p for p in op["parameters"]}
    assert {name: p["required"] for name, p in params.items()} == {
        "state": False, "kind": False, "site": False, "limit": False}
    assert params["kind"]["schema"]["enum"] == SPEC_KINDS
    assert params["state"]["schema"]["enum"] == ["open", "all"]
    assert {"200", "400", "401", "403", "404"} <= set(op["responses"])
    items = spec["components"]["schemas"]["Alarms"]["properties"]["alarms"]["items"]
    assert set(items["required"]) == set(items["properties"]) == KEYS
