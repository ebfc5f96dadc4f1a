"""Meter commands from the API and the staff list: roles, sites, desired state, audit, immediate poll."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.control.commands import command_meter
from portal.extensions import db
from portal.models import AuditEntry, ControlCommand, OutboxMessage, Role, Supply
from portal.staffing.tokens import create_token


@pytest.fixture(autouse=True)
def no_inline_polls(app):
    """Commands ask for a poll; here nothing answers, so keep the outbox rows for the asserts."""
    app.config["JOBS_INLINE"] = False
    runner = app.extensions["payfirst.dispatcher"].runner
    submitted = []
    original = runner.submit
    runner.submit = lambda func, args: submitted.append((func.job_name, args))
    yield submitted
    runner.submit = original
    app.config["JOBS_INLINE"] = True


@pytest.fixture
def shop_meter(make_site, make_account, make_meter):
    site = make_site("mall")
    return make_meter(account=make_account(site=site, code="A1"), code="E1")


@pytest.fixture
def post_command(client):
    def post(code: str, body, token: str):
        return client.post(f"/api/v1/meters/{code}/commands", json=body, headers={"Authorization": f"Bearer {token}"})

    return post


def token(user) -> str:
    value = create_token(user)
    db.session.commit()
    return value


def test_operator_trips_through_the_api(post_command, make_staff, shop_meter, no_inline_polls):
    op = make_staff(role=Role.OPERATOR, sites=[shop_meter.gateway.site])
    response = post_command("E1", {"action": "trip", "reason": "inspection"}, token(op))
    assert response.status_code == 202
    assert response.json["meter"]["supply_desired"] == "off"
    assert response.json["command"]["status"] == "pending"
    db.session.expire_all()
    assert shop_meter.supply_desired == Supply.OFF
    assert no_inline_polls == [("worker.jobs.polling.poll_gateway_job", [shop_meter.gateway_id])]
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "meter.trip")).scalar_one()
    assert entry.actor == f"api:{op.username}" and entry.detail["reason"] == "inspection"


def test_keep_power_needs_a_manager(post_command, make_staff, shop_meter):
    site = shop_meter.gateway.site
    op = make_staff(role=Role.OPERATOR, sites=[site])
    assert post_command("E1", {"action": "keep_power_on"}, token(op)).status_code == 403
    manager = make_staff(role=Role.MANAGER, sites=[site])
    assert post_command("E1", {"action": "keep_power_on"}, token(manager)).status_code == 202
    db.session.expire_all()
    assert shop_meter.keep_power is True


def test_cashier_cannot_switch_supply(post_command, make_staff, shop_meter):
    cashier = make_staff(role=Role.CASHIER, sites=[shop_meter.gateway.site])
    response = post_command("E1", {"action": "trip"}, token(cashier))
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_meter_of_another_site_is_not_found(post_command, make_staff, shop_meter):
    outsider = make_staff(role=Role.OPERATOR)  # scoped to a fresh site of its own
    assert post_command("E1", {"action": "trip"}, token(outsider)).status_code == 404
    db.session.expire_all()
    assert shop_meter.supply_desired == Supply.ON


@pytest.mark.parametrize("body", [None, [], {"action": 5}, {"action": "explode"}, {"action": "trip", "reason": 3}])
def test_malformed_command_is_a_400(post_command, make_staff, shop_meter, body):
    admin = make_staff(role=Role.ADMIN)
    response = post_command("E1", body, token(admin))
    assert response.status_code == 400
    assert set(response.json["error"]) == {"code", "message"}
    assert db.session.scalar(select(ControlCommand.id)) is None


def test_common_area_meter_without_relay_is_refused(post_command, make_staff, make_meter, make_site):
    meter = make_meter(code="C1", profile="chint-dtsu666")
    admin = make_staff(role=Role.ADMIN)
    response = post_command("C1", {"action": "trip"}, token(admin))
    assert response.status_code == 422 and "no relay" in response.json["error"]["message"]
    db.session.expire_all()
    assert meter.supply_desired == Supply.ON


def test_newer_supply_command_supersedes_a_waiting_one(shop_meter):
    first = command_meter(db.session, shop_meter, "trip", "staff:a")
    second = command_meter(db.session, shop_meter, "close", "staff:a")
    db.session.commit()
    assert first.status.value == "superseded" and second.status.value == "pending"
    assert shop_meter.supply_desired == Supply.ON


def test_commands_share_one_pending_poll_per_gateway(shop_meter):
    command_meter(db.session, shop_meter, "trip", "staff:a")
    command_meter(db.session, shop_meter, "close", "staff:a")
    db.session.commit()
    rows = db.session.execute(select(OutboxMessage)).scalars().all()
    assert {r.dedupe_key for r in rows} == {f"poll:{shop_meter.gateway_id}"}


def test_staff_list_button_trips_and_returns_the_row(client, login, make_staff, shop_meter):
    op = make_staff(role=Role.OPERATOR, sites=[shop_meter.gateway.site])
    login.staff(op)
    response = client.post(f"/staff/meters/{shop_meter.id}/command", data={"action": "trip", "reason": "repair"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="meter-{shop_meter.id}"')
    db.session.expire_all()
    assert shop_meter.supply_desired == Supply.OFF


def test_staff_list_refuses_keep_power_for_an_operator(client, login, make_staff, shop_meter):
    op = make_staff(role=Role.OPERATOR, sites=[shop_meter.gateway.site])
    login.staff(op)
    assert client.post(f"/staff/meters/{shop_meter.id}/command", data={"action": "keep_power_on"}).status_code == 403


def test_staff_command_needs_csrf_token(client, login, make_staff, shop_meter, csrf_on):
    op = make_staff(role=Role.OPERATOR, sites=[shop_meter.gateway.site])
    client.application.config["WTF_CSRF_ENABLED"] = False
    login.staff(op)
    client.application.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/staff/meters/{shop_meter.id}/command", data={"action": "trip"}).status_code == 400


def test_openapi_documents_the_command_endpoint(client):
    spec = client.get("/api/v1/openapi.json").json
    post = spec["paths"]["/meters/{code}/commands"]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "403", "404", "422"}
    assert spec["components"]["schemas"]["CommandRequest"]["properties"]["action"]["enum"] == [
        "trip", "close", "keep_power_on", "keep_power_off"]
