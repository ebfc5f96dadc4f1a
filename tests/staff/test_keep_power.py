"""Keep-power (保电) with a reason and an end: a manager grants it, an electrician asks and a manager approves in
the queue; it ends by itself at its end (the arrears job, set-wise), logged; nobody else may touch it."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditEntry,
    ControlCommand,
    Meter,
    Proposal,
    ProposalKind,
    ProposalStatus,
    Role,
    Supply,
    utcnow,
)
from portal.settings import business_tz
from tests.recorded_polls import polls  # autouse: the polls a command asks for are recorded, not run

HX = {"HX-Request": "true"}


def local_field(at) -> str:
    """What a datetime-local field sends for this instant (business time)."""
    return at.astimezone(business_tz()).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def shop(make_site, make_account, make_gateway, make_meter):
    """A shop in arrears whose meter is off for it."""
    site = make_site("mall")
    account = make_account(site=site, code="S1", balance_fen=-500)
    meter = make_meter(account=account, gateway=make_gateway(site=site), code="E1", supply_desired=Supply.OFF,
                       desired_reason="arrears")
    return site, account, meter


@pytest.fixture
def staff(client, login, make_staff, shop):
    def as_role(role: Role, username: str | None = None):
        user = make_staff(role=role, sites=[shop[0]], username=username)
        login.staff(user)
        client.get("/auth/lang/en")
        return user
    return as_role


def ask(client, meter, reason="hospital freezer", until=None, form_key=None):
    until = until or utcnow() + timedelta(days=2)
    return client.post(f"/staff/meters/{meter.id}/keep-power", headers=HX, data={
        "reason": reason, "until": local_field(until), "form_key": form_key or uuid.uuid4().hex})


def fresh(meter: Meter) -> Meter:
    db.session.expire_all()
    return db.session.get(Meter, meter.id)


def test_a_manager_grants_keep_power_with_a_reason_and_an_end_and_it_wins_over_arrears(client, staff, shop):
    staff(Role.MANAGER)
    meter = shop[2]
    until = utcnow() + timedelta(days=2)
    answer = ask(client, meter, until=until)
    assert answer.status_code == 200 and "Keep-power granted." in answer.get_data(as_text=True)
    meter = fresh(meter)
    assert meter.keep_power and meter.keep_power_reason == "hospital freezer"
    assert meter.keep_power_until == until.replace(second=0, microsecond=0)
    assert meter.supply_desired == Supply.ON  # keep-power wins over arrears
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.keep_power_on")).one()
    assert entry.detail["reason"] == "hospital freezer" and entry.detail["until"].startswith(until.date().isoformat())


def test_an_electrician_asks_and_nothing_changes_until_a_manager_approves(client, staff, shop, login):
    staff(Role.OPERATOR, "sparky")
    meter = shop[2]
    html = ask(client, meter).get_data(as_text=True)
    assert "waits for a manager" in html and 'data-testid="keep-power-waiting"' in html
    assert not fresh(meter).keep_power
    proposal = db.session.scalars(select(Proposal)).one()
    assert proposal.kind == ProposalKind.KEEP_POWER and proposal.proposed_by == "staff:sparky"

    # the manager sees it in the queue, with the meter and the end, and approves it
    staff(Role.MANAGER, "boss")
    queue = client.get("/staff/approvals").get_data(as_text=True)
    assert f'id="proposal-{proposal.id}"' in queue and "Keep-power" in queue and "E1" in queue
    answer = client.post(f"/staff/approvals/{proposal.id}/approve", headers=HX)
    assert answer.status_code == 200 and "Approved and done." in answer.get_data(as_text=True)
    meter = fresh(meter)
    assert meter.keep_power and meter.keep_power_reason == "hospital freezer" and meter.supply_desired == Supply.ON
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.keep_power_on")).one()
    assert entry.actor == "staff:sparky" and entry.detail["approved_by"] == "staff:boss"


def test_an_electrician_follows_their_request_on_the_approvals_page_and_withdraws_it(client, staff, shop):
    """The operator could ask for keep-power but had no page to see or take back what they asked."""
    staff(Role.OPERATOR, "sparky")
    ask(client, shop[2])
    proposal = db.session.scalars(select(Proposal)).one()
    nav = client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/approvals"' in nav
    queue = client.get("/staff/approvals").get_data(as_text=True)
    assert f'id="proposal-{proposal.id}"' in queue and "Keep-power" in queue
    assert "Refund requests" not in queue and "/staff/counter/refunds" not in queue  # the counter's, not theirs
    answer = client.post(f"/staff/approvals/{proposal.id}/withdraw", headers=HX)
    assert answer.status_code == 200
    db.session.expire_all()
    assert db.session.get(Proposal, proposal.id).status == ProposalStatus.WITHDRAWN
    assert not fresh(shop[2]).keep_power


def test_a_rejected_request_changes_nothing(client, staff, shop):
    staff(Role.OPERATOR)
    ask(client, shop[2])
    proposal = db.session.scalars(select(Proposal)).one()
    staff(Role.MANAGER)
    client.post(f"/staff/approvals/{proposal.id}/reject", data={"note": "no"}, headers=HX)
    assert db.session.get(Proposal, proposal.id).status == ProposalStatus.REJECTED
    assert not fresh(shop[2]).keep_power


def test_a_request_whose_end_passed_while_it_waited_is_refused_on_approval(client, staff, shop):
    staff(Role.OPERATOR)
    ask(client, shop[2])
    proposal = db.session.scalars(select(Proposal)).one()
    proposal.params = {**proposal.params, "until": (utcnow() - timedelta(minutes=5)).isoformat()}
    db.session.commit()
    staff(Role.MANAGER)
    html = client.post(f"/staff/approvals/{proposal.id}/approve", headers=HX).get_data(as_text=True)
    assert "must end in the future" in html
    assert not fresh(shop[2]).keep_power
    assert db.session.get(Proposal, proposal.id).status == ProposalStatus.PROPOSED


def test_a_second_request_while_one_waits_is_refused(client, staff, shop):
    staff(Role.OPERATOR)
    ask(client, shop[2])
    assert "already waiting for a manager" in ask(client, shop[2]).get_data(as_text=True)
    assert len(db.session.scalars(select(Proposal)).all()) == 1


@pytest.mark.parametrize("form, says", [
    ({"reason": ""}, "Say why supply must stay on"),
    ({"until": "tomorrow"}, "Say when keep-power ends."),
    ({"until": "0001-01-01T00:00"}, "Say when keep-power ends."),  # no instant in UTC: not a 500
    ({"until": "2026-02-30T10:00"}, "Say when keep-power ends."),
    ({"until": local_field(utcnow() - timedelta(hours=1))}, "Keep-power must end in the future."),
    ({"until": local_field(utcnow() + timedelta(days=400))}, "at most one year"),
])
def test_terms_that_cannot_be_granted_are_refused_and_the_form_kept(client, staff, shop, form, says):
    staff(Role.MANAGER)
    data = {"reason": "freezer", "until": local_field(utcnow() + timedelta(days=1)), "form_key": uuid.uuid4().hex,
            **form}
    answer = client.post(f"/staff/meters/{shop[2].id}/keep-power", data=data, headers=HX)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and says in html and 'role="alert"' in html
    if form.get("reason", "x"):
        assert f'value="{data["reason"]}"' in html
    assert not fresh(shop[2]).keep_power


def test_a_common_area_meter_gets_no_keep_power(client, staff, shop, make_meter):
    staff(Role.MANAGER)
    common = make_meter(gateway=shop[2].gateway, code="C1")
    assert "common-area meter" in ask(client, common).get_data(as_text=True)
    assert not fresh(common).keep_power


@pytest.mark.parametrize("role", [Role.CASHIER, Role.AUDITOR])
def test_who_may_neither_grant_nor_ask(client, staff, shop, role):
    staff(role)
    assert ask(client, shop[2]).status_code == 403
    assert db.session.scalars(select(Proposal)).all() == []


def test_an_electrician_may_not_end_keep_power(client, staff, shop):
    meter = shop[2]
    meter.keep_power = True
    db.session.commit()
    staff(Role.OPERATOR)
    answer = client.post(f"/staff/meters/{meter.id}/command", data={"action": "keep_power_off", "reason": "r"})
    assert answer.status_code == 403 and fresh(meter).keep_power


def test_keep_power_ends_by_itself_at_its_end_set_wise_and_logged(shop, make_account, make_meter):
    from worker.jobs.control import enforce_arrears

    site, _account, meter = shop
    now = utcnow()
    meter.keep_power, meter.supply_desired, meter.desired_reason = True, Supply.ON, ""
    meter.keep_power_until, meter.keep_power_reason = now - timedelta(minutes=1), "freezer"
    # another shop's meter, chint (keep-power only in the platform's rule), also expired; a third not yet
    other = make_meter(account=make_account(site=site, balance_fen=1000), gateway=meter.gateway, code="E2",
                       profile="acrel-ddsy1352", keep_power=True, keep_power_until=now - timedelta(hours=1),
                       keep_power_reason="event")
    later = make_meter(account=make_account(site=site, balance_fen=-100), gateway=meter.gateway, code="E3",
                       keep_power=True, keep_power_until=now + timedelta(hours=1), keep_power_reason="later")
    db.session.commit()

    enforce_arrears(now)

    db.session.expire_all()
    meter, other, later = (db.session.get(Meter, m.id) for m in (meter, other, later))
    assert (meter.keep_power, meter.keep_power_until, meter.keep_power_reason) == (False, None, None)
    assert not other.keep_power and later.keep_power and later.keep_power_reason == "later"
    # the shop in arrears goes off now that nothing protects it; the one in credit stays on
    assert meter.supply_desired == Supply.OFF and meter.desired_reason == "arrears"
    assert other.supply_desired == Supply.ON and later.supply_desired == Supply.ON
    ended = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.keep_power_expired")
                               .order_by(AuditEntry.target_id)).all()
    assert [(e.target_id, e.actor, e.detail["reason"]) for e in ended] == [
        (meter.id, "system:keep_power", "freezer"), (other.id, "system:keep_power", "event")]
    offs = db.session.scalars(select(ControlCommand).where(ControlCommand.action == "keep_power_off")
                              .order_by(ControlCommand.meter_id)).all()
    assert [(c.meter_id, c.status.value) for c in offs] == [(meter.id, "pending"), (other.id, "applied")]

    enforce_arrears(now)  # twice: nothing more
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.keep_power_expired")).all()) == 2
